"""The GAN-vs-WGAN comparison: claims tested with numbers, figures, HTML and Markdown.

Everything here is plain data in, text out, so that the report can be rebuilt
from saved tables without retraining.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from wgan_lab.evaluation.metrics import METRICS
from wgan_lab.evaluation.measures import LATE_FRACTION, estimate_tracks_fid, late_stability
from wgan_lab.visualize import image_grid

from .kit import cell_text, markdown_table, plt, png_base64

# Columns of the metrics table, with how to read them: the metrics registry's labels.
TABLE_COLUMNS = {name: metric.label for name, metric in METRICS.items()}
@dataclass
class VariantRun:
    """What one trained variant contributes to the report."""

    name: str
    metrics: dict[str, Any]
    history: pd.DataFrame
    fid_history: pd.DataFrame
    class_histogram: list[float]
    samples: np.ndarray
    interpolation: np.ndarray


def wasserstein_tracks_quality(run: VariantRun) -> dict[str, float] | None:
    """Spearman correlation of the critic's Wasserstein estimate with FID over training."""
    return estimate_tracks_fid(run.history, run.fid_history)


def stability(run: VariantRun, n_classes: int) -> dict[str, float] | None:
    """FID jitter late in training and mode-collapse events (``late_stability``)."""
    return late_stability(run.fid_history, n_classes)


def _fid_figure(runs: list[VariantRun], floor: dict):
    figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for run in runs:
        if run.fid_history is not None and "fid" in run.fid_history and len(run.fid_history):
            axes[0].plot(run.fid_history["step"], run.fid_history["fid"], marker=".", label=run.name)
            axes[1].plot(run.fid_history["seconds"] / 60, run.fid_history["fid"], marker=".",
                         label=run.name)
    for ax, xlabel in zip(axes, ("generator step", "training time (minutes)")):
        if "fid" in floor:
            ax.axhline(floor["fid"], color="grey", linestyle="--", label="real floor")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("FID (in-training sample)")
        ax.set_yscale("log")
        ax.legend()
    return figure


def _plot_losses(ax, name: str, h: pd.DataFrame) -> None:
    """Critic and generator losses, and the Wasserstein estimate on its own axis."""
    ax.plot(h["step"], h["critic_loss"], label="critic loss")
    ax.plot(h["step"], h["generator_loss"], label="generator loss")
    # Its own axis: under weight clipping the estimate is orders of magnitude smaller.
    estimate = ax.twinx()
    estimate.plot(h["step"], h["wasserstein_estimate"], color="tab:green",
                  label="Wasserstein estimate (right axis)")
    # Scale to the settled part: the first steps (before clipping bites) dwarf the rest.
    settled = h.loc[h["step"] > h["step"].max() * 0.05, "wasserstein_estimate"]
    if len(settled) > 1 and settled.max() > settled.min():
        low, high = settled.quantile(0.01), settled.quantile(0.99)
        estimate.set_ylim(low - 0.1 * (high - low), high + 0.1 * (high - low))
    ax.set_title(name)
    ax.set_xlabel("generator step")
    ax.legend(fontsize=8, loc="upper left")
    estimate.legend(fontsize=8, loc="upper right")


def _loss_figure(runs: list[VariantRun]):
    figure, axes = plt.subplots(1, len(runs), figsize=(5 * len(runs), 3.5), squeeze=False)
    for ax, run in zip(axes[0], runs):
        _plot_losses(ax, run.name, run.history)
    return figure


def training_curves(name: str, history: pd.DataFrame, fid_history: pd.DataFrame | None):
    """One variant's losses and in-training FID by step, as one figure."""
    figure, (losses, fid) = plt.subplots(1, 2, figsize=(11, 3.8))
    _plot_losses(losses, f"{name}: losses", history)
    if fid_history is not None and "fid" in fid_history and len(fid_history):
        fid.plot(fid_history["step"], fid_history["fid"], marker=".")
        fid.set_yscale("log")
    else:
        fid.text(0.5, 0.5, "no in-training FID (eval_every: 0)", ha="center",
                 transform=fid.transAxes)
    fid.set_title(f"{name}: FID (in-training sample)")
    fid.set_xlabel("generator step")
    figure.tight_layout()
    return figure


def _histogram_figure(runs: list[VariantRun], real_histogram: list[float], class_names):
    n = len(real_histogram)
    figure, ax = plt.subplots(figsize=(11, 3.5))
    width = 0.8 / (len(runs) + 1)
    x = np.arange(n)
    ax.bar(x, real_histogram, width, label="real test")
    for i, run in enumerate(runs, start=1):
        if len(run.class_histogram) == n:
            ax.bar(x + i * width, run.class_histogram, width, label=run.name)
    ax.set_xticks(x + width * len(runs) / 2, class_names or [str(i) for i in range(n)],
                  rotation=30, fontsize=8)
    ax.set_ylabel("share of predicted classes")
    ax.legend()
    return figure


