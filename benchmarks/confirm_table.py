"""The confirmations' table (docs/tuning.md, README): for each default, new and old,
the median [min, max] over its confirmation seeds of the domain classifier's FID,
the second classifier's FID, precision and recall, read from the job stores that
benchmarks/confirm_defaults.sh fills.

    python benchmarks/confirm_table.py [--dataset fashion_mnist] [--storage URL]

The storage defaults to the dataset's job store (data/06_models/<dataset>/study/jobs.db).
Writes benchmarks/results/confirm_defaults.json and .md for MNIST,
confirm_defaults_<dataset>.json and .md for another dataset. Jobs still running
or queued are counted, not shown.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (default, the variant it replaced); on MNIST wgan kept its settings, so its
# wgan_120s has no confirmation of its own there
DEFAULTS = {"gan": "gan_120s", "wgan": "wgan_120s", "wgan_gp": "wgan_gp_120s"}
METRICS = ("fid", "second_fid", "precision", "recall")


def spread(values: list[float], digits: int) -> str:
    if not values:
        return "-"
    return (f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, "
            f"{max(values):.{digits}f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--storage", default=None)
    args = parser.parse_args()
    storage = args.storage or f"sqlite:///data/06_models/{args.dataset}/study/jobs.db"
    stem = "confirm_defaults" + ("" if args.dataset == "mnist" else f"_{args.dataset}")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = set(optuna.get_all_study_names(storage))
    results = {}
    for variant in [v for pair in DEFAULTS.items() for v in pair if v]:
        study = f"confirm_{variant}"
        if study not in names:
            continue
        trials = optuna.load_study(study_name=study, storage=storage).get_trials()
        done = [t for t in trials if t.state.name == "COMPLETE" and "result" in t.user_attrs]
        results[variant] = {
            "seeds": sorted(int(t.params["seed"]) for t in done),
            "pending": sum(t.state.name in ("WAITING", "RUNNING") for t in trials),
            "steps": sorted({int(t.user_attrs["result"]["steps"]) for t in done}),
            "train_minutes": [t.user_attrs["result"]["train_seconds"] / 60 for t in done],
            **{m: [float(t.user_attrs["result"]["metrics"][m]) for t in done] for m in METRICS}}
    out = HERE / "results"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    lines = ["| default | steps | seeds | FID (domain) | FID (second) | precision | recall |",
             "|---|---|---|---|---|---|---|"]
    for new, old in DEFAULTS.items():
        for variant in (new, old):
            if variant not in results:
                continue
            r = results[variant]
            seeds = ", ".join(map(str, r["seeds"])) + (f" ({r['pending']} to come)" if r["pending"] else "")
            steps = ", ".join(f"{s:,}" for s in r["steps"])
            lines.append(f"| `{variant}` | {steps} | {seeds} | {spread(r['fid'], 1)} | "
                         f"{spread(r['second_fid'], 2)} | {spread(r['precision'], 3)} | "
                         f"{spread(r['recall'], 3)} |")
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
