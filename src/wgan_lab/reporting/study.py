"""The study's report: tables, verdicts and figures from the stored runs alone."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from wgan_lab.evaluation.metrics import METRICS
from wgan_lab.evaluation.statistics import expected_best_of_k
from wgan_lab.experiments.analysis import (EVALUATORS, RunRecord, Verdict, all_verdicts,
                                           budget_summary, budget_tables, evaluator_agreement,
                                           evaluators_in,
                                           fid_curves, pairwise, runs_table, summary,
                                           verdict_matrix)
from wgan_lab.experiments.seeds import StudySettings

from .kit import cell_text, html_page, log_y_axis, markdown_table, plt, png_base64, series_styles

# The summary table's columns, in this order when present.
HEADLINE = (*(name for name, metric in METRICS.items() if metric.headline),
            *(e.metric for e in EVALUATORS.values() if e.metric not in METRICS),
            "estimate_fid_spearman", "fresh_w1_fid_spearman", "late_fid_jitter",
            "collapse_events", "steps", "train_seconds")


@dataclass
class StudyReport:
    html: str
    markdown: str
    runs_csv: str
    summary: dict[str, Any]
    figures: dict[str, Any]   # name -> matplotlib figure (already drawn into the HTML)


def _fid_by_run_figure(table: pd.DataFrame, settings: StudySettings):
    figure, ax = plt.subplots(figsize=(7, 3.8))
    done = table[table["status"] == "complete"]
    rng = np.random.default_rng(0)
    for i, variant in enumerate(settings.variants):
        values = done.loc[done["variant"] == variant, "fid"].to_numpy(dtype=float)
        if not len(values):
            continue
        jitter = rng.uniform(-0.12, 0.12, len(values))
        ax.scatter(np.full(len(values), i) + jitter, values, alpha=0.8, zorder=3)
        ax.hlines(np.median(values), i - 0.25, i + 0.25, color="black", zorder=4)
    ax.set_xticks(range(len(settings.variants)),
                  [f"{v}\n(n={int(((done['variant'] == v)).sum())})" for v in settings.variants])
    ax.set_ylabel("FID (declared protocol)")
    ax.set_title("FID of every run (bar: median)")
    return figure


def _fid_against_step_figure(curves: pd.DataFrame, settings: StudySettings):
    figure, ax = plt.subplots(figsize=(7, 3.8))
    styles = series_styles(settings.variants)
    for variant in settings.variants:
        rows = curves[(curves["variant"] == variant) & (curves["runs"] >= 2)]
        if not len(rows):
            rows = curves[curves["variant"] == variant]
        if not len(rows):
            continue
        style = styles[variant]
        ax.plot(rows["step"], rows["median"], label=variant, color=style["color"],
                linestyle=style["linestyle"])
        ax.fill_between(rows["step"], rows["q25"], rows["q75"], alpha=0.2, color=style["color"])
    ax.set_xlabel("generator step")
    ax.set_ylabel(f"in-training FID ({settings.eval_samples} samples)")
    log_y_axis(ax)
    ax.set_title("Median FID against step, interquartile band over runs")
    ax.legend()
    return figure


def _best_of_k_figure(table: pd.DataFrame, settings: StudySettings):
    figure, ax = plt.subplots(figsize=(7, 3.8))
    done = table[table["status"] == "complete"]
    styles = series_styles(settings.variants)
    for variant in settings.variants:
        values = done.loc[done["variant"] == variant, "fid"].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if not len(values):
            continue
        ax.plot(range(1, len(values) + 1), expected_best_of_k(values), label=variant,
                **styles[variant])
    ax.set_xlabel("k runs")
    ax.set_ylabel("expected best FID among k runs")
    ax.set_title("What k runs buy (Lucic et al. 2018)")
    ax.legend()
    return figure


def _by_budget_figure(tables: dict[str, pd.DataFrame], settings: StudySettings):
    """Median score per variant against the budget, one panel per evaluator."""
    names = evaluators_in(next(reversed(tables.values())))
    figure, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.8), squeeze=False)
    budgets = [float(b) for b in tables]
    styles = series_styles(settings.variants)
    for ax, name in zip(axes[0], names):
        metric = EVALUATORS[name].metric
        for variant in settings.variants:
            medians = []
            for table in tables.values():
                done = table[(table["status"] == "complete") & (table["variant"] == variant)]
                values = done[metric].to_numpy(dtype=float) if metric in done else np.zeros(0)
                values = values[np.isfinite(values)]
                medians.append(np.median(values) if len(values) else np.nan)
            ax.plot(budgets, medians, label=variant, **styles[variant])
        ax.set_xscale("log")
        ax.set_xticks(budgets, [f"{b:g}" for b in budgets])
        ax.xaxis.set_minor_formatter(NullFormatter())   # only the budgets as labels
        ax.set_xlabel(f"budget ({settings.budget.unit.replace('_', ' ')})")
        ax.set_title(EVALUATORS[name].label, fontsize=9)
        log_y_axis(ax)
    axes[0][0].set_ylabel("median over seeds (lower is better)")
    axes[0][-1].legend(fontsize=7)
    return figure


def _evaluators_figure(table: pd.DataFrame, settings: StudySettings):
    """Every run scored by the first evaluator against each other one."""
    names = evaluators_in(table)
    others = names[1:]
    figure, axes = plt.subplots(1, max(len(others), 1), figsize=(4.5 * max(len(others), 1), 3.8),
                                squeeze=False)
    done = table[table["status"] == "complete"]
    first = EVALUATORS[names[0]] if names else None
    styles = series_styles(settings.variants)
    for ax, name in zip(axes[0], others):
        for variant in settings.variants:
            runs = done[done["variant"] == variant]
            ax.scatter(runs[first.metric], runs[EVALUATORS[name].metric], label=variant, alpha=0.8,
                       color=styles[variant]["color"], marker=styles[variant]["marker"])
        ax.set_xlabel(first.label, fontsize=8)
        ax.set_ylabel(EVALUATORS[name].label, fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
    axes[0][-1].legend(fontsize=7)
    figure.suptitle("Each run in two evaluators (final budget)")
    return figure


def _spread_wide(spread: pd.DataFrame) -> pd.DataFrame:
    """Variant rows, one column per budget and evaluator: "median [min, max] (n)"."""
    if not len(spread):
        return pd.DataFrame()
    cells = spread.assign(
        column=spread["budget"] + " " + spread["evaluator"],
        cell=["-" if r.n == 0 else f"{r.median:.3g} [{r.min:.3g}, {r.max:.3g}] (n={r.n})"
              for r in spread.itertuples()])
    wide = cells.pivot(index="variant", columns="column", values="cell")
    wide = wide[list(dict.fromkeys(cells["column"]))]
    return wide.loc[list(dict.fromkeys(spread["variant"]))]


def _summary_wide(summary_table: pd.DataFrame) -> pd.DataFrame:
    """Variant rows, the headline metric columns: "mean [95% CI] (n)" (every metric is in
    study_summary.json)."""
    if not len(summary_table):
        return pd.DataFrame()
    cells = summary_table.assign(cell=[
        "-" if r.n == 0 else f"{r.mean:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}] (n={r.n})"
        for r in summary_table.itertuples()])
    wide = cells.pivot(index="variant", columns="metric", values="cell")
    wide = wide[[m for m in HEADLINE if m in wide.columns]]
    return wide.loc[[v for v in summary_table["variant"].unique()]]


def build_study_report(records: list[RunRecord], settings: StudySettings,
                       wasserstein: set[str] | list[str], protocol: str) -> StudyReport:
    """Everything the study writes, from its run records."""
    table = runs_table(records)
    tables = budget_tables(records, settings)
    stats_table = summary(table, settings)
    pairs = pairwise(table, settings)
    claims: list[Verdict] = all_verdicts(records, settings, set(wasserstein))
    matrix = verdict_matrix(claims, settings.dataset)
    agreement = evaluator_agreement(tables, settings)
    spread = budget_summary(tables, settings)
    spread_view = _spread_wide(spread)
    curves = fid_curves(records)
    counts = table["status"].value_counts().to_dict()
    budget = settings.budget.describe()
    budgets = ", ".join(f"{b:g}" for b in settings.budgets)
    head = (f"Study `{settings.name}`"
            + (f" on {settings.dataset}" if settings.dataset else "")
            + f": variants {', '.join(settings.variants)}; seeds "
            f"{', '.join(map(str, settings.seeds))}; budget per run {budget}"
            + (f", each run also evaluated at {budgets}" if settings.earlier_budgets else "")
            + ". Runs: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ".")
    evaluators = "; ".join(f"{name}: {EVALUATORS[name].label}" for name in evaluators_in(table))
    method = (f"Final metrics: {protocol}. Evaluators: {evaluators or 'none'}. Intervals: 95% "
              f"percentile bootstrap of the mean "
              f"({settings.resamples} resamples, seed {settings.bootstrap_seed}); pairs: "
              f"difference of medians with a bootstrap CI, and a two-sided permutation test of the "
              f"difference of means "
              f"(exact when the relabellings fit in {settings.resamples}); verdicts at alpha = "
              f"{settings.alpha:g}. A sample-quality verdict is robust only when every "
              f"evaluator reaches it. Rank agreement: Kendall's tau-b over all finished runs "
              f"with a paired bootstrap interval. n is printed beside every interval: with few "
              f"seeds, intervals are wide and verdicts often inconclusive. Failed runs are listed "
              f"below and left out of the statistics.")
    figures = {"fid_by_run": _fid_by_run_figure(table, settings),
               "fid_against_step": _fid_against_step_figure(curves, settings),
               "expected_best_of_k": _best_of_k_figure(table, settings)}
    if len(tables) > 1:
        figures["score_by_budget"] = _by_budget_figure(tables, settings)
    if len(evaluators_in(table)) > 1:
        figures["evaluators"] = _evaluators_figure(table, settings)
    titles = {"score_by_budget": "Median score against the budget, per evaluator",
              "evaluators": "Each run in two evaluators",
              "fid_by_run": "FID of every run",
              "fid_against_step": "Median FID against step (interquartile band)",
              "expected_best_of_k": "Expected best FID among k runs"}
    pngs = {name: png_base64(figure) for name, figure in figures.items()}

    wide = _summary_wide(stats_table)
    verdict_table = pd.DataFrame([v.as_dict() for v in claims])
    not_complete = table[table["status"] != "complete"][["variant", "seed", "status", "error"]]
    pair_view = pairs.copy()
    if len(pair_view):
        pair_view["p_value"] = [f"{p:.3g}{' (exact)' if e else ''}" if np.isfinite(p) else "-"
                                for p, e in zip(pair_view["p_value"], pair_view["exact"])]
        pair_view = pair_view.drop(columns=["exact"])

    def md(frame: pd.DataFrame) -> str:
        if not len(frame):
            return "none"
        return markdown_table(frame.map(cell_text) if frame.index.name else
                              frame.map(cell_text).set_index(frame.columns[0]))

    md_parts = [f"# Study {settings.name}", "", head, "", method, "",
                "## Verdict matrix (claim x comparison x budget x evaluator)", "", md(matrix), "",
                "## Rank agreement between evaluators (Kendall's tau-b)", "", md(agreement), "",
                "## Scores at each budget: median [min, max] over seeds (n)", "",
                md(spread_view), "",
                "## Verdicts", "", md(verdict_table), "",
                "## Per variant: mean [95% CI] (n)", "", md(wide), "",
                "## FID between variants (difference of medians, a minus b)", "", md(pair_view), "",
                "## Runs not in the statistics", "", md(not_complete), "",
                "## Every run", "", md(table.drop(columns=["worker"])), ""]
    body = [f"<h1>Study {html.escape(settings.name)}</h1>", f"<p>{html.escape(head)}</p>",
            f"<p>{html.escape(method)}</p>",
            "<h2>Verdict matrix (claim x comparison x budget x evaluator)</h2>",
            matrix.to_html(index=False) if len(matrix) else "<p>none</p>",
            "<h2>Rank agreement between evaluators (Kendall's tau-b)</h2>",
            agreement.to_html(index=False, float_format=lambda v: f"{v:.3g}")
            if len(agreement) else "<p>one evaluator only</p>",
            "<h2>Scores at each budget: median [min, max] over seeds (n)</h2>",
            spread_view.to_html() if len(spread_view) else "<p>none</p>",
            "<h2>Verdicts</h2>",
            verdict_table.to_html(index=False) if len(verdict_table) else "<p>none</p>",
            "<h2>Per variant: mean [95% CI] (n)</h2>", wide.to_html() if len(wide) else "",
            "<h2>FID between variants (difference of medians, a minus b)</h2>",
            pair_view.to_html(index=False, float_format=lambda v: f"{v:.4g}")]
    for name, png in pngs.items():
        body += [f"<h2>{html.escape(titles[name])}</h2>",
                 f'<img alt="{html.escape(titles[name])}" src="data:image/png;base64,{png}">']
    body += ["<h2>Runs not in the statistics</h2>",
             not_complete.to_html(index=False) if len(not_complete) else "<p>none</p>",
             "<h2>Every run</h2>", table.to_html(index=False, na_rep="-",
                                                 float_format=lambda v: f"{v:.4g}")]
    page = html_page(f"Study {settings.name}", "\n".join(body))

    def records_of(frame: pd.DataFrame) -> list[dict[str, Any]]:
        return json.loads(frame.to_json(orient="records"))

    summary_json = {"study": settings.name, "variants": list(settings.variants),
                    "seeds": list(settings.seeds),
                    "dataset": settings.dataset,
                    "budget": {"unit": settings.budget.unit, "amount": settings.budget.amount,
                               "evaluated_at": list(settings.budgets)},
                    "protocol": protocol, "alpha": settings.alpha, "runs": counts,
                    "summary": records_of(stats_table), "pairwise_fid": records_of(pairs),
                    "verdicts": [v.as_dict() for v in claims],
                    "verdict_matrix": records_of(matrix) if len(matrix) else [],
                    "evaluator_agreement": records_of(agreement),
                    "budget_summary": records_of(spread)}
    return StudyReport(page, "\n".join(md_parts), table.to_csv(index=False), summary_json,
                       figures)
