"""Run by the distribution tests in a fresh process (TensorFlow's devices are fixed at start).

    python distributed_worker.py compare <variant> <out.npz>
        two logical CPUs; trains on the default strategy and on a 2-replica
        MirroredStrategy from the same start, saves both sets of weights.
    python distributed_worker.py worker <variant> <out.npz> <ckpt_dir> [steps] [sigterm_at]
        trains under TF_CONFIG (MultiWorkerMirroredStrategy) to ``steps`` (3),
        resuming from <ckpt_dir>, saves its weights. With ``sigterm_at``, worker 1
        sends itself SIGTERM after that step (later steps take 0.1 s more); a stopped worker saves the step it
        stopped at and exits with the stop's code.
"""
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.configs import tiny  # noqa: E402

SCHEDULE = {"log_every": 1, "checkpoint_every": 3, "sample_every": 3, "n_sample_images": 2}
# Each case is a variant of conf/base with test-sized changes. SGD cases catch
# a wrong gradient scale across replicas, which Adam and RMSprop would hide.
CASES = {
    "wgan_gp_mlp": ("wgan_gp", {"objective": {"n_critic": 2},
                                "optimizer": {"learning_rate": 1e-3}}),
    "wgan_mlp": ("wgan", {"objective": {"n_critic": 2},
                          "optimizer": {"learning_rate": 1e-3, "ema_decay": 0.5}}),
    # float32: the check is equality within float32 round-off, and "auto"
    # would pick bfloat16 for dcgan on a CPU with AMX.
    "gan_dcgan": ("gan", {"model": {"architecture": "dcgan", "filters": 4},
                          "optimizer": {"learning_rate": 1e-3},
                          "runtime": {"precision": "float32"}}),
    "wgan_gp_sgd": ("wgan_gp", {"objective": {"n_critic": 2},
                                "optimizer": {"name": "sgd", "learning_rate": 0.05}}),
    "dragan_sgd": ("dragan", {"optimizer": {"name": "sgd", "learning_rate": 0.05}}),
    "hinge_sn_sgd": ("hinge_sn", {"optimizer": {"name": "sgd", "learning_rate": 0.05}}),
}


def config(case, distribution, steps=3):
    base, sections = CASES[case]
    return tiny(base, variant=case, seed=3, schedule={**SCHEDULE, "steps": steps},
                runtime={"distribution": distribution, **sections.get("runtime", {})},
                **{k: v for k, v in sections.items() if k != "runtime"})


def images():
    return np.random.default_rng(0).uniform(-1, 1, (96, 28, 28, 1)).astype(np.float32)


def weights(trainer):
    models = [trainer.generator, trainer.critic]
    if trainer.ema_generator is not None:
        models.append(trainer.ema_generator)
    return [w for m in models for w in m.get_weights()]


def main():
    mode, variant, out = sys.argv[1:4]
    from wgan_lab.gan.trainer import GANTrainer

    if mode == "compare":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        results, histories = {}, {}
        for distribution in ("default", "mirrored"):
            trainer = GANTrainer(config(variant, distribution), (28, 28, 1))
            assert trainer.replicas == (2 if distribution == "mirrored" else 1)
            result = trainer.fit(images(), f"{out}.{distribution}.ckpt")
            results[distribution] = weights(trainer)
            # Every logged loss and score. Not wall clock, and not the gradient
            # norms: on R replicas they are estimates (per-replica norm x R).
            histories[distribution] = result.history.drop(
                columns=["seconds", "images_per_sec", "critic_grad_norm",
                         "generator_grad_norm"]).to_numpy()
        np.savez(out, **{f"{d}_{i}": w for d, ws in results.items() for i, w in enumerate(ws)},
                 **{f"history_{d}": h for d, h in histories.items()})
    else:
        from wgan_lab.gan.trainer import Callbacks
        from wgan_lab.stopping import Interrupted

        steps = int(sys.argv[5]) if len(sys.argv) > 5 else 3
        sigterm_at = int(sys.argv[6]) if len(sys.argv) > 6 else None
        trainer = GANTrainer(config(variant, "auto", steps), (28, 28, 1))
        assert trainer.replicas == 2, trainer.replicas

        def on_step(step, row):
            if step == sigterm_at and not trainer.is_chief:
                os.kill(os.getpid(), signal.SIGTERM)
            elif sigterm_at is not None and step > sigterm_at:
                # Slow steps after the signal, on both workers: the stop is agreed within
                # about a second (the handler polls), which a tiny model would outrun.
                time.sleep(0.1)

        try:
            result = trainer.fit(images(), sys.argv[4], Callbacks(on_step=on_step))
        except Interrupted as stop:
            print(stop, flush=True)
            np.savez(out, chief=np.array(trainer.is_chief), stopped_at=np.array(stop.step))
            sys.exit(stop.exit_code)
        np.savez(out, chief=np.array(trainer.is_chief), steps=np.array(len(result.history)),
                 resumed_from=np.array(result.resumed_from),
                 **{f"w_{i}": w for i, w in enumerate(weights(trainer))})


if __name__ == "__main__":
    main()
