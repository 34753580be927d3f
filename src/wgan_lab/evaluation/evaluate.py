"""The evaluation protocol: which samples, how many, and every metric on them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import numpy as np
from pydantic import Field

from wgan_lab.core import Count, section
from wgan_lab.progress import Progress

from . import metrics
from .features import ClassifierConfig

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
    """The ``generate`` block: how many images to sample from a trained generator, and
    the seed of their noise."""

    n: Count = 1000
    seed: int = 0


def generate(generator, n: int, seed: int, batch_size: int = 1000,
             progress: Progress | None = None) -> np.ndarray:
    """``n`` images from fixed-seed standard normal noise."""
    latent_dim = int(generator.input_shape[-1])
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    images = []
    for i in range(0, n, batch_size):
        images.append(np.asarray(generator(noise[i:i + batch_size], training=False)))
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
    """Images along straight lines between ``rows`` pairs of noise vectors, row by row."""
    latent_dim = int(generator.input_shape[-1])
    ends = np.random.default_rng(seed).standard_normal((2, rows, latent_dim)).astype(np.float32)
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    noise = (ends[0][:, None] * (1 - weights) + ends[1][:, None] * weights).reshape(-1, latent_dim)
    return np.asarray(generator(noise, training=False))


def subsample(images: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(images) <= n:
        return images
    return images[np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))]


def evaluate_generator(generator, real: np.ndarray, extractor: Extractor | None,
                       protocol: Protocol, description: str = "Evaluation"
                       ) -> tuple[dict[str, float], np.ndarray]:
    """The protocol on ``generator``: its metrics and its predicted-class histogram.

    Generating and featurizing 2 x ``n_samples`` images take a while on a CPU,
    so they report progress.
    """
    n = min(protocol.n_samples, len(real))
    real = subsample(real, n, protocol.seed)
    units = n if extractor is None else 3 * n
    with Progress(description, units, "images") as progress:
        fake = generate(generator, n, protocol.seed, progress=progress)
        progress.status = "features" if extractor is not None else "metrics"
        real_out = extract(extractor, real, progress) if extractor is not None else None
        fake_out = extract(extractor, fake, progress) if extractor is not None else None
        progress.update(progress.completed, "metrics")
        result = compute_metrics(real, fake, extractor, protocol, real_out, fake_out)
    if fake_out is None or fake_out[1] is None:
        return result, np.zeros(0)
    probabilities = fake_out[1]
    return result, metrics.class_histogram(probabilities.argmax(axis=1), probabilities.shape[1])


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
                    protocol: Protocol, real_features=None, fake_features=None
                    ) -> dict[str, float]:
    """Every metric of ``fake`` against ``real`` (both images in [-1, 1]).

    ``real_features``/``fake_features``: the extractor's (features, probabilities)
    of them when already computed.
    """
    if extractor is not None:
        real_features = real_features or extractor(real)
        fake_features = fake_features or extractor(fake)
    samples = metrics.Samples(real, fake, protocol, real_features, fake_features)
    result: dict[str, float] = {"n_real": len(real), "n_fake": len(fake)}
    for name, metric in metrics.METRICS.items():
        if samples.has(metric.needs):
            result[name] = metric.compute(samples)
    return result
