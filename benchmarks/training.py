"""Benchmarks of training: throughput against the canonical Keras pattern,
utilisation, distribution overhead, quality for a fixed budget, peak memory.

    python benchmarks/training.py                      # everything, ~50 min on 2 cores
    python benchmarks/training.py --quality-minutes 10 # the budget of the quality race
    python benchmarks/training.py --only throughput    # one part
    python benchmarks/training.py --only quality --quality-architecture dcgan \
        --quality-runs wgan_gp,keras_fit_wgan_gp       # the race on the DCGAN nets

Writes benchmarks/results/training.json and training.md (the README's tables).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
BATCH = 64


def mnist(limit=None):

    from wgan_lab.data.processing import to_unit_range
    from wgan_lab.data.sources import FetchOptions, read_source

    path = Path(os.environ.get("WGAN_LAB_SHARED_DATA", HERE.parent.parent / "shared/data")) / "mnist"
    splits = read_source("mnist", path, FetchOptions(download=False))
    train = to_unit_range(splits.train_images[:limit])
    return train, to_unit_range(splits.test_images), splits.train_labels, splits.test_labels


def config(architecture, variant, distribution="default", precision=None):
    """``variant``'s configuration from conf/base on ``architecture``, batch ``BATCH``."""
    from wgan_lab.gan.config import TrainingConfig
    from wgan_lab.variants import training_params

    config = TrainingConfig.from_params(training_params(variant), prefix=variant)
    runtime = {"distribution": distribution}
    if precision:
        runtime["precision"] = precision
    # No events between the steps timed (fit still logs and samples at its last step).
    rare = 10**9
    return config.replace(model={"architecture": architecture}, optimizer={"batch_size": BATCH},
                          schedule={"log_every": rare, "sample_every": rare,
                                    "checkpoint_every": rare, "eval_every": 0},
                          runtime=runtime)


def train_more(trainer, images, steps, **fit_kwargs):
    """``steps`` more generator steps through the project's one training loop."""
    from wgan_lab.gan.trainer import Budget

    return trainer.fit(images, budget=Budget("steps", int(trainer.step.numpy()) + steps),
                       **fit_kwargs)


# ---------------------------------------------------------------- throughput
def ours_timer(architecture, variant, images, precision=None):
    from wgan_lab.gan.trainer import GANTrainer

    trainer = GANTrainer(config(architecture, variant, precision=precision), images.shape[1:])
    train_more(trainer, images, 2)  # trace

    def run(steps):
        start = time.perf_counter()
        train_more(trainer, images, steps)  # reads the losses: waits for the result
        return time.perf_counter() - start
    run.precision = trainer.precision
    return run


def baseline_timer(architecture, variant, images, precision="float32"):
    return keras_fit_runner(config(architecture, variant), images, precision)


def keras_fit_runner(cfg, images, precision="float32"):
    """The keras.io pattern for ``cfg``'s loss, compiled and traced: ``(run, model)``,
    where ``run(steps)`` trains ``steps`` batches with ``fit`` and returns their seconds."""
    import keras
    import tensorflow as tf

    from keras_baseline import keras_pattern
    from wgan_lab.gan.networks import build_critic, build_generator
    from wgan_lab.gan.optimizers import make_optimizers
    from wgan_lab.gan.regularizers import REGULARIZERS

    objective, batch = cfg.objective, cfg.optimizer.batch_size
    # The Keras example knows two Lipschitz constraints: clipping, or else the penalty.
    clips = REGULARIZERS[objective.regularizer].constrain is not None
    keras.utils.set_random_seed(cfg.seed)
    model = keras_pattern(build_critic(images.shape[1:], cfg.model, precision),
                          build_generator(images.shape[1:], cfg.model, precision),
                          cfg.model.latent_dim, objective, clips)
    generator_optimizer, critic_optimizer = make_optimizers(cfg.optimizer)
    model.compile(critic_optimizer, generator_optimizer)
    dataset = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images), seed=0)
               .batch(batch, drop_remainder=True).repeat().prefetch(tf.data.AUTOTUNE))
    model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)  # trace

    class BatchClock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())

    warmup = 3

    def run(steps):
        # Timed from the end of the warm-up batches: every fit() call makes a new
        # iterator and refills the shuffle buffer, which is not training time.
        clock = BatchClock()
        clock.times = []
        model.fit(dataset, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[clock])
        return clock.times[-1] - clock.times[warmup - 1]
    run.warmup = warmup  # untimed batches that each call also trains
    return run, model


