"""Each variant's pipeline end to end on tiny data, and resuming after SIGKILL."""
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests.configs import tiny_training
from tests.conftest import run_pipeline, write_idx_source
from wgan_lab import wiring


@pytest.mark.parametrize("variant", ["gan", "wgan", "wgan_gp"])
def test_variant_pipeline_end_to_end(kedro_project, variant):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=10)
    run_pipeline(kedro_project, variant, params=tiny_training(variant))
    models = kedro_project / "data/06_models/mnist" / variant
    generator = keras.models.load_model(models / "generator.keras", safe_mode=True)
    images = generator(np.zeros((3, 8), np.float32))
    assert images.shape == (3, 28, 28, 1)
    critic = keras.models.load_model(models / "critic.keras", safe_mode=True)
    assert critic(images).shape == (3, 1)
    reports = kedro_project / "data/08_reporting/mnist" / variant
    history = pd.read_csv(reports / "training_history.csv")
    assert history["step"].tolist() == [2, 4]
    assert {"critic_loss", "generator_loss", "wasserstein_estimate", "gradient_penalty",
            "critic_grad_norm", "generator_grad_norm", "seconds", "images_per_sec"} <= set(history)
    assert sorted(p.name for p in (reports / "samples").iterdir()) == [
        "step_0000002.png", "step_0000004.png"]
    assert (reports / "samples_final.png").is_file()
    assert (models / "checkpoints" / "ckpt-4.index").is_file()


def test_bad_parameter_fails_before_training(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=10)
    with pytest.raises(Exception, match=r"wgan\.training\.objective\.n_critic: must be at least 1"):
        run_pipeline(kedro_project, "wgan", params=tiny_training("wgan", objective={"n_critic": 0}))
    assert not (kedro_project / "data/06_models/mnist/wgan").exists()
    # The failed run is forgotten: pipelines built later in this process (the next
    # session, a notebook) read the files, not its parameters.
    assert wiring.run_context() == wiring.RunContext()


def kedro_run(spawn, project, params, env=None):
    return spawn(
        [sys.executable, "-m", "kedro", "run", "--pipelines=wgan_gp", "--params", params],
        # Wide columns keep rich from wrapping the log lines the test greps.
        cwd=project, env={**os.environ, "DO_NOT_TRACK": "1", "COLUMNS": "400", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_sigkill_mid_run_then_rerun_finishes_at_configured_steps(kedro_project, spawn):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=64, n_test=10)
    params = ("wgan_gp.training.schedule.steps=600,wgan_gp.training.schedule.checkpoint_every=100,"
              "wgan_gp.training.schedule.log_every=100,wgan_gp.training.optimizer.batch_size=8,"
              "wgan_gp.training.objective.n_critic=1,wgan_gp.training.model.latent_dim=8")
    checkpoints = kedro_project / "data/06_models/mnist/wgan_gp/checkpoints"
    proc = kedro_run(spawn, kedro_project, params)
    deadline = time.time() + 240
    # Wait for the state file that resuming reads, not the checkpoint's own
    # files: a kill between the two leaves no checkpoint to resume from.
    while tf.train.latest_checkpoint(str(checkpoints)) is None and time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    history = kedro_project / "data/08_reporting/mnist/wgan_gp/training_history.csv"
    assert not history.exists(), "the killed run must not have finished"
    # The killed run's lock file stays, naming it; it must not block the rerun.
    lock = kedro_project / "data/06_models/mnist/wgan_gp/run.lock"
    assert lock.read_text().strip() == str(proc.pid)

    proc = kedro_run(spawn, kedro_project, params)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert "Resumed from" in out
    steps = pd.read_csv(history)["step"].tolist()
    assert steps[-1] == 600
    assert steps == sorted(set(steps))


def test_sigterm_saves_the_step_reached_ends_mlflow_as_killed_and_the_rerun_resumes(
        kedro_project, spawn):
    from mlflow import MlflowClient

    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=64, n_test=10)
    params = ("wgan_gp.training.schedule.checkpoint_every=100,"
              "wgan_gp.training.schedule.log_every=10,wgan_gp.training.optimizer.batch_size=8,"
              "wgan_gp.training.objective.n_critic=1,wgan_gp.training.model.latent_dim=8,"
              "wgan_gp.training.runtime.steps_per_call=5")
    checkpoints = kedro_project / "data/06_models/mnist/wgan_gp/checkpoints"
    proc = kedro_run(spawn, kedro_project, params + ",wgan_gp.training.schedule.steps=20000")
    deadline = time.time() + 240
    while tf.train.latest_checkpoint(str(checkpoints)) is None and time.time() < deadline:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    # A second run of the variant in the same folder refuses at once, naming the lock
    # and its holder, and leaves the first one's files alone.
    second = kedro_run(spawn, kedro_project, params)
    out, _ = second.communicate(timeout=120)
    lock = kedro_project / "data/06_models/mnist/wgan_gp/run.lock"
    errors = [line for line in out.splitlines() if "run.lock" in line]
    assert second.returncode == 1 and len(errors) == 1, out[-3000:]
    assert f"(process {proc.pid})" in errors[0] and str(lock) in errors[0]
    assert proc.poll() is None
    time.sleep(0.3)  # past the checkpoint of step 100, between two checkpoints
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    seconds = time.monotonic() - sent
    assert proc.returncode == 143, out[-3000:]
    stopped = [line for line in out.splitlines() if line.startswith("Stopped: ")]
    assert len(stopped) == 1, out[-3000:]
    step = int(stopped[0].split(" at step ")[1].split(";")[0])
    assert f"checkpoint of step {step} saved in" in stopped[0]
    assert "run the same command again to resume from step " in stopped[0]
    latest = tf.train.latest_checkpoint(str(checkpoints))
    assert latest.endswith(f"ckpt-{step}") and step % 5 == 0 and step > 100
    assert seconds < 60, seconds
    client = MlflowClient(f"sqlite:///{kedro_project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert [r.info.status for r in runs] == ["KILLED"]
    assert runs[0].data.tags["stopped_by"] == "SIGTERM"
    assert runs[0].data.tags["stopped_at_step"] == str(step)

    proc = kedro_run(spawn, kedro_project, params + f",wgan_gp.training.schedule.steps={step + 10}")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-3000:]
    assert f"at step {step}" in out and "Resumed from" in out
    history = pd.read_csv(kedro_project / "data/08_reporting/mnist/wgan_gp/training_history.csv")
    assert history["step"].iloc[-1] == step + 10
