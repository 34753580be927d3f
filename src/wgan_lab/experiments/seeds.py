"""The study: every variant of a list with every seed of a list at an equal budget,
as a shared job list in an Optuna storage.

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

A job (``StudyJob``) trains its variant with its seed for the study's budget
through the one training loop, resuming from its checkpoints, then evaluates
it with the declared protocol.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import keras
import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState
from pydantic import Field

from wgan_lab.core import (ConfigError, Count, Listed, Registry, UnknownNameError, masked_url,
                           section, settings_from)
from wgan_lab.evaluation.evaluate import Protocol, evaluate_generator, evaluate_in_second_features
from wgan_lab.data.images import class_count
from wgan_lab.evaluation.feature_space import FeatureSpace, in_training_fid
from wgan_lab.evaluation.features import ClassifierConfig
from wgan_lab.evaluation.fresh_critic import FreshCriticW1
from wgan_lab.evaluation.statistics import RESAMPLES
from wgan_lab.fileio import atomic_path
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.losses import LOSSES
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer

from .store import (ERROR_ATTR, RESULT_ATTR, SURPLUS_ATTR, Heartbeat, NoQueuedJob,
                    QueueOnlySampler, RunCallbacks, create_study, guarded_run, is_finished,
                    job_list_status, open_storage, storage_url, work_until_done)

logger = logging.getLogger(__name__)

# Study user attributes, written once by the creating process.
JOBS_ATTR = "jobs"
SETTINGS_ATTR = "settings_fingerprint"
BUDGET_ATTR = "budget"
PROTOCOL_SAMPLES_ATTR = "protocol_samples"
# Trial user attribute: the (variant, seed) of a job added to a stored study.
ADDED_JOB_ATTR = "added_job"
# Variant -> a hash of the training settings its stored runs used: a job list
# names variants, so a variant whose defaults change is a different job.
VARIANT_SETTINGS_ATTR = "variant_settings"




@section
class FreshCritic:
    """``study.fresh_critic``: at every in-training check, a new critic with the
    configuration of ``variant`` (its network, loss, penalty and optimizer), trained
    ``steps`` updates against the frozen generator on ``samples`` images a side, gives
    a W1 estimate independent of the run's own critic (0 steps: off)."""

    variant: str = "wgan_gp_paper"
    steps: Annotated[int, Field(ge=0)] = 0
    samples: Annotated[int, Field(ge=2)] = 2000


@section
class StudyComparison:
    """One entry of ``study.comparisons``: the claims for each of ``variants`` against
    ``baseline``, under a ``name`` that says what the pairs hold fixed."""

    name: str
    baseline: str
    variants: Annotated[tuple[str, ...], Listed]


