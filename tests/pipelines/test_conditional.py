"""A conditional variant is a pipeline by configuration: it trains on the labels,
gets the labelled metrics, registers a generator whose MLflow signature takes a
class, and `generate` asks it for one."""
import json
import os

import mlflow
import numpy as np

from tests.conftest import run_pipeline, write_idx_source
from tests.configs import tiny_training


def test_cwgan_gp_trains_scores_registers_and_generates_a_class(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=40, n_test=20)
    run_pipeline(kedro_project, "cwgan_gp", params=tiny_training("cwgan_gp"))

    reports = kedro_project / "data/08_reporting/mnist/cwgan_gp"
    metrics = json.loads((reports / "metrics.json").read_text())
    for name in ("class_accuracy", "class_accuracy_worst", "intra_fid", "intra_fid_worst",
                 "cas", "cas_real"):
        assert np.isfinite(metrics[name]), name
    assert 0 <= metrics["cas"] <= 1 and 0 <= metrics["class_accuracy"] <= 1

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    served = mlflow.models.get_model_info("models:/wgan_lab-mnist-cwgan_gp/1")
    inputs = {spec.name: spec for spec in served.signature.inputs.inputs}
    assert set(inputs) == {"z", "label"}
    assert inputs["label"].type == np.dtype("int32") and inputs["label"].shape == (-1,)

    run_pipeline(kedro_project, "generate", params={"variant": "cwgan_gp", "class": 7, "n": 6})
    generated = np.load(kedro_project / "data/07_model_output/mnist/cwgan_gp/generated.npz")
    assert list(generated["labels"]) == [7] * 6
    assert generated["images"].shape == (6, 28, 28, 1)
    assert len(list((kedro_project / "data/07_model_output/mnist/cwgan_gp/generated")
                    .glob("*.png"))) == 6
