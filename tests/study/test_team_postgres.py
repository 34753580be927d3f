"""The study as a team runs it, on a real PostgreSQL server: the job store and the
MLflow server's store in it, two processes, one killed mid-job (the other resumes
that job from its checkpoint, in its MLflow run, and trains no finished job again),
a rerun; and the database password nowhere a user or a colleague could read it."""
import json
import os
import signal
import subprocess
import time

import optuna
import pytest
import yaml
from mlflow import MlflowClient
from optuna.trial import TrialState

from tests.conftest import kill_group, start_mlflow_server, write_idx_source
from tests.study.test_study_pipeline import ENV, job, make_env, study_command

JOBS = {(v, s) for v in ("gan", "wgan") for s in (0, 1)}


@pytest.mark.slow
def test_two_processes_on_postgres_one_killed_every_job_once_and_no_password_shown(
        kedro_project, postgres_server, spawn, tmp_path):
    server = postgres_server
    server.create_database("jobs")
    server.create_database("mlflow")
    # The README's recipe: the MLflow server's store in PostgreSQL, its password from
    # the driver's environment, not its command line.
    tracking, uri = start_mlflow_server(server.url("mlflow", with_password=False),
                                        tmp_path / "artifacts",
                                        env={**os.environ, "PGPASSWORD": server.password})
    try:
        run_study_as_a_team(kedro_project, server, uri, spawn)
    finally:
        kill_group(tracking)


def run_study_as_a_team(project, server, uri, spawn):
    write_idx_source(project / "data/01_raw/mnist", n_train=600, n_test=100)
    make_env(project, {"variants": ["gan", "wgan"], "seeds": [0, 1],
                       "storage": server.url("jobs", with_password=False),
                       "budget": {"unit": "steps", "amount": 800}, "eval_every": 200,
                       "heartbeat": {"interval": 1, "grace": 3}}, variants=("gan", "wgan"))
    # Three ways to give the password: Kedro's credentials file, the URL itself (what
    # must then be masked everywhere) and the driver's environment.
    (project / "conf" / ENV / "credentials.yml").write_text(
        yaml.safe_dump({"jobs_db": {"password": server.password}}))
    env = {**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "300", "MLFLOW_TRACKING_URI": uri}
    # See the two-process test in test_study_pipeline: the experiment exists before both start.
    MlflowClient(uri).create_experiment("wgan_lab")
    logs = {name: project / f"{name}.log" for name in ("credentials", "url", "rerun")}
    first = spawn(study_command() + ["--params=study.credentials=jobs_db"], cwd=project,
                  env=env, stdout=logs["credentials"].open("w"), stderr=subprocess.STDOUT)
    second = spawn(study_command() + [f"--params=study.storage={server.url('jobs')}"],
                   cwd=project, env=env, stdout=logs["url"].open("w"), stderr=subprocess.STDOUT)

    # Kill the second process once it has checkpointed a job: the first takes the job
    # over once its heartbeats stop, from the checkpoint.
    store_url = server.url("jobs")
    # One storage for the whole poll: a URL per call opens a new connection pool each
    # time, held until garbage collection, and on a slow machine the polls used up the
    # server's 100 connections ("too many clients already").
    polled = optuna.storages.RDBStorage(store_url)
    deadline, killed = time.monotonic() + 400, None
    while time.monotonic() < deadline and killed is None and second.poll() is None:
        time.sleep(0.3)
        try:
            trials = optuna.load_study(study_name="default", storage=polled).get_trials()
        except (KeyError, optuna.exceptions.StorageInternalError):
            continue
        for trial in trials:
            variant_seed = job(trial)
            folder = (project / "data/06_models/mnist-quick/study/default"
                      / f"{variant_seed[0]}-seed{variant_seed[1]}/checkpoints")
            # The state file that resuming reads, written after the checkpoint's own
            # files: a kill between the two (seen in CI) leaves nothing to resume from.
            if (trial.state == TrialState.RUNNING and trial.user_attrs.get("worker", "")
                    .endswith(f":{second.pid}") and (folder / "checkpoint").is_file()):
                os.killpg(second.pid, signal.SIGKILL)
                second.wait()
                killed = trial.number
                done_before = {t.number: (t.value, t.datetime_complete) for t in trials
                               if t.state == TrialState.COMPLETE}
                break
    assert killed is not None, logs["url"].read_text()[-3000:]
    assert first.wait(timeout=600) == 0, logs["credentials"].read_text()[-3000:]

    rerun = subprocess.run(study_command(), cwd=project, timeout=600, text=True,
                           env={**env, "PGPASSWORD": server.password},
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    logs["rerun"].write_text(rerun.stdout)
    assert rerun.returncode == 0, rerun.stdout[-3000:]

    store = optuna.load_study(study_name="default", storage=store_url)
    complete = [job(t) for t in store.trials if t.state == TrialState.COMPLETE]
    assert sorted(complete) == sorted(JOBS)  # every job once, none twice
    dead = store.trials[killed]
    assert dead.state == TrialState.FAIL
    retry = next(t for t in store.trials if t.system_attrs.get("failed_trial") == killed)
    assert retry.user_attrs["result"]["resumed_from"] > 0
    assert retry.user_attrs["worker"].endswith(f":{first.pid}")
    assert "Resumed from" in logs["credentials"].read_text()
    # The jobs finished before the kill were not trained again.
    assert {n: (store.trials[n].value, store.trials[n].datetime_complete)
            for n in done_before} == done_before

    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert not client.search_runs(experiments, "attributes.status = 'RUNNING'")
    assert client.get_run(dead.user_attrs["mlflow_kedro_run_id"]).info.status == "KILLED"
    # The job carried on in its own MLflow run, which finished.
    assert retry.user_attrs["mlflow_run_id"] == dead.user_attrs["mlflow_run_id"]
    assert client.get_run(dead.user_attrs["mlflow_run_id"]).info.status == "FINISHED"

    # The password: in no log, output file, job store record or MLflow record.
    secret = server.password
    for name, path in logs.items():
        assert secret not in path.read_text(), name
    for path in (project / "data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    stored = [store.user_attrs]
    for trial in store.trials:
        stored += [trial.params, trial.user_attrs, trial.system_attrs]
    assert secret not in json.dumps(stored, default=str)
    for run in client.search_runs(experiments):
        assert secret not in json.dumps([run.data.params, run.data.tags]), run.info.run_name
        for artifact in client.list_artifacts(run.info.run_id, "config"):
            text = (client.download_artifacts(run.info.run_id, artifact.path)
                    if not artifact.is_dir else "")
            assert not text or secret not in open(text).read()
    masked = [run for run in client.search_runs(experiments)
              if "lab:***@" in run.data.params.get("study.storage", "")]
    assert masked, "the run given the URL with its password shows it masked"
