"""Nodes of the study pipelines: thin adapters over ``wgan_lab.study`` and ``wgan_lab.tracking``."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from wgan_lab.evaluation.feature_space import FeatureSpace, fit_second_feature_space
from wgan_lab.experiments.analysis import run_records
from wgan_lab.evaluation.features import ClassifierConfig
from wgan_lab.experiments.seeds import (Labels, StudyJob, StudySettings, open_job_store,
                                        run_jobs, stored_settings, study_protocol,
                                        variant_settings)
from wgan_lab.gan.losses import LOSSES
from wgan_lab.reporting.study import build_study_report
from wgan_lab.tracking import PROTOCOL_PREFIX, RunTracker
from wgan_lab.variants import family

# The job store keeps the MLflow parent run every process of the study logs under.
PARENT_ATTR = "mlflow_parent_run_id"


def study_tracker(settings: StudySettings) -> RunTracker:
    """The study's runs in MLflow: a parent, and a child per (variant, seed) whose
    final metrics are the protocol's."""
    return RunTracker(f"study {settings.name}", param_prefix="training.",
                      final_prefix=PROTOCOL_PREFIX)


def parent_run(settings: StudySettings) -> tuple[str, dict[str, str]]:
    """The name and tags of the study's MLflow parent run."""
    return f"study {settings.name}", {"study": settings.name, "study_role": "parent"}


def study_settings(study: dict[str, Any], parameters: dict[str, Any]) -> StudySettings:
    """The ``study`` block's settings, checked against the variant family."""
    return StudySettings.from_params(study or {}, family(parameters))


__all__ = ["fit_second_feature_space", "report_after_study", "report_study", "run_study"]


def run_study(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
              test_labels: np.ndarray, feature_space: FeatureSpace,
              second_feature_space: FeatureSpace, study: dict[str, Any],
              evaluation: dict[str, Any], parameters: dict[str, Any]) -> str:
    """Run queued (variant, seed) jobs of the study until none is left; returns its name."""
    settings = study_settings(study, parameters)
    tracker = study_tracker(settings)
    parent = parent_run(settings)
    store = open_job_store(
        settings, on_create=lambda job_store: job_store.set_user_attr(
            PARENT_ATTR, tracker.create_parent(*parent)),
        variants=variant_settings(settings, family(parameters)))
    tracker.use_parent(store.user_attrs.get(PARENT_ATTR), *parent)
    job = StudyJob(settings, family(parameters), train_images, test_images, feature_space,
                   evaluation["protocol"], tracker.callbacks(), second_feature_space,
                   labels=Labels(train_labels, test_labels, ClassifierConfig(
                       **evaluation.get("classifier", {}))))
    run_jobs(store, job)
    return settings.name


def report_study(study: dict[str, Any], evaluation: dict[str, Any], parameters: dict[str, Any]
                 ) -> tuple[dict[str, str], dict[str, Any]]:
    """The study's report files and figures, from its job store alone."""
    settings = study_settings(study, parameters)
    store = open_job_store(settings, create=False)
    settings = stored_settings(store, settings)
    variants = family(parameters)
    wasserstein = {v for v in settings.variants
                   if LOSSES[variants[v]["objective"]["loss"]].estimates_wasserstein}
    protocol = study_protocol(settings, evaluation["protocol"])
    protocol_text = (f"{protocol.n_samples} generated vs {protocol.n_samples} test images "
                     f"in each evaluator (seed {protocol.seed})")
    report = build_study_report(run_records(store, settings), settings, wasserstein,
                                protocol_text)
    files = {"study_report.html": report.html, "study_report.md": report.markdown,
             "study_runs.csv": report.runs_csv,
             "study_summary.json": json.dumps(report.summary, indent=2, allow_nan=True)}
    tracker = study_tracker(settings)
    tracker.use_parent(store.user_attrs.get(PARENT_ATTR), *parent_run(settings))
    metrics = {f"{row['variant']}.{row['metric']}.{key}": row[key]
               for row in report.summary["summary"] for key in ("mean", "median", "ci_low", "ci_high")
               if row[key] is not None}
    tags = {f"verdict.{v['key']}": v["verdict"] for v in report.summary["verdicts"]}
    tracker.log_summary(metrics, tags, {f"study/{name}": text for name, text in files.items()})
    return ({f"{settings.name}/{name}": text for name, text in files.items()},
            {f"{settings.name}/{name}.png": figure for name, figure in report.figures.items()})


def report_after_study(study_name: str, study: dict[str, Any], evaluation: dict[str, Any],
                       parameters: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """``report_study`` once this process has no job left."""
    return report_study(study, evaluation, parameters)
