"""`kedro run --pipelines=tune` for real: Optuna storage, MLflow child runs, parallel
processes, one stopped by SIGTERM, and a pruned broken setting. A SIGKILLed process
whose trial is taken over after its heartbeats stop: test_team_postgres (searches
and studies share that job store code, experiments/store.work_until_done)."""
import os
import signal
import socket
import subprocess
import sys
import time

import optuna
import pytest
import sqlalchemy
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.conftest import new_mlflow_store, run_pipeline, with_real_mnist, write_idx_source
from wgan_lab.data.processing import to_unit_range
from wgan_lab.data.sources import FetchOptions, read_source
from wgan_lab.evaluation.feature_space import FeatureSpace
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.experiments.store import is_finished
from wgan_lab.experiments.search import (TrialObjective, TuneSettings, open_study,
                                    run_worker)
from wgan_lab.variants import family, load_parameters

QUICK_STORAGE = "data/06_models/mnist-quick/tune/optuna.db"


def load(project, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{project / QUICK_STORAGE}")


def counted(study):
    return [t for t in study.get_trials() if is_finished(t)]


def tune_command(*params):
    return [sys.executable, "-m", "kedro", "run", "--pipelines=tune", "--env=quick",
            "--params=" + ",".join(params)]


@pytest.mark.integration
def test_quick_tune_on_real_mnist_tracks_every_trial_and_writes_usable_best_params(
        kedro_project, quick_mnist_classifier):
    with_real_mnist(kedro_project, quick_mnist_classifier)
    # Two trials: the first always completes (the pruner starts after one), the
    # second completes or is pruned; either way it is tracked with its state.
    run_pipeline(kedro_project, "tune", env="quick", params={"tune": {"variant": "wgan",
                                                                      "trials": 2}})
    study = load(kedro_project, "wgan-steps-60")
    trials = counted(study)
    assert sorted(t.number for t in trials) == [0, 1]

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, "tags.tune_study = 'wgan-steps-60'")
    assert sorted(int(r.data.tags["trial"]) for r in runs) == [0, 1]
    for run in runs:
        trial = study.trials[int(run.data.tags["trial"])]
        assert run.data.tags["state"] == trial.state.name
        assert float(run.data.params["optimizer.learning_rate"]) == pytest.approx(
            trial.params["optimizer.learning_rate"])
        fids = client.get_metric_history(run.info.run_id, "training_fid")
        assert [m.value for m in fids] == pytest.approx(list(trial.intermediate_values.values()))
        if trial.state == TrialState.COMPLETE:
            assert run.data.metrics["final_fid"] == pytest.approx(trial.value)

    reports = kedro_project / "data/08_reporting/mnist-quick/tune/wgan"
    best = yaml.safe_load((reports / "best_params.yml").read_text())
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    winner = min(complete, key=lambda t: t.value)
    tuned = best["wgan"]["training"]
    assert tuned["optimizer"]["learning_rate"] == pytest.approx(winner.params["optimizer.learning_rate"])
    # Pasted over the variant's own block, it is a valid configuration.
    base = family(load_parameters(kedro_project))["wgan"]
    merged = {**base, **{k: {**base[k], **v} for k, v in tuned.items()}}
    config = TrainingConfig.from_params(merged, prefix="wgan.training")
    assert config.objective.regularizer == "clip" and config.objective.loss == "wasserstein"
    assert "Best FID found against the number of trials" in (reports / "tune_report.html").read_text()
    # The cross-variant figure: wgan is the only variant searched at this budget.
    compared = kedro_project / "data/08_reporting/mnist-quick/tune/all_variants"
    assert "Studies compared: wgan (2 trials)" in (compared / "budget_curves.md").read_text()
    assert (compared / "budget_curves.png").read_bytes().startswith(b"\x89PNG")


