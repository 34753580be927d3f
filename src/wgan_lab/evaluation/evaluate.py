"""The evaluation protocol: which samples, how many, and every metric on them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from pydantic import Field

from wgan_lab.core import ConfigError, Count, section
from wgan_lab.gan.conditioning import generator_classes
from wgan_lab.progress import Progress

from . import metrics
from .features import ClassifierConfig, classification_accuracy_score

Extractor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@section
class Protocol:
    """N generated vs N real test images, fixed seeds; declared in every report."""

    n_samples: Annotated[int, Field(ge=2)] = 10000
    seed: int = 0
    k: Count = 5
    kid_subsets: Count = 100
    kid_subset_size: Annotated[int, Field(ge=2)] = 1000
    swd_projections: Count = 256


@section
class EvaluationSettings:
    """The ``evaluation`` block: the domain classifier, its cache, the protocol."""

    classifier_dir: str
    classifier: ClassifierConfig = ClassifierConfig()
    # The study's second evaluator: another classifier (architecture, seed) on the
    # same training split, whose features no search ever selected on.
    second_classifier_dir: str | None = None
    second_classifier: ClassifierConfig = ClassifierConfig(architecture="mlp", seed=1)
    # A local Keras InceptionV3 "notop" weights file for unlabelled images.
    inception_weights: str | None = None
    protocol: Protocol = Protocol()


@section
class GenerateSettings:
    """The ``generate`` block: how many images to sample from a trained generator, the
    seed of their noise, and for a conditional generator the class (or classes, taken
    in turn) to ask for; null asks for every class in turn."""

    n: Count = 1000
    seed: int = 0
    # One class, a list, or classes in a string ("3;7": a list on Kedro's command
    # line, which splits --params at commas).
    classes: int | tuple[int, ...] | str | None = None

    def labels(self, n_classes: int, where: str = "generate") -> np.ndarray | None:
        """The class of each image, or None for an unconditional generator; a class
        outside ``0..n_classes-1``, or any class for an unconditional one, fails."""
        if self.classes is None:
            return balanced_labels(self.n, n_classes) if n_classes else None
        asked = self.classes
        if isinstance(asked, str):
            try:
                asked = [int(c) for c in asked.replace(";", " ").split()]
            except ValueError:
                raise ConfigError(f"{where}.class: classes are integers, one or several "
                                  f"separated by ';' (got {asked!r})") from None
        asked = np.atleast_1d(np.asarray(asked, np.int64))
        if not n_classes:
            raise ConfigError(f"{where}.class: this generator is unconditional and cannot be "
                              f"asked for a class; drop class, or sample a conditional variant")
        if len(asked) == 0 or asked.min() < 0 or asked.max() >= n_classes:
            raise ConfigError(f"{where}.class: classes must lie in 0-{n_classes - 1} (got "
                              f"{self.classes})")
        return np.resize(asked, self.n).astype(np.int32)


def latent_dim(generator) -> int:
    """The size of ``generator``'s noise input (its first input, when it takes a label)."""
    shape = generator.input_shape
    return int((shape[0] if isinstance(shape, list) else shape)[-1])


def balanced_labels(n: int, n_classes: int) -> np.ndarray:
    """Every class in turn: as many asked of each as ``n`` allows."""
    return (np.arange(n) % n_classes).astype(np.int32)


def generate(generator, n: int, seed: int, batch_size: int = 1000,
             progress: Progress | None = None, labels: np.ndarray | None = None) -> np.ndarray:
    """``n`` images from fixed-seed standard normal noise; a conditional generator is
    asked for ``labels`` (default: ``balanced_labels``)."""
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim(generator))
                                                        ).astype(np.float32)
    n_classes = generator_classes(generator)
    if n_classes and labels is None:
        labels = balanced_labels(n, n_classes)
    images = []
    for i in range(0, n, batch_size):
        inputs = noise[i:i + batch_size]
        if n_classes:
            inputs = [inputs, np.asarray(labels[i:i + batch_size], np.int32)]
        images.append(np.asarray(generator(inputs, training=False)))
        if progress is not None:
            progress.advance(len(images[-1]))
    return np.concatenate(images)


def extract(extractor: Extractor, images: np.ndarray, progress: Progress | None = None,
            chunk: int = 1000) -> tuple[np.ndarray, np.ndarray | None]:
    """``extractor`` over ``images`` in chunks, so that a progress can follow it."""
    if progress is None:
        return extractor(images)
    features, probabilities = [], []
    for start in range(0, len(images), chunk):
        f, p = extractor(images[start:start + chunk])
        features.append(f)
        probabilities.append(p)
        progress.advance(len(f))
    return (np.concatenate(features),
            None if probabilities[0] is None else np.concatenate(probabilities))


