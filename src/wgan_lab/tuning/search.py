"""The Optuna study of one variant: shared storage, workers, and the trial objective.

Several processes (on one machine or many) tune one study by opening the same
storage: a SQLite file, or a PostgreSQL/MySQL URL for several machines. Optuna
hands out trials; heartbeats mark the trial of a killed process failed once
it is stale, and the retry callback queues its settings again, so a rerun
continues the study and a kill loses at most the running trial.

Trials are counted by what finished: complete, pruned, or failed with an
error of their own (a diverged loss is a result of its settings). Two
processes that start the last trial at the same moment both get a trial
number from the storage; the higher one sees it is surplus and gives way.
"""
from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import TrialState

from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.core import ConfigError
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.core import Registry, UnknownNameError
from wgan_lab.gan.trainer import BUDGET_UNITS, Budget, Callbacks, GANTrainer
from wgan_lab.optuna_storage import (DONE, RUN, WAIT, open_storage, storage_settings,
                                     work_until_done)

from .space import Dimension, apply, parse_space

logger = logging.getLogger(__name__)


PRUNERS = Registry("pruner", {
    # Stops a trial whose FID at a check is worse than the median of earlier trials there.
    "median": lambda cfg: optuna.pruners.MedianPruner(
        n_startup_trials=int(cfg.get("n_startup_trials", 5)),
        n_warmup_steps=int(cfg.get("n_warmup_steps", 1))),
    # Asynchronous successive halving: only the best 1/reduction_factor go on at each rung.
    "successive_halving": lambda cfg: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=int(cfg.get("min_resource", 1)),
        reduction_factor=int(cfg.get("reduction_factor", 3))),
    "none": lambda cfg: optuna.pruners.NopPruner(),
})
# A trial that failed with an error of its own carries it here (a killed one does not).
ERROR_ATTR = "error"
SURPLUS_ATTR = "surplus"


def default_study_name(variant: str, unit: str, amount: float) -> str:
    """One study per variant and budget, however the amount is written (300 == 300.0)."""
    return f"{variant}-{unit}-{float(amount):g}"


class SurplusTrial(RuntimeError):
    """Another process already started the last trial the study asks for."""


@dataclass(frozen=True)
class TuneSettings:
    """``tune`` parameters, checked."""

    variant: str
    trials: int
    storage: str
    study_name: str
    seed: int = 0
    budget_unit: str = "seconds"
    budget: float = 240.0
    checks: int = 8
    eval_samples: int = 1000
    score_samples: int = 2000
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    dimensions: tuple[Dimension, ...] = ()
    # A running trial whose process has not written a heartbeat for grace_seconds
    # is failed and queued again.
    heartbeat_seconds: int = 10
    grace_seconds: int = 40

    @classmethod
    def from_params(cls, tune: dict[str, Any], family: Registry) -> TuneSettings:
        """From the ``tune`` block and the variant family; every problem fails here."""
        variant = str(tune.get("variant") or "")
        try:
            family[variant]
        except UnknownNameError as exc:
            raise ConfigError(f"tune.variant: {exc}") from None
        spaces = tune.get("search_space") or {}
        if variant not in spaces:
            raise ConfigError(f"tune.search_space.{variant}: no search space for this variant "
                              f"(spaces exist for: {', '.join(spaces) or 'none'})")
        dimensions = parse_space(spaces[variant], f"tune.search_space.{variant}")
        budget = tune.get("budget") or {}
        unit = budget.get("unit", "seconds")
        if unit not in BUDGET_UNITS:
            raise ConfigError(f"tune.budget.unit: must be one of {', '.join(BUDGET_UNITS)} "
                              f"(got {unit!r})")
        pruner = dict(tune.get("pruner") or {"name": "median"})
        try:
            PRUNERS[pruner.get("name", "median")]
        except UnknownNameError as exc:
            raise ConfigError(f"tune.pruner.name: {exc}") from None
        settings = cls(
            variant=variant, trials=int(tune["trials"]),
            **storage_settings(tune, "tune"),
            study_name=str(tune.get("study_name")
                           or default_study_name(variant, unit, budget.get("amount", 240))),
            seed=int(tune.get("seed", 0)), budget_unit=unit,
            budget=float(budget.get("amount", 240)), checks=int(tune.get("checks", 8)),
            eval_samples=int(tune.get("eval_samples", 1000)),
            score_samples=int(tune.get("score_samples", 2000)), pruner=pruner,
            dimensions=tuple(dimensions))
        for name in ("trials", "checks", "eval_samples", "score_samples"):
            if getattr(settings, name) < 1:
                raise ConfigError(f"tune.{name}: must be at least 1 (got {getattr(settings, name)})")
        if settings.budget <= 0:
            raise ConfigError(f"tune.budget.amount: must be positive (got {settings.budget})")
        return settings


