"""Grappler's remapper on and off, side by side in one process: training CPU seconds
per step of the default networks, and the inference of a small classifier.

    python benchmarks/remapper.py            # ~3 min on 2 cores

Why: the trainer runs the DCGAN's compiled training calls without the remapper
(trainer.without_remapper, networks.Network.remapper_breaks_training), because
TensorFlow 2.21's remapper fails on the convolutional critic's training graph and
prints an error. This says what that costs, and what the MLP would lose. Writes
benchmarks/results/remapper.md.
"""
from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "src"))

import wgan_lab  # noqa: E402,F401  (imports TensorFlow quietly)
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.configs import tiny  # noqa: E402
from wgan_lab.gan import trainer as trainer_module  # noqa: E402
from wgan_lab.gan.precision import cpu_model  # noqa: E402

STEPS, REPEATS = 300, 3
NETWORKS = {
    "wgan, DCGAN 32 filters": ("wgan", {"architecture": "dcgan", "filters": 32}),
    "wgan_gp, MLP 256": ("wgan_gp", {"architecture": "mlp", "hidden_units": [256, 256]}),
}


def training_seconds_per_step(variant: str, model: dict, remapper: bool) -> float:
    """CPU seconds per step, timed between log steps after the first (traced) call."""
    config = tiny(variant, model={"latent_dim": 64, **model}, optimizer={"batch_size": 64},
                  schedule={"steps": STEPS, "log_every": 20, "sample_every": STEPS,
                            "checkpoint_every": STEPS},
                  runtime={"precision": "auto", "steps_per_call": 20})
    images = np.random.default_rng(0).uniform(-1, 1, (2048, 28, 28, 1)).astype(np.float32)
    clock: dict[int, float] = {}
    trainer = trainer_module.GANTrainer(config, images.shape[1:])
    # Whatever the network's registry entry says: this measures both.
    trainer._training_graph_options = (contextlib.nullcontext if remapper
                                       else trainer_module.without_remapper)
    trainer.fit(images, tempfile.mkdtemp(), trainer_module.Callbacks(
        on_step=lambda step, row: clock.setdefault(step, time.process_time())))
    first, last = 20, max(step for step in clock if step < STEPS)
    return (clock[last] - clock[first]) / (last - first)


def inference_seconds(remapper: bool) -> float:
    """CPU seconds for 10,000 28x28 images through a small CNN classifier."""
    tf.config.optimizer.set_experimental_options({"remapping": remapper})
    layers = keras.layers
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(32, 3, activation="relu"),
                              layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(),
                              layers.Flatten(), layers.Dense(128, activation="relu"),
                              layers.Dense(10)])
    images = np.random.default_rng(0).random((10_000, 28, 28, 1), np.float32)
    predict = tf.function(lambda batch: model(batch, training=False))
    predict(images[:500])
    start = time.process_time()
    for i in range(0, len(images), 500):
        predict(images[i:i + 500])
    tf.config.optimizer.set_experimental_options({"remapping": True})
    return time.process_time() - start


def main() -> None:
    rows = []
    for name, (variant, model) in NETWORKS.items():
        for remapper in (True, False):
            values = [training_seconds_per_step(variant, model, remapper) for _ in range(REPEATS)]
            rows.append((f"training {name}, ms CPU per step", remapper, values))
    for remapper in (True, False):
        rows.append(("inference, CPU s per 10,000 images", remapper,
                     [inference_seconds(remapper) for _ in range(REPEATS)]))
    lines = [f"# Grappler's remapper on and off ({cpu_model()}, TensorFlow {tf.__version__})",
             "", f"Median [min, max] of {REPEATS} repeats, in one process.", "",
             "| what | remapper on | remapper off |", "|---|---|---|"]
    for what in dict.fromkeys(row[0] for row in rows):
        scale = 1000 if "ms" in what else 1
        cells = []
        for remapper in (True, False):
            values = sorted(v * scale for w, r, vs in rows if w == what and r == remapper
                            for v in vs)
            cells.append(f"{np.median(values):.2f} [{values[0]:.2f}, {values[-1]:.2f}]")
        lines.append(f"| {what} | {cells[0]} | {cells[1]} |")
    out = HERE / "results" / "remapper.md"
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())


if __name__ == "__main__":
    main()
