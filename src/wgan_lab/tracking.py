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

from wgan_lab.core import ProjectError, masked_url, section
from wgan_lab.gan.conditioning import LABEL_INPUT, generator_classes
from wgan_lab.experiments.store import (KEDRO_RUN_ID_ATTR, RUN_ID_ATTR, RunCallbacks,
                                        check_database_url)
from wgan_lab.visualize import image_grid
from wgan_lab.wiring import run_context

logger = logging.getLogger(__name__)


class TrackingUnavailableError(ProjectError, RuntimeError):
    """The MLflow tracking server cannot be reached."""


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Fail fast with a clear message when an HTTP tracking server does not answer, or a
    database tracking store cannot serve (no driver, no server)."""
    if "://" in uri and not uri.startswith(("http://", "https://", "file:")):
        check_database_url(uri, "MLFLOW_TRACKING_URI")
        return
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
        f"The MLflow tracking server {masked_url(uri)} is unreachable ({problem}); nothing "
        f"was trained. "
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


@section
class ModelRegistrySettings:
    """The ``model_registry`` block: every trained generator becomes a version of the
    registered model `<name_prefix>-<variant>`, and ``alias`` moves to the version
    with the lowest FID under the same evaluation protocol."""

    name_prefix: str
    alias: str = "best"


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
        example = noise
        if generator_classes(generator):
            # A conditional generator is asked for a class per image: its signature says so.
            example = {"z": noise, LABEL_INPUT: np.zeros(2, np.int32)}
        signature = mlflow.models.infer_signature(example, np.asarray(generator(example)))
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


# MLflow names that say which FID a number is: the declared protocol's (thousands of
# samples, after training) or a check's during training (a few hundred, noisier).
PROTOCOL_PREFIX = "protocol_"
IN_TRAINING_PREFIX = "training_"
IN_TRAINING_SCORES = ("fid", "classes_covered")


def metric_name(key: str) -> str:
    """The MLflow name of an in-training value: scores of a check get their prefix,
    losses and counters keep theirs."""
    return f"{IN_TRAINING_PREFIX}{key}" if key in IN_TRAINING_SCORES else key


def protocol_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of a protocol evaluation, under their MLflow names."""
    return {f"{prefix}{PROTOCOL_PREFIX}{k}": float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)}


def log_protocol_metrics(run_id: str | None, variant: str, metrics: dict[str, Any]) -> None:
    """The protocol's metrics as metrics of ``variant``'s run, and of its parent (a
    comparison) prefixed by the variant, so runs sort and chart by them in the UI."""
    if not run_id:
        return
    client = mlflow.MlflowClient()
    now = mlflow.utils.time.get_current_time_millis()

    def log(run: str, values: dict[str, float]) -> None:
        client.log_batch(run, metrics=[mlflow.entities.Metric(k, v, now, 0)
                                       for k, v in values.items()])
    log(run_id, protocol_metrics(metrics))
    parent = client.get_run(run_id).data.tags.get("mlflow.parentRunId")
    if parent:
        log(parent, protocol_metrics(metrics, prefix=f"{variant}."))


def log_scored_source(source: str, metrics: dict[str, Any], report: str) -> None:
    """A scored generator or sample file into the active MLflow run (the kedro run's):
    the source as a tag, the protocol's metrics, the report as an artifact."""
    if mlflow.active_run() is None:
        return
    mlflow.set_tag("scored_source", source)
    mlflow.log_metrics(protocol_metrics(metrics))
    mlflow.log_text(report, "scored/report.md")


def log_text_artifacts(files: dict[str, str]) -> None:
    """Text files (reports, parameter blocks) into the active MLflow run, if any."""
    if mlflow.active_run() is None:
        return
    for name, text in files.items():
        mlflow.log_text(text, name)


