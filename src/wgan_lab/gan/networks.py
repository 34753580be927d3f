"""Generator and critic networks, by name: the classic MLP and DCGAN-style convolutional
nets for images, and an MLP for points (the 2-D toy distributions of the theory runs).

``NETWORKS`` maps a name to its two builders, the data shapes it can make,
and whether reduced-precision compute pays off for it; ``CRITIC_NORMS`` maps
a normalisation name to its layer. Builders read the ``model`` section of the
training configuration (``latent_dim``, ``hidden_units``, ``filters``,
``critic_norm``) and take the compute precision; outputs are float32 whatever
the precision, weights always float32.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
from keras import layers

from wgan_lab.core import Registry

from .conditioning import (CONDITIONINGS, critic_outputs, label_input, with_label,
                           with_label_channels)


@dataclass(frozen=True)
class CriticNorm:
    layer: Callable[[dict], layers.Layer] | None
    # Whether the layer mixes the examples of a batch (batch statistics): such a
    # critic must score real and fake together, and cannot take per-example penalties.
    mixes_examples: bool = False


CRITIC_NORMS: Registry[CriticNorm] = Registry("critic_norm", {
    "none": CriticNorm(None),
    "layer": CriticNorm(lambda dtype: layers.LayerNormalization(**dtype)),
    # Synchronized batch norm keeps multi-replica training equal to one replica.
    "batch": CriticNorm(lambda dtype: layers.BatchNormalization(synchronized=True, **dtype),
                        mixes_examples=True),
})


def dcgan_upsamplings(size: int) -> int | None:
    """How many stride-2 upsamplings make ``size`` from a 4x4 or 7x7 start (None: impossible)."""
    for doublings in range(2, 8):
        base, rest = divmod(size, 2**doublings)
        if rest == 0 and base in (4, 7):
            return doublings
    return None


def _spectral(layer: layers.Layer, spectral_norm: bool) -> layers.Layer:
    return layers.SpectralNormalization(layer) if spectral_norm else layer


def _normalize(x, norm: str, dtype: dict):
    factory = CRITIC_NORMS[norm].layer
    return factory(dtype)(x) if factory else x


def _generator_inputs(model: Any, n_classes: int, dtype: str):
    """The generator's inputs (``z``, and the label when it takes one) and its first
    tensor: ``z``, or ``z`` with the label's one-hot code appended."""
    z = keras.Input((model.latent_dim,), name="z")
    if not n_classes:
        return z, z
    label = label_input()
    return [z, label], with_label(z, label, n_classes, dtype)


def _critic_inputs(shape: tuple[int, ...], name: str, model: Any, n_classes: int):
    """The critic's inputs (the image, and the label when it reads one) and the label
    tensor (None when unconditional)."""
    image = keras.Input(shape, name=name)
    if not n_classes:
        return image, image, None
    label = label_input()
    return [image, label], image, label


def _critic_model(inputs, features, label, model: Any, n_classes: int,
                  spectral_norm: bool) -> keras.Model:
    """The critic from its last features: one float32 score per example (unbounded),
    with the conditioning's projection term or class logits when it takes labels."""
    score_layer = _spectral(layers.Dense(1, dtype="float32"), spectral_norm)
    if not n_classes:
        return keras.Model(inputs, score_layer(features), name="critic")
    outputs = critic_outputs(features, label, CONDITIONINGS[model.conditioning], n_classes,
                             score_layer, lambda layer: _spectral(layer, spectral_norm))
    return keras.Model(inputs, outputs, name="critic")


def _label_at_input(model: Any, n_classes: int) -> bool:
    return bool(n_classes) and CONDITIONINGS[model.conditioning].label_at_critic_input


# ----- the MLP ------------------------------------------------------------------
def mlp_generator(image_shape: tuple[int, int, int], model: Any, precision: str,
                  n_classes: int = 0) -> keras.Model:
    hidden = {"dtype": precision}
    inputs, x = _generator_inputs(model, n_classes, precision)
    for units in model.hidden_units:
        x = layers.LeakyReLU(0.2, **hidden)(layers.Dense(units, **hidden)(x))
    height, width, channels = image_shape
    x = layers.Dense(height * width * channels, activation="tanh", dtype="float32")(x)
    return keras.Model(inputs, layers.Reshape(image_shape)(x), name="generator")


