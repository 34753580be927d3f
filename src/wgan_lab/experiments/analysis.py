"""The study's statistics: per-run measures, per-variant intervals, pairwise tests,
and the seed article's claims as verdicts.

Only finished runs enter the statistics; failed, running or lost ones are
listed with their status (and error) by the report, never silently dropped.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from wgan_lab.evaluation.measures import LATE_FRACTION, estimate_tracks_fid, late_stability
from wgan_lab.evaluation.statistics import (bootstrap_interval, compare_groups,
                                            verdict_of_comparison, verdict_of_interval)

from .seeds import StudySettings, job_trials
from .store import ERROR_ATTR, RESULT_ATTR, is_finished

# Per-run measures derived from the in-training checks.
RUN_MEASURES = ("estimate_fid_spearman", "late_fid_jitter", "collapse_events")


@dataclass
class RunRecord:
    variant: str
    seed: int
    status: str                   # complete | failed | running | queued | killed
    trial: int | None = None
    steps: int = 0
    train_seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    n_classes: int = 0
    error: str = ""
    worker: str = ""


def run_records(study: optuna.Study, settings: StudySettings) -> list[RunRecord]:
    """One record per job of the study, in job order, whatever its state."""
    trials = job_trials(study)
    records = []
    for variant, seed in settings.jobs:
        trial = trials.get((variant, seed))
        if trial is None:
            records.append(RunRecord(variant, seed, "lost"))
            continue
        result = trial.user_attrs.get(RESULT_ATTR) or {}
        if trial.state == TrialState.COMPLETE:
            status = "complete"
        elif is_finished(trial):
            status = "failed"
        else:
            status = {TrialState.RUNNING: "running", TrialState.WAITING: "queued"}.get(
                trial.state, "killed")
        records.append(RunRecord(
            variant, seed, status, trial.number, int(result.get("steps", 0)),
            float(result.get("train_seconds", 0.0)), dict(result.get("metrics", {})),
            list(result.get("curve", [])), int(result.get("n_classes", 0)),
            str(trial.user_attrs.get(ERROR_ATTR, "")), str(trial.user_attrs.get("worker", ""))))
    return records


def run_measures(curve: list[dict[str, float]], n_classes: int) -> dict[str, float]:
    """What one run's in-training checks say about the claims, measured as the
    comparison report measures one run: Spearman's rho of the critic's
    Wasserstein estimate (real-minus-fake score gap) against FID (> 0 when the
    estimate falls as the samples improve), late-training FID jitter around
    its trend, and mode-collapse events (``evaluation.measures``)."""
    out = {name: np.nan for name in RUN_MEASURES}
    if not curve:
        return out
    checks = pd.DataFrame(curve)
    if "wasserstein_estimate" in checks:
        tracked = estimate_tracks_fid(checks[["step", "wasserstein_estimate"]], checks)
        if tracked:
            out["estimate_fid_spearman"] = tracked["spearman_rho"]
    steady = late_stability(checks, n_classes) or {}
    for name in ("late_fid_jitter", "collapse_events"):
        if name in steady:
            out[name] = float(steady[name])
    return out


def runs_table(records: list[RunRecord]) -> pd.DataFrame:
    """``study_runs.csv``: one row per run with every metric, measure and status."""
    rows = []
    for r in records:
        rows.append({"variant": r.variant, "seed": r.seed, "status": r.status,
                     "steps": r.steps, "train_seconds": round(r.train_seconds, 1),
                     **r.metrics, **run_measures(r.curve, r.n_classes),
                     "error": r.error, "trial": r.trial, "worker": r.worker})
    return pd.DataFrame(rows)


def metric_columns(table: pd.DataFrame) -> list[str]:
    skip = {"variant", "seed", "status", "error", "trial", "worker"}
    return [c for c in table.columns if c not in skip and pd.api.types.is_numeric_dtype(table[c])]


def summary(table: pd.DataFrame, settings: StudySettings) -> pd.DataFrame:
    """Per variant and metric over finished runs: n, mean, std, median, 95% CI of the mean."""
    done = table[table["status"] == "complete"]
    rows = []
    for variant in settings.variants:
        runs = done[done["variant"] == variant]
        for metric in metric_columns(table):
            values = runs[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            interval = bootstrap_interval(values, np.mean, resamples=settings.resamples,
                                          seed=settings.bootstrap_seed)
            rows.append({"variant": variant, "metric": metric, "n": len(values),
                         "mean": interval.estimate,
                         "std": float(np.std(values, ddof=1)) if len(values) > 1 else np.nan,
                         "median": float(np.median(values)) if len(values) else np.nan,
                         "ci_low": interval.low, "ci_high": interval.high})
    return pd.DataFrame(rows)


def pairwise(table: pd.DataFrame, settings: StudySettings, metric: str = "fid") -> pd.DataFrame:
    """Every pair of variants: difference of medians of ``metric``, its bootstrap CI and
    a two-sided permutation test's p-value."""
    done = table[table["status"] == "complete"]
    rows = []
    for a, b in combinations(settings.variants, 2):
        va = done.loc[done["variant"] == a, metric].to_numpy(dtype=float)
        vb = done.loc[done["variant"] == b, metric].to_numpy(dtype=float)
        c = compare_groups(va, vb, resamples=settings.resamples, seed=settings.bootstrap_seed)
        rows.append({"a": a, "b": b, "metric": metric, "n_a": int(np.isfinite(va).sum()),
                     "n_b": int(np.isfinite(vb).sum()),
                     "median_a": float(np.nanmedian(va)) if len(va) else np.nan,
                     "median_b": float(np.nanmedian(vb)) if len(vb) else np.nan,
                     "difference": c.difference.estimate, "ci_low": c.difference.low,
                     "ci_high": c.difference.high, "p_value": c.p_value, "exact": c.exact})
    return pd.DataFrame(rows)


