"""Run by test_exact_resume in a fresh process: train, optionally SIGKILL itself on the way.

    python resume_worker.py <checkpoint_dir> <out.npz> <kill>

kill: ``none``; ``eval:<step>`` (inside the in-training evaluation of that step);
``checkpoint:<step>`` (the checkpoint's data written, its state file not yet);
``step:<step>`` (a moment after that step's log line: during the next compiled call);
``sigint:<step>`` / ``sigterm:<step>`` (that signal sent to itself at that step's log
line: a graceful stop, exit 130 / 143); ``twice:<step>`` (SIGINT twice at once: the
second exits without saving).
Without a kill it saves the whole final state: every checkpointed variable, the
history and the evaluations (timing columns dropped: wall clock and CPU time differ).
"""
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.configs import tiny  # noqa: E402
from wgan_lab.gan import checkpoints  # noqa: E402
from wgan_lab.gan.trainer import Callbacks, GANTrainer  # noqa: E402
from wgan_lab.stopping import Interrupted  # noqa: E402

CONFIG = tiny("wgan_gp", objective={"n_critic": 2}, optimizer={"ema_decay": 0.9},
              schedule={"steps": 60, "log_every": 5, "sample_every": 30, "checkpoint_every": 10,
                        "eval_every": 10, "eval_samples": 16},
              runtime={"steps_per_call": 5})
IMAGES = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
NOISE = np.random.default_rng(1).standard_normal((16, 8)).astype(np.float32)


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def main():
    checkpoint_dir, out, kill = sys.argv[1:4]
    how, _, at = kill.partition(":")
    at = int(at or -1)

    def evaluate(step, generator):
        if how == "eval" and step == at:
            die()
        # A deterministic stand-in for FID: it only has to depend on the weights.
        return {"fid": float(np.abs(np.asarray(generator(NOISE, training=False))).mean())}

    def on_step(step, row):
        if how == "step" and step == at:
            threading.Thread(target=lambda: (time.sleep(0.01), die()), daemon=True).start()
        if how in ("sigint", "sigterm", "twice") and step == at:
            number = signal.SIGTERM if how == "sigterm" else signal.SIGINT
            for _ in range(2 if how == "twice" else 1):
                os.kill(os.getpid(), number)

    if how == "checkpoint":
        manager = checkpoints.CheckpointStore._get_manager

        class DiesMidWrite:
            def __init__(self, store):
                self.store, self.real = store, manager(store)

            def save(self, checkpoint_number):
                if checkpoint_number == at:
                    self.store._checkpoint.write(str(self.store.directory / f"ckpt-{at}"))
                    die()
                return self.real.save(checkpoint_number=checkpoint_number)

        checkpoints.CheckpointStore._get_manager = lambda store: DiesMidWrite(store)

    trainer = GANTrainer(CONFIG, IMAGES.shape[1:])
    try:
        result = trainer.fit(IMAGES, checkpoint_dir, Callbacks(on_step=on_step,
                                                               evaluate=evaluate))
    except Interrupted as stop:
        print(stop, flush=True)
        sys.exit(stop.exit_code)
    state = {f"state_{i}": np.asarray(v) for i, v in enumerate(trainer.compiled.state_variables())
             if v is not trainer.compiled.elapsed}
    np.savez(out, **state, resumed_from=result.resumed_from,
             history=result.history.drop(columns=["seconds", "images_per_sec"]).to_numpy(),
             history_columns=np.array(result.history.columns),
             evaluations=result.evaluations.drop(columns=["seconds", "cpu_seconds"]).to_numpy())


if __name__ == "__main__":
    main()
