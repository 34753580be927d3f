"""The variant family as the configuration declares it.

A variant is a top-level parameter block with a ``training`` section
(``conf/base/parameters_training.yml``); ``compare.variants`` lists who the
``compare`` pipeline compares. The pipeline registry, the tests and the
benchmarks all read the variants from here, so the YAML stays their one
source of truth and a new variant is configuration only.

Kedro builds pipelines before it knows a run's ``--params`` (kedro-org/kedro
#3093), so the project hook hands the run's parameters over in the run context
(``wgan_lab.wiring``) before any pipeline is built.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

from wgan_lab.core import ConfigError, Listed, Registry, UnknownNameError, section, settings_from
from wgan_lab.wiring import CONFIG_LOADER_ARGS, run_context


def project_root() -> Path:
    """The Kedro project in the working directory (where `kedro` runs), else this checkout."""
    cwd = Path.cwd()
    if (cwd / "conf" / "base").is_dir():
        return cwd
    return Path(__file__).resolve().parents[2]


def load_parameters(project: Path | None = None, env: str | None = None,
                    runtime_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The project's parameters as a ``kedro run`` in ``env`` would see them.

    Outside a run only: OmegaConf's resolvers are process-wide, so this
    loader's ``globals`` resolver replaces that of any session's loader.
    """
    from kedro.config import OmegaConfigLoader

    project = project or project_root()
    loader = OmegaConfigLoader(conf_source=str(project / "conf"),
                               env=env or os.environ.get("KEDRO_ENV"),
                               runtime_params=runtime_params or {}, **CONFIG_LOADER_ARGS)
    return loader["parameters"]


def current_parameters() -> dict[str, Any]:
    """The running kedro run's parameters; outside a run, the files'."""
    parameters = run_context().parameters
    return parameters if parameters is not None else load_parameters()


def family(parameters: dict[str, Any]) -> Registry[dict[str, Any]]:
    """Every variant: name -> its ``training`` parameters."""
    return Registry("variant", {name: block["training"] for name, block in parameters.items()
                                if isinstance(block, dict) and "training" in block})


@section
class CompareSettings:
    """The ``compare`` block: the variants `kedro run --pipelines=compare` trains and
    compares, any of the family (on the command line `gan+lsgan+hinge_sn`)."""

    variants: Annotated[tuple[str, ...], Listed]


def compared(parameters: dict[str, Any]) -> tuple[str, ...]:
    """The variants ``compare`` runs, checked against the family."""
    settings = settings_from(CompareSettings, parameters.get("compare") or {}, "compare")
    names = [str(n) for n in settings.variants if str(n)]
    known = family(parameters)
    for name in names:
        try:
            known[name]
        except UnknownNameError as exc:
            raise UnknownNameError(f"compare.variants: {exc}") from None
    if not names:
        raise ConfigError(f"compare.variants: list at least one variant of {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def training_params(variant: str, project: Path | None = None, env: str | None = None
                    ) -> dict[str, Any]:
    """One variant's ``training`` parameters from the configuration, for tests and benchmarks."""
    return family(load_parameters(project, env))[variant]
