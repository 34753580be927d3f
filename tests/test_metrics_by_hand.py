"""Metrics against values computed by hand or by an independent reference.

Each test is built so that a plausible wrong implementation fails it: FID with
Tr(sqrt(S1) sqrt(S2)), a biased KID, the wrong neighbour count k, EMA with
decay and 1 - decay swapped.
"""
import math

import numpy as np
import pytest
import scipy.linalg

from wgan_lab.evaluation import metrics


def test_fid_matches_scipy_sqrtm_on_non_commuting_covariances():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + 0.5 * np.eye(4)
    assert not np.allclose(s1 @ s2, s2 @ s1)          # they do not commute
    mu1, mu2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, -1.0])
    reference = (np.sum((mu1 - mu2) ** 2)
                 + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real))
    assert metrics.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(reference, rel=1e-9)
    # The formula a commuting-only test would let through is far off here.
    wrong = (np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2)
             - 2 * np.trace(scipy.linalg.sqrtm(s1).real @ scipy.linalg.sqrtm(s2).real))
    assert abs(wrong - reference) > 0.1


def test_kid_is_the_unbiased_estimator_on_a_hand_computed_example():
    """k(a, b) = (a.b / 2 + 1)^3 in 2-D.

    X = (0,0), (1,0), (0,1): every pair has a.b = 0, k = 1: sum over i != j is 6, / (3*2) = 1.
    Y = (1,1), (2,0), (0,0): pairs a.b = 2, 0, 0: k = 8, 1, 1: 2 * 10 / 6 = 10/3.
    X x Y: row (0,0): 1+1+1 = 3; row (1,0): a.b = 1, 2, 0: 3.375+8+1 = 12.375;
    row (0,1): a.b = 1, 0, 0: 3.375+1+1 = 5.375; mean = 20.75 / 9.
    MMD^2 = 1 + 10/3 - 2 * 20.75/9 = -2.5/9 (the unbiased estimate can be negative).
    """
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0]])
    value, std = metrics.kid(x, y, subsets=1, subset_size=3)
    assert value == pytest.approx(-2.5 / 9, abs=1e-12)
    assert std == 0.0


REAL = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
FAKE = np.array([[0.1, 0.0], [5.0, 5.5], [10.0, 10.0]])


@pytest.mark.parametrize("k, expected", [
    # k = 1: squared radii of the real points (to their 1st neighbour) 1, 1, 1, 41.
    # precision: fakes in some real ball: (0.1,0) yes, (5,5.5) yes, (10,10) no  -> 2/3
    # recall: reals in some fake ball (fake radii 54.26, 45.25, 45.25): all    -> 1
    # density: real balls holding (0.1,0): (0,0), (1,0) -> 2; (5,5.5): 1; (10,10): 0
    #          -> 3 / (k * 3) = 1
    # coverage: nearest fake within the real radius: (0,1) has 1.01 > 1, others yes -> 3/4
    (1, {"precision": 2 / 3, "recall": 1.0, "density": 1.0, "coverage": 0.75}),
    # k = 2: real radii 1, 2, 2, 41; (0.1,0) is now in 3 real balls, (0,1) covered.
    # density 4 / (2 * 3) = 2/3, coverage 1
    (2, {"precision": 2 / 3, "recall": 1.0, "density": 2 / 3, "coverage": 1.0}),
])
def test_precision_recall_density_coverage_by_hand(k, expected):
    result = metrics.precision_recall_density_coverage(REAL, FAKE, k=k)
    assert result == pytest.approx(expected, abs=1e-6)


def test_sliced_wasserstein_of_a_shifted_set_is_the_mean_projected_shift():
    """y = x + v: every 1-D projection on unit u is shifted by u.v, so the distance is
    E|u.v| = |v| E|u_1|, which is |v| * 2/pi for directions uniform on the circle."""
    x = np.random.default_rng(1).standard_normal((200, 1, 2, 1)).astype(np.float32)
    v = np.array([3.0, 4.0], np.float32).reshape(1, 1, 2, 1)       # |v| = 5
    value = metrics.sliced_wasserstein(x, x + v, projections=20000, seed=0)
    assert value == pytest.approx(5.0 * 2 / math.pi, rel=0.02)


def test_ema_moves_a_tenth_towards_the_live_weights_each_step():
    from tests.configs import tiny
    from wgan_lab.gan.trainer import Budget, GANTrainer

    images = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    trainer = GANTrainer(tiny(optimizer={"ema_decay": 0.9}, runtime={"steps_per_call": 1}),
                         images.shape[1:])
    ema = [w.copy() for w in trainer.ema_generator.get_weights()]
    for step in (1, 2):
        trainer.fit(images, budget=Budget("steps", step))
        live = trainer.generator.get_weights()
        ema = [0.9 * e + 0.1 * w for e, w in zip(ema, live)]
        for expected, got in zip(ema, trainer.ema_generator.get_weights()):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