def _storage(settings: TuneSettings) -> optuna.storages.RDBStorage:
    return open_storage(settings.storage, settings.heartbeat_seconds, settings.grace_seconds)


def stored_studies(settings: TuneSettings, names: dict[str, str]) -> dict[str, optuna.Study]:
    """Of ``names`` (key: study name), the studies that exist in ``settings.storage``."""
    storage = _storage(settings)
    present = set(optuna.get_all_study_names(storage))
    return {key: optuna.load_study(study_name=name, storage=storage)
            for key, name in names.items() if name in present}


def open_study(settings: TuneSettings, create: bool = True) -> optuna.Study:
    """The study in its storage, created by the first process that asks (unless not
    ``create``: then a missing study is an error naming the storage)."""
    storage = _storage(settings)
    pruner = PRUNERS[settings.pruner.get("name", "median")](settings.pruner)
    if not create:
        try:
            return optuna.load_study(study_name=settings.study_name, storage=storage,
                                     pruner=pruner)
        except KeyError:
            known = optuna.get_all_study_names(storage)
            raise ConfigError(f"no study {settings.study_name!r} in {settings.storage} (studies "
                              f"there: {', '.join(known) or 'none'}); run the tune pipeline "
                              f"with the same tune.variant and tune.budget first") from None
    try:
        # The creating process draws from tune.seed: a one-process search is reproducible.
        return optuna.create_study(storage=storage, study_name=settings.study_name,
                                   direction="minimize", pruner=pruner,
                                   sampler=optuna.samplers.TPESampler(seed=settings.seed))
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=settings.study_name, storage=storage, pruner=pruner)
    # Joining or resuming processes must not replay the creator's draws.
    seed = settings.seed + 1000 * len(study.trials) + os.getpid() % 1000
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def counts_as_done(trial: optuna.trial.FrozenTrial) -> bool:
    """Complete, pruned, or failed with an error of its own (not killed, not surplus)."""
    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs


def run_worker(study: optuna.Study, objective: Callable[[optuna.Trial], float],
               trials: int, poll_seconds: float = 5.0) -> int:
    """Run trials of ``study`` until ``trials`` are done; returns how many this process ran."""
    def status() -> tuple[str, str]:
        all_trials = study.get_trials(deepcopy=False)
        done = sum(counts_as_done(t) for t in all_trials)
        running = sum(t.state == TrialState.RUNNING for t in all_trials)
        if done >= trials:
            return DONE, f"{done} of {trials} trials done"
        if done + running >= trials:
            return WAIT, f"{done} of {trials} trials done, waiting for {running} running elsewhere"
        return RUN, f"{done} of {trials} trials done, running more"

    return work_until_done(study, objective, status, poll_seconds)


def check_not_surplus(trial: optuna.Trial, trials: int) -> None:
    """Give way when ``trials`` trials with lower numbers are done or running."""
    earlier = [t for t in trial.study.get_trials(deepcopy=False)
               if t.number < trial.number
               and (counts_as_done(t) or t.state == TrialState.RUNNING)]
    if len(earlier) >= trials:
        trial.set_user_attr(SURPLUS_ATTR, True)
        raise SurplusTrial(f"trial {trial.number}: {trials} trials are already done or running")


@dataclass
class TrialCallbacks:
    """What the caller wires to MLflow; any may be None."""

    start: Callable[[int, dict[str, Any]], None] | None = None
    check: Callable[[int, dict[str, float]], None] | None = None
    end: Callable[[str, dict[str, float]], None] | None = None


