"""Time to quality: wall-clock training seconds until FID first falls below fixed
thresholds, for each variant's committed default against the canonical Keras
pattern (``keras.Model.train_step`` + ``fit``, benchmarks/keras_baseline.py) with
the papers' recipes (the ``<variant>_paper`` blocks of
conf/base/parameters_training.yml), in one benchmark run.

    python benchmarks/time_to_quality.py                         # ~50 min on 2 cores
    python benchmarks/time_to_quality.py --minutes 10 --variants gan,wgan,wgan_gp
    python benchmarks/time_to_quality.py --report-only           # rewrite the .md

A run of some variants replaces theirs in the results file and keeps the others,
so a variant whose default changed can be measured again on its own.

Each run trains in a fresh process, one after another. Both sides are scored
alike every ``--eval-seconds`` of training: FID of 2,000 generated vs 2,000
MNIST test images in the domain classifier's features (evaluation time is not
training time). The Keras pattern trains for the whole budget; a default stops
once it is below every threshold and below the Keras pattern's final FID, or
at the budget. The goal (issue #12): each default reaches the Keras pattern's
final FID in a third of the budget or less.

Writes benchmarks/results/time_to_quality.json and .md (the README's table).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from training import keras_fit_runner, machine, mnist, train_more  # noqa: E402

THRESHOLDS = (100.0, 50.0, 25.0)
SCORE_SAMPLES = 2000


def default_config(variant):
    from wgan_lab.gan.config import TrainingConfig
    from wgan_lab.variants import training_params

    return TrainingConfig.from_params(training_params(variant), prefix=variant)


def recipe_config(variant):
    """The paper's recipe of ``variant``: its ``<variant>_paper`` block in conf/, with the
    default's seed, schedule and runtime so that both sides differ in the recipe only."""
    from wgan_lab.gan.config import TrainingConfig
    from wgan_lab.variants import training_params

    paper = TrainingConfig.from_params(training_params(f"{variant}_paper"),
                                       prefix=f"{variant}_paper")
    return dataclasses.replace(default_config(variant), model=paper.model,
                               objective=paper.objective, optimizer=paper.optimizer)


def scorer():
    from wgan_lab.evaluation.evaluate import generate, subsample
    from wgan_lab.evaluation.features import (ClassifierConfig, FeatureExtractor,
                                              load_or_train_classifier)
    from wgan_lab.evaluation.metrics import classes_covered, fid

    train, test, train_labels, test_labels = mnist()
    classifier, _ = load_or_train_classifier(HERE / "results" / "classifier_cache", train,
                                             train_labels, test, test_labels, ClassifierConfig())
    extractor = FeatureExtractor(classifier)
    real = extractor(subsample(test, SCORE_SAMPLES, 0))[0]

    def score(generator):
        features, probs = extractor(generate(generator, SCORE_SAMPLES, 0))
        return fid(real, features), classes_covered(probs.argmax(axis=1), 10)
    return train, score


