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

from wgan_lab.core import Registry
from wgan_lab.evaluation.measures import (LATE_FRACTION, estimate_tracks_fid, late_stability,
                                          score_tracks_fid)
from wgan_lab.evaluation.statistics import (INCONCLUSIVE, bootstrap_interval, compare_groups,
                                            kendall_tau, verdict_of_comparison,
                                            verdict_of_interval)

from .seeds import StudyComparison, StudySettings, job_trials
from .store import ERROR_ATTR, RESULT_ATTR, is_finished

# Per-run measures derived from the in-training checks.
RUN_MEASURES = ("estimate_fid_spearman", "fresh_w1_fid_spearman", "late_fid_jitter",
                "collapse_events")


@dataclass(frozen=True)
class Evaluator:
    """A judge of sample quality: the per-run metric it reads (lower is better)."""

    label: str
    metric: str


# Who judges the runs. The first is the one every search selected on; a verdict
# on sample quality is robust only when all of them agree.
EVALUATORS: Registry[Evaluator] = Registry("evaluator", {
    "classifier": Evaluator("FID, domain classifier (the searches' features)", "fid"),
    "second": Evaluator("FID, second classifier (never searched on)", "second_fid"),
    "pixels": Evaluator("sliced Wasserstein distance, pixels", "sliced_wasserstein"),
})
FIRST_EVALUATOR = next(iter(EVALUATORS))


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
    # budget amount ("60") -> {"steps", "train_seconds", "metrics"} at that point
    by_budget: dict[str, dict[str, Any]] = field(default_factory=dict)


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
            str(trial.user_attrs.get(ERROR_ATTR, "")), str(trial.user_attrs.get("worker", "")),
            dict(result.get("by_budget", {}))))
    return records


def run_measures(curve: list[dict[str, float]], n_classes: int) -> dict[str, float]:
    """What one run's in-training checks say about the claims, measured as the
    comparison report measures one run: Spearman's rho of the critic's
    Wasserstein estimate (real-minus-fake score gap) against FID (> 0 when the
    estimate falls as the samples improve), the same for a fresh critic's W1
    estimate when the checks have one, late-training FID jitter around its
    trend, and mode-collapse events (``evaluation.measures``)."""
    out = {name: np.nan for name in RUN_MEASURES}
    if not curve:
        return out
    checks = pd.DataFrame(curve)
    if "wasserstein_estimate" in checks:
        tracked = estimate_tracks_fid(checks[["step", "wasserstein_estimate"]], checks)
        if tracked:
            out["estimate_fid_spearman"] = tracked["spearman_rho"]
    if "fresh_critic_w1" in checks:
        tracked = score_tracks_fid(checks, "fresh_critic_w1")
        if tracked:
            out["fresh_w1_fid_spearman"] = tracked["spearman_rho"]
    steady = late_stability(checks, n_classes) or {}
    for name in ("late_fid_jitter", "collapse_events"):
        if name in steady:
            out[name] = float(steady[name])
    return out


def at_budget(record: RunRecord, budget: float | None) -> tuple[dict[str, float], int, float,
                                                                 list[dict[str, float]]]:
    """A run's metrics, steps, training seconds and in-training checks as they were when
    its training reached ``budget`` (None: at its end). A run that was not evaluated
    there (it has not reached it, or was stored without budgets) has no metrics."""
    if budget is None:
        return record.metrics, record.steps, record.train_seconds, record.curve
    point = record.by_budget.get(f"{budget:g}")
    if point is None:
        return {}, 0, 0.0, []
    steps = int(point["steps"])
    return (dict(point["metrics"]), steps, float(point["train_seconds"]),
            [check for check in record.curve if check["step"] <= steps])


