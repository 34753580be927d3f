"""Processes against threads for the theory's toy runs: is one training process with
TensorFlow's default thread pools the best use of 2 cores, or two processes (the
job store shares a theory run's jobs between them) with one thread each?

    python benchmarks/toy_processes.py                 # ~5 minutes on 2 cores
    python benchmarks/toy_processes.py --steps 2000

For every variant of theory.mixtures on 8 Gaussians (the theory's toy settings),
three ways, one after another on a quiet machine:
  - one process, TensorFlow's default threads (what `kedro run --pipelines=theory` does);
  - one process with one intra-op and one inter-op thread;
  - two such one-thread processes at once, timed over the same window (both trace
    first, then wait for each other): their summed rate is what the machine gives.
Each timed fit is `--steps` generator steps after a first fit that traced the step.
The threads are set by TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS, which
TensorFlow reads at start.

Writes benchmarks/results/toy_processes.json and .md (docs/theory.md).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}


def worker(variant: str, steps: int, barrier: str, peers: int) -> None:
    """Trace, wait for ``peers`` workers to be ready, time ``steps`` steps; print JSON."""
    from wgan_lab.data.toy import toy_samples
    from wgan_lab.experiments.theory import TheorySettings
    from wgan_lab.gan.trainer import Budget, GANTrainer
    from wgan_lab.variants import family, load_parameters

    parameters = load_parameters()
    known = family(parameters)
    settings = TheorySettings.from_params(parameters["theory"], known)
    config = settings.variant_config(variant, known[variant], 0).replace(
        schedule={"eval_every": 0})
    trainer = GANTrainer(config, (2,))
    train = toy_samples("8gaussians", 20_000, 0)
    trainer.fit(train, budget=Budget("steps", 40))
    Path(barrier, f"{os.getpid()}").touch()
    while len(list(Path(barrier).iterdir())) < peers:
        time.sleep(0.01)
    start_step = int(trainer.step.numpy())
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.fit(train, budget=Budget("steps", start_step + steps))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"steps_per_s": steps / wall, "cpu_per_wall": cpu / wall}), flush=True)


def run_workers(variant: str, steps: int, n: int, env: dict[str, str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as barrier:
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", variant, "--steps",
                                   str(steps), "--barrier", barrier, "--peers", str(n)],
                                  env={**os.environ, **env, "TF_CPP_MIN_LOG_LEVEL": "2"},
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for _ in range(n)]
        outputs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker for {variant} failed")
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--barrier", help=argparse.SUPPRESS)
    parser.add_argument("--peers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.barrier, args.peers)
        return

    from toy_speed import cpu_name, write_results

    from wgan_lab.experiments.theory import TheorySettings
    from wgan_lab.variants import family, load_parameters

    parameters = load_parameters()
    variants = TheorySettings.from_params(parameters["theory"],
                                          family(parameters)).mixtures.variants
    rows = []
    for variant in variants:
        default = run_workers(variant, args.steps, 1, {})[0]
        single = run_workers(variant, args.steps, 1, ONE_THREAD)[0]
        pair = run_workers(variant, args.steps, 2, ONE_THREAD)
        rows.append({"variant": variant, "default_threads": default, "one_thread": single,
                     "two_processes": pair,
                     "gain": sum(p["steps_per_s"] for p in pair) / default["steps_per_s"]})
        print(f"{variant:8s} default {default['steps_per_s']:6.0f} steps/s "
              f"({default['cpu_per_wall']:.2f} cores), one thread {single['steps_per_s']:6.0f}, "
              f"two one-thread processes {sum(p['steps_per_s'] for p in pair):6.0f} "
              f"({rows[-1]['gain']:.2f}x)", flush=True)
    info = {"cpu": cpu_name(), "steps": args.steps, "rows": rows}
    cells = [[row["variant"],
              f"{row['default_threads']['steps_per_s']:.0f} "
              f"({row['default_threads']['cpu_per_wall']:.2f})",
              f"{row['one_thread']['steps_per_s']:.0f}",
              f"{sum(p['steps_per_s'] for p in row['two_processes']):.0f}",
              f"{row['gain']:.2f}x"] for row in rows]
    write_results(
        "toy_processes", info,
        f"Toy training throughput on {info['cpu']} (2 cores), 8 Gaussians, the theory's "
        f"toy settings, {args.steps} generator steps per timed fit.",
        ["variant", "one process, default threads: steps/s (cores busy)",
         "one process, one thread", "two one-thread processes at once: steps/s in all",
         "gain over one process"], cells)


if __name__ == "__main__":
    main()
