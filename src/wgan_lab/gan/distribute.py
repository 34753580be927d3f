"""Choosing a ``tf.distribute`` strategy, and who may write files."""
from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import signal
import socket
import tempfile

import tensorflow as tf
from tensorflow.python.eager import context as eager_context

from wgan_lab.stopping import StopRequest

from .cluster import is_chief_task, tf_config

logger = logging.getLogger(__name__)

_multi_worker: tf.distribute.MultiWorkerMirroredStrategy | None = None
_cluster_stop: ClusterStop | None = None


def multi_worker_strategy() -> tf.distribute.MultiWorkerMirroredStrategy:
    """This process's MultiWorkerMirroredStrategy, created on first call.

    TensorFlow configures collective ops once per process and only before its
    first operation, so there is one such strategy per process, and a program
    that runs TensorFlow before training (a Kedro pipeline's data nodes) must
    call this first.
    """
    global _multi_worker
    if _multi_worker is None:
        try:
            _multi_worker = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            if "program startup" not in str(exc):
                raise
            raise RuntimeError(
                "MultiWorkerMirroredStrategy has to be created before TensorFlow runs any "
                "operation in this process: call wgan_lab.gan.distribute.multi_worker_strategy() "
                "first (the Kedro project's hooks do so when TF_CONFIG names a cluster)") from exc
    return _multi_worker


def resolve_distribution(name: str = "auto") -> str:
    """The concrete distribution "auto" stands for on this machine; others unchanged."""
    if name != "auto":
        return name
    if _tf_config_cluster():
        return "multi_worker"
    if len(tf.config.list_logical_devices("GPU")) >= 2:
        return "mirrored"
    return "default"


def describe_devices() -> str:
    """One line for the start of a run: the CPU, its cores, and the GPUs."""
    from .precision import cpu_has_bfloat16_matrix_units, cpu_model

    gpus = tf.config.list_physical_devices("GPU")
    return (f"CPU {cpu_model()} ({os.cpu_count()} cores, bfloat16 matrix units: "
            f"{'yes' if cpu_has_bfloat16_matrix_units() else 'no'}); "
            f"GPUs: {len(gpus) if gpus else 'none'}")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy named ``name``.

    ``auto``: MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster,
    MirroredStrategy over all GPUs when there are two or more, else the
    default (single-device) strategy. ``mirrored`` mirrors over all local GPUs,
    or over all logical CPUs when there is no GPU.
    """
    name = resolve_distribution(name)
    if name == "multi_worker":
        strategy = multi_worker_strategy()
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices)
    elif name == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy((gpus or tf.config.list_logical_devices("CPU"))[0].name)
    elif name == "default":
        strategy = tf.distribute.get_strategy()
    else:
        raise ValueError(f"unknown distribution {name!r}")
    logger.info("Distribution: %s with %d replica(s)", type(strategy).__name__,
                strategy.num_replicas_in_sync)
    return strategy


def _tf_config_cluster() -> bool:
    return bool(tf_config().get("cluster"))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where this process should write checkpoints, models and logs."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not _tf_config_cluster():
        return True
    return is_chief_task({"cluster": resolver.cluster_spec().as_dict() or {},
                          "task": {"type": resolver.task_type, "index": resolver.task_id}})


def loopback_tf_configs(workers: int) -> list[str]:
    """``TF_CONFIG`` values for a cluster of ``workers`` processes on 127.0.0.1.

    For trying multi-worker training on one machine; the ports are free when
    chosen, so start the workers soon after.
    """
    sockets = [socket.socket() for _ in range(workers)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in sockets]}
    finally:
        for sock in sockets:
            sock.close()
    return [json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
            for i in range(workers)]


class ClusterStop:
    """A stop that every worker of a MultiWorkerMirroredStrategy cluster takes at the
    same step: a worker that stopped alone would leave the others waiting in their
    next all-reduce.

    TensorFlow's PreemptionCheckpointHandler does the agreeing. This process's own
    signal handler (``deferred_stop``) stays in charge of SIGINT and SIGTERM: the
    handler polls its flag (``termination_watcher_fn``) instead of taking SIGTERM
    over, tells the cluster through the coordination service, and at the step all
    workers agreed on calls ``exit_fn``, which only marks the stop. The trainer then
    saves through its own checkpoint path at that step boundary, as in one process,
    so the handler's own checkpoint (``save_fn``) is a no-op on an empty scratch
    checkpoint that only holds its run counter.
    """

    _SIGNAL_KEY = "wgan_lab_stop_signal"

    def __init__(self, strategy: tf.distribute.MultiWorkerMirroredStrategy) -> None:
        self.local = StopRequest()
        self.signum: int | None = None
        scratch = tempfile.mkdtemp(prefix="wgan-lab-preemption-")
        atexit.register(shutil.rmtree, scratch, True)
        manager = tf.train.CheckpointManager(tf.train.Checkpoint(), scratch, 1)
        self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver, manager,
            termination_config=tf.distribute.experimental.TerminationConfig(
                termination_watcher_fn=self._signalled, exit_fn=self._agreed,
                save_fn=lambda: None))

    def _signalled(self) -> bool:
        """Polled once a second by the handler's thread; on the worker that got the
        signal, the signal's number goes to the others first."""
        if not self.local:
            return False
        try:
            eager_context.context().set_config_key_value(self._SIGNAL_KEY,
                                                         str(self.local.signum))
        except tf.errors.AlreadyExistsError:   # two workers signalled: the first counts
            pass
        return True

    def _agreed(self) -> None:
        number = eager_context.context().get_config_key_value(self._SIGNAL_KEY)
        self.signum = int(number) if number.isdigit() else signal.SIGTERM

    def __bool__(self) -> bool:
        return self.signum is not None

    def after_call(self) -> None:
        """At every step boundary, on every worker, after the compiled call."""
        self._handler.save_checkpoint_if_preempted()


def cluster_stop(strategy: tf.distribute.MultiWorkerMirroredStrategy,
                 local: StopRequest) -> ClusterStop:
    """This process's ClusterStop, following ``local`` (one per process: the handler's
    coordination keys are the cluster's, and a second handler would find them used)."""
    global _cluster_stop
    if _cluster_stop is None:
        _cluster_stop = ClusterStop(strategy)
    _cluster_stop.local = local
    return _cluster_stop
