"""The seed article's theoretical claims (T1 to T6) as verdicts on the theory runs.

Each claim is tested on per-seed values paired by construction (the same seed's
generator, data and evaluation samples), so a claim needs no two-group test:
the bootstrap interval (at 1 - alpha) of the mean paired value over seeds (and
datasets, clip values) decides, as in ``statistics.verdict_of_interval``: supported when the
whole interval lies on the claimed side of the threshold, contradicted when it
lies on the other, inconclusive otherwise or with fewer than two values. The
interval and n go beside every verdict.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from wgan_lab.evaluation.divergences import LOG2
from wgan_lab.evaluation.statistics import (CONTRADICTED, SUPPORTED, Interval, bootstrap_interval,
                                            verdict_of_interval)

from .analysis import Verdict
from .theory import TheorySettings

# T1: the discriminator "saturates" when its JS estimate at the smallest separation
# already reaches this share of log 2.
SATURATED = 0.9


@dataclass(frozen=True)
class TheoryTables:
    """What the theory runs measured (``experiments.theory``'s tables)."""

    divergences: pd.DataFrame
    gaussians: pd.DataFrame
    vanishing: pd.DataFrame
    mixture_finals: pd.DataFrame
    mixture_curves: pd.DataFrame
    lipschitz: pd.DataFrame


def _interval(values, settings: TheorySettings) -> Interval:
    """The mean of ``values`` with its bootstrap interval at 1 - alpha."""
    return bootstrap_interval(np.asarray(values, float), np.mean, confidence=1 - settings.alpha,
                              resamples=settings.resamples, seed=settings.bootstrap_seed)


def _text(name: str, interval: Interval) -> str:
    return (f"{name} {interval.estimate:.3g}, CI [{interval.low:.3g}, {interval.high:.3g}], "
            f"n = {interval.n}")


def claim_t1(tables: TheoryTables, settings: TheorySettings) -> list[Verdict]:
    """JS and KL are uninformative for disjoint supports, W1 moves continuously."""
    d = tables.divergences
    exact = d[d["source"] == "exact"].pivot(index="theta", columns="quantity", values="value")
    apart = exact[exact.index != 0]
    holds = (np.allclose(apart["js"], LOG2) and np.all(np.isinf(apart["kl"]))
             and np.allclose(apart["w1"], np.abs(apart.index)))
    out = [Verdict("T1", "T1.closed_form",
                   "Closed form: for parallel segments at any theta != 0, JS = log 2 and KL = "
                   "infinity (they jump at 0 and are flat), while W1 = abs(theta)",
                   SUPPORTED if holds else CONTRADICTED,
                   f"on the grid theta = {', '.join(f'{t:g}' for t in exact.index)}: JS "
                   f"{', '.join(f'{v:.3f}' for v in exact['js'])}; W1 "
                   f"{', '.join(f'{v:.3g}' for v in exact['w1'])}")]
    estimated = d[d["source"] != "exact"]
    nonzero = sorted({abs(t) for t in estimated["theta"] if t != 0})
    if nonzero:
        js = estimated[(estimated["quantity"] == "js") & (estimated["theta"].abs() == nonzero[0])]
        shares = js.groupby("seed")["value"].mean() / LOG2
        interval = _interval(shares, settings)
        out.append(Verdict("T1", "T1.js_saturates",
                           f"A trained discriminator's JS estimate is already at log 2 "
                           f"(at least {SATURATED:.0%} of it) at the smallest separation "
                           f"(theta = {nonzero[0]:g}): it cannot tell near from far",
                           verdict_of_interval(interval, SATURATED),
                           _text("JS estimate / log 2", interval)))
    w1 = estimated[estimated["quantity"] == "w1"]
    rhos, errors = [], []
    for _, runs in w1.groupby("seed"):
        rhos.append(stats.spearmanr(runs["theta"].abs(), runs["value"]).statistic)
        errors.append(np.max(np.abs(runs["value"] - runs["theta"].abs())))
    interval = _interval(rhos, settings)
    out.append(Verdict("T1", "T1.w1_moves",
                       "A critic trained with the gradient penalty estimates a W1 that grows "
                       "with abs(theta) (Spearman rho of estimate and abs(theta) > 0 per seed)",
                       verdict_of_interval(interval, 0.0),
                       _text("mean rho", interval) + f"; largest error abs(estimate - abs(theta)) "
                       f"{np.max(errors):.3g}" if errors else "no W1 estimate"))
    g = tables.gaussians
    if len(g) and g["distance"].nunique() > 1:
        near, far = g["distance"].min(), g["distance"].max()
        by_seed = g.set_index(["seed", "distance"])
        drop = {role: [np.log10(max(by_seed.loc[(s, far), f"{role}_gradient_at_fake"], 1e-30)
                                / max(by_seed.loc[(s, near), f"{role}_gradient_at_fake"], 1e-30))
                       for s in g["seed"].unique()] for role in ("discriminator", "critic")}
        difference = _interval(np.subtract(drop["discriminator"], drop["critic"]), settings)
        out.append(Verdict("T1", "T1.gaussian_gradients",
                           f"Between two Gaussians moved apart (distance {near:g} to {far:g}), "
                           f"the trained discriminator's gradient at the generated samples "
                           f"vanishes, the critic's does not (WGAN Figure 2): its log10 drop is "
                           f"larger than the critic's",
                           verdict_of_interval(difference, -math.inf, 0.0),
                           _text("log10 drop, discriminator minus critic", difference)
                           + f"; discriminator {np.mean(drop['discriminator']):.3g}, critic "
                           f"{np.mean(drop['critic']):.3g} orders of magnitude"))
    return out


def claim_t2(tables: TheoryTables, settings: TheorySettings) -> list[Verdict]:
    """The minimax generator gradient vanishes as the discriminator nears optimality,
    the Wasserstein one does not."""
    v = tables.vanishing
    first, last = v["critic_steps"].min(), v["critic_steps"].max()
    norms = v.pivot_table(index="seed", columns=["loss", "critic_steps"], values="gradient_norm")

    def drop(loss: str) -> pd.Series:
        return np.log10(np.maximum(norms[(loss, last)], 1e-30) / norms[(loss, first)])

    minimax, wasserstein = drop("minimax"), drop("wasserstein")
    difference = _interval(minimax - wasserstein, settings)
    evidence = (_text(f"log10 change of the gradient norm from {first} to {last} "
                      f"discriminator steps, minimax minus Wasserstein", difference)
                + f"; minimax {minimax.mean():.3g}, non-saturating "
                f"{drop('non_saturating').mean():.3g}, Wasserstein {wasserstein.mean():.3g}")
    return [Verdict("T2", "T2.minimax_vanishes",
                    "As the discriminator trains towards optimality against a frozen "
                    "generator, the minimax generator's gradient vanishes (falls by more "
                    "orders of magnitude than the Wasserstein generator's)",
                    verdict_of_interval(difference, -math.inf, 0.0), evidence)]


def _paired_with_penalty(lipschitz: pd.DataFrame, column: str, transform=lambda x: x) -> np.ndarray:
    """Each clipped critic's value minus the penalty critic's on the same dataset and seed."""
    table = lipschitz.assign(value=transform(lipschitz[column]))
    penalty = table[table["clip_value"].isna()].set_index(["dataset", "seed"])["value"]
    clipped = table[table["clip_value"].notna()]
    return np.array([row.value - penalty[(row.dataset, row.seed)]
                     for row in clipped.itertuples() if (row.dataset, row.seed) in penalty])


def claim_t3_t4(tables: TheoryTables, settings: TheorySettings) -> list[Verdict]:
    lip = tables.lipschitz
    at_bound = _interval(_paired_with_penalty(lip, "at_bound"), settings)
    clipped = lip[lip["clip_value"].notna()]
    per_clip = clipped.groupby("clip_value")
    bound_text = ", ".join(f"c = {c:g}: {g['at_bound'].mean():.2f}" for c, g in per_clip)
    penalty = lip[lip["clip_value"].isna()]
    out = [Verdict("T3", "T3.clipping_at_bounds",
                   "Weight clipping pushes the critic's weights to the clip bounds, the "
                   "gradient penalty does not (share of weights at their layer's largest "
                   f"magnitude, >= {0.99:.0%} of it)",
                   verdict_of_interval(at_bound, 0.0),
                   _text("share at the bound, clipped minus penalty critic", at_bound)
                   + f"; clipped {bound_text}; penalty {penalty['at_bound'].mean():.4f}")]
    orders = _interval(_paired_with_penalty(lip, "log10_mean_norm", np.abs), settings)
    norm_text = ", ".join(f"c = {c:g}: {g['log10_mean_norm'].mean():+.2g}" for c, g in per_clip)
    out.append(Verdict("T4", "T4.clipping_gradients",
                       "With clipping, the critic's layer gradient norms explode or vanish "
                       "depending on the clip value; with the penalty they do not (distance of "
                       "the mean log10 layer norm from 0, clipped minus penalty critic)",
                       verdict_of_interval(orders, 0.0),
                       _text("orders of magnitude further from 1", orders)
                       + f"; mean log10 layer norm, {norm_text}; penalty "
                       f"{penalty['log10_mean_norm'].mean():+.2g}"))
    return out


def changing_checks(run: pd.DataFrame) -> pd.DataFrame | None:
    """The trained checks of one mixture run over which its exact W1 still changes:
    from the first up to the first that comes within the real-vs-real floor of the
    run's final W1. None when the generator moved less than the floor over the whole
    run (the range of its exact W1, step 0 included, is below the floor): there the
    critic's estimate has nothing to track."""
    run = run.sort_values("step")
    floor = float(run["w1_floor"].median())
    if run["exact_w1"].max() - run["exact_w1"].min() < floor:
        return None
    trained = run[run["step"] > 0]
    final = float(trained["exact_w1"].iloc[-1])
    settled = np.flatnonzero(np.abs(trained["exact_w1"].to_numpy() - final) <= floor)
    return trained.iloc[:settled[0] + 1] if len(settled) else trained


def claim_t5(tables: TheoryTables, settings: TheorySettings) -> list[Verdict]:
    """The critic's estimate tracks the true W1 over training, where the true W1 changes."""
    curves = tables.mixture_curves
    out = []
    for variant, runs in curves[curves["wasserstein_loss"]].groupby("variant", sort=False):
        rhos, ratios, still = [], [], 0
        groups = list(runs.groupby(["dataset", "seed"]))
        for _, run in groups:
            last = run.sort_values("step").iloc[-1]
            ratios.append(last["critic_gap"] / last["exact_w1"])
            part = changing_checks(run)
            if part is None:
                still += 1
            elif len(part) >= 3 and part["critic_gap"].nunique() > 1 and part["exact_w1"].nunique() > 1:
                rhos.append(stats.spearmanr(part["critic_gap"], part["exact_w1"]).statistic)
        interval = _interval(rhos, settings)
        ratio = _interval(ratios, settings)
        out.append(Verdict("T5", f"T5.{variant}.tracks",
                           f"{variant}'s critic estimate tracks the exact W1 over training, "
                           f"over the checks where the exact W1 changes (mean Spearman rho "
                           f"per run > 0; runs whose generator did not move left out)",
                           verdict_of_interval(interval, 0.0),
                           _text("mean rho", interval) + f"; {still} of {len(groups)} runs "
                           f"moved less than the real-vs-real floor (left out); " + _text(
                               "final estimate / exact W1", ratio)))
    lip = tables.lipschitz
    penalty = lip[lip["clip_value"].isna()] if "clip_value" in lip else lip
    if len(penalty):
        ratio = _interval(penalty["w1_estimate"] / penalty["w1_exact"], settings)
        out.append(Verdict("T5", "T5.penalty_critic_value",
                           "A critic trained with the penalty to near-optimality against a "
                           "fixed generator estimates the exact W1 within 20%",
                           verdict_of_interval(ratio, 0.8, 1.2),
                           _text("estimate / exact W1", ratio)))
    return out


def at_equal_cpu_seconds(curves: pd.DataFrame) -> pd.DataFrame:
    """Each mixture run's last check within the CPU seconds that every variant of its
    dataset and seed reached: the runs compared at equal compute, not equal steps."""
    rows = []
    for _, runs in curves.groupby(["dataset", "seed"]):
        budget = runs.groupby("variant")["cpu_seconds"].max().min()
        within = runs[runs["cpu_seconds"] <= budget].sort_values("step")
        rows.append(within.groupby("variant").tail(1).assign(cpu_budget=budget))
    return pd.concat(rows, ignore_index=True) if rows else curves.iloc[:0]


def _compared_with(finals: pd.DataFrame, settings: TheorySettings, baseline: str,
                   suffix: str, budget_words: str) -> list[Verdict]:
    """T6's two verdicts per variant against ``baseline`` on ``finals`` (one row per
    dataset, seed and variant), paired by dataset and seed."""
    finals = finals.assign(mode_share=finals["modes_covered"] / finals["n_modes"])
    out = []
    if baseline not in set(finals["variant"]):
        return out
    keyed = finals.set_index(["dataset", "seed", "variant"])
    for variant in [v for v in finals["variant"].unique() if v != baseline]:
        pairs = [(key[0], key[1]) for key in keyed.index if key[2] == variant
                 and (key[0], key[1], baseline) in keyed.index]

        def differences(column: str) -> np.ndarray:
            values = [keyed.loc[(d, s, variant), column] - keyed.loc[(d, s, baseline), column]
                      for d, s in pairs]
            return np.array([v for v in values if np.isfinite(v)])

        modes = _interval(differences("mode_share"), settings)
        w1 = _interval(differences("exact_w1"), settings)
        quality = _interval(differences("high_quality"), settings)
        out.append(Verdict("T6", f"T6.{variant}.modes{suffix}",
                           f"{variant} covers more modes than {baseline} {budget_words} "
                           f"(share of mixture modes covered)",
                           verdict_of_interval(modes, 0.0),
                           _text(f"share of modes, {variant} minus {baseline}", modes)
                           + "; " + _text("high-quality share difference", quality)))
        out.append(Verdict("T6", f"T6.{variant}.w1{suffix}",
                           f"{variant}'s samples are closer to the data than {baseline}'s "
                           f"{budget_words} (exact W1, same evaluation samples)",
                           verdict_of_interval(w1, -math.inf, 0.0),
                           _text(f"exact W1, {variant} minus {baseline}", w1)))
    return out


def claim_t6(tables: TheoryTables, settings: TheorySettings, baseline: str = "gan"
             ) -> list[Verdict]:
    """Mode coverage and sample quality per variant against gan: at an equal number of
    generator steps (the end of every run), then at equal CPU seconds."""
    out = _compared_with(tables.mixture_finals, settings, baseline, "",
                         "at an equal number of generator steps")
    curves = tables.mixture_curves
    if "cpu_seconds" in curves and curves["cpu_seconds"].notna().all():
        out += _compared_with(at_equal_cpu_seconds(curves), settings, baseline, ".equal_cpu",
                              "at equal CPU seconds of training")
    return out


def theory_verdicts(tables: TheoryTables, settings: TheorySettings) -> list[Verdict]:
    """T1 to T6, in order."""
    return [*claim_t1(tables, settings), *claim_t2(tables, settings),
            *claim_t3_t4(tables, settings), *claim_t5(tables, settings),
            *claim_t6(tables, settings)]
