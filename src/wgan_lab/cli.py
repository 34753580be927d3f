"""`kedro run` as Kedro has it, with the project's errors said in one line.

An error about the project's inputs (a parameter, a data file, a diverged loss:
``wgan_lab.core.ProjectError``) already says what is wrong and what to do; a
traceback around it only hides it. Such an error ends the run with its message
whole on one line of stderr and exit code 1. ``WGAN_LAB_TRACEBACK=1`` shows the
traceback as well. Every other error is Kedro's as usual.

SIGINT (Ctrl-C) and SIGTERM stop a run truthfully (``wgan_lab.stopping``):
training saves a checkpoint at the step reached, the MLflow runs still open
end as KILLED with the signal and the step as tags, one line says what was
kept, and the exit code is the signal's (130, 143).
"""
from __future__ import annotations

import os
import sys

import click
from kedro.framework.cli.project import run as kedro_run

from wgan_lab.core import ProjectError, masked_url
from wgan_lab.stopping import Interrupted, signals_raise

TRACEBACK_ENV = "WGAN_LAB_TRACEBACK"


def project_error(error: BaseException) -> ProjectError | None:
    """The project's own error behind ``error`` (Kedro may wrap it, e.g. in a dataset error)."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, ProjectError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def one_line(error: BaseException) -> str:
    return " ".join(masked_url(str(error)).split())


def _run(**kwargs):
    # `--pipeline=wgan` is how this project's users have always started a run: it
    # stays a spelling of `--pipelines=wgan` here, without Kedro's deprecation notice.
    if kwargs.get("pipeline") and not kwargs.get("pipelines"):
        kwargs["pipelines"], kwargs["pipeline"] = [kwargs["pipeline"]], None
    try:
        with signals_raise():
            return kedro_run.callback(**kwargs)
    except Interrupted as stop:
        from wgan_lab.tracking import end_runs_as_killed

        end_runs_as_killed(stop)
        print(f"Stopped: {one_line(stop)}", file=sys.stderr, flush=True)
        sys.exit(stop.exit_code)
    except Exception as error:
        found = project_error(error)
        if found is None or os.environ.get(TRACEBACK_ENV):
            raise
        # Plain print: a console handler would wrap the line mid-word.
        print(f"Error: {one_line(found)}", file=sys.stderr, flush=True)
        sys.exit(1)


@click.group(name="wgan_lab")
def cli() -> None:
    """The project's commands (Kedro's, with `run` saying the project's errors in one line)."""


cli.add_command(click.Command("run", params=kedro_run.params, callback=_run,
                              help=kedro_run.help, short_help=kedro_run.short_help))
