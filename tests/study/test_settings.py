"""The study's and the search's settings: typed, every default declared once, any
budget unit the trainer has."""
import pytest

from wgan_lab.core import ConfigError
from wgan_lab.experiments.search import TuneSettings
from wgan_lab.experiments.seeds import StudySettings, job_budget
from wgan_lab.gan.trainer import BUDGET_UNITS, Budget
from wgan_lab.variants import family, load_parameters

FAMILY = family(load_parameters())
STUDY = {"name": "s", "variants": "gan+wgan", "seeds": [0, 1], "storage": "sqlite:///x.db"}


@pytest.mark.parametrize("unit", BUDGET_UNITS)
def test_a_study_takes_every_budget_unit_of_the_trainer(unit):
    settings = StudySettings.from_params({**STUDY, "budget": {"unit": unit, "amount": 7}},
                                         FAMILY)
    assert job_budget(settings) == Budget(unit, 7.0)
    assert settings.variants == ("gan", "wgan") and settings.seeds == (0, 1)


def test_missing_fields_take_the_declared_defaults():
    settings = StudySettings.from_params(STUDY, FAMILY)
    declared = StudySettings(**{**STUDY, "variants": ("gan", "wgan"), "seeds": (0, 1)})
    assert settings == declared
    tune = TuneSettings.from_params({"variant": "wgan", "storage": "sqlite:///x.db",
                                     "search_space": {"wgan": {"objective.n_critic": {
                                         "type": "int", "low": 1, "high": 3}}}}, FAMILY)
    assert tune.trials == 30 and tune.budget == Budget("cpu_seconds", 300)
    assert tune.study_name == "wgan-cpu_seconds-300"


@pytest.mark.parametrize("block, message", [
    ({**STUDY, "budgt": {"unit": "steps"}}, "study.budgt: unknown parameter (known: name,"),
    ({**STUDY, "budget": {"unit": "hours", "amount": 1}},
     "study.budget.unit: must be one of steps, seconds or cpu_seconds (got 'hours')"),
    ({**STUDY, "budget": {"unit": "steps", "amount": 0}},
     "study.budget.amount: must be greater than 0"),
    ({**STUDY, "eval_every": 2.5}, "study.eval_every: must be an integer >= 1 (got 2.5)"),
    ({**STUDY, "heartbeat": {"interval": 50, "grace": 40}},
     "study.heartbeat: needs 0 < interval < grace"),
    ({**STUDY, "alpha": 1.5}, "study.alpha: must be less than 1"),
    ({**STUDY, "variants": "gan+wgn"}, "study.variants: unknown variant 'wgn'"),
])
def test_a_bad_study_block_names_the_parameter(block, message):
    with pytest.raises(ConfigError) as error:
        StudySettings.from_params(block, FAMILY)
    assert str(error.value).startswith(message), str(error.value)
