"""Bad parameters fail before anything runs: one line on stderr, exit code 1, no
traceback, nothing ingested, trained or tracked; and a run leaves no state behind."""
from __future__ import annotations

import os
import subprocess
import sys

import mlflow
import numpy as np
import pytest

from tests.configs import tiny_training
from tests.conftest import run_pipeline, write_idx_source
from wgan_lab import wiring

# Each case a kedro process (about 10 s of start-up): a training variant's block, and
# the evaluate pipeline's source file. The hook checks whatever blocks a pipeline
# reads, the same way for all; that every block read has a check, and each check's
# messages, are pinned in process by tests/test_parameter_checks.py.
CASES = {
    "typo": (["--pipelines=lsgan", "--params=lsgan.training.objective.loss=hinj"],
             "Error: lsgan.training.objective.loss: must be one of minimax, non_saturating, "
             "wasserstein, least_squares, hinge (got 'hinj')"),
    # A file made elsewhere, for the evaluate pipeline (the fixture writes it).
    "samples of another size": (["--pipelines=evaluate", "--params=source=cifar_like.npz"],
                                "Error: cifar_like.npz: wrong image size: 32x32x3, where the "
                                "dataset's images are 28x28x1"),
}


@pytest.fixture(scope="module")
def failed_runs(tmp_path_factory):
    """Every case as a user types it, two at a time, each in its own project copy."""
    from tests.conftest import copy_project

    runs = {}
    for name, (args, _) in CASES.items():
        project = copy_project(tmp_path_factory.mktemp("checks") / "project")
        write_idx_source(project / "data/01_raw/mnist", n_train=40, n_test=10)
        np.savez(project / "cifar_like.npz", images=np.zeros((4, 32, 32, 3), np.uint8))
        env = {**os.environ, "DO_NOT_TRACK": "1",
               "MLFLOW_TRACKING_URI": f"sqlite:///{project / 'mlflow.db'}"}
        runs[name] = (project, subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", *args], cwd=project, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        if len(runs) % 2 == 0:  # two cores
            for _, proc in list(runs.values())[-2:]:
                proc.wait(timeout=300)
    results = {}
    for name, (project, proc) in runs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = (project, proc.returncode, out, err)
    return results


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_parameter_fails_first_in_one_line(case, failed_runs):
    project, code, out, err = failed_runs[case]
    assert code == 1, err[-3000:]
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == CASES[case][1]
    assert "Traceback" not in out + err
    # Before ingestion: no arrays, no report, no model, no MLflow run.
    assert not (project / "data/05_model_input").exists()
    assert not (project / "data/06_models").exists()
    assert not (project / "data/08_reporting").exists()
    store = project / "mlflow.db"
    if store.exists():
        client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{store}")
        experiments = [e.experiment_id for e in client.search_experiments()]
        assert not client.search_runs(experiments)


def test_traceback_on_request(kedro_project):
    args, line = CASES["typo"]
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", *args], cwd=kedro_project,
                          env={**os.environ, "DO_NOT_TRACK": "1", "WGAN_LAB_TRACEBACK": "1"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "ConfigError" in proc.stderr


def test_a_second_run_in_one_process_sees_none_of_the_first_runs_variants(kedro_project):
    """A compare of two variants gives each a child run; a later single-variant run in
    the same process must log into its own run, not open a child for stale variants."""
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=20)
    evaluation = {"evaluation": {"classifier": {"epochs": 1, "feature_dim": 16},
                                 "protocol": {"n_samples": 20, "kid_subsets": 2,
                                              "kid_subset_size": 10, "k": 3}}}
    tiny = {**tiny_training("lsgan", schedule={"steps": 2, "eval_every": 2, "eval_samples": 20}),
            **tiny_training("hinge_sn", schedule={"steps": 2, "eval_every": 2, "eval_samples": 20})}
    run_pipeline(kedro_project, "compare",
                 params={**evaluation, **tiny, "compare": {"variants": ["lsgan", "hinge_sn"]}})
    assert wiring.run_context() == wiring.RunContext()
    # Two steps more than the compare trained: the run resumes and logs them.
    longer = tiny_training("lsgan", schedule={"steps": 4, "eval_every": 2, "eval_samples": 20})
    run_pipeline(kedro_project, "lsgan", params={**evaluation, **longer})
    assert wiring.run_context() == wiring.RunContext()

    client = mlflow.MlflowClient(tracking_uri=os.environ["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments, order_by=["attributes.start_time ASC"])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 2
    children = {p.info.run_id: sorted(r.data.tags.get("variant") for r in runs
                                      if r.data.tags.get("mlflow.parentRunId") == p.info.run_id)
                for p in parents}
    assert children[parents[0].info.run_id] == ["hinge_sn", "lsgan"]
    assert children[parents[1].info.run_id] == []
    # The single variant's training metrics are on its own run.
    assert "critic_loss" in client.get_run(parents[1].info.run_id).data.metrics


def test_an_error_in_the_data_ends_the_run_in_one_line_too(kedro_project):
    """Not only parameters: a malformed data file met during ingestion is said the same
    way, whole on one line, even when it is longer than the console is wide."""
    import gzip

    raw = kedro_project / "data/01_raw/mnist"
    write_idx_source(raw)
    labels = raw / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-5]))
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipelines=data_processing"],
                          cwd=kedro_project, env={**os.environ, "DO_NOT_TRACK": "1",
                                                  "COLUMNS": "60"},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    last = [line for line in proc.stderr.splitlines() if line.strip()][-1]
    assert last.startswith("Error: ") and "train-labels-idx1-ubyte.gz" in last
    assert "declares shape" in last and len(last) > 60
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (kedro_project / "data/05_model_input").exists()
