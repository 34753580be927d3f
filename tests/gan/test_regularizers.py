"""Each regularizer on critics whose input gradient is known in closed form."""
import math

import numpy as np
import pytest
import tensorflow as tf

from wgan_lab.gan import regularizers
from wgan_lab.gan.config import ObjectiveConfig
from wgan_lab.gan.regularizers import REGULARIZERS

W = tf.constant(np.full((1, 2, 2, 1), 1.5, np.float32))  # ||w|| = 3


def linear(x):
    """f(x) = <w, x>: gradient w everywhere."""
    return tf.reduce_sum(W * x, axis=[1, 2, 3])


def quadratic(x):
    """f(x) = ||x||^2 / 2: gradient x, so the gradient norm is ||x||."""
    return 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3])


def draws(n, shape=(2, 2, 1), epsilon=None, perturbation=0.5, data_std=2.0):
    return {"epsilon": tf.constant(epsilon) if epsilon is not None else tf.random.uniform([n]),
            "perturbation": tf.fill([n, *shape], perturbation), "data_std": tf.constant(data_std)}


@pytest.mark.parametrize("name", ["gradient_penalty", "dragan"])
def test_two_sided_penalties_of_a_linear_critic(name):
    real, fake = tf.random.normal([5, 2, 2, 1]), tf.random.normal([5, 2, 2, 1])
    penalty = REGULARIZERS[name].penalty(linear, real, fake, draws(5))
    np.testing.assert_allclose(penalty.numpy(), np.full(5, (3.0 - 1.0) ** 2), rtol=1e-5)


def test_r1_of_a_linear_critic():
    real, fake = tf.random.normal([5, 2, 2, 1]), tf.random.normal([5, 2, 2, 1])
    penalty = REGULARIZERS["r1"].penalty(linear, real, fake, draws(5))
    np.testing.assert_allclose(penalty.numpy(), np.full(5, 0.5 * 9.0), rtol=1e-5)


def test_gradient_penalty_per_example_epsilon_and_norm_over_all_axes():
    real, fake = tf.ones([2, 3, 3, 2]), tf.zeros([2, 3, 3, 2])   # ||real|| = sqrt(18)
    penalty = regularizers.gradient_penalty(quadratic, real, fake,
                                            {"epsilon": tf.constant([0.0, 1.0])}).numpy()
    # epsilon 0 -> the fake point, epsilon 1 -> the real one
    np.testing.assert_allclose(penalty, [(0.0 - 1.0) ** 2, (math.sqrt(18) - 1.0) ** 2], rtol=1e-4)


def test_dragan_perturbs_real_data_by_half_the_std_times_uniform_noise():
    real, fake = tf.ones([2, 3, 3, 2]), tf.zeros([2, 3, 3, 2])
    d = draws(2, shape=(3, 3, 2), epsilon=[0.0, 1.0], perturbation=0.5, data_std=2.0)
    penalty = regularizers.dragan_penalty(quadratic, real, fake, d).numpy()
    # x_p = 1 + 0.5 * 2 * 0.5 = 1.5 per pixel; eps 0 stays on x, eps 1 moves to x_p;
    # the fake samples play no part.
    norm = math.sqrt(18)
    np.testing.assert_allclose(penalty, [(norm - 1.0) ** 2, (1.5 * norm - 1.0) ** 2], rtol=1e-4)


def test_r1_is_half_the_squared_gradient_norm_on_real_data_only():
    real, fake = tf.ones([2, 3, 3, 2]), tf.fill([2, 3, 3, 2], 5.0)
    penalty = regularizers.r1_penalty(quadratic, real, fake, draws(2, shape=(3, 3, 2))).numpy()
    np.testing.assert_allclose(penalty, [0.5 * 18.0, 0.5 * 18.0], rtol=1e-5)


def test_clip_weights():
    variables = [tf.Variable([-1.0, 0.005, 2.0]), tf.Variable([[0.3]])]
    REGULARIZERS["clip"].constrain(variables, 0.01)
    np.testing.assert_allclose(variables[0].numpy(), [-0.01, 0.005, 0.01])
    np.testing.assert_allclose(variables[1].numpy(), [[0.01]])


@pytest.mark.parametrize("name", REGULARIZERS.names)
def test_every_regularizer_acts_in_exactly_one_declared_way(name):
    entry = REGULARIZERS[name]
    ways = [entry.penalty is not None, entry.constrain is not None, entry.spectral_norm]
    assert sum(ways) == (0 if name == "none" else 1)
    if entry.strength:
        assert entry.strength in ObjectiveConfig.__dataclass_fields__
    assert entry.summary
