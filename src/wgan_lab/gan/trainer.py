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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from pydantic import Field

from wgan_lab.core import ConfigError, Count, ProjectError, section
from wgan_lab.progress import Progress
from wgan_lab.stopping import Interrupted, deferred_stop, signal_name

from .checkpoints import CheckpointStore
from .config import TrainingConfig
from .distribute import cluster_stop, is_chief, make_strategy
from .inputs import make_distributed_dataset, sample_noise
from .networks import NETWORKS
from .step import METRICS, TrainingStep

logger = logging.getLogger(__name__)

__all__ = ["BUDGET_UNITS", "METRICS", "Budget", "Callbacks", "GANTrainer", "NonFiniteLossError",
           "TrainingResult"]


@contextlib.contextmanager
def without_remapper():
    """Run the enclosed TensorFlow calls without grappler's remapper.

    On the convolutional critic, TensorFlow 2.21's remapper fuses Conv2D, BiasAdd
    and LeakyRelu and then cannot rewire the LeakyReluGrad of the backward pass:
    it drops its work on the whole graph and prints an error ("E0000 ...
    remapper failed: ... LeakyReluGrad") on every run. Without it that training
    step is about as fast, within the spread of repeats (benchmarks/remapper.py);
    the MLP, where the remapper works, and the inference graphs, where it saves
    about a quarter, keep it. TensorFlow reads the option at each call, so it is
    set around each call.
    """
    before = tf.config.optimizer.get_experimental_options().get("remapping", True)
    tf.config.optimizer.set_experimental_options({"remapping": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"remapping": before})


class NonFiniteLossError(ProjectError, FloatingPointError):
    """A loss became NaN or Inf; the message names the variant, step and last checkpoint."""


# steps: generator steps. seconds: wall-clock training time, what a user waits.
# cpu_seconds: the process's CPU time in training (all its threads), which other
# processes on the machine do not eat into: for runs that share a machine.
# Time in sampling, evaluation and checkpoints counts in neither.
BUDGET_UNITS = ("steps", "seconds", "cpu_seconds")  # as Budget.unit declares them
BUDGET_WORDS = {"steps": "generator steps",
                "seconds": "s of training (wall clock, evaluation excluded)",
                "cpu_seconds": "CPU seconds of training (evaluation excluded)"}


@section
class Budget:
    """How long ``fit`` trains: ``amount`` of ``unit``, summed over resumes.

    ``max_steps`` caps a time budget in steps too. ``checks`` asks for that many
    evaluations at evenly spaced points of the budget (in its unit), and ``at``
    for evaluations at those amounts (a multi-fidelity search's rungs: 60, 180,
    540 CPU seconds), beside ``schedule.eval_every``: what a search reports to
    its pruner.
    """

    unit: Literal["steps", "seconds", "cpu_seconds"]
    amount: Annotated[float, Field(gt=0)]
    max_steps: Count | None = None
    checks: Annotated[int, Field(ge=0)] = 0
    # Evaluations at these amounts too (in the budget's unit): a search's rungs.
    at: tuple[Annotated[float, Field(gt=0)], ...] = ()

    @classmethod
    def of_schedule(cls, schedule) -> Budget:
        """A configuration's own budget: ``schedule.steps``, or ``schedule.max_seconds``
        of training capped at ``schedule.steps``."""
        if schedule.max_seconds:
            return cls("seconds", schedule.max_seconds, max_steps=schedule.steps)
        return cls("steps", schedule.steps)

    @property
    def step_limit(self) -> int | None:
        if self.unit == "steps":
            return math.ceil(self.amount)
        return self.max_steps

    def check_points(self) -> list[float]:
        """Where the ``checks`` and the points ``at`` fall, in order, in the budget's
        unit (steps rounded up); a point past the budget is never reached."""
        points = [self.amount * i / self.checks for i in range(1, self.checks + 1)]
        points += [p for p in self.at if p <= self.amount]
        if self.unit == "steps":
            points = [math.ceil(p) for p in points]
        return sorted(set(points))

    def reached(self, spent: dict[str, float]) -> bool:
        limit = self.step_limit
        return spent[self.unit] >= self.amount or (limit is not None and spent["steps"] >= limit)

    def describe(self) -> str:
        """In words, for logs and reports: "300 CPU seconds of training"."""
        text = f"{self.amount:g} {BUDGET_WORDS[self.unit]}"
        return text if self.unit == "steps" or not self.max_steps else f"{text} or step {self.max_steps}"


