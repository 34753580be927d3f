"""The evidence axes of the study: budgets, evaluators, a fresh critic, comparisons.

Each statistic is checked against a computation written here independently
(pairs counted by hand for Kendall's tau, SciPy's Spearman on a truncated
curve, a translation whose W1 is known in closed form). That a study on real
MNIST stores and reports every axis is checked in test_study_pipeline.py's
two-process run, which uses the quick environment's axes.
"""
from itertools import combinations

import numpy as np
import pytest
from scipy import stats

from wgan_lab.core import ConfigError
from wgan_lab.evaluation.feature_space import fit_second_feature_space
from wgan_lab.evaluation.fresh_critic import FreshCriticW1
from wgan_lab.evaluation.statistics import CONTRADICTED, INCONCLUSIVE, SUPPORTED, kendall_tau
from wgan_lab.experiments.analysis import (RunRecord, all_verdicts, comparisons_of, robustness,
                                           runs_table, verdict_matrix)
from wgan_lab.experiments.seeds import StudySettings
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.variants import family, load_parameters

FAMILY = family(load_parameters())


def settings(**overrides):
    study = {**load_parameters()["study"], **overrides}
    return StudySettings.from_params(study, FAMILY)


# ----- Kendall's tau ---------------------------------------------------------------
def tau_by_hand(x, y):
    """(concordant - discordant) / pairs, for values without ties."""
    signs = [np.sign(x[i] - x[j]) * np.sign(y[i] - y[j]) for i, j in combinations(range(len(x)), 2)]
    return sum(signs) / len(signs)


def test_kendall_tau_counts_pairs_and_its_interval_holds_the_estimate():
    rng = np.random.default_rng(3)
    x = rng.normal(size=15)
    y = x + rng.normal(scale=0.8, size=15)
    tau = kendall_tau(x, y, resamples=500)
    assert tau.estimate == pytest.approx(tau_by_hand(x, y))
    assert tau.low < tau.estimate < tau.high and tau.n == 15
    # Any resample of perfectly ranked pairs is perfectly ranked: the interval is [1, 1].
    assert kendall_tau(x, 2 * x + 5, resamples=200).low == pytest.approx(1.0)
    assert kendall_tau(x, -x, resamples=200).high == pytest.approx(-1.0)
    # Missing values leave their pair out.
    with_missing = kendall_tau(np.append(x, np.nan), np.append(y, 1.0), resamples=200)
    assert with_missing.n == 15 and with_missing.estimate == pytest.approx(tau.estimate)


# ----- budgets ---------------------------------------------------------------------
def budget_record(variant, seed, final_fid, early_fid, fids, estimates):
    checks = [{"step": 10.0 * (i + 1), "seconds": float(i), "fid": f, "classes_covered": 10,
               "wasserstein_estimate": e} for i, (f, e) in enumerate(zip(fids, estimates))]
    return RunRecord(variant, seed, "complete", seed, 100, 60.0, {"fid": final_fid}, checks, 10,
                     by_budget={"60": {"steps": 50, "train_seconds": 30.0,
                                       "metrics": {"fid": early_fid}},
                                "240": {"steps": 100, "train_seconds": 60.0,
                                        "metrics": {"fid": final_fid}}})


def test_a_run_at_an_earlier_budget_has_its_metrics_and_checks_from_then():
    fids = [300.0, 250.0, 260.0, 200.0, 150.0, 160.0, 120.0, 90.0, 95.0, 80.0]
    estimates = [3.0, 2.0, 2.5, 1.8, 1.0, 0.5, 0.4, 0.45, 0.3, 0.2]
    run = budget_record("wgan", 0, 80.0, 150.0, fids, estimates)
    early = runs_table([run], 60).iloc[0]
    assert early["fid"] == 150.0 and early["steps"] == 50
    # Spearman's rho over the five checks up to step 50 only.
    assert early["estimate_fid_spearman"] == pytest.approx(
        stats.spearmanr(estimates[:5], fids[:5])[0])
    final = runs_table([run]).iloc[0]
    assert final["fid"] == 80.0
    assert final["estimate_fid_spearman"] == pytest.approx(stats.spearmanr(estimates, fids)[0])
    # A run stored before budgets existed has nothing at an earlier one.
    plain = RunRecord("wgan", 0, "complete", 0, 100, 60.0, {"fid": 80.0}, run.curve, 10)
    assert "fid" not in runs_table([plain], 60) and runs_table([plain]).iloc[0]["fid"] == 80.0


