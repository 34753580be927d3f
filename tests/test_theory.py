"""The theory runs: trained estimators against closed forms, the vanishing gradient,
clipping against the penalty, the claims' verdicts on tables whose answer is known,
and the pipeline end to end (files, figures, verdicts, one MLflow run per network).
Bad theory parameters are among test_parameter_checks' cases."""
from __future__ import annotations

import copy
import dataclasses
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.conftest import run_pipeline
from wgan_lab.evaluation.divergences import LOG2, optimal_discriminator
from wgan_lab.evaluation.statistics import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from wgan_lab.experiments import theory, theory_claims
from wgan_lab.experiments.theory import (TheorySettings, estimate_from_critic,
                                         layer_gradient_norms, segment, weight_extremes)
from wgan_lab.experiments.theory_claims import (TheoryTables, claim_t2, claim_t3_t4, claim_t5,
                                                claim_t6)
from wgan_lab.gan.trainer import Callbacks, GANTrainer
from wgan_lab.reporting.theory import FIGURES
from wgan_lab.variants import family, load_parameters


def settings(**changes) -> TheorySettings:
    block = copy.deepcopy(load_parameters()["theory"])
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = block
        for part in parents:
            target = target[part]
        target[key] = value
    return TheorySettings.from_params(block, family(load_parameters()))


