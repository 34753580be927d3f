"""The experiment layer's store: Optuna RDB storages shared by processes and
machines, where a search's trials and a study's (variant, seed) jobs live.

What both kinds of experiment share is here once: the storage and its
settings (URL, heartbeat), the worker loop, the trial attributes, what counts
as finished, the callbacks a run reports through, and the guard around each
run (its worker, its error, its callbacks, a clean Keras session after it).
``search`` (tuning), ``seeds`` (the study) and ``theory`` (its toy runs, a plain
job list) are thin users of it.

Heartbeats and stale-trial retries are what let a shared storage survive a
killed process: a running trial whose process stops writing heartbeats for
``heartbeat.grace`` seconds is failed and its settings queued again.
"""
from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from optuna.trial import TrialState

from wgan_lab.core import ConfigError, masked_url, section
from wgan_lab.stopping import Interrupted
from wgan_lab.wiring import run_context

logger = logging.getLogger(__name__)

RUN, WAIT, DONE = "run", "wait", "done"
# Trial user attributes. A run that failed with an error of its own carries it
# (a killed one does not); a trial that gave way to another process is surplus;
# a study job keeps its result.
ERROR_ATTR = "error"
SURPLUS_ATTR = "surplus"
RESULT_ATTR = "result"
# Study user attribute: a plain job list's jobs (``open_job_list``), set once all are queued.
JOB_LIST_ATTR = "job_list"
WORKER_ATTR = "worker"
# A run's MLflow run and its process's kedro run, kept on its trial under these names
# (``RunCallbacks``). A retry inherits them from the killed trial, so the process
# that retries it can end the runs left open.
RUN_ID_ATTR, KEDRO_RUN_ID_ATTR = "mlflow_run_id", "mlflow_kedro_run_id"
TRACKING_ATTRS = (RUN_ID_ATTR, KEDRO_RUN_ID_ATTR)


@section
class Heartbeat:
    """A running trial whose process has not written a heartbeat for ``grace``
    seconds is failed and queued again."""

    interval: int = 10
    grace: int = 40

    def __post_init__(self) -> None:
        if not 0 < self.interval < self.grace:
            raise ValueError("needs 0 < interval < grace (seconds)")


class NoQueuedJob(RuntimeError):
    """The trial was not taken from the job list: another process took the last job."""


class QueueOnlySampler(optuna.samplers.RandomSampler):
    """Hands out queued jobs only: a trial with nothing queued fails its first suggestion."""

    def sample_independent(self, study, trial, param_name, param_distribution):
        raise NoQueuedJob(f"trial {trial.number}: no queued job left")


def this_worker() -> str:
    """This process, as a trial's ``WORKER_ATTR`` names it."""
    return f"{socket.gethostname()}:{os.getpid()}"


