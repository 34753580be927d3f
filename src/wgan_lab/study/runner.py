"""One job of a study: train a variant with one seed for the study's budget,
resuming from its checkpoints, then evaluate it with the declared protocol."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import optuna
import pandas as pd

from wgan_lab.evaluation.evaluate import Protocol, evaluate_generator
from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.core import ConfigError
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer

from .jobs import ERROR_ATTR, RESULT_ATTR, StudySettings

logger = logging.getLogger(__name__)

@dataclass
class JobCallbacks:
    """What the caller wires to MLflow; any may be None."""

    start: Callable[[str, int, dict[str, Any]], None] | None = None
    step: Callable[[int, dict[str, float]], None] | None = None
    end: Callable[[str, dict[str, float]], None] | None = None


def job_config(settings: StudySettings, training: dict[str, Any], variant: str,
               seed: int) -> TrainingConfig:
    """The variant's configuration with the job's seed and the study's evaluations
    (its budget is ``job_budget``'s)."""
    config = TrainingConfig.from_params({**training, "seed": seed},
                                        prefix=f"{variant}.training")
    # Events must land on in-training evaluations for the curves to line up.
    log_every = min(config.schedule.log_every, settings.eval_every)
    return config.replace(schedule={"eval_every": settings.eval_every,
                                    "eval_samples": settings.eval_samples,
                                    "log_every": log_every},
                          runtime={"resume": "auto"})


def job_budget(settings: StudySettings) -> Budget:
    """Every job trains for the study's budget, whatever the variant's schedule says."""
    return Budget(settings.budget_unit, settings.budget)


class StudyJob:
    """Runs one (variant, seed) job for ``run_jobs``; returns its FID."""

    def __init__(self, settings: StudySettings, family: Any, train_images: np.ndarray,
                 test_images: np.ndarray, space: FeatureSpace, protocol: dict[str, Any],
                 callbacks: JobCallbacks | None = None) -> None:
        if space.extractor is None:
            raise ConfigError("study: FID needs a feature space; this dataset has none "
                              "(no labels and no InceptionV3 weights)")
        self.settings, self.family = settings, family
        self.train_images, self.test_images, self.space = train_images, test_images, space
        self.protocol = Protocol(**protocol)
        self.callbacks = callbacks or JobCallbacks()

    def __call__(self, trial: optuna.Trial, variant: str, seed: int) -> float:
        config = job_config(self.settings, self.family[variant], variant, seed)
        callbacks, state, final = self.callbacks, "FAILED", {}
        logger.info("study %s: %s seed %d (trial %d)", self.settings.name, variant, seed,
                    trial.number)
        if callbacks.start:
            callbacks.start(variant, seed, config.as_dict())
        try:
            result = self._run(config, variant, seed)
            final = result["metrics"]
            trial.set_user_attr(RESULT_ATTR, result)
            state = "FINISHED"
            return float(final["fid"])
        except Exception as exc:
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}")
            logger.warning("study %s: %s seed %d failed: %s", self.settings.name, variant,
                           seed, exc)
            raise
        finally:
            if callbacks.end:
                callbacks.end(state, final)
            keras.utils.clear_session(free_memory=True)

    def _run(self, config: TrainingConfig, variant: str, seed: int) -> dict[str, Any]:
        trainer = GANTrainer(config, self.train_images.shape[1:])
        fid_of = in_training_fid(self.space, self.test_images, config.schedule.eval_samples, seed)
        step_callback = self.callbacks.step

        def evaluate(step: int, generator) -> dict[str, float]:
            scores = fid_of(step, generator)
            if step_callback:
                step_callback(step, scores)
            return scores

        fitted = trainer.fit(self.train_images,
                             self.settings.checkpoint_dir(variant, seed),
                             Callbacks(on_step=step_callback, evaluate=evaluate),
                             budget=job_budget(self.settings),
                             label=f"{variant} seed {seed} training")
        metrics, histogram = evaluate_generator(fitted.generator, self.test_images, self.space.extractor,
                                        self.protocol, description=f"{variant} seed {seed}: evaluation")
        history = fitted.history
        return {"steps": int(history["step"].iloc[-1]) if len(history) else 0,
                "train_seconds": float(history["seconds"].iloc[-1]) if len(history) else 0.0,
                "resumed_from": int(fitted.resumed_from),
                "metrics": {k: float(v) for k, v in metrics.items()},
                "n_classes": len(histogram),
                "curve": curve(history, fitted.evaluations)}


def curve(history: pd.DataFrame, evaluations: pd.DataFrame | None) -> list[dict[str, float]]:
    """The in-training checks: step, training seconds, FID, classes covered, and the
    critic's Wasserstein estimate (its real-minus-fake score gap) at that step."""
    if evaluations is None or not len(evaluations):
        return []
    checks = evaluations.sort_values("step")
    if len(history) and "wasserstein_estimate" in history:
        estimates = history[["step", "wasserstein_estimate"]].sort_values("step")
        checks = pd.merge_asof(checks, estimates, on="step", direction="backward")
    keep = [c for c in ("step", "seconds", "fid", "classes_covered", "wasserstein_estimate")
            if c in checks]
    return [{k: float(v) for k, v in row.items()} for row in checks[keep].to_dict("records")]
