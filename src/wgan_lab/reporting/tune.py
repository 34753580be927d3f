"""What a search found: the budget curve, parameter importances, the top trials.

Built from the study's storage alone, so trials run by other processes or
machines are in it, and it can be rebuilt at any time without training.
"""
from __future__ import annotations

import html
from typing import Any

import numpy as np
import optuna
import pandas as pd
import yaml
from optuna.trial import TrialState

from wgan_lab.evaluation.statistics import best_of_k_quantiles
from wgan_lab.experiments.search import TuneSettings
from wgan_lab.experiments.space import as_parameters
from wgan_lab.experiments.store import ERROR_ATTR, SURPLUS_ATTR, is_finished

from .kit import cell_text, html_page, log_y_axis, markdown_table, plt, png_base64, series_styles

TOP = 10


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """One row per trial that counts (surplus and killed ones left out), in trial order."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get(SURPLUS_ATTR):
            continue
        counted = is_finished(trial) or trial.state == TrialState.RUNNING
        if not counted:
            continue
        last_fid = (trial.intermediate_values[max(trial.intermediate_values)]
                    if trial.intermediate_values else np.nan)
        rows.append({
            "trial": trial.number, "state": trial.state.name,
            "fid": trial.value if trial.state == TrialState.COMPLETE else np.nan,
            "last_in_training_fid": last_fid,
            "steps": trial.user_attrs.get("steps", np.nan),
            "train_seconds": trial.user_attrs.get("train_seconds", np.nan),
            "train_cpu_seconds": trial.user_attrs.get("train_cpu_seconds", np.nan),
            "classes_covered": trial.user_attrs.get("classes_covered", np.nan),
            "error": trial.user_attrs.get(ERROR_ATTR, ""),
            **{f"param {k}": v for k, v in trial.params.items()},
        })
    return pd.DataFrame(rows)


def _fid_text(value: float) -> str:
    """A best-FID cell: "-" where no trial among k has a score yet."""
    return f"{value:.1f}" if np.isfinite(value) else "-"


def finished_values(table: pd.DataFrame) -> np.ndarray:
    """The trials' scores in trial order for a budget curve: NaN for pruned or
    diverged ones (they found nothing), running ones left out (not finished)."""
    if not len(table):
        return np.array([])
    return table.loc[table["state"] != TrialState.RUNNING.name, "fid"].to_numpy(dtype=float)


def budget_curve(values: np.ndarray) -> dict[str, np.ndarray]:
    """Best value among the first k trials, k = 1..n: as run, and over random orderings.

    Lucic et al.'s budget curve: how good a result a search of k trials
    finds. Trials without a value (pruned, failed) count as trials that found
    nothing (+inf). The band is the 5th-95th percentile of the best of k
    trials in a random order, and its median, computed exactly.
    """
    values = np.where(np.isfinite(values), values, np.inf)
    return {"trials": np.arange(1, len(values) + 1), "as_run": np.minimum.accumulate(values),
            "median": best_of_k_quantiles(values, 0.5), "low": best_of_k_quantiles(values, 0.05),
            "high": best_of_k_quantiles(values, 0.95)}


def importances(study: optuna.Study, seed: int = 0) -> dict[str, float]:
    """fANOVA importances of the parameters for FID (needs two complete trials)."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if len(complete) < 2 or len({t.value for t in complete}) < 2:
        return {}
    evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
    return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def best_parameters(study: optuna.Study, settings: TuneSettings) -> dict[str, Any] | None:
    """The best complete trial's values as a block for parameters_training.yml."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not complete:
        return None
    best = min(complete, key=lambda t: t.value)
    values = {d.path: d.decode(best.params[d.path]) for d in settings.dimensions
              if d.path in best.params}
    return as_parameters(settings.variant, values)


def _curve_figure(curve: dict[str, np.ndarray], variant: str):
    figure, ax = plt.subplots(figsize=(7, 3.8))
    finite = np.isfinite(curve["high"])
    ax.fill_between(curve["trials"][finite], curve["low"][finite], curve["high"][finite],
                    alpha=0.25, label="5-95% over trial orders")
    ax.plot(curve["trials"], curve["median"], label="median over trial orders")
    ax.plot(curve["trials"], curve["as_run"], marker=".", linestyle="--", label="as run")
    ax.set_xlabel("number of trials")
    ax.set_ylabel("best FID so far (proxy)")
    ax.set_title(f"{variant}: best FID found against the search budget")
    ax.legend()
    return figure


def budget_comparison(studies: dict[str, optuna.Study]
                      ) -> tuple[Any, pd.DataFrame]:
    """Budget curves of several variants' studies on one axis, and their table.

    Searches of different lengths are compared where both exist: at equal k,
    each curve is the median (band 5-95%) over trial orders of the best FID
    among k trials.
    """
    figure, ax = plt.subplots(figsize=(7.5, 4))
    rows = []
    styles = series_styles(studies)
    for variant, study in studies.items():
        values = finished_values(trials_table(study))
        if not len(values):
            continue
        curve = budget_curve(values)
        finite = np.isfinite(curve["high"])
        ax.plot(curve["trials"], curve["median"], label=f"{variant} (n={len(values)})",
                markersize=4, **styles[variant])
        ax.fill_between(curve["trials"][finite], curve["low"][finite], curve["high"][finite],
                        alpha=0.15, color=styles[variant]["color"])
        for k in curve["trials"]:
            rows.append({"variant": variant, "trials": int(k),
                         "median": curve["median"][k - 1], "5%": curve["low"][k - 1],
                         "95%": curve["high"][k - 1], "as run": curve["as_run"][k - 1]})
    ax.set_xlabel("number of trials")
    ax.set_ylabel("best FID found (proxy)")
    log_y_axis(ax)
    ax.set_title("Best FID found against the search budget, per variant")
    ax.legend()
    return figure, pd.DataFrame(rows)


def build_tuning_report(study: optuna.Study, settings: TuneSettings
                        ) -> tuple[str, str, str, pd.DataFrame]:
    """HTML, Markdown, best_params.yml text and the trials table of ``study``."""
    table = trials_table(study)
    variant = settings.variant
    budget = settings.budget.describe()
    protocol = (f"score: FID of {settings.score_samples} generated vs {settings.score_samples} "
                f"test images in the domain classifier's features (a proxy of the 10k protocol); "
                f"pruning on FID of {settings.eval_samples} samples at "
                f"{', '.join(f'{p:g}' for p in settings.trial_budget.check_points())} "
                f"({settings.budget.unit.replace('_', ' ')})")
    states = table["state"].value_counts().to_dict() if len(table) else {}
    spent = (f", {table['train_cpu_seconds'].sum() / 3600:.2f} of {settings.max_cpu_hours:g} "
             f"CPU hours of training" if settings.max_cpu_hours and len(table) else "")
    head = (f"Study `{settings.study_name}`: {len(table)} of {settings.trials} trials{spent} "
            f"({', '.join(f'{n} {s.lower()}' for s, n in sorted(states.items())) or 'none yet'}); "
            f"budget per trial {budget}; TPE sampler (seed {settings.seed}), "
            f"{settings.pruner.get('name', 'median')} pruner.")
    best = best_parameters(study, settings)
    best_yaml = (f"# Best trial of study {settings.study_name}: paste into "
                 f"conf/local/parameters.yml (merged over the base values), or merge into "
                 f"the variant's block in conf/base/parameters_training.yml\n"
                 + yaml.safe_dump(best, sort_keys=True)) if best else "# no complete trial yet\n"
    figures, md_parts = [], [f"# Tuning {variant}", "", head, "", protocol, ""]
    values = finished_values(table)
    if len(values):
        curve = budget_curve(values)
        figures.append(("Best FID found against the number of trials",
                        png_base64(_curve_figure(curve, variant))))
        md_parts += ["## Best FID against the number of trials", "",
                     markdown_table(pd.DataFrame(
                         {"as run": curve["as_run"], "median": curve["median"],
                          "5%": curve["low"], "95%": curve["high"]},
                         index=pd.Index(curve["trials"], name="trials")).map(_fid_text)), ""]
    weights = importances(study, settings.seed)
    if weights:
        md_parts += ["## Parameter importances (fANOVA)", "",
                     markdown_table(pd.DataFrame({"parameter": list(weights),
                                                  "importance": list(weights.values())})), ""]
    top = table.sort_values("fid").head(TOP) if len(table) else table
    md_parts += ["## Top trials", "",
                 markdown_table(top.set_index("trial").map(cell_text)) if len(top) else "none yet", "",
                 "## Best parameters", "", "```yaml", best_yaml.rstrip(), "```", ""]
    markdown = "\n".join(md_parts)
    body = [f"<h1>Tuning {html.escape(variant)}</h1>", f"<p>{html.escape(head)}</p>",
            f"<p>{html.escape(protocol)}</p>"]
    for title, png in figures:
        body += [f"<h2>{html.escape(title)}</h2>", f'<img alt="{html.escape(title)}" '
                 f'src="data:image/png;base64,{png}">']
    if weights:
        body += ["<h2>Parameter importances (fANOVA)</h2>",
                 pd.DataFrame({"parameter": list(weights), "importance": list(weights.values())}
                              ).to_html(index=False, float_format=lambda v: f"{v:.3f}")]
    body += ["<h2>Top trials</h2>", top.to_html(index=False, na_rep="",
                                                float_format=lambda v: f"{v:.4g}"),
             "<h2>Best parameters</h2>", f"<pre>{html.escape(best_yaml)}</pre>"]
    page = html_page(f"Tuning {variant}", "\n".join(body), max_width=1100)
    return page, markdown, best_yaml, table


def build_budget_comparison(studies: dict[str, optuna.Study], settings: TuneSettings
                            ) -> tuple[str, str, Any]:
    """HTML and Markdown comparing the budget curves of ``studies`` (one budget), and the figure."""
    figure, table = budget_comparison(studies)
    title = f"Budget curves at {settings.budget.describe()} per trial"
    if len(table):
        wide = table.pivot(index="trials", columns="variant", values="median")
        wide.columns = [f"{c}: median best FID" for c in wide.columns]
        # inf: no complete trial among k yet; NaN: the study has fewer than k.
        wide = wide.map(_fid_text)
    else:
        wide = pd.DataFrame()
    counts = {v: len(finished_values(trials_table(s))) for v, s in studies.items()}
    head = (f"Studies compared: {', '.join(f'{v} ({n} trials)' if n != 1 else f'{v} (1 trial)' for v, n in counts.items()) or 'none'}. "
            "Each curve: the best proxy FID among k trials, median and 5-95% band over "
            "random trial orders (Lucic et al. 2018). Compare variants at equal k.")
    markdown = "\n".join([f"# {title}", "", head, "",
                          markdown_table(wide) if len(wide) else "no trials yet", ""])
    # Closed by png_base64 (out of pyplot's list), it still saves: the catalog's PNG.
    png = png_base64(figure) if len(table) else ""
    body = (f"<h1>{html.escape(title)}</h1><p>{html.escape(head)}</p>"
            + (f'<img alt="budget curves" src="data:image/png;base64,{png}">' if png else "")
            + (wide.to_html() if len(wide) else "<p>no trials yet</p>"))
    page = html_page(title, body)
    return page, markdown, figure
