"""Feature extractors for the metrics: a domain classifier, or InceptionV3 from local weights.

FID-style metrics need a feature space. ImageNet's InceptionV3 weights cannot be
downloaded here and say little about 28x28 digits, so the default is a small
CNN trained on the dataset's own labelled training split, cached per dataset
and retrained only when its data or configuration change.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from pydantic import Field, field_validator

from wgan_lab.core import Count, Registry, section
from wgan_lab.fileio import atomic_path
from wgan_lab.progress import Progress

logger = logging.getLogger(__name__)

FEATURE_LAYER = "features"


def build_cnn(image_shape: tuple[int, ...], n_classes: int, feature_dim: int) -> keras.Model:
    """Two conv blocks and a dense feature layer: the domain classifier."""
    image = keras.Input(image_shape)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(image)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(feature_dim, activation="relu", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.3)(x)
    return keras.Model(image, layers.Dense(n_classes)(x), name="domain_classifier")


def build_mlp(image_shape: tuple[int, ...], n_classes: int, feature_dim: int) -> keras.Model:
    """Dense layers on the raw pixels, no convolution: the second evaluator, whose
    features share neither architecture nor weights with the first one's."""
    image = keras.Input(image_shape)
    x = layers.Flatten()(image)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dense(feature_dim, activation="tanh", name=FEATURE_LAYER)(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(image, layers.Dense(n_classes)(x), name="mlp_classifier")


# Classifier architectures for feature spaces: one entry each.
CLASSIFIERS: Registry = Registry("classifier architecture", {"cnn": build_cnn, "mlp": build_mlp})


@section
class ClassifierConfig:
    """``evaluation.classifier`` (and ``evaluation.second_classifier``): how a
    classifier of the domain is trained."""

    architecture: str = "cnn"
    epochs: Count = 5
    batch_size: Count = 128
    learning_rate: Annotated[float, Field(gt=0)] = 1e-3
    feature_dim: Count = 128
    seed: int = 0

    @field_validator("architecture")
    @classmethod
    def _known_architecture(cls, name: str) -> str:
        CLASSIFIERS[name]
        return name


def build_classifier(image_shape: tuple[int, ...], n_classes: int, feature_dim: int = 128,
                     architecture: str = "cnn") -> keras.Model:
    return CLASSIFIERS[architecture](image_shape, n_classes, feature_dim)


class FeatureExtractor:
    """Features and class probabilities of images in [-1, 1], in one forward pass."""

    def __init__(self, classifier: keras.Model, batch_size: int = 500) -> None:
        self.classifier = classifier
        outputs = [classifier.get_layer(FEATURE_LAYER).output, classifier.output]
        self._model = keras.Model(classifier.input, outputs)
        self._batch_size = batch_size
        self._forward = tf.function(lambda x: self._model(x, training=False))

    @property
    def n_classes(self) -> int:
        return int(self.classifier.output.shape[-1])

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        features, probabilities = [], []
        for start in range(0, len(images), self._batch_size):
            f, logits = self._forward(tf.constant(images[start:start + self._batch_size]))
            features.append(f.numpy())
            probabilities.append(tf.nn.softmax(logits).numpy())
        return np.concatenate(features), np.concatenate(probabilities)


def data_fingerprint(config: ClassifierConfig, *arrays: np.ndarray) -> str:
    settings = asdict(config)
    if settings["architecture"] == "cnn":
        # The architecture was not a setting before the second evaluator: caches of
        # the domain classifier trained then stay valid.
        del settings["architecture"]
    digest = hashlib.blake2b(json.dumps(settings, sort_keys=True).encode(), digest_size=16)
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


class _ProgressCallback(keras.callbacks.Callback):
    """Keras batches into a ``Progress``, instead of Keras's own progress bar."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self._progress = progress
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None) -> None:
        logs = logs or {}
        status = f"epoch {self._epoch}"
        if "loss" in logs and "accuracy" in logs:
            status += f", loss {float(logs['loss']):.4f}, accuracy {float(logs['accuracy']):.4f}"
        self._progress.advance(1, status)


def train_classifier(train_images, train_labels, test_images, test_labels,
                     config: ClassifierConfig, description: str = "Domain classifier"
                     ) -> tuple[keras.Model, float]:
    """Train the domain classifier (or another of its recipe); returns it and its test
    accuracy."""
    keras.utils.set_random_seed(config.seed)
    n_classes = int(max(train_labels.max(), test_labels.max() if len(test_labels) else 0)) + 1
    model = build_classifier(train_images.shape[1:], n_classes, config.feature_dim,
                             config.architecture)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    batches_per_epoch = -(-len(train_images) // config.batch_size)
    with Progress(f"{description} training", config.epochs * batches_per_epoch,
                  "batches") as progress:
        model.fit(train_images, train_labels, batch_size=config.batch_size, epochs=config.epochs,
                  shuffle=True, verbose=0, callbacks=[_ProgressCallback(progress)])
    accuracy = float(model.evaluate(test_images, test_labels, batch_size=500, verbose=0)[1])
    logger.info("%s: test accuracy %.4f", description, accuracy)
    return model, accuracy


def classification_accuracy_score(images: np.ndarray, labels: np.ndarray,
                                  test_images: np.ndarray, test_labels: np.ndarray,
                                  recipe: ClassifierConfig,
                                  description: str = "CAS classifier") -> float:
    """CAS (Ravuri & Vinyals 2019): a classifier of ``recipe`` trained on ``images`` and
    ``labels`` alone (generated ones, or real ones for the baseline), its accuracy on
    the real test set."""
    return train_classifier(images, labels, test_images, test_labels, recipe, description)[1]


def load_or_train_classifier(cache_dir: Path | str, train_images, train_labels, test_images,
                             test_labels, config: ClassifierConfig) -> tuple[keras.Model, dict]:
    """The cached classifier when its inputs are unchanged, else a newly trained one."""
    cache = Path(cache_dir)
    fingerprint = data_fingerprint(config, train_images, train_labels, test_images, test_labels)
    info_path, model_path = cache / "classifier.json", cache / "classifier.keras"
    if info_path.is_file() and model_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("fingerprint") == fingerprint:
            logger.info("Domain classifier: using the cached one in %s", cache)
            return keras.models.load_model(model_path), info
        logger.info("Domain classifier: data or configuration changed, retraining")
    model, accuracy = train_classifier(train_images, train_labels, test_images, test_labels,
                                       config)
    info = {"fingerprint": fingerprint, "test_accuracy": accuracy, "config": asdict(config)}
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_path(model_path, suffix=".tmp.keras") as tmp:
        model.save(tmp)
    with atomic_path(info_path) as tmp:
        tmp.write_text(json.dumps(info, indent=2))
    return model, info


def load_inception(weights_path: str | None, image_shape: tuple[int, ...]):
    """InceptionV3 pooled features from a local weights file, or None (with a warning)."""
    if not weights_path or not Path(weights_path).is_file():
        logger.warning(
            "No domain classifier (unlabelled images) and no InceptionV3 weights at %r: "
            "only the pixel-space metrics are computed. Put the Keras InceptionV3 'notop' "
            "weights file there to get FID, KID, precision/recall.", weights_path)
        return None
    base = keras.applications.InceptionV3(include_top=False, weights=weights_path,
                                          pooling="avg", input_shape=(299, 299, 3))
    image = keras.Input(image_shape)
    x = layers.Resizing(299, 299)(image)
    if image_shape[-1] == 1:
        x = layers.Concatenate()([x, x, x])
    return keras.Model(image, base(x))