def throughput(images, repeats, mlp_steps, dcgan_steps):
    """Project (default settings) against model.fit in float32, the canonical
    pattern. Where the project's default precision is not float32, two more
    rows show where the gain comes from: the project in float32, and model.fit
    given the same mixed precision."""
    rows = []
    for architecture, steps in (("mlp", mlp_steps), ("dcgan", dcgan_steps)):
        for variant in ("wgan", "wgan_gp"):
            timers = {"project": ours_timer(architecture, variant, images)}
            precision = timers["project"].precision
            timers["keras_fit"] = baseline_timer(architecture, variant, images)[0]
            if precision != "float32":
                timers["project_float32"] = ours_timer(architecture, variant, images,
                                                       precision="float32")
                timers[f"keras_fit_{precision}"] = baseline_timer(architecture, variant, images,
                                                                  precision)[0]
            # One untimed round once all are built: building a later one (its
            # seeding) can make an earlier one retrace on its next call.
            for run in timers.values():
                run(2)
            times = {name: [] for name in timers}
            for _ in range(repeats):  # alternate, so drifts hit all alike
                for name, run in timers.items():
                    times[name].append(run(steps))
            n_critic = config(architecture, variant).objective.n_critic
            row = {"architecture": architecture, "variant": variant, "steps": steps,
                   "repeats": repeats, "precision": precision}
            for impl, values in times.items():
                t = statistics.median(values) / steps
                row[impl] = {"generator_steps_per_s": 1 / t, "critic_steps_per_s": n_critic / t,
                             "images_per_s": n_critic * BATCH / t, "seconds_per_step": t}
            row["speedup"] = row["keras_fit"]["seconds_per_step"] / row["project"]["seconds_per_step"]
            if "project_float32" in row:
                row["float32_speedup"] = (row["keras_fit"]["seconds_per_step"]
                                          / row["project_float32"]["seconds_per_step"])
            print(f"{architecture} {variant} ({precision}): x{row['speedup']:.2f}", flush=True)
            rows.append(row)
    return rows


# ---------------------------------------------------------------- utilisation
def forward_flops(model):
    """Multiply-adds x 2 of the Dense, Conv2D and Conv2DTranspose layers, per image."""
    from keras import layers

    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif isinstance(layer, layers.Conv2DTranspose):
            h, w = layer.input.shape[1:3]
            kh, kw, cout, cin = layer.kernel.shape
            total += 2 * h * w * kh * kw * cin * cout
        elif isinstance(layer, layers.Conv2D):
            h, w = layer.output.shape[1:3]
            kh, kw, cin, cout = layer.kernel.shape
            total += 2 * h * w * kh * kw * cin * cout
    return total


