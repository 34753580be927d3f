"""The lines a run ends with: what it made, where, and how to look at it."""
from __future__ import annotations

from typing import Any

# The metrics' names as a reader knows them and their formats, in the order printed.
METRIC_LABELS = {"fid": ("FID", "{:.1f}"), "precision": ("precision", "{:.3f}"),
                 "recall": ("recall", "{:.3f}"), "classes_covered": ("classes covered", "{:g}")}


def mlflow_ui_hint(tracking_uri: str, experiment_id: str | None, run_id: str) -> str:
    """How to open ``run_id``: the command that serves a local store, or the server's page."""
    page = f"#/experiments/{experiment_id}/runs/{run_id}" if experiment_id else ""
    if tracking_uri.startswith(("http://", "https://")):
        return f"open {tracking_uri.rstrip('/')}/{page}"
    return (f"mlflow ui --backend-store-uri {tracking_uri}, then open "
            f"http://127.0.0.1:5000/{page}")


def variant_lines(summary: dict[str, Any], tracking_hint: str | None) -> list[str]:
    """A trained variant: its protocol metrics, files, MLflow run and registry entry."""
    metrics = summary.get("metrics") or {}
    shown = ", ".join(f"{label} {form.format(metrics[key])}"
                      for key, (label, form) in METRIC_LABELS.items() if key in metrics)
    lines = [f"{summary['variant']}: {shown or 'no metrics'}"]
    lines += [f"  {name}: {path}" for name, path in (summary.get("files") or {}).items()]
    run_id = summary.get("mlflow_run_id")
    lines.append(f"  MLflow run {run_id}: {tracking_hint}" if run_id and tracking_hint
                 else "  MLflow: not tracked in this run")
    registry = summary.get("registry") or {}
    if registry:
        alias = (f"now @{registry['alias']}" if registry["promoted"] else
                 f"@{registry['alias']} stays on another version (the log above says why)")
        lines.append(f"  registry: {registry['name']} version {registry['version']}, {alias}")
    return lines


def report_lines(reports: dict[str, str]) -> list[str]:
    return [f"{name}: {path}" for name, path in reports.items()]