def test_verdicts_at_each_budget_can_differ():
    """gan leads at the early budget and wgan at the end: two opposite verdicts."""
    up, down = list(np.linspace(300, 50, 10)), list(np.linspace(3, 0.5, 10))
    runs = ([budget_record("gan", s, 60.0 + s, 100.0 + s, up, down) for s in range(4)]
            + [budget_record("wgan", s, 30.0 + s, 200.0 + s, up, down) for s in range(4)])
    study = settings(variants=["gan", "wgan"], seeds=[0, 1, 2, 3], earlier_budgets=[60],
                     comparisons=[{"name": "loss", "baseline": "gan", "variants": ["wgan"]}])
    claims = {v.key: v for v in all_verdicts(runs, study, {"wgan"})}
    assert claims["a.wgan.vs_gan"].verdict == SUPPORTED
    assert claims["a.wgan.vs_gan.at_60"].verdict == CONTRADICTED
    assert claims["a.wgan.vs_gan.at_60"].budget == "60"


# ----- evaluators ------------------------------------------------------------------
def evaluated(variant, seed, fid, second, swd):
    return RunRecord(variant, seed, "complete", seed, 100, 60.0,
                     {"fid": fid, "second_fid": second, "sliced_wasserstein": swd}, [], 10)


def test_a_quality_verdict_is_robust_only_when_every_evaluator_agrees():
    study = settings(variants=["gan", "wgan"], seeds=[0, 1, 2, 3, 4], earlier_budgets=[],
                     budget={"unit": "steps", "amount": 100},
                     comparisons=[{"name": "loss", "baseline": "gan", "variants": ["wgan"]}])
    # wgan is better in the first two evaluators; the pixel distance sees no difference.
    rng = np.random.default_rng(0)
    runs = ([evaluated("gan", s, 50 + s, 20 + s, swd) for s, swd in enumerate(rng.normal(1, .1, 5))]
            + [evaluated("wgan", s, 30 + s, 10 + s, swd)
               for s, swd in enumerate(rng.normal(1, .1, 5))])
    claims = all_verdicts(runs, study, {"wgan"})
    by_evaluator = {v.evaluator: v.verdict for v in claims if v.row == "a.wgan.vs_gan"}
    assert by_evaluator == {"classifier": SUPPORTED, "second": SUPPORTED, "pixels": INCONCLUSIVE}
    assert robustness(claims) == {("a.wgan.vs_gan", "100"): "not robust"}
    agreeing = [evaluated(r.variant, r.seed, r.metrics["fid"], r.metrics["second_fid"],
                          r.metrics["fid"] / 100) for r in runs]
    assert robustness(all_verdicts(agreeing, study, {"wgan"})) == {
        ("a.wgan.vs_gan", "100"): "robust"}
    matrix = verdict_matrix(claims, "mnist")
    row = matrix[matrix["row"] == "a.wgan.vs_gan"].iloc[0]
    assert (row["dataset"], row["100 classifier"], row["100 pixels"], row["100 robust"]) == (
        "mnist", SUPPORTED, INCONCLUSIVE, "not robust")


def test_comparisons_leave_out_pairs_the_study_lacks_and_bad_ones_fail():
    study = settings(variants=["gan", "wgan", "gan_paper"], seeds=[0])
    kept = {(c.name, c.baseline, c.variants) for c in comparisons_of(study, {"wgan"})}
    assert ("loss, tuned recipes", "gan", ("wgan",)) in kept
    assert all(c.baseline in study.variants for _, c_baseline, _ in kept for c in [study]
               if c_baseline) and ("EMA", "gan_no_ema", ("gan",)) not in kept
    assert ("recipe, tuned vs paper", "gan_paper", ("gan",)) in kept
    with pytest.raises(ConfigError, match=r"study.comparisons\[0\] \(x\): unknown variant 'wgann'"):
        settings(comparisons=[{"name": "x", "baseline": "gan", "variants": ["wgann"]}])
    with pytest.raises(ConfigError, match="study.earlier_budgets: increasing amounts below"):
        settings(earlier_budgets=[120, 60])
    with pytest.raises(ConfigError, match="study.earlier_budgets"):
        settings(earlier_budgets=[240])
    with pytest.raises(ConfigError, match="study.fresh_critic.variant: needs a Wasserstein critic"):
        settings(fresh_critic={"variant": "gan_paper", "steps": 10})


