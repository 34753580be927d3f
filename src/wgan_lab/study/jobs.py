"""A study's (variant, seed) runs as a shared job list in an Optuna storage.

The first process to open a study creates it and queues one trial per job
with fixed parameters; every process (on this machine or others, sharing the
storage URL) then takes queued trials until none is left. Optuna hands a
queued trial to exactly one process (an atomic WAITING -> RUNNING change in
the storage); heartbeats mark the trial of a killed process failed once
stale, and the retry callback queues the same job again, which resumes from
its checkpoint. A trial that no queue entry backs (two processes asked for
the last job at once) is surplus: it gives way and is never reported.

Results live with the trial (user attributes): status, metrics, the
in-training curve, the error of a failed run. The report is rebuilt from the
storage alone, whichever process or machine ran each job.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import TrialState

from wgan_lab.core import ConfigError
from wgan_lab.core import Registry, UnknownNameError
from wgan_lab.gan.trainer import BUDGET_UNITS
from wgan_lab.optuna_storage import (DONE, RUN, WAIT, open_storage, storage_settings,
                                     work_until_done)
from wgan_lab.core import listed

logger = logging.getLogger(__name__)

# Trial user attributes.
ERROR_ATTR = "error"
SURPLUS_ATTR = "surplus"
RESULT_ATTR = "result"
# Study user attributes, written once by the creating process.
JOBS_ATTR = "jobs"
SETTINGS_ATTR = "settings_fingerprint"
BUDGET_ATTR = "budget"


class NoQueuedJob(RuntimeError):
    """The trial was not taken from the job list: another process took the last job."""


class QueueOnlySampler(optuna.samplers.RandomSampler):
    """Hands out queued jobs only: a trial with nothing queued fails its first suggestion."""

    def sample_independent(self, study, trial, param_name, param_distribution):
        raise NoQueuedJob(f"trial {trial.number}: no queued job left")


@dataclass(frozen=True)
class StudySettings:
    """``study`` parameters, checked."""

    name: str
    variants: tuple[str, ...]
    seeds: tuple[int, ...]
    storage: str
    checkpoint_root: str
    budget_unit: str = "seconds"
    budget: float = 300.0
    eval_every: int = 1000
    eval_samples: int = 1000
    alpha: float = 0.05
    resamples: int = 2000
    bootstrap_seed: int = 0
    heartbeat_seconds: int = 10
    grace_seconds: int = 40
    max_retry: int = 3

    @classmethod
    def from_params(cls, study: dict[str, Any], family: Registry) -> StudySettings:
        """From the ``study`` block and the variant family; every problem fails here."""
        variants = listed(study.get("variants"))
        for variant in variants:
            try:
                family[variant]
            except UnknownNameError as exc:
                raise ConfigError(f"study.variants: {exc}") from None
        if len(variants) < 1 or len(set(variants)) != len(variants):
            raise ConfigError(f"study.variants: needs one or more distinct variants (got {variants})")
        try:
            seeds = tuple(int(s) for s in listed(study.get("seeds")))
        except ValueError:
            raise ConfigError(f"study.seeds: integers please (got {study.get('seeds')!r})") from None
        if len(seeds) < 1 or len(set(seeds)) != len(seeds):
            raise ConfigError(f"study.seeds: needs one or more distinct seeds (got {list(seeds)})")
        budget = study.get("budget") or {}
        unit = budget.get("unit", cls.budget_unit)
        if unit not in BUDGET_UNITS:
            raise ConfigError(f"study.budget.unit: must be one of {', '.join(BUDGET_UNITS)} "
                              f"(got {unit!r})")
        name = str(study.get("name") or "")
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise ConfigError(f"study.name: a folder name please (got {name!r})")
        settings = cls(
            name=name, variants=tuple(variants), seeds=seeds,
            **storage_settings(study, "study"),
            checkpoint_root=str(study.get("checkpoint_root") or ""),
            budget_unit=unit, budget=float(budget.get("amount", cls.budget)),
            eval_every=int(study.get("eval_every", cls.eval_every)),
            eval_samples=int(study.get("eval_samples", cls.eval_samples)),
            alpha=float(study.get("alpha", cls.alpha)),
            resamples=int(study.get("resamples", cls.resamples)),
            bootstrap_seed=int(study.get("bootstrap_seed", cls.bootstrap_seed)),
            max_retry=int(study.get("max_retry", cls.max_retry)))
        if settings.budget <= 0:
            raise ConfigError(f"study.budget.amount: must be positive (got {settings.budget})")
        if settings.eval_every < 1 or settings.eval_samples < 2:
            raise ConfigError("study.eval_every and study.eval_samples: in-training FIDs are "
                              "what the curves and verdicts use; both must be positive")
        if not 0 < settings.alpha < 1:
            raise ConfigError(f"study.alpha: must be in (0, 1) (got {settings.alpha})")
        if settings.resamples < 2000:
            raise ConfigError(f"study.resamples: at least 2000 bootstrap resamples "
                              f"(got {settings.resamples})")
        return settings

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """Every (variant, seed), variants interleaved so early results cover all of them."""
        return [(variant, seed) for seed in self.seeds for variant in self.variants]

    def fingerprint(self) -> str:
        """What the stored results depend on: processes of one study must agree on it."""
        keys = {"variants": self.variants, "seeds": self.seeds, "unit": self.budget_unit,
                "budget": self.budget, "eval_every": self.eval_every,
                "eval_samples": self.eval_samples}
        return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]

    def checkpoint_dir(self, variant: str, seed: int) -> str:
        return f"{self.checkpoint_root}/{self.name}/{variant}-seed{seed}/checkpoints"


def open_job_store(settings: StudySettings, create: bool = True,
                   on_create: Callable[[optuna.Study], None] | None = None,
                   wait_seconds: float = 120.0) -> optuna.Study:
    """The study's job list, queued by the first process that opens it.

    Joining processes wait for the creator to finish queueing, and refuse a
    study whose stored jobs or budget differ from their parameters.
    ``on_create`` runs in the creating process before joiners may start (it
    can store study attributes they read, e.g. the MLflow parent run).
    """
    storage = open_storage(settings.storage, settings.heartbeat_seconds,
                           settings.grace_seconds, max_retry=settings.max_retry)
    if create:
        try:
            study = optuna.create_study(storage=storage, study_name=settings.name,
                                        direction="minimize", sampler=QueueOnlySampler())
        except optuna.exceptions.DuplicatedStudyError:
            pass
        else:
            for variant, seed in settings.jobs:
                study.enqueue_trial({"variant": variant, "seed": seed})
            if on_create:
                on_create(study)
            study.set_user_attr(SETTINGS_ATTR, settings.fingerprint())
            study.set_user_attr(BUDGET_ATTR, {"unit": settings.budget_unit,
                                              "amount": settings.budget})
            study.set_user_attr(JOBS_ATTR, [list(job) for job in settings.jobs])
            logger.info("study %s: %d jobs queued in %s", settings.name, len(settings.jobs),
                        settings.storage)
            return study
    try:
        study = optuna.load_study(study_name=settings.name, storage=storage,
                                  sampler=QueueOnlySampler())
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise ConfigError(f"no study {settings.name!r} in {settings.storage} (studies there: "
                          f"{', '.join(known) or 'none'}); run the study pipeline first") from None
    deadline = time.monotonic() + wait_seconds
    while JOBS_ATTR not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(f"study {settings.name!r} in {settings.storage} has no job list: "
                              f"its creating process stopped while queueing. Delete it "
                              f"(optuna delete-study --study-name {settings.name} --storage "
                              f"{settings.storage}) and run again")
        time.sleep(1.0)
    stored = [tuple(job) for job in study.user_attrs[JOBS_ATTR]]
    if (stored != settings.jobs
            or study.user_attrs.get(SETTINGS_ATTR) != settings.fingerprint()) and create:
        raise ConfigError(
            f"study {settings.name!r} was started with other settings (jobs "
            f"{stored}); these parameters ask for {settings.jobs} with budget "
            f"{settings.budget:g} {settings.budget_unit}. Name a new study (study.name) to "
            f"change variants, seeds, budget or in-training evaluation")
    return study


def stored_settings(study: optuna.Study, settings: StudySettings) -> StudySettings:
    """``settings`` with the variants, seeds and budget the study was started with: a
    report rebuilt with other parameters still describes the stored runs."""
    jobs = [tuple(job) for job in study.user_attrs[JOBS_ATTR]]
    budget = study.user_attrs.get(BUDGET_ATTR) or {}
    return dataclasses.replace(
        settings, variants=tuple(dict.fromkeys(v for v, _ in jobs)),
        seeds=tuple(dict.fromkeys(int(s) for _, s in jobs)),
        budget_unit=budget.get("unit", settings.budget_unit),
        budget=float(budget.get("amount", settings.budget)))


def job_of(trial: optuna.trial.FrozenTrial) -> tuple[str, int] | None:
    if not {"variant", "seed"} <= set(trial.params):
        return None
    return str(trial.params["variant"]), int(trial.params["seed"])


def is_finished(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete, or failed with an error of its own (a killed run is neither)."""
    return trial.state == TrialState.COMPLETE or (
        trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs)


