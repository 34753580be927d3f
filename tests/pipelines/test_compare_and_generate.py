"""The compare report, the generate pipeline and the notebook, on a tiny run."""
import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from nbclient import NotebookClient
from PIL import Image

from tests.conftest import REPO_ROOT, run_pipeline, tiny_compare_run


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One tiny compare run shared by the tests of this module."""
    with tiny_compare_run(tmp_path_factory.mktemp("compare") / "project") as project:
        yield project


def test_report_has_every_variant_the_floor_and_the_findings(compared):
    reports = compared / "data/08_reporting/mnist"
    markdown = (reports / "comparison_report.md").read_text()
    for label in ("real train vs test (floor)", "| gan |", "| wgan |", "| wgan_gp |"):
        assert label in markdown
    assert "Spearman rho" in markdown and "mode-collapse events" in markdown
    page = (reports / "comparison_report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 + 3 + 3
    findings = json.loads((reports / "comparison_findings.json").read_text())
    rho = findings["findings"]["wgan"]["wasserstein_vs_fid"]["spearman_rho"]
    assert -1.0 <= rho <= 1.0
    for variant in ("gan", "wgan", "wgan_gp"):
        fid = pd.read_csv(reports / variant / "fid_history.csv")
        assert fid["step"].tolist() == [2, 4, 6, 8]
        metrics = json.loads((reports / variant / "metrics.json").read_text())
        assert {"fid", "kid", "precision", "recall", "density", "coverage",
                "classifier_score", "classes_covered", "class_kl", "sliced_wasserstein"} <= set(metrics)
        best = json.loads((compared / "data/06_models/mnist" / variant / "checkpoints/best/best.json").read_text())
        assert best["score"] == pytest.approx(fid["fid"].min())


def test_mlflow_sorts_the_variants_by_their_protocol_fid(compared):
    """The protocol's metrics are MLflow metrics of each variant's run (and of the
    comparison, prefixed by variant), apart from the in-training FID."""
    reports = compared / "data/08_reporting/mnist"
    written = {v: json.loads((reports / v / "metrics.json").read_text())
               for v in ("gan", "wgan", "wgan_gp")}
    client = MlflowClient(f"sqlite:///{compared / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    children = client.search_runs(experiments, "tags.mlflow.parentRunId != ''",
                                  order_by=["metrics.protocol_fid ASC"])
    assert [r.info.run_name for r in children] == sorted(written, key=lambda v: written[v]["fid"])
    parent_id = children[0].data.tags["mlflow.parentRunId"]
    parent = client.get_run(parent_id).data.metrics
    for child in children:
        variant, metrics = child.info.run_name, child.data.metrics
        for name in ("fid", "kid", "precision", "recall", "coverage", "classifier_score"):
            assert metrics[f"protocol_{name}"] == pytest.approx(written[variant][name])
            assert parent[f"{variant}.protocol_{name}"] == pytest.approx(written[variant][name])
        checks = pd.read_csv(reports / variant / "fid_history.csv")
        in_training = client.get_metric_history(child.info.run_id, "training_fid")
        assert [m.value for m in in_training] == pytest.approx(checks["fid"].tolist())
        assert "fid" not in metrics


def test_generate_pipeline_writes_pngs_and_npz(compared):
    run_pipeline(compared, "generate", params={"variant": "wgan", "n": 12})
    out = compared / "data/07_model_output/mnist/wgan"
    assert len(list((out / "generated").glob("*.png"))) == 12
    bundle = np.load(out / "generated.npz")
    assert bundle["images"].shape == (12, 28, 28, 1) and bundle["images"].dtype == np.uint8
    assert Image.open(out / "generated" / "000000.png").size == (28, 28)


def test_notebook_runs_on_the_tiny_run(compared):
    notebook = nbformat.read(REPO_ROOT / "notebooks" / "compare_variants.ipynb", as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(compared)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("wgan_gp" in str(o.get("data", {}).get("text/plain", "")) for o in outputs)