def mlp_critic(image_shape: tuple[int, int, int], model: Any, precision: str,
               spectral_norm: bool = False, n_classes: int = 0) -> keras.Model:
    hidden = {"dtype": precision}
    inputs, image, label = _critic_inputs(image_shape, "image", model, n_classes)
    x = layers.Flatten(**hidden)(image)
    if _label_at_input(model, n_classes):
        x = with_label(x, label, n_classes, precision)
    for units in model.hidden_units:
        x = _normalize(_spectral(layers.Dense(units, **hidden), spectral_norm)(x),
                       model.critic_norm, hidden)
        x = layers.LeakyReLU(0.2, **hidden)(x)
    return _critic_model(inputs, x, label, model, n_classes, spectral_norm)


def _image_problem(shape: tuple[int, ...]) -> str | None:
    if len(shape) != 3 or shape[-1] not in (1, 3):
        return f"images must be HxWx1 or HxWx3, got {tuple(shape)}"
    return None


def mlp_shape_problem(image_shape: tuple[int, ...]) -> str | None:
    return _image_problem(image_shape)  # a dense layer makes any size of image


# ----- DCGAN --------------------------------------------------------------------
def dcgan_generator(image_shape: tuple[int, int, int], model: Any, precision: str,
                    n_classes: int = 0) -> keras.Model:
    hidden = {"dtype": precision}
    height, _, channels = image_shape
    doublings = dcgan_upsamplings(height)
    base, filters = height // 2**doublings, model.filters
    width_mult = 2 ** (doublings - 1)
    inputs, x = _generator_inputs(model, n_classes, precision)
    x = layers.Dense(base * base * filters * width_mult, use_bias=False, **hidden)(x)
    x = layers.ReLU(**hidden)(layers.BatchNormalization(synchronized=True, **hidden)(x))
    x = layers.Reshape((base, base, filters * width_mult), **hidden)(x)
    for i in range(doublings - 1):
        x = layers.Conv2DTranspose(filters * width_mult // 2 ** (i + 1), 4, strides=2,
                                   padding="same", use_bias=False, **hidden)(x)
        x = layers.ReLU(**hidden)(layers.BatchNormalization(synchronized=True, **hidden)(x))
    out = layers.Conv2DTranspose(channels, 4, strides=2, padding="same",
                                 activation="tanh", dtype="float32")(x)
    return keras.Model(inputs, out, name="generator")


def dcgan_critic(image_shape: tuple[int, int, int], model: Any, precision: str,
                 spectral_norm: bool = False, n_classes: int = 0) -> keras.Model:
    hidden = {"dtype": precision}
    inputs, image, label = _critic_inputs(image_shape, "image", model, n_classes)
    x = image
    if _label_at_input(model, n_classes):
        x = with_label_channels(x, label, n_classes, precision)
    for i in range(dcgan_upsamplings(image_shape[0])):
        conv = layers.Conv2D(model.filters * 2**i, 4, strides=2, padding="same", **hidden)
        x = _spectral(conv, spectral_norm)(x)
        # The first layer is never normalised (as in DCGAN).
        x = layers.LeakyReLU(0.2, **hidden)(_normalize(x, model.critic_norm, hidden) if i else x)
    x = layers.Flatten(**hidden)(x)
    return _critic_model(inputs, x, label, model, n_classes, spectral_norm)


def dcgan_shape_problem(image_shape: tuple[int, ...]) -> str | None:
    problem = _image_problem(image_shape)
    if problem:
        return problem
    if image_shape[0] != image_shape[1] or dcgan_upsamplings(image_shape[0]) is None:
        return (f"dcgan makes square images of 4 or 7 times a power of two (28, 32, 64, ...), "
                f"not {image_shape[0]}x{image_shape[1]}; use mlp or resize the data")
    return None


# ----- points ---------------------------------------------------------------------
def points_generator(shape: tuple[int], model: Any, precision: str) -> keras.Model:
    """z -> hidden_units (ReLU) -> a point; linear output: toy data is not in [-1, 1]."""
    hidden = {"dtype": precision}
    z = keras.Input((model.latent_dim,), name="z")
    x = z
    for units in model.hidden_units:
        x = layers.Dense(units, activation="relu", **hidden)(x)
    return keras.Model(z, layers.Dense(shape[0], dtype="float32")(x), name="generator")


