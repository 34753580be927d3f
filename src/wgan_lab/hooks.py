"""Project hooks: MLflow pre-flight check, run tags, and where models are on failure."""
from __future__ import annotations

import logging
import os
from typing import Any

import mlflow
from kedro.framework.hooks import hook_impl

from wgan_lab import tracking

logger = logging.getLogger(__name__)

TRAINING_NODE = "train"


def _training_variants(pipeline) -> set[str]:
    return {n.namespace for n in pipeline.nodes if n.namespace and n.name.endswith("." + TRAINING_NODE)}


class TrackingHooks:
    def __init__(self) -> None:
        self._context = None
        self._saved_models: list[str] = []

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        # Before kedro-mlflow contacts the server, which it would retry for minutes.
        self._context = context
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (
            context.config_loader.get("mlflow", {}).get("server", {}).get("mlflow_tracking_uri")
            or "")
        tracking.check_tracking_uri(str(uri))

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        variants = _training_variants(pipeline)
        tracking.set_run_variants(variants)
        self._saved_models = []
        if mlflow.active_run() is None or self._context is None:
            return
        params = self._context.params
        runtime = run_params.get("runtime_params") or {}
        architectures = {str(params.get(v, {}).get("training", {}).get("architecture"))
                         for v in variants}
        mlflow.set_tags({
            "variant": ",".join(sorted(variants)) or "none",
            "dataset": runtime.get("dataset") or self._context.config_loader["globals"].get("dataset"),
            "architecture": ",".join(sorted(architectures)) or "none",
            "kedro_env": run_params.get("env") or "local",
            "git_commit": tracking.git_commit(self._context.project_path),
        })
        mlflow.log_dict(params, "config/parameters.json")

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if dataset_name.endswith((".generator", ".critic")):
            self._saved_models.append(dataset_name)

    # tryfirst: kedro-mlflow's own handler may itself fail when the server is gone.
    @hook_impl(tryfirst=True)
    def on_pipeline_error(self, error: Exception, run_params, pipeline, catalog) -> None:
        # Whatever failed (often MLflow after training), say which trained
        # models this run did save, so nobody retrains to get them back.
        paths = []
        for name in self._saved_models:
            try:
                paths.append(str(catalog.get(name)._describe().get("filepath", name)))
            except Exception:  # noqa: BLE001 - best effort for the message only
                paths.append(name)
        if paths:
            logger.error("The run failed after training (%s: %s). The trained models are "
                         "saved locally: %s", type(error).__name__, error, ", ".join(paths))
