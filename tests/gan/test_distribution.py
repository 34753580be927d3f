"""Multi-replica training on CPU: two logical devices, and two worker processes on 127.0.0.1."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from wgan_lab.gan import cluster
from wgan_lab.gan.distribute import loopback_tf_configs

WORKER = Path(__file__).with_name("distributed_worker.py")


def run(spawn, args, env=None):
    return spawn([sys.executable, str(WORKER), *map(str, args)],
                 env={**os.environ, **(env or {})},
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=300):
    out, _ = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, out[-4000:]


# Adam on the MLP (wgan) and the DCGAN (gan); the penalties under SGD, where a
# loss averaged per replica instead of over the global batch shows at once.
# wgan_gp_mlp (Adam) trains on two workers in the SIGTERM test below.
@pytest.mark.parametrize("variant", ["wgan_mlp", "gan_dcgan", "wgan_gp_sgd",
                                     "dragan_sgd", "hinge_sn_sgd"])
def test_two_replicas_match_one_replica(variant, tmp_path, spawn):
    out = tmp_path / "weights.npz"
    finish(run(spawn, ["compare", variant, out]))
    saved = np.load(out)
    n = len([k for k in saved if k.startswith("default_")])
    assert n > 0
    # The loss histories too: losses averaged per replica instead of over the
    # global batch would double every SGD step on 2 replicas.
    assert saved["history_default"].shape == saved["history_mirrored"].shape == (3, 7)
    np.testing.assert_allclose(saved["history_mirrored"], saved["history_default"],
                               rtol=1e-3, atol=1e-4, err_msg="history")
    # Adam divides by the gradient's running scale, so summation-order noise on
    # a near-zero gradient can move a weight by ~1e-5 per step at lr 1e-3.
    for i in range(n):
        np.testing.assert_allclose(saved[f"mirrored_{i}"], saved[f"default_{i}"],
                                   rtol=1e-3, atol=1e-4, err_msg=f"weight {i}")


def test_a_sigterm_to_one_worker_stops_both_at_one_step_and_the_rerun_ends_identical(
        tmp_path, spawn):
    # Each worker has its own checkpoint directory, as on separate machines: only
    # the chief writes, and worker 1 must resume from the chief's state.
    def run_workers(tag, steps, sigterm_at=None, expected=0):
        procs = [run(spawn, ["worker", "wgan_gp_mlp", tmp_path / f"{tag}{i}.npz",
                             tmp_path / f"{tag}_ckpt{i}" if tag == "whole" else
                             tmp_path / f"ckpt{i}", steps, *([sigterm_at] if sigterm_at else [])],
                     env={"TF_CONFIG": tf_config})
                 for i, tf_config in enumerate(loopback_tf_configs(2))]
        outs = [proc.communicate(timeout=240)[0] for proc in procs]
        assert [proc.returncode for proc in procs] == [expected] * 2, \
            "\n".join(out[-3000:] for out in outs)
        return [np.load(tmp_path / f"{tag}{i}.npz") for i in range(2)], outs

    whole, _ = run_workers("whole", 40)
    assert bool(whole[0]["chief"]) and not bool(whole[1]["chief"])
    assert int(whole[0]["steps"]) == 40
    keys = [k for k in whole[0] if k.startswith("w_")]
    for key in keys:
        np.testing.assert_array_equal(whole[0][key], whole[1][key], err_msg=key)
    assert not (tmp_path / "whole_ckpt1").exists() or not any((tmp_path / "whole_ckpt1").iterdir())

    # SIGTERM to worker 1 (not the chief) after step 3: both stop at one step, 143.
    stopped, outs = run_workers("stopped", 40, sigterm_at=3, expected=143)
    steps = [int(s["stopped_at"]) for s in stopped]
    assert steps[0] == steps[1] and 3 <= steps[0] < 40, steps
    assert all(f"stopped by SIGTERM at step {steps[0]}" in out for out in outs), outs
    assert (tmp_path / "ckpt0" / f"ckpt-{steps[0]}.index").is_file()

    resumed, _ = run_workers("resumed", 40)
    assert [int(r["resumed_from"]) for r in resumed] == steps
    for key in keys:
        np.testing.assert_array_equal(resumed[0][key], resumed[1][key], err_msg=key)
        np.testing.assert_array_equal(resumed[0][key], whole[0][key], err_msg=key)


@pytest.mark.parametrize("config, chief", [
    ({}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
    ({"cluster": {"chief": ["c:1"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"worker": ["a:1"]}}, True),
])
def test_chief_task_follows_multi_worker_rule(config, chief):
    assert cluster.is_chief_task(config) is chief


def test_malformed_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", "{cluster: oops")
    with pytest.raises(ValueError, match="TF_CONFIG is not valid JSON"):
        cluster.tf_config()
