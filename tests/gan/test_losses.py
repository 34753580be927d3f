import math

import numpy as np
import pytest
import tensorflow as tf

from wgan_lab.gan import losses

LOG2 = math.log(2.0)


def test_gan_losses_at_hand_computed_points():
    real, fake = tf.constant([0.0, 2.0]), tf.constant([0.0, -1.0])
    d = losses.discriminator_loss(real, fake).numpy()
    np.testing.assert_allclose(d, [2 * LOG2, math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))],
                               rtol=1e-6)
    # minimax: log(1 - sigmoid(f)); non-saturating: -log(sigmoid(f))
    np.testing.assert_allclose(losses.minimax_generator_loss(fake).numpy(),
                               [math.log(0.5), math.log(1 - 1 / (1 + math.exp(1)))], rtol=1e-6)
    np.testing.assert_allclose(losses.non_saturating_generator_loss(fake).numpy(),
                               [LOG2, -math.log(1 / (1 + math.exp(1)))], rtol=1e-6)


def test_minimax_saturates_where_non_saturating_does_not():
    fake = tf.Variable([-8.0])  # the discriminator confidently rejects the fake
    with tf.GradientTape(persistent=True) as tape:
        minimax = losses.minimax_generator_loss(fake)
        non_saturating = losses.non_saturating_generator_loss(fake)
    assert abs(tape.gradient(minimax, fake).numpy()[0]) < 1e-3
    assert abs(tape.gradient(non_saturating, fake).numpy()[0]) > 0.99


def test_wasserstein_losses():
    real, fake = tf.constant([3.0, 1.0]), tf.constant([1.0, -2.0])
    np.testing.assert_allclose(losses.wasserstein_critic_loss(real, fake).numpy(), [-2.0, -3.0])
    np.testing.assert_allclose(losses.wasserstein_generator_loss(fake).numpy(), [-1.0, 2.0])


def test_least_squares_losses_at_hand_computed_points():
    """0-1 coding: D wants D(x) = 1 and D(G(z)) = 0; G wants D(G(z)) = 1."""
    real, fake = tf.constant([0.0, 2.0]), tf.constant([0.0, -1.0])
    np.testing.assert_allclose(losses.least_squares_critic_loss(real, fake).numpy(),
                               [0.5 * 1 + 0.5 * 0, 0.5 * 1 + 0.5 * 1])
    np.testing.assert_allclose(losses.least_squares_generator_loss(fake).numpy(),
                               [0.5 * 1, 0.5 * 4])


def test_hinge_losses_at_hand_computed_points():
    real, fake = tf.constant([0.5, 2.0]), tf.constant([-2.0, 0.3])
    # max(0, 1 - 0.5) + max(0, 1 - 2) = 0.5;  max(0, 1 - 2) + max(0, 1 + 0.3) = 1.3
    np.testing.assert_allclose(losses.hinge_critic_loss(real, fake).numpy(), [0.5, 1.3],
                               rtol=1e-6)
    np.testing.assert_allclose(losses.LOSSES["hinge"].generator(fake).numpy(), [2.0, -0.3],
                               rtol=1e-6)


def test_registry_pairs_critic_and_generator_losses():
    assert losses.LOSSES["wasserstein"].critic is losses.wasserstein_critic_loss
    assert losses.LOSSES["minimax"].critic is losses.discriminator_loss
    assert losses.LOSSES["non_saturating"].generator is losses.non_saturating_generator_loss
    assert losses.LOSSES["least_squares"].generator is losses.least_squares_generator_loss


@pytest.mark.parametrize("name", losses.LOSSES.names)
def test_every_loss_is_per_example_and_documented(name):
    loss = losses.LOSSES[name]
    assert loss.critic(tf.zeros([7]), tf.ones([7])).shape == (7,)
    assert loss.generator(tf.zeros([7])).shape == (7,)
    assert loss.formula and loss.paper