def runs_table(records: list[RunRecord], budget: float | None = None) -> pd.DataFrame:
    """``study_runs.csv``: one row per run with every metric, measure and status, at
    ``budget`` (None: at the end of each run)."""
    rows = []
    for r in records:
        metrics, steps, seconds, checks = at_budget(r, budget)
        rows.append({"variant": r.variant, "seed": r.seed, "status": r.status,
                     "steps": steps, "train_seconds": round(seconds, 1),
                     **metrics, **run_measures(checks, r.n_classes),
                     "error": r.error, "trial": r.trial, "worker": r.worker})
    return pd.DataFrame(rows)


def budget_tables(records: list[RunRecord], settings: StudySettings) -> dict[str, pd.DataFrame]:
    """The runs table at each of the study's budgets, keyed by amount ("60"); at the
    last, each run as it ended."""
    final = settings.budgets[-1]
    return {f"{amount:g}": runs_table(records, None if amount == final else amount)
            for amount in settings.budgets}


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
    key: str            # unique: a.wgan.vs_gan, b.wgan.tracks, a.wgan.vs_gan.second.at_60
    statement: str
    verdict: str
    evidence: str
    comparison: str = ""            # the study comparison it belongs to
    budget: str = ""                # the budget amount it was measured at ("240")
    evaluator: str = FIRST_EVALUATOR
    row: str = ""                   # the key without evaluator and budget: its matrix row

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _values(table: pd.DataFrame, variant: str, column: str) -> np.ndarray:
    if column not in table:
        return np.zeros(0)
    done = table[(table["status"] == "complete") & (table["variant"] == variant)]
    values = done[column].to_numpy(dtype=float)
    return values[np.isfinite(values)]


def evaluators_in(table: pd.DataFrame) -> list[str]:
    """The evaluators whose metric the finished runs have."""
    done = table[table["status"] == "complete"]
    return [name for name, e in EVALUATORS.items()
            if e.metric in done and np.isfinite(done[e.metric].to_numpy(dtype=float)).any()]