def training_used(spent: dict[str, float]) -> dict[str, float]:
    """The training a trial used, under the names its attributes and reports keep."""
    return {"steps": spent["steps"], "train_seconds": spent["seconds"],
            "train_cpu_seconds": spent["cpu_seconds"]}


class TrialObjective:
    """Trains one drawn configuration for the budget and returns its proxy FID.

    At ``checks`` evenly spaced points of the budget (training seconds, or
    steps) it reports the in-training FID on ``eval_samples`` samples to the
    pruner; the score is FID on ``score_samples`` samples at the end (a proxy
    of the 10k-sample protocol, declared in the report). Evaluation time does
    not count against a seconds budget.
    """

    def __init__(self, settings: TuneSettings, training: dict[str, Any],
                 train_images: np.ndarray, test_images: np.ndarray, space: FeatureSpace,
                 callbacks: TrialCallbacks | None = None) -> None:
        if space.extractor is None:
            raise ConfigError("tune: FID needs a feature space; this dataset has none "
                              "(no labels and no InceptionV3 weights)")
        self.settings = settings
        self.training = training
        self.train_images = train_images
        self.test_images = test_images
        self.space = space
        self.callbacks = callbacks or TrialCallbacks()

    def __call__(self, trial: optuna.Trial) -> float:
        check_not_surplus(trial, self.settings.trials)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        values = {d.path: d.suggest(trial) for d in self.settings.dimensions}
        callbacks, state, final = self.callbacks, "FAIL", {}
        if callbacks.start:
            callbacks.start(trial.number, values)
        try:
            final = self._train(trial, values)
            state = "COMPLETE"
            return final["fid"]
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        except Exception as exc:
            trial.set_user_attr(ERROR_ATTR, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if callbacks.end:
                callbacks.end(state, final)
            keras.utils.clear_session(free_memory=True)

    def _train(self, trial: optuna.Trial, values: dict[str, Any]) -> dict[str, float]:
        settings = self.settings
        prefix = f"{settings.variant}.training"
        config = TrainingConfig.from_params(apply(self.training, values), prefix=prefix)
        # The checks replace the variant's own in-training evaluations.
        config = config.replace(runtime={"resume": "never"}, schedule={"eval_every": 0})
        trainer = GANTrainer(config, self.train_images.shape[1:])
        fid_of = in_training_fid(self.space, self.test_images, settings.eval_samples, config.seed)

        def report(step: int, spent: dict[str, float], scores: dict[str, float]) -> bool:
            """Each check's FID to the pruner; True stops a trial it prunes."""
            # The check's number: how many of the evenly spaced points are passed.
            passed = spent[settings.budget_unit] * settings.checks / settings.budget
            trial.report(scores["fid"], min(settings.checks, int(passed + 1e-9)))
            used = training_used(spent)
            for key, value in used.items():
                trial.set_user_attr(key, value)
            if self.callbacks.check:
                self.callbacks.check(step, {**scores, **used})
            return trial.should_prune()

        budget = Budget(settings.budget_unit, settings.budget, checks=settings.checks)
        fitted = trainer.fit(self.train_images, callbacks=Callbacks(evaluate=fid_of,
                                                                    on_evaluation=report),
                             budget=budget, label=f"trial {trial.number} of {settings.variant}")
        if fitted.stopped:
            last = fitted.evaluations.iloc[-1]
            raise optuna.TrialPruned(f"FID {last['fid']:.1f} at check {len(fitted.evaluations)}")
        spent, used = fitted.spent, training_used(fitted.spent)
        score_of = in_training_fid(self.space, self.test_images, settings.score_samples,
                                   config.seed + 1)
        final = {**score_of(int(spent["steps"]), trainer.sampling_generator), **used}
        for key, value in final.items():
            trial.set_user_attr(key, value)
        logger.info("trial %d of %s: FID %.2f after %d steps (%.0f s, %.0f CPU s of training)",
                    trial.number, settings.variant, final["fid"], spent["steps"],
                    spent["seconds"], spent["cpu_seconds"])
        return final