def points_critic(shape: tuple[int], model: Any, precision: str,
                  spectral_norm: bool = False) -> keras.Model:
    hidden = {"dtype": precision}
    point = keras.Input(shape, name="point")
    x = point
    for units in model.hidden_units:
        x = _normalize(_spectral(layers.Dense(units, **hidden), spectral_norm)(x),
                       model.critic_norm, hidden)
        x = layers.ReLU(**hidden)(x)
    return _critic_model(point, x, None, model, 0, spectral_norm)


def points_shape_problem(shape: tuple[int, ...]) -> str | None:
    if len(shape) != 1:
        return f"points are vectors (N x d data), got samples of shape {tuple(shape)}"
    return None


@dataclass(frozen=True)
class Network:
    generator: Callable[..., keras.Model]
    critic: Callable[..., keras.Model]
    # A reason why the network cannot make samples of a shape, or None.
    shape_problem: Callable[[tuple[int, ...]], str | None]
    # Whether bfloat16 compute speeds it up on CPUs with bfloat16 matrix units
    # (benchmarks/training.py): convolutions yes; the small MLP's step is bound
    # by per-operation overhead, not arithmetic.
    reduced_precision_pays: bool
    summary: str
    # Whether it can take a class label (model.conditioning other than none).
    takes_labels: bool = True
    # Whether TensorFlow's grappler remapper fails on its training graph (printing
    # an error) and so is left out of the compiled training calls; see
    # trainer.without_remapper.
    remapper_breaks_training: bool = False


NETWORKS: Registry[Network] = Registry("architecture", {
    "mlp": Network(mlp_generator, mlp_critic, mlp_shape_problem, False,
                   "z -> hidden_units -> image, leaky ReLU; critic mirrored"),
    "dcgan": Network(dcgan_generator, dcgan_critic, dcgan_shape_problem, True,
                     "transposed convolutions with batch norm; strided-convolution critic",
                     remapper_breaks_training=True),
    # The WGAN-GP paper's toy networks (ReLU MLPs) for 2-D mixtures and the Swiss roll.
    "points": Network(points_generator, points_critic, points_shape_problem, False,
                      "z -> hidden_units (ReLU) -> point, linear output; critic mirrored",
                      takes_labels=False),
})


def image_shape_problem(architecture: str, image_shape: tuple[int, ...]) -> str | None:
    """Why ``architecture`` cannot make samples of ``image_shape`` (HxWxC images for
    the image networks, d-vectors for points), or None when it can."""
    return NETWORKS[architecture].shape_problem(tuple(image_shape))


def _labelled(model: Any, n_classes: int) -> dict[str, int]:
    """The builders' class count: only for a conditional model (a conditional one needs it)."""
    if not CONDITIONINGS[model.conditioning].takes_labels:
        return {}
    if n_classes < 2:
        raise ValueError(f"conditioning {model.conditioning} needs labelled data of at least "
                         f"2 classes (got {n_classes})")
    return {"n_classes": n_classes}


def build_generator(image_shape: tuple[int, int, int], model: Any,
                    precision: str = "float32", n_classes: int = 0) -> keras.Model:
    """z (and a label, when ``model.conditioning`` asks for one) -> image in [-1, 1]
    (tanh output, float32 whatever the ``precision``)."""
    problem = image_shape_problem(model.architecture, image_shape)
    if problem:
        raise ValueError(problem)
    return NETWORKS[model.architecture].generator(tuple(image_shape), model, precision,
                                                  **_labelled(model, n_classes))


def build_critic(image_shape: tuple[int, int, int], model: Any, precision: str = "float32",
                 spectral_norm: bool = False, n_classes: int = 0) -> keras.Model:
    """image (and label) -> [batch, 1] unbounded scores (logits for the GAN losses, critic
    values otherwise), and [batch, n_classes] class logits when the conditioning classifies."""
    problem = image_shape_problem(model.architecture, image_shape)
    if problem:
        raise ValueError(problem)
    return NETWORKS[model.architecture].critic(tuple(image_shape), model, precision,
                                               spectral_norm, **_labelled(model, n_classes))
