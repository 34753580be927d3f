"""The training template, one namespaced copy per variant."""
from kedro.pipeline import Node, Pipeline

from .nodes import log_generator, plot_training_curves, train_variant


def create_template() -> Pipeline:
    return Pipeline([
        Node(
            train_variant,
            inputs=["train_images", "train_labels", "test_images", "feature_space",
                    "params:training",
                    "params:checkpoint_dir"],
            outputs=["generator", "critic", "training_history", "fid_history", "sample_grids",
                     "final_samples", "tracking_run_id"],
            name="train",
        ),
        # Reads the generator back from the catalog: it is saved locally
        # before MLflow is asked for anything that could fail.
        Node(
            log_generator,
            inputs=["generator", "training_history", "tracking_run_id", "params:training",
                    "params:model_registry"],
            outputs="model_version",
            name="log_generator",
        ),
        Node(
            plot_training_curves,
            inputs=["training_history", "fid_history", "params:training"],
            outputs="training_curves",
            name="plot_training_curves",
        ),
    ])


def create_pipeline(variant: str) -> Pipeline:
    """The training pipeline of ``variant``; its parameters live under ``<variant>.``."""
    return Pipeline(create_template(), namespace=variant,
                    inputs={"train_images", "train_labels", "test_images", "feature_space"},
                    parameters={"params:model_registry"})