@section
class StudySettings:
    """The ``study`` block: each default written once, here."""

    name: str
    variants: Annotated[tuple[str, ...], Listed]
    seeds: Annotated[tuple[int, ...], Listed]
    storage: str
    # An entry of Kedro's credentials.yml holding the storage's password.
    credentials: str | None = None
    checkpoint_root: str = ""
    budget: Budget = Budget("seconds", 300)
    # Every run is also evaluated when its training reaches these amounts (in the
    # budget's unit, each below budget.amount): the verdicts at several budgets
    # from one run each, as its checkpoints continue.
    earlier_budgets: tuple[Annotated[float, Field(gt=0)], ...] = ()
    eval_every: Count = 1000
    eval_samples: Annotated[int, Field(ge=2)] = 1000
    # Samples of each run's final evaluations (every budget, every evaluator); null:
    # evaluation.protocol.n_samples. Precision and recall cost n^2: a study of many
    # runs and budgets can take fewer.
    protocol_samples: Annotated[int, Field(ge=2)] | None = None
    # The claims compare the Wasserstein losses with this variant.
    baseline: str = "gan"
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.05
    resamples: Annotated[int, Field(ge=RESAMPLES)] = RESAMPLES
    bootstrap_seed: int = 0
    heartbeat: Heartbeat = Heartbeat()
    max_retry: int = 3
    fresh_critic: FreshCritic = FreshCritic()
    # The claims' pairs, by what they hold fixed; empty: the Wasserstein variants
    # against ``baseline``. Pairs whose variants the study lacks are left out.
    comparisons: tuple[StudyComparison, ...] = ()
    # The dataset the study runs on, for its reports.
    dataset: str = ""

    @classmethod
    def from_params(cls, study: dict[str, Any], family: Registry) -> StudySettings:
        """From the ``study`` block and the variant family; every problem fails here."""
        settings = settings_from(cls, study, "study")
        for variant in settings.variants:
            try:
                family[variant]
            except UnknownNameError as exc:
                raise ConfigError(f"study.variants: {exc}") from None
        variants, seeds = settings.variants, settings.seeds
        if len(variants) < 1 or len(set(variants)) != len(variants):
            raise ConfigError(f"study.variants: needs one or more distinct variants (got "
                              f"{list(variants)})")
        if len(seeds) < 1 or len(set(seeds)) != len(seeds):
            raise ConfigError(f"study.seeds: needs one or more distinct seeds (got {list(seeds)})")
        for index, group in enumerate(settings.comparisons):
            for name in (group.baseline, *group.variants):
                try:
                    family[name]
                except UnknownNameError as exc:
                    raise ConfigError(f"study.comparisons[{index}] ({group.name}): {exc}") from None
        earlier = settings.earlier_budgets
        if list(earlier) != sorted(set(earlier)) or (earlier and earlier[-1] >= settings.budget.amount):
            raise ConfigError(f"study.earlier_budgets: increasing amounts below budget.amount "
                              f"({settings.budget.amount:g}) please (got {list(earlier)})")
        try:
            probe = TrainingConfig.from_params(family[settings.fresh_critic.variant],
                                               prefix="study.fresh_critic.variant")
        except UnknownNameError as exc:
            raise ConfigError(f"study.fresh_critic.variant: {exc}") from None
        if not LOSSES[probe.objective.loss].estimates_wasserstein:
            raise ConfigError(f"study.fresh_critic.variant: needs a Wasserstein critic, whose "
                              f"score gap estimates W1 ({settings.fresh_critic.variant!r} "
                              f"trains the {probe.objective.loss} loss)")
        name = settings.name
        if not name or any(c in name for c in "/\\") or name.startswith("."):
            raise ConfigError(f"study.name: a folder name please (got {name!r})")
        return settings

    @property
    def budgets(self) -> tuple[float, ...]:
        """Every budget a run is evaluated at, the full one last."""
        return (*self.earlier_budgets, float(self.budget.amount))

    @property
    def jobs(self) -> list[tuple[str, int]]:
        """Every (variant, seed), variants interleaved so early results cover all of them."""
        return [(variant, seed) for seed in self.seeds for variant in self.variants]

    def fingerprint(self) -> str:
        """What the stored results depend on: processes of one study must agree on it."""
        keys = {"variants": self.variants, "seeds": self.seeds, "unit": self.budget.unit,
                "budget": self.budget.amount, "eval_every": self.eval_every,
                "eval_samples": self.eval_samples}
        # Added later: only a study using them has them in its fingerprint, so the
        # job stores of earlier studies stay valid.
        if self.earlier_budgets:
            keys["earlier_budgets"] = self.earlier_budgets
        if self.fresh_critic.steps:
            keys["fresh_critic"] = dataclasses.asdict(self.fresh_critic)
        if self.protocol_samples:
            keys["protocol_samples"] = self.protocol_samples
        return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:12]

    def checkpoint_dir(self, variant: str, seed: int) -> str:
        return f"{self.checkpoint_root}/{self.name}/{variant}-seed{seed}/checkpoints"

    def budget_results_file(self, variant: str, seed: int) -> Path:
        """A run's evaluations at its earlier budgets, kept beside its checkpoints so
        that a resumed job does not evaluate a later state as an earlier budget."""
        return Path(f"{self.checkpoint_root}/{self.name}/{variant}-seed{seed}/budgets.json")


def variant_settings(settings: StudySettings, family: Registry) -> dict[str, str]:
    """Each study variant's training settings that shape its results, hashed."""
    return {variant: TrainingConfig.from_params(family[variant], prefix=variant
                                                ).settings_fingerprint()
            for variant in settings.variants}


