"""Nodes of the evaluation pipeline: thin adapters over ``wgan_lab.evaluation``."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np

from wgan_lab.evaluation.evaluate import (EvaluationSettings, Protocol, compute_metrics,
                                          evaluate_generator, real_cas, subsample)
from wgan_lab.evaluation.feature_space import FeatureSpace, fit_feature_space
from wgan_lab.gan.conditioning import generator_classes
from wgan_lab.scoring import read_source, score, score_report
from wgan_lab.core import settings_from
from wgan_lab.tracking import (ModelRegistrySettings, log_protocol_metrics, log_scored_source,
                               promote_if_best, registered_model_name)

__all__ = ["evaluate_variant", "fit_feature_space", "promote_best_generator", "real_floor",
           "score_source", "summarize_run", "track_metrics"]

logger = logging.getLogger(__name__)


def real_floor(space: FeatureSpace, train_images: np.ndarray, test_images: np.ndarray,
               evaluation: dict[str, Any]) -> dict[str, Any]:
    """The metrics of real training images against real test images: the best reachable."""
    protocol = Protocol(**evaluation["protocol"])
    n = min(protocol.n_samples, len(test_images))
    real = subsample(test_images, n, protocol.seed)
    reference = subsample(train_images, n, protocol.seed + 1)
    return {"feature_space": space.description, **protocol.__dict__,
            **compute_metrics(real, reference, space.extractor, protocol)}


def evaluate_variant(generator, space: FeatureSpace, test_images: np.ndarray,
                     test_labels: np.ndarray, train_images: np.ndarray,
                     train_labels: np.ndarray, evaluation: dict[str, Any]
                     ) -> tuple[dict[str, Any], list[float]]:
    """The declared protocol on one trained generator; returns metrics and class histogram.

    A conditional generator also gets class accuracy, intra-class FID and CAS (the
    domain classifier's recipe trained on its samples), with ``cas_real`` beside it:
    the same recipe trained on as many real training images."""
    settings = settings_from(EvaluationSettings, evaluation, "evaluation")
    protocol = settings.protocol
    conditional = bool(generator_classes(generator)) and space.n_classes > 0
    result, histogram = evaluate_generator(
        generator, test_images, space.extractor, protocol,
        real_labels=test_labels if conditional else None,
        recipe=settings.classifier if conditional else None)
    if conditional:
        result["cas_real"] = real_cas(train_images, train_labels, test_images, test_labels,
                                      protocol, settings.classifier)
    logger.info("Evaluation: %s", {k: round(v, 4) if isinstance(v, float) else v
                                   for k, v in result.items()})
    return result, histogram.tolist()


def track_metrics(metrics: dict[str, Any], run_id: str, training: dict[str, Any]) -> None:
    """The protocol's metrics into the variant's MLflow run (and a comparison's parent)."""
    log_protocol_metrics(run_id or None, training["variant"], metrics)


def promote_best_generator(model_version: str, metrics: dict[str, Any],
                           training: dict[str, Any], evaluation: dict[str, Any],
                           model_registry: dict[str, Any]) -> dict[str, Any]:
    """Move the registry alias (``best``) to this run's generator if its FID is the best;
    returns the registry entry the run got (empty when nothing was registered)."""
    if not model_version or "fid" not in metrics:
        return {}
    protocol = ",".join(f"{k}={v}" for k, v in sorted(evaluation["protocol"].items()))
    registry = settings_from(ModelRegistrySettings, model_registry, "model_registry")
    name = registered_model_name(registry.name_prefix, training["variant"])
    promoted = promote_if_best(name, model_version, float(metrics["fid"]), protocol,
                               registry.alias)
    return {"name": name, "version": str(model_version), "alias": registry.alias,
            "promoted": promoted}


SUMMARY_METRICS = ("fid", "precision", "recall", "classes_covered")


def summarize_run(metrics: dict[str, Any], run_id: str, registry_entry: dict[str, Any],
                  training: dict[str, Any]) -> dict[str, Any]:
    """What the run made, for its last lines and for scripts: the protocol's headline
    metrics, the MLflow run and the registry entry. The files' paths are the catalog's;
    the project's summary hook adds them when it prints this."""
    return {"variant": training["variant"],
            "metrics": {k: metrics[k] for k in SUMMARY_METRICS if k in metrics},
            "mlflow_run_id": run_id or None,
            "registry": registry_entry or None}


def score_source(settings: dict[str, Any], space: FeatureSpace, test_images: np.ndarray,
                 test_labels: np.ndarray, real_floor_metrics: dict[str, Any],
                 evaluation: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A generator or samples made elsewhere, on the declared protocol: its metrics
    (into the run's MLflow run too) and a short report beside the real floor. Labelled
    samples and conditional generators get the labelled metrics (CAS with the domain
    classifier's recipe) when the dataset has labels."""
    source = str(settings["source"])
    evaluation_settings = settings_from(EvaluationSettings, evaluation, "evaluation")
    labelled = space.n_classes > 0
    metrics = score(read_source(source), source, test_images, space.extractor,
                    evaluation_settings.protocol, test_labels if labelled else None,
                    evaluation_settings.classifier if labelled else None)
    protocol = evaluation_settings.protocol
    logger.info("Scored %s: %s", source, {k: round(v, 4) if isinstance(v, float) else v
                                          for k, v in metrics.items()})
    report = score_report(source, metrics, real_floor_metrics, protocol, space.description)
    log_scored_source(source, metrics, report)
    return {"source": source, **metrics}, report
