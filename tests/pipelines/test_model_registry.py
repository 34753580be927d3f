"""The MLflow model registry after real runs, `generate` from an alias, and a served generator."""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from tests.conftest import free_port, new_mlflow_store, run_pipeline, write_idx_source
from tests.configs import tiny_training
from wgan_lab.tracking import promote_if_best

MODEL = "wgan_lab-mnist-wgan"


def wait_for(url: str, proc, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s")


def test_two_runs_register_two_versions_and_best_follows_fid_then_serves(kedro_project, spawn):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=10)
    fids = []
    for seed in (1, 2):  # another seed is another configuration: trained afresh
        run_pipeline(kedro_project, "wgan", params=tiny_training("wgan", seed=seed))
        metrics = json.loads((kedro_project / "data/08_reporting/mnist/wgan/metrics.json").read_text())
        fids.append(metrics["fid"])
    assert fids[0] != fids[1]

    client = MlflowClient(os.environ["MLFLOW_TRACKING_URI"])
    versions = sorted(client.search_model_versions(f"name='{MODEL}'"), key=lambda v: int(v.version))
    assert [str(v.version) for v in versions] == ["1", "2"]
    assert [float(v.tags["fid"]) for v in versions] == pytest.approx(fids)
    best = client.get_model_version_by_alias(MODEL, "best")
    assert str(best.version) == str(1 + int(np.argmin(fids)))
    # Each version is the generator of its own run.
    assert len({v.run_id for v in versions}) == 2

    # `generate` from the alias, and the same noise through `mlflow models serve`.
    run_pipeline(kedro_project, "generate",
                 params={"model_uri": f"models:/{MODEL}@best", "n": 5, "seed": 3})
    generated = np.load(kedro_project / "data/07_model_output/mnist/wgan_gp/generated.npz")
    port = free_port()
    mlflow_cli = Path(sys.executable).parent / "mlflow"
    server = spawn([str(mlflow_cli), "models", "serve", "-m", f"models:/{MODEL}@best",
                    "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)],
                   env={**os.environ}, stdout=open(kedro_project / "serve.log", "w"),
                   stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/ping", server)
    noise = np.random.default_rng(3).standard_normal((5, 8)).astype(np.float32)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations", data=json.dumps({"inputs": noise.tolist()}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        images = np.asarray(json.loads(response.read())["predictions"], dtype=np.float32)
    assert images.shape == (5, 28, 28, 1)
    np.testing.assert_allclose(images, generated["images_unit_range"], atol=1e-5)


def test_alias_moves_only_to_a_better_fid_under_the_same_protocol(tmp_path):
    uri = new_mlflow_store(tmp_path / "mlflow.db")
    mlflow.set_tracking_uri(uri)
    try:
        client = MlflowClient(uri)
        client.create_registered_model("m")
        for _ in range(4):
            client.create_model_version("m", source=str(tmp_path))
        assert promote_if_best("m", "1", 50.0, "n=10")  # no holder yet
        assert not promote_if_best("m", "2", 60.0, "n=10")  # worse
        assert str(client.get_model_version_by_alias("m", "best").version) == "1"
        assert not promote_if_best("m", "3", 10.0, "n=99")  # better, but not comparable
        assert str(client.get_model_version_by_alias("m", "best").version) == "1"
        assert promote_if_best("m", "4", 40.0, "n=10")  # better
        assert str(client.get_model_version_by_alias("m", "best").version) == "4"
        assert client.get_model_version("m", "2").tags["fid"] == "60.0"
    finally:
        mlflow.set_tracking_uri(None)
