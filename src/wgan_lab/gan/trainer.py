"""The training loop: events, checkpoints and callbacks around the compiled step.

The trainer knows nothing of Kedro or MLflow; it reports through callbacks.
What one step computes lives in ``step.TrainingStep``; here Python decides
how many steps to run in one compiled call (up to ``steps_per_call``, so
that Python runs only at log, sample, evaluation and checkpoint steps), and
what to do between calls.
"""
from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from wgan_lab.progress import Progress

from .checkpoints import CheckpointStore
from .config import TrainingConfig
from .distribute import is_chief, make_strategy
from .inputs import make_distributed_dataset, sample_noise
from .step import METRICS, TrainingStep

logger = logging.getLogger(__name__)

__all__ = ["METRICS", "Callbacks", "GANTrainer", "NonFiniteLossError", "TrainingResult"]


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or Inf; the message names the variant, step and last checkpoint."""


@dataclass
class Callbacks:
    """Hooks the caller wires to logging, MLflow, plots...; any may be None."""

    on_step: Callable[[int, dict[str, float]], None] | None = None
    on_samples: Callable[[int, np.ndarray], None] | None = None
    on_checkpoint: Callable[[int, str], None] | None = None
    # Called every ``eval_every`` steps with the sampling generator; returns
    # metrics whose "fid" (lower is better) picks the best checkpoint.
    evaluate: Callable[[int, keras.Model], dict[str, float]] | None = None


@dataclass
class TrainingResult:
    generator: keras.Model
    critic: keras.Model
    history: pd.DataFrame
    samples: np.ndarray
    resumed_from: int = 0
    steps_run: int = 0
    evaluations: pd.DataFrame | None = None


class GANTrainer:
    """Trains one configuration on ``strategy`` (default: the one ``runtime.distribution`` names)."""

    def __init__(self, config: TrainingConfig, image_shape: tuple[int, int, int],
                 strategy: tf.distribute.Strategy | None = None) -> None:
        config.check_image_shape(image_shape)
        self.config = config
        self.image_shape = tuple(int(d) for d in image_shape)
        self.strategy = strategy or make_strategy(config.runtime.distribution)
        self.replicas = self.strategy.num_replicas_in_sync
        config.check_replicas(self.replicas)
        self.is_chief = is_chief(self.strategy)
        self.compiled = TrainingStep(config, self.image_shape, self.strategy)
        self.checkpoint = tf.train.Checkpoint(**self.compiled.trackables())

    # The compiled step's parts, for callers that inspect a trainer.
    generator = property(lambda self: self.compiled.generator)
    critic = property(lambda self: self.compiled.critic)
    ema_generator = property(lambda self: self.compiled.ema_generator)
    sampling_generator = property(lambda self: self.compiled.sampling_generator)
    precision = property(lambda self: self.compiled.precision)
    step = property(lambda self: self.compiled.step)

    # ----- running steps --------------------------------------------------------
    def batches(self, images: np.ndarray, start_step: int = 0) -> Iterator:
        """The distributed real batches of a run from ``start_step`` on."""
        self.compiled.use_images(images)
        return iter(make_distributed_dataset(images, self.config, start_step, self.strategy))

    def run_steps(self, batches: Iterator, steps: int) -> dict[str, float]:
        """``steps`` generator steps as ``fit`` runs them (up to ``steps_per_call``
        per compiled call); returns the last step's metrics. For benchmarks and
        callers that drive training themselves: no events, no checkpoints."""
        metrics: dict = {}
        done = 0
        while done < steps:
            count = min(self.config.runtime.steps_per_call, steps - done)
            metrics = self.compiled.run(batches, tf.constant(count, tf.int64))
            done += count
        return {key: float(value) for key, value in metrics.items()}

    def _steps_until_event(self, step: int) -> int:
        """Steps to run before the next log, sample, evaluation, checkpoint or the end."""
        schedule = self.config.schedule
        intervals = [schedule.log_every, schedule.sample_every, schedule.checkpoint_every]
        if schedule.eval_every:
            intervals.append(schedule.eval_every)
        until = min(i - step % i for i in intervals)
        return max(1, min(until, schedule.steps - step, self.config.runtime.steps_per_call))

    def generate(self, noise: tf.Tensor) -> np.ndarray:
        return np.asarray(self.sampling_generator(noise, training=False))

    # ----- the loop -----------------------------------------------------------
    def fit(self, images: np.ndarray, checkpoint_dir: Path | str,
            callbacks: Callbacks | None = None) -> TrainingResult:
        """Train to ``schedule.steps`` generator steps, resuming from ``checkpoint_dir``."""
        config, callbacks = self.config, callbacks or Callbacks()
        schedule = config.schedule
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images have shape {images.shape[1:]}, trainer was built "
                             f"for {self.image_shape}")
        needed = config.optimizer.batch_size * config.objective.n_critic
        if len(images) < needed:
            raise ValueError(f"{config.variant}.training.optimizer.batch_size: {len(images)} "
                             f"training images are fewer than one step needs "
                             f"(batch_size x n_critic = {needed})")
        store = CheckpointStore(Path(checkpoint_dir), self.checkpoint,
                                config.fingerprint(self.image_shape), self.is_chief)
        with contextlib.ExitStack() as stack:
            stack.callback(store.close)
            start, history = store.restore(config.runtime.resume)
            if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                self.compiled.adopt_chief_state()
                start = int(self.step.numpy())
            rows = history.to_dict("records")
            evaluations = store.load_evaluations(start).to_dict("records") if start else []
            noise = sample_noise(config)
            samples = self.generate(noise)
            base_elapsed = float(self.compiled.elapsed.numpy())
            time_budget = schedule.max_seconds
            if start >= schedule.steps or (time_budget and base_elapsed >= time_budget):
                logger.info("%s: already trained to step %d (%.0f s)", config.variant, start,
                            base_elapsed)
                return TrainingResult(self.sampling_generator, self.critic, history, samples,
                                      resumed_from=start, evaluations=pd.DataFrame(evaluations))
            until = (f"{time_budget:g} s of training or step {schedule.steps}" if time_budget
                     else f"step {schedule.steps}")
            logger.info("%s: training from step %d to %s on %d replica(s), %s compute",
                        config.variant, start, until, self.replicas, self.precision)
            iterator = self.batches(images, start)
            last_good = start if start else None
            clock, last_log_step, last_log_time = time.perf_counter(), start, time.perf_counter()
            # Time in sampling, evaluation and checkpoints is not training time:
            # `elapsed` (history's "seconds", the time budget) leaves it out.
            paused = 0.0

            def trained_seconds() -> float:
                return base_elapsed + time.perf_counter() - clock - paused

            step = start
            progress = stack.enter_context(
                Progress(f"{config.variant} training", int(time_budget), "training seconds",
                         start=int(base_elapsed)) if time_budget else
                Progress(f"{config.variant} training", schedule.steps, "steps", start=start))
            while step < schedule.steps:
                count = self._steps_until_event(step)
                metrics = self.compiled.run(iterator, tf.constant(count, tf.int64))
                step += count
                out_of_time = bool(time_budget) and trained_seconds() >= time_budget
                progress.update(min(int(trained_seconds()), int(time_budget)) if time_budget
                                else step)
                final = step == schedule.steps or out_of_time
                log_now = step % schedule.log_every == 0 or final
                save_now = step % schedule.checkpoint_every == 0 or final
                if log_now or save_now:
                    values = {k: float(v) for k, v in metrics.items()}
                    bad = [k for k in ("critic_loss", "generator_loss") if not math.isfinite(values[k])]
                    if bad:
                        where = (f"the last good checkpoint (step {last_good}) is kept in "
                                 f"{store.directory}" if last_good else "no checkpoint was written")
                        raise NonFiniteLossError(
                            f"{config.variant}: {bad[0]} is {values[bad[0]]} at step {step}; {where}")
                    now = time.perf_counter()
                    self.compiled.elapsed.assign(trained_seconds())
                    if log_now:
                        rate = (step - last_log_step) * needed / max(now - last_log_time, 1e-9)
                        row = {"step": step, **{k: values[k] for k in METRICS},
                               "seconds": float(self.compiled.elapsed.numpy()), "images_per_sec": rate}
                        rows.append(row)
                        last_log_step, last_log_time = step, now
                        last_fid = evaluations[-1].get("fid") if evaluations else None
                        fid = f", FID {last_fid:.1f}" if last_fid is not None else ""
                        progress.update(step, f"critic {values['critic_loss']:.4f}, generator "
                                              f"{values['generator_loss']:.4f}{fid}")
                        logger.debug(
                            "%s step %d/%d: critic %.4f, generator %.4f, W %.4f, %.0f img/s",
                            config.variant, step, schedule.steps, values["critic_loss"],
                            values["generator_loss"], values["wasserstein_estimate"], rate)
                        if callbacks.on_step:
                            callbacks.on_step(step, row)
                pause_started = time.perf_counter()
                if step % schedule.sample_every == 0 or final:
                    samples = self.generate(noise)
                    if callbacks.on_samples:
                        callbacks.on_samples(step, samples)
                if schedule.eval_every and callbacks.evaluate and (
                        step % schedule.eval_every == 0 or final):
                    seconds = trained_seconds()
                    scores = callbacks.evaluate(step, self.sampling_generator)
                    evaluations.append({"step": step, "seconds": seconds, **scores})
                    if "fid" in scores and store.save_best(step, scores["fid"], "fid"):
                        logger.info("%s step %d: best FID so far, %.3f", config.variant, step,
                                    scores["fid"])
                if save_now:
                    # The stored clock must not count this pause: elapsed was set before it.
                    store.save_evaluations(pd.DataFrame(evaluations))
                    path = store.save(step, pd.DataFrame(rows))
                    last_good = step
                    if callbacks.on_checkpoint:
                        callbacks.on_checkpoint(step, path)
                paused += time.perf_counter() - pause_started
                if final:
                    break
            return TrainingResult(self.sampling_generator, self.critic, pd.DataFrame(rows),
                                  samples, resumed_from=start, steps_run=step - start,
                                  evaluations=pd.DataFrame(evaluations))