def _check_variant_settings(study: optuna.Study, settings: StudySettings,
                            current: dict[str, str]) -> dict[str, str]:
    """Refuse stored runs of a variant whose settings have changed since; returns the
    record to store (a store from before the record takes today's, with a warning)."""
    stored = study.user_attrs.get(VARIANT_SETTINGS_ATTR)
    if stored is None:
        logger.warning("study %s predates its record of variant settings: nothing tells "
                       "whether its stored runs used today's settings of %s (name a new "
                       "study if a variant's defaults changed since)", settings.name,
                       ", ".join(current))
    else:
        changed = sorted(v for v in current if v in stored and stored[v] != current[v])
        if changed:
            raise ConfigError(
                f"study {settings.name!r}: the settings of {', '.join(changed)} changed since "
                f"the study stored their runs; name a new study (study.name) to run them "
                f"with today's settings")
    return {**(stored or {}), **current}


def open_job_store(settings: StudySettings, create: bool = True,
                   on_create: Callable[[optuna.Study], None] | None = None,
                   wait_seconds: float = 120.0,
                   variants: dict[str, str] | None = None) -> optuna.Study:
    """The study's job list, queued by the first process that opens it.

    Joining processes wait for the creator to finish queueing, and refuse a
    study whose stored jobs or budget differ from their parameters.
    ``on_create`` runs in the creating process before joiners may start (it
    can store study attributes they read, e.g. the MLflow parent run).
    ``variants`` (``variant_settings``) refuses a stored study whose runs of a
    variant used other training settings.
    """
    storage = open_storage(storage_url(settings.storage, settings.credentials, "study.credentials"),
                           settings.heartbeat, max_retry=settings.max_retry)
    if create:
        try:
            study = create_study(storage, settings.name, "protocol FID",
                                 sampler=QueueOnlySampler())
        except optuna.exceptions.DuplicatedStudyError:
            pass
        else:
            for variant, seed in settings.jobs:
                study.enqueue_trial({"variant": variant, "seed": seed})
            if on_create:
                on_create(study)
            if variants:
                study.set_user_attr(VARIANT_SETTINGS_ATTR, variants)
            study.set_user_attr(SETTINGS_ATTR, settings.fingerprint())
            study.set_user_attr(PROTOCOL_SAMPLES_ATTR, settings.protocol_samples)
            study.set_user_attr(BUDGET_ATTR, {"unit": settings.budget.unit,
                                              "amount": settings.budget.amount,
                                              "earlier": list(settings.earlier_budgets)})
            study.set_user_attr(JOBS_ATTR, [list(job) for job in settings.jobs])
            logger.info("study %s: %d jobs queued in %s", settings.name, len(settings.jobs),
                        masked_url(settings.storage))
            return study
    try:
        study = optuna.load_study(study_name=settings.name, storage=storage,
                                  sampler=QueueOnlySampler())
    except KeyError:
        known = optuna.get_all_study_names(storage)
        raise ConfigError(f"no study {settings.name!r} in {masked_url(settings.storage)} (studies "
                          f"there: "
                          f"{', '.join(known) or 'none'}); run the study pipeline first") from None
    deadline = time.monotonic() + wait_seconds
    while JOBS_ATTR not in study.user_attrs:
        if time.monotonic() > deadline:
            raise ConfigError(f"study {settings.name!r} in {masked_url(settings.storage)} has no "
                              f"job list: "
                              f"its creating process stopped while queueing. Delete it "
                              f"(optuna delete-study --study-name {settings.name} --storage "
                              f"{masked_url(settings.storage)}) and run again")
        time.sleep(1.0)
    recorded = _check_variant_settings(study, settings, variants) if variants else None
    stored = [tuple(job) for job in study.user_attrs[JOBS_ATTR]]
    # As sets: an extension appends its jobs, so the stored order is not the
    # parameters' interleaved one, and a joining process must still match.
    # Stores extended before the stored order was the rule keep the extender's order.
    same = study.user_attrs.get(SETTINGS_ATTR) in (_as_stored(settings, stored).fingerprint(),
                                                   settings.fingerprint())
    if (set(stored) != set(settings.jobs) or not same) and create:
        if _extends(study, stored, settings):
            added = [job for job in settings.jobs if job not in stored]
            for variant, seed in added:
                # Optuna fixes a categorical parameter's choices at its first trial, so
                # a new seed or variant cannot be a parameter value: the job rides in a
                # user attribute instead (job_of reads both).
                study.enqueue_trial({}, user_attrs={ADDED_JOB_ATTR: [variant, seed]})
            study.set_user_attr(JOBS_ATTR, [list(job) for job in stored + added])
            study.set_user_attr(SETTINGS_ATTR, _as_stored(settings, stored + added).fingerprint())
            if recorded:
                study.set_user_attr(VARIANT_SETTINGS_ATTR, recorded)
            logger.info("study %s: %d jobs added to the %d it had (%s)", settings.name,
                        len(added), len(stored), ", ".join(f"{v} seed {s}" for v, s in added))
            return study
        raise ConfigError(
            f"study {settings.name!r} was started with other settings (jobs "
            f"{stored}); these parameters ask for {settings.jobs} with budget "
            f"{settings.budget.describe()}. More seeds or variants extend it; name a new "
            f"study (study.name) to change the budget, the evaluations or to drop jobs")
    if recorded and recorded != study.user_attrs.get(VARIANT_SETTINGS_ATTR):
        study.set_user_attr(VARIANT_SETTINGS_ATTR, recorded)
    return study


