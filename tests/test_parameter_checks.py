"""Every block a run reads has a check: the configured ones pass in every
environment, and a bad value fails naming its parameter."""
import copy
import sys

import pytest

from wgan_lab import wiring
from wgan_lab.core import ConfigError
from wgan_lab.parameter_checks import BLOCK_CHECKS, check_parameters
from wgan_lab.scoring import ScoreSourceError
from wgan_lab.variants import family, load_parameters


@pytest.mark.parametrize("env", [None, "quick"])
def test_the_configured_parameters_pass(env):
    parameters = load_parameters(env=env)
    # `score` names what to score at run time (--params=source=...): without it the
    # evaluate pipeline refuses to start.
    check_parameters([*(b for b in BLOCK_CHECKS if b != "score"),
                      *(f"{v}.training" for v in family(parameters))], parameters)
    with pytest.raises(ScoreSourceError, match=r"^score\.source: name a generator"):
        check_parameters(["score"], parameters)


@pytest.mark.parametrize("path, value, message", [
    ("evaluation.protocol.n_samples", "many",
     "evaluation.protocol.n_samples: must be an integer >= 2 (got 'many')"),
    ("evaluation.classifier.epochs", 0, "evaluation.classifier.epochs: must be at least 1 (got 0)"),
    ("evaluation.classifer", {}, "evaluation.classifer: unknown parameter (known: classifier_dir,"),
    ("data_processing.test_fraction", 1.5,
     "data_processing.test_fraction: must be less than 1.0 (got 1.5)"),
    ("tune.checks", -1, "tune.checks: must be at least 0 (got -1)"),
    ("gan.training.optimizer.beta_1", 1.0, "gan.training.optimizer.beta_1: must be in [0, 1)"),
    ("wgan.training.objective.n_critic", 2.5,
     "wgan.training.objective.n_critic: must be an integer >= 1 (got 2.5)"),
    ("wgan.training.optimizer.learnin_rate", 0.1,
     "wgan.training.optimizer.learnin_rate: unknown parameter (known: name, learning_rate, "
     "critic_learning_rate, beta_1, beta_2, batch_size, ema_decay)"),
    ("generate.n", 0, "generate.n: must be at least 1 (got 0)"),
    ("model_registry.aliass", "top", "model_registry.aliass: unknown parameter (known: "
                                     "name_prefix, alias)"),
    ("compare.variants", "gan+wgan_gpp", "compare.variants: unknown variant 'wgan_gpp'"),
    # The theory block: a dataset name, a clip value <= 0, an empty theta grid...
    ("theory.divergences.thetas", [], "theory.divergences.thetas: list at least one (got an "
                                     "empty list)"),
    ("theory.mixtures.variants", [], "theory.mixtures.variants: list at least one"),
    ("theory.lipschitz.clip_values", [0.01, -0.01],
     "theory.lipschitz.clip_values: must be greater than 0.0 (got -0.01)"),
    ("theory.vanishing.dataset", "9gaussians",
     "theory.vanishing.dataset: unknown toy dataset '9gaussians'; known: 8gaussians, "
     "25gaussians, swissroll"),
    ("theory.mixtures.datasets", ["8gaussians", "moons"],
     "theory.mixtures.datasets: unknown toy dataset 'moons'"),
    ("theory.mixtures.variants", ["gan", "wgan_gpp"],
     "theory.mixtures.variants: unknown variant 'wgan_gpp'"),
    ("theory.mixtures.overrides", {"wgan": {"objective": {"clip_value": 0}}},
     "theory.mixtures.overrides.wgan.objective.clip_value: must be positive for the clip "
     "regularizer (got 0.0)"),
    ("theory.estimators.critic", {"loss": "wasserstein", "regularizer": "dragan"},
     "theory.estimators.critic.regularizer: dragan perturbs real data"),
    ("theory.vanishing.checkpoints", [10, 1], "theory.vanishing.checkpoints: increasing"),
    ("study.storage", "not-a-url", "study.storage: not a database URL (got 'not-a-url'); use "
                                   "sqlite:///path.db or postgresql://user@host/db"),
    # MySQL's default driver is not a dependency: its absence is what a user meets.
    ("tune.storage", "mysql://lab:s3cret@127.0.0.1/jobs",
     "tune.storage: the database driver for mysql:// is not installed (no module MySQLdb); "
     "pip install mysqlclient"),
    ("theory.mixtures.storage", "not-a-url", "theory.mixtures.storage: not a database URL"),
    # A search space names training parameters by their paths; a typo is no parameter.
    ("tune.search_space.wgan",
     {"optimizer.learnin_rate": {"type": "float", "low": 1.0e-5, "high": 1.0e-3}},
     "tune.search_space.wgan.optimizer.learnin_rate: not a searchable training parameter"),
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


def test_every_block_a_pipeline_reads_has_a_check():
    """The run hook checks the blocks a pipeline's nodes read (parameters_read) before
    any node runs (tests/pipelines/test_checks_before_run.py drives it from the command
    line); so every block any registered pipeline reads must have a check."""
    from wgan_lab.parameter_checks import parameters_read
    from wgan_lab.pipeline_registry import register_pipelines

    variants = family(load_parameters())
    for name, pipeline in register_pipelines().items():
        for block in parameters_read(pipeline):
            top, _, rest = block.partition(".")
            if top in variants:
                assert rest in ("training", "checkpoint_dir"), (name, block)
            elif not rest:
                assert top in BLOCK_CHECKS, (name, block)
            else:   # a path inside a checked block
                assert top in BLOCK_CHECKS, (name, block)


def test_a_missing_postgres_driver_names_the_extra(monkeypatch):
    parameters = copy.deepcopy(load_parameters())
    parameters["study"]["storage"] = "postgresql://lab:s3cret@127.0.0.1/jobs"
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an install without the extra has
    with pytest.raises(ConfigError) as error:
        check_parameters(["study"], parameters)
    assert str(error.value) == ('study.storage: the database driver for postgresql:// is not '
                                'installed (no module psycopg); pip install -e ".[postgres]"')


def test_a_storage_password_comes_from_credentials_or_the_driver(postgres_server, monkeypatch):
    """Against a real PostgreSQL server that refuses a URL without its password."""
    server = postgres_server
    server.create_database("checks")
    parameters = copy.deepcopy(load_parameters())
    parameters["study"]["storage"] = server.url("checks", with_password=False)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(ConfigError) as refused:
        check_parameters(["study"], parameters)
    assert str(refused.value).startswith(
        f"study.storage: cannot connect to {server.url('checks', with_password=False)}")

    parameters["study"]["credentials"] = "jobs_db"
    wiring.start_run(parameters, credentials={"other": {"password": "x"}})
    try:
        with pytest.raises(ConfigError, match=r"study\.credentials: no entry 'jobs_db' with a "
                                              r"password in Kedro's credentials .*entries "
                                              r"there: other\)"):
            check_parameters(["study"], parameters)
        wiring.start_run(parameters, credentials={"jobs_db": {"password": server.password}})
        check_parameters(["study"], parameters)
    finally:
        wiring.end_run()

    parameters["study"]["credentials"] = None
    monkeypatch.setenv("PGPASSWORD", server.password)
    check_parameters(["study"], parameters)

    parameters["study"]["storage"] = server.url("checks").replace(server.password, "wrong")
    monkeypatch.delenv("PGPASSWORD")
    with pytest.raises(ConfigError) as wrong:
        check_parameters(["study"], parameters)
    assert "wrong" not in str(wrong.value) and "lab:***@" in str(wrong.value)
