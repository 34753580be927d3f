"""Wiring of `tune` (search, then report) and `tune_report` (the report from the storage)."""
from kedro.pipeline import Node, Pipeline

from .nodes import report_after_tuning, report_tuning, tune_variant

TUNING_NODES = ("tune_variant", "report_tuning", "report_after_tuning")


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(tune_variant, inputs=["train_images", "test_images", "feature_space", "parameters"],
             outputs="tuned_study", name="tune_variant"),
        Node(report_after_tuning, inputs=["tuned_study", "parameters"], outputs="tune_reports",
             name="report_after_tuning"),
    ])


def create_report_pipeline() -> Pipeline:
    return Pipeline([Node(report_tuning, inputs="parameters", outputs="tune_reports",
                          name="report_tuning")])
