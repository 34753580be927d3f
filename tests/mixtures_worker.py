"""The quick theory's mixtures, one dataset and two variants, through a job store, in a
process of their own (killed and rerun by tests/test_theory.py), each network an MLflow
run under the process's own run, as in the pipeline:
``python mixtures_worker.py <folder> <curves.csv> <tracking URI>``."""
import logging
import sys

import mlflow

from wgan_lab.experiments.theory import TheorySettings, train_mixtures
from wgan_lab.tracking import RunTracker
from wgan_lab.variants import family, load_parameters


def mixture_settings(folder: str) -> TheorySettings:
    parameters = load_parameters(env="quick")
    theory = dict(parameters["theory"])
    theory["seeds"] = [0]
    theory["mixtures"] = {**theory["mixtures"], "datasets": ["8gaussians"],
                          "variants": ["gan", "wgan_gp"], "steps": 200, "eval_every": 50,
                          "storage": f"sqlite:///{folder}/jobs.db",
                          "checkpoint_root": f"{folder}/checkpoints", "checkpoint_every": 50,
                          # A killed run's job is queued again within seconds.
                          "heartbeat": {"interval": 1, "grace": 2}}
    return TheorySettings.from_params(theory, family(parameters))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    folder, out, tracking_uri = sys.argv[1:4]
    mlflow.set_tracking_uri(tracking_uri)
    # Its own experiment in its own store, whatever MLFLOW_EXPERIMENT_ID the tests set.
    mlflow.set_experiment("theory")
    with mlflow.start_run(run_name="theory"):
        callbacks = RunTracker.under_active_run("theory").callbacks()
        curves, _, _ = train_mixtures(mixture_settings(folder), family(load_parameters()),
                                      callbacks)
    curves.to_csv(out, index=False)
