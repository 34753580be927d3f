"""Where a toy run's time goes, and what makes the theory's mixtures faster.

    python benchmarks/toy_speed.py                 # ~4 minutes on 2 cores
    python benchmarks/toy_speed.py --steps 2000 --repeats 3

Every variant of theory.mixtures on 8 Gaussians, with the settings the theory
pipeline trains (its toy network, optimizer and overrides), under each runtime
of RUNTIMES, interleaved so that every setting sees the same machine: generator
steps per second of training alone (after a first fit has traced the step), the
first fit's cost (tracing), and the cost of one evaluation (exact W1 on 512
points, mode coverage, the critic's gap), against the steps between two of them.

Writes benchmarks/results/toy_speed.json and toy_speed.md (docs/theory.md).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# runtime sections to compare, as a theory.runtime block would set them
RUNTIMES = {
    "steps_per_call 20 (today)": {"steps_per_call": 20},
    "steps_per_call 100": {"steps_per_call": 100},
    "XLA, steps_per_call 20": {"steps_per_call": 20, "jit_compile": True},
    "XLA, steps_per_call 100": {"steps_per_call": 100, "jit_compile": True},
}


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def write_results(name: str, info: dict, intro: str, columns: list[str],
                  cells: list[list[str]], after: str = "") -> None:
    """benchmarks/results/<name>.json (``info``) and <name>.md: ``intro``, a table of
    ``columns`` and ``cells``, then ``after``; prints the markdown."""
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(info, indent=2) + "\n")
    lines = [intro, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    if after:
        lines += ["", after]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="generator steps timed per fit")
    parser.add_argument("--repeats", type=int, default=2, help="timed fits per setting")
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from wgan_lab.data.toy import TOY_SOURCES, mode_coverage, toy_samples
    from wgan_lab.evaluation.divergences import exact_w1
    from wgan_lab.evaluation.fresh_critic import gap
    from wgan_lab.experiments.theory import TheorySettings
    from wgan_lab.gan.trainer import Budget, GANTrainer
    from wgan_lab.variants import family, load_parameters

    parameters = load_parameters()
    known = family(parameters)
    settings = TheorySettings.from_params(parameters["theory"], known)
    train = toy_samples("8gaussians", 20_000, 0)
    real = toy_samples("8gaussians", 512, 1000)
    source = TOY_SOURCES["8gaussians"]
    rows = []
    for variant in settings.mixtures.variants:
        base = settings.variant_config(variant, known[variant], 0)
        trainers = {}
        for name, runtime in RUNTIMES.items():
            config = base.replace(runtime=runtime, schedule={"eval_every": 0})
            trainer = GANTrainer(config, (2,))
            started = time.perf_counter()
            trainer.fit(train, budget=Budget("steps", 2 * runtime["steps_per_call"]))
            trainers[name] = (trainer, time.perf_counter() - started)
        rates = {name: [] for name in RUNTIMES}
        for _ in range(args.repeats):
            for name, (trainer, _) in trainers.items():
                start_step = int(trainer.step.numpy())
                started = time.perf_counter()
                trainer.fit(train, budget=Budget("steps", start_step + args.steps))
                rates[name].append(args.steps / (time.perf_counter() - started))
        trainer = trainers["steps_per_call 20 (today)"][0]
        z = tf.constant(np.random.default_rng(0).standard_normal((512, 2)).astype(np.float32))
        def evaluate():
            fake = np.asarray(trainer.sampling_generator(z, training=False))
            exact_w1(fake, real), gap(trainer.critic, real, fake)
            mode_coverage(fake, source.centres, source.std)

        evaluate()  # the first call builds the networks' inference functions
        started = time.perf_counter()
        for _ in range(5):
            evaluate()
        evaluation = (time.perf_counter() - started) / 5
        for name, (_, first) in trainers.items():
            rows.append({"variant": variant, "runtime": name, "n_critic": base.objective.n_critic,
                         "steps_per_s": statistics.median(rates[name]),
                         "first_fit_s": first, "evaluation_s": evaluation})
            print(f"{variant:8s} {name:28s} {rows[-1]['steps_per_s']:7.0f} steps/s, "
                  f"first fit {first:5.1f} s, evaluation {evaluation * 1000:.0f} ms", flush=True)
    info = {"cpu": cpu_name(), "steps": args.steps, "repeats": args.repeats,
            "eval_every": settings.mixtures.eval_every, "rows": rows}
    checks = {2000: 2000 // settings.mixtures.eval_every + 1, 100_000: 100_000 // 2000 + 1}
    cells = []
    for row in rows:
        today = next(r for r in rows if r["variant"] == row["variant"]
                     and r["runtime"] == "steps_per_call 20 (today)")["steps_per_s"]
        short = (row["first_fit_s"], 2000 / row["steps_per_s"], checks[2000] * row["evaluation_s"])
        long = (row["first_fit_s"] + 100_000 / row["steps_per_s"]
                + checks[100_000] * row["evaluation_s"]) / 60
        cells.append([row["variant"], row["runtime"], f"{row['steps_per_s']:.0f}",
                      f"{row['steps_per_s'] / today:.2f}x", f"{row['first_fit_s']:.1f}",
                      f"{row['evaluation_s'] * 1000:.0f}",
                      f"{short[0]:.0f} / {short[1]:.0f} / {short[2]:.0f}", f"{long:.0f}"])
    write_results(
        "toy_speed", info,
        f"Toy training speed on {info['cpu']} (2 cores), 8 Gaussians, the theory's toy "
        f"settings; median of {args.repeats} fits of {args.steps} generator steps each, "
        "interleaved.",
        ["variant", "runtime", "generator steps/s", "vs today", "first fit (s)",
         "one evaluation (ms)", "a run of 2,000 steps: tracing / steps / evaluations (s)",
         "a run of 100,000 steps (min)"], cells)


if __name__ == "__main__":
    main()