def verdicts(table: pd.DataFrame, settings: StudySettings, compared: list[str], baseline: str,
             wasserstein: set[str] | list[str] | None = None,
             evaluators: list[str] | None = None) -> list[Verdict]:
    """The seed article's claims for each variant of ``compared`` against ``baseline``,
    each tested on the finished runs of ``table``.

    (a) the variant reaches a better sample quality than the baseline at equal
    budget, once per evaluator; (b) a Wasserstein variant's critic estimate
    tracks FID over training, better than the baseline's score gap does, and a
    fresh critic's W1 estimate tracks FID under every variant; (c) the variant
    trains more stably (FID jitter over the last LATE_FRACTION of training). A
    claim with fewer than two runs a side is inconclusive.
    """
    alpha, resamples, seed = settings.alpha, settings.resamples, settings.bootstrap_seed
    wasserstein = set(compared if wasserstein is None else wasserstein)
    evaluators = evaluators or [FIRST_EVALUATOR]
    out: list[Verdict] = []

    def add(claim, key, statement, verdict, evidence, evaluator=FIRST_EVALUATOR):
        full = key if evaluator == FIRST_EVALUATOR else f"{key}.{evaluator}"
        out.append(Verdict(claim, full, statement, verdict, evidence, evaluator=evaluator,
                           row=key))

    def compare(a, b, column):
        return compare_groups(_values(table, a, column), _values(table, b, column),
                              resamples=resamples, seed=seed)

    def numbers(c, a, what, column):
        return (f"median {what} {a} minus {baseline}: {c.difference.estimate:.3g}, 95% CI "
                f"[{c.difference.low:.3g}, {c.difference.high:.3g}], permutation p = "
                f"{c.p_value:.3g}{' (exact)' if c.exact else ''}, runs: "
                f"{len(_values(table, a, column))} vs {len(_values(table, baseline, column))}")

    def tracks(variant, column, what):
        rho = _values(table, variant, column)
        interval = bootstrap_interval(rho, np.mean, resamples=resamples, seed=seed)
        return (verdict_of_interval(interval),
                f"{what}: mean rho {interval.estimate:.3g}, 95% CI [{interval.low:.3g}, "
                f"{interval.high:.3g}], n = {interval.n}")

    for w in compared:
        for name in evaluators:
            metric = EVALUATORS[name].metric
            c = compare(w, baseline, metric)
            add("(a)", f"a.{w}.vs_{baseline}", f"{w} reaches a better sample quality than "
                f"{baseline} at equal budget",
                verdict_of_comparison(c, alpha, better_when_negative=True),
                numbers(c, w, EVALUATORS[name].label, metric), name)
    for w in compared:
        if w in wasserstein:
            verdict, evidence = tracks(w, "estimate_fid_spearman", "own critic")
            add("(b)", f"b.{w}.tracks", f"{w}'s own critic's Wasserstein estimate tracks FID "
                f"over training (mean Spearman rho > 0)", verdict, evidence)
            c = compare(w, baseline, "estimate_fid_spearman")
            add("(b)", f"b.{w}.vs_{baseline}", f"{w}'s estimate tracks FID more closely than "
                f"{baseline}'s score gap (higher rho)",
                verdict_of_comparison(c, alpha, better_when_negative=False),
                numbers(c, w, "rho", "estimate_fid_spearman"))
    for w in [*compared, baseline]:
        if len(_values(table, w, "fresh_w1_fid_spearman")):
            verdict, evidence = tracks(w, "fresh_w1_fid_spearman", "fresh critic")
            add("(b)", f"b.{w}.fresh_tracks", f"under {w}, a fresh critic's W1 estimate tracks "
                f"FID over training (mean Spearman rho > 0)", verdict, evidence)
    for w in compared:
        c = compare(w, baseline, "late_fid_jitter")
        events = {v: _values(table, v, "collapse_events") for v in (w, baseline)}
        collapse = "; collapse events per run, mean: " + ", ".join(
            f"{v} {np.mean(e):.2g}" if len(e) else f"{v} -" for v, e in events.items())
        add("(c)", f"c.{w}.vs_{baseline}", f"{w} trains more stably than {baseline} (lower FID "
            f"jitter over the last {LATE_FRACTION:.0%} of training)",
            verdict_of_comparison(c, alpha, better_when_negative=True),
            numbers(c, w, "jitter", "late_fid_jitter") + collapse)
    return out


def comparisons_of(settings: StudySettings, wasserstein: set[str]) -> list[StudyComparison]:
    """The study's comparisons among its own variants: ``study.comparisons``, or the
    Wasserstein variants against ``study.baseline``. A comparison without its
    baseline or any variant in the study is left out."""
    groups = settings.comparisons or (StudyComparison(
        "loss", settings.baseline, tuple(v for v in settings.variants if v in wasserstein)),)
    out = []
    for group in groups:
        variants = tuple(v for v in group.variants
                         if v in settings.variants and v != group.baseline)
        if group.baseline in settings.variants and variants:
            out.append(StudyComparison(group.name, group.baseline, variants))
    return out


def all_verdicts(records: list[RunRecord], settings: StudySettings, wasserstein: set[str]
                 ) -> list[Verdict]:
    """Every comparison's claims at every budget of the study, with every evaluator the
    runs have. A claim shared by two comparisons (the same variant's critic) is
    tested once, under the first."""
    out, seen = [], set()
    final = f"{settings.budgets[-1]:g}"
    for budget, table in budget_tables(records, settings).items():
        evaluators = evaluators_in(table) or [FIRST_EVALUATOR]
        for group in comparisons_of(settings, wasserstein):
            for verdict in verdicts(table, settings, list(group.variants), group.baseline,
                                    wasserstein, evaluators):
                if budget != final:
                    verdict.key += f".at_{budget}"
                if verdict.key in seen:
                    continue
                seen.add(verdict.key)
                verdict.comparison, verdict.budget = group.name, budget
                out.append(verdict)
    return out


