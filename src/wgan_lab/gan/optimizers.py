"""Optimizers by name. Each takes the optimizer section and the learning rate to use."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from wgan_lab.core import Registry

OPTIMIZERS: Registry[Callable[[Any, float], keras.optimizers.Optimizer]] = Registry("optimizer", {
    "adam": lambda o, lr: keras.optimizers.Adam(lr, beta_1=o.beta_1, beta_2=o.beta_2),
    # RMSprop and SGD read no betas: WGAN's paper avoided momentum on purpose.
    "rmsprop": lambda o, lr: keras.optimizers.RMSprop(lr),
    "sgd": lambda o, lr: keras.optimizers.SGD(lr),
})


def make_optimizers(optimizer: Any) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(generator optimizer, critic optimizer); the critic may have its own rate (TTUR)."""
    build = OPTIMIZERS[optimizer.name]
    critic_rate = optimizer.critic_learning_rate or optimizer.learning_rate
    return build(optimizer, optimizer.learning_rate), build(optimizer, critic_rate)
