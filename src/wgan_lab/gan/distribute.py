"""Choosing a ``tf.distribute`` strategy, and who may write files."""
from __future__ import annotations

import json
import logging
import os
import socket

import tensorflow as tf

logger = logging.getLogger(__name__)


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """The strategy named ``name``.

    ``auto``: MultiWorkerMirroredStrategy when ``TF_CONFIG`` names a cluster,
    MirroredStrategy over all GPUs when there are two or more, else the
    default (single-device) strategy. ``mirrored`` mirrors over all local GPUs,
    or over all logical CPUs when there is no GPU.
    """
    if name == "auto":
        if _tf_config_cluster():
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) >= 2:
            name = "mirrored"
        else:
            name = "default"
    if name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
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
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    return bool(config.get("cluster"))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True where this process should write checkpoints, models and logs."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not _tf_config_cluster():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0) \
        or task_type is None


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
