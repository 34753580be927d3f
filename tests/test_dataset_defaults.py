"""A variant's `by_dataset` entry is its default on that dataset: the run's
`dataset` picks it, and an explicit --params override still wins."""
import shutil
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from wgan_lab.core import ConfigError
from wgan_lab.parameter_checks import check_parameters
from wgan_lab.variants import load_parameters

ROOT = Path(__file__).resolve().parents[1]
ON_FASHION = 4.2e-3   # a learning rate no file of conf/base sets


@pytest.fixture
def project(tmp_path):
    """This project with an environment whose gan trains faster on Fashion-MNIST."""
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "conf" / "by_dataset").mkdir()
    (tmp_path / "conf" / "by_dataset" / "parameters_training.yml").write_text(
        "gan:\n  by_dataset:\n    fashion_mnist: {optimizer: {learning_rate: %r}}\n" % ON_FASHION)
    return tmp_path


def _gan_optimizer(project, **runtime):
    return load_parameters(project, "by_dataset", runtime)["gan"]["training"]["optimizer"]


def test_the_dataset_picks_its_entry_and_an_override_wins(project):
    on_mnist = _gan_optimizer(project)
    base_rate = load_parameters(project)["gan"]["training"]["optimizer"]["learning_rate"]
    assert on_mnist["learning_rate"] == base_rate != ON_FASHION

    on_fashion = _gan_optimizer(project, dataset="fashion_mnist")
    assert on_fashion == {**on_mnist, "learning_rate": ON_FASHION}

    overridden = _gan_optimizer(project, dataset="fashion_mnist",
                                gan={"training": {"optimizer": {"learning_rate": 1e-4}}})
    assert overridden["learning_rate"] == 1e-4
    overridden_elsewhere = _gan_optimizer(project, dataset="fashion_mnist",
                                          gan={"training": {"optimizer": {"beta_2": 0.5}}})
    assert (overridden_elsewhere["learning_rate"], overridden_elsewhere["beta_2"]) == (
        ON_FASHION, 0.5)


def test_a_kedro_session_selects_the_same(project):
    """The project's settings.py installs the loader that selects the entry."""
    bootstrap_project(ROOT)
    with KedroSession.create(project_path=ROOT, conf_source=str(project / "conf"),
                             env="by_dataset", runtime_params={"dataset": "fashion_mnist"}
                             ) as session:
        loader = session.load_context().config_loader
        parameters = loader["parameters"]
        # The loader reads the files once a run; what one reader changes in its
        # copy does not reach the next.
        parameters["gan"]["training"]["optimizer"]["learning_rate"] = 0.5
        again = loader["parameters"]
    assert again["gan"]["training"]["optimizer"]["learning_rate"] == ON_FASHION


@pytest.mark.parametrize("entries, message", [
    ({"fashion-mnist": {}}, "gan.by_dataset.fashion-mnist: no such dataset; known: mnist,"),
    ({"fashion_mnist": {"optimizer": {"beta_1": 1.0}}},
     "gan.by_dataset.fashion_mnist.optimizer.beta_1: must be in [0, 1)"),
])
def test_a_bad_entry_fails_before_the_run_naming_it(entries, message):
    parameters = load_parameters()
    parameters["gan"]["by_dataset"] = entries
    with pytest.raises(ConfigError) as error:
        check_parameters(["gan.training"], parameters)
    assert str(error.value).startswith(message), str(error.value)