@dataclass
class Callbacks:
    """Hooks the caller wires to logging, MLflow, plots, a pruner...; any may be None."""

    on_step: Callable[[int, dict[str, float]], None] | None = None
    on_samples: Callable[[int, np.ndarray], None] | None = None
    on_checkpoint: Callable[[int, str], None] | None = None
    # Called every ``eval_every`` steps and at the budget's checks with the
    # sampling generator; returns metrics whose "fid" (lower is better) picks
    # the best checkpoint.
    evaluate: Callable[[int, keras.Model], dict[str, float]] | None = None
    # Called after each evaluation with the training spent so far (steps,
    # seconds, cpu_seconds) and the metrics; returning True stops training there.
    on_evaluation: Callable[[int, dict[str, float], dict[str, float]], bool | None] | None = None
    # Called once when training resumes from a checkpoint, with the evaluations made
    # before it, so that a callback with state (a convergence window) goes on as if
    # training had never stopped.
    on_resume: Callable[[pd.DataFrame], None] | None = None


@dataclass
class TrainingResult:
    generator: keras.Model
    critic: keras.Model
    history: pd.DataFrame
    samples: np.ndarray
    resumed_from: int = 0
    steps_run: int = 0
    evaluations: pd.DataFrame | None = None
    # Training spent in total, resumes included: steps, seconds, cpu_seconds.
    spent: dict[str, float] = field(default_factory=dict)
    # A callback stopped training before the budget was used.
    stopped: bool = False