def matmul_peak(n=2048, repeats=20, dtype="float32"):
    import tensorflow as tf

    a, b = (tf.cast(tf.random.normal([n, n]), dtype) for _ in range(2))
    step = tf.function(lambda: tf.matmul(a, b))
    step().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        result = step()
    result.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def utilisation(throughput_rows):
    from wgan_lab.gan.networks import build_critic, build_generator

    cfg = config("dcgan", "wgan_gp")
    g = forward_flops(build_generator((28, 28, 1), cfg.model))
    c = forward_flops(build_critic((28, 28, 1), cfg.model))
    # Backward = 2x forward. Critic update: G fwd, C fwd+bwd on real and fake,
    # gradient penalty: C fwd + input-gradient (1x) on the interpolates, then
    # their double backward (2x of both). Generator update: G fwd+bwd, C fwd +
    # input-gradient.
    critic_update = BATCH * (g + 3 * 2 * c + 2 * 3 * c)
    generator_update = BATCH * (3 * g + 2 * c)
    per_step = cfg.objective.n_critic * critic_update + generator_update
    row = next(r for r in throughput_rows if r["architecture"] == "dcgan" and r["variant"] == "wgan_gp")
    result = {"flops_per_generator_step": per_step, "precision": row["precision"]}
    for impl in ("project", "keras_fit", "project_float32"):
        if impl in row:
            result[f"{impl}_flops_per_s"] = per_step / row[impl]["seconds_per_step"]
    result["matmul_peak_flops_per_s"] = matmul_peak()
    if row["precision"] == "mixed_bfloat16":
        result["bfloat16_matmul_peak_flops_per_s"] = matmul_peak(dtype="bfloat16")
    return result


# ---------------------------------------------------------------- workers
def worker(args):
    """Subcommands run in a fresh process: scaling and quality measurements."""
    kind = args[0]
    if kind == "logical":
        import tensorflow as tf

        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    if kind in ("logical", "multiworker", "single"):
        from wgan_lab.gan.trainer import GANTrainer

        architecture, steps = args[1], int(args[2])
        images, *_ = mnist(limit=10000)
        distribution = {"logical": "mirrored", "multiworker": "auto", "single": "default"}[kind]
        trainer = GANTrainer(config(architecture, "wgan_gp", distribution), images.shape[1:])
        train_more(trainer, images, 2)  # trace
        start = time.perf_counter()
        train_more(trainer, images, steps)
        print(json.dumps({"replicas": trainer.replicas, "precision": trainer.precision,
                          "seconds_per_step": (time.perf_counter() - start) / steps}))
    elif kind == "quality":
        print(json.dumps(quality_run(args[1], float(args[2]), args[3])))


def run_worker(*args, env=None):
    out = subprocess.run([sys.executable, __file__, "--worker", *map(str, args)], check=True,
                         capture_output=True, text=True, env={**os.environ, **(env or {})})
    return json.loads(out.stdout.strip().splitlines()[-1])


