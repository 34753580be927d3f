"""Statistics over repeated runs: confidence intervals, permutation tests, best of k.

One run per variant cannot tell a better loss from a lucky seed (Lucic et al.
2018). These functions turn several runs into statements with their
uncertainty; the resampling itself is SciPy's.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import comb, inf

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A statistic with its bootstrap confidence interval over ``n`` values."""

    estimate: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{self.estimate:.3g} [{self.low:.3g}, {self.high:.3g}] (n={self.n})"


def bootstrap_interval(values, statistic=np.mean, confidence: float = CONFIDENCE,
                       resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """``statistic`` (a NumPy reduction taking ``axis``, like np.mean) of ``values``
    with a seeded percentile bootstrap interval.

    With one value, or values all equal, the interval is that value (there is
    nothing to resample); callers print ``n`` beside it so that a narrow
    interval from few runs is not mistaken for certainty.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return Interval(np.nan, np.nan, np.nan, 0)
    estimate = float(statistic(values))
    if len(values) == 1 or np.all(values == values[0]):
        return Interval(estimate, estimate, estimate, len(values))
    result = stats.bootstrap((values,), statistic, n_resamples=resamples,
                             confidence_level=confidence, method="percentile",
                             rng=np.random.default_rng(seed), vectorized=True)
    low, high = result.confidence_interval
    return Interval(estimate, float(low), float(high), len(values))


# Statistics take `axis` so that SciPy resamples them vectorized (thousands of
# resamples in one NumPy call instead of a Python call each).
def median_difference(a, b, axis=-1):
    return np.median(a, axis=axis) - np.median(b, axis=axis)


@dataclass(frozen=True)
class Comparison:
    """Two groups of runs: the difference of medians, its interval, and a p-value."""

    difference: Interval
    p_value: float
    exact: bool


def mean_difference(a, b, axis=-1):
    return np.mean(a, axis=axis) - np.mean(b, axis=axis)


def compare_groups(a, b, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                   seed: int = 0) -> Comparison:
    """Median(a) - median(b) with a bootstrap interval (both groups resampled), and a
    two-sided permutation test, exact when the relabellings are at most ``resamples``.

    The test permutes the difference of means: with five runs a side the
    median's null distribution is so coarse (most relabellings keep the two
    middle values) that even fully separated groups get p = 1/3; the mean
    gives separated groups of five their exact p = 2/252.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    estimate = float(median_difference(a, b))
    if len(a) < 2 or len(b) < 2:
        return Comparison(Interval(estimate, np.nan, np.nan, min(len(a), len(b))), np.nan, False)
    rng = np.random.default_rng(seed)
    interval = stats.bootstrap((a, b), median_difference, n_resamples=resamples,
                               confidence_level=confidence, method="percentile",
                               rng=rng, vectorized=True)
    relabellings = comb(len(a) + len(b), len(a))
    test = stats.permutation_test((a, b), mean_difference, permutation_type="independent",
                                  alternative="two-sided", n_resamples=resamples,
                                  vectorized=True, rng=rng)
    low, high = interval.confidence_interval
    return Comparison(Interval(estimate, float(low), float(high), min(len(a), len(b))),
                      float(test.pvalue), relabellings <= resamples)


def kendall_tau(x, y, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                seed: int = 0) -> Interval:
    """Kendall's tau-b between paired values (two evaluators' scores of the same runs),
    with a percentile bootstrap interval that resamples the pairs. Pairs with a
    missing value are left out; fewer than three pairs give no interval."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return Interval(np.nan, np.nan, np.nan, len(x))
    estimate = float(stats.kendalltau(x, y).statistic)
    if len(x) < 3 or not np.isfinite(estimate):
        return Interval(estimate, np.nan, np.nan, len(x))

    def tau(a, b):
        value = stats.kendalltau(a, b).statistic
        # A resample of tied values has no tau: count it as no agreement.
        return 0.0 if not np.isfinite(value) else value

    result = stats.bootstrap((x, y), tau, paired=True, vectorized=False,
                             n_resamples=resamples, confidence_level=confidence,
                             method="percentile", rng=np.random.default_rng(seed))
    low, high = result.confidence_interval
    return Interval(estimate, float(low), float(high), len(x))


def best_of_k_quantiles(values, q: float) -> np.ndarray:
    """The q-quantile (inverted CDF) of the best (lowest) of k values drawn without
    replacement from ``values``, for k = 1..n, exactly: with the values sorted,
    P(best of k <= the i-th smallest) = 1 - C(n - i, k) / C(n, k).

    Lucic et al.'s budget-curve band, computed instead of sampled from shuffles.
    +inf (a trial that found nothing) sorts last like any value.
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    out = np.empty(n)
    for k in range(1, n + 1):
        cdf = np.array([1 - comb(n - i, k) / comb(n, k) for i in range(1, n + 1)])
        # A tolerance for the float sums: a CDF equal to q is at the quantile.
        out[k - 1] = ordered[int(np.argmax(cdf >= q - 1e-12))]
    return out


def expected_best_of_k(values, lower_is_better: bool = True) -> np.ndarray:
    """E[best of k runs drawn without replacement from ``values``], for k = 1..n.

    Lucic et al.'s curve: what a user who can afford k runs should expect.
    With the values sorted best first, the i-th (1-based) is the best of a
    random k-subset with probability C(n - i, k - 1) / C(n, k).
    """
    ordered = np.sort(np.asarray(values, dtype=float))
    if not lower_is_better:
        ordered = ordered[::-1]
    n = len(ordered)
    return np.array([sum(ordered[i - 1] * comb(n - i, k - 1) for i in range(1, n + 1))
                     / comb(n, k) for k in range(1, n + 1)])


# What a claim's test concluded, at level alpha.
SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"


def verdict_of_comparison(comparison: Comparison, alpha: float, better_when_negative: bool) -> str:
    """A claim that group a differs from group b in one direction: supported when the
    permutation test rejects at ``alpha`` and the difference points that way,
    contradicted when it points the other way, else inconclusive."""
    if not np.isfinite(comparison.p_value) or comparison.p_value >= alpha:
        return INCONCLUSIVE
    negative = comparison.difference.estimate < 0
    return SUPPORTED if negative == better_when_negative else CONTRADICTED


def verdict_of_interval(interval: Interval, above: float = 0.0, below: float = inf) -> str:
    """A claim that a quantity lies above ``above`` and below ``below``: supported when
    its whole interval does, contradicted when the whole interval lies beyond either
    bound; inconclusive otherwise or with fewer than two values."""
    if interval.n < 2 or not np.isfinite(interval.low):
        return INCONCLUSIVE
    if above < interval.low and interval.high < below:
        return SUPPORTED
    if interval.high < above or interval.low > below:
        return CONTRADICTED
    return INCONCLUSIVE
