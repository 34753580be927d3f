"""This process's place in a ``TF_CONFIG`` cluster, read without importing TensorFlow.

Kedro hooks need the answer at start-up, before (and whether or not) a
strategy is built, so it is kept apart from ``distribute``.
"""
from __future__ import annotations

import json
import os
from typing import Any


def tf_config() -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` environment variable ({} when unset)."""
    try:
        config = json.loads(os.environ.get("TF_CONFIG", "") or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise ValueError(f"TF_CONFIG must be a JSON object, got {type(config).__name__}")
    return config


def is_chief_task(config: dict[str, Any]) -> bool:
    """Whether the task ``config`` describes should write files and logs.

    True outside a cluster; in one, for the task of type ``chief``, or for
    worker 0 when the cluster has no chief (the rule MultiWorkerMirroredStrategy
    follows).
    """
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    if not cluster or task.get("type") is None:
        return True
    if task["type"] == "chief":
        return True
    return task["type"] == "worker" and int(task.get("index") or 0) == 0 and "chief" not in cluster
