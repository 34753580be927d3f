"""Wiring of `study` (jobs, then report) and `study_report` (the report from the job store)."""
from kedro.pipeline import Node, Pipeline

from .nodes import report_after_study, report_study, run_study

STUDY_NODES = ("run_study", "report_study", "report_after_study")
REPORT = ["study_reports", "study_figures"]


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(run_study, inputs=["train_images", "test_images", "feature_space", "parameters"],
             outputs="studied", name="run_study"),
        Node(report_after_study, inputs=["studied", "parameters"], outputs=REPORT,
             name="report_after_study"),
    ])


def create_report_pipeline() -> Pipeline:
    return Pipeline([Node(report_study, inputs="parameters", outputs=REPORT, name="report_study")])
