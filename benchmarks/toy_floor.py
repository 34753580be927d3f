"""The arithmetic floor of the `full` theory environment on this CPU: how long its
mixture runs would take if the toy step ran at the CPU's best float32 matrix rate.

    python benchmarks/toy_floor.py          # ~1 minute on 2 cores

- The work: floating-point operations of one generator step of each variant, counted
  by TensorFlow's profiler on the trainer's own compiled step (theory.mixtures'
  settings: the `points` networks, batch 256, each variant's critic updates and
  penalty), times the `full` environment's generator steps, datasets and seeds.
  Evaluation and tracking are not counted: the floor is training alone.
- The rate: float32 matrix products of 2048 x 2048 in TensorFlow with its default
  threads, the best of three 3-s repeats: about the best this CPU gives (the toy
  step's products are 256 x 128 x 128).
- The same products in bfloat16, the ceiling reduced precision could give.
- The rate the toy step reaches: its FLOPs times the steps per second of
  benchmarks/results/toy_processes.md (two one-thread processes), when that file was
  measured on the same CPU.

Writes benchmarks/results/toy_floor.json and .md (docs/theory.md).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def step_flops(settings, known) -> dict[str, float]:
    """FLOPs of one generator step per variant, as the profiler counts the graph."""
    import tensorflow as tf

    from wgan_lab.gan.trainer import GANTrainer

    flops = {}
    for variant in settings.mixtures.variants:
        config = settings.variant_config(variant, known[variant], 0)
        compiled = GANTrainer(config, (2,)).compiled
        one_step = tf.function(lambda batch, c=compiled: c._one_step(batch, with_metrics=False))
        graph = one_step.get_concrete_function(tf.TensorSpec(
            [config.objective.n_critic, config.optimizer.batch_size, 2], tf.float32)).graph
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        flops[variant] = float(tf.compat.v1.profiler.profile(graph=graph,
                                                             options=options).total_float_ops)
    return flops


def matmul_rate(n: int = 2048, seconds: float = 5.0, dtype: str = "float32") -> float:
    """FLOP/s of n x n matrix products in ``dtype``, TensorFlow's default threads."""
    import tensorflow as tf

    a, b = (tf.cast(tf.random.normal([n, n]), dtype) for _ in range(2))
    product = tf.function(tf.matmul)
    product(a, b).numpy()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        product(a, b).numpy()
        count += 1
    return 2 * n**3 * count / (time.perf_counter() - start)


def main() -> None:
    from toy_speed import cpu_name, write_results

    from wgan_lab.experiments.theory import TheorySettings
    from wgan_lab.variants import family, load_parameters

    parameters = load_parameters(env="full")
    known = family(parameters)
    settings = TheorySettings.from_params(parameters["theory"], known)
    mixtures = settings.mixtures
    runs_per_variant = len(mixtures.datasets) * len(settings.seeds)
    flops = step_flops(settings, known)
    # The best of three: a repeat now and then runs a quarter slower on the same machine.
    peak = max(matmul_rate(seconds=3.0) for _ in range(3))
    # What the CPU's bfloat16 units (AVX512_BF16, AMX) would raise that ceiling to.
    peak_bf16 = max(matmul_rate(seconds=3.0, dtype="bfloat16") for _ in range(3))
    cpu = cpu_name()
    measured = json.loads((HERE / "results/toy_processes.json").read_text())
    same_cpu = measured.get("cpu") == cpu
    two_processes = {row["variant"]: sum(p["steps_per_s"] for p in row["two_processes"])
                     for row in measured["rows"]} if same_cpu else {}
    rows = [{"variant": v, "mflop_per_step": round(flops[v] / 1e6, 1),
             "full_tflop": round(flops[v] * mixtures.steps * runs_per_variant / 1e12, 1),
             "reached_gflop_per_s": (round(flops[v] * two_processes[v] / 1e9, 1)
                                     if v in two_processes else None)}
            for v in mixtures.variants]
    total = sum(flops.values()) * mixtures.steps * runs_per_variant
    floor_hours = total / peak / 3600
    info = {"cpu": cpu, "matmul_gflop_per_s": round(peak / 1e9, 1),
            "bfloat16_matmul_gflop_per_s": round(peak_bf16 / 1e9, 1),
            "steps": mixtures.steps, "runs_per_variant": runs_per_variant,
            "full_tflop": round(total / 1e12, 1), "floor_hours": round(floor_hours, 2),
            "rows": rows}
    cells = [[row["variant"], f"{row['mflop_per_step']:.0f}", f"{row['full_tflop']:.0f}",
              "-" if row["reached_gflop_per_s"] is None else f"{row['reached_gflop_per_s']:.0f}"]
             for row in rows]
    write_results(
        "toy_floor", info,
        f"The `full` theory environment's training arithmetic on {cpu} (2 cores): "
        f"{mixtures.steps:,} generator steps x {runs_per_variant} runs per variant. "
        f"Float32 2048 x 2048 matrix products: {peak / 1e9:.0f} GFLOP/s.",
        ["variant", "MFLOP per generator step", "full: TFLOP",
         "the step reaches (two one-thread processes): GFLOP/s"], cells,
        after=f"All: {total / 1e12:.0f} TFLOP; at {peak / 1e9:.0f} GFLOP/s that is "
              f"{floor_hours:.1f} hours of training alone. Bfloat16 2048 x 2048 products: "
              f"{peak_bf16 / 1e9:.0f} GFLOP/s, {total / peak_bf16 / 3600:.1f} hours.")


if __name__ == "__main__":
    main()
