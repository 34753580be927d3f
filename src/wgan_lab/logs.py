"""The console log follows where it goes: rich on a terminal, one plain line per record
elsewhere (a file, CI, a pipe), where rich would wrap every line at 80 columns.

``conf/logging.yml`` declares both handlers and makes the plain one the default, so
a process that never calls ``follow_the_terminal`` still writes whole lines. Kedro
allows only ``logging`` and ``kedro.logging`` classes in that file, and chooses
nothing by terminal, hence this one switch, made when the project's settings load.
"""
from __future__ import annotations

import copy
import logging
import os
import sys
import warnings

PLAIN, RICH = "console", "rich"

# Warnings a default run would print that are neither ours to fix nor the user's
# concern: (message, module that the warning names). Each is matched by its text and
# its module together, never by category alone, so any other warning still shows.
KNOWN_NOISE = (
    # Kedro 1.7's and kedro-mlflow's resolvers, registered through omegaconf's old API.
    (r"register_new_resolver\(\) is deprecated", r"kedro\.config\.omegaconf_config"),
    (r"register_new_resolver\(\) is deprecated", r"kedro_mlflow\.framework\.hooks\.mlflow_hook"),
    # The comparison reads every variant's namespaced outputs (``wgan.metrics``) from
    # outside their namespaces, by design.
    (r"One or more dataset names contain '\.' characters",
     r"wgan_lab\.pipelines\.reporting\.pipeline"),
)


# kedro-mlflow's KedroPipelineModel.predict has no type hints, and MLflow says so when
# kedro-mlflow is imported, before any model of ours exists. MLflow issues it under
# its own `simplefilter("once")`, which no filter of ours can outrank, so it is
# dropped where Kedro's logging receives it (py.warnings): by its text and the file
# that issues it.
MLFLOW_FORCED = (("Add type hints to the `predict` method", "mlflow/pyfunc/utils/data_validation.py"),)


class _DropForcedWarnings(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(message in text and path in text for message, path in MLFLOW_FORCED)


def quiet_start() -> None:
    """Kedro's ``kedro.init`` entry point: runs first in every ``kedro`` command of this
    environment, before plugins are imported (kedro-mlflow warns on import)."""
    for message, module in KNOWN_NOISE:
        warnings.filterwarnings("ignore", message=message, module=module)
    captured = logging.getLogger("py.warnings")
    if not any(isinstance(f, _DropForcedWarnings) for f in captured.filters):
        captured.addFilter(_DropForcedWarnings())


def follow_the_terminal(stream=None) -> bool:
    """On a terminal, let the project's ``rich`` handler take the place of the plain
    one. Returns whether it did. A configuration of the user's own
    (``KEDRO_LOGGING_CONFIG``, or a logging.yml without both handlers) is left as it is."""
    from kedro.framework.project import LOGGING

    stream = stream or sys.stderr
    config = LOGGING.data
    root = (config.get("root") or {}).get("handlers") or []
    handlers = config.get("handlers") or {}
    if (os.environ.get("KEDRO_LOGGING_CONFIG") or PLAIN not in root or RICH not in handlers
            or not hasattr(stream, "isatty") or not stream.isatty()):
        return False
    config = copy.deepcopy(config)
    config["root"]["handlers"] = [RICH if name == PLAIN else name for name in root]
    LOGGING.configure(config)
    return True
