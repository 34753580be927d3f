"""Wiring of the data_processing pipeline."""
from kedro.pipeline import Node, Pipeline

from .nodes import normalize_images, real_sample_grid, summarize_data, validate_source


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            validate_source,
            inputs=["raw_images", "params:data_processing"],
            outputs=["validated_images", "data_validation_report"],
            name="validate_source",
        ),
        Node(
            normalize_images,
            inputs="validated_images",
            outputs=["train_images", "train_labels", "test_images", "test_labels"],
            name="normalize_images",
        ),
        Node(summarize_data, inputs="validated_images", outputs="data_summary",
             name="summarize_data"),
        Node(
            real_sample_grid,
            inputs=["validated_images", "params:data_processing"],
            outputs="real_samples_grid",
            name="real_sample_grid",
        ),
    ])
