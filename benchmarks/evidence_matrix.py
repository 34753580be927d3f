"""One verdict matrix over datasets: the study reports' matrices side by side.

    python benchmarks/evidence_matrix.py                        # mnist and fashion_mnist
    python benchmarks/evidence_matrix.py --study evidence --datasets mnist

Reads data/08_reporting/<dataset>/study/<study>/study_summary.json of each
dataset (written by `kedro run --pipelines=study` or `study_report`), and
writes benchmarks/results/evidence_matrix.md: one row per claim, comparison
and dataset; one column per budget and evaluator, and whether the evaluators
agree (the README's table), followed by each study's rank agreement between
evaluators.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def load(study: str, dataset: str) -> dict:
    path = ROOT / "data/08_reporting" / dataset / "study" / study / "study_summary.json"
    if not path.is_file():
        sys.exit(f"no study report at {path}: run `kedro run --pipelines=study_report "
                 f"--params=dataset={dataset}` first")
    return json.loads(path.read_text())


def combined(summaries: dict[str, dict]) -> pd.DataFrame:
    frames = [pd.DataFrame(s["verdict_matrix"]).assign(dataset=d) for d, s in summaries.items()
              if s.get("verdict_matrix")]
    if not frames:
        return pd.DataFrame()
    frame = pd.concat(frames, ignore_index=True).fillna("")
    # Each row's datasets side by side, the comparisons in the studies' order.
    order = {c: i for i, c in enumerate(dict.fromkeys(frame["comparison"]))}
    frame = frame.sort_values(["comparison", "claim", "row"], kind="stable",
                              key=lambda c: c.map(order) if c.name == "comparison" else c)
    first = ["comparison", "claim", "row", "dataset"]
    return frame[first + [c for c in frame.columns if c not in first]]


SHORT = {"supported": "yes", "contradicted": "no", "inconclusive": "?", "": ""}


def compact(matrix: pd.DataFrame, evaluators: list[str]) -> pd.DataFrame:
    """One cell per budget: each evaluator's verdict in turn (yes / no / ?), and "robust"
    when all of them agree; the long matrix is in each study report."""
    budgets = list(dict.fromkeys(c.split(" ", 1)[0] for c in matrix.columns
                                 if c.endswith(" robust")))
    out = matrix[["comparison", "claim", "row", "dataset"]].copy()
    for budget in budgets:
        cells = []
        for _, row in matrix.iterrows():
            verdicts = [SHORT[row.get(f"{budget} {e}", "")] for e in evaluators]
            text = " / ".join(v for v in verdicts if v)
            if row.get(f"{budget} robust") == "robust":
                text += " (robust)"
            cells.append(text)
        out[budget] = cells
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="evidence")
    parser.add_argument("--datasets", default="mnist,fashion_mnist")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from wgan_lab.reporting.kit import markdown_table

    summaries = {d: load(args.study, d) for d in args.datasets.split(",")}
    matrix = combined(summaries)
    parts = [f"Study `{args.study}`: " + "; ".join(
        f"{d}: {', '.join(s['variants'])}, seeds {', '.join(map(str, s['seeds']))}, "
        f"budgets {', '.join(f'{b:g}' for b in s['budget']['evaluated_at'])} "
        f"{s['budget']['unit'].replace('_', ' ')}" for d, s in summaries.items()), "",
        "Cells per budget: the verdict by the domain classifier's FID / the second "
        "classifier's FID / pixel sliced Wasserstein (yes: supported, no: contradicted, "
        "?: inconclusive at alpha 0.05); one cell for claims measured by in-training FID "
        "only. Robust: every evaluator agrees.", "",
        markdown_table(compact(matrix, ["classifier", "second", "pixels"])
                       .set_index("comparison")), ""]
    for dataset, summary in summaries.items():
        agreement = pd.DataFrame(summary.get("evaluator_agreement", []))
        if len(agreement):
            agreement = agreement.assign(
                tau=[f"{t:.2f} [{lo:.2f}, {hi:.2f}] (n={n})" for t, lo, hi, n in
                     zip(agreement["tau"], agreement["ci_low"], agreement["ci_high"],
                         agreement["n"])]).drop(columns=["ci_low", "ci_high", "n"])
            parts += [f"Rank agreement on {dataset} (Kendall's tau-b, 95% CI):", "",
                      markdown_table(agreement.set_index("budget")), ""]
    out = HERE / "results" / "evidence_matrix.md"
    out.write_text("\n".join(parts))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
