"""The theory report: each claim as the seed article states it, its figure, its verdict
and the numbers behind it (``theory_report.html``, self-contained, and ``.md``)."""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wgan_lab.data.toy import toy_samples
from wgan_lab.experiments.analysis import Verdict
from wgan_lab.experiments.theory import TheorySettings
from wgan_lab.experiments.theory_claims import TheoryTables, theory_verdicts

from .kit import cell_text, html_page, markdown_table, plt, png_base64

# Figure name -> (claims it shows, caption). The report's order.
FIGURES = {
    "divergences": ("T1", "Parallel segments (Arjovsky et al. 2017, Example 1): closed-form "
                    "JS, TV and W1 against theta (lines; KL is infinite at every theta != 0), "
                    "and JS and W1 estimated by trained networks (points, one per seed)."),
    "gaussians": ("T1", "Two 1-D Gaussians at growing distance (WGAN Figure 2): densities, "
                  "the trained discriminator D(x) beside the optimal D*(x), and the critic "
                  "f(x) (top); their gradients in x (bottom)."),
    "vanishing_gradients": ("T2", "A generator frozen at initialisation, the discriminator "
                            "(critic) trained for more and more steps: the norm of the "
                            "generator's gradient under each loss (median and range over seeds)."),
    "lipschitz_weights": ("T3", "Weights of deep critics trained against real data plus "
                          "noise, each divided by its layer's largest magnitude: clipping "
                          "piles them at the bounds (WGAN-GP Figure 1b, right)."),
    "lipschitz_gradients": ("T4", "Gradient norm of the critic's loss at each layer (input "
                            "first; median over seeds): clipping makes it explode or vanish "
                            "with the clip value (WGAN-GP Figure 1b, left)."),
    "value_surfaces": ("T5", "Critic value surfaces with the real samples (white), critics "
                       "trained against real data plus noise (WGAN-GP Figure 1a)."),
    "w1_tracking": ("T5", "The critic's estimate against the exact W1 of the generated "
                    "samples at each evaluation after the first steps, per Wasserstein-loss run."),
    "mixture_samples": ("T6", "Generated samples (first seed, blue) over the real data "
                        "(grey) after the equal budget."),
    "compute_axes": ("T6", "Every mixture run (one line each, coloured by variant): exact W1 "
                     "over the real-vs-real floor, share of modes covered and high-quality "
                     "share, against generator steps, CPU seconds of training and gradient "
                     "evaluations (critic plus generator updates)."),
}


@dataclass
class TheoryReport:
    html: str
    markdown: str
    summary: dict[str, Any]
    verdicts: list[Verdict]
    figures: dict[str, Any]


# ----- figures ------------------------------------------------------------------------
def _divergences_figure(d: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7, 4))
    exact = d[d["source"] == "exact"].pivot(index="theta", columns="quantity", values="value")
    colours = {"js": "tab:blue", "tv": "tab:green", "w1": "tab:red"}
    fine = np.linspace(exact.index.min(), exact.index.max(), 401)
    ax.plot(fine, np.where(fine == 0, 0, np.log(2)), color=colours["js"], label="JS (exact)")
    ax.plot(fine, np.where(fine == 0, 0, 1.0), color=colours["tv"], ls=":", label="TV (exact)")
    ax.plot(fine, np.abs(fine), color=colours["w1"], label="W1 (exact)")
    for quantity, label in (("js", "JS from a discriminator"), ("w1", "W1 from a GP critic")):
        points = d[(d["source"] != "exact") & (d["quantity"] == quantity)]
        ax.scatter(points["theta"], points["value"], color=colours[quantity], marker="x",
                   label=label, zorder=3)
    ax.set_xlabel("theta (distance between the segments)")
    ax.set_ylabel("divergence (nats) / distance")
    ax.legend(fontsize=8)
    return fig


