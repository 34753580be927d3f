"""Training configuration: sections that mean something, validated before any training starts.

Each section is a pydantic dataclass: its fields' types and bounds are checked
when it is made (a wrong type or an out-of-range count fails naming the
parameter), and ``validate`` adds what needs the registries or several fields.

``TrainingConfig`` holds the run's ``variant`` name and ``seed`` and five sections:
``model`` (the networks), ``objective`` (loss, regularizer, critic updates),
``optimizer`` (update rule, rates, batch, EMA), ``schedule`` (how long, how
often to log, sample, evaluate and checkpoint) and ``runtime`` (hardware,
precision, resume). A checkpoint depends on the seed and the first three
sections; the fingerprint hashes exactly those, whole, so a new field in one of
them is covered without anyone keeping a list.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import field
from typing import Annotated, Any

from pydantic import Field, ValidationError

from wgan_lab.core import ConfigError, Count, config_error, section

from .conditioning import CONDITIONINGS
from .losses import LOSSES
from .networks import CRITIC_NORMS, NETWORKS, image_shape_problem
from .optimizers import OPTIMIZERS
from .precision import PRECISIONS
from .regularizers import REGULARIZERS

DISTRIBUTIONS = ("auto", "default", "one_device", "mirrored", "multi_worker")
RESUME = ("auto", "never")




@section
class ModelConfig:
    architecture: str = "mlp"
    latent_dim: Count = 100
    hidden_units: tuple[Count, ...] = (128, 128)
    filters: Count = 64
    critic_norm: str = "none"
    # How the networks take a class label (gan/conditioning.py: CONDITIONINGS).
    conditioning: str = "none"


@section
class ObjectiveConfig:
    loss: str = "non_saturating"
    regularizer: str = "none"
    penalty_weight: float = 10.0
    clip_value: float = 0.01
    n_critic: Count = 1
    # AC-GAN: the weight of the critic's classification cross-entropy in both losses.
    class_weight: Annotated[float, Field(gt=0)] = 1.0


@section
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 2e-4
    critic_learning_rate: float | None = None
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: Count = 64
    ema_decay: float = 0.0


@section
class ScheduleConfig:
    steps: Count = 1000
    log_every: Count = 100
    sample_every: Count = 1000
    checkpoint_every: Count = 1000
    n_sample_images: Count = 64
    eval_every: Annotated[int, Field(ge=0)] = 0
    eval_samples: Count = 2000
    # > 0: also stop after this many seconds of training (evaluation, sampling
    # and checkpoints excluded; summed over resumes), at the next event.
    max_seconds: Annotated[float, Field(ge=0)] = 0.0


@section
class RuntimeConfig:
    distribution: str = "auto"
    precision: str = "auto"
    jit_compile: bool = False
    steps_per_call: Count = 20
    resume: str = "auto"


SECTIONS = {"model": ModelConfig, "objective": ObjectiveConfig, "optimizer": OptimizerConfig,
            "schedule": ScheduleConfig, "runtime": RuntimeConfig}
# What a checkpoint's weights depend on. Schedule and runtime only change how
# long, how verbosely or on what hardware a run goes (weights are float32 in
# every precision), so a checkpoint stays valid when only they change.
RESULT_SECTIONS = ("model", "objective", "optimizer")
# Result fields added after runs were stored: hashed only when set away from their
# default, so that the checkpoints and study records of earlier runs stay valid.
LATER_FIELDS = {("model", "conditioning"): "none", ("objective", "class_weight"): 1.0}


def _fields(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _section_from_params(cls, values: Any, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: must be a mapping of parameters (got {values!r})")
    known = _fields(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown parameter "
                          f"(known: {', '.join(known)})")
    try:
        return cls(**values)
    except ValidationError as exc:
        raise config_error(exc, where, cls) from None


@section
class TrainingConfig:
    variant: str = "gan"
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    objective: ObjectiveConfig = field(default_factory=ObjectiveConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    @classmethod
    def from_params(cls, params: dict[str, Any], prefix: str = "training") -> TrainingConfig:
        """Build from nested parameters; errors name ``<prefix>.<section>.<parameter>``."""
        top = {"variant", "seed", *SECTIONS}
        unknown = sorted(set(params) - top)
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}: unknown training parameter "
                              f"(known: variant, seed, and the sections {', '.join(SECTIONS)})")
        values = {k: params[k] for k in ("variant", "seed") if k in params}
        for name, cls_ in SECTIONS.items():
            values[name] = _section_from_params(cls_, params.get(name, {}), f"{prefix}.{name}")
        try:
            config = cls(**values)
        except ValidationError as exc:
            raise config_error(exc, prefix, cls) from None
        config.validate(prefix)
        return config

    def replace(self, **sections: dict[str, Any]) -> TrainingConfig:
        """A copy with some fields of some sections changed: ``replace(schedule={"steps": 5})``."""
        changes = {}
        for name, values in sections.items():
            if name in SECTIONS:
                changes[name] = dataclasses.replace(getattr(self, name), **values)
            else:
                changes[name] = values
        return dataclasses.replace(self, **changes)

    # ----- validation -----------------------------------------------------------
    def validate(self, prefix: str = "training") -> None:
        def value(path: str) -> Any:
            section, _, name = path.partition(".")
            return getattr(getattr(self, section), name) if name else getattr(self, section)

        def fail(path: str, problem: str) -> None:
            raise ConfigError(f"{prefix}.{path}: {problem} (got {value(path)!r})")

        model, objective = self.model, self.objective
        optimizer = self.optimizer
        for path, names in (("model.architecture", NETWORKS.names),
                            ("model.critic_norm", CRITIC_NORMS.names),
                            ("model.conditioning", CONDITIONINGS.names),
                            ("objective.loss", LOSSES.names),
                            ("objective.regularizer", REGULARIZERS.names),
                            ("optimizer.name", OPTIMIZERS.names),
                            ("runtime.distribution", DISTRIBUTIONS),
                            ("runtime.precision", PRECISIONS), ("runtime.resume", RESUME)):
            if value(path) not in names:
                fail(path, f"must be one of {', '.join(names)}")
        if not model.hidden_units:
            fail("model.hidden_units", "must be a non-empty list of positive sizes")
        if optimizer.learning_rate <= 0:
            fail("optimizer.learning_rate", "must be positive")
        if optimizer.critic_learning_rate is not None and optimizer.critic_learning_rate <= 0:
            fail("optimizer.critic_learning_rate", "must be positive, or null for learning_rate")
        for name in ("beta_1", "beta_2", "ema_decay"):
            if not 0.0 <= getattr(optimizer, name) < 1.0:
                fail(f"optimizer.{name}", "must be in [0, 1)")
        regularizer = REGULARIZERS[objective.regularizer]
        if regularizer.strength and getattr(objective, regularizer.strength) <= 0:
            fail(f"objective.{regularizer.strength}",
                 f"must be positive for the {objective.regularizer} regularizer")
        if self.conditional and not NETWORKS[model.architecture].takes_labels:
            fail("model.conditioning", f"the {model.architecture} network takes no label; "
                 f"use conditioning none or an image network "
                 f"({', '.join(n for n, e in NETWORKS.items() if e.takes_labels)})")
        if regularizer.per_example_gradients and CRITIC_NORMS[model.critic_norm].mixes_examples:
            fail("model.critic_norm", f"{model.critic_norm} norm mixes the examples of a batch, "
                 f"which breaks the per-example {objective.regularizer} penalty; use none or layer")

    @property
    def conditional(self) -> bool:
        """Whether the networks take a class label (then training needs labelled data)."""
        return CONDITIONINGS[self.model.conditioning].takes_labels

    def check_image_shape(self, image_shape: tuple[int, ...], prefix: str = "training") -> None:
        """Fail when the architecture cannot make images of ``image_shape``."""
        problem = image_shape_problem(self.model.architecture, tuple(image_shape))
        if problem:
            raise ConfigError(f"{prefix}.model.architecture: {problem}")

    def check_replicas(self, replicas: int, prefix: str = "training") -> None:
        if self.optimizer.batch_size % replicas:
            raise ConfigError(f"{prefix}.optimizer.batch_size: {self.optimizer.batch_size} is not "
                              f"divisible by the {replicas} replicas of the distribution strategy")

    # ----- export -----------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["model"]["hidden_units"] = list(self.model.hidden_units)
        return values

    def _result_values(self) -> dict[str, Any]:
        values = self.as_dict()
        for (name, key), default in LATER_FIELDS.items():
            if values[name][key] == default:
                del values[name][key]
        return {name: values[name] for name in RESULT_SECTIONS}

    def fingerprint(self, image_shape: tuple[int, ...], n_classes: int = 0) -> str:
        """A hash of everything a checkpoint depends on: the seed and the result sections
        (and the class count, for a conditional model)."""
        relevant = {"seed": self.seed, "image_shape": list(image_shape), **self._result_values()}
        if self.conditional:
            relevant["n_classes"] = n_classes
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]

    def settings_fingerprint(self) -> str:
        """A hash of the result sections alone: the settings whatever the seed and data."""
        return hashlib.sha256(json.dumps(self._result_values(), sort_keys=True).encode()
                              ).hexdigest()[:16]
