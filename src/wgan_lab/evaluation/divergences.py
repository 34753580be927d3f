"""Distances between distributions where the truth is known: the ground truth the
theory experiments (issue #22) hold trained discriminators and critics against.

- ``exact_w1``: the Wasserstein-1 distance between two equal-size sample sets,
  exactly, as the mean cost of an optimal one-to-one assignment (for equal-size
  empirical measures an optimal transport plan is a permutation).
- ``parallel_segments``: Arjovsky et al. (2017), Example 1: P0 uniform on the
  segment {0} x [0, 1], P_theta the same segment at x = theta. KL, JS, total
  variation and W1 in closed form: every divergence but W1 jumps at theta = 0 and
  is flat elsewhere.
- ``gaussian_kl``, ``gaussian_w1``, ``gaussian_js``: two 1-D Gaussians (KL and W1
  in closed form, JS by quadrature).
- ``optimal_discriminator``: D*(x) = p_r(x) / (p_r(x) + p_g(x)) (Goodfellow et al.
  2014, Proposition 1), and ``js_from_discriminator_value``: at D*, the minimax
  objective is -log 4 + 2 JS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, spatial, stats

LOG2 = float(np.log(2.0))


def exact_w1(a: np.ndarray, b: np.ndarray) -> float:
    """W1 between the empirical measures of ``a`` and ``b`` (n points each, any
    dimension; Euclidean ground cost), by an optimal assignment."""
    a = np.asarray(a, dtype=float).reshape(len(a), -1)
    b = np.asarray(b, dtype=float).reshape(len(b), -1)
    if len(a) != len(b) or len(a) == 0:
        raise ValueError(f"exact_w1 needs two non-empty sets of equal size (got {len(a)} "
                         f"and {len(b)})")
    cost = spatial.distance.cdist(a, b)
    rows, cols = optimize.linear_sum_assignment(cost)
    return float(cost[rows, cols].mean())


@dataclass(frozen=True)
class Divergences:
    kl: float
    js: float
    tv: float
    w1: float


def parallel_segments(theta: float) -> Divergences:
    """Arjovsky et al. (2017), Example 1, in closed form (JS in nats)."""
    if theta == 0:
        return Divergences(kl=0.0, js=0.0, tv=0.0, w1=0.0)
    return Divergences(kl=float("inf"), js=LOG2, tv=1.0, w1=abs(float(theta)))


def gaussian_kl(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """KL(N(mu_p, sigma_p^2) || N(mu_q, sigma_q^2)), in nats."""
    return float(np.log(sigma_q / sigma_p)
                 + (sigma_p ** 2 + (mu_p - mu_q) ** 2) / (2 * sigma_q ** 2) - 0.5)


def gaussian_w1(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """W1 between two 1-D Gaussians: the L1 distance between their quantile functions,
    |mu_p - mu_q| when the widths are equal."""
    if sigma_p == sigma_q:
        return abs(float(mu_p - mu_q))
    quantile = stats.norm.ppf

    def gap(u: float) -> float:
        return abs((mu_p + sigma_p * quantile(u)) - (mu_q + sigma_q * quantile(u)))
    return float(integrate.quad(gap, 0, 1, limit=200)[0])


def gaussian_js(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """JS between two 1-D Gaussians, in nats (at most log 2), by quadrature."""
    p, q = stats.norm(mu_p, sigma_p), stats.norm(mu_q, sigma_q)
    low = min(mu_p - 12 * sigma_p, mu_q - 12 * sigma_q)
    high = max(mu_p + 12 * sigma_p, mu_q + 12 * sigma_q)

    def half(x: float, own, other) -> float:
        a, b = own.pdf(x), other.pdf(x)
        return 0.0 if a == 0 else a * np.log(2 * a / (a + b))
    points = [mu_p, mu_q]
    js = 0.5 * (integrate.quad(half, low, high, args=(p, q), points=points, limit=400)[0]
                + integrate.quad(half, low, high, args=(q, p), points=points, limit=400)[0])
    return float(min(max(js, 0.0), LOG2))


def optimal_discriminator(p_real: np.ndarray, p_generated: np.ndarray) -> np.ndarray:
    """D*(x) = p_r(x) / (p_r(x) + p_g(x)) from the two densities at the same points
    (0.5 where both are 0)."""
    p_real, p_generated = np.asarray(p_real, float), np.asarray(p_generated, float)
    total = p_real + p_generated
    return np.divide(p_real, total, out=np.full_like(total, 0.5), where=total > 0)


def js_from_discriminator_value(value: float) -> float:
    """The JS divergence implied by the minimax objective's value at an optimal
    discriminator, E_r[log D] + E_g[log(1 - D)] = -log 4 + 2 JS."""
    return float((value + 2 * LOG2) / 2)
