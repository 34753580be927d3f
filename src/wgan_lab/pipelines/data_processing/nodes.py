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


def normalize_images(
    splits: ImageSplits,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images as float32 NHWC in [-1, 1]; labels unchanged."""
    return (
        to_unit_range(splits.train_images),
        splits.train_labels,
        to_unit_range(splits.test_images),
        splits.test_labels,
    )


def summarize_data(splits: ImageSplits) -> pd.DataFrame:
    """Count per class, pixel mean and std, image shape."""
    return summarize(splits)


def real_sample_grid(splits: ImageSplits, params: dict[str, Any]) -> Image.Image:
    """A grid of the first training images, as a picture of what the models learn."""
    return image_grid(splits.train_images[: params["grid_size"]])