def test_the_second_evaluator_is_another_network_cached_apart(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 64)
    # Two classes told apart by brightness: any classifier learns them in one epoch.
    images = (np.where(labels[:, None, None, None] == 1, 0.5, -0.5)
              + rng.normal(0, 0.1, (128, 8, 8, 1))).astype(np.float32)
    evaluation = {"classifier_dir": str(tmp_path / "first"),
                  "second_classifier_dir": str(tmp_path / "second"),
                  "second_classifier": {"architecture": "mlp", "epochs": 1, "seed": 1,
                                        "feature_dim": 16}}
    space, info = fit_second_feature_space(images, labels, images, labels, evaluation)
    assert info["config"]["architecture"] == "mlp" and info["config"]["seed"] == 1
    assert not any("conv" in layer.name for layer in space.extractor.classifier.layers)
    features, probabilities = space.extractor(images[:5])
    assert features.shape == (5, 16) and probabilities.shape == (5, 2)
    assert (tmp_path / "second" / "classifier.keras").is_file()
    assert not (tmp_path / "first").exists()
    unlabelled, _ = fit_second_feature_space(images, np.full(128, -1), images, labels, evaluation)
    assert unlabelled.extractor is None
    with pytest.raises(ConfigError, match="unknown classifier architecture 'resnet'"):
        fit_second_feature_space(images, labels, images, labels, {
            **evaluation, "second_classifier": {"architecture": "resnet"}})


# ----- a fresh critic's W1 ---------------------------------------------------------
class PoolGenerator:
    """Samples drawn (seeded by the noise) from a fixed pool of images: a generator
    whose distribution is known."""

    input_shape = (None, 4)

    def __init__(self, pool):
        self.pool = pool

    def __call__(self, noise, training=False):
        noise = np.asarray(noise)
        rng = np.random.default_rng(int(abs(noise[0, 0]) * 1e6))
        return self.pool[rng.choice(len(self.pool), len(noise))]


def test_a_fresh_critic_finds_the_known_distance_of_a_translation():
    """Translating a distribution by v moves it exactly |v| in W1: shifting all 64 pixels
    by 0.25 gives 0.25 x 8 = 2. The same distribution gives 0."""
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 0.5, (4000, 8, 8, 1)).astype(np.float32)
    train, test = real[:2000], real[2000:]
    probe = TrainingConfig.from_params(
        {**FAMILY["wgan_gp_paper"], "runtime": {"distribution": "default"},
         "optimizer": {**FAMILY["wgan_gp_paper"]["optimizer"], "learning_rate": 1e-3}},
        prefix="probe")
    estimate = FreshCriticW1(probe, train, test, steps=300, samples=1000, seed=0)
    shifted = estimate(PoolGenerator(rng.uniform(-1, 0.5, (2000, 8, 8, 1)).astype(np.float32)
                                     + 0.25))
    same = estimate(PoolGenerator(rng.uniform(-1, 0.5, (2000, 8, 8, 1)).astype(np.float32)))
    # Near the distance (the penalty bounds the gradient softly, so a little above is
    # possible); nothing near it for equal data.
    assert 1.4 < shifted < 2.25, shifted
    assert abs(same) < 0.3, same


