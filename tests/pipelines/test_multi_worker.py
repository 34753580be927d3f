"""A Kedro run on a TF_CONFIG cluster: only the chief writes files and tracks in MLflow."""
import json
import os
import subprocess
import sys

import pandas as pd
from mlflow import MlflowClient

from tests.conftest import run_pipeline, write_idx_source
from wgan_lab.gan.distribute import loopback_tf_configs


def written_files(project):
    return sorted(str(p.relative_to(project)) for p in (project / "data").rglob("*")
                  if p.is_file() and "01_raw" not in p.parts)


def all_runs(project):
    client = MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


def test_non_chief_worker_writes_no_outputs_and_opens_no_run(kedro_project, monkeypatch):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=30, n_test=10)
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    # Ingestion builds no strategy, so one process can play worker 1 alone.
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    run_pipeline(kedro_project, "data_processing")
    assert written_files(kedro_project) == []
    assert all_runs(kedro_project) == []

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 0}}))
    run_pipeline(kedro_project, "data_processing")
    assert "data/05_model_input/mnist/train_images.npy" in written_files(kedro_project)
    assert len(all_runs(kedro_project)) == 1


def test_two_workers_on_loopback_run_the_pipeline_once(kedro_project, spawn):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=10)
    # A project used before: its MLflow store and experiment exist. (Two
    # processes creating a fresh SQLite store at the same instant can collide.)
    run_pipeline(kedro_project, "data_processing")
    runs_before = len(all_runs(kedro_project))
    params = ("wgan_gp.training.schedule.steps=4,wgan_gp.training.optimizer.batch_size=8,"
              "wgan_gp.training.model.latent_dim=8,wgan_gp.training.objective.n_critic=2,"
              "wgan_gp.training.schedule.log_every=2,wgan_gp.training.schedule.sample_every=2,"
              "wgan_gp.training.schedule.checkpoint_every=2,"
              "wgan_gp.training.schedule.n_sample_images=4")
    procs = [
        spawn(
            [sys.executable, "-m", "kedro", "run", "--pipelines=wgan_gp", "--params", params],
            cwd=kedro_project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "400", "TF_CONFIG": tf_config})
        for tf_config in loopback_tf_configs(2)
    ]
    outs = [proc.communicate(timeout=600)[0] for proc in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-3000:]
    assert "on 2 replica(s)" in outs[0] and "Non-chief worker" not in outs[0]
    assert "Non-chief worker (worker 1)" in outs[1]
    # TensorFlow's error line when the chief exits first comes after the worker's word
    # that it is harmless, if it comes at all.
    explained = outs[1].find("Worker finished. If TensorFlow now logs")
    assert explained >= 0 and "Worker finished" not in outs[0]
    alarm = outs[1].find("Failed to send RPC to coordination service")
    assert alarm == -1 or alarm > explained

    runs = all_runs(kedro_project)
    assert len(runs) == runs_before + 1
    assert runs[0].data.tags["variant"] == "wgan_gp"
    assert runs[0].data.tags["replicas"] == "2"
    reports = kedro_project / "data/08_reporting/mnist/wgan_gp"
    assert pd.read_csv(reports / "training_history.csv")["step"].tolist() == [2, 4]
    assert (reports / "metrics.json").is_file()
