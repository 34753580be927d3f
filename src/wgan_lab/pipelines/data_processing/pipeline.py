"""Wiring of the data_processing pipeline."""
from kedro.pipeline import Node, Pipeline

from .nodes import validate_source, write_model_input


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline([
        Node(
            validate_source,
            inputs=["raw_images", "params:data_processing"],
            outputs=["validated_images", "validation_report"],
            name="validate_source",
        ),
        Node(
            write_model_input,
            inputs=["validated_images", "validation_report", "params:data_processing"],
            # The arrays first: the reports are saved only once they are written.
            outputs=["train_images", "train_labels", "test_images", "test_labels",
                     "data_validation_report", "data_summary", "real_samples_grid"],
            name="write_model_input",
        ),
    ])
