"""Wiring of the evaluation pipelines."""
from kedro.pipeline import Node, Pipeline

from .nodes import (evaluate_variant, fit_feature_space, promote_best_generator, real_floor,
                    score_source, summarize_run, track_metrics)


def create_feature_space_pipeline() -> Pipeline:
    """The shared feature space and the real-vs-real floor (one per dataset)."""
    return Pipeline([
        Node(
            fit_feature_space,
            inputs=["train_images", "train_labels", "test_images", "test_labels",
                    "params:evaluation", "params:evaluation.classifier_dir"],
            outputs=["feature_space", "feature_space_info"],
            name="fit_feature_space",
        ),
        Node(
            real_floor,
            inputs=["feature_space", "train_images", "test_images", "params:evaluation"],
            outputs="real_floor_metrics",
            name="real_floor",
        ),
    ])


def create_pipeline(variant: str) -> Pipeline:
    """Metrics of one variant's generator on the declared protocol."""
    template = Pipeline([
        Node(
            evaluate_variant,
            inputs=["generator", "feature_space", "test_images", "test_labels", "train_images",
                    "train_labels", "params:evaluation"],
            outputs=["metrics", "class_histogram"],
            name="evaluate",
        ),
        Node(
            track_metrics,
            inputs=["metrics", "tracking_run_id", "params:training"],
            outputs=None,
            name="track_metrics",
        ),
        Node(
            promote_best_generator,
            inputs=["model_version", "metrics", "params:training", "params:evaluation",
                    "params:model_registry"],
            outputs="registry_entry",
            name="promote_best_generator",
        ),
        Node(
            summarize_run,
            inputs=["metrics", "tracking_run_id", "registry_entry", "params:training"],
            outputs="run_summary",
            name="summarize_run",
        ),
    ])
    return Pipeline(template, namespace=variant,
                    inputs={"feature_space", "test_images", "test_labels", "train_images",
                            "train_labels"},
                    parameters={"params:evaluation", "params:model_registry"})


def create_score_pipeline() -> Pipeline:
    """A generator or samples made elsewhere (``score.source``) on the declared protocol."""
    return Pipeline([
        Node(
            score_source,
            inputs=["params:score", "feature_space", "test_images", "test_labels",
                    "real_floor_metrics", "params:evaluation"],
            outputs=["score_metrics", "score_report"],
            name="score_source",
        ),
    ])
