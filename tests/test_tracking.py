"""MLflow tracking of real pipeline runs, checked with MlflowClient; no mocked MLflow."""
import os
import re
import subprocess
import sys
import time

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import free_port, kill_group, run_pipeline, write_idx_source
from tests.configs import tiny_training
from wgan_lab import wiring
from wgan_lab.variants import family, load_parameters

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
    shrunk = tiny_training("wgan_gp", schedule={"steps": 6})
    run_pipeline(tiny_source, "wgan_gp", params=shrunk)
    configured = family(load_parameters())["wgan_gp"]
    n_critic = shrunk["wgan_gp"]["training"].get("objective", {}).get(
        "n_critic", configured["objective"]["n_critic"])
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
    # The configured values, as the run's --params left them.
    assert params["wgan_gp.training.optimizer.learning_rate"] == str(
        configured["optimizer"]["learning_rate"])
    assert params["wgan_gp.training.objective.n_critic"] == str(n_critic)
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
        assert "training.optimizer.learning_rate" in child.data.params


def test_pipeline_against_a_real_tracking_server(tiny_source, mlflow_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    (tiny_source / "mlflow.db").unlink()  # the project's empty local store
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
    # The failed session is forgotten (RunContextHooks), as a failed parameter check is.
    assert wiring.run_context() == wiring.RunContext()


def test_tracking_server_lost_mid_run_keeps_the_model_and_says_where(tiny_source, mlflow_server_proc,
                                                                   spawn):
    proc, uri = mlflow_server_proc
    checkpoints = tiny_source / "data/06_models/mnist/gan/checkpoints"
    plain_logging = tiny_source / "logging.yml"
    plain_logging.write_text(
        "version: 1\nhandlers:\n  console:\n    class: logging.StreamHandler\n"
        "root:\n  level: INFO\n  handlers: [console]\n")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "DO_NOT_TRACK": "1",
           "KEDRO_LOGGING_CONFIG": str(plain_logging),
           # No retries: a dead server refuses at once. The timeout is for a live one
           # on a loaded machine, whose first answer took over 3 s here under load.
           "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}
    run = spawn(
        [sys.executable, "-m", "kedro", "run", "--pipelines=gan", "--params",
         "gan.training.schedule.steps=800,gan.training.schedule.checkpoint_every=100,"
         "gan.training.schedule.log_every=50,gan.training.optimizer.batch_size=8,"
         "gan.training.model.latent_dim=8"],
        cwd=tiny_source, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 240
    while not list(checkpoints.glob("ckpt-*.index")) and time.time() < deadline:
        assert run.poll() is None, run.stdout.read()[-3000:]
        time.sleep(0.05)
    kill_group(proc)
    out, _ = run.communicate(timeout=300)
    generator = tiny_source / "data/06_models/mnist/gan/generator.keras"
    assert generator.is_file()
    assert "MLflow logging failed" in out
    assert run.returncode != 0
    assert re.search(r"The trained models are saved locally: .*gan/generator\.keras", out)


def test_tracking_uri_checks_say_what_is_wrong_and_never_the_password():
    from wgan_lab.core import ConfigError
    from wgan_lab.tracking import TrackingUnavailableError, check_tracking_uri

    with pytest.raises(ConfigError) as missing_driver:
        check_tracking_uri("mysql://lab:s3cret@127.0.0.1/runs")
    assert str(missing_driver.value).startswith(
        "MLFLOW_TRACKING_URI: the database driver for mysql:// is not installed")
    with pytest.raises(TrackingUnavailableError) as unreachable:
        check_tracking_uri(f"http://lab:s3cret@127.0.0.1:{free_port()}", timeout=2)
    assert "lab:***@127.0.0.1" in str(unreachable.value)
    for error in (missing_driver.value, unreachable.value):
        assert "s3cret" not in str(error)
