"""Would seeds batched into one graph (#38) make the theory's toy runs faster on 2 cores?

    python benchmarks/toy_batched_seeds.py          # ~4 minutes on 2 cores

Measured before building it into the trainer, on a plain TensorFlow model of the
toy step (not the product's code): the `points` networks of theory.mixtures
(3 hidden ReLU layers of 128, batch 256, Adam), one generator step with its critic
updates: gan (1 update, cross-entropy) and wgan_gp (5 updates with the penalty's
second backward pass). Its rates are within a quarter of the product's for the
same steps (benchmarks/results/toy_processes.md: 18 to 25% above them in two
one-thread processes, 11 to 22% below with default threads): it stands for the
step's arithmetic, not for the product's other work (real batches, keyed noise).

Three seeds either as three models, each with its own compiled step, called in
turn ("separate", what the trainer does today across three runs) or as one model
whose weights carry a leading seed axis (batched matrix products, "batched"):
  - in one process with TensorFlow's default threads;
  - in two one-thread processes at once (the theory's two-process command), summed.
Rates are seed-steps per second: generator steps times seeds.

Writes benchmarks/results/toy_batched_seeds.json and .md (docs/theory.md).
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
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
SEEDS, BATCH, HIDDEN, LATENT = 3, 256, 128, 2
UPDATES = {"gan": 1, "wgan_gp": 5}


def _step_fn(variant: str, seeds: int):
    """A compiled function running ``n`` generator steps of ``seeds`` models at once."""
    import tensorflow as tf

    def weights(inputs: int, outputs: int):
        dims = [inputs, HIDDEN, HIDDEN, HIDDEN, outputs]
        return [(tf.Variable(tf.random.normal([seeds, a, b], stddev=0.1)),
                 tf.Variable(tf.zeros([seeds, 1, b]))) for a, b in zip(dims[:-1], dims[1:])]

    def apply(layers, x):
        for i, (kernel, bias) in enumerate(layers):
            x = tf.matmul(x, kernel) + bias
            x = tf.nn.relu(x) if i < len(layers) - 1 else x
        return x

    generator, critic = weights(LATENT, 2), weights(2, 1)
    g_vars = [v for layer in generator for v in layer]
    c_vars = [v for layer in critic for v in layer]
    g_opt, c_opt = (tf.keras.optimizers.Adam(1e-4, 0.5, 0.9) for _ in range(2))
    g_opt.build(g_vars)
    c_opt.build(c_vars)
    penalty = variant == "wgan_gp"

    def critic_loss(real, fake):
        if not penalty:
            return tf.reduce_sum(tf.nn.softplus(-apply(critic, real))
                                 + tf.nn.softplus(apply(critic, fake))) / BATCH
        eps = tf.random.uniform([seeds, BATCH, 1])
        between = eps * real + (1 - eps) * fake
        with tf.GradientTape() as inner:
            inner.watch(between)
            scores = apply(critic, between)
        grads = inner.gradient(scores, between)
        gp = tf.square(tf.sqrt(tf.reduce_sum(grads * grads, -1) + 1e-12) - 1)
        return (tf.reduce_sum(apply(critic, fake) - apply(critic, real))
                + 0.1 * tf.reduce_sum(gp)) / BATCH

    @tf.function
    def run(n):
        for _ in tf.range(n):
            for _ in range(UPDATES[variant]):
                real = tf.random.normal([seeds, BATCH, 2])
                fake = apply(generator, tf.random.normal([seeds, BATCH, LATENT]))
                with tf.GradientTape() as tape:
                    loss = critic_loss(real, fake)
                c_opt.apply_gradients(zip(tape.gradient(loss, c_vars), c_vars))
            with tf.GradientTape() as tape:
                scores = apply(critic, apply(generator, tf.random.normal([seeds, BATCH, LATENT])))
                loss = (-tf.reduce_sum(scores) if penalty
                        else tf.reduce_sum(tf.nn.softplus(-scores))) / BATCH
            g_opt.apply_gradients(zip(tape.gradient(loss, g_vars), g_vars))

    return run


def worker(variant: str, mode: str, steps: int, barrier: str, peers: int) -> None:
    """Trace, wait for ``peers`` workers, time ``steps`` generator steps of 3 seeds."""
    import tensorflow as tf

    runs = [_step_fn(variant, SEEDS)] if mode == "batched" else \
        [_step_fn(variant, 1) for _ in range(SEEDS)]
    chunk = tf.constant(20)
    for run in runs:
        run(chunk)
    Path(barrier, f"{os.getpid()}").touch()
    while len(list(Path(barrier).iterdir())) < peers:
        time.sleep(0.01)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps // 20):
        for run in runs:
            run(chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"seed_steps_per_s": SEEDS * steps / wall, "cpu_per_wall": cpu / wall}),
          flush=True)


def measure(variant: str, mode: str, steps: int, processes: int) -> dict[str, float]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(ONE_THREAD if processes > 1 else {})}
    with tempfile.TemporaryDirectory() as barrier:
        children = [subprocess.Popen(
            [sys.executable, __file__, "--worker", variant, mode, str(steps), barrier,
             str(processes)], env=env, stdout=subprocess.PIPE, text=True)
            for _ in range(processes)]
        outs = [json.loads(child.communicate()[0].strip().splitlines()[-1]) for child in children]
    return {"seed_steps_per_s": sum(o["seed_steps_per_s"] for o in outs),
            "cpu_per_wall": sum(o["cpu_per_wall"] for o in outs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        variant, mode, steps, barrier, peers = args.worker
        worker(variant, mode, int(steps), barrier, int(peers))
        return
    from toy_speed import cpu_name, write_results  # benchmarks/ is on sys.path

    rows = []
    for variant in UPDATES:
        for processes in (1, 2):
            rates = {mode: measure(variant, mode, args.steps, processes)
                     for mode in ("separate", "batched")}
            rows.append({"variant": variant, "processes": processes, **{
                f"{mode}_{key}": round(value, 2) for mode, rate in rates.items()
                for key, value in rate.items()}})
            print(rows[-1], flush=True)
    cpu = cpu_name()
    cells = [[row["variant"],
              "one, default threads" if row["processes"] == 1 else "two, one thread each",
              f"{row['separate_seed_steps_per_s']:.0f} ({row['separate_cpu_per_wall']:.2f})",
              f"{row['batched_seed_steps_per_s']:.0f} ({row['batched_cpu_per_wall']:.2f})",
              f"{row['batched_seed_steps_per_s'] / row['separate_seed_steps_per_s']:.2f}x"]
             for row in rows]
    write_results(
        "toy_batched_seeds", {"cpu": cpu, "steps": args.steps, "seeds": SEEDS, "rows": rows},
        f"Three toy seeds as three models or as one batched model, {cpu} (2 cores), "
        f"{args.steps} generator steps per timed run; seed-steps per second (cores busy).",
        ["variant", "processes", "separate", "batched", "batched / separate"], cells)


if __name__ == "__main__":
    main()
