"""The training template, one namespaced copy per variant."""
from kedro.pipeline import Node, Pipeline

from .nodes import train_variant

VARIANTS = ("gan", "wgan", "wgan_gp")


def create_template() -> Pipeline:
    return Pipeline([
        Node(
            train_variant,
            inputs=["train_images", "params:training", "params:checkpoint_dir"],
            outputs=["generator", "critic", "training_history", "sample_grids",
                     "final_samples"],
            name="train",
        ),
    ])


def create_pipeline(variant: str) -> Pipeline:
    """The training pipeline of ``variant``; its parameters live under ``<variant>.``."""
    return Pipeline(create_template(), namespace=variant, inputs={"train_images"})
