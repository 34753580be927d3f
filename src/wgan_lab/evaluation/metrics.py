"""Sample-quality metrics on feature vectors, class predictions and pixels.

Feature-space metrics take two [N, D] arrays (real, generated); references:
FID (Heusel et al. 2017), KID (Binkowski et al. 2018), precision/recall
(Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020).
"""
from __future__ import annotations

import numpy as np


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between two Gaussians."""
    diff = mu1 - mu2
    # Tr((S1 S2)^(1/2)) = sum of sqrt(eigenvalues of S1^(1/2) S2 S1^(1/2)), a
    # symmetric PSD matrix: exact with eigh, where sqrtm of the non-symmetric
    # product warns and loses accuracy on the singular covariances that dead
    # ReLU features give.
    root1 = _psd_sqrt(sigma1)
    eigenvalues = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_sqrt = np.sqrt(np.clip(eigenvalues, 0.0, None)).sum()
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    eigenvalues, vectors = np.linalg.eigh((matrix + matrix.T) / 2.0)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(features, dtype=np.float64)
    return features.mean(axis=0), np.cov(features, rowvar=False)


def fid(real: np.ndarray, fake: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two feature sets."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))


def kid(real: np.ndarray, fake: np.ndarray, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2 with the cubic polynomial kernel, mean and std over random subsets."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    dim = real.shape[1]
    m = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = real[rng.choice(len(real), m, replace=False)]
        y = fake[rng.choice(len(fake), m, replace=False)]
        kxx = (x @ x.T / dim + 1) ** 3
        kyy = (y @ y.T / dim + 1) ** 3
        kxy = (x @ y.T / dim + 1) ** 3
        values[i] = ((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                     + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                     - 2 * kxy.mean())
    return float(values.mean()), float(values.std())


def _pairwise_sq_dists(a: np.ndarray, b: np.ndarray, chunk: int = 2048):
    """Yield (start, squared distances of a[start:start+chunk] to all of b)."""
    b_norms = (b * b).sum(axis=1)
    for start in range(0, len(a), chunk):
        block = a[start:start + chunk]
        d = (block * block).sum(axis=1)[:, None] + b_norms[None, :] - 2.0 * block @ b.T
        yield start, np.maximum(d, 0.0)


def knn_radii(features: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each point to its k-th nearest other point in the same set."""
    radii = np.empty(len(features))
    for start, d in _pairwise_sq_dists(features, features):
        # Column k of the sorted row is the k-th neighbour (column 0 is the point itself).
        radii[start:start + len(d)] = np.partition(d, k, axis=1)[:, k]
    return radii


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, k: int = 5
                                      ) -> dict[str, float]:
    """k-NN manifold metrics: precision, recall, density and coverage."""
    real = np.asarray(real, np.float32)
    fake = np.asarray(fake, np.float32)
    real_radii, fake_radii = knn_radii(real, k), knn_radii(fake, k)
    # For each fake: in how many real balls does it fall; for each real: the nearest fake.
    in_real_balls = np.zeros(len(fake))
    nearest_fake = np.full(len(real), np.inf)
    for start, d in _pairwise_sq_dists(fake, real):
        inside = d <= real_radii[None, :]
        in_real_balls[start:start + len(d)] = inside.sum(axis=1)
        np.minimum(nearest_fake, d.min(axis=0), out=nearest_fake)
    real_in_fake_balls = np.zeros(len(real), bool)
    for start, d in _pairwise_sq_dists(real, fake):
        real_in_fake_balls[start:start + len(d)] = (d <= fake_radii[None, :]).any(axis=1)
    return {
        "precision": float((in_real_balls > 0).mean()),
        "recall": float(real_in_fake_balls.mean()),
        "density": float(in_real_balls.sum() / (k * len(fake))),
        "coverage": float((nearest_fake <= real_radii).mean()),
    }


def classifier_score(probabilities: np.ndarray, eps: float = 1e-12) -> float:
    """exp(E_x KL(p(y|x) || p(y))): the Inception Score computed with the domain classifier."""
    p = np.asarray(probabilities, np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def class_histogram(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    return np.bincount(predicted, minlength=n_classes) / max(len(predicted), 1)


def classes_covered(predicted: np.ndarray, n_classes: int, min_share: float = 0.1) -> int:
    """Classes predicted for at least ``min_share`` of their uniform share (N / classes)."""
    histogram = class_histogram(predicted, n_classes)
    return int((histogram >= min_share / n_classes).sum())


def histogram_kl(p: np.ndarray, q: np.ndarray, eps: float = 1e-6) -> float:
    """KL(p || q) of two class histograms, smoothed so empty classes stay finite."""
    p = (np.asarray(p, np.float64) + eps) / (1 + eps * len(p))
    q = (np.asarray(q, np.float64) + eps) / (1 + eps * len(q))
    return float((p * np.log(p / q)).sum())


def sliced_wasserstein(real: np.ndarray, fake: np.ndarray, projections: int = 256,
                       seed: int = 0) -> float:
    """Mean 1-D Wasserstein-1 distance over random unit directions in pixel space."""
    x = np.asarray(real, np.float32).reshape(len(real), -1)
    y = np.asarray(fake, np.float32).reshape(len(fake), -1)
    n = min(len(x), len(y))
    rng = np.random.default_rng(seed)
    x, y = x[rng.choice(len(x), n, replace=False)], y[rng.choice(len(y), n, replace=False)]
    directions = rng.standard_normal((x.shape[1], projections)).astype(np.float32)
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    px, py = np.sort(x @ directions, axis=0), np.sort(y @ directions, axis=0)
    return float(np.abs(px - py).mean())
