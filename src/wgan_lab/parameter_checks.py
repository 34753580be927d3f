"""Every parameter block a run reads, checked before its first node runs.

The hooks pass the parameter names the run's nodes take (``params:study`` ->
``study``, ``params:wgan.training`` -> ``wgan.training``); each kind of block has
one check here, so a typo, a wrong type, an unknown key or an unreachable
storage fails before ingestion or the domain classifier, naming the parameter.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from wgan_lab.core import Registry, settings_from
from wgan_lab.data.processing import ProcessingSettings
from wgan_lab.evaluation.evaluate import EvaluationSettings, GenerateSettings
from wgan_lab.scoring import ScoreSettings, check_source
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.experiments.store import check_database_url, storage_url
from wgan_lab.experiments.seeds import StudySettings
from wgan_lab.experiments.search import TuneSettings
from wgan_lab.experiments.theory import TheorySettings
from wgan_lab.tracking import ModelRegistrySettings
from wgan_lab.variants import check_dataset_defaults, compared, family


def _check_tune(block: Any, parameters: dict[str, Any]) -> None:
    settings = TuneSettings.from_params(block or {}, family(parameters))
    check_database_url(storage_url(settings.storage, settings.credentials, "tune.credentials"),
                       "tune.storage")


def _check_score(block: Any, parameters: dict[str, Any]) -> None:
    settings = settings_from(ScoreSettings, block or {}, "score")
    check_source(settings.source, settings.dataset)


def _check_study(block: Any, parameters: dict[str, Any]) -> None:
    settings = StudySettings.from_params(block or {}, family(parameters))
    check_database_url(storage_url(settings.storage, settings.credentials, "study.credentials"),
                       "study.storage")


def _check_theory(block: Any, parameters: dict[str, Any]) -> None:
    settings = TheorySettings.from_params(block or {}, family(parameters))
    if settings.mixtures.storage:
        check_database_url(settings.mixtures.storage, "theory.mixtures.storage")


# Block name -> its check (the block's value, all parameters).
BLOCK_CHECKS: Registry[Callable[[Any, dict[str, Any]], None]] = Registry("parameter block", {
    "tune": _check_tune,
    "study": _check_study,
    "score": _check_score,
    "evaluation": lambda block, parameters: settings_from(EvaluationSettings, block, "evaluation"),
    "data_processing": lambda block, parameters: settings_from(ProcessingSettings, block,
                                                               "data_processing"),
    "generate": lambda block, parameters: settings_from(GenerateSettings, block, "generate"),
    "model_registry": lambda block, parameters: settings_from(ModelRegistrySettings, block,
                                                              "model_registry"),
    "compare": lambda block, parameters: compared(parameters),
    "theory": _check_theory,
})


def _value(parameters: dict[str, Any], name: str) -> Any:
    value: Any = parameters
    for key in name.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value


def check_parameters(names: Iterable[str], parameters: dict[str, Any]) -> None:
    """Check each named block; the first problem raises a ConfigError naming it."""
    variants = family(parameters)
    for name in sorted(set(names)):
        top, _, rest = name.partition(".")
        if top in variants and rest == "training":
            TrainingConfig.from_params(_value(parameters, name) or {}, prefix=name)
            for dataset, training in check_dataset_defaults(top, parameters[top]).items():
                TrainingConfig.from_params(training, prefix=f"{top}.by_dataset.{dataset}")
        elif top in BLOCK_CHECKS and not rest:
            BLOCK_CHECKS[top](_value(parameters, name), parameters)


def parameters_read(pipeline) -> set[str]:
    """The parameter names a Kedro pipeline's nodes take (``parameters``: every block)."""
    return {name.removeprefix("params:") for name in pipeline.inputs()
            if name.startswith("params:")}
