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

import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import field
from typing import Any

import keras
import numpy as np
import optuna
from optuna.trial import TrialState

from wgan_lab.core import (ConfigError, Count, Registry, UnknownNameError, masked_url, section,
                           settings_from)
from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer

from .space import Dimension, apply, parse_space
from .store import (DONE, RUN, SURPLUS_ATTR, WAIT, Heartbeat, RunCallbacks, create_study,
                    guarded_run, is_finished, open_storage, storage_url, work_until_done)

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


def default_study_name(variant: str, unit: str, amount: float) -> str:
    """One study per variant and budget, however the amount is written (300 == 300.0)."""
    return f"{variant}-{unit}-{float(amount):g}"


class SurplusTrial(RuntimeError):
    """Another process already started the last trial the study asks for."""


@section
class TuneSettings:
    """The ``tune`` block: each default written once, here."""

    variant: str
    storage: str
    # An entry of Kedro's credentials.yml holding the storage's password.
    credentials: str | None = None
    trials: Count = 30
    study_name: str | None = None   # None: one study per variant and budget
    seed: int = 0
    budget: Budget = Budget("cpu_seconds", 300)
    checks: Count = 8
    eval_samples: Count = 1000
    score_samples: Count = 2000
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    search_space: dict[str, Any] = field(default_factory=dict)
    heartbeat: Heartbeat = Heartbeat()

    def __post_init__(self) -> None:
        if self.study_name is None:
            object.__setattr__(self, "study_name", default_study_name(
                self.variant, self.budget.unit, self.budget.amount))

    @classmethod
    def from_params(cls, tune: dict[str, Any], family: Registry) -> TuneSettings:
        """From the ``tune`` block and the variant family; every problem fails here."""
        settings = settings_from(cls, tune, "tune")
        try:
            family[settings.variant]
        except UnknownNameError as exc:
            raise ConfigError(f"tune.variant: {exc}") from None
        try:
            PRUNERS[settings.pruner.get("name", "median")]
        except UnknownNameError as exc:
            raise ConfigError(f"tune.pruner.name: {exc}") from None
        settings.dimensions  # the search space, parsed and checked now
        return settings

    @functools.cached_property
    def dimensions(self) -> tuple[Dimension, ...]:
        spaces = self.search_space
        if self.variant not in spaces:
            raise ConfigError(f"tune.search_space.{self.variant}: no search space for this "
                              f"variant (spaces exist for: "
                              f"{', '.join(k for k in spaces if not k.startswith('_')) or 'none'})")
        return tuple(parse_space(spaces[self.variant], f"tune.search_space.{self.variant}"))

    @property
    def trial_budget(self) -> Budget:
        """The budget of one trial, with its pruning checks."""
        return dataclasses.replace(self.budget, checks=self.checks)


def _storage(settings: TuneSettings) -> optuna.storages.RDBStorage:
    return open_storage(storage_url(settings.storage, settings.credentials, "tune.credentials"),
                        settings.heartbeat)


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
            raise ConfigError(f"no study {settings.study_name!r} in "
                              f"{masked_url(settings.storage)} (studies "
                              f"there: {', '.join(known) or 'none'}); run the tune pipeline "
                              f"with the same tune.variant and tune.budget first") from None
    try:
        # The creating process draws from tune.seed: a one-process search is reproducible.
        return create_study(storage, settings.study_name,
                            f"FID on {settings.score_samples} samples", pruner=pruner,
                            sampler=optuna.samplers.TPESampler(seed=settings.seed))
    except optuna.exceptions.DuplicatedStudyError:
        pass
    study = optuna.load_study(study_name=settings.study_name, storage=storage, pruner=pruner)
    # Joining or resuming processes must not replay the creator's draws.
    seed = settings.seed + 1000 * len(study.trials) + os.getpid() % 1000
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def run_worker(study: optuna.Study, objective: Callable[[optuna.Trial], float],
               trials: int, poll_seconds: float = 5.0) -> int:
    """Run trials of ``study`` until ``trials`` are done; returns how many this process ran."""
    def status() -> tuple[str, str]:
        all_trials = study.get_trials(deepcopy=False)
        done = sum(is_finished(t) for t in all_trials)
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
               and (is_finished(t) or t.state == TrialState.RUNNING)]
    if len(earlier) >= trials:
        trial.set_user_attr(SURPLUS_ATTR, True)
        raise SurplusTrial(f"trial {trial.number}: {trials} trials are already done or running")


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
                 callbacks: RunCallbacks | None = None) -> None:
        if space.extractor is None:
            raise ConfigError("tune: FID needs a feature space; this dataset has none "
                              "(no labels and no InceptionV3 weights)")
        self.settings = settings
        self.training = training
        self.train_images = train_images
        self.test_images = test_images
        self.space = space
        self.callbacks = callbacks or RunCallbacks()

    def __call__(self, trial: optuna.Trial) -> float:
        settings = self.settings
        check_not_surplus(trial, settings.trials)
        values: dict[str, Any] = {}

        def draw() -> dict[str, Any]:
            values.update({d.path: d.suggest(trial) for d in settings.dimensions})
            return values
        tags = {"tune_study": settings.study_name, "variant": settings.variant,
                "trial": str(trial.number)}
        final = guarded_run(trial, self.callbacks, f"{settings.variant} trial {trial.number}",
                            tags, draw, lambda: self._train(trial, values),
                            lambda: keras.utils.clear_session(free_memory=True))
        return final["fid"]

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
            passed = spent[settings.budget.unit] * settings.checks / settings.budget.amount
            trial.report(scores["fid"], min(settings.checks, int(passed + 1e-9)))
            used = training_used(spent)
            for key, value in used.items():
                trial.set_user_attr(key, value)
            if self.callbacks.check:
                self.callbacks.check(step, {**scores, **used})
            return trial.should_prune()

        fitted = trainer.fit(self.train_images, callbacks=Callbacks(evaluate=fid_of,
                                                                    on_evaluation=report),
                             budget=settings.trial_budget,
                             label=f"trial {trial.number} of {settings.variant}")
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
