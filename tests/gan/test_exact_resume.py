"""A run killed with SIGKILL and rerun ends bit-identical to one never interrupted."""
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

WORKER = Path(__file__).with_name("resume_worker.py")


def run(spawn, checkpoint_dir, out, kill="none"):
    proc = spawn([sys.executable, str(WORKER), str(checkpoint_dir), str(out), kill],
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = proc.communicate(timeout=300)
    return proc.returncode, output


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference: the same configuration trained without a stop."""
    import os

    folder = tmp_path_factory.mktemp("reference")
    proc = subprocess.run([sys.executable, str(WORKER), str(folder / "ckpt"),
                           str(folder / "state.npz"), "none"], capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return np.load(folder / "state.npz")


@pytest.mark.parametrize("kill", ["eval:30", "checkpoint:40", "step:25"])
def test_killed_and_rerun_equals_uninterrupted(kill, uninterrupted, tmp_path, spawn):
    code, output = run(spawn, tmp_path / "ckpt", tmp_path / "state.npz", kill)
    assert code == -signal.SIGKILL, output[-3000:]
    assert not (tmp_path / "state.npz").exists()
    code, output = run(spawn, tmp_path / "ckpt", tmp_path / "state.npz")
    assert code == 0, output[-3000:]
    resumed = np.load(tmp_path / "state.npz")
    # It really resumed, from the last checkpoint before the kill. The in-step kill
    # lands a moment after step 25's log line: within steps 26-30, or just after
    # step 30's checkpoint.
    expected = {"eval:30": {20}, "checkpoint:40": {30}, "step:25": {20, 30}}[kill]
    assert int(resumed["resumed_from"]) in expected
    states = sorted(k for k in uninterrupted.files if k.startswith("state_"))
    assert states and states == sorted(k for k in resumed.files if k.startswith("state_"))
    for key in states:  # weights, both optimizers' state, EMA weights, step
        np.testing.assert_array_equal(resumed[key], uninterrupted[key], err_msg=key)
    np.testing.assert_array_equal(resumed["history"], uninterrupted["history"])
    np.testing.assert_array_equal(resumed["evaluations"], uninterrupted["evaluations"])
    assert len(uninterrupted["history"]) == 12 and len(uninterrupted["evaluations"]) == 6


# SIGINT here; SIGTERM's same handler is driven end to end by the training pipeline's
# test (tests/pipelines/test_training.py) and across workers by test_distribution.py.
@pytest.mark.parametrize("how", ["sigint"])
def test_a_signal_saves_the_step_reached_and_the_rerun_equals_uninterrupted(
        how, uninterrupted, tmp_path, spawn):
    # The signal lands at step 25's log line: between the checkpoints of 20 and 30.
    code, output = run(spawn, tmp_path / "ckpt", tmp_path / "state.npz", f"{how}:25")
    assert code == {"sigint": 130, "sigterm": 143}[how], output[-3000:]
    line = f"wgan_gp: stopped by {how.upper()} at step 25; checkpoint of step 25 saved in"
    assert line in output and "run the same command again to resume from step 25" in output
    assert tf.train.latest_checkpoint(str(tmp_path / "ckpt")).endswith("ckpt-25")
    code, output = run(spawn, tmp_path / "ckpt", tmp_path / "state.npz")
    assert code == 0, output[-3000:]
    resumed = np.load(tmp_path / "state.npz")
    assert int(resumed["resumed_from"]) == 25
    for key in (k for k in uninterrupted.files if k.startswith("state_")):
        np.testing.assert_array_equal(resumed[key], uninterrupted[key], err_msg=key)
    np.testing.assert_array_equal(resumed["history"], uninterrupted["history"])
    np.testing.assert_array_equal(resumed["evaluations"], uninterrupted["evaluations"])


def test_a_second_ctrl_c_exits_at_once_and_keeps_the_last_checkpoint(tmp_path, spawn):
    code, output = run(spawn, tmp_path / "ckpt", tmp_path / "state.npz", "twice:25")
    assert code == 130, output[-3000:]
    assert "SIGINT again: exiting now, without saving" in output
    assert "checkpoint of step 25" not in output
    # The last complete checkpoint, step 20's, is intact and restores.
    latest = tf.train.latest_checkpoint(str(tmp_path / "ckpt"))
    assert latest.endswith("ckpt-20")
    tf.train.load_checkpoint(latest).get_variable_to_shape_map()


def test_a_checkpoint_before_the_first_logged_step_restores(tmp_path):
    """checkpoint_every below log_every: the history saved with it has no rows yet."""
    from wgan_lab.gan.checkpoints import CheckpointStore

    step = tf.Variable(0, dtype=tf.int64)
    store = CheckpointStore(tmp_path, tf.train.Checkpoint(step=step), "same")
    step.assign(50)
    store.save(50, history=pd.DataFrame())
    store.save_evaluations(pd.DataFrame())
    step.assign(0)
    restored, history = CheckpointStore(tmp_path, tf.train.Checkpoint(step=step), "same"
                                        ).restore("auto")
    assert restored == 50 and int(step.numpy()) == 50 and history.empty
    assert store.load_evaluations(50).empty
