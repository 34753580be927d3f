"""The one place that talks to MLflow beyond kedro-mlflow's own hooks.

kedro-mlflow opens one MLflow run per ``kedro run`` and logs node parameters.
This module adds what happens inside training (stepped metrics and sample
images), child runs when one kedro run trains several variants, the final
generator as an MLflow model, and checks that the tracking server answers.
"""
from __future__ import annotations

import logging
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import mlflow
import numpy as np
import pandas as pd
import tensorflow as tf

from wgan_lab.core import ProjectError
from wgan_lab.visualize import image_grid
from wgan_lab.wiring import run_context

logger = logging.getLogger(__name__)


class TrackingUnavailableError(ProjectError, RuntimeError):
    """The MLflow tracking server cannot be reached."""


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast with a clear message when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise TrackingUnavailableError(
        f"The MLflow tracking server {uri} is unreachable ({problem}); nothing was trained. "
        f"Start the server, or point MLFLOW_TRACKING_URI at a running one "
        f"(unset it to use the local store sqlite:///mlflow.db)."
    )


def ensure_experiment(uri: str, name: str, create_kwargs: dict[str, Any]) -> None:
    """Create kedro-mlflow's experiment if it is missing, before kedro-mlflow looks.

    Processes that start together on a new tracking store (a study's workers)
    would all find it missing and all create it; every one but the first then
    fails on "already exists". Here the losers find it made.
    """
    client = mlflow.MlflowClient(tracking_uri=uri)
    if client.get_experiment_by_name(name) is not None:
        return
    try:
        client.create_experiment(name, artifact_location=create_kwargs.get("artifact_location"),
                                 tags=create_kwargs.get("tags"))
    except mlflow.exceptions.MlflowException:
        if client.get_experiment_by_name(name) is None:
            raise