def scaling(steps):
    rows = []
    for architecture in ("mlp", "dcgan"):
        n = steps if architecture == "mlp" else max(3, steps // 20)
        one = run_worker("single", architecture, n)
        two = run_worker("logical", architecture, n)
        rows.append({"setup": "2 logical CPU devices (MirroredStrategy)", "architecture": architecture,
                     "precision": one["precision"],
                     "one_replica_s": one["seconds_per_step"], "two_replicas_s": two["seconds_per_step"],
                     "overhead": two["seconds_per_step"] / one["seconds_per_step"]})
    one = run_worker("single", "mlp", steps)
    from wgan_lab.gan.distribute import loopback_tf_configs

    procs = [subprocess.Popen(
        [sys.executable, __file__, "--worker", "multiworker", "mlp", str(steps)],
        env={**os.environ, "TF_CONFIG": tf_config},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        for tf_config in loopback_tf_configs(2)]
    results = [json.loads(p.communicate(timeout=900)[0].strip().splitlines()[-1]) for p in procs]
    two = max(r["seconds_per_step"] for r in results)
    rows.append({"setup": "2 loopback workers (MultiWorkerMirroredStrategy)", "architecture": "mlp",
                 "precision": one["precision"],
                 "one_replica_s": one["seconds_per_step"], "two_replicas_s": two,
                 "overhead": two / one["seconds_per_step"]})
    return rows


# ---------------------------------------------------------------- quality race
def quality_run(name, minutes, architecture):

    from wgan_lab.evaluation.evaluate import generate, subsample
    from wgan_lab.evaluation.features import ClassifierConfig, FeatureExtractor, load_or_train_classifier
    from wgan_lab.evaluation.metrics import classes_covered, fid

    train, test, train_labels, test_labels = mnist()
    classifier, _ = load_or_train_classifier(HERE / "results" / "classifier_cache", train,
                                             train_labels, test, test_labels, ClassifierConfig())
    extractor = FeatureExtractor(classifier)
    real = extractor(subsample(test, 2000, 0))[0]

    def score(generator):
        features, probs = extractor(generate(generator, 2000, 0))
        return fid(real, features), classes_covered(probs.argmax(axis=1), 10)

    budget, curve, steps = minutes * 60, [], 0
    chunk = 500 if architecture == "mlp" else 100  # generator steps between evaluations
    if name == "keras_fit_wgan_gp":

        run, model = baseline_timer(architecture, "wgan_gp", train)
        generator = model.generator
        step_fn = lambda: run(chunk)  # noqa: E731
    else:
        from wgan_lab.gan.trainer import GANTrainer

        trainer = GANTrainer(config(architecture, name), train.shape[1:])
        # What users sample from: the EMA copy where the variant keeps one.
        generator = trainer.sampling_generator
        step_fn = lambda: train_more(trainer, train, chunk)  # noqa: E731
    elapsed = 0.0
    while elapsed < budget:
        start = time.perf_counter()
        step_fn()
        elapsed += time.perf_counter() - start  # evaluation time is not training time
        steps += chunk
        value, covered = score(generator)
        curve.append({"step": steps, "seconds": elapsed, "fid": value, "classes_covered": covered})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"name": name, "steps": steps, "seconds": elapsed, "final_fid": curve[-1]["fid"],
            "best_fid": min(c["fid"] for c in curve), "classes_covered": curve[-1]["classes_covered"],
            "curve": curve, "peak_rss_mib": peak_mib}


def quality(minutes, architecture, names):
    runs = {name: run_worker("quality", name, minutes, architecture) for name in names}
    baseline_final = runs["keras_fit_wgan_gp"]["final_fid"]
    for run in runs.values():
        reached = next((c["seconds"] for c in run["curve"] if c["fid"] <= baseline_final), None)
        run["seconds_to_baseline_final_fid"] = reached
    return runs


# ---------------------------------------------------------------- report
def machine():
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    import tensorflow as tf

    return {"cpu": model, "cores": os.cpu_count(), "tensorflow": tf.__version__,
            "python": platform.python_version()}


def markdown(result):
    lines = [f"Machine: {result['machine']['cpu']}, {result['machine']['cores']} cores, "
             f"TensorFlow {result['machine']['tensorflow']}; batch {BATCH}; medians of "
             f"alternating repetitions.", ""]
    if "throughput" in result:
        lines += ["| network | variant | project precision | project critic steps/s | keras fit critic "
                  "steps/s | project images/s | keras fit images/s | project generator steps/s | "
                  "speed-up | speed-up, both float32 | keras fit, same precision as project |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in result["throughput"]:
            p, k = r["project"], r["keras_fit"]
            same = r.get(f"keras_fit_{r['precision']}")
            lines.append(
                f"| {r['architecture']} | {r['variant']} | {r['precision']} | "
                f"{p['critic_steps_per_s']:.1f} | {k['critic_steps_per_s']:.1f} | "
                f"{p['images_per_s']:.0f} | {k['images_per_s']:.0f} | "
                f"{p['generator_steps_per_s']:.2f} | **{r['speedup']:.2f}x** | "
                f"{r.get('float32_speedup', r['speedup']):.2f}x | "
                + (f"{same['critic_steps_per_s']:.1f} critic steps/s "
                   f"({k['seconds_per_step'] / same['seconds_per_step']:.2f}x) |" if same else "same row |"))
        lines += ["", "speed-up: keras fit's time per step (float32, the canonical pattern) over the "
                  "project's (default settings). 'both float32': the project forced to float32.", ""]
    if "utilisation" in result:
        u = result["utilisation"]
        peak = u["matmul_peak_flops_per_s"]
        text = (f"Utilisation, dcgan wgan_gp: {u['flops_per_generator_step'] / 1e9:.2f} GFLOP per "
                f"generator step. float32 matmul peak measured {peak / 1e9:.1f} GFLOP/s")
        bf16_peak = u.get("bfloat16_matmul_peak_flops_per_s")
        if bf16_peak:
            text += f", bfloat16 {bf16_peak / 1e9:.1f} GFLOP/s"

        def achieved(name):
            # Each against the peak of the precision it computes in.
            flops = u[f"{name}_flops_per_s"]
            if name == "project" and u["precision"] == "mixed_bfloat16":
                label, of, kind = "project (bfloat16)", bf16_peak, "bfloat16"
            else:
                label, of, kind = name.replace("_", " "), peak, "float32"
            return f"{label} {flops / 1e9:.1f} GFLOP/s ({flops / of:.0%} of the {kind} peak)"
        text += ". Achieved: " + "; ".join(
            achieved(name) for name in ("project", "project_float32", "keras_fit")
            if f"{name}_flops_per_s" in u)
        lines += [text + ".", ""]
    if "scaling" in result:
        lines += ["| setup | network | precision | 1 replica (s/step) | 2 replicas (s/step) | overhead |",
                  "|---|---|---|---|---|---|"]
        for r in result["scaling"]:
            lines.append(f"| {r['setup']} | {r['architecture']} | {r.get('precision', 'float32')} | "
                         f"{r['one_replica_s']:.4f} | "
                         f"{r['two_replicas_s']:.4f} | {r['overhead']:.2f}x |")
        lines.append("")
    for architecture, race in result.get("quality", {}).items():
        minutes = race["minutes"]
        lines += [f"Quality for a fixed budget of {minutes:g} training minutes each on real MNIST "
                  f"({architecture}; FID on 2,000 samples, domain-classifier features; evaluation "
                  f"time excluded):", "",
                  "| run | steps | final FID | best FID | classes covered | reaches keras-fit's final FID after | peak RSS (MiB) |",
                  "|---|---|---|---|---|---|---|"]
        for r in race["runs"].values():
            reached = r["seconds_to_baseline_final_fid"]
            lines.append(f"| {r['name']} | {r['steps']} | {r['final_fid']:.2f} | {r['best_fid']:.2f} | "
                         f"{r['classes_covered']} | {'%.0f s' % reached if reached is not None else 'not reached'} | "
                         f"{r['peak_rss_mib']:.0f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["throughput", "scaling", "quality"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mlp-steps", type=int, default=200)
    parser.add_argument("--dcgan-steps", type=int, default=8)
    parser.add_argument("--quality-minutes", type=float, default=10)
    parser.add_argument("--quality-architecture", choices=["mlp", "dcgan"], default="mlp")
    parser.add_argument("--quality-runs", default="gan,wgan,wgan_gp,keras_fit_wgan_gp",
                        help="comma-separated: gan, wgan, wgan_gp, keras_fit_wgan_gp")
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite training.md from training.json without measuring")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / "training.json"
    if args.report_only:
        (out / "training.md").write_text(markdown(json.loads(path.read_text())))
        return None
    result = json.loads(path.read_text()) if path.is_file() and args.only else {}
    result["machine"] = machine()
    if "quality_minutes" in result:  # the layout before races per architecture: stale
        del result["quality_minutes"], result["quality"]
    if args.only in (None, "throughput"):
        images, *_ = mnist(limit=20000)
        result["throughput"] = throughput(images, args.repeats, args.mlp_steps, args.dcgan_steps)
        result["utilisation"] = utilisation(result["throughput"])
    if args.only in (None, "scaling"):
        result["scaling"] = scaling(args.mlp_steps)
    if args.only in (None, "quality"):
        names = args.quality_runs.split(",")
        result.setdefault("quality", {})[args.quality_architecture] = {
            "minutes": args.quality_minutes,
            "runs": quality(args.quality_minutes, args.quality_architecture, names)}
    path.write_text(json.dumps(result, indent=2))
    (out / "training.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