@dataclass
class Verdict:
    claim: str          # (a), (b), (c)
    key: str            # short and unique: a.wgan, b.wgan.tracks, b.wgan.vs_gan, c.wgan
    statement: str
    verdict: str
    evidence: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _values(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    done = table[(table["status"] == "complete") & (table["variant"] == variant)]
    values = done[column].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def verdicts(table: pd.DataFrame, settings: StudySettings, wasserstein: list[str],
             baseline: str) -> list[Verdict]:
    """The seed article's claims, each tested on the finished runs.

    (a) the Wasserstein losses reach a better FID than the baseline GAN at
    equal budget; (b) the critic's Wasserstein estimate tracks sample quality,
    better than the GAN's score gap does; (c) the Wasserstein losses train
    more stably (FID jitter over the last LATE_FRACTION of training). A claim
    with fewer than two runs a side is inconclusive.
    """
    alpha, resamples, seed = settings.alpha, settings.resamples, settings.bootstrap_seed
    out: list[Verdict] = []
    if baseline not in settings.variants:
        return out

    def compare(a, b, column):
        return compare_groups(_values(table, a, column), _values(table, b, column),
                              resamples=resamples, seed=seed)

    def numbers(c, a, b, what):
        return (f"median {what} {a} minus {baseline}: {c.difference.estimate:.3g}, 95% CI "
                f"[{c.difference.low:.3g}, {c.difference.high:.3g}], permutation p = "
                f"{c.p_value:.3g}{' (exact)' if c.exact else ''}, n = "
                f"{len(_values(table, a, 'fid'))} vs {len(_values(table, b, 'fid'))}")

    for w in wasserstein:
        c = compare(w, baseline, "fid")
        out.append(Verdict("(a)", f"a.{w}", f"{w} reaches a better (lower) FID than {baseline} at equal budget",
                           verdict_of_comparison(c, alpha, better_when_negative=True),
                           numbers(c, w, baseline, "FID")))
    for w in wasserstein:
        rho = _values(table, w, "estimate_fid_spearman")
        interval = bootstrap_interval(rho, np.mean, resamples=resamples, seed=seed)
        out.append(Verdict("(b)", f"b.{w}.tracks", f"{w}'s Wasserstein estimate tracks FID over training "
                                  f"(mean Spearman rho > 0)",
                           verdict_of_interval(interval),
                           f"mean rho {interval.estimate:.3g}, 95% CI [{interval.low:.3g}, "
                           f"{interval.high:.3g}], n = {interval.n}"))
        c = compare(w, baseline, "estimate_fid_spearman")
        out.append(Verdict("(b)", f"b.{w}.vs_{baseline}", f"{w}'s estimate tracks FID more closely than "
                                  f"{baseline}'s score gap (higher rho)",
                           verdict_of_comparison(c, alpha, better_when_negative=False),
                           numbers(c, w, baseline, "rho").replace("n = ", "runs: ")))
    for w in wasserstein:
        c = compare(w, baseline, "late_fid_jitter")
        events = {v: _values(table, v, "collapse_events") for v in (w, baseline)}
        collapse = "; collapse events per run, mean: " + ", ".join(
            f"{v} {np.mean(e):.2g}" if len(e) else f"{v} -" for v, e in events.items())
        out.append(Verdict("(c)", f"c.{w}", f"{w} trains more stably than {baseline} (lower FID jitter "
                                  f"over the last {LATE_FRACTION:.0%} of training)",
                           verdict_of_comparison(c, alpha, better_when_negative=True),
                           numbers(c, w, baseline, "jitter").replace("n = ", "runs: ")
                           + collapse))
    return out


def fid_curves(records: list[RunRecord]) -> pd.DataFrame:
    """Median and quartiles of in-training FID per variant and step, over the finished
    runs that reached that step (steps at the study's evaluation interval)."""
    rows = []
    for r in records:
        if r.status != "complete":
            continue
        for check in r.curve:
            rows.append({"variant": r.variant, "seed": r.seed, "step": int(check["step"]),
                         "fid": check["fid"]})
    if not rows:
        return pd.DataFrame(columns=["variant", "step", "runs", "median", "q25", "q75"])
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(["variant", "step"])["fid"]
    out = pd.DataFrame({"runs": grouped.size(), "median": grouped.median(),
                        "q25": grouped.quantile(0.25), "q75": grouped.quantile(0.75)})
    return out.reset_index()
