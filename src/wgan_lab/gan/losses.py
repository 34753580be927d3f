"""Per-example GAN losses and Lipschitz constraints.

Every loss returns one value per example, so that callers average over the
GLOBAL batch (``tf.nn.compute_average_loss``) and get correctly scaled
gradients on any number of replicas. Critic outputs are logits (unbounded).
"""
from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

CRITIC_LOSSES = ("minimax", "non_saturating", "wasserstein")


def discriminator_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(x) - log(1 - D(G(z))), the same for both Goodfellow generator losses."""
    return tf.nn.softplus(-real_logits) + tf.nn.softplus(fake_logits)


def minimax_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """log(1 - D(G(z))): the original minimax objective, which saturates early in training."""
    return -tf.nn.softplus(fake_logits)


def non_saturating_generator_loss(fake_logits: tf.Tensor) -> tf.Tensor:
    """-log D(G(z)): same fixed point as minimax, strong gradients when D wins."""
    return tf.nn.softplus(-fake_logits)


def wasserstein_critic_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """f(G(z)) - f(x): minimising it maximises the Kantorovich-Rubinstein estimate."""
    return fake_scores - real_scores


def wasserstein_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
    """-f(G(z))."""
    return -fake_scores


def critic_loss(kind: str) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """The critic (discriminator) loss that pairs with generator loss ``kind``."""
    return wasserstein_critic_loss if kind == "wasserstein" else discriminator_loss


def generator_loss(kind: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """The generator loss named ``kind`` (one of ``CRITIC_LOSSES``)."""
    return {
        "minimax": minimax_generator_loss,
        "non_saturating": non_saturating_generator_loss,
        "wasserstein": wasserstein_generator_loss,
    }[kind]


def gradient_penalty(
    critic: Callable[[tf.Tensor], tf.Tensor],
    real: tf.Tensor,
    fake: tf.Tensor,
    epsilon: tf.Tensor,
) -> tf.Tensor:
    """(||grad_x f(x_hat)||_2 - 1)^2 per example (Gulrajani et al. 2017).

    ``epsilon`` holds one U[0, 1] draw per example, broadcast over the image;
    x_hat = eps * real + (1 - eps) * fake, and the norm runs over all non-batch axes.
    """
    eps = tf.reshape(tf.cast(epsilon, real.dtype), [-1] + [1] * (len(real.shape) - 1))
    interpolated = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(interpolated)
        scores = critic(interpolated)
    grads = tape.gradient(scores, interpolated)
    axes = list(range(1, len(grads.shape)))
    # The epsilon inside the sqrt keeps the gradient of the norm finite at 0.
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=axes) + 1e-12)
    return tf.square(norm - 1.0)


def clip_weights(variables, clip_value: float) -> None:
    """WGAN's Lipschitz constraint: every critic weight into [-c, c]."""
    for variable in variables:
        variable.assign(tf.clip_by_value(variable, -clip_value, clip_value))
