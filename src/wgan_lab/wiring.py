"""Kedro wiring that every layer may read: the config loader's settings and the
run context. Imports nothing of the project, so nothing here can close a circle.

Kedro builds pipelines before it knows a run's ``--params`` (kedro-org/kedro
#3093), so the project hook hands the run's parameters over before any pipeline
is built, and tells the tracking layer which variants the run trains. Both live
in one ``RunContext`` that the hooks fill when a run starts and empty when it
ends or fails: a notebook, ``kedro viz`` or a second session in the same
process sees none of an earlier run's state.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf.resolvers import oc

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # `oc.env` lets mlflow.yml follow MLFLOW_TRACKING_URI when it is set.
    "custom_resolvers": {"oc.env": oc.env},
    # Environments such as conf/quick override single parameters, not whole blocks.
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}

# The training node of a variant's namespaced pipeline: "<variant>.train".
TRAINING_NODE = "train"


@dataclass
class RunContext:
    """What the hooks hand to the pipeline registry and the trackers for one run."""

    # The run's parameters, runtime --params merged (None: read the files).
    parameters: dict[str, Any] | None = None
    # The variants the run trains; more than one means each logs into a child run.
    training_variants: tuple[str, ...] = ()
    # Kedro's credentials (conf/local/credentials.yml): passwords of storage URLs,
    # kept out of the parameters so that nothing logs or tracks them.
    credentials: dict[str, Any] = field(default_factory=dict)


_context = RunContext()


def run_context() -> RunContext:
    return _context


def start_run(parameters: dict[str, Any] | None,
              credentials: dict[str, Any] | None = None) -> None:
    """A new run begins: its parameters and credentials, and nothing of the one before."""
    global _context
    _context = RunContext(parameters=parameters, credentials=dict(credentials or {}))


def set_training_variants(variants) -> None:
    _context.training_variants = tuple(sorted(variants))


def end_run() -> None:
    """The run is over (finished or failed): forget it."""
    global _context
    _context = RunContext()
