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
from typing import Annotated, Any

import keras
import numpy as np
import optuna
from optuna.trial import TrialState
from pydantic import Field

from wgan_lab.core import (ConfigError, Count, Registry, UnknownNameError, masked_url, section,
                           settings_from)
from wgan_lab.data.images import class_count
from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer

from .space import Dimension, apply, parse_space
from .store import (DONE, RUN, SURPLUS_ATTR, WAIT, Heartbeat, RunCallbacks, create_study,
                    guarded_run, is_finished, open_storage, storage_url, work_until_done)

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PrunerKind:
    """How to make a pruner from its ``tune.pruner`` settings and the trial budget, and
    the budget amounts (its rungs) where it needs an FID beside the evenly spaced checks."""

    make: Callable[[dict[str, Any], Budget], optuna.pruners.BasePruner]
    rungs: Callable[[dict[str, Any], Budget], list[float]] = lambda cfg, budget: []


def geometric_rungs(cfg: dict[str, Any], budget: Budget) -> list[float]:
    """``min_resource`` times powers of ``reduction_factor`` below the budget: the rungs of
    successive halving, and of every Hyperband bracket."""
    low, factor = float(cfg.get("min_resource", 1)), int(cfg.get("reduction_factor", 3))
    rungs = []
    while low < budget.amount:
        rungs.append(low)
        low *= factor
    return rungs


