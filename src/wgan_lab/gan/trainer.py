"""The training loop: n_critic critic updates per generator update, on any strategy.

The trainer knows nothing of Kedro or MLflow; it reports through callbacks.
One ``tf.function`` call runs up to ``steps_per_call`` generator steps (their
critic updates included) in a graph loop, so Python runs only at log, sample,
evaluation and checkpoint steps; the monitoring metrics are computed for the
last step of a call only.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from . import losses
from .checkpoints import CheckpointStore
from .config import TrainingConfig
from .distribute import is_chief, make_strategy
from .inputs import make_distributed_dataset, sample_noise, step_noise
from .networks import build_critic, build_generator
from .precision import resolve_precision

logger = logging.getLogger(__name__)

# Columns of the training history, in order.
METRICS = (
    "critic_loss", "generator_loss", "wasserstein_estimate", "gradient_penalty",
    "critic_grad_norm", "generator_grad_norm", "d_real", "d_fake",
)


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


def make_optimizer(config: TrainingConfig) -> keras.optimizers.Optimizer:
    if config.optimizer == "adam":
        return keras.optimizers.Adam(config.learning_rate, beta_1=config.beta_1,
                                     beta_2=config.beta_2)
    return keras.optimizers.RMSprop(config.learning_rate)


class GANTrainer:
    """Builds the networks and optimizers in ``strategy``'s scope and trains them."""

    def __init__(self, config: TrainingConfig, image_shape: tuple[int, int, int],
                 strategy: tf.distribute.Strategy | None = None) -> None:
        config.check_image_shape(image_shape)
        self.config = config
        self.image_shape = tuple(int(d) for d in image_shape)
        self.strategy = strategy or make_strategy(config.distribution)
        self.replicas = self.strategy.num_replicas_in_sync
        config.check_replicas(self.replicas)
        self.is_chief = is_chief(self.strategy)
        self._critic_loss = losses.critic_loss(config.loss)
        self._generator_loss = losses.generator_loss(config.loss)

        self.precision = resolve_precision(config.precision, config.architecture)
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.generator = build_generator(config.architecture, config.latent_dim,
                                             self.image_shape, config.hidden_units, config.filters,
                                             self.precision)
            self.critic = build_critic(config.architecture, self.image_shape, config.hidden_units,
                                       config.filters, config.critic_norm, self.precision)
            self.ema_generator = None
            if config.ema_decay > 0:
                self.ema_generator = keras.models.clone_model(self.generator)
                self.ema_generator.set_weights(self.generator.get_weights())
            self.generator_optimizer = make_optimizer(config)
            self.critic_optimizer = make_optimizer(config)
            # Keras 3 optimizers must be built eagerly in the scope, or a
            # multi-replica tf.function fails at trace time.
            self.generator_optimizer.build(self.generator.trainable_variables)
            self.critic_optimizer.build(self.critic.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.elapsed = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed")

        tracked = dict(generator=self.generator, critic=self.critic,
                       generator_optimizer=self.generator_optimizer,
                       critic_optimizer=self.critic_optimizer,
                       step=self.step, elapsed=self.elapsed)
        if self.ema_generator is not None:
            tracked["ema_generator"] = self.ema_generator
        self.checkpoint = tf.train.Checkpoint(**tracked)
        grads = tf.function(jit_compile=True) if config.jit_compile else (lambda f: f)
        self._critic_grads = grads(self._critic_grads_fn)
        self._generator_grads = grads(self._generator_grads_fn)
        self.train_steps = tf.function(self._train_steps)

    def _state_variables(self) -> list:
        """Every variable a checkpoint holds."""
        models = [self.generator, self.critic]
        if self.ema_generator is not None:
            models.append(self.ema_generator)
        return ([v for m in models for v in m.variables]
                + list(self.generator_optimizer.variables) + list(self.critic_optimizer.variables)
                + [self.step, self.elapsed])

    def _adopt_chief_state(self) -> None:
        """Give every worker the chief's state (restored or fresh).

        Only the chief keeps checkpoints, so on separate machines the other
        workers restore nothing; all must go on from the chief's step and weights.
        """
        variables = self._state_variables()

        @tf.function
        def broadcast():
            for variable in variables:
                def chief_value(variable=variable):
                    value = tf.convert_to_tensor(variable)
                    first = tf.distribute.get_replica_context().replica_id_in_sync_group == 0
                    return tf.where(first, value, tf.zeros_like(value))
                variable.assign(self.strategy.reduce(
                    tf.distribute.ReduceOp.SUM, self.strategy.run(chief_value), axis=None))

        broadcast()

    # ----- per-replica pieces -------------------------------------------------
    def _average(self, per_example: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(per_example, global_batch_size=self.config.batch_size)

    def _scores(self, images: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(self.critic(images, training=True), axis=-1)

    def _real_and_fake_scores(self, real, fake) -> tuple[tf.Tensor, tf.Tensor]:
        if self.config.critic_norm == "batch":
            # One call on both halves, so that they share the batch statistics:
            # with separate calls each half is centred on its own and the two
            # become hard to tell apart.
            scores = self._scores(tf.concat([real, fake], axis=0))
            return scores[: tf.shape(real)[0]], scores[tf.shape(real)[0]:]
        # Examples are scored independently: two calls skip the concatenation
        # (~10% of an MLP critic step).
        return self._scores(real), self._scores(fake)

    def _critic_grads_fn(self, real, fake, epsilon, with_metrics: bool = True):
        with tf.GradientTape() as tape:
            real_scores, fake_scores = self._real_and_fake_scores(real, fake)
            per_example = self._critic_loss(real_scores, fake_scores)
            if self.config.lipschitz == "gradient_penalty":
                penalty = losses.gradient_penalty(self._scores, real, fake, epsilon)
                per_example = per_example + self.config.gp_weight * penalty
            else:
                penalty = tf.zeros_like(per_example)
            loss = self._average(per_example)
        grads = tape.gradient(loss, self.critic.trainable_variables)
        if not with_metrics:
            return grads, {}
        metrics = {
            "critic_loss": loss,
            "wasserstein_estimate": self._average(real_scores - fake_scores),
            "gradient_penalty": self._average(penalty),
            "d_real": self._average(tf.sigmoid(real_scores)),
            "d_fake": self._average(tf.sigmoid(fake_scores)),
            # Each replica holds its share of the global gradient; scaled by the
            # replica count it estimates the global norm (exact on one replica).
            "critic_grad_norm": tf.linalg.global_norm(grads) * self.replicas,
        }
        return grads, metrics

    def _generator_grads_fn(self, z, with_metrics: bool = True):
        with tf.GradientTape() as tape:
            fake_scores = self._scores(self.generator(z, training=True))
            loss = self._average(self._generator_loss(fake_scores))
        grads = tape.gradient(loss, self.generator.trainable_variables)
        if not with_metrics:
            return grads, {}
        return grads, {"generator_loss": loss,
                       "generator_grad_norm": tf.linalg.global_norm(grads) * self.replicas}

    def _noise(self) -> dict[str, tf.Tensor]:
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        return step_noise(self.config, self.step.read_value(), replica, self.replicas)

    def _critic_update(self, real, noise, i: int, with_metrics: bool):
        # Outside the critic's tape: the critic update never differentiates
        # through the generator.
        fake = self.generator(noise["z"][i], training=True)
        grads, metrics = self._critic_grads(real[i], fake, noise["epsilon"][i], with_metrics)
        self.critic_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        return metrics

    def _generator_update(self, noise, with_metrics: bool):
        grads, metrics = self._generator_grads(noise["z"][-1], with_metrics)
        self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return metrics

    # ----- one fused generator step (cross-replica) ---------------------------
    def _reduce(self, per_replica: dict) -> dict:
        out = {}
        for key, value in per_replica.items():
            # Losses are already divided by the global batch: sum over replicas.
            # Norm estimates are per replica: average them.
            op = tf.distribute.ReduceOp.MEAN if key.endswith("grad_norm") else tf.distribute.ReduceOp.SUM
            out[key] = self.strategy.reduce(op, value, axis=None)
        return out

    def _train_step(self, real, with_metrics: bool = True) -> dict:
        """One generator step with its ``n_critic`` critic steps.

        ``with_metrics=False`` skips the monitoring values (means, gradient
        norms, their cross-replica reductions): steps between two log lines
        never report them, and on small networks they cost a visible share.
        """
        config = self.config
        noise = self.strategy.run(self._noise)
        critic_metrics: dict = {}
        for i in range(config.n_critic):
            per_replica = self.strategy.run(self._critic_update,
                                            args=(real, noise, i, with_metrics))
            for key, value in self._reduce(per_replica).items():
                critic_metrics[key] = critic_metrics.get(key, 0.0) + value / config.n_critic
            if config.lipschitz == "clip":
                losses.clip_weights(self.critic.trainable_variables, config.clip_value)
        metrics = {**critic_metrics, **self._reduce(
            self.strategy.run(self._generator_update, args=(noise, with_metrics)))}
        if self.ema_generator is not None:
            decay = config.ema_decay
            for ema, live in zip(self.ema_generator.weights, self.generator.weights):
                ema.assign(decay * ema + (1.0 - decay) * live)
        self.step.assign_add(1)
        return metrics

    def _train_steps(self, iterator, count: tf.Tensor) -> dict:
        """``count`` generator steps in one call (graph loop): no Python between
        steps, and metrics computed for the last step only."""
        for _ in tf.range(count - 1):
            self._train_step(next(iterator), with_metrics=False)
        return self._train_step(next(iterator))

    def _steps_until_event(self, step: int) -> int:
        """Steps to run before the next log, sample, evaluation, checkpoint or the end."""
        config = self.config
        intervals = [config.log_every, config.sample_every, config.checkpoint_every]
        if config.eval_every:
            intervals.append(config.eval_every)
        until = min(i - step % i for i in intervals)
        return max(1, min(until, config.steps - step, config.steps_per_call))

    # ----- outputs ------------------------------------------------------------
    @property
    def sampling_generator(self) -> keras.Model:
        """The generator to sample and export: the EMA copy when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def generate(self, noise: tf.Tensor) -> np.ndarray:
        return np.asarray(self.sampling_generator(noise, training=False))

    # ----- the loop -----------------------------------------------------------
    def fit(self, images: np.ndarray, checkpoint_dir: Path | str,
            callbacks: Callbacks | None = None) -> TrainingResult:
        """Train to ``config.steps`` generator steps, resuming from ``checkpoint_dir``."""
        config, callbacks = self.config, callbacks or Callbacks()
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images have shape {images.shape[1:]}, trainer was built "
                             f"for {self.image_shape}")
        needed = config.batch_size * config.n_critic
        if len(images) < needed:
            raise ValueError(f"training.batch_size: {len(images)} training images are fewer "
                             f"than one step needs (batch_size x n_critic = {needed})")
        store = CheckpointStore(Path(checkpoint_dir), self.checkpoint,
                                config.fingerprint(self.image_shape), self.is_chief)
        try:
            start, history = store.restore(config.resume)
            if isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
                self._adopt_chief_state()
                start = int(self.step.numpy())
            rows = history.to_dict("records")
            evaluations = store.load_evaluations(start).to_dict("records") if start else []
            noise = sample_noise(config)
            samples = self.generate(noise)
            if start >= config.steps:
                logger.info("%s: already trained to step %d", config.variant, start)
                return TrainingResult(self.sampling_generator, self.critic, history, samples,
                                      resumed_from=start, evaluations=pd.DataFrame(evaluations))
            logger.info("%s: training from step %d to %d on %d replica(s), %s compute",
                        config.variant, start, config.steps, self.replicas, self.precision)
            iterator = iter(make_distributed_dataset(images, config, start, self.strategy))
            last_good = start if start else None
            clock, last_log_step, last_log_time = time.perf_counter(), start, time.perf_counter()
            base_elapsed = float(self.elapsed.numpy())
            step = start
            while step < config.steps:
                count = self._steps_until_event(step)
                metrics = self.train_steps(iterator, tf.constant(count, tf.int64))
                step += count
                final = step == config.steps
                log_now = step % config.log_every == 0 or final
                save_now = step % config.checkpoint_every == 0 or final
                if log_now or save_now:
                    values = {k: float(v) for k, v in metrics.items()}
                    bad = [k for k in ("critic_loss", "generator_loss") if not math.isfinite(values[k])]
                    if bad:
                        where = (f"the last good checkpoint (step {last_good}) is kept in "
                                 f"{store.directory}" if last_good else "no checkpoint was written")
                        raise NonFiniteLossError(
                            f"{config.variant}: {bad[0]} is {values[bad[0]]} at step {step}; {where}")
                    now = time.perf_counter()
                    self.elapsed.assign(base_elapsed + now - clock)
                    if log_now:
                        rate = (step - last_log_step) * needed / max(now - last_log_time, 1e-9)
                        row = {"step": step, **{k: values[k] for k in METRICS},
                               "seconds": float(self.elapsed.numpy()), "images_per_sec": rate}
                        rows.append(row)
                        last_log_step, last_log_time = step, now
                        logger.info(
                            "%s step %d/%d: critic %.4f, generator %.4f, W %.4f, %.0f img/s",
                            config.variant, step, config.steps, values["critic_loss"],
                            values["generator_loss"], values["wasserstein_estimate"], rate)
                        if callbacks.on_step:
                            callbacks.on_step(step, row)
                if step % config.sample_every == 0 or final:
                    samples = self.generate(noise)
                    if callbacks.on_samples:
                        callbacks.on_samples(step, samples)
                if config.eval_every and callbacks.evaluate and (
                        step % config.eval_every == 0 or final):
                    scores = callbacks.evaluate(step, self.sampling_generator)
                    evaluations.append({"step": step, "seconds": base_elapsed + time.perf_counter() - clock,
                                        **scores})
                    if "fid" in scores and store.save_best(step, scores["fid"], "fid"):
                        logger.info("%s step %d: best FID so far, %.3f", config.variant, step,
                                    scores["fid"])
                if save_now:
                    store.save_evaluations(pd.DataFrame(evaluations))
                    path = store.save(step, pd.DataFrame(rows))
                    last_good = step
                    if callbacks.on_checkpoint:
                        callbacks.on_checkpoint(step, path)
            return TrainingResult(self.sampling_generator, self.critic, pd.DataFrame(rows),
                                  samples, resumed_from=start, steps_run=config.steps - start,
                                  evaluations=pd.DataFrame(evaluations))
        finally:
            store.close()