class GANTrainer:
    """Trains one configuration on ``strategy`` (default: the one ``runtime.distribution`` names)."""

    def __init__(self, config: TrainingConfig, image_shape: tuple[int, int, int],
                 strategy: tf.distribute.Strategy | None = None, n_classes: int = 0) -> None:
        """``n_classes``: the classes of the labelled training data, which a conditional
        configuration (``model.conditioning``) needs and an unconditional one ignores."""
        config.check_image_shape(image_shape)
        if config.conditional and n_classes < 2:
            raise ConfigError(f"{config.variant}.training.model.conditioning: "
                              f"{config.model.conditioning} trains on labelled data of at "
                              f"least 2 classes; this data has {n_classes}")
        self.n_classes = n_classes if config.conditional else 0
        self.config = config
        self.image_shape = tuple(int(d) for d in image_shape)
        self.strategy = strategy or make_strategy(config.runtime.distribution)
        self.replicas = self.strategy.num_replicas_in_sync
        config.check_replicas(self.replicas)
        self.is_chief = is_chief(self.strategy)
        self.compiled = TrainingStep(config, self.image_shape, self.strategy, self.n_classes)
        self.checkpoint = tf.train.Checkpoint(**self.compiled.trackables())
        # Where the last fit stopped, so that the next one on the same images goes on.
        self._continuation: tuple | None = None
        self._cpu_seconds = 0.0

    # The compiled step's parts, for callers that inspect a trainer.
    generator = property(lambda self: self.compiled.generator)
    critic = property(lambda self: self.compiled.critic)
    ema_generator = property(lambda self: self.compiled.ema_generator)
    sampling_generator = property(lambda self: self.compiled.sampling_generator)
    precision = property(lambda self: self.compiled.precision)
    step = property(lambda self: self.compiled.step)

    # ----- the loop -----------------------------------------------------------
    def _batches(self, images: np.ndarray, labels: np.ndarray | None,
                 start_step: int) -> Iterator:
        """The distributed real batches (with their labels, for a conditional model) from
        ``start_step`` on. A fit that goes on where the previous one stopped, on the same
        images, keeps its iterator."""
        held = self._continuation
        if held is not None and held[0] is images and held[1] == start_step:
            return held[2]
        self.compiled.use_images(images)
        return iter(make_distributed_dataset(images, self.config, start_step, self.strategy,
                                             labels if self.n_classes else None))

    def _steps_until_event(self, step: int, *limits: int | None) -> int:
        """Steps to run before the next log, sample, evaluation, checkpoint or limit."""
        schedule = self.config.schedule
        intervals = [schedule.log_every, schedule.sample_every, schedule.checkpoint_every]
        if schedule.eval_every:
            intervals.append(schedule.eval_every)
        until = min(i - step % i for i in intervals)
        until = min([until, *(limit - step for limit in limits if limit is not None)])
        return max(1, min(until, self.config.runtime.steps_per_call))

    def _training_graph_options(self):
        broken = NETWORKS[self.config.model.architecture].remapper_breaks_training
        return without_remapper() if broken else contextlib.nullcontext()

    def train_critic(self, real: np.ndarray, fake: np.ndarray | None = None, steps: int = 1,
                     seed: int = 0) -> dict[str, float]:
        """``steps`` critic updates, the generator frozen, on batches of ``real`` against
        batches of ``fake`` (or of the generator's samples); the last update's metrics."""
        with self._training_graph_options():
            metrics = self.compiled.train_critic(
                tf.constant(real, tf.float32),
                None if fake is None else tf.constant(fake, tf.float32),
                tf.constant(steps, tf.int64), tf.constant(seed, tf.int64))
        return {key: float(value) for key, value in metrics.items()}

    def restart_critic(self, seed: int) -> None:
        """A fresh critic for the next ``train_critic``: every weight drawn again by its
        layer's own initializer from ``seed``, the critic optimizer's state zeroed. The
        traced step is kept, so many estimates (one per distance, per seed) pay for
        one trace."""
        for index, layer in enumerate(self.critic.layers):
            for name in ("kernel", "bias"):
                variable = getattr(layer, name, None)
                initializer = getattr(layer, f"{name}_initializer", None)
                if variable is None or initializer is None:
                    continue
                config = initializer.get_config()
                if "seed" in config:
                    initializer = type(initializer).from_config(
                        {**config, "seed": int(seed) * 1000 + index})
                variable.assign(initializer(variable.shape, variable.dtype))
        for variable in self.compiled.critic_optimizer.variables:
            # Its step count and moments restart; its learning rate stays.
            if variable.name != "learning_rate":
                variable.assign(tf.zeros_like(variable))

    def generate(self, noise) -> np.ndarray:
        """Images from ``noise`` (a conditional model's: [noise, labels])."""
        return np.asarray(self.sampling_generator(noise, training=False))

    def fit(self, images: np.ndarray, checkpoint_dir: Path | str | None = None,
            callbacks: Callbacks | None = None, budget: Budget | None = None,
            label: str | None = None, labels: np.ndarray | None = None) -> TrainingResult:
        """Train for ``budget`` (default: the schedule's), resuming from ``checkpoint_dir``.
        A conditional model trains on ``labels`` too (one class per image).

        Without ``checkpoint_dir`` nothing is saved and training goes on from the
        trainer's current step (a search trial, a benchmark). Every driver (the
        training node, a trial, a study job, the benchmarks) runs this loop.
        """
        config, callbacks = self.config, callbacks or Callbacks()
        schedule = config.schedule
        budget = budget or Budget.of_schedule(schedule)
        label = label or f"{config.variant} training"
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images have shape {images.shape[1:]}, trainer was built "
                             f"for {self.image_shape}")
        needed = config.optimizer.batch_size * config.objective.n_critic
        if len(images) < needed:
            raise ValueError(f"{config.variant}.training.optimizer.batch_size: {len(images)} "
                             f"training images are fewer than one step needs "
                             f"(batch_size x n_critic = {needed})")
        if self.n_classes:
            self._check_labels(labels, len(images))
        store = (CheckpointStore(Path(checkpoint_dir), self.checkpoint,
                                 config.fingerprint(self.image_shape, self.n_classes),
                                 self.is_chief)
                 if checkpoint_dir is not None else None)
        with contextlib.ExitStack() as stack:
            if store is not None:
                stack.callback(store.close)
                start, history = store.restore(config.runtime.resume)
                base_cpu = store.load_cpu_seconds(start)
            else:
                start, history = int(self.step.numpy()), pd.DataFrame()
                base_cpu = self._cpu_seconds
            multi_worker = isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy)
            if multi_worker:
                self.compiled.adopt_chief_state()
                start = int(self.step.numpy())
            rows = history.to_dict("records")
            evaluations = (store.load_evaluations(start).to_dict("records")
                           if store is not None and start else [])
            if evaluations and callbacks.on_resume:
                callbacks.on_resume(pd.DataFrame(evaluations))
            noise = sample_noise(config, self.n_classes)
            samples = self.generate(noise)
            clock = _Clock(float(self.compiled.elapsed.numpy()), base_cpu)
            spent = clock.spent(start)
            if budget.reached(spent):
                logger.info("%s: already trained to step %d (%.0f s)", config.variant, start,
                            spent["seconds"])
                return TrainingResult(self.sampling_generator, self.critic, history, samples,
                                      resumed_from=start, evaluations=pd.DataFrame(evaluations),
                                      spent=spent)
            logger.info("%s: training from step %d to %s on %d replica(s), %s compute",
                        config.variant, start, budget.describe(), self.replicas, self.precision)
            iterator = self._batches(images, labels, start)
            # Checks already passed before a resume are not repeated.
            checks = [p for p in budget.check_points() if p > spent[budget.unit]]
            last_good = start if start else None
            last_log_step, last_log_time = start, time.perf_counter()
            step, stopped = start, False
            total = math.ceil(budget.amount)
            progress = stack.enter_context(Progress(
                label, total, "steps" if budget.unit == "steps" else
                f"training {budget.unit.replace('_', ' ')}", start=int(spent[budget.unit])))
            stop = stack.enter_context(deferred_stop())
            if multi_worker:
                stop = cluster_stop(self.strategy, stop)

            def stop_here() -> Interrupted:
                """SIGINT or SIGTERM came: the state at this step boundary saved, if there
                is a store, and the stop said in one line. Checked at the top of the loop,
                after the events due at the step (a row, samples, an evaluation), so a
                resumed run goes on exactly as if it had never stopped."""
                if store is None:
                    kept = "nothing was saved (no checkpoint directory)"
                    path = None
                else:
                    started, reached = time.perf_counter(), clock.spent(step)
                    self.compiled.elapsed.assign(reached["seconds"])
                    store.save_evaluations(pd.DataFrame(evaluations))
                    path = store.save(step, pd.DataFrame(rows), reached["cpu_seconds"])
                    kept = (f"checkpoint of step {step} saved in {store.directory} in "
                            f"{time.perf_counter() - started:.1f} s; run the same command "
                            f"again to resume from step {step}")
                return Interrupted(stop.signum, f"{config.variant}: stopped by "
                                   f"{signal_name(stop.signum)} at step "
                                   f"{step}; {kept}", step=step, checkpoint=path)

            while True:
                if stop:
                    raise stop_here()
                step_check = checks[0] if checks and budget.unit == "steps" else None
                count = self._steps_until_event(step, budget.step_limit, step_check)
                with self._training_graph_options():
                    metrics = self.compiled.run(iterator, tf.constant(count, tf.int64))
                step += count
                stop.after_call()
                values = {k: float(v) for k, v in metrics.items()}
                self._check_finite(values, step, last_good, store)
                spent = clock.spent(step)
                final = budget.reached(spent)
                progress.update(min(int(spent[budget.unit]), total))
                log_now = step % schedule.log_every == 0 or final
                save_now = step % schedule.checkpoint_every == 0 or final
                # The stored clock must not count the pause below: set before it.
                self.compiled.elapsed.assign(spent["seconds"])
                if log_now:
                    now = time.perf_counter()
                    rate = (step - last_log_step) * needed / max(now - last_log_time, 1e-9)
                    row = {"step": step, **{k: values[k] for k in METRICS},
                           "seconds": float(self.compiled.elapsed.numpy()), "images_per_sec": rate}
                    rows.append(row)
                    last_log_step, last_log_time = step, now
                    last_fid = evaluations[-1].get("fid") if evaluations else None
                    fid = f", FID {last_fid:.1f}" if last_fid is not None else ""
                    progress.update(progress.completed,
                                    f"critic {values['critic_loss']:.4f}, generator "
                                    f"{values['generator_loss']:.4f}{fid}")
                    logger.debug(
                        "%s step %d: critic %.4f, generator %.4f, W %.4f, %.0f img/s",
                        config.variant, step, values["critic_loss"],
                        values["generator_loss"], values["wasserstein_estimate"], rate)
                    if callbacks.on_step:
                        callbacks.on_step(step, row)
                check_now = bool(checks) and spent[budget.unit] >= checks[0]
                while checks and spent[budget.unit] >= checks[0]:
                    checks.pop(0)
                with clock.paused():
                    if step % schedule.sample_every == 0 or final:
                        samples = self.generate(noise)
                        if callbacks.on_samples:
                            callbacks.on_samples(step, samples)
                    if callbacks.evaluate and (check_now or schedule.eval_every and (
                            step % schedule.eval_every == 0 or final)):
                        scores = callbacks.evaluate(step, self.sampling_generator)
                        evaluations.append({"step": step, "seconds": spent["seconds"],
                                            "cpu_seconds": spent["cpu_seconds"], **scores})
                        if (store is not None and "fid" in scores
                                and store.save_best(step, scores["fid"], "fid")):
                            logger.info("%s step %d: best FID so far, %.3f", config.variant,
                                        step, scores["fid"])
                        if callbacks.on_evaluation and callbacks.on_evaluation(
                                step, spent, scores):
                            stopped = final = True
                    if (save_now or stopped) and store is not None:
                        store.save_evaluations(pd.DataFrame(evaluations))
                        path = store.save(step, pd.DataFrame(rows), spent["cpu_seconds"])
                        last_good = step
                        if callbacks.on_checkpoint:
                            callbacks.on_checkpoint(step, path)
                if final:
                    break
            self._cpu_seconds = spent["cpu_seconds"]
            self.compiled.elapsed.assign(spent["seconds"])
            self._continuation = (images, step, iterator)
            return TrainingResult(self.sampling_generator, self.critic, pd.DataFrame(rows),
                                  samples, resumed_from=start, steps_run=step - start,
                                  evaluations=pd.DataFrame(evaluations), spent=spent,
                                  stopped=stopped)

    def _check_labels(self, labels: np.ndarray | None, n_images: int) -> None:
        where = f"{self.config.variant}.training.model.conditioning"
        if labels is None or len(labels) != n_images:
            raise ConfigError(f"{where}: a conditional model trains on one label per image "
                              f"(got {'none' if labels is None else len(labels)} for "
                              f"{n_images} images)")
        if labels.min() < 0 or labels.max() >= self.n_classes:
            raise ConfigError(f"{where}: labels must lie in 0-{self.n_classes - 1} (got "
                              f"{labels.min()} to {labels.max()})")

    def _check_finite(self, values: dict[str, float], step: int, last_good: int | None,
                      store: CheckpointStore | None) -> None:
        """The NaN policy: a loss that is not finite stops the run, naming what is kept."""
        bad = [k for k in ("critic_loss", "generator_loss") if not math.isfinite(values[k])]
        if not bad:
            return
        if store is None:
            where = "nothing was saved (no checkpoint directory)"
        elif last_good:
            where = f"the last good checkpoint (step {last_good}) is kept in {store.directory}"
        else:
            where = "no checkpoint was written"
        raise NonFiniteLossError(
            f"{self.config.variant}: {bad[0]} is {values[bad[0]]} at step {step}; {where}")


class _Clock:
    """Training time, wall and CPU, from the stored totals on: the time inside
    ``paused()`` (sampling, evaluation, checkpoints) does not count."""

    def __init__(self, seconds: float, cpu_seconds: float) -> None:
        self._base = {"seconds": seconds, "cpu_seconds": cpu_seconds}
        self._started = {"seconds": time.perf_counter(), "cpu_seconds": time.process_time()}
        self._paused = {"seconds": 0.0, "cpu_seconds": 0.0}

    @staticmethod
    def _now() -> dict[str, float]:
        return {"seconds": time.perf_counter(), "cpu_seconds": time.process_time()}

    def spent(self, step: int) -> dict[str, float]:
        now = self._now()
        return {"steps": float(step), **{k: self._base[k] + now[k] - self._started[k]
                                         - self._paused[k] for k in self._base}}

    @contextlib.contextmanager
    def paused(self):
        before = self._now()
        try:
            yield
        finally:
            after = self._now()
            for key in self._paused:
                self._paused[key] += after[key] - before[key]
