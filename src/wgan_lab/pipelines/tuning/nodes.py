"""Nodes of the tuning pipelines: thin adapters over ``wgan_lab.tuning`` and ``wgan_lab.tracking``."""
from __future__ import annotations

from typing import Any

import numpy as np

from wgan_lab.evaluation.feature_space import FeatureSpace
from wgan_lab.experiments.search import (TrialObjective, TuneSettings, default_study_name,
                                         open_study, run_worker, stored_studies)
from wgan_lab.reporting.tune import build_budget_comparison, build_tuning_report
from wgan_lab.tracking import RunTracker, log_text_artifacts
from wgan_lab.variants import family


def tune_settings(tune: dict[str, Any], parameters: dict[str, Any]) -> TuneSettings:
    """The ``tune`` block's settings, checked against the variant family."""
    return TuneSettings.from_params(tune or {}, family(parameters))


def tune_variant(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
                 feature_space: FeatureSpace, tune: dict[str, Any],
                 parameters: dict[str, Any]) -> str:
    """Run trials of ``tune.variant``'s study until ``tune.trials`` are done; returns its name."""
    settings = tune_settings(tune, parameters)
    study = open_study(settings)
    tracker = RunTracker.under_active_run(f"tuning {settings.study_name}")
    objective = TrialObjective(settings, family(parameters)[settings.variant], train_images,
                               test_images, feature_space,
                               tracker.callbacks(), train_labels=train_labels)
    run_worker(study, objective, settings.trials, max_cpu_hours=settings.max_cpu_hours)
    return settings.study_name


def report_tuning(tune: dict[str, Any], parameters: dict[str, Any]) -> dict[str, str]:
    """The study's report, best parameters and trials, from its storage alone."""
    settings = tune_settings(tune, parameters)
    study = open_study(settings, create=False)
    html, markdown, best_yaml, table = build_tuning_report(study, settings)
    files = {"tune_report.html": html, "tune_report.md": markdown,
             "best_params.yml": best_yaml, "trials.csv": table.to_csv(index=False)}
    log_text_artifacts({f"tune/{settings.variant}/{name}": text for name, text in files.items()})
    return {f"{settings.variant}/{name}": text for name, text in files.items()}


def report_after_tuning(study_name: str, tune: dict[str, Any], parameters: dict[str, Any]
                        ) -> dict[str, str]:
    """``report_tuning`` once this process's trials are done."""
    return report_tuning(tune, parameters)


def compare_budgets(tune: dict[str, Any], parameters: dict[str, Any]
                    ) -> tuple[dict[str, str], Any]:
    """Budget curves of every variant searched at this run's budget, in one figure."""
    settings = tune_settings(tune, parameters)
    names = {variant: default_study_name(variant, settings.budget.unit, settings.budget.amount)
             for variant in family(parameters)}
    studies = stored_studies(settings, names)
    html, markdown, figure = build_budget_comparison(studies, settings)
    log_text_artifacts({"tune/all_variants/budget_curves.html": html})
    return {"budget_curves.html": html, "budget_curves.md": markdown}, figure


def compare_budgets_after_tuning(study_name: str, tune: dict[str, Any],
                                 parameters: dict[str, Any]) -> tuple[dict[str, str], Any]:
    """``compare_budgets`` once this process's trials are done."""
    return compare_budgets(tune, parameters)