def interpolate(generator, rows: int = 8, steps: int = 10, seed: int = 1) -> np.ndarray:
    """Images along straight lines between ``rows`` pairs of noise vectors, row by row
    (a conditional generator's row ``r`` asked for class ``r`` modulo the classes)."""
    dim = latent_dim(generator)
    ends = np.random.default_rng(seed).standard_normal((2, rows, dim)).astype(np.float32)
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    noise = (ends[0][:, None] * (1 - weights) + ends[1][:, None] * weights).reshape(-1, dim)
    n_classes = generator_classes(generator)
    if n_classes:
        noise = [noise, np.repeat(balanced_labels(rows, n_classes), steps)]
    return np.asarray(generator(noise, training=False))


def subsample(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(images) <= n:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def evaluate_generator(generator, real: np.ndarray, extractor: Extractor | None,
                       protocol: Protocol, description: str = "Evaluation",
                       real_labels: np.ndarray | None = None,
                       recipe: ClassifierConfig | None = None
                       ) -> tuple[dict[str, float], np.ndarray]:
    """The protocol on ``generator``: its metrics and its predicted-class histogram.

    A conditional generator, given the ``real_labels`` of the test images, is asked
    for every class in turn and gets the labelled metrics too (class accuracy,
    intra-class FID, and CAS with ``recipe``). Generating and featurizing
    2 x ``n_samples`` images take a while on a CPU, so they report progress.
    """
    n = min(protocol.n_samples, len(real))
    keep = subsample(np.arange(len(real)), n, protocol.seed)
    real = real[keep]
    n_classes = generator_classes(generator) if real_labels is not None else 0
    fake_labels = balanced_labels(n, n_classes) if n_classes else None
    units = n if extractor is None else 3 * n
    with Progress(description, units, "images") as progress:
        fake = generate(generator, n, protocol.seed, progress=progress, labels=fake_labels)
        progress.status = "features" if extractor is not None else "metrics"
        real_out = extract(extractor, real, progress) if extractor is not None else None
        fake_out = extract(extractor, fake, progress) if extractor is not None else None
        progress.update(progress.completed, "metrics")
        result = compute_metrics(real, fake, extractor, protocol, real_out, fake_out,
                                 real_labels=real_labels[keep] if n_classes else None,
                                 fake_labels=fake_labels, recipe=recipe)
    if fake_out is None or fake_out[1] is None:
        return result, np.zeros(0)
    probabilities = fake_out[1]
    return result, metrics.class_histogram(probabilities.argmax(axis=1), probabilities.shape[1])


def real_cas(train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray,
             test_labels: np.ndarray, protocol: Protocol, recipe: ClassifierConfig) -> float:
    """CAS's real-data baseline: ``recipe`` trained on as many real training images as the
    protocol's samples, tested on the same test images as the generated ones."""
    n = min(protocol.n_samples, len(test_images))
    test = subsample(np.arange(len(test_images)), n, protocol.seed)
    train = subsample(np.arange(len(train_images)), n, protocol.seed + 1)
    return classification_accuracy_score(train_images[train], train_labels[train],
                                         test_images[test], test_labels[test], recipe,
                                         description="CAS classifier on real images")


# The second evaluator's numbers: its feature-space metrics under this prefix.
SECOND = "second_"
SECOND_METRICS = ("fid", "precision", "recall")


def evaluate_in_second_features(generator, real: np.ndarray, extractor: Extractor,
                                protocol: Protocol) -> dict[str, float]:
    """FID, precision and recall of ``generator`` in a second feature space, on the
    very images ``evaluate_generator`` scores (same subsample, same noise), as
    ``second_fid``, ``second_precision``, ``second_recall``."""
    n = min(protocol.n_samples, len(real))
    real = subsample(real, n, protocol.seed)
    fake = generate(generator, n, protocol.seed)
    samples = metrics.Samples(real, fake, protocol, extractor(real), extractor(fake))
    return {SECOND + name: metrics.METRICS[name].compute(samples) for name in SECOND_METRICS}


def compute_metrics(real: np.ndarray, fake: np.ndarray, extractor: Extractor | None,
                    protocol: Protocol, real_features=None, fake_features=None,
                    real_labels: np.ndarray | None = None, fake_labels: np.ndarray | None = None,
                    recipe: ClassifierConfig | None = None) -> dict[str, float]:
    """Every metric of ``fake`` against ``real`` (both images in [-1, 1]).

    ``real_features``/``fake_features``: the extractor's (features, probabilities)
    of them when already computed. With the labels of both, the labelled metrics
    too; CAS only with a classifier ``recipe``.
    """
    if extractor is not None:
        real_features = real_features or extractor(real)
        fake_features = fake_features or extractor(fake)
    samples = metrics.Samples(real, fake, protocol, real_features, fake_features,
                              real_labels, fake_labels, recipe)
    result: dict[str, float] = {"n_real": len(real), "n_fake": len(fake)}
    for name, metric in metrics.METRICS.items():
        if samples.has(metric.needs):
            result[name] = metric.compute(samples)
    return result
