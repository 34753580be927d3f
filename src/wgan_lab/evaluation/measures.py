"""Measures of one run's training curves: whether the critic's estimate tracks FID,
how FID jitters late in training, mode-collapse events. Plain data in, numbers out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# The last part of training over which stability is measured.
LATE_FRACTION = 0.3
# An evaluation with fewer than this share of the classes covered is a collapse event.
COLLAPSE_SHARE = 0.8


def estimate_tracks_fid(history: pd.DataFrame, evaluations: pd.DataFrame | None
                        ) -> dict[str, float] | None:
    """Spearman's rho of the critic's estimate (history) against in-training FID."""
    if evaluations is None or len(evaluations) < 4 or "fid" not in evaluations:
        return None
    history = history.sort_values("step")
    evaluations = evaluations.sort_values("step")
    matched = pd.merge_asof(evaluations[["step", "fid"]],
                            history[["step", "wasserstein_estimate"]], on="step",
                            direction="nearest")
    rho, p_value = stats.spearmanr(matched["wasserstein_estimate"], matched["fid"])
    return {"spearman_rho": float(rho), "p_value": float(p_value), "points": len(matched)}


def score_tracks_fid(checks: pd.DataFrame, column: str) -> dict[str, float] | None:
    """Spearman's rho of a score measured at the in-training checks themselves (a fresh
    critic's W1 estimate) against their FID; None with fewer than four checks."""
    rows = checks[["fid", column]].dropna() if {"fid", column} <= set(checks) else ()
    if len(rows) < 4:
        return None
    rho, p_value = stats.spearmanr(rows[column], rows["fid"])
    return {"spearman_rho": float(rho), "p_value": float(p_value), "points": len(rows)}


def late_stability(evaluations: pd.DataFrame | None, n_classes: int) -> dict[str, float] | None:
    """How much FID jitters over the last part of training, and mode-collapse events.

    Jitter is the spread of FID around its linear trend in that window,
    relative to its mean, so a run that is still improving steadily is not
    counted as unstable.
    """
    if evaluations is None or len(evaluations) < 3 or "fid" not in evaluations:
        return None
    evaluations = evaluations.sort_values("step")
    late = evaluations[evaluations["step"] >= evaluations["step"].max() * (1 - LATE_FRACTION)]
    result = {"late_fid_mean": float(late["fid"].mean()),
              "late_fid_std": float(late["fid"].std(ddof=0)), "late_points": len(late)}
    if len(late) >= 3:
        trend = np.polyval(np.polyfit(late["step"], late["fid"], 1), late["step"])
        result["late_fid_jitter"] = float(np.std(late["fid"] - trend) / late["fid"].mean())
    if "classes_covered" in evaluations and n_classes:
        settled = evaluations[evaluations["step"] >= evaluations["step"].max() * 0.2]
        result["collapse_events"] = int(
            (settled["classes_covered"] < COLLAPSE_SHARE * n_classes).sum())
    return result