def _extends(study: optuna.Study, stored: list[tuple[str, int]], settings: StudySettings
             ) -> bool:
    """Whether ``settings`` asks for the stored jobs and more, everything else equal:
    seeds or variants added to a finished study run only the new jobs."""
    if not set(stored) < set(settings.jobs):
        return False
    as_stored = _as_stored(settings, stored)
    return (set(as_stored.jobs) == set(stored)
            and study.user_attrs.get(SETTINGS_ATTR) == as_stored.fingerprint())


def _as_stored(settings: StudySettings, stored: list[tuple[str, int]]) -> StudySettings:
    """``settings`` asking for the stored jobs' variants and seeds, in the stored order:
    the same variants listed in another order are the same study."""
    return dataclasses.replace(settings, variants=tuple(dict.fromkeys(v for v, _ in stored)),
                               seeds=tuple(dict.fromkeys(s for _, s in stored)))


def stored_settings(study: optuna.Study, settings: StudySettings) -> StudySettings:
    """``settings`` with the variants, seeds and budget the study was started with: a
    report rebuilt with other parameters still describes the stored runs."""
    jobs = [tuple(job) for job in study.user_attrs[JOBS_ATTR]]
    budget = study.user_attrs.get(BUDGET_ATTR) or {}
    return dataclasses.replace(
        settings, variants=tuple(dict.fromkeys(v for v, _ in jobs)),
        seeds=tuple(dict.fromkeys(int(s) for _, s in jobs)),
        budget=Budget(budget.get("unit", settings.budget.unit),
                      float(budget.get("amount", settings.budget.amount))),
        earlier_budgets=tuple(float(a) for a in budget.get("earlier", ())),
        protocol_samples=study.user_attrs.get(PROTOCOL_SAMPLES_ATTR))


def job_of(trial: optuna.trial.FrozenTrial) -> tuple[str, int] | None:
    """The (variant, seed) a trial ran: its parameters, or for a job added to a stored
    study, its ``ADDED_JOB_ATTR`` user attribute."""
    added = trial.user_attrs.get(ADDED_JOB_ATTR)
    if added is not None:
        return str(added[0]), int(added[1])
    if not {"variant", "seed"} <= set(trial.params):
        return None
    return str(trial.params["variant"]), int(trial.params["seed"])


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

    def objective(trial: optuna.Trial) -> float:
        added = trial.user_attrs.get(ADDED_JOB_ATTR)
        if added is not None:
            return run_job(trial, str(added[0]), int(added[1]))
        try:
            variant = trial.suggest_categorical("variant", sorted({v for v, _ in jobs}))
            seed = trial.suggest_categorical("seed", sorted({s for _, s in jobs}))
        except NoQueuedJob:
            trial.set_user_attr(SURPLUS_ATTR, True)
            raise
        return run_job(trial, variant, int(seed))

    def status() -> tuple[str, str]:
        trials = job_trials(study)
        lost = [job for job in jobs if job not in trials or not is_finished(trials[job])]
        return job_list_status(
            sum(is_finished(t) for t in trials.values()), len(jobs),
            sum(t.state == TrialState.WAITING for t in study.get_trials(deepcopy=False)),
            sum(t.state == TrialState.RUNNING for t in trials.values()),
            f"given up after {_retries(study)} retries: {lost}" if lost else "")

    return work_until_done(study, objective, status, poll_seconds)


