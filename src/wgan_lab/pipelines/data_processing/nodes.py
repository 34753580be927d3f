"""Nodes of the data_processing pipeline: thin adapters over ``wgan_lab.data``."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from wgan_lab.data.images import ImageSplits
from wgan_lab.data.processing import hold_out, summarize, to_unit_range, validate
from wgan_lab.visualize import image_grid


def validate_source(raw: ImageSplits, params: dict[str, Any]) -> tuple[ImageSplits, pd.DataFrame]:
    """Fail on unusable data, split off a seeded hold-out where the source has no test split."""
    report = validate(raw, max_skipped_fraction=params["max_skipped_fraction"])
    return hold_out(raw, params["test_fraction"], params["seed"]), report


def write_model_input(
    splits: ImageSplits, validation_report: pd.DataFrame, params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame, pd.DataFrame,
           Image.Image]:
    """Images as float32 NHWC in [-1, 1] and labels, then the reports on them.

    One node, reports last: Kedro saves a node's outputs in order, so a run
    whose arrays fail to save writes no report beside older arrays.
    """
    return (
        to_unit_range(splits.train_images),
        splits.train_labels,
        to_unit_range(splits.test_images),
        splits.test_labels,
        validation_report,
        summarize(splits),
        image_grid(splits.train_images[: params["grid_size"]]),
    )