def test_two_processes_share_one_study_and_a_sigterm_requeues_the_stopped_trial_at_once(
        kedro_project, spawn):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=400, n_test=40)
    logs, procs = [], []
    for i in range(2):
        logs.append(open(kedro_project / f"tune_{i}.log", "w"))
        # Each its own MLflow store: this test is about the shared Optuna storage.
        env = {**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "300",
               "MLFLOW_TRACKING_URI": new_mlflow_store(kedro_project / f"mlflow_{i}.db")}
        procs.append(spawn(tune_command("tune.variant=gan", "tune.trials=5",
                                        "tune.budget.amount=40"),
                           cwd=kedro_project, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
    # SIGTERM to process 0 while it runs a trial that has its settings and its run.
    first_worker, stopped = f"{socket.gethostname()}:{procs[0].pid}", None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and stopped is None and procs[0].poll() is None:
        time.sleep(0.2)
        try:
            trials = load(kedro_project, "gan-steps-40").get_trials()
        except (KeyError, optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError):
            continue  # the study, or the storage's schema, is still being made
        running = [t for t in trials if t.state == TrialState.RUNNING and t.params
                   and "mlflow_run_id" in t.user_attrs and t.user_attrs.get("worker") == first_worker]
        if running:
            procs[0].send_signal(signal.SIGTERM)
            stopped = running[0]
    assert stopped is not None, (kedro_project / logs[0].name).read_text()[-3000:]
    assert procs[0].wait(timeout=120) == 143, (kedro_project / logs[0].name).read_text()[-3000:]
    # Failed and queued again by the stopped process itself, not by a heartbeat's grace.
    study = load(kedro_project, "gan-steps-40")
    assert study.trials[stopped.number].state == TrialState.FAIL
    retry = [t for t in study.get_trials() if t.system_attrs.get("failed_trial") == stopped.number]
    assert len(retry) == 1 and retry[0].params == stopped.params
    # Its MLflow runs, the trial's and the kedro run's, were ended KILLED by it; none runs.
    client = MlflowClient(f"sqlite:///{kedro_project / 'mlflow_0.db'}")
    for key in ("mlflow_run_id", "mlflow_kedro_run_id"):
        run = client.get_run(stopped.user_attrs[key]).info
        assert run.status == "KILLED", (key, run.status)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")

    assert procs[1].wait(timeout=600) == 0, (kedro_project / logs[1].name).read_text()[-3000:]
    study = load(kedro_project, "gan-steps-40")
    trials = counted(study)
    numbers = [t.number for t in trials]
    assert len(trials) == 5 and len(set(numbers)) == 5
    assert stopped.number not in numbers
    assert [t.params for t in trials if t.system_attrs.get("failed_trial") == stopped.number] \
        == [stopped.params]   # the retry ran, once
    # Every trial of the storage is one of the five, the stopped one, or one that
    # gave way (never run).
    extra = [t for t in study.get_trials() if t.number not in numbers]
    assert all(t.user_attrs.get("surplus") or t.number == stopped.number for t in extra)


@pytest.mark.integration
def test_a_broken_setting_is_pruned_early(shared_mnist, quick_mnist_extractor, tmp_path):
    splits = read_source("mnist", shared_mnist, FetchOptions(download=False))
    train_x, test_x = to_unit_range(splits.train_images), to_unit_range(splits.test_images)
    extractor, _ = quick_mnist_extractor
    space = FeatureSpace(extractor, "domain classifier", 10)
    parameters = load_parameters()
    tune = {**parameters["tune"], "variant": "gan", "trials": 3,
            "storage": f"sqlite:///{tmp_path / 'optuna.db'}",
            "budget": {"unit": "steps", "amount": 1500}, "checks": 3, "eval_samples": 500,
            "score_samples": 500,
            # From the second check on: at the first, even sound settings are still near
            # their random start.
            "pruner": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 1000},
            "search_space": {"gan": {"optimizer.learning_rate": {
                "type": "float", "low": 1e-10, "high": 1e-2, "log": True}}}}
    settings = TuneSettings.from_params(tune, family(parameters))
    study = open_study(settings)
    # A sound trial, then the same settings with a learning rate so small that
    # nothing is learnt: the generator stays at its random start.
    for rate in (2e-4, 1e-9):
        study.enqueue_trial({"optimizer.learning_rate": rate})
    # The classic GAN recipe on the small MLP (fast, and it learns within the first
    # check): the pruner, not the network, is under test. Fixed settings (two critic
    # updates), not whatever the default is.
    gan = family(parameters)["gan_120s"]
    training = {**gan, "model": {**gan["model"], "architecture": "mlp", "hidden_units": [128, 128]},
                "optimizer": {**gan["optimizer"], "critic_learning_rate": 2e-4, "beta_1": 0.5,
                              "beta_2": 0.999, "ema_decay": 0.0}}
    objective = TrialObjective(settings, training, train_x[:20000], test_x, space)
    run_worker(study, objective, trials=2)
    sound, broken = study.trials[:1], study.trials[1]
    assert [t.state for t in sound] == [TrialState.COMPLETE]
    assert broken.state == TrialState.PRUNED
    # Reported at each check's step count; stopped at the first check it could.
    assert list(broken.intermediate_values) == [500, 1000]
    assert broken.intermediate_values[1000] > 1.25 * max(t.intermediate_values[1000] for t in sound)