def _retries(study: optuna.Study) -> str:
    return str(sum(t.state == TrialState.FAIL and ERROR_ATTR not in t.user_attrs
                   for t in study.get_trials(deepcopy=False)))


# ----- one job ---------------------------------------------------------------
def job_config(settings: StudySettings, training: dict[str, Any], variant: str,
               seed: int) -> TrainingConfig:
    """The variant's configuration with the job's seed and the study's evaluations
    (its budget is ``job_budget``'s)."""
    config = TrainingConfig.from_params({**training, "seed": seed},
                                        prefix=f"{variant}.training")
    # Events must land on in-training evaluations for the curves to line up.
    log_every = min(config.schedule.log_every, settings.eval_every)
    return config.replace(schedule={"eval_every": settings.eval_every,
                                    "eval_samples": settings.eval_samples,
                                    "log_every": log_every},
                          runtime={"resume": "auto"})


def study_protocol(settings: StudySettings, protocol: dict[str, Any]) -> Protocol:
    """The evaluation protocol of the study's runs: ``evaluation.protocol`` with the
    study's sample count when it sets one."""
    if settings.protocol_samples:
        protocol = {**protocol, "n_samples": settings.protocol_samples}
    return Protocol(**protocol)


def job_budget(settings: StudySettings, amount: float | None = None) -> Budget:
    """Every job trains for the study's budget (or ``amount`` of its unit), whatever
    the variant's schedule says."""
    if amount is None:
        return settings.budget
    return dataclasses.replace(settings.budget, amount=amount)


@dataclasses.dataclass(frozen=True)
class Labels:
    """The classes of the training and test images, for conditional variants (which
    train on them, and are scored on the labelled metrics, CAS with ``recipe``)."""

    train: np.ndarray
    test: np.ndarray
    recipe: ClassifierConfig


