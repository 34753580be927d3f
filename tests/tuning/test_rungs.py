"""A multi-fidelity search's checks fall on its pruner's rungs and report there."""
import numpy as np
import optuna

from tests.configs import tiny
from wgan_lab.experiments.search import PRUNERS, TuneSettings, check_reached
from wgan_lab.gan.trainer import Budget, Callbacks, GANTrainer


def settings(**tune):
    values = {"variant": "gan", "storage": "sqlite://", "search_space": {"gan": {
        "optimizer.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3}}}, **tune}
    return TuneSettings.from_params(values, {"gan": {}})


def test_hyperband_rungs_are_checks_in_cpu_seconds_and_report_at_their_amount():
    tune = settings(budget={"unit": "cpu_seconds", "amount": 840}, checks=0,
                    pruner={"name": "hyperband", "min_resource": 60, "reduction_factor": 3})
    # 60 x 3^k below the budget: every Hyperband bracket's rungs.
    assert tune.trial_budget.check_points() == [60, 180, 540]
    assert isinstance(tune.make_pruner(), optuna.pruners.HyperbandPruner)
    assert check_reached([60, 180, 540], 60.4) == 60
    assert check_reached([60, 180, 540], 539.9) == 180
    assert check_reached([60, 180, 540], 612.0) == 540
    # Evenly spaced checks and rungs together, each once.
    both = settings(budget={"unit": "steps", "amount": 900}, checks=3,
                    pruner={"name": "successive_halving", "min_resource": 100})
    assert both.trial_budget.check_points() == [100, 300, 600, 900]
    assert "hyperband" in PRUNERS and "successive_halving" in PRUNERS


def test_a_check_runs_at_the_first_step_boundary_past_its_cpu_second_point():
    config = tiny("gan", schedule={"steps": 10**6, "log_every": 5, "eval_every": 0},
                  runtime={"steps_per_call": 5})
    images = np.random.default_rng(0).uniform(-1, 1, (64, 8, 8, 1)).astype(np.float32)
    trainer = GANTrainer(config, images.shape[1:])
    seen = []

    def on_evaluation(step, spent, scores):
        seen.append(spent["cpu_seconds"])

    # Tracing the step costs seconds of CPU: traced first, so the checks below fall
    # between step boundaries of the traced step.
    base = trainer.fit(images, budget=Budget("steps", 5)).spent["cpu_seconds"]
    budget = Budget("cpu_seconds", base + 1.5, at=(base + 0.5, base + 1.0))
    trainer.fit(images, callbacks=Callbacks(evaluate=lambda step, g: {"fid": 0.0},
                                            on_evaluation=on_evaluation), budget=budget)
    # One evaluation per point, each at the first step boundary past it.
    assert len(seen) == 2
    assert base + 0.5 <= seen[0] < base + 1.0 <= seen[1] < base + 1.5
