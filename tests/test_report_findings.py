"""The comparison report's findings on constructed histories with known answers."""
import numpy as np
import pandas as pd
import pytest

from wgan_lab.reporting.compare import VariantRun, stability, wasserstein_tracks_quality


def run(fid, estimate=None, classes=None, steps=None):
    steps = steps or [100 * (i + 1) for i in range(len(fid))]
    fid_history = pd.DataFrame({"step": steps, "fid": fid})
    if classes is not None:
        fid_history["classes_covered"] = classes
    history = pd.DataFrame({"step": steps, "wasserstein_estimate": estimate or [0.0] * len(fid)})
    return VariantRun("x", {}, history, fid_history, [], np.zeros(0), np.zeros(0))


def test_estimate_falling_with_fid_is_a_positive_correlation():
    fid = [300, 200, 150, 120, 100, 90]
    assert wasserstein_tracks_quality(run(fid, [3.0, 2.0, 1.5, 1.2, 1.0, 0.9]))["spearman_rho"] \
        == pytest.approx(1.0)
    assert wasserstein_tracks_quality(run(fid, [0.9, 1.0, 1.2, 1.5, 2.0, 3.0]))["spearman_rho"] \
        == pytest.approx(-1.0)


def test_collapse_events_count_late_evaluations_below_80_percent_of_classes():
    # 10 evaluations at steps 100..1000; only those at step >= 200 (20%) count.
    # Below 8 of 10 from step 200 on: 3 (step 200), 7 (400), 6 (900) -> 3; the 2 at step 100
    # is early training and does not count.
    classes = [2, 3, 10, 7, 10, 8, 10, 9, 6, 10]
    result = stability(run([50.0] * 10, classes=classes), n_classes=10)
    assert result["collapse_events"] == 3


def test_jitter_is_the_spread_around_the_late_trend_relative_to_its_mean():
    # A straight line has no jitter, however steep.
    steps = list(range(100, 1100, 100))
    line = [200 - 10 * i for i in range(10)]
    assert stability(run(line, steps=steps), 0)["late_fid_jitter"] == pytest.approx(0.0, abs=1e-9)
    # Late window (last 30%): steps 700..1000, FID 105, 95, 105, 95. Least squares by hand:
    # mean step 850, mean FID 100, Sxy = -150*5 - 50*(-5) + 50*5 + 150*(-5) = -1000,
    # Sxx = 50000, slope -0.02: trend 103, 101, 99, 97; residuals 2, -6, 6, -2;
    # their std sqrt(80 / 4) = sqrt(20), over the mean 100.
    fid = [100.0] * 6 + [105.0, 95.0, 105.0, 95.0]
    assert stability(run(fid, steps=steps), 0)["late_fid_jitter"] == pytest.approx(
        np.sqrt(20) / 100)
