"""Sample-quality metrics on feature vectors, class predictions and pixels.

Feature-space metrics take two [N, D] arrays (real, generated); references:
FID (Heusel et al. 2017), KID (Binkowski et al. 2018), precision/recall
(Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wgan_lab.core import Registry

from .features import classification_accuracy_score


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


# ----- the registry: every number of the evaluation protocol, once -------------
class Samples:
    """What the metrics of one comparison read: both image sets, and the domain
    features and class probabilities of each (None without a feature space).
    Metrics computed together (KID and its spread; precision, recall, density and
    coverage) are computed once."""

    def __init__(self, real, fake, protocol, real_out=None, fake_out=None,
                 real_labels=None, fake_labels=None, recipe=None) -> None:
        self.real, self.fake, self.protocol = real, fake, protocol
        self.real_features, self.real_probs = real_out if real_out is not None else (None, None)
        self.fake_features, self.fake_probs = fake_out if fake_out is not None else (None, None)
        # Labelled samples (a conditional generator's asked classes, the real test
        # labels), and the classifier recipe that CAS trains.
        self.real_labels, self.fake_labels, self.recipe = real_labels, fake_labels, recipe

    @functools.cached_property
    def kid(self) -> tuple[float, float]:
        p = self.protocol
        return kid(self.real_features, self.fake_features, p.kid_subsets, p.kid_subset_size,
                   p.seed)

    @functools.cached_property
    def prdc(self) -> dict[str, float]:
        return precision_recall_density_coverage(self.real_features, self.fake_features,
                                                 self.protocol.k)

    @functools.cached_property
    def predicted(self) -> tuple[np.ndarray, np.ndarray, int]:
        n_classes = self.fake_probs.shape[1]
        return self.fake_probs.argmax(axis=1), self.real_probs.argmax(axis=1), n_classes

    @functools.cached_property
    def per_class(self) -> dict[str, np.ndarray]:
        """Per asked class: the share of its samples the domain classifier puts in it,
        and the FID of its samples against the real test images of that class."""
        classes = np.unique(self.fake_labels)
        accuracy = np.array([np.mean(self.fake_probs[self.fake_labels == c].argmax(axis=1) == c)
                             for c in classes])
        fids = np.array([fid(self.real_features[self.real_labels == c],
                             self.fake_features[self.fake_labels == c]) for c in classes])
        return {"accuracy": accuracy, "fid": fids}

    def has(self, needs: str) -> bool:
        if needs == "features":
            return self.real_features is not None and self.fake_features is not None
        if needs == "classes":
            return self.real_probs is not None and self.fake_probs is not None
        if needs == "labels":
            return (self.has("classes") and self.has("features")
                    and self.real_labels is not None and self.fake_labels is not None)
        if needs == "recipe":
            return (self.real_labels is not None and self.fake_labels is not None
                    and self.recipe is not None)
        return True


@dataclass(frozen=True)
class Metric:
    """One number of the protocol: its label in reports, which way is better (None: a
    spread, no better way), what it reads, how it is computed, and whether the
    study's summary table leads with it."""

    label: str
    lower_is_better: bool | None
    needs: str                      # pixels | features | classes | labels | recipe
    compute: Callable[[Samples], float]
    headline: bool = False


METRICS: Registry[Metric] = Registry("metric", {
    "sliced_wasserstein": Metric(
        "sliced Wasserstein (pixels)", True, "pixels",
        lambda s: sliced_wasserstein(s.real, s.fake, s.protocol.swd_projections, s.protocol.seed)),
    "fid": Metric("FID (lower is better)", True, "features",
                  lambda s: fid(s.real_features, s.fake_features), headline=True),
    "kid": Metric("KID", True, "features", lambda s: s.kid[0], headline=True),
    "kid_std": Metric("KID std", None, "features", lambda s: s.kid[1]),
    "precision": Metric("precision", False, "features", lambda s: s.prdc["precision"],
                        headline=True),
    "recall": Metric("recall", False, "features", lambda s: s.prdc["recall"], headline=True),
    "density": Metric("density", False, "features", lambda s: s.prdc["density"]),
    "coverage": Metric("coverage", False, "features", lambda s: s.prdc["coverage"]),
    "classifier_score": Metric("classifier score", False, "classes",
                               lambda s: classifier_score(s.fake_probs)),
    "classes_covered": Metric("classes covered", False, "classes",
                              lambda s: classes_covered(s.predicted[0], s.predicted[2]),
                              headline=True),
    "class_kl": Metric("class KL", True, "classes", lambda s: histogram_kl(
        class_histogram(s.predicted[0], s.predicted[2]),
        class_histogram(s.predicted[1], s.predicted[2]))),
    # Conditional generation: samples of asked classes, against the labelled test set.
    "class_accuracy": Metric("class accuracy (asked class predicted)", False, "labels",
                             lambda s: float(s.per_class["accuracy"].mean())),
    "class_accuracy_worst": Metric("class accuracy, worst class", False, "labels",
                                   lambda s: float(s.per_class["accuracy"].min())),
    "intra_fid": Metric("intra-class FID, mean", True, "labels",
                        lambda s: float(s.per_class["fid"].mean())),
    "intra_fid_worst": Metric("intra-class FID, worst class", True, "labels",
                              lambda s: float(s.per_class["fid"].max())),
    "cas": Metric("classification accuracy score (CAS)", False, "recipe",
                  lambda s: classification_accuracy_score(s.fake, s.fake_labels, s.real,
                                                          s.real_labels, s.recipe)),
})