def metrics_table(runs: list[VariantRun], floor: dict) -> pd.DataFrame:
    rows = []
    for label, values in [("real train vs test (floor)", floor)] + [(r.name, r.metrics) for r in runs]:
        rows.append({"variant": label, **{TABLE_COLUMNS[k]: values.get(k) for k in TABLE_COLUMNS}})
    table = pd.DataFrame(rows).set_index("variant")
    return table.dropna(axis=1, how="all")


def findings(runs: list[VariantRun], n_classes: int) -> tuple[list[str], dict[str, Any]]:
    """Sentences that test the seed article's claims, and the numbers behind them."""
    lines, numbers = [], {}
    for run in runs:
        tracked = wasserstein_tracks_quality(run)
        steady = stability(run, n_classes)
        numbers[run.name] = {"wasserstein_vs_fid": tracked, "stability": steady}
        if tracked:
            verdict = ("tracks sample quality" if tracked["spearman_rho"] > 0.5 and tracked["p_value"] < 0.05
                       else "does not clearly track sample quality")
            lines.append(
                # E[D(x)] - E[D(G(z))]: the Wasserstein estimate only for the Wasserstein losses.
                f"{run.name}: the critic gap E[D(x)] - E[D(G(z))] {verdict} (Spearman rho with FID "
                f"{tracked['spearman_rho']:.2f}, p = {tracked['p_value']:.2g}, "
                f"{tracked['points']} evaluations).")
        if steady:
            collapse = (f", {steady['collapse_events']} mode-collapse events"
                        if "collapse_events" in steady else "")
            jitter = (f", jitter around its trend {steady['late_fid_jitter']:.1%}"
                      if "late_fid_jitter" in steady else "")
            lines.append(
                f"{run.name}: FID over the last {LATE_FRACTION:.0%} of training "
                f"{steady['late_fid_mean']:.2f} +- {steady['late_fid_std']:.2f}{jitter}{collapse}.")
    stable = {name: n["stability"]["late_fid_jitter"] for name, n in numbers.items()
              if n["stability"] and "late_fid_jitter" in n["stability"]}
    if len(stable) > 1:
        best = min(stable, key=stable.get)
        lines.append(f"Most stable late in training (least FID jitter around its trend): {best}.")
    return lines, numbers


def build_report(runs: list[VariantRun], floor: dict, real_histogram: list[float],
                 class_names: list[str], protocol: dict, feature_space: str
                 ) -> tuple[str, str, dict[str, Any]]:
    """The HTML report (images embedded), the Markdown summary, and the findings' numbers."""
    n_classes = len(real_histogram)
    table = metrics_table(runs, floor)
    lines, numbers = findings(runs, n_classes)
    protocol_text = (f"{protocol.get('n_samples')} generated vs {protocol.get('n_samples')} real "
                     f"test images, seed {protocol.get('seed')}, k = {protocol.get('k')}, "
                     f"features: {feature_space}")
    markdown = "\n".join([
        "# GAN vs WGAN vs WGAN-GP", "",
        f"Protocol: {protocol_text}.", "",
        markdown_table(table.map(cell_text)), "",
        "## Findings", "",
        *[f"- {line}" for line in lines], "",
        "Figures, samples and interpolations: comparison_report.html.", "",
    ])
    figures = [("FID during training, by step and by wall-clock time", png_base64(_fid_figure(runs, floor))),
               ("Losses and the critic gap E[D(x)] - E[D(G(z))] (the Wasserstein estimate for the "
                "Wasserstein losses)", png_base64(_loss_figure(runs)))]
    if n_classes:
        figures.append(("Predicted classes of generated samples",
                        png_base64(_histogram_figure(runs, real_histogram, class_names))))
    samples = "".join(
        f"<figure><img src='data:image/png;base64,{png_base64(image_grid(r.samples, columns=8))}'>"
        f"<figcaption>{html.escape(r.name)}</figcaption></figure>" for r in runs)
    interpolations = "".join(
        f"<figure><img src='data:image/png;base64,{png_base64(image_grid(r.interpolation, columns=10))}'>"
        f"<figcaption>{html.escape(r.name)}</figcaption></figure>" for r in runs)
    body = "\n".join([
        "<h1>GAN vs WGAN vs WGAN-GP</h1>",
        f"<p>Protocol: {html.escape(protocol_text)}.</p>",
        "<h2>Metrics</h2>", table.map(cell_text).to_html(border=0, classes="metrics"),
        "<h2>Findings</h2><ul>", *[f"<li>{html.escape(line)}</li>" for line in lines], "</ul>",
        *[f"<h2>{html.escape(t)}</h2><img src='data:image/png;base64,{png}'>" for t, png in figures],
        "<h2>Samples (fixed noise)</h2><div class='row'>", samples, "</div>",
        "<h2>Latent-space interpolation</h2><div class='row'>", interpolations, "</div>",
    ])
    page = ("<!doctype html><html><head><meta charset='utf-8'><title>wgan-lab comparison</title>"
            "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}"
            "table.metrics{border-collapse:collapse}table.metrics td,table.metrics th"
            "{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}"
            ".row{display:flex;gap:16px;flex-wrap:wrap}figure{margin:0}</style></head><body>"
            f"{body}</body></html>")
    return page, markdown, {"table": table.reset_index().to_dict("records"), "findings": numbers}
