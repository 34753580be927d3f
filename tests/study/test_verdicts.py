"""The study's statistics on runs whose answer is known by construction."""
import numpy as np
import pytest
from scipy import stats

from wgan_lab.evaluation.statistics import CONTRADICTED, INCONCLUSIVE, SUPPORTED
from wgan_lab.experiments.analysis import RunRecord, run_measures, runs_table, summary, verdicts
from wgan_lab.experiments.seeds import StudySettings
from wgan_lab.reporting.study import build_study_report
from wgan_lab.variants import family, load_parameters


def settings(**overrides):
    parameters = load_parameters()
    study = {**parameters["study"], "variants": ["gan", "wgan"], "seeds": [0, 1, 2, 3, 4],
             **overrides}
    return StudySettings.from_params(study, family(parameters))


def curve(fids, estimates, classes=10):
    return [{"step": 100.0 * (i + 1), "seconds": float(i), "fid": f, "classes_covered": classes,
             "wasserstein_estimate": e} for i, (f, e) in enumerate(zip(fids, estimates))]


def record(variant, seed, fid, tracking=True, wobble=0.0, status="complete", error=""):
    fids = np.linspace(300, fid, 10) + wobble * np.array([0, 1, -1] * 3 + [0])
    # The estimate falls with FID but for a little noise (rho near 1), or moves
    # against it (rho near -1); seeded per run so that no two runs tie.
    noise = np.random.default_rng(seed + 100 * tracking).normal(0, 0.4, 10)
    estimates = (fids if tracking else -fids) / 100 + noise
    return RunRecord(variant, seed, status, seed, 1000, 60.0, {"fid": fid, "recall": 0.5},
                     curve(fids, estimates), 10, error)


def verdict_of(claims, key):
    return next(c for c in claims if c.key == key).verdict


def test_separated_groups_give_verdicts_in_their_direction():
    gan = [record("gan", s, fid, tracking=False, wobble=30) for s, fid in
           enumerate([50.0, 52.0, 55.0, 53.0, 51.0])]
    wgan = [record("wgan", s, fid, wobble=1) for s, fid in enumerate([30.0, 31.0, 29.0, 32.0, 33.0])]
    table = runs_table(gan + wgan)
    claims = verdicts(table, settings(), ["wgan"], "gan")
    assert verdict_of(claims, "a.wgan.vs_gan") == SUPPORTED
    assert verdict_of(claims, "b.wgan.tracks") == SUPPORTED       # rho near 1 in every run
    assert verdict_of(claims, "b.wgan.vs_gan") == SUPPORTED       # near 1 against near -1
    assert verdict_of(claims, "c.wgan.vs_gan") == SUPPORTED              # wobble 1 against 30
    # The other way round, the same evidence contradicts the claims.
    swapped = runs_table([record("gan", r.seed, r.metrics["fid"], wobble=1) for r in wgan]
                         + [record("wgan", r.seed, r.metrics["fid"], tracking=False, wobble=30)
                            for r in gan])
    claims = verdicts(swapped, settings(), ["wgan"], "gan")
    assert verdict_of(claims, "a.wgan.vs_gan") == CONTRADICTED
    assert verdict_of(claims, "b.wgan.tracks") == CONTRADICTED
    assert verdict_of(claims, "c.wgan.vs_gan") == CONTRADICTED


def test_overlapping_groups_and_too_few_runs_are_inconclusive():
    rng = np.random.default_rng(0)
    same = [record(v, s, float(f)) for v in ("gan", "wgan")
            for s, f in enumerate(rng.normal(40, 5, 5))]
    claims = verdicts(runs_table(same), settings(), ["wgan"], "gan")
    assert verdict_of(claims, "a.wgan.vs_gan") == INCONCLUSIVE
    one_each = runs_table([record("gan", 0, 50.0), record("wgan", 0, 10.0)])
    assert verdict_of(verdicts(one_each, settings(), ["wgan"], "gan"), "a.wgan.vs_gan") == INCONCLUSIVE


def test_run_measures_match_independent_computations():
    fids = [300.0, 200.0, 150.0, 120.0, 100.0, 90.0, 95.0, 85.0, 88.0, 80.0]
    estimates = [5.0, 4.0, 3.5, 3.6, 2.0, 1.9, 2.2, 1.5, 1.6, 1.0]
    classes = [10, 10, 7, 10, 10, 10, 10, 10, 6, 10]
    checks = [{**c, "classes_covered": k} for c, k in zip(curve(fids, estimates), classes)]
    measures = run_measures(checks, n_classes=10)
    assert measures["estimate_fid_spearman"] == pytest.approx(stats.spearmanr(estimates, fids)[0])
    # Late = the last 30% of steps (>= 700): 95, 85, 88, 80 around their linear trend.
    late_steps, late = np.array([700.0, 800.0, 900.0, 1000.0]), np.array([95.0, 85.0, 88.0, 80.0])
    trend = np.polyval(np.polyfit(late_steps, late, 1), late_steps)
    assert measures["late_fid_jitter"] == pytest.approx(np.std(late - trend) / late.mean())
    # Collapse: below 80% of the classes after the first 20% of steps: 7 and 6 classes.
    assert measures["collapse_events"] == 2


def test_a_failed_run_is_listed_with_its_error_and_left_out_of_the_statistics():
    runs = [record("gan", s, 50.0 + s) for s in range(3)] + [record("wgan", s, 30.0 + s)
                                                             for s in range(2)]
    failed = record("wgan", 2, 1.0, status="failed",
                    error="NonFiniteLossError: wgan: critic_loss is nan at step 40")
    table = runs_table(runs + [failed])
    wgan_fid = summary(table, settings()).query("variant == 'wgan' and metric == 'fid'").iloc[0]
    assert wgan_fid["n"] == 2 and wgan_fid["mean"] == pytest.approx(30.5)
    report = build_study_report(runs + [failed], settings(), {"wgan"}, "test protocol")
    assert "critic_loss is nan at step 40" in report.html
    assert "| wgan | 2 | failed | NonFiniteLossError" in report.markdown
    assert report.summary["runs"] == {"complete": 5, "failed": 1}


def test_every_variant_of_the_configured_study_has_a_look_of_its_own_in_the_figures():
    """More variants than the ten colours: without more than colour, some would look alike."""
    study = load_parameters()["study"]["variants"]
    assert len(study) > 10   # what makes the test bite
    runs = [record(v, s, 40.0 + i + s) for i, v in enumerate(study) for s in (0, 1)]
    report = build_study_report(runs, settings(variants=study), set(), "test protocol")
    for name in ("fid_against_step", "expected_best_of_k"):
        lines = [line for line in report.figures[name].axes[0].get_lines()
                 if not line.get_label().startswith("_")]
        assert sorted(line.get_label() for line in lines) == sorted(study), name
        looks = {(str(line.get_color()), line.get_linestyle(), line.get_marker()) for line in lines}
        assert len(looks) == len(study), name
