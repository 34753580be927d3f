"""Nodes of the theory pipeline: thin adapters over ``experiments.theory`` (the runs),
``experiments.theory_claims`` (the verdicts) and ``reporting.theory`` (the report).

Every trained toy network is a child run of the kedro run in MLflow; each
experiment node also returns how long it took, for the report.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pandas as pd

from wgan_lab.experiments import theory
from wgan_lab.experiments.theory import TheorySettings
from wgan_lab.experiments.theory_claims import TheoryTables
from wgan_lab.reporting.theory import FIGURES, build_theory_report, theory_figures
from wgan_lab.tracking import RunTracker
from wgan_lab.variants import family


def theory_settings(settings: dict[str, Any], parameters: dict[str, Any]) -> TheorySettings:
    """The ``theory`` block's settings, checked against the variant family."""
    return TheorySettings.from_params(settings or {}, family(parameters))


def _timed(name: str, run: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    started = time.perf_counter()
    result = run()
    return result, {name: time.perf_counter() - started}


def _runs() -> Any:
    """Each toy network as a child run of the kedro run (nothing without MLflow)."""
    return RunTracker.under_active_run("theory", param_prefix="training.").callbacks()


def measure_divergences(settings: dict[str, Any], parameters: dict[str, Any]
                        ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Closed-form and estimated divergences between the parallel segments."""
    s = theory_settings(settings, parameters)
    return _timed("divergences", lambda: theory.measure_divergences(s, _runs()))


def measure_gaussians(settings: dict[str, Any], parameters: dict[str, Any]
                      ) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Discriminator and critic between two 1-D Gaussians at growing distance."""
    s = theory_settings(settings, parameters)
    (curves, summary), seconds = _timed("gaussians", lambda: theory.measure_gaussians(s, _runs()))
    return curves, summary, seconds


def measure_vanishing_gradients(settings: dict[str, Any], parameters: dict[str, Any]
                                ) -> tuple[pd.DataFrame, dict[str, float]]:
    """Generator gradient norms as the discriminator nears optimality."""
    s = theory_settings(settings, parameters)
    return _timed("vanishing gradients",
                  lambda: theory.measure_vanishing_gradients(s, _runs()))


def train_mixtures(settings: dict[str, Any], parameters: dict[str, Any]
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """The variants trained on the toy distributions."""
    s = theory_settings(settings, parameters)
    (curves, finals, samples), seconds = _timed(
        "mixtures", lambda: theory.train_mixtures(s, family(parameters), _runs()))
    return curves, finals, samples, seconds


def measure_lipschitz(settings: dict[str, Any], parameters: dict[str, Any]
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame,
                                 dict[str, float]]:
    """Clipped and penalised critics: weights, layer gradients, value surfaces."""
    s = theory_settings(settings, parameters)
    (summary, layers, histograms, surfaces), seconds = _timed(
        "lipschitz", lambda: theory.measure_lipschitz(s, _runs()))
    return summary, layers, histograms, surfaces, seconds


def report_theory(divergences: pd.DataFrame, gaussian_curves: pd.DataFrame,
                  gaussian_summary: pd.DataFrame, vanishing: pd.DataFrame,
                  mixture_curves: pd.DataFrame, mixture_finals: pd.DataFrame,
                  mixture_samples: pd.DataFrame, lipschitz: pd.DataFrame,
                  lipschitz_layers: pd.DataFrame, weight_histograms: pd.DataFrame,
                  value_surfaces: pd.DataFrame, seconds_divergences: dict[str, float],
                  seconds_gaussians: dict[str, float], seconds_vanishing: dict[str, float],
                  seconds_mixtures: dict[str, float], seconds_lipschitz: dict[str, float],
                  settings: dict[str, Any], parameters: dict[str, Any]) -> tuple:
    """The report files and each figure; the verdicts as tags on the kedro run."""
    timings = (seconds_divergences, seconds_gaussians, seconds_vanishing, seconds_mixtures,
               seconds_lipschitz)
    s = theory_settings(settings, parameters)
    tables = TheoryTables(divergences, gaussian_summary, vanishing, mixture_finals,
                          mixture_curves, lipschitz)
    figures = theory_figures(tables, gaussian_curves, mixture_samples, lipschitz_layers,
                             weight_histograms, value_surfaces)
    seconds = {name: value for timing in timings for name, value in timing.items()}
    report = build_theory_report(tables, s, figures, seconds)
    files = {"theory_report.html": report.html, "theory_report.md": report.markdown,
             "theory_summary.json": json.dumps(report.summary, indent=2, allow_nan=True)}
    tracker = RunTracker.under_active_run("theory")
    tracker.log_summary({f"theory_seconds.{k}": v for k, v in seconds.items()},
                        {f"verdict.{v.key}": v.verdict for v in report.verdicts},
                        {f"theory/{name}": text for name, text in files.items()}, end=False)
    return (files, *(figures[name] for name in FIGURES))