def race(side, variant, minutes, eval_seconds, stop_below):
    """One run: ``side`` is "keras_fit" (the paper's recipe) or "project" (the default)."""
    train, score = scorer()
    budget = minutes * 60
    if side == "project":
        return project_race(variant, budget, eval_seconds, stop_below, train, score)
    cfg = recipe_config(variant)
    run, model = keras_fit_runner(cfg, train)
    elapsed, steps, curve = 0.0, 0, []
    chunk = 20
    while elapsed < budget:
        seconds = run(chunk)
        elapsed += seconds
        steps += chunk + run.warmup
        value, covered = score(model.generator)
        curve.append({"step": steps, "seconds": elapsed, "fid": value, "classes_covered": covered})
        log_point(side, variant, curve[-1])
        if stop_below is not None and value <= stop_below:
            break
        # Next evaluation after about eval_seconds of training, not past the budget.
        per_step = seconds / chunk
        chunk = max(20, int(min(eval_seconds, budget - elapsed) / per_step) // 20 * 20)
    return race_result(side, variant, cfg, curve)


def project_race(variant, budget, eval_seconds, stop_below, train, score):
    """The default through the project's own loop: scored at evenly spaced points of
    the time budget, stopped early once below ``stop_below``."""
    from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer

    cfg = default_config(variant).replace(schedule={"eval_every": 0})
    trainer = GANTrainer(cfg, train.shape[1:])
    train_more(trainer, train, cfg.runtime.steps_per_call)  # trace, as keras_fit_runner does
    traced = trainer.compiled.elapsed.numpy()
    curve = []

    def evaluate(step, generator):
        value, covered = score(generator)
        return {"fid": value, "classes_covered": covered}

    def on_evaluation(step, spent, scores):
        curve.append({"step": step, "seconds": spent["seconds"] - traced, **scores})
        log_point("project", variant, curve[-1])
        return stop_below is not None and scores["fid"] <= stop_below

    checks = max(1, round(budget / eval_seconds))
    trainer.fit(train, callbacks=Callbacks(evaluate=evaluate, on_evaluation=on_evaluation),
                budget=Budget("seconds", traced + budget, checks=checks))
    return race_result("project", variant, cfg, curve)


def log_point(side, variant, point):
    print(f"{side} {variant}: {point['step']} steps, {point['seconds']:.0f} s, "
          f"FID {point['fid']:.1f}", file=sys.stderr, flush=True)


def race_result(side, variant, cfg, curve):
    return {"side": side, "variant": variant, "settings": settings_text(cfg),
            "steps": curve[-1]["step"], "seconds": curve[-1]["seconds"],
            "final_fid": curve[-1]["fid"], "classes_covered": curve[-1]["classes_covered"],
            "curve": curve}


def settings_text(cfg):
    m, o, p = cfg.model, cfg.objective, cfg.optimizer
    network = (f"mlp {'-'.join(map(str, m.hidden_units))}" if m.architecture == "mlp"
               else f"{m.architecture} {m.filters} filters")
    rates = (f"lr {p.learning_rate:g}" if p.critic_learning_rate is None
             else f"lr G {p.learning_rate:g} / D {p.critic_learning_rate:g}")
    objective = {"clip": f", clip {o.clip_value:g}",
                 "gradient_penalty": f", penalty {o.penalty_weight:g}"}.get(o.regularizer, "")
    betas = "" if p.name == "rmsprop" else f" ({p.beta_1:g}, {p.beta_2:g})"
    ema = f", EMA {p.ema_decay:g}" if p.ema_decay else ""
    return (f"{network}; {p.name}{betas} {rates}, batch {p.batch_size}; "
            f"n_critic {o.n_critic}{objective}{ema}")


def first_below(curve, threshold):
    return next((c["seconds"] for c in curve if c["fid"] <= threshold), None)


def summarise(runs):
    rows = []
    for variant, pair in runs.items():
        keras_run, project = pair["keras_fit"], pair["project"]
        target = keras_run["final_fid"]
        reached = first_below(project["curve"], target)
        rows.append({
            "variant": variant, "keras_final_fid": target, "keras_seconds": keras_run["seconds"],
            "project_seconds_to_keras_final": reached,
            "fraction_of_keras_time": reached / keras_run["seconds"] if reached else None,
            "keras_to": {f"{t:g}": first_below(keras_run["curve"], t) for t in THRESHOLDS},
            "project_to": {f"{t:g}": first_below(project["curve"], t) for t in THRESHOLDS},
            "project_final_fid": project["final_fid"], "project_seconds": project["seconds"]})
    return rows


def markdown(result):
    def seconds(value):
        return "not reached" if value is None else f"{value:.0f} s"

    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, TensorFlow {m['tensorflow']}. Budget "
             f"{result['minutes']:g} training minutes per run; FID of {SCORE_SAMPLES:,} samples "
             f"in the domain classifier's features every ~{result['eval_seconds']:g} s of "
             f"training (evaluation time excluded).", "",
             "| variant | Keras pattern, paper's recipe: final FID | default reaches it after "
             "| share of the Keras run's time | "
             + " | ".join(f"FID <= {t:g}: default / Keras" for t in THRESHOLDS) + " |",
             "|---|---|---|---|" + "---|" * len(THRESHOLDS)]
    for r in result["summary"]:
        share = r["fraction_of_keras_time"]
        lines.append(
            f"| {r['variant']} | {r['keras_final_fid']:.1f} | "
            f"{seconds(r['project_seconds_to_keras_final'])} | "
            f"{'-' if share is None else f'**{share:.0%}**'} | "
            + " | ".join(f"{seconds(r['project_to'][f'{t:g}'])} / {seconds(r['keras_to'][f'{t:g}'])}"
                         for t in THRESHOLDS) + " |")
    lines += ["", "Settings:", ""]
    for variant, pair in result["runs"].items():
        for side, label in (("project", "default"), ("keras_fit", "Keras pattern")):
            lines.append(f"- {variant}, {label}: {pair[side]['settings']}")
        if "measured" in pair:
            lines.append(f"- {variant} measured {pair['measured']}")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--eval-seconds", type=float, default=20)
    parser.add_argument("--variants", default="gan,wgan,wgan_gp")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--race", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.race:
        side, variant, minutes, eval_seconds, stop = args.race
        print(json.dumps(race(side, variant, float(minutes), float(eval_seconds),
                              None if stop == "none" else float(stop))))
        return
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    path = out / "time_to_quality.json"
    if args.report_only:
        (out / "time_to_quality.md").write_text(markdown(json.loads(path.read_text())))
        return
    earlier = json.loads(path.read_text()) if path.exists() else {}
    if earlier and (earlier["machine"]["cpu"], earlier["minutes"], earlier["eval_seconds"]) != (
            machine()["cpu"], args.minutes, args.eval_seconds):
        earlier = {}  # another machine or budget: its runs are not comparable with these
    runs = earlier.get("runs", {})
    for variant in args.variants.split(","):
        keras_run = run_race("keras_fit", variant, args.minutes, args.eval_seconds, "none")
        stop = min(min(THRESHOLDS), keras_run["final_fid"])
        project = run_race("project", variant, args.minutes, args.eval_seconds, stop)
        runs[variant] = {"keras_fit": keras_run, "project": project,
                         "measured": time.strftime("%Y-%m-%d %H:%M")}
    result = {"machine": machine(), "minutes": args.minutes, "eval_seconds": args.eval_seconds,
              "thresholds": THRESHOLDS, "runs": runs, "summary": summarise(runs)}
    path.write_text(json.dumps(result, indent=2))
    (out / "time_to_quality.md").write_text(markdown(result))
    print(markdown(result))


def run_race(side, variant, minutes, eval_seconds, stop):
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--race", side, variant, str(minutes),
                          str(eval_seconds), str(stop)], check=True, stdout=subprocess.PIPE,
                         text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
