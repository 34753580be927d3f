"""Nodes of the training pipeline: thin adapters over ``wgan_lab.gan`` and ``wgan_lab.tracking``."""
from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
from PIL import Image

from wgan_lab.data.images import class_count
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.inputs import samples_per_class
from wgan_lab.gan.trainer import Callbacks, GANTrainer
from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.reporting.compare import training_curves
from wgan_lab.core import settings_from
from wgan_lab.tracking import (ModelRegistrySettings, log_trained_generator,
                               registered_model_name, training_tracker)
from wgan_lab.stopping import Interrupted
from wgan_lab.visualize import image_grid


def train_variant(
    train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
    feature_space: FeatureSpace, training: dict[str, Any], checkpoint_dir: str,
) -> tuple[keras.Model, keras.Model, pd.DataFrame, pd.DataFrame, dict[str, Image.Image],
           Image.Image, str]:
    """Train one variant to its configured step count, resuming from its checkpoints;
    a conditional variant trains on the labels too, and its grids have a row per class.

    Returns the generator (the EMA copy when enabled), the critic, the history
    table, the in-training FID table, the sample grids by step, the final
    sample grid, and the MLflow run id its metrics went to ("" when untracked).
    """
    variant = training.get("variant", "training")
    config = TrainingConfig.from_params(training, prefix=f"{variant}.training")
    trainer = GANTrainer(config, train_images.shape[1:], n_classes=class_count(train_labels))
    columns = samples_per_class(config, trainer.n_classes) if trainer.n_classes else None
    grids: dict[str, Image.Image] = {}
    fid_of = in_training_fid(feature_space, test_images, config.schedule.eval_samples,
                             config.seed)

    # Only the chief of a multi-worker cluster logs to MLflow.
    params = {**config.as_dict(), "resolved_precision": trainer.precision,
              "replicas": trainer.replicas}
    tracker = training_tracker(variant, params, enabled=trainer.is_chief)
    run_id = tracker.run_id

    def on_samples(step: int, samples: np.ndarray) -> None:
        grids[f"step_{step:07d}"] = image_grid(samples, columns)
        tracker.samples(step, samples, columns)

    def evaluate(step: int, generator: keras.Model) -> dict[str, float]:
        scores = fid_of(step, generator)
        tracker.check(step, scores)
        return scores

    callbacks = Callbacks(on_step=tracker.check, on_samples=on_samples,
                          evaluate=evaluate if fid_of else None)
    try:
        result = trainer.fit(train_images, checkpoint_dir, callbacks, labels=train_labels)
    except Interrupted:
        tracker.end("KILLED", {})
        raise
    except BaseException:
        tracker.end("FAIL", {})
        raise
    tracker.end("COMPLETE", {})
    return (result.generator, result.critic, result.history, result.evaluations, grids,
            image_grid(result.samples, columns), run_id or "")


def log_generator(generator: keras.Model, history: pd.DataFrame, run_id: str,
                  training: dict[str, Any], model_registry: dict[str, Any]) -> str:
    """Log the saved generator as an MLflow model, registered as a new version of
    its variant's model, and the history table; returns the version ("" if untracked)."""
    registry = settings_from(ModelRegistrySettings, model_registry, "model_registry")
    name = registered_model_name(registry.name_prefix, training["variant"])
    return log_trained_generator(run_id or None, generator, history,
                                 int(training["model"]["latent_dim"]), name)


def plot_training_curves(history: pd.DataFrame, fid_history: pd.DataFrame,
                         training: dict[str, Any]):
    """Losses and in-training FID by step, as a figure kedro viz previews."""
    return training_curves(training.get("variant", "training"), history, fid_history)
