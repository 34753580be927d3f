"""MLflow tracking of real pipeline runs, checked with MlflowClient; no mocked MLflow."""
import os
import socket
import subprocess
import sys
import time
import urllib.request

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import run_pipeline, write_idx_source
from tests.pipelines.test_training import tiny_training

METRICS = {"critic_loss", "generator_loss", "wasserstein_estimate", "gradient_penalty",
           "critic_grad_norm", "generator_grad_norm", "d_real", "d_fake", "images_per_sec"}


def runs(uri):
    client = MlflowClient(uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    return client, client.search_runs(experiments)


def check_generator_model(client, run, uri):
    models = client.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}'")
    assert [m.name for m in models] == ["generator"]
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(models[0].model_uri)
    finally:
        mlflow.set_tracking_uri(previous)
    images = np.asarray(model.predict(np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)))
    assert images.shape == (3, 28, 28, 1)
    assert images.min() >= -1.0 and images.max() <= 1.0


@pytest.fixture
def tiny_source(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=10)
    return kedro_project


def test_single_variant_run_is_fully_tracked(tiny_source):
    run_pipeline(tiny_source, "wgan_gp", params=tiny_training("wgan_gp", steps=6))
    uri = f"sqlite:///{tiny_source / 'mlflow.db'}"
    client, found = runs(uri)
    assert len(found) == 1
    run = found[0]
    assert run.info.run_name == "wgan_gp" and run.info.status == "FINISHED"
    tags = run.data.tags
    assert tags["variant"] == "wgan_gp" and tags["dataset"] == "mnist"
    assert tags["architecture"] == "mlp" and tags["kedro_env"] == "local"
    assert "git_commit" in tags
    params = run.data.params
    assert params["wgan_gp.training.learning_rate"] == "0.0001"
    assert params["wgan_gp.training.n_critic"] == "2"
    assert params["data_processing.seed"] == "1234"
    for name in METRICS:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [2, 4, 6], name
    images = [a.path for a in client.list_artifacts(run.info.run_id, "images")]
    assert len(images) >= 3 and all("samples" in p for p in images)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"training_history.json", "config"} <= artifacts
    check_generator_model(client, run, uri)


def test_comparison_run_has_a_child_run_per_variant(tiny_source):
    params = {}
    for variant in ("gan", "wgan", "wgan_gp"):
        params.update(tiny_training(variant))
    run_pipeline(tiny_source, "__default__", params=params)
    client, found = runs(f"sqlite:///{tiny_source / 'mlflow.db'}")
    parent = [r for r in found if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in found if "mlflow.parentRunId" in r.data.tags]
    assert len(parent) == 1
    assert sorted(r.info.run_name for r in children) == ["gan", "wgan", "wgan_gp"]
    for child in children:
        assert child.data.tags["mlflow.parentRunId"] == parent[0].info.run_id
        assert child.data.tags["variant"] == child.info.run_name
        assert METRICS <= set(child.data.metrics)
        assert "training.learning_rate" in child.data.params


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(uri + "/health", timeout=2):
                break
        except OSError:
            assert proc.poll() is None, "mlflow server exited"
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start")
    yield uri
    proc.terminate()
    proc.wait(timeout=30)


def test_pipeline_against_a_real_tracking_server(tiny_source, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    run_pipeline(tiny_source, "gan", params=tiny_training("gan"))
    assert not (tiny_source / "mlflow.db").exists()
    client, found = runs(mlflow_server)
    assert [r.info.run_name for r in found] == ["gan"]
    assert [m.step for m in client.get_metric_history(found[0].info.run_id, "d_real")] == [2, 4]
    check_generator_model(client, found[0], mlflow_server)


def test_unreachable_server_fails_before_training(tiny_source, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception, match="tracking server .* is unreachable"):
        run_pipeline(tiny_source, "gan", params=tiny_training("gan"))
    assert not (tiny_source / "data/06_models").exists()