# ----- the trained estimators against what is known ----------------------------------------
def test_a_restarted_critic_learns_exactly_what_a_fresh_one_does():
    s = settings()
    rng = np.random.default_rng(0)
    real, fake = segment(0.0, 512, rng), segment(0.5, 512, rng)
    config = s.estimator_config("critic", seed=3)
    fresh = GANTrainer(config, (2,))
    fresh.restart_critic(3)
    fresh.train_critic(real, fake, 50, seed=3)
    reused = GANTrainer(config, (2,))
    reused.train_critic(real, segment(1.0, 512, rng), 80, seed=9)  # something else first
    reused.restart_critic(3)
    reused.train_critic(real, fake, 50, seed=3)
    for a, b in zip(fresh.critic.get_weights(), reused.critic.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_estimators_between_segments_find_log_2_and_theta():
    """JS of disjoint supports is log 2 whatever theta; a penalised critic's gap is the
    W1, theta (Arjovsky et al. 2017, Example 1)."""
    s = settings()
    rng = np.random.default_rng(1)
    real_train, real_test = segment(0.0, 2048, rng), segment(0.0, 2048, rng)
    fake_train, fake_test = segment(0.5, 2048, rng), segment(0.5, 2048, rng)
    found = {}
    for role in ("discriminator", "critic"):
        config = s.estimator_config(role, seed=0)
        trainer = GANTrainer(config, (2,))
        trainer.train_critic(real_train, fake_train, 1000, seed=0)
        found[role] = estimate_from_critic(config, trainer.critic, real_test, fake_test)
    assert found["discriminator"] == pytest.approx(LOG2, abs=0.01)
    assert found["critic"] == pytest.approx(0.5, rel=0.1)


def test_a_trained_discriminator_approaches_the_optimal_one():
    """Between N(0, 0.5^2) and N(0.5, 0.5^2), D(x) within 0.1 of D*(x) = p_r / (p_r + p_g)
    wherever either density is at least 5% of its peak (0.06 here)."""
    s = settings()
    rng = np.random.default_rng(2)
    real = rng.normal(0.0, 0.5, (4096, 1)).astype("f4")
    fake = rng.normal(0.5, 0.5, (4096, 1)).astype("f4")
    config = s.estimator_config("discriminator", seed=0)
    trainer = GANTrainer(config, (1,))
    trainer.train_critic(real, fake, 1000, seed=0)
    x = np.linspace(-2, 2.5, 181, dtype="f4")[:, None]
    d = 1 / (1 + np.exp(-np.asarray(trainer.critic(x))[:, 0]))
    p_real, p_fake = stats.norm.pdf(x[:, 0], 0, 0.5), stats.norm.pdf(x[:, 0], 0.5, 0.5)
    dense = np.maximum(p_real, p_fake) >= 0.05 * p_real.max()
    assert np.max(np.abs(d - optimal_discriminator(p_real, p_fake))[dense]) < 0.1


def test_the_minimax_gradient_vanishes_and_the_others_do_not():
    """Arjovsky & Bottou (2017) on 8 Gaussians: 1,000 discriminator updates against a
    frozen generator shrink its minimax gradient by orders of magnitude; the
    non-saturating one grows, the Wasserstein critic's stays within one order."""
    s = settings(vanishing__seeds=[0], vanishing__checkpoints=[1, 1000])
    table = theory.measure_vanishing_gradients(s).set_index(["loss", "critic_steps"])
    change = {loss: np.log10(table.loc[(loss, 1000), "gradient_norm"]
                             / table.loc[(loss, 1), "gradient_norm"])
              for loss in ("minimax", "non_saturating", "wasserstein")}
    assert change["minimax"] < -3
    assert change["non_saturating"] > 0
    assert abs(change["wasserstein"]) < 1


def test_weight_extremes_and_layer_gradients_by_hand():
    import keras

    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(3, use_bias=False)
    output = keras.layers.Dense(1, use_bias=False)
    critic = keras.Model(inputs, output(hidden(inputs)))
    hidden.kernel.assign(np.array([[0.01, -0.01, 0.005], [0.0, 0.01, -0.0099]], "f4"))
    output.kernel.assign(np.array([[1.0], [2.0], [3.0]], "f4"))
    # Each layer against its own largest |w|: 0.01, -0.01, 0.01 and -0.0099 of the
    # hidden layer are within 1% of it, and the output's 3: 5 weights of 9.
    share, scaled = weight_extremes(critic)
    assert share == pytest.approx(5 / 9) and np.abs(scaled).max() == 1.0
    # A linear critic f(x) = x W1 W2: d mean(f(fake) - f(real)) / d W1 = (mean fake -
    # mean real)^T W2^T, and / d W2 = W1^T (mean fake - mean real)^T.
    config = settings().clip_config(0.01, seed=0)
    real = np.array([[0.0, 0.0], [2.0, 0.0]], "f4")
    fake = np.array([[1.0, 1.0], [3.0, 1.0]], "f4")
    gap = (fake.mean(0) - real.mean(0))[:, None]
    w1, w2 = hidden.kernel.numpy(), output.kernel.numpy()
    expected = [np.linalg.norm(gap @ w2.T), np.linalg.norm(w1.T @ gap)]
    np.testing.assert_allclose(layer_gradient_norms(config, critic, real, fake), expected,
                               rtol=1e-5)


# ----- the claims on tables whose answer is known --------------------------------------------
def _tables(**tables) -> TheoryTables:
    empty = pd.DataFrame()
    return TheoryTables(**{name: tables.get(name, empty) for name in (
        "divergences", "gaussians", "vanishing", "mixture_finals", "mixture_curves", "lipschitz")})


def test_t2_verdicts_follow_the_paired_drop():
    s = settings()
    rows = []
    for seed in range(5):
        for loss, last in (("minimax", 1e-8), ("non_saturating", 10.0), ("wasserstein", 0.5)):
            rows += [{"seed": seed, "loss": loss, "critic_steps": 1, "gradient_norm": 1.0},
                     {"seed": seed, "loss": loss, "critic_steps": 1000,
                      "gradient_norm": last * (1 + 0.1 * seed)}]
    vanishing = pd.DataFrame(rows)
    [verdict] = claim_t2(_tables(vanishing=vanishing), s)
    assert verdict.verdict == SUPPORTED and "n = 5" in verdict.evidence
    # The minimax norm growing instead: contradicted.
    grown = vanishing.assign(gradient_norm=np.where(
        (vanishing["loss"] == "minimax") & (vanishing["critic_steps"] == 1000), 100.0,
        vanishing["gradient_norm"]))
    assert claim_t2(_tables(vanishing=grown), s)[0].verdict == CONTRADICTED


def test_t3_t4_pair_each_clipped_critic_with_the_penalty_critic_of_its_dataset_and_seed():
    s = settings()
    rows = []
    for dataset in ("8gaussians", "swissroll"):
        for seed in range(3):
            rows.append({"dataset": dataset, "seed": seed, "clip_value": np.nan,
                         "at_bound": 0.001, "log10_mean_norm": 0.1 * seed})
            for clip, norm in ((0.1, 3.0), (0.001, -12.0)):
                rows.append({"dataset": dataset, "seed": seed, "clip_value": clip,
                             "at_bound": 0.7 + 0.01 * seed, "log10_mean_norm": norm})
    t3, t4 = claim_t3_t4(_tables(lipschitz=pd.DataFrame(rows)), s)
    assert (t3.verdict, t4.verdict) == (SUPPORTED, SUPPORTED)
    assert "n = 12" in t3.evidence and "c = 0.001: -12" in t4.evidence


def test_t5_reads_rank_correlation_per_run_and_t6_pairs_runs_by_dataset_and_seed():
    s = settings()
    curves, finals = [], []
    for seed in range(3):
        for step, w1 in enumerate([1.0, 0.6, 0.4, 0.3]):
            # Once trained, the critic's gap falls with the true W1 in every run: rho = 1
            # (-0.2 if the untrained critic of step 0, gap 0, counted).
            curves.append({"dataset": "8gaussians", "variant": "wgan_gp", "seed": seed,
                           "step": step, "wasserstein_loss": True, "exact_w1": w1,
                           "w1_floor": 0.05, "critic_gap": 2 * w1 + 0.01 * seed if step else 0.0})
        for variant, modes, w1 in (("gan", 3, 0.5), ("wgan_gp", 8, 0.2), ("wgan", 3, 0.5)):
            finals.append({"dataset": "8gaussians", "variant": variant, "seed": seed,
                           "modes_covered": modes, "n_modes": 8, "high_quality": 0.5,
                           "exact_w1": w1 + 0.01 * seed})
    lipschitz = pd.DataFrame([{"dataset": "8gaussians", "seed": i, "clip_value": np.nan,
                               "w1_estimate": 0.95 + 0.01 * i, "w1_exact": 1.0}
                              for i in range(3)])
    t5 = {v.key: v for v in claim_t5(_tables(mixture_curves=pd.DataFrame(curves),
                                             lipschitz=lipschitz), s)}
    assert t5["T5.wgan_gp.tracks"].verdict == SUPPORTED
    assert "final estimate / exact W1 2" in t5["T5.wgan_gp.tracks"].evidence
    assert t5["T5.penalty_critic_value"].verdict == SUPPORTED
    t6 = {v.key: v.verdict for v in claim_t6(_tables(mixture_finals=pd.DataFrame(finals)), s)}
    # wgan_gp: all 8 modes against 3, closer in W1; wgan: the same as gan in every pair.
    assert t6 == {"T6.wgan_gp.modes": SUPPORTED, "T6.wgan_gp.w1": SUPPORTED,
                  "T6.wgan.modes": INCONCLUSIVE, "T6.wgan.w1": INCONCLUSIVE}


def test_t5_leaves_out_runs_whose_generator_did_not_move_and_reads_only_the_changing_checks():
    s = settings()
    curves = []
    for seed in range(3):
        # W1 falls over steps 1-3, then sits on its final value: the gap keeps rising
        # there, which would pull rho down if the settled checks counted.
        for step, (w1, gap) in enumerate([(1.0, 0.0), (0.6, 1.2), (0.4, 0.8), (0.3, 0.6),
                                          (0.31, 5.0), (0.3, 6.0), (0.3, 7.0)]):
            curves.append({"dataset": "8gaussians", "variant": "wgan_gp", "seed": seed,
                           "step": step, "wasserstein_loss": True, "exact_w1": w1 + 0.001 * seed,
                           "w1_floor": 0.05, "critic_gap": gap})
        # wgan never moves: its W1 stays within the floor of where it started.
        for step in range(7):
            curves.append({"dataset": "8gaussians", "variant": "wgan", "seed": seed,
                           "step": step, "wasserstein_loss": True, "exact_w1": 0.9 + 0.01 * step,
                           "w1_floor": 0.1, "critic_gap": 0.001 * step})
    verdicts = {v.key: v for v in claim_t5(_tables(mixture_curves=pd.DataFrame(curves)), s)}
    assert verdicts["T5.wgan_gp.tracks"].verdict == SUPPORTED   # rho 1 on steps 1-3
    assert "0 of 3 runs moved less than" in verdicts["T5.wgan_gp.tracks"].evidence
    assert verdicts["T5.wgan.tracks"].verdict == INCONCLUSIVE   # no run left to judge
    assert "3 of 3 runs moved less than" in verdicts["T5.wgan.tracks"].evidence
    assert "n = 0" in verdicts["T5.wgan.tracks"].evidence


def test_t6_at_equal_cpu_seconds_takes_each_run_where_the_slowest_variant_ended():
    s = settings()
    curves = []
    for seed in range(3):
        # Per CPU second gan is 4 times cheaper: at gan's end (40 s) wgan_gp has reached
        # only its check at 40 s, worse than its own end but still better than gan.
        for step in range(0, 11):
            curves.append({"dataset": "8gaussians", "variant": "wgan_gp", "seed": seed,
                           "step": step * 100, "cpu_seconds": 16.0 * step, "n_modes": 8,
                           "modes_covered": min(8, 2 + step), "high_quality": 0.5,
                           "exact_w1": 1.0 / (1 + step) + 0.001 * seed, "w1_floor": 0.05})
            curves.append({"dataset": "8gaussians", "variant": "gan", "seed": seed,
                           "step": step * 100, "cpu_seconds": 4.0 * step, "n_modes": 8,
                           "modes_covered": 3, "high_quality": 0.5,
                           "exact_w1": 0.9 + 0.001 * seed, "w1_floor": 0.05})
    table = pd.DataFrame(curves)
    equal = theory_claims.at_equal_cpu_seconds(table).set_index(["variant", "seed"])
    assert set(equal["cpu_budget"]) == {40.0}
    assert list(equal.loc["wgan_gp", "step"]) == [200] * 3   # 32 s: its last check within 40
    assert list(equal.loc["gan", "step"]) == [1000] * 3
    finals = table[table["step"] == 1000]
    t6 = {v.key: v.verdict for v in claim_t6(_tables(mixture_curves=table,
                                                      mixture_finals=finals), s)}
    assert t6["T6.wgan_gp.modes.equal_cpu"] == SUPPORTED        # 4 modes against 3
    assert t6["T6.wgan_gp.w1.equal_cpu"] == SUPPORTED           # 0.33 against 0.9
    assert t6["T6.wgan_gp.modes"] == SUPPORTED


def test_the_convergence_stop_ends_fit_at_its_window_and_the_compute_axis_counts_updates():
    s = settings()
    config = s.variant_config("wgan_gp", family(load_parameters())["wgan_gp"], 0).replace(
        model={"hidden_units": [8]}, optimizer={"batch_size": 16}, objective={"n_critic": 3},
        schedule={"steps": 40, "eval_every": 2})
    floor, limit = 0.1, 0.125   # margin 0.25
    # Inside the margin at steps 4, 6, then out at 8, then inside from 10 on: the
    # window of 3 closes at step 14.
    scripted = {2: 0.5, 4: 0.12, 6: 0.11, 8: 0.2, 10: 0.1, 12: 0.125, 14: 0.124, 16: 0.1}
    stop = theory.ConvergenceStop(theory.Convergence(margin=0.25, window=3), floor)
    assert stop.limit == pytest.approx(limit)
    trainer = GANTrainer(config, (2,))
    result = trainer.fit(np.random.default_rng(0).normal(size=(256, 2)).astype(np.float32),
                         callbacks=Callbacks(
                             evaluate=lambda step, _: {"exact_w1": scripted[step]},
                             on_evaluation=stop))
    assert result.stopped and stop.converged_at == 14 and int(trainer.step.numpy()) == 14
    rows = result.evaluations.to_dict("records")
    assert [r["step"] for r in rows] == [2, 4, 6, 8, 10, 12, 14]
    cpu = [r["cpu_seconds"] for r in rows]
    assert cpu == sorted(cpu) and cpu[0] > 0
    # Gradient evaluations: every update either optimizer made, counted by Keras.
    updates = sum(int(o.iterations.numpy()) for o in (trainer.compiled.critic_optimizer,
                                                      trainer.compiled.generator_optimizer))
    assert theory.compute_axis(rows[-1], 3)["gradient_evaluations"] == updates == 14 * 4


def test_killed_mixtures_resume_from_their_store_and_equal_an_uninterrupted_run(tmp_path, spawn):
    from tests.mixtures_worker import mixture_settings

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    worker = [sys.executable, str(Path(__file__).with_name("mixtures_worker.py")),
              str(tmp_path / "killed"), str(tmp_path / "curves.csv"), tracking]
    proc = spawn(worker, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Killed once the second run (wgan_gp) has a checkpoint: the first (gan) is kept.
    checkpoints = tmp_path / "killed/checkpoints"
    deadline = time.time() + 240
    while not list(checkpoints.glob("*/8gaussians-wgan_gp-seed0/checkpoint")):
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "curves.csv").exists()

    rerun = spawn(worker, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output[-3000:]
    assert "1 of 2 runs trained in this process" in output, output[-3000:]
    assert re.search(r"wgan_gp: training from step [1-9]\d* to 200", output), output[-3000:]
    resumed = pd.read_csv(tmp_path / "curves.csv")

    # The reference: the same runs in this process, straight through, kept nowhere.
    s = mixture_settings(str(tmp_path / "uninterrupted"))
    s = dataclasses.replace(s, mixtures=dataclasses.replace(s.mixtures, storage=None))
    reference, _, _ = theory.train_mixtures(s, family(load_parameters()))
    # Everything but the CPU time each evaluation came at.
    pd.testing.assert_frame_equal(resumed.drop(columns="cpu_seconds"),
                                  reference.drop(columns="cpu_seconds"), check_dtype=False)
    assert list(resumed["step"]) == [0, 50, 100, 150, 200] * 2

    # What the killed process left RUNNING in MLflow (its own run and the network it was
    # training) the rerun ended as KILLED; every other run finished.
    client = mlflow.MlflowClient(tracking)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    status = sorted((r.data.tags.get("variant", "process"), r.info.status) for r in runs)
    assert status == [("gan", "FINISHED"), ("process", "FINISHED"), ("process", "KILLED"),
                      ("wgan_gp", "FINISHED"), ("wgan_gp", "KILLED")], status


# ----- the pipeline end to end ----------------------------------------------------------------
@pytest.mark.slow
def test_the_quick_theory_pipeline_reports_every_claim_and_tracks_every_network(kedro_project):
    # The quick environment at one seed: every experiment, figure and claim (the
    # verdicts themselves need seeds; their rules are tested above).
    run_pipeline(kedro_project, "theory", env="quick", params={"theory": {
        "seeds": [0], "vanishing": {"seeds": [0], "checkpoints": [1, 30]},
        "divergences": {"thetas": [0.0, 1.0]},
        "mixtures": {"steps": 100, "eval_every": 50}}})
    folder = kedro_project / "data/08_reporting/theory-quick"
    for name in FIGURES:
        assert (folder / f"{name}.png").stat().st_size > 5000, name
    summary = json.loads((folder / "theory_summary.json").read_text())
    keys = [v["key"] for v in summary["verdicts"]]
    assert [k.split(".")[0] for k in keys] == sorted(k.split(".")[0] for k in keys)
    assert {k.split(".")[0] for k in keys} == {"T1", "T2", "T3", "T4", "T5", "T6"}
    assert all(v["verdict"] in (SUPPORTED, CONTRADICTED, INCONCLUSIVE)
               for v in summary["verdicts"])
    html = (folder / "theory_report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES) and "T1.closed_form" in html
    # The closed forms are in the divergence table as written.
    table = pd.read_csv(folder / "divergences.csv")
    exact = table[(table["source"] == "exact") & (table["theta"] == 1.0)].set_index("quantity")
    assert exact.loc["js", "value"] == pytest.approx(LOG2) and exact.loc["w1", "value"] == 1.0

    client = mlflow.MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(experiments)
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    s = TheorySettings.from_params(load_parameters(env="quick")["theory"],
                                   family(load_parameters()))
    s = dataclasses.replace(s, seeds=(0,), vanishing=dataclasses.replace(s.vanishing, seeds=(0,)),
                            divergences=dataclasses.replace(s.divergences, thetas=(0.0, 1.0)))
    networks = {
        "divergences": 2 * len(s.divergences.thetas) * len(s.seeds),
        "gaussians": 2 * len(s.divergences.gaussian_distances) * len(s.seeds),
        "vanishing gradients": 2 * len(s.vanishing.seeds),
        "mixtures": len(s.mixtures.datasets) * len(s.mixtures.variants) * len(s.seeds),
        "lipschitz": (len(s.lipschitz.datasets) * (len(s.lipschitz.clip_values) + 1)
                      * len(s.seeds))}
    found = pd.Series([r.data.tags["theory"] for r in children]).value_counts().to_dict()
    assert found == networks
    assert all(r.info.status == "FINISHED" for r in children)
    mixture = next(r for r in children if r.data.tags["theory"] == "mixtures")
    assert mixture.data.params["training.model.architecture"] == "points"
    assert "final_exact_w1" in mixture.data.metrics
    history = client.get_metric_history(mixture.info.run_id, "exact_w1")
    assert [m.step for m in history] == [0, 50, 100]
    tags = parent.data.tags
    assert {f"verdict.{k}" for k in keys} <= set(tags)
    assert "theory/theory_report.html" in {a.path for a in client.list_artifacts(
        parent.info.run_id, "theory")}


def test_a_pipe_in_a_markdown_cell_does_not_break_the_row():
    from wgan_lab.reporting.kit import markdown_table

    table = pd.DataFrame({"statement": ["W1 = |theta|"], "n": [3]}, index=pd.Index(["T1"], name="claim"))
    assert markdown_table(table).splitlines()[2] == "| T1 | W1 = \\|theta\\| | 3 |"
