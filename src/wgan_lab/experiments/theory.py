"""The theory runs (#22): the argument for WGAN measured where the truth is known.

Five experiments, each a function of the ``theory`` settings that returns long
tables (one row per measurement) and reports every trained network as one run
through ``RunCallbacks`` (MLflow, when the caller wires it):

- ``measure_divergences``: Arjovsky et al. (2017), Example 1. Two parallel
  segments at distance theta: KL, JS, total variation and W1 in closed form,
  beside JS estimated by a trained discriminator (from its value, log 4 - 2 JS)
  and W1 by a critic trained with the gradient penalty.
- ``measure_gaussians``: two 1-D Gaussians at growing distance: a trained
  discriminator and critic, their output and gradient in x (the WGAN paper's
  Figure 2), and the discriminator against the optimal D*.
- ``measure_vanishing_gradients``: Arjovsky & Bottou (2017): a frozen generator, a
  discriminator (critic) trained for more and more steps, and the norm of the
  generator's gradient under the minimax, non-saturating and Wasserstein losses.
- ``train_mixtures``: the variants of the family on the WGAN-GP paper's toy data
  (8 and 25 Gaussians, the Swiss roll), through ``GANTrainer.fit``: modes, high-
  quality samples, the exact W1 over training beside the critic's estimate.
- ``measure_lipschitz``: critics trained to near-optimality against a generator
  held at the real data plus Gaussian noise (the WGAN-GP paper's Figure 1), with
  weight clipping at several values and with the gradient penalty: their value
  surfaces, weight histograms and gradient norms per layer.

Every network is the ``points`` entry of the network registry; every loss,
penalty and constraint comes from the registries through the one trainer (the
critic-only updates are ``GANTrainer.train_critic``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from pydantic import Field

from wgan_lab.core import (ConfigError, Count, Listed, Registry, UnknownNameError, masked_url,
                           section, settings_from)
from wgan_lab.data.toy import TOY_SOURCES, mode_coverage, toy_samples
from wgan_lab.evaluation.divergences import (exact_w1, gaussian_js, gaussian_kl, gaussian_w1,
                                             js_from_discriminator_value, optimal_discriminator,
                                             parallel_segments)
from wgan_lab.evaluation.fresh_critic import gap
from wgan_lab.evaluation.statistics import RESAMPLES
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.losses import LOSSES
from wgan_lab.gan.regularizers import REGULARIZERS
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer
from wgan_lab.progress import Progress

from .store import (Heartbeat, RunCallbacks, Started, job_list_results, open_job_list,
                    open_storage, run_job_list)

logger = logging.getLogger(__name__)

Positive = Annotated[float, Field(gt=0)]


# ----- settings ---------------------------------------------------------------------
@section
class Estimators:
    """The objectives (loss and regularizer, as in a variant's ``objective`` section)
    of the networks that estimate a divergence: a discriminator for JS, a critic
    for W1."""

    discriminator: dict[str, Any]  # JS from its value: loss, regularizer (default minimax, none)
    critic: dict[str, Any]  # W1 from its gap: default wasserstein with gradient_penalty 10


@section
class DivergenceSettings:
    thetas: Annotated[tuple[float, ...], Listed]  # x of the second segment (the first is at 0)
    steps: Count = 1000            # critic updates per theta and estimator
    samples: Annotated[int, Field(ge=2)] = 4096   # per distribution; half held out
    gaussian_distances: Annotated[tuple[Positive, ...], Listed] = (0.5, 2.0, 6.0)  # of the two 1-D Gaussians' means
    gaussian_std: Positive = 0.5   # of both Gaussians


@section
class VanishingSettings:
    dataset: str = "8gaussians"
    # Discriminator updates after which the generator's gradient is measured.
    checkpoints: Annotated[tuple[int, ...], Listed] = (1, 10, 100, 1000, 3000)
    seeds: Annotated[tuple[int, ...], Listed] = (0, 1, 2, 3, 4)  # a generator and critics each
    gradient_samples: Count = 1024  # latent draws the generator's gradient is averaged over


@section
class Convergence:
    """A mixture run stops early once its exact W1 has stayed within ``margin`` of the
    real-vs-real floor (W1 <= floor x (1 + margin)) for ``window`` checks in a row."""

    margin: Annotated[float, Field(ge=0)] = 0.25
    window: Count = 3


@section
class MixtureSettings:
    datasets: Annotated[tuple[str, ...], Listed]  # toy datasets (data/toy.py: TOY_SOURCES)
    variants: Annotated[tuple[str, ...], Listed]  # any variant of the family
    steps: Count = 2000            # generator steps, the same for every variant
    # null: every run trains all its steps
    convergence: Convergence | None = None
    eval_every: Count = 200        # steps between exact-W1, coverage and critic-gap checks
    eval_samples: Annotated[int, Field(ge=2)] = 512  # generated and real points per check (exact W1)
    # The variants' optimizer on toy data (over the theory optimizer): the WGAN-GP
    # paper's toy code, Adam 1e-4 (0.5, 0.9), batch 256.
    optimizer: dict[str, Any] = Field(default_factory=dict)
    # Per variant: sections of its training parameters to change for toy data
    # (the papers' toy settings), e.g. {wgan: {optimizer: {name: rmsprop}}}.
    overrides: dict[str, dict[str, dict[str, Any]]] = Field(default_factory=dict)
    # A job store (an Optuna storage URL) that keeps each run's results as it ends,
    # with each run's checkpoints under checkpoint_root: a killed theory run resumes
    # where it stopped, and more processes given the same storage share the runs.
    # null: the runs are trained in this process and kept nowhere until the report.
    storage: str | None = None
    checkpoint_root: str = ""
    checkpoint_every: Count = 2000   # steps between a stored run's checkpoints
    # A run whose process stops writing heartbeats for heartbeat.grace seconds
    # (killed, machine lost) is queued again, as a study's jobs are.
    heartbeat: Heartbeat = Heartbeat()


@section
class LipschitzSettings:
    datasets: Annotated[tuple[str, ...], Listed] = ("8gaussians", "25gaussians", "swissroll")  # toy datasets
    clip_values: Annotated[tuple[Positive, ...], Listed] = (0.1, 0.01, 0.001)  # a clipped critic each, beside the penalty's
    depth: Count = 8               # hidden layers of these critics
    width: Count = 64              # units per hidden layer
    steps: Count = 2000            # critic updates, towards optimality
    noise_std: Positive = 1.0      # the fixed generator: real data plus this noise


@section
class TheorySettings:
    """The ``theory`` block: each default written once, here."""

    seeds: Annotated[tuple[int, ...], Listed]  # of every trained network but the vanishing-gradient runs
    estimators: Estimators
    divergences: DivergenceSettings
    vanishing: VanishingSettings = VanishingSettings()
    mixtures: MixtureSettings = MixtureSettings(("8gaussians", "25gaussians", "swissroll"),
                                                ("gan", "wgan", "wgan_gp", "hinge_sn"))
    lipschitz: LipschitzSettings = LipschitzSettings()
    # The toy networks (the points entry) and the optimizer of every toy run (the
    # estimators'; the variants' on mixtures take theirs over it).
    hidden_units: Annotated[tuple[Count, ...], Listed] = (128, 128, 128)  # of the points MLPs (but the deep critics)
    latent_dim: Count = 2          # of the toy generators
    # A training optimizer section (gan/config.py), for every toy network.
    optimizer: dict[str, Any] = Field(default_factory=lambda: {
        "name": "adam", "learning_rate": 1e-3, "beta_1": 0.5, "beta_2": 0.9, "batch_size": 256})
    # A training runtime section for every toy network: XLA and steps per call
    # (benchmarks/toy_speed.py); distribution, precision and resume stay the toys'.
    runtime: dict[str, Any] = Field(default_factory=dict)
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05  # verdicts: intervals at 1 - alpha (95%)
    resamples: Annotated[int, Field(ge=RESAMPLES)] = RESAMPLES  # bootstrap resamples per interval
    bootstrap_seed: int = 0

    @classmethod
    def from_params(cls, theory: dict[str, Any], family: Registry) -> TheorySettings:
        """From the ``theory`` block and the variant family; every problem fails here,
        before anything trains, naming the parameter."""
        settings = settings_from(cls, theory, "theory")
        # Every experiment needs at least one of each: an empty list would leave a
        # claim without its measurements.
        for where, values in (("divergences.thetas", settings.divergences.thetas),
                              ("divergences.gaussian_distances",
                               settings.divergences.gaussian_distances),
                              ("mixtures.datasets", settings.mixtures.datasets),
                              ("mixtures.variants", settings.mixtures.variants),
                              ("lipschitz.datasets", settings.lipschitz.datasets),
                              ("lipschitz.clip_values", settings.lipschitz.clip_values)):
            if not values:
                raise ConfigError(f"theory.{where}: list at least one (got an empty list)")
        for where, seeds in (("theory.seeds", settings.seeds),
                             ("theory.vanishing.seeds", settings.vanishing.seeds)):
            if not seeds or len(set(seeds)) != len(seeds):
                raise ConfigError(f"{where}: needs one or more distinct seeds (got {list(seeds)})")
        checkpoints = settings.vanishing.checkpoints
        if not checkpoints or min(checkpoints) < 1 or list(checkpoints) != sorted(set(checkpoints)):
            raise ConfigError(f"theory.vanishing.checkpoints: increasing step counts >= 1 "
                              f"(got {list(checkpoints)})")
        for where, names in (("theory.vanishing.dataset", [settings.vanishing.dataset]),
                             ("theory.mixtures.datasets", settings.mixtures.datasets),
                             ("theory.lipschitz.datasets", settings.lipschitz.datasets)):
            for name in names:
                try:
                    TOY_SOURCES[name]
                except UnknownNameError as exc:
                    raise ConfigError(f"{where}: {exc}") from None
        for name in settings.mixtures.variants:
            try:
                family[name]
            except UnknownNameError as exc:
                raise ConfigError(f"theory.mixtures.variants: {exc}") from None
        unknown = sorted(set(settings.runtime) - {"jit_compile", "steps_per_call"})
        if unknown:
            raise ConfigError(f"theory.runtime.{unknown[0]}: only jit_compile and steps_per_call "
                              f"can change for the toy networks")
        unknown = sorted(set(settings.mixtures.overrides) - set(family))
        if unknown:
            raise ConfigError(f"theory.mixtures.overrides.{unknown[0]}: not a variant (known: "
                              f"{', '.join(family)})")
        # Build every configuration now: a bad loss, clip value or rate fails here.
        for seed in settings.seeds[:1]:
            settings.estimator_config("discriminator", seed)
            settings.estimator_config("critic", seed)
            for clip in settings.lipschitz.clip_values:
                settings.clip_config(clip, seed)
            for name in settings.mixtures.variants:
                settings.variant_config(name, family[name], seed)
        return settings

    # ----- the training configurations of the toy runs -------------------------------
    def _config(self, name: str, seed: int, objective: dict[str, Any], where: str,
                hidden_units=None, optimizer: dict[str, Any] | None = None,
                schedule: dict[str, Any] | None = None,
                critic_norm: str = "none", resume: str = "never") -> TrainingConfig:
        params = {"variant": name, "seed": int(seed),
                  "model": {"architecture": "points", "latent_dim": self.latent_dim,
                            "hidden_units": list(hidden_units or self.hidden_units),
                            "critic_norm": critic_norm},
                  "objective": objective,
                  "optimizer": {**self.optimizer, **(optimizer or {})},
                  "schedule": {"log_every": 100, "sample_every": 10**9,
                               "checkpoint_every": 10**9, "n_sample_images": 256,
                               **(schedule or {})},
                  "runtime": {**self.runtime, "distribution": "default", "precision": "float32",
                              "resume": resume}}
        return TrainingConfig.from_params(params, prefix=where)

    def estimator_config(self, role: str, seed: int) -> TrainingConfig:
        objective = dict(getattr(self.estimators, role))
        regularizer = objective.get("regularizer", "none")
        if regularizer in REGULARIZERS and REGULARIZERS[regularizer].needs_perturbation:
            raise ConfigError(f"theory.estimators.{role}.regularizer: {regularizer} perturbs "
                              f"real data, which the critic-only estimator does not do")
        return self._config(role, seed, objective, f"theory.estimators.{role}")

    def clip_config(self, clip: float, seed: int) -> TrainingConfig:
        objective = {"loss": "wasserstein", "regularizer": "clip", "clip_value": clip}
        return self._config(f"clip {clip:g}", seed, objective, "theory.lipschitz.clip_values",
                            hidden_units=[self.lipschitz.width] * self.lipschitz.depth)

    def penalty_config(self, seed: int) -> TrainingConfig:
        return self._config("gradient penalty", seed, dict(self.estimators.critic),
                            "theory.estimators.critic",
                            hidden_units=[self.lipschitz.width] * self.lipschitz.depth)

    def variant_config(self, name: str, training: dict[str, Any], seed: int) -> TrainingConfig:
        """A variant of the family on toy data: its objective and critic norm, the toy
        network, the mixtures' optimizer, then its ``mixtures.overrides``."""
        override = self.mixtures.overrides.get(name, {})
        unknown = sorted(set(override) - {"objective", "optimizer"})
        if unknown:
            raise ConfigError(f"theory.mixtures.overrides.{name}.{unknown[0]}: only objective "
                              f"and optimizer can change")
        objective = {**training["objective"], **override.get("objective", {})}
        mixtures = self.mixtures
        # A bad value is named where it was set: the override, or the variant itself.
        where = f"theory.mixtures.overrides.{name}" if override else f"{name}.training"
        return self._config(name, seed, objective, where,
                            optimizer={**mixtures.optimizer, **override.get("optimizer", {})},
                            schedule={"steps": mixtures.steps, "eval_every": mixtures.eval_every,
                                      **({"checkpoint_every": mixtures.checkpoint_every}
                                         if mixtures.storage else {})},
                            critic_norm=training.get("model", {}).get("critic_norm", "none"),
                            resume="auto" if mixtures.storage else "never")


def settings_params(config: TrainingConfig) -> dict[str, Any]:
    """What an MLflow run of a toy network records: its training sections."""
    values = config.as_dict()
    return {k: values[k] for k in ("seed", "model", "objective", "optimizer")}


# ----- helpers ------------------------------------------------------------------------
class _Runs:
    """Each trained network as one run of ``callbacks`` (MLflow when wired)."""

    def __init__(self, callbacks: RunCallbacks | None, experiment: str) -> None:
        self.callbacks = callbacks or RunCallbacks()
        self.experiment = experiment

    def start(self, name: str, config: TrainingConfig,
              started: Started | None = None, **tags: Any) -> None:
        """``started`` (a stored job's ``begin_attempt``) gets the run's tracking ids."""
        own = None
        if self.callbacks.start:
            # The seed among the tags: each network is its own run, never another's
            # resumed.
            tags = {"theory": self.experiment, "seed": config.seed, **tags}
            own = self.callbacks.start(f"{self.experiment}: {name}",
                                       {k: str(v) for k, v in tags.items()},
                                       settings_params(config))
        if started:
            started(own)

    def check(self, step: int, metrics: dict[str, float]) -> None:
        if self.callbacks.check:
            self.callbacks.check(step, {k: v for k, v in metrics.items() if math.isfinite(v)})

    def end(self, final: dict[str, float]) -> None:
        if self.callbacks.end:
            self.callbacks.end("COMPLETE", {k: v for k, v in final.items() if math.isfinite(v)})


def _scores(critic: keras.Model, points: np.ndarray) -> np.ndarray:
    return np.asarray(critic(tf.constant(points, tf.float32), training=False))[:, 0]


def _scores_and_gradients(critic: keras.Model, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = tf.constant(points, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = critic(x, training=False)[:, 0]
    return np.asarray(scores), np.asarray(tape.gradient(scores, x))


def estimate_from_critic(config: TrainingConfig, critic: keras.Model, real: np.ndarray,
                         fake: np.ndarray) -> float:
    """What a trained critic says of two held-out samples: the JS implied by a
    discriminator's value (its loss's critic part at D), or the Kantorovich-
    Rubinstein gap E f(real) - E f(fake) of a Wasserstein critic."""
    loss = LOSSES[config.objective.loss]
    if loss.estimates_wasserstein:
        return gap(critic, real, fake)
    real_scores, fake_scores = _scores(critic, real), _scores(critic, fake)
    value = -float(np.mean(loss.critic(tf.constant(real_scores), tf.constant(fake_scores))))
    return js_from_discriminator_value(value)


class _Estimators:
    """One trainer per estimator configuration and data shape, its critic restarted
    (seeded) for each new estimate: one trace each instead of one per estimate."""

    def __init__(self) -> None:
        self._trainers: dict[tuple, GANTrainer] = {}

    def trained(self, config: TrainingConfig, real: np.ndarray, fake: np.ndarray, steps: int,
                shape: tuple[int, ...]) -> GANTrainer:
        key = (config.replace(seed=0).fingerprint(shape), shape)
        trainer = self._trainers.get(key)
        if trainer is None:
            trainer = self._trainers[key] = GANTrainer(config, shape)
        trainer.restart_critic(config.seed)
        trainer.train_critic(real, fake, steps, seed=config.seed)
        return trainer


def _halves(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    half = len(points) // 2
    return points[:half], points[half:]


# ----- 1. divergences as two segments separate --------------------------------------
def segment(theta: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """n points of P_theta: uniform on {theta} x [0, 1]."""
    return np.stack([np.full(n, theta), rng.random(n)], axis=1).astype(np.float32)


def measure_divergences(settings: TheorySettings, callbacks: RunCallbacks | None = None
                        ) -> pd.DataFrame:
    """Closed-form KL, JS, TV and W1 of the parallel segments at each theta (rows with
    ``source`` "exact"), and JS and W1 estimated by trained networks, per seed."""
    s = settings.divergences
    runs = _Runs(callbacks, "divergences")
    estimators = _Estimators()
    rows = []
    for theta in s.thetas:
        exact = parallel_segments(theta)
        rows += [{"theta": theta, "seed": np.nan, "quantity": q, "source": "exact",
                  "value": getattr(exact, q)} for q in ("kl", "js", "tv", "w1")]
    estimated = {"discriminator": "js", "critic": "w1"}
    with Progress("theory: divergences", len(s.thetas) * len(settings.seeds) * 2, "networks"
                  ) as progress:
        for seed in settings.seeds:
            for theta in s.thetas:
                rng = np.random.default_rng([seed, 17])
                real_train, real_test = _halves(segment(0.0, s.samples, rng))
                fake_train, fake_test = _halves(segment(theta, s.samples, rng))
                for role, quantity in estimated.items():
                    config = settings.estimator_config(role, seed)
                    runs.start(f"{role} theta {theta:g} seed {seed}", config, theta=theta,
                               estimator=role)
                    trainer = estimators.trained(config, real_train, fake_train, s.steps, (2,))
                    value = estimate_from_critic(config, trainer.critic, real_test, fake_test)
                    rows.append({"theta": theta, "seed": seed, "quantity": quantity,
                                 "source": role, "value": value})
                    runs.end({f"{quantity}_estimate": value,
                              f"{quantity}_exact": getattr(parallel_segments(theta), quantity)})
                    progress.update(progress.completed + 1)
    return pd.DataFrame(rows)


# ----- 1b. two 1-D Gaussians: the WGAN paper's Figure 2 -----------------------------
def measure_gaussians(settings: TheorySettings, callbacks: RunCallbacks | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real N(0, std^2) against fake N(d, std^2) at each distance d: the trained
    discriminator's D(x) and the critic's f(x) with their x-gradients on a grid,
    D*(x) beside them (curves, first seed); and per seed and distance the closed
    forms, the estimates, the mean |gradient| at the fake samples and the largest
    |D - D*| where either density is at least 5% of its peak (summary)."""
    s = settings.divergences
    runs = _Runs(callbacks, "gaussians")
    std = s.gaussian_std
    estimators = _Estimators()
    curves, summary = [], []
    with Progress("theory: two Gaussians", len(s.gaussian_distances) * len(settings.seeds),
                  "pairs") as progress:
        for seed in settings.seeds:
            for distance in s.gaussian_distances:
                rng = np.random.default_rng([seed, 29])
                real_train, real_test = _halves(rng.normal(0, std, (s.samples, 1)).astype("f4"))
                fake_train, fake_test = _halves(rng.normal(distance, std, (s.samples, 1)).astype("f4"))
                grid = np.linspace(-4 * std, distance + 4 * std, 201, dtype=np.float32)[:, None]
                p_real = np.exp(-0.5 * (grid[:, 0] / std) ** 2)
                p_fake = np.exp(-0.5 * ((grid[:, 0] - distance) / std) ** 2)
                d_star = optimal_discriminator(p_real, p_fake)
                row = {"distance": distance, "seed": seed,
                       "js_exact": gaussian_js(0, std, distance, std),
                       "kl_exact": gaussian_kl(0, std, distance, std),
                       "w1_exact": gaussian_w1(0, std, distance, std)}
                for role in ("discriminator", "critic"):
                    config = settings.estimator_config(role, seed)
                    runs.start(f"{role} distance {distance:g} seed {seed}", config,
                               distance=distance, estimator=role)
                    trainer = estimators.trained(config, real_train, fake_train, s.steps, (1,))
                    estimate = estimate_from_critic(config, trainer.critic, real_test, fake_test)
                    values, gradients = _scores_and_gradients(trainer.critic, grid)
                    _, fake_gradients = _scores_and_gradients(trainer.critic, fake_test)
                    if LOSSES[config.objective.loss].estimates_wasserstein:
                        output, slope = values, gradients[:, 0]
                        at_fake = np.abs(fake_gradients[:, 0])
                    else:
                        # D = sigmoid(logit): dD/dx = D (1 - D) dlogit/dx.
                        output = 1 / (1 + np.exp(-values))
                        slope = output * (1 - output) * gradients[:, 0]
                        fake_d = 1 / (1 + np.exp(-_scores(trainer.critic, fake_test)))
                        at_fake = np.abs(fake_d * (1 - fake_d) * fake_gradients[:, 0])
                        dense = np.maximum(p_real, p_fake) >= 0.05
                        row["d_star_max_error"] = float(np.max(np.abs(output - d_star)[dense]))
                    row[f"{role}_estimate"] = estimate
                    row[f"{role}_gradient_at_fake"] = float(at_fake.mean())
                    if seed == settings.seeds[0]:
                        curves += [{"distance": distance, "role": role, "x": float(x),
                                    "output": float(o), "gradient": float(g), "d_star": float(d),
                                    "p_real": float(pr), "p_fake": float(pf)}
                                   for x, o, g, d, pr, pf in zip(grid[:, 0], output, slope, d_star,
                                                                 p_real, p_fake)]
                    runs.end({"estimate": estimate, "gradient_at_fake": float(at_fake.mean())})
                summary.append(row)
                progress.update(progress.completed + 1)
    return pd.DataFrame(curves), pd.DataFrame(summary)


# ----- 2. vanishing gradients at a near-optimal discriminator -----------------------
GENERATOR_LOSSES = {"discriminator": ("minimax", "non_saturating"), "critic": ("wasserstein",)}


def generator_gradient_norm(generator: keras.Model, critic: keras.Model, loss: str,
                            z: np.ndarray) -> float:
    """||d loss / d generator weights||: the signal the generator would get now."""
    with tf.GradientTape() as tape:
        scores = critic(generator(tf.constant(z), training=False), training=False)[:, 0]
        value = tf.reduce_mean(LOSSES[loss].generator(scores))
    return float(tf.linalg.global_norm(tape.gradient(value, generator.trainable_variables)))


def measure_vanishing_gradients(settings: TheorySettings, callbacks: RunCallbacks | None = None
                                ) -> pd.DataFrame:
    """Per seed, a generator frozen at its initialisation and a discriminator (and a
    critic) trained from scratch against it on ``vanishing.dataset``; after each
    checkpoint's number of updates, the generator's gradient norm under each loss."""
    s = settings.vanishing
    runs = _Runs(callbacks, "vanishing gradients")
    rows = []
    with Progress("theory: vanishing gradients", len(s.seeds) * 2 * len(s.checkpoints),
                  "measurements") as progress:
        for seed in s.seeds:
            real = toy_samples(s.dataset, 8192, seed)
            z = np.random.default_rng([seed, 3]).standard_normal(
                (s.gradient_samples, settings.latent_dim)).astype(np.float32)
            for role, losses in GENERATOR_LOSSES.items():
                config = settings.estimator_config(role, seed)
                runs.start(f"{role} seed {seed}", config, dataset=s.dataset, estimator=role)
                trainer = GANTrainer(config, (2,))
                done = 0
                for checkpoint in s.checkpoints:
                    metrics = trainer.train_critic(real, None, checkpoint - done, seed=seed + done)
                    done = checkpoint
                    norms = {loss: generator_gradient_norm(trainer.generator, trainer.critic,
                                                           loss, z) for loss in losses}
                    rows += [{"seed": seed, "critic": role, "loss": loss,
                              "critic_steps": checkpoint, "gradient_norm": norm,
                              "d_real": metrics["d_real"], "d_fake": metrics["d_fake"]}
                             for loss, norm in norms.items()]
                    runs.check(checkpoint, {f"{loss}_generator_gradient_norm": n
                                            for loss, n in norms.items()})
                    progress.update(progress.completed + 1)
                runs.end({f"{loss}_generator_gradient_norm": n for loss, n in norms.items()})
                keras.backend.clear_session()
    return pd.DataFrame(rows)


# ----- 3. the variants on mixtures and the Swiss roll -------------------------------
def train_mixtures(settings: TheorySettings, family: Registry,
                   callbacks: RunCallbacks | None = None
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each variant x dataset x seed trained for ``mixtures.steps`` generator steps.
    Returns the curves (per evaluation: exact W1 to held-out real samples, the
    real-vs-real floor, the critic's gap, modes covered, high-quality fraction), the
    final row of each run, and the first seed's final samples.

    With ``mixtures.storage`` the runs are a job list there: each result is kept as
    its run ends and each run checkpoints, so a killed theory run resumes where it
    stopped, and more processes given the same storage share the runs."""
    s = settings.mixtures
    runs = _Runs(callbacks, "mixtures")
    jobs = [{"dataset": d, "variant": v, "seed": int(seed)}
            for d in s.datasets for v in s.variants for seed in settings.seeds]
    with Progress("theory: variants on toy data", len(jobs), "runs") as progress:
        def run(job: dict[str, Any], checkpoint_dir: str | None,
                started: Started | None = None) -> dict[str, Any]:
            result = _mixture_run(settings, family, runs, checkpoint_dir, started, **job)
            progress.update(progress.completed + 1)
            return result

        if s.storage is None:
            results = [(job, run(job, None)) for job in jobs]
        else:
            results = _mixture_jobs(settings, family, jobs, run, runs.callbacks)
    curves = [row for _, result in results for row in result["curves"]]
    samples = [row for _, result in results for row in result["samples"]]
    curves_table = pd.DataFrame(curves)
    finals = curves_table.sort_values("step").groupby(["dataset", "variant", "seed"]).tail(1)
    return curves_table, finals.reset_index(drop=True), pd.DataFrame(samples)


def _mixture_run(settings: TheorySettings, family: Registry, runs: _Runs,
                 checkpoint_dir: str | None, started: Started | None,
                 dataset: str, variant: str, seed: int) -> dict[str, Any]:
    """One variant on one toy dataset with one seed: its curve rows and, for the
    first seed, its final samples (JSON-ready, as a job list keeps them)."""
    s = settings.mixtures
    source = TOY_SOURCES[dataset]
    config = settings.variant_config(variant, family[variant], seed)
    train = toy_samples(dataset, 20_000, seed)
    rng = np.random.default_rng([seed, 5])
    real_eval = toy_samples(dataset, s.eval_samples, 1000 + seed)
    floor = exact_w1(toy_samples(dataset, s.eval_samples, 2000 + seed), real_eval)
    z = rng.standard_normal((s.eval_samples, settings.latent_dim)).astype(np.float32)
    trainer = GANTrainer(config, (2,))
    wasserstein = LOSSES[config.objective.loss].estimates_wasserstein
    runs.start(f"{variant} on {dataset} seed {seed}", config, started, dataset=dataset,
               variant=variant)

    def evaluate(step: int, generator: keras.Model) -> dict[str, float]:
        fake = np.asarray(generator(tf.constant(z), training=False))
        row = {"exact_w1": exact_w1(fake, real_eval), "w1_floor": floor,
               "critic_gap": gap(trainer.critic, real_eval, fake)}
        if source.centres is not None:
            coverage = mode_coverage(fake, source.centres, source.std)
            row.update(modes_covered=coverage.modes_covered, n_modes=coverage.n_modes,
                       high_quality=coverage.high_quality)
        runs.check(step, row)
        return row

    initial = evaluate(0, trainer.sampling_generator)
    run = {"dataset": dataset, "variant": variant, "seed": seed, "wasserstein_loss": wasserstein}
    curves = [{**run, "step": 0, "cpu_seconds": 0.0, "gradient_evaluations": 0, **initial}]
    stop = ConvergenceStop(s.convergence, floor) if s.convergence else None
    result = trainer.fit(train, checkpoint_dir, budget=Budget("steps", s.steps),
                         callbacks=Callbacks(evaluate=evaluate, on_evaluation=stop,
                                             on_resume=stop.resume if stop else None),
                         label=f"{variant} on {dataset}, seed {seed}")
    for row in result.evaluations.to_dict("records"):
        curves.append({**run, **compute_axis(row, config.objective.n_critic),
                       **{k: v for k, v in row.items() if k != "seconds"}})
    curves[-1]["converged_at"] = stop.converged_at if stop else None
    final = curves[-1]
    runs.end({k: float(v) for k, v in final.items() if v is not None and k not in
              ("dataset", "variant", "seed", "step", "wasserstein_loss")})
    samples = []
    if seed == settings.seeds[0]:
        fake = np.asarray(trainer.sampling_generator(tf.constant(z), training=False))
        samples = [{"dataset": dataset, "variant": variant, "x": float(x), "y": float(y)}
                   for x, y in fake]
    keras.backend.clear_session()
    return {"curves": [{k: _plain(v) for k, v in row.items()} for row in curves],
            "samples": samples}


def _plain(value: Any) -> Any:
    """A table cell as JSON keeps it: numbers as Python numbers, NaN as None."""
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value


def _describe(job: dict[str, Any]) -> str:
    return f"{job['variant']} on {job['dataset']} seed {job['seed']}"


def _mixture_jobs(settings: TheorySettings, family: Registry, jobs: list[dict[str, Any]],
                  run: Callable[..., dict[str, Any]], callbacks: RunCallbacks
                  ) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The runs as a job list in ``mixtures.storage``, named by a hash of everything
    that shapes their results, so that changed settings never reuse stored runs."""
    s = settings.mixtures
    kept_apart = ("storage", "checkpoint_root", "checkpoint_every", "heartbeat")
    shaping = {"mixtures": {k: v for k, v in dataclasses.asdict(s).items() if k not in kept_apart},
               "seeds": list(settings.seeds), "hidden_units": list(settings.hidden_units),
               "latent_dim": settings.latent_dim, "optimizer": settings.optimizer,
               "configs": {v: settings.variant_config(v, family[v], 0).settings_fingerprint()
                           for v in s.variants}}
    name = "theory-mixtures-" + hashlib.sha256(
        json.dumps(shaping, sort_keys=True).encode()).hexdigest()[:12]
    storage = open_storage(s.storage, s.heartbeat, max_retry=3)
    study = open_job_list(storage, name, jobs)
    folder = Path(s.checkpoint_root or ".") / name

    def run_job(job: dict[str, Any], started: Started) -> dict[str, Any]:
        return run(job, str(folder / f"{job['dataset']}-{job['variant']}-seed{job['seed']}"),
                   started)

    ran = run_job_list(study, run_job, _describe, callbacks)
    logger.info("theory mixtures: %d of %d runs trained in this process, the rest kept in %s "
                "(job list %s)", ran, len(jobs), masked_url(s.storage), name)
    return job_list_results(study, _describe)


def compute_axis(row: dict[str, Any], n_critic: int) -> dict[str, float]:
    """Where an evaluation falls on the compute axes: the training's CPU seconds, and
    the gradient evaluations so far, each generator step being ``n_critic`` critic
    updates and one generator update (a penalty's second backward pass is inside a
    critic update, so it costs CPU seconds, not evaluations)."""
    return {"cpu_seconds": float(row["cpu_seconds"]),
            "gradient_evaluations": int(row["step"]) * (n_critic + 1)}


class ConvergenceStop:
    """``Callbacks.on_evaluation`` that stops a mixture run once its exact W1 has stayed
    within the margin of the real-vs-real floor for ``window`` checks in a row, and
    records the step where that window ended."""

    def __init__(self, settings: Convergence, floor: float) -> None:
        self.limit = floor * (1 + settings.margin)
        self.window = settings.window
        self.inside = 0
        self.converged_at: int | None = None

    def resume(self, evaluations: pd.DataFrame) -> None:
        """The checks made before a resume, counted again: the window goes on."""
        for row in evaluations.to_dict("records"):
            self(int(row["step"]), {}, row)

    def __call__(self, step: int, spent: dict[str, float], scores: dict[str, float]) -> bool:
        self.inside = self.inside + 1 if scores["exact_w1"] <= self.limit else 0
        if self.inside >= self.window and self.converged_at is None:
            self.converged_at = step
        return self.converged_at is not None


# ----- 4. clipping against the penalty --------------------------------------------
def _dense_kernels(critic: keras.Model) -> list[tf.Variable]:
    return [layer.kernel for layer in critic.layers if isinstance(layer, keras.layers.Dense)]


def layer_gradient_norms(config: TrainingConfig, critic: keras.Model, real: np.ndarray,
                         fake: np.ndarray) -> list[float]:
    """||d critic loss / d kernel|| for each layer, input first (the WGAN-GP paper's
    Figure 1b): the loss without its penalty, on one batch."""
    kernels = _dense_kernels(critic)
    with tf.GradientTape() as tape:
        real_scores = critic(tf.constant(real), training=False)[:, 0]
        fake_scores = critic(tf.constant(fake), training=False)[:, 0]
        loss = tf.reduce_mean(LOSSES[config.objective.loss].critic(real_scores, fake_scores))
    return [float(tf.norm(g)) for g in tape.gradient(loss, kernels)]


EXTREME = 0.99  # a weight "at the bound": |w| >= 99% of its layer's largest |w|


def weight_extremes(critic: keras.Model) -> tuple[float, np.ndarray]:
    """The fraction of the critic's weights (kernels) at their layer's largest magnitude
    (for a clipped critic: at the clip bounds), and every weight divided by its
    layer's largest magnitude (for the histograms)."""
    scaled = []
    for kernel in _dense_kernels(critic):
        values = np.asarray(kernel).ravel()
        scaled.append(values / np.abs(values).max())
    scaled = np.concatenate(scaled)
    return float(np.mean(np.abs(scaled) >= EXTREME)), scaled


HISTOGRAM_BINS = np.linspace(-1, 1, 41)
# A gradient norm of exactly 0 (every ReLU of a layer dead) counts as 1e-30.
TINY = 1e-30


def measure_lipschitz(settings: TheorySettings, callbacks: RunCallbacks | None = None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Deep critics trained against real data plus noise, per dataset, constraint
    (each clip value, and the penalty) and seed. Returns per critic: its summary
    (fraction of weights at the bound, first/last layer gradient ratio, its W1
    estimate and the exact W1); gradient norms per layer; weight histograms and
    value surfaces (first seed)."""
    s = settings.lipschitz
    runs = _Runs(callbacks, "lipschitz")
    constraints = [(f"clip {c:g}", c) for c in s.clip_values] + [("gradient penalty", None)]
    estimators = _Estimators()
    summary, layers, histograms, surfaces = [], [], [], []
    jobs = [(d, name, clip, seed) for d in s.datasets for name, clip in constraints
            for seed in settings.seeds]
    with Progress("theory: clipping and penalty", len(jobs), "critics") as progress:
        for dataset, name, clip, seed in jobs:
            rng = np.random.default_rng([seed, 11])
            real_train, real_test = _halves(toy_samples(dataset, 8192, seed))
            fake_train = real_train + s.noise_std * rng.standard_normal(real_train.shape).astype("f4")
            fake_test = real_test + s.noise_std * rng.standard_normal(real_test.shape).astype("f4")
            config = settings.clip_config(clip, seed) if clip else settings.penalty_config(seed)
            runs.start(f"{name} on {dataset} seed {seed}", config, dataset=dataset,
                       constraint=name)
            trainer = estimators.trained(config, real_train, fake_train, s.steps, (2,))
            norms = layer_gradient_norms(config, trainer.critic, real_test[:1024], fake_test[:1024])
            at_bound, scaled = weight_extremes(trainer.critic)
            n = 1024
            row = {"dataset": dataset, "constraint": name, "clip_value": clip or np.nan,
                   "seed": seed, "at_bound": at_bound,
                   # Orders of magnitude between the layers' gradient norms, and which
                   # way: > 0, larger at the input (growing backwards: exploding).
                   "log10_spread": float(np.ptp(np.log10(np.maximum(norms, TINY)))),
                   # Their typical size in orders of magnitude: > 0 exploding, < 0 vanishing.
                   "log10_mean_norm": float(np.mean(np.log10(np.maximum(norms, TINY)))),
                   "log10_first_over_last": float(np.log10(max(norms[0], TINY)
                                                           / max(norms[-1], TINY))),
                   "w1_estimate": estimate_from_critic(config, trainer.critic, real_test, fake_test),
                   "w1_exact": exact_w1(real_test[:n], fake_test[:n])}
            summary.append(row)
            layers += [{"dataset": dataset, "constraint": name, "seed": seed, "layer": i + 1,
                        "gradient_norm": g} for i, g in enumerate(norms)]
            runs.end({k: v for k, v in row.items() if isinstance(v, float)})
            if seed == settings.seeds[0]:
                counts, _ = np.histogram(scaled, HISTOGRAM_BINS)
                centres = (HISTOGRAM_BINS[:-1] + HISTOGRAM_BINS[1:]) / 2
                histograms += [{"dataset": dataset, "constraint": name, "scaled_weight": c,
                                "count": int(k)} for c, k in zip(centres, counts)]
                surfaces += list(_value_surface(trainer.critic, dataset, name, real_test))
            progress.update(progress.completed + 1)
    return (pd.DataFrame(summary), pd.DataFrame(layers), pd.DataFrame(histograms),
            pd.DataFrame(surfaces))


def _value_surface(critic: keras.Model, dataset: str, constraint: str, real: np.ndarray,
                   size: int = 48) -> Iterator[dict[str, Any]]:
    limit = float(np.abs(real).max()) * 1.25
    axis = np.linspace(-limit, limit, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    for (x, y), value in zip(grid, _scores(critic, grid)):
        yield {"dataset": dataset, "constraint": constraint, "x": float(x), "y": float(y),
               "value": float(value)}
