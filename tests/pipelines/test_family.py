"""The variant family is configuration: pipelines per variant, and `compare` picks from parameters."""
import json

import numpy as np
import pandas as pd
import pytest

from tests.configs import variants
from tests.conftest import run_pipeline, with_real_mnist
from wgan_lab.core import UnknownNameError
from wgan_lab.variants import compared, family, load_parameters

# A new loss and a new regularizer through `compare` on real MNIST; every variant's
# code path trains in tests/gan/test_trainer.py, hinge_sn and dragan on two
# replicas in tests/gan/test_distribution.py.
NEW_VARIANTS = ["lsgan", "ns_r1"]


def test_every_configured_variant_is_a_namespaced_pipeline(kedro_project):
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(kedro_project)
    registered = dict(pipelines)
    for variant in variants():
        nodes = {node.name for node in registered[variant].nodes}
        assert {f"{variant}.train", f"{variant}.log_generator", f"{variant}.evaluate"} <= nodes
    # compare defaults to the story's three variants
    trained = {n.namespace for n in registered["compare"].nodes if n.name.endswith(".train")}
    assert trained == {"gan", "wgan", "wgan_gp"}


def test_a_variant_added_in_configuration_gets_its_pipeline(kedro_project):
    """No code: a new block in the parameters is a new pipeline and can join compare."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    extra = kedro_project / "conf/base/parameters_extra.yml"
    extra.write_text("lsgan_slow:\n  checkpoint_dir: data/06_models/x/lsgan_slow/checkpoints\n"
                     "  training: {variant: lsgan_slow, objective: {loss: least_squares},"
                     " optimizer: {learning_rate: 1.0e-5}}\n")
    (kedro_project / "conf/local/parameters.yml").write_text(
        "compare:\n  variants: [gan, lsgan_slow]\n")
    bootstrap_project(kedro_project)
    registered = dict(pipelines)
    assert "lsgan_slow.train" in {n.name for n in registered["lsgan_slow"].nodes}
    trained = {n.namespace for n in registered["compare"].nodes if n.name.endswith(".train")}
    assert trained == {"gan", "lsgan_slow"}


@pytest.mark.parametrize("given, expected", [
    (["wgan", "gan"], ("wgan", "gan")),
    ("lsgan+hinge_sn", ("lsgan", "hinge_sn")),        # the command-line spelling
    ("dragan ns_r1", ("dragan", "ns_r1")),
    (["gan", "gan"], ("gan",)),
])
def test_compare_variants_from_parameters(given, expected):
    parameters = load_parameters()
    parameters["compare"] = {"variants": given}
    assert compared(parameters) == expected


def test_unknown_compare_variant_names_the_known_ones():
    parameters = load_parameters()
    parameters["compare"] = {"variants": ["gan", "wgan_gpp"]}
    with pytest.raises(UnknownNameError, match=r"compare\.variants: unknown variant 'wgan_gpp'; "
                                               r"known: gan, wgan, wgan_gp, lsgan"):
        compared(parameters)
    assert "wgan_gp" in family(parameters)


@pytest.mark.integration
@pytest.mark.slow
def test_new_variants_train_in_the_quick_environment(kedro_project, quick_mnist_classifier):
    """The compare pipeline in the quick environment over two newer variants, on real MNIST."""
    with_real_mnist(kedro_project, quick_mnist_classifier)
    # In process (the command line's spelling, a+b, is test_compare_variants_from_parameters'),
    # a third of the quick schedule: one in-training evaluation each is enough here.
    shorter = {variant: {"training": {"schedule": {"steps": 100}}} for variant in NEW_VARIANTS}
    run_pipeline(kedro_project, "compare", env="quick",
                 params={"compare": {"variants": NEW_VARIANTS}, **shorter})
    reports = kedro_project / "data/08_reporting/mnist-quick"
    assert sorted(p.name for p in reports.iterdir() if p.is_dir()) == sorted(NEW_VARIANTS)
    for variant in NEW_VARIANTS:
        history = pd.read_csv(reports / variant / "training_history.csv")
        assert history["step"].iloc[-1] == 100
        assert np.isfinite(history[["critic_loss", "generator_loss"]].to_numpy()).all()
        metrics = json.loads((reports / variant / "metrics.json").read_text())
        assert np.isfinite(metrics["fid"])
    markdown = (reports / "comparison_report.md").read_text()
    assert all(f"| {variant} |" in markdown for variant in NEW_VARIANTS)
    assert "| gan |" not in markdown


def test_a_run_s_parameters_do_not_outlive_it(kedro_project):
    """After a session that picked other variants, the registry reads the files again."""
    from kedro.framework.project import pipelines
    from kedro.framework.startup import bootstrap_project

    from tests.conftest import write_idx_source

    write_idx_source(kedro_project / "data/01_raw/mnist", n_train=20, n_test=10)
    run_pipeline(kedro_project, "data_processing", params={"compare": {"variants": ["lsgan"]}})
    bootstrap_project(kedro_project)
    trained = {n.namespace for n in dict(pipelines)["compare"].nodes if n.name.endswith(".train")}
    assert trained == {"gan", "wgan", "wgan_gp"}
