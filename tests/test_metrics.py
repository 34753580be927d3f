"""Metrics against closed forms and known answers."""
import numpy as np
import pytest

from wgan_lab.evaluation import metrics
from wgan_lab.evaluation.evaluate import Protocol, compute_metrics


def test_frechet_distance_closed_form_for_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 4))
    sigma1 = a @ a.T + np.eye(4)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    # Same covariance: only the means differ.
    assert metrics.frechet_distance(mu1, sigma1, mu2, sigma1) == pytest.approx(
        np.sum((mu1 - mu2) ** 2), rel=1e-6)
    # Diagonal covariances: sum of (sqrt(s1) - sqrt(s2))^2 per axis.
    s1, s2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 16.0])
    expected = np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2) + 1.0
    got = metrics.frechet_distance(np.zeros(3), np.diag(s1), np.array([1.0, 0, 0]), np.diag(s2))
    assert got == pytest.approx(expected, rel=1e-6)


def test_fid_of_large_samples_approaches_the_closed_form():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (20000, 3))
    y = rng.normal(0.5, 2, (20000, 3))
    expected = 3 * 0.25 + 3 * (1 - 2) ** 2
    assert metrics.fid(x, y) == pytest.approx(expected, rel=0.05)


def test_kid_is_unbiased_near_zero_for_the_same_distribution():
    rng = np.random.default_rng(2)
    same = [metrics.kid(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)),
                        subsets=20, subset_size=500, seed=s)[0] for s in range(5)]
    assert abs(np.mean(same)) < 0.01
    # A biased estimator would be positive every time; unbiased ones go both ways.
    assert min(same) < 0.0 < max(same) or abs(np.mean(same)) < 1e-3
    shifted, _ = metrics.kid(rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8)) + 1,
                             subsets=20, subset_size=500)
    assert shifted > 0.5


def test_precision_recall_on_point_sets_with_known_answers():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((500, 2))
    assert metrics.precision_recall_density_coverage(real, real + 100) == {
        "precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}
    same = metrics.precision_recall_density_coverage(real, real.copy())
    assert same["precision"] == 1.0 and same["recall"] == 1.0 and same["coverage"] == 1.0
    # Fakes only in one half of the real cloud: precise, but half the recall/coverage.
    half = real[real[:, 0] > 0]
    result = metrics.precision_recall_density_coverage(real, half)
    assert result["precision"] == 1.0
    assert 0.3 < result["recall"] < 0.7 and 0.3 < result["coverage"] < 0.7


def test_classifier_score_and_class_coverage():
    uniform_confident = np.eye(10)[np.arange(1000) % 10]
    assert metrics.classifier_score(uniform_confident) == pytest.approx(10, rel=1e-6)
    collapsed = np.eye(10)[np.zeros(1000, int)]
    assert metrics.classifier_score(collapsed) == pytest.approx(1, rel=1e-6)
    assert metrics.classes_covered(np.arange(1000) % 10, 10) == 10
    assert metrics.classes_covered(np.zeros(1000, int), 10) == 1
    p = metrics.class_histogram(np.arange(100) % 10, 10)
    assert metrics.histogram_kl(p, p) == pytest.approx(0, abs=1e-9)
    assert metrics.histogram_kl(metrics.class_histogram(np.zeros(10, int), 10), p) > 2


def test_sliced_wasserstein_zero_for_same_and_grows_with_shift():
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 1, (1000, 4, 4, 1))
    assert metrics.sliced_wasserstein(x, x) == pytest.approx(0, abs=1e-6)
    d1 = metrics.sliced_wasserstein(x, x + 0.1)
    d2 = metrics.sliced_wasserstein(x, x + 0.5)
    assert 0 < d1 < d2


def test_pixel_only_protocol_without_extractor():
    x = np.zeros((10, 4, 4, 1), np.float32)
    result = compute_metrics(x, x + 0.5, None, Protocol(n_samples=10))
    assert set(result) == {"n_real", "n_fake", "sliced_wasserstein"}
