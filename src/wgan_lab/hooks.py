"""Project hooks: every parameter the run reads checked before its first node, the
MLflow pre-flight check, run tags, where models are on failure, and runs on a
multi-worker cluster. The run's state lives in ``wiring``'s run context, filled
when a run starts and emptied when it ends."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import mlflow
from kedro.config import MissingConfigException
from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines
from kedro.io import MemoryDataset
from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook
from kedro_mlflow.framework.hooks.utils import _flatten_dict
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from wgan_lab import tracking, wiring
from wgan_lab.core import mask_passwords_in_logs, masked
from wgan_lab.gan.cluster import is_chief_task, tf_config
from wgan_lab.gan.distribute import describe_devices, multi_worker_strategy, resolve_distribution
from wgan_lab.gan.precision import resolve_precision
from wgan_lab.locks import RunLock
from wgan_lab.parameter_checks import check_parameters, parameters_read
from wgan_lab.reporting.summary import mlflow_ui_hint, report_lines, variant_lines
from wgan_lab.wiring import TRAINING_NODE

logger = logging.getLogger(__name__)


def _credentials(context) -> dict[str, Any]:
    """Kedro's credentials files of the run's environments; none is no error."""
    try:
        return dict(context.config_loader["credentials"])
    except MissingConfigException:
        return {}


def _training_variants(pipeline) -> set[str]:
    return {n.namespace for n in pipeline.nodes if n.namespace and n.name.endswith("." + TRAINING_NODE)}


class TrackingHooks:
    def __init__(self) -> None:
        self._context = None
        self._saved_models: list[str] = []

    @hook_impl(tryfirst=True)
    def after_context_created(self, context) -> None:
        # No password of a storage or tracking URL in any log line, whoever logs it.
        mask_passwords_in_logs()
        # The registry builds `compare` from this run's `compare.variants`:
        # hand it the run's parameters (runtime ones merged by the loader) and
        # drop pipelines built from the files alone. Not `context.params`: it
        # builds the pipelines to validate against, before they can see these.
        wiring.start_run(context.config_loader["parameters"], _credentials(context))
        pipelines.configure(f"{__package__}.pipeline_registry")
        # Before kedro-mlflow contacts the server, which it would retry for minutes.
        self._context = context
        config = context.config_loader.get("mlflow", {})
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (
            config.get("server", {}).get("mlflow_tracking_uri") or "")
        tracking.check_tracking_uri(str(uri))
        if uri:
            experiment = config.get("tracking", {}).get("experiment", {})
            tracking.ensure_experiment(str(uri), str(experiment.get("name", "Default")),
                                       experiment.get("create_experiment_kwargs") or {})

    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_variants = _training_variants(pipeline)
        wiring.set_training_variants(run_variants)
        self._saved_models = []
        if mlflow.active_run() is None or self._context is None:
            return
        params = self._context.params
        runtime = run_params.get("runtime_params") or {}
        architectures = {str(params.get(v, {}).get("training", {}).get("model", {})
                             .get("architecture")) for v in run_variants}
        mlflow.set_tags({
            "variant": ",".join(sorted(run_variants)) or "none",
            "dataset": runtime.get("dataset") or self._context.config_loader["globals"].get("dataset"),
            "architecture": ",".join(sorted(architectures)) or "none",
            "kedro_env": run_params.get("env") or "local",
            "git_commit": tracking.git_commit(self._context.project_path),
        })
        mlflow.log_dict(masked(params), "config/parameters.json")

    @hook_impl
    def after_pipeline_run(self) -> None:
        # The run's state serves the run only: a later session, `kedro viz` or a
        # notebook in this process starts from the files again.
        wiring.end_run()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data, node) -> None:
        if dataset_name.endswith((".generator", ".critic")):
            self._saved_models.append(dataset_name)

    # tryfirst: kedro-mlflow's own handler may itself fail when the server is gone.
    @hook_impl(tryfirst=True)
    def on_pipeline_error(self, error: Exception, run_params, pipeline, catalog) -> None:
        wiring.end_run()
        # Whatever failed (often MLflow after training), say which trained
        # models this run did save, so nobody retrains to get them back.
        paths = []
        for name in self._saved_models:
            try:
                path = catalog.get(name)._describe().get("filepath")
            except Exception:  # noqa: BLE001 - best effort for the message only
                path = name
            if path:  # a model kept only in memory is not saved anywhere
                paths.append(str(path))
        if paths:
            logger.error("The run failed after training (%s: %s). The trained models are "
                         "saved locally: %s", type(error).__name__, error, ", ".join(paths))


class MaskedMlflowHook(MlflowHook):
    """kedro-mlflow's hook (which settings.py registers in place of the plugin's own
    instance), with two changes: no password of a storage or tracking URL reaches a
    parameter or tag of the run (``runtime_params``, ``study.storage``), and a node's
    parameters go to MLflow in one request, not one per key (hundreds with
    ``parameters``: seconds against a tracking server)."""

    @hook_impl
    def after_context_created(self, context) -> None:
        # One instance serves every session of the process (settings.HOOKS): a new
        # session has no run yet, whatever the last one (another store) had.
        self.run_id = None
        super().after_context_created(context)

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        super().before_pipeline_run(masked(run_params), pipeline, catalog)

    @hook_impl
    def before_node_run(self, node, catalog, inputs: dict[str, Any], is_async: bool) -> None:
        def is_parameter(name: str) -> bool:
            return name.startswith("params:") or name == "parameters"

        # The parent reopens the run for this thread; its parameters are logged here.
        super().before_node_run(node, catalog, {k: v for k, v in inputs.items()
                                                if not is_parameter(k)}, is_async)
        if not self._is_mlflow_enabled:
            return
        params = {name.removeprefix("params:"): value for name, value in inputs.items()
                  if is_parameter(name)}
        if self.flatten:  # kedro-mlflow's own flattening, with mlflow.yml's sep and depth
            params = _flatten_dict(d=params, recursive=self.recursive, sep=self.sep)
        params = {self.sanitize_param_name(k): masked(v) for k, v in params.items()}
        short = {k: v for k, v in params.items() if len(str(v)) <= MAX_PARAM_VAL_LENGTH}
        if short:
            mlflow.log_params(short)
        for name in params.keys() - short.keys():  # the configured long-parameter rule
            self._log_param(name, params[name])


class RunContextHooks:
    """Forget the run's wiring context when anything fails before the run starts.

    Kedro calls no ``on_pipeline_error`` for a failure in ``after_context_created``
    or ``before_pipeline_run`` (a parameter check, an unreachable tracking server, a
    held run lock): without this, pipelines built later in the same process (a
    notebook, the next session) would read the failed run's parameters. Wrappers run
    around every other implementation, whichever hook class raised.
    """

    @hook_impl(wrapper=True)
    def after_context_created(self, context):
        try:
            return (yield)
        except BaseException:
            wiring.end_run()
            raise

    @hook_impl(wrapper=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog):
        try:
            return (yield)
        except BaseException:
            wiring.end_run()
            raise


class _ContextHooks:
    """Hooks that read the session's context (parameters) when the run starts."""

    def __init__(self) -> None:
        self._context = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self._context = context


