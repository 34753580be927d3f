"""The evaluation protocol: which samples, how many, and every metric on them."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import metrics

Extractor = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


@dataclass(frozen=True)
class Protocol:
    """N generated vs N real test images, fixed seeds; declared in every report."""

    n_samples: int = 10000
    seed: int = 0
    k: int = 5
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    swd_projections: int = 256


def generate(generator, n: int, seed: int, batch_size: int = 1000) -> np.ndarray:
    """``n`` images from fixed-seed standard normal noise."""
    latent_dim = int(generator.input_shape[-1])
    noise = np.random.default_rng(seed).standard_normal((n, latent_dim)).astype(np.float32)
    return np.concatenate([np.asarray(generator(noise[i:i + batch_size], training=False))
                           for i in range(0, n, batch_size)])


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


def compute_metrics(real: np.ndarray, fake: np.ndarray, extractor: Extractor | None,
                    protocol: Protocol) -> dict[str, float]:
    """Every metric of ``fake`` against ``real`` (both images in [-1, 1])."""
    result: dict[str, float] = {
        "n_real": len(real), "n_fake": len(fake),
        "sliced_wasserstein": metrics.sliced_wasserstein(
            real, fake, protocol.swd_projections, protocol.seed),
    }
    if extractor is None:
        return result
    real_features, real_probs = extractor(real)
    fake_features, fake_probs = extractor(fake)
    result["fid"] = metrics.fid(real_features, fake_features)
    result["kid"], result["kid_std"] = metrics.kid(
        real_features, fake_features, protocol.kid_subsets, protocol.kid_subset_size,
        protocol.seed)
    result.update(metrics.precision_recall_density_coverage(real_features, fake_features,
                                                            protocol.k))
    if fake_probs is not None and real_probs is not None:
        n_classes = fake_probs.shape[1]
        predicted = fake_probs.argmax(axis=1)
        result["classifier_score"] = metrics.classifier_score(fake_probs)
        result["classes_covered"] = metrics.classes_covered(predicted, n_classes)
        result["class_kl"] = metrics.histogram_kl(
            metrics.class_histogram(predicted, n_classes),
            metrics.class_histogram(real_probs.argmax(axis=1), n_classes))
    return result


def predicted_class_histogram(images: np.ndarray, extractor: Extractor | None) -> np.ndarray:
    if extractor is None:
        return np.zeros(0)
    probabilities = extractor(images)[1]
    if probabilities is None:
        return np.zeros(0)
    return metrics.class_histogram(probabilities.argmax(axis=1), probabilities.shape[1])
