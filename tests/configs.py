"""Training configurations for tests: a variant's settings from conf/base, shrunk.

The variants' hyperparameters live in conf/base/parameters_training.yml only;
tests take them from there and shrink the networks and the schedule.
"""
from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from wgan_lab.gan.config import TrainingConfig
from wgan_lab.variants import family, load_parameters

# A tiny MLP and schedule: every test config starts from these.
TINY: dict[str, Any] = {
    "seed": 1,
    "model": {"architecture": "mlp", "latent_dim": 8, "hidden_units": [16, 16]},
    "optimizer": {"batch_size": 8},
    "schedule": {"steps": 6, "log_every": 2, "sample_every": 3, "checkpoint_every": 3,
                 "n_sample_images": 4, "eval_every": 0},
    "runtime": {"distribution": "default"},
}


@lru_cache
def _family() -> dict[str, dict[str, Any]]:
    return dict(family(load_parameters()))


def variants() -> list[str]:
    """Every variant the configuration declares."""
    return list(_family())


def merge(base: dict, *overrides: dict) -> dict:
    """``base`` with ``overrides`` merged in, nested dicts key by key."""
    out = copy.deepcopy(base)
    for override in overrides:
        for key, value in override.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = merge(out[key], value)
            else:
                out[key] = copy.deepcopy(value)
    return out


def tiny_params(base: str = "gan", **sections: Any) -> dict[str, Any]:
    """Variant ``base``'s training parameters from conf/, shrunk by TINY, then ``sections``."""
    return merge(_family()[base], TINY, sections)


def tiny(base: str = "gan", **sections: Any) -> TrainingConfig:
    """``tiny_params`` as a validated ``TrainingConfig``."""
    return TrainingConfig.from_params(tiny_params(base, **sections),
                                      prefix=f"{sections.get('variant', base)}.training")


def tiny_training(variant, **sections):
    """Runtime parameters that shrink ``variant``'s configured training (merged by Kedro)."""
    shrink = {"model": {"architecture": "mlp", "latent_dim": 8, "hidden_units": [16, 16]},
              "optimizer": {"batch_size": 8},
              "schedule": {"steps": 4, "log_every": 2, "sample_every": 2, "checkpoint_every": 2,
                           "n_sample_images": 4}}
    if tiny_params(variant)["objective"]["n_critic"] > 1:
        shrink["objective"] = {"n_critic": 2}
    return {variant: {"training": merge(shrink, sections)}}
