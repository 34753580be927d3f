"""Rebuilding a study's report from its job store: 100 stored runs (goal < 10 s).

    python benchmarks/study_report.py              # 4 variants x 25 seeds, 5 repetitions
    python benchmarks/study_report.py --runs 200

Fills a fresh SQLite job store with finished runs the way the study pipeline
stores them (final metrics, 60 in-training checks each), then times the
`study_report` node's work: loading the store, the statistics (2,000 bootstrap
resamples and permutation relabellings), the figures and the files. Writes
benchmarks/results/study_report.json and .md (the README's table).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from training import machine  # noqa: E402

VARIANTS = ("gan", "wgan", "wgan_gp", "lsgan")
CHECKS = 60


def fill_store(parameters, seeds: int) -> None:
    """A finished study of len(VARIANTS) x ``seeds`` runs, stored as the runner stores them."""
    from wgan_lab.pipelines.study.nodes import study_settings
    from wgan_lab.experiments.seeds import RESULT_ATTR, open_job_store

    import warnings

    # ask/tell here stands in for the pipeline's optimize(); Optuna warns about heartbeats.
    warnings.filterwarnings("ignore", message="Heartbeat of storage")
    settings = study_settings(parameters["study"], parameters)
    store = open_job_store(settings)
    rng = np.random.default_rng(0)
    level = {v: 30.0 + 15 * i for i, v in enumerate(VARIANTS)}
    for _ in settings.jobs:
        trial = store.ask()
        variant = trial.suggest_categorical("variant", list(VARIANTS))
        trial.suggest_categorical("seed", list(settings.seeds))
        fid = float(level[variant] + rng.normal(0, 5))
        steps = np.arange(1, CHECKS + 1) * 500
        fids = fid + 300 * np.exp(-steps / 5000) + rng.normal(0, 2, CHECKS)
        curve = [{"step": float(s), "seconds": float(s) / 50, "fid": float(f),
                  "classes_covered": 10.0, "wasserstein_estimate": float(f / 100 + rng.normal(0, .1))}
                 for s, f in zip(steps, fids)]
        trial.set_user_attr(RESULT_ATTR, {
            "steps": int(steps[-1]), "train_seconds": float(steps[-1] / 50), "resumed_from": 0,
            "n_classes": 10, "curve": curve,
            "metrics": {"fid": fid, "kid": fid / 1000, "precision": 0.9, "recall": 0.6,
                        "classes_covered": 10.0}})
        store.tell(trial, fid)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from wgan_lab.pipelines.study.nodes import report_study
    from wgan_lab.variants import load_parameters

    seeds = args.runs // len(VARIANTS)
    with tempfile.TemporaryDirectory() as folder:
        parameters = load_parameters(HERE.parent)
        parameters["study"] = {**parameters["study"], "name": "bench", "variants": list(VARIANTS),
                               "seeds": list(range(seeds)), "earlier_budgets": [],
                               "storage": f"sqlite:///{folder}/jobs.db"}
        fill_store(parameters, seeds)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            files, figures = report_study(parameters["study"], parameters["evaluation"],
                                          parameters)
            for name, text in files.items():
                (Path(folder) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(folder) / name).write_text(text)
            for name, figure in figures.items():
                figure.savefig(Path(folder) / name)
            times.append(time.perf_counter() - start)
    result = {"machine": machine(), "runs": seeds * len(VARIANTS), "checks_per_run": CHECKS,
              "repeats": args.repeats, "seconds_median": statistics.median(times),
              "seconds_max": max(times)}
    out = HERE / "results"
    (out / "study_report.json").write_text(json.dumps(result, indent=2))
    m = result["machine"]
    table = ("| stored runs | in-training checks each | report rebuild, median | slowest |\n"
             "|---|---|---|---|\n"
             f"| {result['runs']} | {CHECKS} | {result['seconds_median']:.1f} s | "
             f"{result['seconds_max']:.1f} s |\n\n"
             f"Machine: {m['cpu']}, {m['cores']} cores; {args.repeats} repetitions.\n")
    (out / "study_report.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