def is_finished(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete, pruned, or failed with an error of its own (not killed, not surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs


@dataclass
class RunCallbacks:
    """What a search trial or a study job reports (to MLflow); any may be None.

    ``process_attrs``: ``TRACKING_ATTRS`` of this process (its kedro run), noted on
    a trial before anything else; ``start(name, tags, params)`` returns the run's
    own, ``check(step, metrics)`` at each in-training evaluation, ``end(state,
    final metrics)`` with state COMPLETE, PRUNED or FAIL; ``abandon(attrs)`` gets
    the ``TRACKING_ATTRS`` of a killed attempt that this run retries;
    ``evaluated(budget, metrics)`` the protocol's metrics of a study job at each of
    its budgets (``budget`` as the job store writes it: "60", "240").
    """

    start: Callable[[str, dict[str, str], dict[str, Any]], dict[str, str] | None] | None = None
    check: Callable[[int, dict[str, float]], None] | None = None
    end: Callable[[str, dict[str, float]], None] | None = None
    abandon: Callable[[dict[str, str]], None] | None = None
    process_attrs: dict[str, str] = field(default_factory=dict)
    evaluated: Callable[[str, dict[str, float]], None] | None = None


# What a run calls once it has started, with its own tracking ids (``begin_attempt``).
Started = Callable[[dict[str, str] | None], None]


def begin_attempt(trial: optuna.Trial, callbacks: RunCallbacks) -> Started:
    """Note this process on ``trial`` (its worker and ``callbacks.process_attrs``), and
    return what to call with the run's own tracking attributes once it has started:
    it notes them and ends the runs a killed attempt of this trial left open."""
    # A retry inherits the killed trial's attributes: read them before noting ours.
    dead_attempt = {k: trial.user_attrs[k] for k in TRACKING_ATTRS if k in trial.user_attrs}
    trial.set_user_attr(WORKER_ATTR, this_worker())
    for key, value in callbacks.process_attrs.items():
        trial.set_user_attr(key, value)

    def started(own: dict[str, str] | None) -> None:
        for key, value in (own or {}).items():
            trial.set_user_attr(key, value)
        if dead_attempt and callbacks.abandon:
            callbacks.abandon(dead_attempt)
    return started


def guarded_run(trial: optuna.Trial, callbacks: RunCallbacks, name: str, tags: dict[str, str],
                params: dict[str, Any] | Callable[[], dict[str, Any]],
                body: Callable[[], dict[str, float]],
                clear_session: Callable[[], None] | None = None) -> dict[str, float]:
    """Run ``body`` (it returns the final metrics) as one trial: its worker and
    process noted first (``params`` may be drawn after that, by a callable), its
    callbacks started and ended with its state, an error of its own kept on the
    trial (a killed run keeps none, so it is retried), the session cleared after.
    A retry ends what the killed attempt left open (``callbacks.abandon``)."""
    started = begin_attempt(trial, callbacks)
    params = params() if callable(params) else params
    state, final = "FAIL", {}
    started(callbacks.start(name, tags, params) if callbacks.start else None)
    try:
        final = body()
        state = "COMPLETE"
        return final
    except optuna.TrialPruned:
        state = "PRUNED"
        raise
    except Interrupted:
        # Not an error of its own: the trial is queued again (``work_until_done``).
        state = "KILLED"
        raise
    except Exception as exc:
        trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if callbacks.end:
            callbacks.end(state, final)
        if clear_session:
            clear_session()


def stable(function, *args, **kwargs):
    """Call an Optuna API it labels experimental (heartbeats, stale-trial retries,
    at every call) without the warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return function(*args, **kwargs)


# Drivers SQLAlchemy picks for a URL scheme, and what installs them.
DRIVER_HINTS = {"psycopg": 'pip install -e ".[postgres]"', "psycopg2": "pip install psycopg2-binary",
                "pymysql": "pip install pymysql", "MySQLdb": "pip install mysqlclient"}


def check_database_url(url: str, where: str, timeout: int = 5) -> None:
    """Fail naming ``where`` when ``url`` cannot serve as a storage: not a URL, its
    driver not installed, or (a server database) not answering within ``timeout``.
    A SQLite file is made on first use, so only its folder is checked."""
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(f"{where}: not a database URL (got {masked_url(url)!r}); use "
                          f"sqlite:///path.db "
                          f"or postgresql://user@host/db") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        dialect = parsed.get_dialect()
        dialect.import_dbapi()
    except sqlalchemy.exc.NoSuchModuleError:
        raise ConfigError(f"{where}: {parsed.drivername}:// is not a database SQLAlchemy "
                          f"knows (got {shown})") from None
    except ImportError as exc:
        module = getattr(exc, "name", None) or str(exc)
        hint = DRIVER_HINTS.get(module, f"install the Python package {module}")
        raise ConfigError(f"{where}: the database driver for {parsed.drivername}:// is not "
                          f"installed (no module {module}); {hint}") from None
    if parsed.drivername.startswith("sqlite"):
        folder = Path(parsed.database or ".").parent
        existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
        if parsed.database not in (None, "", ":memory:") and not os.access(existing, os.W_OK):
            raise ConfigError(f"{where}: cannot create {parsed.database} ({existing} is not "
                              f"writable)")
        return
    engine = sqlalchemy.create_engine(parsed, connect_args={"connect_timeout": timeout},
                                      poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise ConfigError(f"{where}: cannot connect to {shown} ({reason})") from None
    finally:
        engine.dispose()


def storage_url(url: str, credentials: str | None, where: str) -> str:
    """``url`` to connect with: with ``credentials``, the password (and user, if
    given) of that entry of Kedro's credentials (conf/local/credentials.yml) put in.
    Without, ``url`` as given: its own password, or none and the driver's own
    (``PGPASSWORD``, ``~/.pgpass``). What this returns is never logged or shown."""
    if not credentials:
        return url
    known = run_context().credentials
    entry = known.get(credentials)
    if not isinstance(entry, dict) or not entry.get("password"):
        raise ConfigError(f"{where}: no entry {credentials!r} with a password in Kedro's "
                          f"credentials (conf/local/credentials.yml; entries there: "
                          f"{', '.join(sorted(known)) or 'none'})")
    parsed = sqlalchemy.engine.make_url(url)
    filled = parsed.set(username=str(entry.get("username") or parsed.username or ""),
                        password=str(entry["password"]))
    return filled.render_as_string(hide_password=False)


def open_storage(url: str, heartbeat: Heartbeat,
                 max_retry: int | None = 1) -> optuna.storages.RDBStorage:
    """The storage at ``url`` (SQLite file or any SQLAlchemy URL), schema made if new."""
    parsed = sqlalchemy.engine.make_url(url)
    engine_kwargs = {}
    if parsed.drivername.startswith("sqlite"):
        # Parallel processes wait for SQLite's lock instead of failing at once.
        engine_kwargs = {"connect_args": {"timeout": 120}}
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # Optuna writes its schema on the first connection to a new storage; processes
    # that start together race on it (a UNIQUE alembic_version row): the losers
    # retry and find the schema made.
    attempts = 10
    for attempt in range(attempts):
        try:
            return stable(
                optuna.storages.RDBStorage, url, engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat.interval, grace_period=heartbeat.grace,
                heartbeat_stale_trial_callback=stable(
                    optuna.storages.RetryHeartbeatStaleTrialCallback, max_retry=max_retry))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 + attempt)
    # Not reached: the last attempt raises.
    raise RuntimeError(f"could not open {masked_url(url)}")


def create_study(storage: optuna.storages.BaseStorage, name: str, objective: str,
                 **kwargs: Any) -> optuna.Study:
    """A new study minimizing ``objective``, named so in optuna-dashboard; raises
    DuplicatedStudyError when another process made it first."""
    study = optuna.create_study(storage=storage, study_name=name, direction="minimize",
                                **kwargs)
    stable(study.set_metric_names, [objective])
    return study


def work_until_done(study: optuna.Study, objective: Callable[[optuna.Trial], float],
                    status: Callable[[], tuple[str, str]], poll_seconds: float = 5.0) -> int:
    """Run trials of ``study`` one at a time while ``status()`` says RUN; returns how
    many this process ran once it says DONE.

    While it says WAIT (the last trials run in other processes) this process
    waits for them: if such a process dies, its trial goes stale after the
    grace period, is queued again, and this process runs it. The message of
    ``status`` is logged when the state changes.
    """
    ran, last = 0, None
    while True:
        stable(optuna.storages.fail_stale_trials, study)
        state, message = status()
        if state != last:
            logger.info("%s: %s", study.study_name, message)
            last = state
        if state == DONE:
            return ran
        if state == WAIT:
            time.sleep(poll_seconds)
            continue
        try:
            stable(study.optimize, objective, n_trials=1, catch=(Exception,))
        except Interrupted:
            requeue_own_stopped_trial(study)
            raise
        ran += 1


def job_list_status(done: int, total: int, queued: int, running: int, lost: str = ""
                    ) -> tuple[str, str]:
    """A job list's state for ``work_until_done``: RUN while jobs are queued, WAIT while
    the last run elsewhere, DONE after (``lost``: what was given up, if any)."""
    if queued:
        return RUN, f"{done} of {total} jobs finished, {queued} queued"
    if running:
        return WAIT, f"{done} of {total} jobs finished, waiting for {running} running elsewhere"
    return DONE, f"{done} of {total} jobs finished" + (f"; {lost}" if lost else "")


def requeue_own_stopped_trial(study: optuna.Study) -> None:
    """This process was stopped by a signal in a trial (Optuna marked it failed): queue
    its settings again now, as the heartbeat would after its grace, so that another
    process (or the rerun) takes it at once; a study job resumes from its checkpoint."""
    own = [t for t in study.get_trials(deepcopy=False)
           if t.user_attrs.get(WORKER_ATTR) == this_worker() and t.state == TrialState.FAIL
           and ERROR_ATTR not in t.user_attrs]
    if own:
        stable(optuna.storages.RetryHeartbeatStaleTrialCallback, max_retry=None)(study, own[-1])
        logger.info("%s: trial %d was stopped by a signal and is queued again",
                    study.study_name, own[-1].number)


# ----- a plain job list: named jobs, each run once, its result kept ------------------
Job = dict[str, Any]


def open_job_list(storage: optuna.storages.BaseStorage, name: str, jobs: list[Job],
                  wait_seconds: float = 120.0) -> optuna.Study:
    """The study ``name`` holding one queued trial per job (a job is its parameters,
    e.g. {"dataset": ..., "variant": ..., "seed": ...}), queued by the first process
    that opens it; the others wait until the list is complete."""
    try:
        study = create_study(storage, name, "result", sampler=QueueOnlySampler())
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=QueueOnlySampler())
    else:
        for job in jobs:
            study.enqueue_trial(job)
        study.set_user_attr(JOB_LIST_ATTR, jobs)
        return study
    deadline = time.monotonic() + wait_seconds
    while JOB_LIST_ATTR not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(f"job list {name!r} is incomplete: its creating process stopped "
                              f"while queueing; delete the study (optuna delete-study "
                              f"--study-name {name}) and run again")
        time.sleep(1.0)
        study = optuna.load_study(study_name=name, storage=storage, sampler=QueueOnlySampler())
    return study


JobListRunner = Callable[[Job, Started], dict[str, Any]]


def run_job_list(study: optuna.Study, run_job: JobListRunner, describe: Callable[[Job], str] = str,
                 callbacks: RunCallbacks | None = None, poll_seconds: float = 5.0) -> int:
    """Take queued jobs until none is left or running elsewhere (``work_until_done``);
    each job's result (JSON) is kept on its trial. Returns how many ran here.

    ``run_job(job, started)`` calls ``started`` with what ``callbacks.start`` returned
    (``begin_attempt``): a retried job then ends the tracked runs its killed attempt
    left open."""
    callbacks = callbacks or RunCallbacks()
    jobs: list[Job] = study.user_attrs[JOB_LIST_ATTR]
    keys = list(jobs[0]) if jobs else []

    def objective(trial: optuna.Trial) -> float:
        try:
            job = {k: trial.suggest_categorical(k, sorted({j[k] for j in jobs})) for k in keys}
        except NoQueuedJob:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise
        started = begin_attempt(trial, callbacks)
        try:
            trial.set_user_attr(RESULT_ATTR, run_job(job, started))
        except Interrupted:
            raise
        except Exception as exc:
            trial.set_user_attr(ERROR_ATTR, f"{describe(job)}: {type(exc).__name__}: {exc}")
            raise
        return 0.0

    def status() -> tuple[str, str]:
        trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get(SURPLUS_ATTR)]
        return job_list_status(sum(is_finished(t) for t in trials), len(jobs),
                               sum(t.state == TrialState.WAITING for t in trials),
                               sum(t.state == TrialState.RUNNING for t in trials))

    return work_until_done(study, objective, status, poll_seconds)


def job_list_results(study: optuna.Study, describe: Callable[[Job], str] = str
                     ) -> list[tuple[Job, dict[str, Any]]]:
    """Every job with its kept result, in the list's order; a job that failed with an
    error of its own, or was given up after retries, fails here naming it."""
    finished = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.COMPLETE and RESULT_ATTR in trial.user_attrs:
            finished[tuple(sorted(trial.params.items()))] = trial.user_attrs[RESULT_ATTR]
    errors = [t.user_attrs[ERROR_ATTR] for t in study.get_trials(deepcopy=False)
              if t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs]
    results, missing = [], []
    for job in study.user_attrs[JOB_LIST_ATTR]:
        result = finished.get(tuple(sorted(job.items())))
        if result is None:
            missing.append(describe(job))
        else:
            results.append((job, result))
    if missing:
        raise RuntimeError(f"{study.study_name}: {len(missing)} job(s) without a result "
                           f"({'; '.join(missing)})" + (f"; errors: {'; '.join(errors)}"
                                                        if errors else ""))
    return results
