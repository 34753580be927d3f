"""The GAN-vs-WGAN comparison: claims tested with numbers, figures, HTML and Markdown.

Everything here is plain data in, text out, so that the report can be rebuilt
from saved tables without retraining.
"""
from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image  # noqa: E402
from scipy import stats  # noqa: E402

from wgan_lab.visualize import image_grid  # noqa: E402

# Columns of the metrics table, with how to read them.
TABLE_COLUMNS = {
    "fid": "FID (lower is better)",
    "kid": "KID",
    "kid_std": "KID std",
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
    "classifier_score": "classifier score",
    "classes_covered": "classes covered",
    "class_kl": "class KL",
    "sliced_wasserstein": "sliced Wasserstein (pixels)",
}
# The last part of training over which stability is measured.
LATE_FRACTION = 0.3
# An evaluation with fewer than this share of the classes covered is a collapse event.
COLLAPSE_SHARE = 0.8


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


def log_y_axis(ax) -> None:
    """A log-scaled y axis with plain numbers (50, 100, 200), not 10^x labels."""
    from matplotlib import ticker

    ax.set_yscale("log")
    ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2, 3, 5)))
    for set_formatter in (ax.yaxis.set_major_formatter, ax.yaxis.set_minor_formatter):
        set_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))


def html_page(title: str, body: str, max_width: int = 1200) -> str:
    """A self-contained report page: ``body`` (HTML) under ``title``, tables ruled."""
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
            f"{html.escape(title)}</title><style>body{{font-family:sans-serif;"
            f"max-width:{max_width}px;margin:auto}} table{{border-collapse:collapse}} "
            "td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>"
            f"{body}</body></html>")


def png_base64(figure_or_image) -> str:
    buffer = io.BytesIO()
    if isinstance(figure_or_image, Image.Image):
        figure_or_image.save(buffer, format="PNG")
    else:
        figure_or_image.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure_or_image)
    return base64.b64encode(buffer.getvalue()).decode()


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


def cell_text(value) -> str:
    """A table cell: "-" for a missing value, four significant digits for a float."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    header = [table.index.name or "", *table.columns]
    rows = [[str(i), *map(str, row)] for i, row in zip(table.index, table.to_numpy())]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


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