def _gaussians_figure(curves: pd.DataFrame):
    distances = sorted(curves["distance"].unique())
    fig, axes = plt.subplots(2, len(distances), figsize=(4 * len(distances), 6), squeeze=False)
    for i, distance in enumerate(distances):
        c = curves[curves["distance"] == distance]
        top, bottom = axes[0, i], axes[1, i]
        d = c[c["role"] == "discriminator"]
        f = c[c["role"] == "critic"]
        top.fill_between(d["x"], d["p_real"] * 0.5, color="grey", alpha=0.3, label="real density")
        top.fill_between(d["x"], d["p_fake"] * 0.5, color="tab:orange", alpha=0.3,
                         label="fake density")
        top.plot(d["x"], d["output"], color="tab:blue", label="D(x), trained")
        top.plot(d["x"], d["d_star"], color="tab:blue", ls="--", label="D*(x)")
        twin = top.twinx()
        twin.plot(f["x"], f["output"], color="tab:red", label="critic f(x)")
        top.set_title(f"distance {distance:g}")
        bottom.plot(d["x"], d["gradient"], color="tab:blue", label="dD/dx")
        bottom.plot(f["x"], f["gradient"], color="tab:red", label="df/dx")
        bottom.set_xlabel("x")
        if i == 0:
            top.legend(fontsize=7, loc="center left")
            twin.legend(fontsize=7, loc="lower left")
            bottom.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _vanishing_figure(v: pd.DataFrame):
    fig, ax = plt.subplots(figsize=(7, 4))
    for loss, runs in v.groupby("loss", sort=False):
        by_step = runs.groupby("critic_steps")["gradient_norm"]
        steps = by_step.median().index
        ax.plot(steps, by_step.median(), marker="o", label=loss)
        ax.fill_between(steps, by_step.min(), by_step.max(), alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("discriminator (critic) updates, generator frozen")
    ax.set_ylabel("generator gradient norm")
    ax.legend()
    return fig


def _row(names: list[str], height: float = 3.5):
    """One panel per name, side by side: the figure and (axis, name) pairs."""
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), height), squeeze=False)
    return fig, list(zip(axes[0], names))