class RunTracker:
    """The runs of an experiment in MLflow: a search's trials and a study's jobs, each
    a child of one parent run; its methods are an experiment's ``RunCallbacks``.

    The parent of a search is the kedro run; the parent of a study is shared by
    every process of the study (its creator makes it, the job store keeps its
    id). A run whose tags match an existing child (a resumed study job) logs on
    into it, so each job stays one run. Each child carries its tags, its
    parameters (under ``param_prefix``), the stepped in-training metrics (a check's
    scores as ``training_*``), the final metrics (under ``final_prefix``) and its
    state (COMPLETE, PRUNED, FAIL). Made with
    ``MlflowClient`` in the kedro run's experiment; a no-op without one. A
    tracking failure is logged once and never stops the work.
    """

    def __init__(self, owner: str, param_prefix: str = "", enabled: bool = True,
                 goes_on: str = "the work goes on and its store keeps every result",
                 final_prefix: str = "final_") -> None:
        self.owner = owner
        self.param_prefix = param_prefix
        self.final_prefix = final_prefix
        active = mlflow.active_run() if enabled else None
        self.client = mlflow.MlflowClient() if active is not None else None
        self.experiment_id = active.info.experiment_id if active is not None else None
        # This process's kedro run: a retry ends it if the process was killed.
        self.kedro_run_id = active.info.run_id if active is not None else None
        self.parent_id: str | None = None
        self.child_id: str | None = None
        # Logging into the parent itself (a kedro run that trains one variant).
        self._adopted = False
        self._safe = _LogOnce(owner, goes_on)

    def callbacks(self) -> RunCallbacks:
        """This tracker as the callbacks a search's trials or a study's jobs report to."""
        process = {KEDRO_RUN_ID_ATTR: self.kedro_run_id} if self.kedro_run_id else {}
        return RunCallbacks(self.start, self.check, self.end, self.abandon, process,
                            evaluated=self.evaluated)

    @property
    def run_id(self) -> str | None:
        """The run this tracker logs into now (None: untracked, or tracking failed)."""
        return None if self._safe.failed else self.child_id

    def adopt_parent(self) -> None:
        """Log into the parent run itself; ``end`` leaves it to its owner."""
        self.child_id, self._adopted = self.parent_id, True

    @classmethod
    def under_active_run(cls, owner: str, **kwargs: Any) -> RunTracker:
        """Children of the kedro run itself (a search's trials, a comparison's variants)."""
        tracker = cls(owner, **kwargs)
        active = mlflow.active_run()
        if tracker.client is not None and active is not None:
            tracker.parent_id = active.info.run_id
        return tracker

    def create_parent(self, name: str, tags: dict[str, str]) -> str | None:
        """A new parent run; returns its id."""
        if self.client is None:
            return None
        run = self._safe("the parent run", lambda: self.client.create_run(
            self.experiment_id, run_name=name, tags=tags))
        self.parent_id = run.info.run_id if run else None
        return self.parent_id

    def use_parent(self, run_id: str | None, name: str, tags: dict[str, str]) -> None:
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
            logger.warning("%s: parent run %s is not in this tracking server (%s); "
                           "runs of this process go under a new parent: share "
                           "MLFLOW_TRACKING_URI between the processes", self.owner, run_id,
                           mlflow.get_tracking_uri())
        self.create_parent(name, tags)

    def start(self, name: str, tags: dict[str, str], params: dict[str, Any],
              resume: bool = True) -> dict[str, str]:
        """A child run under the parent; with ``resume``, the child with these tags if
        one exists (a study job retried after its process died). Returns the child's
        id, to keep on the trial."""
        if self.client is None or self.parent_id is None:
            return {}

        def start() -> None:
            found = resume and self.client.search_runs(
                [self.experiment_id],
                " and ".join([f"tags.{k} = '{v}'" for k, v in tags.items()]
                             + [f"tags.mlflow.parentRunId = '{self.parent_id}'"]),
                max_results=1)
            if found:
                self.child_id = found[0].info.run_id
                self.client.update_run(self.child_id, status="RUNNING")
                return
            run = self.client.create_run(self.experiment_id, run_name=name,
                                         tags={**tags, "mlflow.parentRunId": self.parent_id})
            self.child_id = run.info.run_id
            self.client.log_batch(self.child_id, params=[
                mlflow.entities.Param(f"{self.param_prefix}{k}", str(v))
                for k, v in flatten(params).items()])
        self._safe(name, start)
        return {RUN_ID_ATTR: self.child_id} if self.child_id else {}

    def abandon(self, runs: dict[str, str]) -> None:
        """End as KILLED the runs a killed attempt left RUNNING: its own (unless this
        run carries on in it: a resumed study job) and its process's kedro run."""
        if self.client is None:
            return

        def end() -> None:
            for run_id in set(runs.values()) - {self.child_id, self.kedro_run_id}:
                if self.client.get_run(run_id).info.status == "RUNNING":
                    self.client.set_terminated(run_id, "KILLED")
                    logger.info("%s: MLflow run %s of a killed process ended as KILLED",
                                self.owner, run_id)
        self._safe("ending the runs of a killed attempt", end)

    def check(self, step: int, metrics: dict[str, float]) -> None:
        if self.child_id is None:
            return
        now = mlflow.utils.time.get_current_time_millis()
        self._safe(f"step {step}", lambda: self.client.log_batch(self.child_id, metrics=[
            mlflow.entities.Metric(metric_name(k), float(v), now, step)
            for k, v in metrics.items() if k != "step"]))

    def evaluated(self, budget: str, metrics: dict[str, float]) -> None:
        """The protocol's metrics at one of a study job's budgets, as
        ``budget_<amount>/protocol_<metric>``: the UI charts every budget of a run side
        by side (the final budget's also stay under their plain names)."""
        if self.child_id is None:
            return
        now = mlflow.utils.time.get_current_time_millis()
        self._safe(f"evaluation at budget {budget}", lambda: self.client.log_batch(
            self.child_id, metrics=[mlflow.entities.Metric(f"budget_{budget}/{k}", v, now, 0)
                                    for k, v in protocol_metrics(metrics).items()]))

    def samples(self, step: int, images: np.ndarray, columns: int | None = None) -> None:
        """A grid of generated images at ``step`` (the run's ``samples`` image series)."""
        if self.child_id is None:
            return
        self._safe(f"samples of step {step}", lambda: self.client.log_image(
            self.child_id, image_grid(images, columns), key="samples", step=step))

    def end(self, state: str, final: dict[str, float]) -> None:
        if self.child_id is None:
            return
        child, self.child_id = self.child_id, None
        if self._adopted:
            return
        now = mlflow.utils.time.get_current_time_millis()

        def end() -> None:
            self.client.log_batch(child, metrics=[
                mlflow.entities.Metric(f"{self.final_prefix}{k}", float(v), now, 0)
                for k, v in final.items()],
                tags=[mlflow.entities.RunTag("state", state)])
            self.client.set_terminated(child, {"FAIL": "FAILED", "KILLED": "KILLED"}.get(
                state, "FINISHED"))
        self._safe("end of run", end)

    def log_summary(self, metrics: dict[str, float], tags: dict[str, str],
                    files: dict[str, str], end: bool = True) -> None:
        """Summary metrics, verdicts (tags) and report files on the parent, which ends
        (unless ``end`` is False: a parent that is the kedro run, which kedro-mlflow ends)."""
        if self.client is None or self.parent_id is None:
            return
        now = mlflow.utils.time.get_current_time_millis()

        def log() -> None:
            self.client.log_batch(self.parent_id, metrics=[
                mlflow.entities.Metric(k, float(v), now, 0) for k, v in metrics.items()
                if np.isfinite(v)], tags=[mlflow.entities.RunTag(k, v) for k, v in tags.items()])
            for name, text in files.items():
                self.client.log_text(self.parent_id, text, name)
            if end:
                self.client.set_terminated(self.parent_id, "FINISHED")
        self._safe("the summary", log)