# Intermediate values are reported at the budget amount of each check (a step
# count, or seconds of training), so every resource below is in the budget's unit.
PRUNERS = Registry("pruner", {
    # Stops a trial whose FID at a check is worse than the median of earlier trials there.
    "median": PrunerKind(lambda cfg, budget: optuna.pruners.MedianPruner(
        n_startup_trials=int(cfg.get("n_startup_trials", 5)),
        n_warmup_steps=int(cfg.get("n_warmup_steps", 0)))),
    # Asynchronous successive halving: only the best 1/reduction_factor go on at each rung.
    "successive_halving": PrunerKind(lambda cfg, budget: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=int(cfg.get("min_resource", 1)),
        reduction_factor=int(cfg.get("reduction_factor", 3))), geometric_rungs),
    # Successive halving in brackets that start pruning at later rungs, so that a slow
    # starter at the first rung can still reach the full budget in one of them.
    "hyperband": PrunerKind(lambda cfg, budget: optuna.pruners.HyperbandPruner(
        min_resource=int(cfg.get("min_resource", 1)), max_resource=int(budget.amount),
        reduction_factor=int(cfg.get("reduction_factor", 3))), geometric_rungs),
    "none": PrunerKind(lambda cfg, budget: optuna.pruners.NopPruner()),
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
    checks: Annotated[int, Field(ge=0)] = 8   # 0: only at the pruner's rungs
    eval_samples: Count = 1000
    score_samples: Count = 2000
    pruner: dict[str, Any] = field(default_factory=lambda: {"name": "median"})
    search_space: dict[str, Any] = field(default_factory=dict)
    heartbeat: Heartbeat = Heartbeat()
    # The search stops once its trials have trained this many CPU hours in all
    # (null: ``trials`` alone decides): an equal compute for every loss searched.
    max_cpu_hours: Annotated[float, Field(gt=0)] | None = None
    # The dataset searched on: which entry of ``enqueue`` applies.
    dataset: str = ""
    # Per dataset and variant, settings tried first, before the sampler draws:
    # {dataset: {variant: [{"<section>.<parameter>": value}]}} (a warm start: the
    # current default, another dataset's winner).
    enqueue: dict[str, dict[str, tuple[dict[str, Any], ...]]] = field(default_factory=dict)

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
        known = settings.dimension_of
        for index, start in enumerate(settings.warm_starts):
            where = f"tune.enqueue.{settings.dataset}.{settings.variant}[{index}]"
            for path, value in start.items():
                if path not in known:
                    raise ConfigError(f"{where}.{path}: not a dimension of tune.search_space."
                                      f"{settings.variant} (its dimensions: {', '.join(known)})")
                if not known[path].admits(value):
                    raise ConfigError(f"{where}.{path}: {value!r} is outside its search "
                                      f"space {known[path].describe()}")
        return settings

    @property
    def warm_starts(self) -> tuple[dict[str, Any], ...]:
        return tuple(self.enqueue.get(self.dataset, {}).get(self.variant, ()))

    @property
    def pruner_kind(self) -> PrunerKind:
        return PRUNERS[self.pruner.get("name", "median")]

    @functools.cached_property
    def dimensions(self) -> tuple[Dimension, ...]:
        spaces = self.search_space
        if self.variant not in spaces:
            raise ConfigError(f"tune.search_space.{self.variant}: no search space for this "
                              f"variant (spaces exist for: "
                              f"{', '.join(k for k in spaces if not k.startswith('_')) or 'none'})")
        return tuple(parse_space(spaces[self.variant], f"tune.search_space.{self.variant}"))

    @functools.cached_property
    def dimension_of(self) -> dict[str, Dimension]:
        """The search space's dimensions by parameter path."""
        return {d.path: d for d in self.dimensions}

    @property
    def trial_budget(self) -> Budget:
        """The budget of one trial, with its pruning checks: evenly spaced, and at the
        pruner's rungs."""
        rungs = self.pruner_kind.rungs(self.pruner, self.budget)
        return dataclasses.replace(self.budget, checks=self.checks,
                                   at=(*self.budget.at, *rungs))

    def make_pruner(self) -> optuna.pruners.BasePruner:
        return self.pruner_kind.make(self.pruner, self.budget)


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
    pruner = settings.make_pruner()
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
        study = create_study(storage, settings.study_name,
                             f"FID on {settings.score_samples} samples", pruner=pruner,
                             sampler=optuna.samplers.TPESampler(seed=settings.seed))
    except optuna.exceptions.DuplicatedStudyError:
        pass
    else:
        known = settings.dimension_of
        for start in settings.warm_starts:
            study.enqueue_trial({path: known[path].encode(value) for path, value in start.items()},
                                skip_if_exists=True)
        return study
    study = optuna.load_study(study_name=settings.study_name, storage=storage, pruner=pruner)
    # Joining or resuming processes must not replay the creator's draws.
    seed = settings.seed + 1000 * len(study.trials) + os.getpid() % 1000
    study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def check_reached(points: list[float], spent: float) -> int:
    """The budget amount a check reports at: the last of ``points`` that ``spent`` has
    passed (a check at 60 CPU seconds that runs after 60.4 reports at 60)."""
    passed = [p for p in points if p <= spent + 1e-9]
    return round(passed[-1]) if passed else 0


def cpu_seconds_trained(trials: list[optuna.trial.FrozenTrial]) -> float:
    """The CPU seconds of training of ``trials``, as of each one's last check."""
    return float(sum(t.user_attrs.get("train_cpu_seconds", 0.0) for t in trials))


def run_worker(study: optuna.Study, objective: Callable[[optuna.Trial], float],
               trials: int, poll_seconds: float = 5.0,
               max_cpu_hours: float | None = None) -> int:
    """Run trials of ``study`` until ``trials`` are done, or (with ``max_cpu_hours``) until
    its trials have trained that long in all; returns how many this process ran."""
    def status() -> tuple[str, str]:
        all_trials = study.get_trials(deepcopy=False)
        done = sum(is_finished(t) for t in all_trials)
        running = sum(t.state == TrialState.RUNNING for t in all_trials)
        if max_cpu_hours is not None:
            hours = cpu_seconds_trained(all_trials) / 3600
            if hours >= max_cpu_hours:
                spent = f"{hours:.2f} of {max_cpu_hours:g} CPU hours of training spent"
                return (WAIT, f"{spent}, waiting for {running} running trial(s)") if running \
                    else (DONE, f"{done} trials done, {spent}")
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
                 callbacks: RunCallbacks | None = None,
                 train_labels: np.ndarray | None = None) -> None:
        """``train_labels``: what a conditional variant trains on beside the images."""
        if space.extractor is None:
            raise ConfigError("tune: FID needs a feature space; this dataset has none "
                              "(no labels and no InceptionV3 weights)")
        self.settings = settings
        self.training = training
        self.train_images = train_images
        self.train_labels = train_labels
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
        trainer = GANTrainer(config, self.train_images.shape[1:],
                             n_classes=class_count(self.train_labels)
                             if self.train_labels is not None else 0)
        fid_of = in_training_fid(self.space, self.test_images, settings.eval_samples, config.seed)

        points = settings.trial_budget.check_points()

        def report(step: int, spent: dict[str, float], scores: dict[str, float]) -> bool:
            """Each check's FID to the pruner, at the budget amount of the check (the
            last point passed: 60 CPU s, not the 60.4 spent); True stops a pruned trial."""
            trial.report(scores["fid"], check_reached(points, spent[settings.budget.unit]))
            used = training_used(spent)
            for key, value in used.items():
                trial.set_user_attr(key, value)
            if self.callbacks.check:
                self.callbacks.check(step, {**scores, **used})
            return trial.should_prune()

        fitted = trainer.fit(self.train_images, callbacks=Callbacks(evaluate=fid_of,
                                                                    on_evaluation=report),
                             budget=settings.trial_budget,
                             label=f"trial {trial.number} of {settings.variant}",
                             labels=self.train_labels)
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
