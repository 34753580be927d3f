"""The intervals the reports print cover at their stated level.

Coverage is simulated: many samples from distributions whose true mean,
median difference or best-of-k quantiles are known, each through the same
function the study and tuning reports call, and the fraction of intervals
holding the truth compared with the stated level. The budget curve's band is
checked against its exact distribution, computed here by counting, and against
shuffled orders.
"""
from __future__ import annotations

from math import comb

import numpy as np
import pandas as pd
import pytest

from wgan_lab.evaluation.statistics import bootstrap_interval, compare_groups
from wgan_lab.experiments.analysis import pairwise, summary
from wgan_lab.experiments.seeds import StudySettings
from wgan_lab.reporting.tune import budget_curve

REPETITIONS = 400
N = 25  # per group: the percentile bootstrap is near its level from about here on


def settings(**overrides) -> StudySettings:
    values = {"name": "coverage", "variants": ("a", "b"), "seeds": tuple(range(N)),
              "storage": "sqlite://", "checkpoint_root": "", **overrides}
    return StudySettings(**values)


def coverage_bounds(level: float) -> tuple[float, float]:
    """Where the observed coverage of REPETITIONS intervals may fall: the level, less
    the percentile bootstrap's known small-sample shortfall (about 2 points at n = 25),
    widened by four binomial standard errors."""
    se = np.sqrt(level * (1 - level) / REPETITIONS)
    return level - 0.03 - 4 * se, min(1.0, level + 4 * se)


def test_study_summary_interval_covers_the_true_mean_at_95_percent():
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(REPETITIONS):
        values = rng.exponential(2.0, N)  # skewed, true mean 2
        table = pd.DataFrame({"variant": "a", "seed": range(N), "status": "complete",
                              "fid": values})
        row = summary(table, settings(variants=("a",))).iloc[0]
        hits += row["ci_low"] <= 2.0 <= row["ci_high"]
    low, high = coverage_bounds(0.95)
    assert low <= hits / REPETITIONS <= high


@pytest.mark.parametrize("confidence", [0.8, 0.95])
def test_bootstrap_interval_covers_at_the_level_asked(confidence):
    rng = np.random.default_rng(int(confidence * 100))
    hits = sum(bootstrap_interval(v, np.mean, confidence=confidence, seed=i).low <= 5.0
               <= bootstrap_interval(v, np.mean, confidence=confidence, seed=i).high
               for i, v in enumerate(rng.normal(5.0, 3.0, (REPETITIONS, N))))
    low, high = coverage_bounds(confidence)
    assert low <= hits / REPETITIONS <= high


def test_pairwise_interval_covers_the_true_median_difference():
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(REPETITIONS // 2):
        # Skewed: the medians differ by 3 ln 2, the means by 3.
        a, b = rng.exponential(4.0, N), rng.exponential(1.0, N)
        table = pd.DataFrame({"variant": ["a"] * N + ["b"] * N, "seed": list(range(N)) * 2,
                              "status": "complete", "fid": np.concatenate([a, b])})
        row = pairwise(table, settings()).iloc[0]
        hits += row["ci_low"] <= 3.0 * np.log(2) <= row["ci_high"]
    se = np.sqrt(0.95 * 0.05 / (REPETITIONS // 2))
    assert 0.95 - 0.03 - 4 * se <= hits / (REPETITIONS // 2) <= 0.95 + 4 * se


def test_pairwise_interval_is_scipys_percentile_bootstrap_at_95_percent():
    """The level itself, pinned: coverage from a few hundred repetitions cannot tell
    a 90% interval from a 95% one, this can. The same resamples (seed, count) through
    scipy at 0.95 give the same bounds; at 0.90 they differ."""
    from scipy import stats

    rng = np.random.default_rng(8)
    a, b = rng.exponential(4.0, 9), rng.exponential(1.0, 7)
    table = pd.DataFrame({"variant": ["a"] * 9 + ["b"] * 7, "seed": [*range(9), *range(7)],
                          "status": "complete", "fid": np.concatenate([a, b])})
    study = settings(seeds=tuple(range(9)))
    row = pairwise(table, study).iloc[0]

    def bounds(level):
        result = stats.bootstrap(
            (a, b), lambda x, y, axis=-1: np.median(x, axis=axis) - np.median(y, axis=axis),
            n_resamples=study.resamples, confidence_level=level, method="percentile",
            rng=np.random.default_rng(study.bootstrap_seed), vectorized=True)
        return tuple(result.confidence_interval)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(bounds(0.95), rel=1e-12)
    assert (row["ci_low"], row["ci_high"]) != pytest.approx(bounds(0.90), rel=1e-3)


def test_permutation_p_value_is_uniform_under_the_null():
    """Equal groups: p < 0.05 in about 5% of the comparisons, the verdicts' false alarms."""
    rng = np.random.default_rng(5)
    p = np.array([compare_groups(rng.normal(0, 1, 8), rng.normal(0, 1, 8), seed=i).p_value
                  for i in range(REPETITIONS)])
    se = np.sqrt(0.05 * 0.95 / REPETITIONS)
    assert abs(np.mean(p < 0.05) - 0.05) <= 4 * se
    # Two-sided: a shift either way is found.
    a, b = rng.normal(0, 1, 8), rng.normal(0, 1, 8)
    assert compare_groups(a + 3, b).p_value < 0.01 and compare_groups(a, b + 3).p_value < 0.01


def exact_best_of_first_k_quantile(values: np.ndarray, k: int, q: float) -> float:
    """The q-quantile (inverted CDF) of min(first k of a random order of ``values``):
    P(min <= v_(i)) = 1 - C(n - i, k) / C(n, k) for the i-th smallest value."""
    ordered = np.sort(values)
    n = len(ordered)
    for i in range(1, n + 1):
        if 1 - comb(n - i, k) / comb(n, k) >= q:
            return float(ordered[i - 1])
    return float(ordered[-1])


def test_budget_curve_band_is_the_exact_best_of_k_distribution():
    values = np.array([9.0, 4.0, 7.0, 1.0, 8.0, 3.0, 6.0, 2.0, 5.0, 10.0, 11.0, 12.0])
    curve = budget_curve(values)
    n = len(values)
    for k in range(1, n + 1):
        for q, key in ((0.05, "low"), (0.5, "median"), (0.95, "high")):
            assert curve[key][k - 1] == exact_best_of_first_k_quantile(values, k, q), (k, key)
    # ... which is what shuffling the trials converges to.
    rng = np.random.default_rng(1)
    best = np.minimum.accumulate(np.array([rng.permutation(values) for _ in range(20000)]), axis=1)
    for q, key in ((0.05, "low"), (0.5, "median"), (0.95, "high")):
        sampled = np.quantile(best, q, axis=0, method="inverted_cdf")
        cdf_gap = [min(abs(1 - comb(n - i, k) / comb(n, k) - q) for i in range(1, n + 1))
                   for k in range(1, n + 1)]
        # Away from a jump of the CDF, 20,000 shuffles land on the exact quantile.
        for k in range(n):
            if cdf_gap[k] > 0.01:
                assert sampled[k] == curve[key][k], (k, key)
    np.testing.assert_array_equal(curve["as_run"], np.minimum.accumulate(values))
