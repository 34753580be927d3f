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


def test_loss_lookup():
    assert losses.critic_loss("wasserstein") is losses.wasserstein_critic_loss
    assert losses.critic_loss("minimax") is losses.discriminator_loss
    assert losses.generator_loss("non_saturating") is losses.non_saturating_generator_loss


def test_gradient_penalty_of_a_linear_critic():
    """f(x) = <w, x> has gradient w everywhere: penalty (||w|| - 1)^2 for every example."""
    w = tf.constant(np.full((1, 2, 2, 1), 1.5, np.float32))  # ||w|| = 3
    critic = lambda x: tf.reduce_sum(w * x, axis=[1, 2, 3])  # noqa: E731
    real = tf.random.normal([5, 2, 2, 1])
    fake = tf.random.normal([5, 2, 2, 1])
    penalty = losses.gradient_penalty(critic, real, fake, tf.random.uniform([5]))
    np.testing.assert_allclose(penalty.numpy(), np.full(5, 4.0), rtol=1e-5)


def test_gradient_penalty_per_example_epsilon_and_norm_over_all_axes():
    """f(x) = ||x||^2 / 2 has gradient x: the norm is ||x_hat|| per example."""
    critic = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])  # noqa: E731
    real = tf.ones([2, 3, 3, 2])          # ||real|| = sqrt(18)
    fake = tf.zeros([2, 3, 3, 2])
    epsilon = tf.constant([0.0, 1.0])     # example 0 -> fake, example 1 -> real
    penalty = losses.gradient_penalty(critic, real, fake, epsilon).numpy()
    np.testing.assert_allclose(penalty, [(0.0 - 1.0) ** 2, (math.sqrt(18) - 1.0) ** 2],
                               rtol=1e-4)


def test_clip_weights():
    variables = [tf.Variable([-1.0, 0.005, 2.0]), tf.Variable([[0.3]])]
    losses.clip_weights(variables, 0.01)
    np.testing.assert_allclose(variables[0].numpy(), [-0.01, 0.005, 0.01])
    np.testing.assert_allclose(variables[1].numpy(), [[0.01]])


@pytest.mark.parametrize("kind", ["minimax", "non_saturating", "wasserstein"])
def test_generator_losses_are_per_example(kind):
    assert losses.generator_loss(kind)(tf.zeros([7])).shape == (7,)
