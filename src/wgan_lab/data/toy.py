"""Low-dimensional distributions whose structure is known, for the theory runs (#22):
the toy datasets of the WGAN-GP paper (Gulrajani et al. 2017, its published toy code):
8 Gaussians on a ring, 25 on a grid, the Swiss roll; and what a sample of them
covers: modes hit, and the fraction of high-quality samples, within 3 standard
deviations of a mode (as in the Unrolled GAN and VEEGAN papers).

``TOY_SOURCES`` is the registry: a name -> how to sample it, and its mode centres
and spread where it has modes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from wgan_lab.core import Registry


@dataclass(frozen=True)
class ToySource:
    sample: Callable[[int, np.random.Generator], np.ndarray]
    # Mode centres (k x 2) and their standard deviation; None for a manifold.
    centres: np.ndarray | None
    std: float
    summary: str


def _mixture(centres: np.ndarray, std: float) -> Callable[[int, np.random.Generator], np.ndarray]:
    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        picked = centres[rng.integers(0, len(centres), n)]
        return (picked + std * rng.standard_normal((n, 2))).astype(np.float32)
    return sample


def _swiss_roll(n: int, rng: np.random.Generator) -> np.ndarray:
    # scikit-learn's make_swiss_roll (x, z plane), noise 0.25, scaled by 1/7.5 as in
    # the WGAN-GP toy code.
    t = 1.5 * np.pi * (1 + 2 * rng.random(n))
    points = np.stack([t * np.cos(t), t * np.sin(t)], axis=1)
    return ((points + 0.25 * rng.standard_normal((n, 2))) / 7.5).astype(np.float32)


# The WGAN-GP toy code's scales: 8 Gaussians (std 0.02) on a circle of radius 2, then
# divided by sqrt(2); 25 (std 0.05) on the grid {-4, -2, 0, 2, 4}^2, then divided by
# 2 sqrt(2).
_RING = 2 * np.array([[np.cos(a), np.sin(a)] for a in np.arange(8) * np.pi / 4]) / np.sqrt(2)
_GRID = np.array([[x, y] for x in range(-4, 5, 2) for y in range(-4, 5, 2)],
                 dtype=float) / (2 * np.sqrt(2))
RING_STD, GRID_STD = 0.02 / np.sqrt(2), 0.05 / (2 * np.sqrt(2))

TOY_SOURCES: Registry[ToySource] = Registry("toy dataset", {
    "8gaussians": ToySource(_mixture(_RING, RING_STD), _RING, RING_STD,
                            "8 Gaussians on a ring of radius sqrt(2), std 0.02 / sqrt(2)"),
    "25gaussians": ToySource(_mixture(_GRID, GRID_STD), _GRID, GRID_STD,
                             "25 Gaussians on a 5x5 grid of spacing 1/sqrt(2)"),
    "swissroll": ToySource(_swiss_roll, None, 0.25 / 7.5, "the Swiss roll, scaled by 1/7.5"),
})


def toy_samples(name: str, n: int, seed: int) -> np.ndarray:
    """``n`` points of toy dataset ``name`` (float32, n x 2), from ``seed``."""
    return TOY_SOURCES[name].sample(n, np.random.default_rng(seed))


@dataclass(frozen=True)
class Coverage:
    modes_covered: int
    n_modes: int
    high_quality: float  # fraction of samples within 3 std of their nearest mode


def mode_coverage(samples: np.ndarray, centres: np.ndarray, std: float,
                  min_share: float = 0.0) -> Coverage:
    """Which modes ``samples`` hit: a sample is high quality when within 3 ``std`` of
    its nearest centre; a mode is covered when it has more than ``min_share`` of the
    high-quality samples (0: at least one)."""
    samples = np.asarray(samples, dtype=float)
    distances = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    good = distances[np.arange(len(samples)), nearest] <= 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    covered = int(np.sum(counts > max(min_share * len(samples), 0)))
    return Coverage(covered, len(centres), float(good.mean()) if len(samples) else 0.0)