def _finish_row(fig, panels, ylabel: str):
    panels[0][0].set_ylabel(ylabel)
    panels[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _grid(rows: list[str], columns: list[str], draw, size: float = 3.0):
    """A grid of toy-data panels without ticks, columns titled, rows labelled;
    ``draw(ax, row, column)`` fills each."""
    fig, axes = plt.subplots(len(rows), len(columns),
                             figsize=(size * len(columns), size * len(rows)), squeeze=False)
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            draw(axes[i, j], row, column)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[i, 0].set_ylabel(row)
    for j, column in enumerate(columns):
        axes[0, j].set_title(column)
    fig.tight_layout()
    return fig


def _weights_figure(histograms: pd.DataFrame):
    fig, panels = _row(list(histograms["dataset"].unique()))
    for ax, dataset in panels:
        for constraint, h in histograms[histograms["dataset"] == dataset].groupby(
                "constraint", sort=False):
            ax.step(h["scaled_weight"], h["count"] / h["count"].sum(), where="mid",
                    label=constraint)
        ax.set_title(dataset)
        ax.set_xlabel("weight / largest |weight| of its layer")
    return _finish_row(fig, panels, "share of the critic's weights")


def _layer_gradients_figure(layers: pd.DataFrame):
    fig, panels = _row(list(layers["dataset"].unique()))
    for ax, dataset in panels:
        for constraint, g in layers[layers["dataset"] == dataset].groupby("constraint", sort=False):
            median = g.groupby("layer")["gradient_norm"].median()
            ax.plot(median.index, np.maximum(median, 1e-30), marker="o", label=constraint)
        ax.set_yscale("log")
        ax.set_title(dataset)
        ax.set_xlabel("critic layer (input first)")
    return _finish_row(fig, panels, "gradient norm of the critic loss")


def _tracking_figure(curves: pd.DataFrame):
    # From the first check on: at step 0 the critic has not trained.
    wasserstein = curves[curves["wasserstein_loss"] & (curves["step"] > 0)]
    fig, panels = _row(list(wasserstein["variant"].unique()) or ["-"], height=3.8)
    for ax, variant in panels:
        for dataset, runs in wasserstein[wasserstein["variant"] == variant].groupby("dataset"):
            ax.scatter(runs["exact_w1"], runs["critic_gap"], s=10, label=dataset)
        ax.set_title(variant)
        ax.set_xlabel("exact W1 (generated vs real)")
    return _finish_row(fig, panels, "critic estimate E f(real) - E f(fake)")


def _surfaces_figure(surfaces: pd.DataFrame):
    def draw(ax, constraint: str, dataset: str) -> None:
        s = surfaces[(surfaces["dataset"] == dataset) & (surfaces["constraint"] == constraint)]
        size = int(round(np.sqrt(len(s))))
        ax.contourf(*(s[c].to_numpy().reshape(size, size) for c in ("x", "y", "value")),
                    levels=20, cmap="viridis")
        real = toy_samples(dataset, 300, 0)
        ax.scatter(real[:, 0], real[:, 1], s=2, color="white")
    return _grid(list(surfaces["constraint"].unique()), list(surfaces["dataset"].unique()), draw)


COMPUTE_AXES = {"step": "generator steps", "cpu_seconds": "CPU seconds of training",
                "gradient_evaluations": "gradient evaluations"}


def _compute_axes_figure(curves: pd.DataFrame):
    measures = {"w1_over_floor": "exact W1 / floor", "mode_share": "share of modes covered",
                "high_quality": "high-quality share"}
    curves = curves.assign(w1_over_floor=curves["exact_w1"] / curves["w1_floor"],
                           mode_share=curves.get("modes_covered", np.nan)
                           / curves.get("n_modes", np.nan))
    axes_present = [a for a in COMPUTE_AXES if a in curves]
    fig, grid = plt.subplots(len(measures), len(axes_present), squeeze=False,
                             figsize=(4 * len(axes_present), 2.8 * len(measures)))
    colours = {v: f"C{i}" for i, v in enumerate(curves["variant"].unique())}
    for row, (measure, words) in enumerate(measures.items()):
        for col, axis in enumerate(axes_present):
            ax = grid[row][col]
            for (variant, _, _), run in curves.groupby(["variant", "dataset", "seed"], sort=False):
                ax.plot(run[axis], run[measure], color=colours[variant], alpha=0.5, lw=1)
            if measure == "w1_over_floor":
                ax.set_yscale("log")
            ax.set_xlabel(COMPUTE_AXES[axis])
            if col == 0:
                ax.set_ylabel(words)
    for variant, colour in colours.items():
        grid[0][-1].plot([], [], color=colour, label=variant)
    grid[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _samples_figure(samples: pd.DataFrame):
    def draw(ax, dataset: str, variant: str) -> None:
        real = toy_samples(dataset, 1000, 0)
        s = samples[(samples["dataset"] == dataset) & (samples["variant"] == variant)]
        ax.scatter(real[:, 0], real[:, 1], s=2, color="grey", alpha=0.5)
        ax.scatter(s["x"], s["y"], s=2, color="tab:blue")
        limit = float(np.abs(real).max()) * 1.4
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
    return _grid(list(samples["dataset"].unique()), list(samples["variant"].unique()), draw,
                 size=2.8)


def theory_figures(tables: TheoryTables, gaussian_curves: pd.DataFrame,
                   mixture_samples: pd.DataFrame, lipschitz_layers: pd.DataFrame,
                   weight_histograms: pd.DataFrame, value_surfaces: pd.DataFrame
                   ) -> dict[str, Any]:
    """Every figure of the report, by its name in ``FIGURES``."""
    return {"divergences": _divergences_figure(tables.divergences),
            "gaussians": _gaussians_figure(gaussian_curves),
            "vanishing_gradients": _vanishing_figure(tables.vanishing),
            "lipschitz_weights": _weights_figure(weight_histograms),
            "lipschitz_gradients": _layer_gradients_figure(lipschitz_layers),
            "value_surfaces": _surfaces_figure(value_surfaces),
            "w1_tracking": _tracking_figure(tables.mixture_curves),
            "mixture_samples": _samples_figure(mixture_samples),
            "compute_axes": _compute_axes_figure(tables.mixture_curves)}


# ----- tables and pages -------------------------------------------------------------
def mixtures_budget(settings: TheorySettings) -> str:
    """The mixtures' budget in words, for the report's first lines."""
    s = settings.mixtures
    text = f"mixtures {s.steps:,} generator steps per run"
    if s.convergence:
        text += (f", or fewer where the run converged (exact W1 within "
                 f"{s.convergence.margin:.0%} of the real-vs-real floor for "
                 f"{s.convergence.window} checks in a row, every {s.eval_every:,} steps)")
    return text



def mixtures_table(finals: pd.DataFrame, settings: TheorySettings) -> pd.DataFrame:
    """Per dataset and variant, in the settings' order: median over seeds of each final
    measure, with n."""
    columns = [c for c in ("modes_covered", "high_quality", "exact_w1", "w1_floor")
               if c in finals]
    table = finals.groupby(["dataset", "variant"])[columns].median()
    table["n"] = finals.groupby(["dataset", "variant"]).size()
    order = [(d, v) for d in settings.mixtures.datasets for v in settings.mixtures.variants
             if (d, v) in table.index]
    return table.loc[order].reset_index()


def verdict_table(verdicts: list[Verdict]) -> pd.DataFrame:
    return pd.DataFrame([{"claim": v.key, "statement": v.statement, "verdict": v.verdict,
                          "evidence": v.evidence} for v in verdicts]).set_index("claim")


def build_theory_report(tables: TheoryTables, settings: TheorySettings, figures: dict[str, Any],
                        seconds: dict[str, float] | None = None) -> TheoryReport:
    """The report of one theory run from its tables and figures."""
    verdicts = theory_verdicts(tables, settings)
    verdicts_frame = verdict_table(verdicts)
    mixtures = mixtures_table(tables.mixture_finals, settings)
    intro = (f"Seeds {list(settings.seeds)} (vanishing gradients: {list(settings.vanishing.seeds)}); "
             f"verdicts from {1 - settings.alpha:.0%} bootstrap intervals (CI) of the mean of "
             f"per-seed paired values ({settings.resamples} resamples), n beside each. Toy networks: the points MLP "
             f"{list(settings.hidden_units)}, latent {settings.latent_dim}; "
             f"{mixtures_budget(settings)}.")
    md = ["# From GAN to WGAN, measured where the truth is known", "", intro, "",
          "## Verdicts", "", markdown_table(verdicts_frame), ""]
    body = [f"<h1>From GAN to WGAN, measured where the truth is known</h1><p>{html.escape(intro)}</p>",
            "<h2>Verdicts</h2>", verdicts_frame.to_html(escape=True)]
    for name, (claim, caption) in FIGURES.items():
        if name not in figures:
            continue
        body.append(f"<h2>{claim}: {html.escape(name.replace('_', ' '))}</h2>"
                    f"<p>{html.escape(caption)}</p>")
        first_of_claim = name == next(n for n, (c, _) in FIGURES.items() if c == claim)
        for v in verdicts if first_of_claim else ():
            if v.claim == claim:
                body.append(f"<p><b>{html.escape(v.key)}: {v.verdict}</b>. "
                            f"{html.escape(v.statement)}. {html.escape(v.evidence)}</p>")
        body.append(f"<img src='data:image/png;base64,{png_base64(figures[name])}'>")
        md += [f"## {claim}: {name.replace('_', ' ')}", "", caption, "",
               f"![{name}]({name}.png)", ""]
    shown = mixtures.map(cell_text)
    body += ["<h2>T6: the variants on toy data (medians over seeds)</h2>",
             shown.to_html(index=False, escape=True)]
    md += ["## T6: the variants on toy data (medians over seeds)", "",
           markdown_table(shown.set_index("dataset")), ""]
    if seconds:
        timing = ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items())
        body.append(f"<p>Time per experiment: {html.escape(timing)}.</p>")
        md += [f"Time per experiment: {timing}.", ""]
    summary = {"verdicts": [v.as_dict() for v in verdicts],
               "mixtures": mixtures.replace({np.nan: None}).to_dict("records"),
               "seconds": seconds or {}}
    return TheoryReport(html_page("Theory: from GAN to WGAN", "".join(body)), "\n".join(md),
                        summary, verdicts, figures)