def _priority(trial: optuna.trial.FrozenTrial) -> int:
    if is_finished(trial):
        return 3
    return {TrialState.RUNNING: 2, TrialState.WAITING: 1}.get(trial.state, 0)


def job_trials(study: optuna.Study) -> dict[tuple[str, int], optuna.trial.FrozenTrial]:
    """Each job's most telling trial: finished over running over queued over killed,
    then the latest."""
    best: dict[tuple[str, int], optuna.trial.FrozenTrial] = {}
    for trial in study.get_trials(deepcopy=False):
        job = job_of(trial)
        if job is None or trial.user_attrs.get(SURPLUS_ATTR):
            continue
        held = best.get(job)
        if held is None or (_priority(trial), trial.number) > (_priority(held), held.number):
            best[job] = trial
    return best


JobRunner = Callable[[optuna.Trial, str, int], float]


def run_jobs(study: optuna.Study, run_job: JobRunner, poll_seconds: float = 5.0) -> int:
    """Take queued jobs until none is left or running elsewhere; returns how many this
    process ran. While the last jobs run in other processes it waits: if such a
    process dies, its job is queued again after the grace period and run here."""
    jobs = [tuple(job) for job in study.user_attrs[JOBS_ATTR]]
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def objective(trial: optuna.Trial) -> float:
        try:
            variant = trial.suggest_categorical("variant", sorted({v for v, _ in jobs}))
            seed = trial.suggest_categorical("seed", sorted({s for _, s in jobs}))
        except NoQueuedJob:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise
        trial.set_user_attr("worker", worker)
        return run_job(trial, variant, int(seed))

    def status() -> tuple[str, str]:
        trials = job_trials(study)
        done = sum(is_finished(t) for t in trials.values())
        queued = sum(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False))
        running = sum(t.state == TrialState.RUNNING for t in trials.values())
        if queued:
            return RUN, f"{done} of {len(jobs)} jobs finished, {queued} queued"
        if running:
            return WAIT, f"{done} of {len(jobs)} jobs finished, waiting for {running} running elsewhere"
        lost = [job for job in jobs if job not in trials or not is_finished(trials[job])]
        return DONE, (f"{done} of {len(jobs)} jobs finished"
                      + (f"; given up after {_retries(study)} retries: {lost}" if lost else ""))

    return work_until_done(study, objective, status, poll_seconds)


def _retries(study: optuna.Study) -> str:
    return str(sum(t.state == TrialState.FAIL and ERROR_ATTR not in t.user_attrs
                   for t in study.get_trials(deepcopy=False)))
