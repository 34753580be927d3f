"""Every block a run reads has a check: the configured ones pass in every
environment, and a bad value fails naming its parameter."""
import copy

import pytest

from wgan_lab.core import ConfigError
from wgan_lab.parameter_checks import BLOCK_CHECKS, check_parameters
from wgan_lab.variants import family, load_parameters


@pytest.mark.parametrize("env", [None, "quick"])
def test_the_configured_parameters_pass(env):
    parameters = load_parameters(env=env)
    check_parameters([*BLOCK_CHECKS, *(f"{v}.training" for v in family(parameters))],
                     parameters)


@pytest.mark.parametrize("path, value, message", [
    ("evaluation.protocol.n_samples", "many",
     "evaluation.protocol.n_samples: must be an integer >= 2 (got 'many')"),
    ("evaluation.classifier.epochs", 0, "evaluation.classifier.epochs: must be at least 1 (got 0)"),
    ("evaluation.classifer", {}, "evaluation.classifer: unknown parameter (known: classifier_dir,"),
    ("data_processing.test_fraction", 1.5,
     "data_processing.test_fraction: must be less than 1.0 (got 1.5)"),
    ("tune.checks", 0, "tune.checks: must be at least 1 (got 0)"),
    ("gan.training.optimizer.beta_1", 1.0, "gan.training.optimizer.beta_1: must be in [0, 1)"),
])
def test_a_bad_value_names_its_parameter(path, value, message):
    parameters = copy.deepcopy(load_parameters())
    *parents, key = path.split(".")
    block = parameters
    for part in parents:
        block = block[part]
    block[key] = value
    block_name = ".".join(path.split(".")[:2]) if path.split(".")[1] == "training" \
        else path.split(".")[0]
    with pytest.raises(ConfigError) as error:
        check_parameters([block_name], parameters)
    assert str(error.value).startswith(message), str(error.value)