def git_commit(path: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class _LogOnce:
    """Runs MLflow calls until one fails; that failure is logged once and later calls
    are skipped, so a tracking outage never stops training, a search or a study."""

    def __init__(self, owner: str, goes_on: str) -> None:
        self.owner, self.goes_on = owner, goes_on
        self.failed = False

    def __call__(self, what: str, action: Callable[[], Any]) -> Any:
        if self.failed:
            return None
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - tracking must not stop the work
            logger.warning("%s: MLflow logging failed at %s (%s); %s", self.owner, what, exc,
                           self.goes_on)
            self.failed = True
            return None


def flatten(params: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


class TrainingTracker:
    """Logs one variant's training; a no-op when no MLflow run is active or not ``enabled``.

    MLflow failures during training are logged once and then ignored, so that
    a tracking outage never costs the trained model.
    """

    def __init__(self, variant: str, training_params: dict[str, Any], enabled: bool = True
                 ) -> None:
        self.variant = variant
        self._enabled = enabled
        self.run_id: str | None = None
        self._params = training_params
        self._child = False
        self._safe = _LogOnce(variant, "training goes on and the model is saved locally")

    def __enter__(self) -> TrainingTracker:
        parent = mlflow.active_run()
        if parent is None or not self._enabled:
            return self

        def start() -> None:
            # A run that trains several variants gives each a child run.
            if len(run_context().training_variants) > 1:
                tags = {k: v for k, v in parent.data.tags.items() if not k.startswith("mlflow.")}
                tags.update(variant=self.variant,
                            architecture=str(self._params.get("model", {}).get("architecture")))
                mlflow.start_run(run_name=self.variant, nested=True, tags=tags)
                self._child = True
                # The same parameter names in every child, so compare lines them up.
                mlflow.log_params({f"training.{k}": v for k, v in flatten(self._params).items()})
            self.run_id = mlflow.active_run().info.run_id
            mlflow.log_dict(self._params, f"config/{self.variant}_training.json")
            # What "auto" settings resolved to on this machine, searchable in the UI.
            mlflow.set_tags({k: str(self._params[k]) for k in ("resolved_precision", "replicas")
                             if k in self._params})
        self._safe("start", start)
        return self

    def __exit__(self, *exc_info) -> None:
        # Ended even after a logging failure: the child must not stay the active run.
        if self._child and mlflow.active_run() is not None:
            try:
                mlflow.end_run("FAILED" if exc_info[0] else "FINISHED")
            except Exception as exc:  # noqa: BLE001
                logger.warning("%s: could not end its MLflow run (%s)", self.variant, exc)

    @property
    def active(self) -> bool:
        return self.run_id is not None and not self._safe.failed

    def on_step(self, step: int, row: dict[str, float]) -> None:
        if self.active:
            self._safe(f"step {step}", lambda: mlflow.log_metrics(
                {k: v for k, v in row.items() if k != "step"}, step=step))

    def on_samples(self, step: int, samples: np.ndarray) -> None:
        if self.active:
            self._safe(f"samples of step {step}", lambda: mlflow.log_image(
                image_grid(samples), key="samples", step=step))


def registered_model_name(prefix: str, variant: str) -> str:
    """The model registry's name for ``variant``'s generators, e.g. wgan_lab-mnist-wgan_gp."""
    return f"{prefix}-{variant}"


def log_trained_generator(run_id: str | None, generator, history: pd.DataFrame,
                          latent_dim: int, registered_name: str | None = None) -> str:
    """Log the history table and the generator as an MLflow model with a signature,
    registered as a new version of ``registered_name`` when given.

    Returns the registered version ("" when nothing was registered). Unlike
    logging during training, a failure here is an error: the caller's message
    says where the local copies are.
    """
    if run_id is None:
        return ""
    active = mlflow.active_run()
    reopen = active is None or active.info.run_id != run_id
    if reopen:
        mlflow.start_run(run_id=run_id, nested=active is not None)
    try:
        mlflow.log_table(history, artifact_file="training_history.json")
        noise = np.random.default_rng(0).standard_normal((2, latent_dim)).astype(np.float32)
        signature = mlflow.models.infer_signature(noise, np.asarray(generator(noise)))
        # Declared requirements spare MLflow inferring them in a subprocess.
        info = mlflow.keras.log_model(generator, name="generator", signature=signature,
                                      registered_model_name=registered_name,
                                      pip_requirements=[f"tensorflow=={tf.__version__}",
                                                        f"keras=={keras.__version__}"])
    finally:
        if reopen:
            mlflow.end_run()
    version = getattr(info, "registered_model_version", None)
    if version is not None:
        logger.info("Generator registered as %s version %s", registered_name, version)
    return "" if version is None else str(version)


def promote_if_best(name: str, version: str, fid: float, protocol: str, alias: str = "best"
                    ) -> bool:
    """Tag a registered version with its FID; move ``alias`` to it if it beats the holder.

    FIDs are only comparable under one evaluation protocol: a holder evaluated
    under another keeps the alias, and the log says why. Returns whether the
    alias moved.
    """
    client = mlflow.MlflowClient()
    client.set_model_version_tag(name, version, "fid", repr(float(fid)))
    client.set_model_version_tag(name, version, "evaluation_protocol", protocol)
    try:
        holder = client.get_model_version_by_alias(name, alias)
    except mlflow.exceptions.MlflowException:
        holder = None
    if holder is not None and str(holder.version) != str(version):
        if holder.tags.get("evaluation_protocol") != protocol:
            logger.warning("%s@%s stays on version %s: it was evaluated under another protocol "
                           "(%s), so its FID cannot be compared with version %s's",
                           name, alias, holder.version, holder.tags.get("evaluation_protocol"),
                           version)
            return False
        held = float(holder.tags.get("fid", "inf"))
        if not fid < held:
            logger.info("%s@%s stays on version %s (FID %.3f; version %s has %.3f)",
                        name, alias, holder.version, held, version, fid)
            return False
    client.set_registered_model_alias(name, alias, version)
    logger.info("%s@%s -> version %s (FID %.3f)", name, alias, version, fid)
    return True


class TrialTracker:
    """Each trial of a search as a child of the kedro run's MLflow run (a no-op without one).

    Tagged with the study, variant and trial number, with the drawn
    parameters, the stepped in-training FID, the final metrics and the state
    (COMPLETE, PRUNED, FAIL), so the MLflow UI can filter and compare trials.
    A tracking failure is logged once and never stops the search.
    """

    def __init__(self, study_name: str, variant: str) -> None:
        self.study_name = study_name
        self.variant = variant
        self._open = False
        self._safe = _LogOnce(f"tuning {study_name}",
                              "the search goes on and the study keeps every result")

    def start(self, number: int, values: dict[str, Any]) -> None:
        if mlflow.active_run() is None:
            return

        def start() -> None:
            mlflow.start_run(run_name=f"{self.variant} trial {number}", nested=True,
                             tags={"tune_study": self.study_name, "variant": self.variant,
                                   "trial": str(number)})
            self._open = True
            mlflow.log_params(values)
        self._safe(f"trial {number}", start)

    def check(self, steps: int, scores: dict[str, float]) -> None:
        if self._open:
            self._safe(f"step {steps}", lambda: mlflow.log_metrics(scores, step=steps))

    def end(self, state: str, final: dict[str, float]) -> None:
        if not self._open:
            return
        self._open = False

        def end() -> None:
            if final:
                mlflow.log_metrics({f"final_{k}": v for k, v in final.items()})
            mlflow.set_tag("state", state)
            mlflow.end_run("FAILED" if state == "FAIL" else "FINISHED")
        self._safe("end of trial", end)


def log_text_artifacts(files: dict[str, str]) -> None:
    """Text files (reports, parameter blocks) into the active MLflow run, if any."""
    if mlflow.active_run() is None:
        return
    for name, text in files.items():
        mlflow.log_text(text, name)


class StudyTracker:
    """A study in MLflow: one parent run, and one child per (variant, seed) under it.

    The runs are made with ``MlflowClient`` in the experiment of the kedro
    run (a no-op without one). The parent is shared by every process of the
    study: its creator makes it and the job store keeps its id. A resumed job
    logs on into its existing child, so each (variant, seed) stays one run.
    """

    def __init__(self, study_name: str) -> None:
        self.study_name = study_name
        active = mlflow.active_run()
        self.client = mlflow.MlflowClient() if active is not None else None
        self.experiment_id = active.info.experiment_id if active is not None else None
        self.parent_id: str | None = None
        self.child_id: str | None = None
        self._safe = _LogOnce(f"study {study_name}",
                              "the study goes on and its job store keeps every result")

    def create_parent(self) -> str | None:
        """A new parent run for the study; returns its id."""
        if self.client is None:
            return None
        run = self._safe("the study's parent run", lambda: self.client.create_run(
            self.experiment_id, run_name=f"study {self.study_name}",
            tags={"study": self.study_name, "study_role": "parent"}))
        self.parent_id = run.info.run_id if run else None
        return self.parent_id

    def use_parent(self, run_id: str | None) -> None:
        """Log under the stored parent; a tracking server that does not hold it (not
        shared between machines) gets a parent of its own."""
        if self.client is None:
            return
        try:
            if run_id:
                self.client.get_run(run_id)
                self.parent_id = run_id
                return
        except Exception:  # noqa: BLE001 - a missing run is what we test for
            logger.warning("study %s: parent run %s is not in this tracking server (%s); "
                           "runs of this process go under a new parent: share "
                           "MLFLOW_TRACKING_URI between the study's processes",
                           self.study_name, run_id, mlflow.get_tracking_uri())
        self.create_parent()

    def start(self, variant: str, seed: int, params: dict[str, Any]) -> None:
        if self.client is None or self.parent_id is None:
            return
        tags = {"study": self.study_name, "study_role": "run", "variant": variant,
                "seed": str(seed)}

        def start() -> None:
            found = self.client.search_runs(
                [self.experiment_id], " and ".join(f"tags.{k} = '{v}'" for k, v in tags.items()),
                max_results=1)
            if found:
                self.child_id = found[0].info.run_id
                self.client.update_run(self.child_id, status="RUNNING")
                return
            run = self.client.create_run(self.experiment_id, run_name=f"{variant} seed {seed}",
                                         tags={**tags, "mlflow.parentRunId": self.parent_id})
            self.child_id = run.info.run_id
            flat = flatten(params)
            self.client.log_batch(self.child_id, params=[
                mlflow.entities.Param(f"training.{k}", str(v)) for k, v in flat.items()])
        self._safe(f"{variant} seed {seed}", start)

    def step(self, step: int, metrics: dict[str, float]) -> None:
        if self.child_id is None:
            return
        now = mlflow.utils.time.get_current_time_millis()
        self._safe(f"step {step}", lambda: self.client.log_batch(self.child_id, metrics=[
            mlflow.entities.Metric(k, float(v), now, step) for k, v in metrics.items()
            if k != "step"]))

    def end(self, state: str, final: dict[str, float]) -> None:
        if self.child_id is None:
            return
        child, self.child_id = self.child_id, None
        now = mlflow.utils.time.get_current_time_millis()

        def end() -> None:
            self.client.log_batch(child, metrics=[
                mlflow.entities.Metric(f"final_{k}", float(v), now, 0) for k, v in final.items()])
            self.client.set_terminated(child, state)
        self._safe("end of run", end)

    def log_summary(self, metrics: dict[str, float], tags: dict[str, str],
                    files: dict[str, str]) -> None:
        """The study's summary metrics, verdicts (tags) and report files on the parent."""
        if self.client is None or self.parent_id is None:
            return
        now = mlflow.utils.time.get_current_time_millis()

        def log() -> None:
            self.client.log_batch(self.parent_id, metrics=[
                mlflow.entities.Metric(k, float(v), now, 0) for k, v in metrics.items()
                if np.isfinite(v)], tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])
            for name, text in files.items():
                self.client.log_text(self.parent_id, text, name)
            self.client.set_terminated(self.parent_id, "FINISHED")
        self._safe("the study's summary", log)
