"""Wiring of `study` (jobs, then report) and `study_report` (the report from the job store).

The nodes read the ``study`` and ``evaluation`` blocks, and the whole parameters
for the variant family (every top-level block with a ``training`` section).
"""
from kedro.pipeline import Node, Pipeline

from .nodes import fit_second_feature_space, report_after_study, report_study, run_study

REPORT = ["study_reports", "study_figures"]
STUDY = ["params:study", "params:evaluation", "parameters"]


def create_pipeline() -> Pipeline:
    return Pipeline([
        Node(fit_second_feature_space,
             inputs=["train_images", "train_labels", "test_images", "test_labels",
                     "params:evaluation"],
             outputs=["second_feature_space", "second_feature_space_info"],
             name="fit_second_feature_space"),
        Node(run_study, inputs=["train_images", "train_labels", "test_images", "test_labels",
                                "feature_space", "second_feature_space", *STUDY],
             outputs="studied", name="run_study"),
        Node(report_after_study, inputs=["studied", *STUDY], outputs=REPORT,
             name="report_after_study"),
    ])


def create_report_pipeline() -> Pipeline:
    return Pipeline([Node(report_study, inputs=STUDY, outputs=REPORT, name="report_study")])
