import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from wgan_lab.gan.config import ConfigError, TrainingConfig
from wgan_lab.gan.networks import build_critic, build_generator


def dense_units(model):
    return [layer.units for layer in model.layers if isinstance(layer, layers.Dense)]


def test_seed_mlp_shapes():
    generator = build_generator("mlp", 100, (28, 28, 1))
    critic = build_critic("mlp", (28, 28, 1))
    assert dense_units(generator) == [128, 128, 784]
    assert dense_units(critic) == [128, 128, 1]
    assert generator.input_shape == (None, 100) and generator.output_shape == (None, 28, 28, 1)
    assert critic.output_shape == (None, 1)
    images = generator(tf.random.normal([4, 100]) * 50)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0


@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3), (28, 28, 3), (32, 32, 1)])
def test_dcgan_shapes(shape):
    generator = build_generator("dcgan", 16, shape, filters=8)
    critic = build_critic("dcgan", shape, filters=8, norm="layer")
    out = generator(tf.random.normal([2, 16]), training=True)
    assert out.shape == (2, *shape)
    assert critic(out).shape == (2, 1)
    assert not any(isinstance(l, layers.BatchNormalization) for l in critic.layers)
    assert any(isinstance(l, layers.BatchNormalization) for l in generator.layers)


@pytest.mark.parametrize(
    "params, name",
    [
        ({"loss": "hinge"}, "loss"),
        ({"architecture": "resnet"}, "architecture"),
        ({"distribution": "tpu"}, "distribution"),
        ({"n_critic": 0}, "n_critic"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -1e-4}, "learning_rate"),
        ({"optimizer": "sgd"}, "optimizer"),
        ({"lipschitz": "gradient_penalty", "critic_norm": "batch"}, "critic_norm"),
        ({"lr": 0.1}, "lr"),
    ],
)
def test_bad_parameters_name_themselves(params, name):
    with pytest.raises(ConfigError, match=rf"^wgan\.training\.{name}:"):
        TrainingConfig.from_params(params, prefix="wgan.training")


def test_image_shape_the_architecture_cannot_make():
    config = TrainingConfig(architecture="dcgan")
    with pytest.raises(ConfigError, match=r"training\.architecture: dcgan .* not 30x30"):
        config.check_image_shape((30, 30, 1))
    TrainingConfig(architecture="mlp").check_image_shape((30, 30, 1))


def test_batch_not_divisible_by_replicas():
    with pytest.raises(ConfigError, match=r"training\.batch_size: 63 .* 2 replicas"):
        TrainingConfig(batch_size=63).check_replicas(2)


def test_fingerprint_ignores_schedule_but_not_model():
    base = TrainingConfig()
    assert base.fingerprint((28, 28, 1)) == TrainingConfig(steps=5).fingerprint((28, 28, 1))
    assert base.fingerprint((28, 28, 1)) != TrainingConfig(learning_rate=1.0).fingerprint((28, 28, 1))
    assert base.fingerprint((28, 28, 1)) != base.fingerprint((32, 32, 1))