def robustness(claims: list[Verdict]) -> dict[tuple[str, str], str]:
    """Per (matrix row, budget) of the sample-quality claims: "robust" when every
    evaluator reached the same verdict and it is not inconclusive, else "not robust"
    (one evaluator alone is never robust)."""
    grouped: dict[tuple[str, str], list[str]] = {}
    for v in claims:
        if v.claim == "(a)":
            grouped.setdefault((v.row, v.budget), []).append(v.verdict)
    return {key: ("robust" if len(found) > 1 and len(set(found)) == 1
                  and found[0] != INCONCLUSIVE else "not robust")
            for key, found in grouped.items()}


def verdict_matrix(claims: list[Verdict], dataset: str = "") -> pd.DataFrame:
    """One row per claim and comparison, one column per budget and evaluator, plus a
    "robust" column per budget for the sample-quality claims."""
    if not claims:
        return pd.DataFrame()
    robust = robustness(claims)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    order: list[str] = []
    for v in claims:
        column = f"{v.budget} {v.evaluator}"
        if column not in order:
            order.append(column)
        cells = rows.setdefault((v.comparison, v.row), {"claim": v.claim})
        cells[column] = v.verdict
        if (v.row, v.budget) in robust:
            cells[f"{v.budget} robust"] = robust[(v.row, v.budget)]
    budgets = list(dict.fromkeys(v.budget for v in claims))
    columns = []
    for budget in budgets:
        columns += [c for c in order if c.split(" ", 1)[0] == budget] + [f"{budget} robust"]
    groups = list(dict.fromkeys(v.comparison for v in claims))
    ordered = sorted(rows.items(), key=lambda item: (groups.index(item[0][0]),
                                                     item[1]["claim"], item[0][1]))
    frame = pd.DataFrame([{"comparison": comparison, "row": row, **cells}
                          for (comparison, row), cells in ordered])
    frame = frame.reindex(columns=["comparison", "claim", "row", *columns]).fillna("")
    if dataset:
        frame.insert(0, "dataset", dataset)
    return frame


def budget_summary(tables: dict[str, pd.DataFrame], settings: StudySettings) -> pd.DataFrame:
    """Per budget, variant and evaluator over the finished runs: n, median, min and
    max of the evaluator's score (the spread a user will see over seeds)."""
    rows = []
    for budget, table in tables.items():
        done = table[table["status"] == "complete"]
        for name in evaluators_in(table):
            metric = EVALUATORS[name].metric
            for variant in settings.variants:
                values = done.loc[done["variant"] == variant, metric].to_numpy(dtype=float)
                values = values[np.isfinite(values)]
                rows.append({"budget": budget, "variant": variant, "evaluator": name,
                             "n": len(values),
                             "median": float(np.median(values)) if len(values) else np.nan,
                             "min": float(values.min()) if len(values) else np.nan,
                             "max": float(values.max()) if len(values) else np.nan})
    return pd.DataFrame(rows, columns=["budget", "variant", "evaluator", "n", "median", "min",
                                       "max"])


def evaluator_agreement(tables: dict[str, pd.DataFrame], settings: StudySettings
                        ) -> pd.DataFrame:
    """Kendall's tau between every two evaluators over all finished runs, per budget,
    with its bootstrap interval: do they rank the runs alike?"""
    rows = []
    for budget, table in tables.items():
        done = table[table["status"] == "complete"]
        for a, b in combinations(evaluators_in(table), 2):
            tau = kendall_tau(done[EVALUATORS[a].metric], done[EVALUATORS[b].metric],
                              resamples=settings.resamples, seed=settings.bootstrap_seed)
            rows.append({"budget": budget, "a": a, "b": b, "tau": tau.estimate,
                         "ci_low": tau.low, "ci_high": tau.high, "n": tau.n})
    return pd.DataFrame(rows, columns=["budget", "a", "b", "tau", "ci_low", "ci_high", "n"])


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
