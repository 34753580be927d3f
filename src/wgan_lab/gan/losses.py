"""Adversarial losses: matched (critic loss, generator loss) pairs, per example.

Every function returns one value per example, so that callers average over
the GLOBAL batch (``tf.nn.compute_average_loss``) and get correctly scaled
gradients on any number of replicas. Critic outputs are unbounded scores
(logits for the losses that read them as probabilities). Adding a loss is one
entry in ``LOSSES`` and one test against hand-computed values.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tensorflow as tf

from wgan_lab.core import Registry


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


def least_squares_critic_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """1/2 (D(x) - 1)^2 + 1/2 D(G(z))^2: LSGAN's 0-1 coding (Mao et al. 2017, a=0, b=1)."""
    return 0.5 * tf.square(real_scores - 1.0) + 0.5 * tf.square(fake_scores)


def least_squares_generator_loss(fake_scores: tf.Tensor) -> tf.Tensor:
    """1/2 (D(G(z)) - 1)^2 (c=1: the generator wants its samples scored as real)."""
    return 0.5 * tf.square(fake_scores - 1.0)


def hinge_critic_loss(real_scores: tf.Tensor, fake_scores: tf.Tensor) -> tf.Tensor:
    """max(0, 1 - D(x)) + max(0, 1 + D(G(z))) (Lim & Ye 2017; Miyato et al. 2018)."""
    return tf.nn.relu(1.0 - real_scores) + tf.nn.relu(1.0 + fake_scores)


@dataclass(frozen=True)
class Loss:
    """A matched pair: the critic's loss and the generator's, both per example."""

    critic: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    generator: Callable[[tf.Tensor], tf.Tensor]
    formula: str
    paper: str
    # The critic's mean score on real minus fake data estimates a Wasserstein
    # distance (the claim the study tests: that it tracks sample quality).
    estimates_wasserstein: bool = False


LOSSES: Registry[Loss] = Registry("loss", {
    "minimax": Loss(discriminator_loss, minimax_generator_loss,
                    "D: -log D(x) - log(1 - D(G(z))); G: log(1 - D(G(z)))",
                    "Goodfellow et al. 2014"),
    "non_saturating": Loss(discriminator_loss, non_saturating_generator_loss,
                           "D: -log D(x) - log(1 - D(G(z))); G: -log D(G(z))",
                           "Goodfellow et al. 2014"),
    "wasserstein": Loss(wasserstein_critic_loss, wasserstein_generator_loss,
                        "D: f(G(z)) - f(x); G: -f(G(z))", "Arjovsky et al. 2017",
                        estimates_wasserstein=True),
    "least_squares": Loss(least_squares_critic_loss, least_squares_generator_loss,
                          "D: (D(x) - 1)²/2 + D(G(z))²/2; G: (D(G(z)) - 1)²/2",
                          "Mao et al. 2017"),
    # The hinge generator loss is the Wasserstein one: -D(G(z)).
    "hinge": Loss(hinge_critic_loss, wasserstein_generator_loss,
                  "D: max(0, 1 - D(x)) + max(0, 1 + D(G(z))); G: -D(G(z))",
                  "Lim & Ye 2017; Miyato et al. 2018"),
})
