"""Wiring of `tune` (search, then report) and `tune_report` (the report from the storage)."""
from kedro.pipeline import Node, Pipeline

from .nodes import (compare_budgets, compare_budgets_after_tuning, report_after_tuning,
                    report_tuning, tune_variant)

TUNING_NODES = ("tune_variant", "report_tuning", "report_after_tuning", "compare_budgets",
                "compare_budgets_after_tuning")
COMPARISON = ["tune_comparison", "tune_budget_curves"]


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(tune_variant, inputs=["train_images", "test_images", "feature_space", "parameters"],
             outputs="tuned_study", name="tune_variant"),
        Node(report_after_tuning, inputs=["tuned_study", "parameters"], outputs="tune_reports",
             name="report_after_tuning"),
        Node(compare_budgets_after_tuning, inputs=["tuned_study", "parameters"],
             outputs=COMPARISON, name="compare_budgets_after_tuning"),
    ])


def create_report_pipeline() -> Pipeline:
    return Pipeline([
        Node(report_tuning, inputs="parameters", outputs="tune_reports", name="report_tuning"),
        Node(compare_budgets, inputs="parameters", outputs=COMPARISON, name="compare_budgets"),
    ])
