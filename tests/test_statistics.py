"""Statistics over runs against hand counts and a coverage simulation."""
import itertools

import numpy as np
import pytest

from wgan_lab.evaluation.statistics import (CONTRADICTED, INCONCLUSIVE, SUPPORTED, Interval,
                                            bootstrap_interval, compare_groups,
                                            expected_best_of_k, verdict_of_interval)


def test_bootstrap_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    trials = 300
    covered = 0
    for i in range(trials):
        sample = rng.normal(3.0, 2.0, size=30)
        interval = bootstrap_interval(sample, resamples=2000, seed=i)
        assert interval.low < interval.estimate < interval.high and interval.n == 30
        covered += interval.low <= 3.0 <= interval.high
    # Percentile intervals of a mean of 30 normals cover a little under 95%.
    assert 0.89 <= covered / trials <= 0.98


def test_bootstrap_interval_of_one_run_is_that_run_and_says_n():
    interval = bootstrap_interval([42.0, np.nan])
    assert (interval.estimate, interval.low, interval.high, interval.n) == (42.0, 42.0, 42.0, 1)
    assert str(interval).endswith("(n=1)")


def test_permutation_p_value_equals_a_hand_count():
    # Of the C(6, 3) = 20 ways to split {1..6} into two groups of three, only
    # {1,2,3} | {4,5,6} has a mean difference of -3 or less; its mirror has +3.
    # Two-sided: p = 2 * 1/20. (The reported difference is of the medians.)
    result = compare_groups([1, 2, 3], [4, 5, 6])
    assert result.exact and result.p_value == pytest.approx(0.1)
    assert result.difference.estimate == -3.0


def test_fully_separated_groups_of_five_reach_their_exact_p_value():
    # 2 of the C(10, 5) = 252 splits are as extreme: the observed one and its mirror.
    result = compare_groups([30.1, 31.0, 29.5, 32.2, 33.0], [50.0, 52.3, 55.1, 53.0, 51.4])
    assert result.exact and result.p_value == pytest.approx(2 / 252)


def test_permutation_p_value_equals_full_enumeration_on_uneven_groups():
    a, b = [1.0, 2.0, 7.5], [3.0, 4.0, 10.0, 11.0]
    pooled = a + b
    observed = np.mean(a) - np.mean(b)
    diffs = []
    for chosen in itertools.combinations(range(len(pooled)), len(a)):
        first = [pooled[i] for i in chosen]
        second = [pooled[i] for i in range(len(pooled)) if i not in chosen]
        diffs.append(np.mean(first) - np.mean(second))
    diffs = np.array(diffs)
    expected = min(1.0, 2 * min(np.mean(diffs <= observed + 1e-12),
                                np.mean(diffs >= observed - 1e-12)))
    result = compare_groups(a, b)
    assert result.exact and result.p_value == pytest.approx(expected)


def test_expected_best_of_k_matches_a_hand_computed_example():
    # Runs with FIDs 3, 1, 2. k = 1: the mean, 2. k = 2: the pairs {3,1}, {3,2},
    # {1,2} have bests 1, 2, 1: 4/3. k = 3: the best, 1.
    assert expected_best_of_k([3.0, 1.0, 2.0]) == pytest.approx([2.0, 4 / 3, 1.0])
    # Higher is better (recall): bests of pairs 3, 3, 2 -> 8/3.
    assert expected_best_of_k([3.0, 1.0, 2.0], lower_is_better=False) == pytest.approx(
        [2.0, 8 / 3, 3.0])


@pytest.mark.parametrize("low, high, bounds, verdict", [
    (0.1, 0.3, (0.0,), SUPPORTED),                  # "above 0": the whole interval is
    (-0.3, -0.1, (0.0,), CONTRADICTED),
    (-0.1, 0.3, (0.0,), INCONCLUSIVE),
    (-0.3, -0.1, (-np.inf, 0.0), SUPPORTED),       # "below 0"
    (0.1, 0.3, (-np.inf, 0.0), CONTRADICTED),
    (0.9, 1.1, (0.8, 1.2), SUPPORTED),              # "within [0.8, 1.2]"
    (1.3, 1.5, (0.8, 1.2), CONTRADICTED),           # wholly beyond the upper bound
    (0.5, 0.7, (0.8, 1.2), CONTRADICTED),           # wholly beyond the lower bound
    (1.1, 1.3, (0.8, 1.2), INCONCLUSIVE),           # straddles a bound
])
def test_verdict_of_an_interval_against_its_bounds(low, high, bounds, verdict):
    assert verdict_of_interval(Interval((low + high) / 2, low, high, 5), *bounds) == verdict


def test_verdict_of_an_interval_of_one_value_is_inconclusive():
    assert verdict_of_interval(Interval(5.0, 5.0, 5.0, 1)) == INCONCLUSIVE
