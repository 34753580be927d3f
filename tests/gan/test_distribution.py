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


@pytest.mark.parametrize("variant", ["wgan_gp_mlp", "wgan_mlp", "gan_dcgan", "wgan_gp_sgd",
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


def test_two_workers_on_loopback_end_identical(tmp_path, spawn):
    procs = [
        run(spawn, ["worker", "wgan_gp_mlp", tmp_path / f"w{i}.npz", tmp_path / "ckpt"],
            env={"TF_CONFIG": tf_config})
        for i, tf_config in enumerate(loopback_tf_configs(2))
    ]
    for proc in procs:
        finish(proc)
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    assert bool(w0["chief"]) and not bool(w1["chief"])
    assert int(w0["steps"]) == 3
    keys = [k for k in w0 if k.startswith("w_")]
    for key in keys:
        np.testing.assert_array_equal(w0[key], w1[key], err_msg=key)
    # Only the chief writes checkpoints.
    assert (tmp_path / "ckpt" / "ckpt-3.index").is_file()
    assert len(list((tmp_path / "ckpt").glob("ckpt-*.index"))) == 1


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


def run_workers(spawn, tmp_path, tag, checkpoint_dirs, steps):
    """Two loopback workers, each with its own checkpoint directory (separate machines)."""
    procs = [
        run(spawn, ["worker", "wgan_gp_mlp", tmp_path / f"{tag}{i}.npz", checkpoint_dirs[i],
                    steps], env={"TF_CONFIG": tf_config})
        for i, tf_config in enumerate(loopback_tf_configs(2))
    ]
    for proc in procs:
        finish(proc, timeout=180)
    return [np.load(tmp_path / f"{tag}{i}.npz") for i in range(2)]


def test_workers_resume_from_the_chiefs_checkpoint(tmp_path, spawn):
    # Only the chief keeps checkpoints, so on separate machines worker 1 has
    # none; it must still resume at the chief's step with the chief's state.
    dirs = [tmp_path / "chief_ckpt", tmp_path / "worker_ckpt"]
    run_workers(spawn, tmp_path, "first", dirs, 3)
    assert not dirs[1].exists() or not any(dirs[1].iterdir())
    resumed = run_workers(spawn, tmp_path, "resumed", dirs, 6)
    assert [int(r["resumed_from"]) for r in resumed] == [3, 3]
    # Fresh weights on worker 1 would make the two end apart.
    keys = [k for k in resumed[0] if k.startswith("w_")]
    for key in keys:
        np.testing.assert_array_equal(resumed[0][key], resumed[1][key], err_msg=key)