class StudyJob:
    """Runs one (variant, seed) job for ``run_jobs``; returns its FID."""

    def __init__(self, settings: StudySettings, family: Any, train_images: np.ndarray,
                 test_images: np.ndarray, space: FeatureSpace, protocol: dict[str, Any],
                 callbacks: RunCallbacks | None = None,
                 second_space: FeatureSpace | None = None,
                 labels: Labels | None = None) -> None:
        if space.extractor is None:
            raise ConfigError("study: FID needs a feature space; this dataset has none "
                              "(no labels and no InceptionV3 weights)")
        self.settings, self.family = settings, family
        self.train_images, self.test_images, self.space = train_images, test_images, space
        self.second = second_space.extractor if second_space is not None else None
        self.protocol = study_protocol(settings, protocol)
        self.callbacks = callbacks or RunCallbacks()
        self.labels = labels

    def __call__(self, trial: optuna.Trial, variant: str, seed: int) -> float:
        config = job_config(self.settings, self.family[variant], variant, seed)
        logger.info("study %s: %s seed %d (trial %d)", self.settings.name, variant, seed,
                    trial.number)

        def body() -> dict[str, float]:
            try:
                result = self._run(config, variant, seed)
            except Exception as exc:
                logger.warning("study %s: %s seed %d failed: %s", self.settings.name, variant,
                               seed, exc)
                raise
            trial.set_user_attr(RESULT_ATTR, result)
            return result["metrics"]

        tags = {"study": self.settings.name, "study_role": "run", "variant": variant,
                "seed": str(seed)}
        final = guarded_run(trial, self.callbacks, f"{variant} seed {seed}", tags,
                            config.as_dict(), body,
                            lambda: keras.utils.clear_session(free_memory=True))
        return float(final["fid"])

    def _fresh_critic(self, seed: int) -> FreshCriticW1 | None:
        fresh = self.settings.fresh_critic
        if not fresh.steps:
            return None
        probe = TrainingConfig.from_params(
            {**self.family[fresh.variant], "seed": seed, "runtime": {"distribution": "default"}},
            prefix="study.fresh_critic.variant")
        return FreshCriticW1(probe, self.train_images, self.test_images, fresh.steps,
                             fresh.samples, seed)

    def _run(self, config: TrainingConfig, variant: str, seed: int) -> dict[str, Any]:
        labels = self.labels if config.conditional else None
        trainer = GANTrainer(config, self.train_images.shape[1:],
                             n_classes=class_count(labels.train) if labels else 0)
        fid_of = in_training_fid(self.space, self.test_images, config.schedule.eval_samples, seed)
        fresh_w1 = self._fresh_critic(seed)
        step_callback = self.callbacks.check

        def evaluate(step: int, generator) -> dict[str, float]:
            scores = fid_of(step, generator)
            if fresh_w1 is not None:
                scores["fresh_critic_w1"] = fresh_w1(generator)
            if step_callback:
                step_callback(step, scores)
            return scores

        label = f"{variant} seed {seed}"
        stored = self.settings.budget_results_file(variant, seed)
        by_budget = json.loads(stored.read_text()) if stored.is_file() else {}
        for amount in self.settings.budgets:
            key = f"{amount:g}"
            if key in by_budget:
                continue
            fitted = trainer.fit(self.train_images, self.settings.checkpoint_dir(variant, seed),
                                 Callbacks(on_step=step_callback, evaluate=evaluate),
                                 budget=job_budget(self.settings, amount),
                                 label=f"{label} training to {job_budget(self.settings, amount).describe()}",
                                 labels=labels.train if labels else None)
            metrics, histogram = evaluate_generator(
                fitted.generator, self.test_images, self.space.extractor, self.protocol,
                description=f"{label}: evaluation at {key}",
                real_labels=labels.test if labels else None,
                recipe=labels.recipe if labels else None)
            if self.second is not None:
                metrics.update(evaluate_in_second_features(fitted.generator, self.test_images,
                                                           self.second, self.protocol))
            history = fitted.history
            by_budget[key] = {
                "steps": int(history["step"].iloc[-1]) if len(history) else 0,
                "train_seconds": float(history["seconds"].iloc[-1]) if len(history) else 0.0,
                "metrics": {k: float(v) for k, v in metrics.items()}}
            if self.callbacks.evaluated:
                self.callbacks.evaluated(key, by_budget[key]["metrics"])
            if amount != self.settings.budgets[-1]:
                stored.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(stored) as tmp:
                    tmp.write_text(json.dumps(by_budget))
        last = by_budget[f"{self.settings.budgets[-1]:g}"]
        return {**last, "resumed_from": int(fitted.resumed_from),
                "n_classes": len(histogram), "by_budget": by_budget,
                "curve": curve(fitted.history, fitted.evaluations)}


def curve(history: pd.DataFrame, evaluations: pd.DataFrame | None) -> list[dict[str, float]]:
    """The in-training checks: step, training seconds, FID, classes covered, the
    critic's Wasserstein estimate (its real-minus-fake score gap) at that step, and a
    fresh critic's estimate when the study asks for one."""
    if evaluations is None or not len(evaluations):
        return []
    checks = evaluations.sort_values("step")
    if len(history) and "wasserstein_estimate" in history:
        estimates = history[["step", "wasserstein_estimate"]].sort_values("step")
        checks = pd.merge_asof(checks, estimates, on="step", direction="backward")
    keep = [c for c in ("step", "seconds", "fid", "classes_covered", "wasserstein_estimate",
                        "fresh_critic_w1") if c in checks]
    return [{k: float(v) for k, v in row.items()} for row in checks[keep].to_dict("records")]