class ClusterHooks(_ContextHooks):
    """Kedro runs on a ``TF_CONFIG`` cluster, one process per worker.

    Collective ops must be set up before TensorFlow's first operation, which
    the data nodes would run, so the multi-worker strategy is created before
    the pipeline starts. Every worker runs the whole pipeline (training needs
    all of them for its collectives), but the chief's files and MLflow run are
    the result: a non-chief worker keeps its outputs in memory and opens no
    MLflow run, so workers sharing a file system cannot overwrite the chief's
    files or duplicate its run.
    """

    # tryfirst: before kedro-mlflow's hook decides whether to start a run.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        config = tf_config()
        if not config.get("cluster"):
            return
        params = self._context.params if self._context is not None else {}
        if any(params.get(v, {}).get("training", {}).get("runtime", {}).get("distribution", "auto")
               in ("auto", "multi_worker") for v in _training_variants(pipeline)):
            multi_worker_strategy()
        if not is_chief_task(config):
            self._keep_outputs_in_memory(run_params, pipeline, catalog, config["task"])

    @hook_impl
    def after_pipeline_run(self) -> None:
        config = tf_config()
        if config.get("cluster") and not is_chief_task(config):
            # TensorFlow's coordination service lives in the chief's process, which
            # may exit first; this worker's goodbye to it then fails, loudly.
            logger.info("Worker finished. If TensorFlow now logs \"Failed to send RPC to "
                        "coordination service\" as this process exits, the chief exited "
                        "first and took the service with it: harmless, the run is complete.")

    def _keep_outputs_in_memory(self, run_params, pipeline, catalog, task) -> None:
        names = (run_params.get("pipeline_name") or run_params.get("pipeline_names")
                 or ["__default__"])
        names = [names] if isinstance(names, str) else list(names)
        mlflow_config = getattr(self._context, "mlflow", None)
        if mlflow_config is not None:
            disabled = mlflow_config.tracking.disable_tracking
            disabled.pipelines = [*disabled.pipelines, *names]
        outputs = sorted(pipeline.all_outputs())
        for name in outputs:
            # assign: models and datasets are passed on as they are, not deep-copied.
            catalog[name] = MemoryDataset(copy_mode="assign")
        logger.info("Non-chief worker (%s %s): %d outputs kept in memory, no MLflow run; "
                    "the chief writes the results.", task.get("type"), task.get("index"),
                    len(outputs))


