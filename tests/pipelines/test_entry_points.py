"""Commands users type, run as they type them: a quick run, then sampling its logged model."""
import json
import os
import subprocess
import sys

import mlflow
import numpy as np

from tests.conftest import kedro_run_cli, write_idx_source


def test_quick_wgan_run_starts_quietly_ends_with_what_it_made_then_generates_from_it(
        kedro_project):
    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=400, n_test=40)
    # The user's own spelling, off a terminal, with no COLUMNS to widen anything.
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    # A third of the quick schedule: what is under test is the start and the end.
    proc = subprocess.run([sys.executable, "-m", "kedro", "run", "--pipeline=wgan",
                           "--env=quick", "--params=wgan.training.schedule.steps=100"],
                          cwd=kedro_project, env={**env, "DO_NOT_TRACK": "1"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:]
    lines = out.splitlines()
    # A quiet start: no third-party deprecation, no line of TensorFlow's C++ logger
    # (INFO, WARNING or ERROR) in the whole run, and the first node within 20 lines.
    noise = [line for line in lines if "Deprecat" in line or "register_new_resolver" in line
             or "type hints" in line or line.startswith(("I0000", "W0000", "E0000"))]
    assert not noise, "\n".join(noise)
    first_node = next(i for i, line in enumerate(lines) if "Running node:" in line)
    assert first_node < 20, "\n".join(lines[:first_node + 1])
    # One record, one line: the longest node line is whole, with time, level and logger.
    writes = [line for line in lines if "Running node: write_model_input: write_model_input(["
              in line]
    assert len(writes) == 1 and writes[0].endswith("real_samples_grid]"), writes
    assert " INFO kedro.pipeline.node: Running node:" in writes[0]
    # Output is not a terminal here: plain progress lines, no bars, no GPU alarms.
    assert "wgan training: 100/100 steps (100%)" in out and "━" not in out
    assert "Domain classifier training: " in out and "Evaluation: 120/120 images" in out
    assert "cuInit" not in out and "Could not find cuda drivers" not in out
    assert "Devices: CPU" in out and "wgan: distribution default (auto), precision" in out
    quick = kedro_project / "data/08_reporting/mnist-quick/wgan"
    assert (quick / "metrics.json").is_file()
    assert not (kedro_project / "data/06_models/mnist/wgan").exists()  # real models untouched

    # The last lines say what the run made; run_summary.json says the same for scripts.
    summary = json.loads((quick / "run_summary.json").read_text())
    made = lines[lines.index("Made by this run:") + 1:]
    assert made[0].startswith(f"wgan: FID {summary['metrics']['fid']:.1f}, precision ")
    assert f"  samples: {quick / 'samples_final.png'}" in made
    assert f"  curves: {quick / 'training_curves.png'}" in made
    run_id = summary["mlflow_run_id"]
    assert any(line.startswith(f"  MLflow run {run_id}: mlflow ui --backend-store-uri ")
               for line in made), made
    assert summary["registry"]["version"] == "1" and summary["registry"]["promoted"]
    assert "  registry: wgan_lab-mnist-quick-wgan version 1, now @best" in made

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    assert mlflow.get_run(run_id).data.tags["variant"] == "wgan"
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