def training_tracker(variant: str, params: dict[str, Any], enabled: bool = True) -> RunTracker:
    """The MLflow run one variant's training logs into, started: the kedro run itself,
    or its child when the run trains several variants (a comparison). A no-op when
    no MLflow run is active or not ``enabled`` (a non-chief worker)."""
    tracker = RunTracker.under_active_run(
        variant, param_prefix="training.", enabled=enabled,
        goes_on="training goes on and the model is saved locally")
    if tracker.parent_id is None:
        return tracker
    if len(run_context().training_variants) <= 1:
        tracker.adopt_parent()
    else:
        parent = tracker._safe("start", lambda: tracker.client.get_run(tracker.parent_id))
        tags = {k: v for k, v in (parent.data.tags.items() if parent else ())
                if not k.startswith("mlflow.")}
        tags.update(variant=variant, architecture=str(params.get("model", {}).get("architecture")))
        # The same parameter names in every child, so compare lines them up.
        tracker.start(variant, tags, {k: v for k, v in params.items()
                                      if k not in ("resolved_precision", "replicas")},
                      resume=False)
    run_id = tracker.child_id

    def describe() -> None:
        tracker.client.log_dict(run_id, params, f"config/{variant}_training.json")
        # What "auto" settings resolved to on this machine, searchable in the UI.
        for key in ("resolved_precision", "replicas"):
            if key in params:
                tracker.client.set_tag(run_id, key, str(params[key]))
    if run_id:
        tracker._safe("start", describe)
    return tracker


def stop_tags(stop) -> dict[str, str]:
    """What the MLflow UI shows of a run stopped by a signal (``stopping.Interrupted``)."""
    tags = {"stopped_by": stop.signal_name}
    if stop.step is not None:
        tags["stopped_at_step"] = str(stop.step)
    if stop.checkpoint:
        tags["stopped_checkpoint"] = str(stop.checkpoint)
    return tags


def end_runs_as_killed(stop) -> None:
    """End the process's open MLflow runs (the kedro run, a training child) as KILLED,
    tagged with the signal and the step reached: not FINISHED by MLflow's exit
    handler, not RUNNING for ever."""
    try:
        while (active := mlflow.active_run()) is not None:
            mlflow.set_tags(stop_tags(stop))
            mlflow.end_run("KILLED")
    except Exception as exc:  # noqa: BLE001 - the stop is said and the exit code set anyway
        logger.warning("MLflow: could not end the stopped run (%s)", exc)