class ParameterCheckHooks(_ContextHooks):
    """Every parameter block the run's nodes read, checked before anything runs:
    before ingestion, the classifier, the cluster or an MLflow run start."""

    # tryfirst, and registered last of the project's hooks: the first to run.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._context is not None:
            check_parameters(parameters_read(pipeline), self._context.params)


class SummaryHooks:
    """The run's last lines: per trained variant its protocol metrics, its files, its
    MLflow run and how to open it, its registry entry; the report of a comparison,
    study, search or theory run. Each variant's summary, with its files' paths from
    the catalog, is also saved as its ``run_summary`` JSON for scripts."""

    FILES = {"samples": "final_samples", "sample grids": "sample_grids",
             "curves": "training_curves", "metrics": "metrics"}
    REPORTS = {"comparison report": "comparison_report_html", "search reports": "tune_reports",
               "study reports": "study_reports", "theory report": "theory_reports"}

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if not is_chief_task(tf_config()):
            return
        outputs = pipeline.all_outputs()
        lines: list[str] = []
        for variant in sorted(_training_variants(pipeline)):
            name = f"{variant}.run_summary"
            if name not in outputs:
                continue
            dataset = catalog.get(name)   # the dataset itself: no load/save log lines
            summary = dataset.load()
            summary["files"] = {label: path for label, item in self.FILES.items()
                                if (path := _path_of(catalog, f"{variant}.{item}"))}
            dataset.save(summary)
            lines += variant_lines(summary, _tracking_hint(summary.get("mlflow_run_id")))
        lines += report_lines({label: path for label, dataset in self.REPORTS.items()
                               if dataset in outputs and (path := _path_of(catalog, dataset))})
        if lines:
            # Plain lines on stdout, after Kedro's last log line: what a user reads last.
            print("\n".join(["", "Made by this run:", *lines]), flush=True)


def _path_of(catalog, name: str) -> str | None:
    try:
        described = catalog.get(name)._describe()
    except Exception:  # noqa: BLE001 - a dataset without a path (memory) has none to show
        return None
    path = described.get("filepath") or described.get("path")
    return str(path) if path else None


def _tracking_hint(run_id: str | None) -> str | None:
    if not run_id:
        return None
    uri = mlflow.get_tracking_uri()
    try:
        experiment = mlflow.MlflowClient().get_run(run_id).info.experiment_id
    except Exception:  # noqa: BLE001 - the server may be gone; the run id still says it
        experiment = None
    return mlflow_ui_hint(uri, experiment, run_id)


class RunLockHooks(_ContextHooks):
    """One run at a time per variant's model folder (its checkpoints, models and
    evaluations): a second ``kedro run`` of a variant that is training in the same
    project folder refuses at once, naming the lock and its holder. Variants in other
    folders (another variant, dataset or run suffix) run side by side. On a cluster
    only the chief writes files, so only it locks."""

    def __init__(self) -> None:
        super().__init__()
        self._locks: list[RunLock] = []

    # tryfirst, and registered after ClusterHooks: right after the parameter checks,
    # before anything starts or writes.
    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        if self._context is None or not is_chief_task(tf_config()):
            return
        for variant in sorted(_training_variants(pipeline)):
            folder = self._context.params.get(variant, {}).get("checkpoint_dir")
            if not folder:
                continue
            models = Path(folder).absolute().parent
            lock = RunLock(models / "run.lock", f"variant {variant}'s folder {models}")
            try:
                lock.acquire()
            except Exception:
                self._release()
                raise
            self._locks.append(lock)

    def _release(self) -> None:
        while self._locks:
            self._locks.pop().release()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl
    def on_pipeline_error(self, error: Exception, run_params, pipeline, catalog) -> None:
        self._release()


class RunSetupHooks(_ContextHooks):
    """The first lines of a run: the devices, and each variant's strategy and precision."""

    # trylast: after ClusterHooks has set up a multi-worker cluster.
    @hook_impl(trylast=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        run_variants = sorted(_training_variants(pipeline))
        if not run_variants or self._context is None:
            return
        logger.info("Devices: %s", describe_devices())
        for variant in run_variants:
            training = self._context.params.get(variant, {}).get("training", {})
            runtime = training.get("runtime", {})
            distribution = runtime.get("distribution", "auto")
            precision = runtime.get("precision", "auto")
            architecture = training.get("model", {}).get("architecture", "mlp")
            try:
                chosen = resolve_precision(precision, architecture)
            except KeyError:  # an unknown architecture fails in training, with its message
                chosen = "?"
            logger.info("%s: distribution %s (%s), precision %s (%s)", variant,
                        resolve_distribution(distribution), distribution, chosen, precision)
