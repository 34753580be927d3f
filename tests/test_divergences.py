"""Ground-truth distances against values worked out by hand."""
import itertools

import numpy as np
import pytest

from wgan_lab.evaluation.divergences import (LOG2, Divergences, exact_w1, gaussian_js,
                                             gaussian_kl, gaussian_w1,
                                             js_from_discriminator_value,
                                             optimal_discriminator, parallel_segments)


def test_w1_of_point_masses_is_their_distance():
    assert exact_w1(np.zeros((5, 2)), np.full((5, 2), [3.0, 4.0])) == pytest.approx(5.0)


def test_w1_finds_the_crossing_free_matching():
    # On a line, matching sorted to sorted is optimal: {0, 1, 5} -> {2, 3, 4} costs
    # (2 + 2 + 1) / 3; the identity order given (0->4, 1->3, 5->2) would cost 8/3.
    a = np.array([[0.0], [1.0], [5.0]])
    b = np.array([[4.0], [3.0], [2.0]])
    assert exact_w1(a, b) == pytest.approx(5 / 3)


def test_w1_is_the_smallest_matching_cost_of_every_permutation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 2)), rng.normal(1.0, 1.0, size=(6, 2))
    brute = min(np.mean([np.linalg.norm(a[i] - b[j]) for i, j in enumerate(perm)])
                for perm in itertools.permutations(range(6)))
    assert exact_w1(a, b) == pytest.approx(brute)


def test_w1_needs_equal_sizes():
    with pytest.raises(ValueError, match="equal size"):
        exact_w1(np.zeros((3, 2)), np.zeros((4, 2)))


def test_parallel_segments_only_w1_moves():
    assert parallel_segments(0.0) == Divergences(kl=0.0, js=0.0, tv=0.0, w1=0.0)
    for theta in (-0.5, 1e-6, 0.3, 2.0):
        d = parallel_segments(theta)
        assert d.js == pytest.approx(np.log(2)) and d.tv == 1.0 and np.isinf(d.kl)
        assert d.w1 == pytest.approx(abs(theta))


def test_gaussian_closed_forms():
    # KL(N(0,1) || N(1,1)) = 1/2; KL(N(0,1) || N(0,2)) = log 2 + 1/8 - 1/2.
    assert gaussian_kl(0, 1, 1, 1) == pytest.approx(0.5)
    assert gaussian_kl(0, 1, 0, 2) == pytest.approx(np.log(2) + 1 / 8 - 1 / 2)
    assert gaussian_w1(0, 1, 3, 1) == pytest.approx(3.0)
    # Same mean, widths 1 and 2: E|Z| * (2 - 1) = sqrt(2 / pi).
    assert gaussian_w1(0, 1, 0, 2) == pytest.approx(np.sqrt(2 / np.pi), rel=1e-6)


def test_gaussian_js_from_zero_to_log_2():
    assert gaussian_js(0, 1, 0, 1) == pytest.approx(0.0, abs=1e-9)
    assert gaussian_js(0, 1, 40, 1) == pytest.approx(LOG2, abs=1e-6)
    # Against a Monte Carlo estimate of the same integral.
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, 400_000), rng.normal(1.5, 1, 400_000)

    def log_ratio(z, own_mu, other_mu):
        own = np.exp(-(z - own_mu) ** 2 / 2)
        return np.log(2 * own / (own + np.exp(-(z - other_mu) ** 2 / 2)))
    monte_carlo = 0.5 * (log_ratio(x, 0, 1.5).mean() + log_ratio(y, 1.5, 0).mean())
    assert gaussian_js(0, 1, 1.5, 1) == pytest.approx(monte_carlo, abs=2e-3)


def test_optimal_discriminator_and_the_js_it_implies():
    assert optimal_discriminator(np.array([1.0, 0.0, 0.0, 3.0]),
                                 np.array([1.0, 2.0, 0.0, 1.0])).tolist() == [0.5, 0.0, 0.5, 0.75]
    # Disjoint supports: D* is 1 on the data and 0 on the samples; the objective is 0,
    # which implies JS = log 2. Identical distributions: D* = 1/2, objective -log 4, JS 0.
    assert js_from_discriminator_value(0.0) == pytest.approx(LOG2)
    assert js_from_discriminator_value(2 * np.log(0.5)) == pytest.approx(0.0)
