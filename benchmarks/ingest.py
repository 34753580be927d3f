"""Benchmark: full MNIST from gzip to model input (the data_processing nodes).

Runs the nodes' library calls in a fresh process so that peak memory is the
ingestion's own. Prints a Markdown table and writes benchmarks/results/ingest.json.

    python benchmarks/ingest.py [--data ../shared/data/mnist] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _one_run(data_dir: str, queue) -> None:
    import numpy as np

    from wgan_lab.data.processing import hold_out, summarize, to_unit_range, validate
    from wgan_lab.data.sources import FetchOptions, read_source

    baseline = _rss_kib()
    start = time.perf_counter()
    raw = read_source("mnist", Path(data_dir), FetchOptions(download=False))
    validate(raw, max_skipped_fraction=0.0)
    splits = hold_out(raw, 0.1, 0)
    arrays = [to_unit_range(splits.train_images), splits.train_labels,
              to_unit_range(splits.test_images), splits.test_labels]
    summarize(splits)
    with tempfile.TemporaryDirectory() as out:
        for i, array in enumerate(arrays):
            np.save(Path(out) / f"{i}.npy", array)
    seconds = time.perf_counter() - start
    final_bytes = sum(a.nbytes for a in arrays)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    queue.put({"seconds": seconds, "images": len(arrays[0]) + len(arrays[2]),
               "final_mib": final_bytes / 2**20, "peak_over_baseline_mib": (peak - baseline) / 1024})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(HERE.parent.parent / "shared/data/mnist"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    runs = []
    for _ in range(args.repeats):
        queue = ctx.Queue()
        proc = ctx.Process(target=_one_run, args=(args.data, queue))
        proc.start()
        runs.append(queue.get())
        proc.join()
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores",
        "images": runs[0]["images"],
        "median_seconds": statistics.median(r["seconds"] for r in runs),
        "final_arrays_mib": runs[0]["final_mib"],
        "peak_memory_over_baseline_mib": max(r["peak_over_baseline_mib"] for r in runs),
        "runs": runs,
    }
    result["memory_ratio"] = result["peak_memory_over_baseline_mib"] / result["final_arrays_mib"]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(result, indent=2))
    print("| images | median time (s) | final arrays (MiB) | peak memory over baseline (MiB) | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {result['images']} | {result['median_seconds']:.2f} | {result['final_arrays_mib']:.0f} "
          f"| {result['peak_memory_over_baseline_mib']:.0f} | {result['memory_ratio']:.2f}x |")


if __name__ == "__main__":
    main()
