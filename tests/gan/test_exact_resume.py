"""A run killed with SIGKILL and rerun ends bit-identical to one never interrupted."""
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

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
