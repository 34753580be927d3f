"""Commands users type, run as they type them: a quick run, then sampling its logged model."""
import os

import mlflow
import numpy as np

from tests.conftest import kedro_run_cli, write_idx_source


def test_quick_wgan_run_then_generate_from_its_mlflow_model(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=400, n_test=40)
    out = kedro_run_cli(kedro_project, "--pipelines=wgan", "--env=quick")
    # Output is not a terminal here: plain progress lines, no bars, no GPU alarms.
    assert "wgan training: 300/300 steps (100%)" in out and "━" not in out
    assert "Domain classifier training: " in out and "Evaluation: 120/120 images" in out
    assert "cuInit" not in out and "Could not find cuda drivers" not in out
    assert "Devices: CPU" in out and "wgan: distribution default (auto), precision" in out
    quick = kedro_project / "data/08_reporting/mnist-quick/wgan"
    assert (quick / "metrics.json").is_file()
    assert not (kedro_project / "data/06_models/mnist/wgan").exists()  # real models untouched

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    models = mlflow.search_logged_models(
        experiment_ids=[e.experiment_id for e in mlflow.search_experiments()], output_format="list")
    assert [m.name for m in models] == ["generator"]
    uri = f"models:/{models[0].model_id}"

    kedro_run_cli(kedro_project, "--pipelines=generate", "--env=quick",
                  f"--params=model_uri={uri},n=12")
    bundle = np.load(kedro_project / "data/07_model_output/mnist-quick/wgan_gp/generated.npz")
    assert bundle["images"].shape == (12, 28, 28, 1) and bundle["images"].dtype == np.uint8
    # The images come from the logged WGAN generator, not a local file.
    assert not (kedro_project / "data/06_models/mnist-quick/wgan_gp/generator.keras").exists()