# ----- more seeds later ------------------------------------------------------------
def test_more_seeds_or_variants_extend_a_stored_study_and_nothing_else_does(tmp_path):
    """Three seeds give no permutation p below 0.1; a fourth is added to the same job
    list, which queues only the new jobs, and so does a new variant. Other changes
    are still refused."""
    from optuna.trial import TrialState

    from wgan_lab.experiments.seeds import JOBS_ATTR, job_of, open_job_store, run_jobs

    storage = f"sqlite:///{tmp_path / 'jobs.db'}"
    three = settings(name="s", variants=["gan", "wgan"], seeds=[0, 1, 2], storage=storage)
    store = open_job_store(three)
    assert len(store.get_trials(states=(TrialState.WAITING,))) == 6
    four = settings(name="s", variants=["gan", "wgan"], seeds=[0, 1, 2, 3], storage=storage)
    store = open_job_store(four)
    queued = [job_of(t) or tuple(t.system_attrs["fixed_params"].values())
              for t in store.get_trials(states=(TrialState.WAITING,))]
    assert sorted(queued[6:]) == [("gan", 3), ("wgan", 3)]
    # The objective runs them: a new seed is no parameter value Optuna would refuse.
    ran = []
    run_jobs(store, lambda trial, variant, seed: ran.append((variant, seed)) or 1.0,
             poll_seconds=0.01)
    assert sorted(ran) == sorted(four.jobs)
    assert [tuple(job) for job in store.user_attrs[JOBS_ATTR]] == four.jobs
    # Opening it again with the same settings adds nothing.
    assert len(open_job_store(four).get_trials()) == 8
    for changed in ({"seeds": [0, 1]}, {"budget": {"unit": "cpu_seconds", "amount": 480}},
                    {"seeds": [0, 1, 2, 3, 4], "earlier_budgets": [30]}):
        with pytest.raises(ConfigError, match="was started with other settings"):
            open_job_store(settings(**{"name": "s", "variants": ["gan", "wgan"],
                                       "seeds": [0, 1, 2, 3], "storage": storage, **changed}))
    # A variant added: its jobs are appended, not interleaved as the parameters order
    # them, and a second process with the same parameters joins without an error.
    more = settings(name="s", variants=["gan", "wgan", "wgan_gp"], seeds=[0, 1, 2, 3],
                    storage=storage)
    open_job_store(more)
    joined = open_job_store(more)
    assert [tuple(job) for job in joined.user_attrs[JOBS_ATTR]] != more.jobs
    assert sorted(tuple(job) for job in joined.user_attrs[JOBS_ATTR]) == sorted(more.jobs)
    assert len(joined.get_trials()) == 12
    # The same variants in another order are the same study (a team's second process
    # is not refused for listing them as it likes); a new seed extends it from there.
    reordered = settings(name="s", variants=["wgan_gp", "gan", "wgan"], seeds=[0, 1, 2, 3],
                         storage=storage)
    assert len(open_job_store(reordered).get_trials()) == 12
    assert len(open_job_store(settings(name="s", variants=["wgan", "wgan_gp", "gan"],
                                       seeds=[0, 1, 2, 3, 4], storage=storage)
                              ).get_trials()) == 15


def test_a_variant_whose_settings_changed_is_not_taken_from_a_stored_study(tmp_path):
    """Jobs are named by variant: a stored run of `gan` is not today's `gan` once its
    defaults change, and the study says so instead of reporting the old run."""
    import copy

    from wgan_lab.core import Registry
    from wgan_lab.experiments.seeds import VARIANT_SETTINGS_ATTR, open_job_store, variant_settings

    study = settings(name="s", variants=["gan", "wgan"], seeds=[0],
                     storage=f"sqlite:///{tmp_path / 'jobs.db'}")
    before = open_job_store(study)                # a store from before the record
    assert VARIANT_SETTINGS_ATTR not in before.user_attrs
    recorded = variant_settings(study, FAMILY)
    assert open_job_store(study, variants=recorded).user_attrs[VARIANT_SETTINGS_ATTR] == recorded

    changed = copy.deepcopy(dict(FAMILY))
    changed["wgan"]["optimizer"]["learning_rate"] *= 2
    with pytest.raises(ConfigError, match=r"the settings of wgan changed since the study "
                                          r"stored their runs; name a new study"):
        open_job_store(study, variants=variant_settings(study, Registry("variant", changed)))
    # A longer schedule does not shape a study's runs (they train its budget).
    longer = copy.deepcopy(dict(FAMILY))
    longer["gan"]["schedule"]["steps"] += 1000
    assert variant_settings(study, Registry("variant", longer)) == recorded
