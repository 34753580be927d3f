"""Training configuration: one frozen dataclass, validated before any training starts."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .losses import CRITIC_LOSSES
from .networks import ARCHITECTURES, CRITIC_NORMS, dcgan_upsamplings
from .precision import PRECISIONS

LIPSCHITZ = ("none", "clip", "gradient_penalty")
OPTIMIZERS = ("adam", "rmsprop")
DISTRIBUTIONS = ("auto", "default", "one_device", "mirrored", "multi_worker")
RESUME = ("auto", "never")

# Fields that change how long, how verbosely or on what hardware a run goes,
# not the model it trains: a checkpoint stays valid when only these change
# (weights are float32 whatever the compute precision).
SCHEDULE_FIELDS = frozenset({
    "steps", "log_every", "sample_every", "checkpoint_every", "resume", "variant",
    "distribution", "n_sample_images", "eval_every", "eval_samples", "steps_per_call",
    "precision",
})


class ConfigError(ValueError):
    """A training parameter is invalid; the message names it."""


@dataclass(frozen=True)
class TrainingConfig:
    variant: str = "gan"
    architecture: str = "mlp"
    latent_dim: int = 100
    hidden_units: tuple[int, ...] = (128, 128)
    filters: int = 64
    critic_norm: str = "none"
    loss: str = "non_saturating"
    lipschitz: str = "none"
    clip_value: float = 0.01
    gp_weight: float = 10.0
    n_critic: int = 1
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    beta_2: float = 0.999
    batch_size: int = 64
    steps: int = 1000
    ema_decay: float = 0.0
    seed: int = 0
    jit_compile: bool = False
    precision: str = "auto"
    distribution: str = "auto"
    log_every: int = 100
    sample_every: int = 1000
    checkpoint_every: int = 1000
    n_sample_images: int = 64
    eval_every: int = 0
    eval_samples: int = 2000
    steps_per_call: int = 20
    resume: str = "auto"

    @classmethod
    def from_params(cls, params: dict[str, Any], prefix: str = "training") -> TrainingConfig:
        """Build from a parameter dict; errors name ``<prefix>.<parameter>``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ConfigError(f"{prefix}.{unknown[0]}: unknown training parameter "
                              f"(known: {', '.join(sorted(known))})")
        values = dict(params)
        if "hidden_units" in values:
            values["hidden_units"] = tuple(int(u) for u in values["hidden_units"])
        config = cls(**values)
        config.validate(prefix)
        return config

    def validate(self, prefix: str = "training") -> None:
        def fail(name: str, problem: str) -> None:
            raise ConfigError(f"{prefix}.{name}: {problem} (got {getattr(self, name)!r})")

        for name, allowed in (("architecture", ARCHITECTURES), ("loss", CRITIC_LOSSES),
                              ("lipschitz", LIPSCHITZ), ("optimizer", OPTIMIZERS),
                              ("distribution", DISTRIBUTIONS), ("resume", RESUME),
                              ("critic_norm", CRITIC_NORMS), ("precision", PRECISIONS)):
            if getattr(self, name) not in allowed:
                fail(name, f"must be one of {', '.join(allowed)}")
        for name in ("latent_dim", "filters", "batch_size", "n_critic", "steps", "log_every",
                     "sample_every", "checkpoint_every", "n_sample_images", "eval_samples",
                     "steps_per_call"):
            if int(getattr(self, name)) < 1:
                fail(name, "must be at least 1")
        if self.eval_every < 0:
            fail("eval_every", "must be 0 (off) or positive")
        if self.learning_rate <= 0:
            fail("learning_rate", "must be positive")
        if not self.hidden_units or min(self.hidden_units) < 1:
            fail("hidden_units", "must be a non-empty list of positive sizes")
        if self.lipschitz == "clip" and self.clip_value <= 0:
            fail("clip_value", "must be positive")
        if self.lipschitz == "gradient_penalty" and self.gp_weight <= 0:
            fail("gp_weight", "must be positive")
        if self.lipschitz == "gradient_penalty" and self.critic_norm == "batch":
            fail("critic_norm", "batch norm breaks the per-example gradient penalty; "
                 "use none or layer")
        if not 0.0 <= self.ema_decay < 1.0:
            fail("ema_decay", "must be in [0, 1)")
        for name in ("beta_1", "beta_2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                fail(name, "must be in [0, 1)")

    def check_image_shape(self, image_shape: tuple[int, ...], prefix: str = "training") -> None:
        """Fail when the architecture cannot make images of ``image_shape``."""
        if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
            raise ConfigError(f"{prefix}.architecture: images must be HxWx1 or HxWx3, "
                              f"got {image_shape}")
        if self.architecture == "dcgan" and (
            image_shape[0] != image_shape[1] or dcgan_upsamplings(image_shape[0]) is None
        ):
            raise ConfigError(
                f"{prefix}.architecture: dcgan makes square images of 4 or 7 times a power "
                f"of two (28, 32, 64, ...), not {image_shape[0]}x{image_shape[1]}; use mlp "
                f"or resize the data"
            )

    def check_replicas(self, replicas: int, prefix: str = "training") -> None:
        if self.batch_size % replicas:
            raise ConfigError(f"{prefix}.batch_size: {self.batch_size} is not divisible by "
                              f"the {replicas} replicas of the distribution strategy")

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["hidden_units"] = list(self.hidden_units)
        return values

    def fingerprint(self, image_shape: tuple[int, ...]) -> str:
        """A hash of everything that a checkpoint depends on."""
        relevant = {k: v for k, v in self.as_dict().items() if k not in SCHEDULE_FIELDS}
        relevant["image_shape"] = list(image_shape)
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]
