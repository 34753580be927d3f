"""Nodes of the training pipeline: thin adapters over ``wgan_lab.gan``."""
from __future__ import annotations

import logging
from typing import Any

import keras
import numpy as np
import pandas as pd
from PIL import Image

from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.trainer import Callbacks, GANTrainer
from wgan_lab.visualize import image_grid

logger = logging.getLogger(__name__)


def train_variant(
    train_images: np.ndarray, training: dict[str, Any], checkpoint_dir: str
) -> tuple[keras.Model, keras.Model, pd.DataFrame, dict[str, Image.Image], Image.Image]:
    """Train one variant to its configured step count, resuming from its checkpoints.

    Returns the generator (the EMA copy when enabled), the critic, the history
    table, the sample grids by step, and the final sample grid.
    """
    variant = training.get("variant", "training")
    config = TrainingConfig.from_params(training, prefix=f"{variant}.training")
    trainer = GANTrainer(config, train_images.shape[1:])
    grids: dict[str, Image.Image] = {}

    def keep_grid(step: int, samples: np.ndarray) -> None:
        grids[f"step_{step:07d}"] = image_grid(samples)

    result = trainer.fit(train_images, checkpoint_dir, Callbacks(on_samples=keep_grid))
    return result.generator, result.critic, result.history, grids, image_grid(result.samples)
