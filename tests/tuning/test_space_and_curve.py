"""Search spaces checked before training; the budget curve against a hand count."""
import numpy as np
import optuna
import pytest

from tests.configs import tiny_params
from wgan_lab.core import ConfigError
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.reporting.tune import budget_comparison, budget_curve, build_budget_comparison
from wgan_lab.experiments.space import apply, as_parameters, parse_space
from wgan_lab.variants import family, load_parameters
from wgan_lab.experiments.search import TuneSettings, default_study_name, open_study, stored_studies


def test_every_configured_space_is_valid_and_keeps_what_defines_its_variant():
    parameters = load_parameters()
    spaces = parameters["tune"]["search_space"]
    for variant in family(parameters):
        settings = TuneSettings.from_params({**parameters["tune"], "variant": variant},
                                            family(parameters))
        paths = {d.path for d in settings.dimensions}
        assert {"optimizer.learning_rate", "optimizer.critic_learning_rate"} <= paths
        assert not paths & {"objective.loss", "objective.regularizer"}
        assert variant in spaces


@pytest.mark.parametrize("path, message", [
    ("optimizer.learnin_rate", "tune.search_space.wgan.optimizer.learnin_rate: not a searchable"),
    ("objective.regularizer", "tune.search_space.wgan.objective.regularizer: defines the variant"),
    ("schedule.steps", "tune.search_space.wgan.schedule.steps: not a searchable"),
])
def test_a_bad_path_is_named(path, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        parse_space({path: {"type": "float", "low": 0.1, "high": 1.0}}, "tune.search_space.wgan")


def test_drawn_values_make_a_valid_configuration():
    dimensions = parse_space({
        "optimizer.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
        "objective.n_critic": {"type": "int", "low": 1, "high": 5},
        "model.hidden_units": {"type": "categorical", "choices": [[16, 16], [32, 64, 32]]},
    }, "space")
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        values = {d.path: d.suggest(trial) for d in dimensions}
        assert values["model.hidden_units"] in ([16, 16], [32, 64, 32])
        config = TrainingConfig.from_params(apply(tiny_params("wgan"), values))
        assert config.model.hidden_units == tuple(values["model.hidden_units"])
        assert 1 <= config.objective.n_critic <= 5
        # What Optuna stored decodes back to the drawn value.
        decoded = {d.path: d.decode(trial.params[d.path]) for d in dimensions}
        assert decoded == values
        study.tell(trial, 1.0)
    assert as_parameters("wgan", {"optimizer.learning_rate": 0.1, "objective.n_critic": 2}) == {
        "wgan": {"training": {"optimizer": {"learning_rate": 0.1}, "objective": {"n_critic": 2}}}}


def test_budget_curve_matches_a_hand_count():
    # Three trials: 5, pruned (no value), 3. Of the 6 orders, the best of the first
    # trial is 5 in 2, none in 2, 3 in 2; of the first two: 3 in 4 orders, 5 in 2.
    curve = budget_curve(np.array([5.0, np.nan, 3.0]))
    assert curve["as_run"].tolist() == [5.0, 5.0, 3.0]
    assert curve["low"].tolist() == [3.0, 3.0, 3.0]
    assert curve["high"][0] == np.inf and curve["high"][1] == 5.0 and curve["high"][2] == 3.0
    assert curve["median"].tolist() == [5.0, 3.0, 3.0]


def test_a_report_of_a_study_that_does_not_exist_says_so(tmp_path):
    parameters = load_parameters()
    settings = TuneSettings.from_params(
        {**parameters["tune"], "variant": "gan", "storage": f"sqlite:///{tmp_path / 'o.db'}"},
        family(parameters))
    with pytest.raises(ConfigError, match="no study 'gan-cpu_seconds-300' in sqlite:///.*none"):
        open_study(settings, create=False)
    open_study(settings)  # the tune pipeline creates it
    assert open_study(settings, create=False).study_name == "gan-cpu_seconds-300"


# The test writes trials of chosen states with ask/tell, which Optuna warns about on a
# storage with heartbeats; the project's workers run trials through optimize.
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used:UserWarning")
def test_budget_comparison_puts_each_stored_study_of_the_budget_on_one_axis(tmp_path):
    parameters = load_parameters()
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    settings = {v: TuneSettings.from_params({**parameters["tune"], "variant": v,
                                             "storage": storage}, family(parameters))
                for v in ("gan", "wgan", "wgan_gp")}
    scores = {"gan": [30.0, 10.0, 20.0, None], "wgan": [5.0]}  # None: pruned
    for variant, values in scores.items():
        study = open_study(settings[variant])
        for value in values:
            trial = study.ask()
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            else:
                study.tell(trial, value)
    study = open_study(settings["wgan"])
    study.ask()  # running: not finished, not counted
    names = {v: default_study_name(v, "cpu_seconds", 300) for v in ("gan", "wgan", "wgan_gp")}
    studies = stored_studies(settings["gan"], names)
    assert set(studies) == {"gan", "wgan"}  # wgan_gp was never searched
    _, table = budget_comparison(studies)
    gan = table[table["variant"] == "gan"].set_index("trials")["median"]
    # One trial drawn from {30, 10, 20, nothing}, each a quarter: the median is 20.
    assert gan[1] == 20.0 and gan[4] == 10.0 and len(gan) == 4
    wgan = table[table["variant"] == "wgan"].set_index("trials")["median"]
    assert wgan.to_dict() == {1: 5.0}
    html, markdown, _ = build_budget_comparison(studies, settings["gan"])
    assert "gan (4 trials), wgan (1 trial)" in markdown
    assert "| 4 | 10.0 | - |" in markdown and "data:image/png;base64," in html


def test_every_searched_variant_has_a_curve_of_its_own():
    """More searches than the ten colours: each curve still looks like no other."""
    studies = {}
    for i in range(13):
        study = optuna.create_study()
        study.tell(study.ask(), 50.0 + i)
        studies[f"variant_{i}"] = study
    figure, _ = budget_comparison(studies)
    lines = [line for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert len(lines) == 13
    assert len({(str(line.get_color()), line.get_linestyle(), line.get_marker())
                for line in lines}) == 13
