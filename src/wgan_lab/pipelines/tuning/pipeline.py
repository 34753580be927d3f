"""Wiring of `tune` (search, then report) and `tune_report` (the report from the storage).

The nodes read the ``tune`` block, and the whole parameters for the variant
family (every top-level block with a ``training`` section).
"""
from kedro.pipeline import Node, Pipeline

from .nodes import (compare_budgets, compare_budgets_after_tuning, report_after_tuning,
                    report_tuning, tune_variant)

COMPARISON = ["tune_comparison", "tune_budget_curves"]
TUNE = ["params:tune", "parameters"]


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(tune_variant, inputs=["train_images", "train_labels", "test_images",
                                   "feature_space", *TUNE],
             outputs="tuned_study", name="tune_variant"),
        Node(report_after_tuning, inputs=["tuned_study", *TUNE], outputs="tune_reports",
             name="report_after_tuning"),
        Node(compare_budgets_after_tuning, inputs=["tuned_study", *TUNE],
             outputs=COMPARISON, name="compare_budgets_after_tuning"),
    ])


def create_report_pipeline() -> Pipeline:
    return Pipeline([
        Node(report_tuning, inputs=TUNE, outputs="tune_reports", name="report_tuning"),
        Node(compare_budgets, inputs=TUNE, outputs=COMPARISON, name="compare_budgets"),
    ])
