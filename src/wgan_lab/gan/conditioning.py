"""Class conditioning: how a generator is asked for a class, and how a critic judges it.

One entry per published way, on top of any loss and regularizer of the family.
Every conditional generator takes ``[z, label]`` and concatenates the label's
one-hot code to ``z`` (as the cGAN and AC-GAN papers do; the projection paper's
conditional batch norm is left out). The entries differ in the critic:

- ``concat`` (Mirza & Osindero 2014): the critic sees the one-hot label beside
  its input (appended to the flattened pixels, or as constant image channels);
- ``projection`` (Miyato & Koyama 2018): the critic's score of features
  ``phi(x)`` gains ``<embed(y), phi(x)>``;
- ``auxiliary`` (Odena et al. 2017, AC-GAN): the critic sees no label but also
  classifies its input, and both losses add ``class_weight`` times the
  cross-entropy of that classification on the batch's labels.

Labels are integers ``0..n_classes-1``; a model's input named ``label`` takes
them, so a saved or served generator says in its signature that it takes a
class. Adding a way is one entry here and one test on hand-computed values.
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
import tensorflow as tf
from keras import layers

from wgan_lab.core import Registry

LABEL_INPUT = "label"
LABEL_ONE_HOT = "label_one_hot"


@dataclass(frozen=True)
class Conditioning:
    summary: str
    paper: str = ""
    # The networks take a label at all (every entry but "none").
    takes_labels: bool = True
    # The critic reads the one-hot label beside the image.
    label_at_critic_input: bool = False
    # The critic's score adds <embed(y), phi(x)>.
    projection: bool = False
    # The critic has a head of n_classes logits, and both losses add its
    # cross-entropy (objective.class_weight).
    classifies: bool = False


CONDITIONINGS: Registry[Conditioning] = Registry("conditioning", {
    "none": Conditioning("unconditional", takes_labels=False),
    "concat": Conditioning("one-hot label beside z and beside the critic's input",
                           "Mirza & Osindero 2014", label_at_critic_input=True),
    "projection": Conditioning("critic score + <embed(y), phi(x)>", "Miyato & Koyama 2018",
                               projection=True),
    "auxiliary": Conditioning("critic also classifies; both losses add its cross-entropy",
                              "Odena et al. 2017", classifies=True),
})


def class_cross_entropy(logits: tf.Tensor, labels: tf.Tensor) -> tf.Tensor:
    """-log softmax(logits)[label], per example: AC-GAN's classification term."""
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                          logits=tf.cast(logits, tf.float32))


# ----- layers the networks use ----------------------------------------------------
def label_input() -> keras.KerasTensor:
    return keras.Input((), dtype="int32", name=LABEL_INPUT)


def one_hot(label, n_classes: int, dtype: str) -> keras.KerasTensor:
    return layers.CategoryEncoding(n_classes, output_mode="one_hot", dtype=dtype,
                                   name=LABEL_ONE_HOT)(label)


def with_label(flat, label, n_classes: int, dtype: str) -> keras.KerasTensor:
    """A flat input (z, or flattened pixels) with the label's one-hot code appended."""
    return layers.Concatenate(dtype=dtype)([flat, one_hot(label, n_classes, dtype)])


def with_label_channels(image, label, n_classes: int, dtype: str) -> keras.KerasTensor:
    """An image with ``n_classes`` constant channels appended: the one-hot label at
    every pixel, so that the first convolution sees it everywhere."""
    height, width = int(image.shape[1]), int(image.shape[2])
    code = layers.Reshape((1, 1, n_classes), dtype=dtype)(one_hot(label, n_classes, dtype))
    code = layers.UpSampling2D((height, width), dtype=dtype)(code)
    return layers.Concatenate(dtype=dtype)([image, code])


def critic_outputs(features, label, conditioning: Conditioning, n_classes: int,
                   score_layer: layers.Layer, spectral) -> keras.KerasTensor | list:
    """The critic's outputs from its last features: the score [batch, 1] (float32), plus
    the projection term, and the class logits [batch, n_classes] when it classifies."""
    score = score_layer(features)
    if conditioning.projection:
        embedded = layers.Embedding(n_classes, int(features.shape[-1]), dtype="float32",
                                    name="label_embedding")(label)
        score = layers.Add(dtype="float32")(
            [score, layers.Dot(axes=1, dtype="float32")([embedded, features])])
    if conditioning.classifies:
        logits = spectral(layers.Dense(n_classes, dtype="float32", name="class_logits"))(features)
        return [score, logits]
    return score


def generator_classes(generator) -> int:
    """How many classes ``generator`` can be asked for (0: it takes no label, or it is
    not a Keras model with this project's label input)."""
    try:
        return int(generator.get_layer(LABEL_ONE_HOT).num_tokens)
    except (AttributeError, ValueError):
        return 0
