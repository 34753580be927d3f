"""The variant family as the configuration declares it.

A variant is a top-level parameter block with a ``training`` section
(``conf/base/parameters_training.yml``); ``compare.variants`` lists who the
``compare`` pipeline compares. The pipeline registry, the tests and the
benchmarks all read the variants from here, so the YAML stays their one
source of truth and a new variant is configuration only.

Kedro builds pipelines before it knows a run's ``--params`` (kedro-org/kedro
#3093), so the project hook hands the run's parameters over in the run context
(``wgan_lab.wiring``) before any pipeline is built.

A variant's defaults can depend on the dataset: its block's ``by_dataset``
maps a dataset name to the training settings that differ there, and the
project's config loader (``ProjectConfigLoader``, settings.py) merges the
run's dataset's entry into ``training``. What the files set for every dataset
comes first, the dataset's entry next, a run's ``--params`` last: an explicit
override always wins.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Annotated, Any

from kedro.config import OmegaConfigLoader
from omegaconf import OmegaConf

from wgan_lab.core import ConfigError, Listed, Registry, UnknownNameError, section, settings_from
from wgan_lab.data.sources import SOURCES
from wgan_lab.wiring import CONFIG_LOADER_ARGS, run_context

# A variant block's per-dataset training settings: {dataset name: what differs there}.
BY_DATASET = "by_dataset"


def _merged(*dicts: dict[str, Any]) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.merge(*dicts))  # type: ignore[return-value]


def with_dataset_defaults(parameters: dict[str, Any], dataset: str,
                          explicit: dict[str, Any] | None = None) -> dict[str, Any]:
    """Each variant's ``training`` with its ``by_dataset[dataset]`` merged in, under
    ``explicit`` (a run's --params, already in ``parameters``), which is merged last."""
    explicit = explicit or {}
    selected = dict(parameters)
    for name, block in parameters.items():
        if not (isinstance(block, dict) and isinstance(block.get("training"), dict)):
            continue
        entry = (block.get(BY_DATASET) or {}).get(dataset)
        if not entry:
            continue
        override = ((explicit.get(name) or {}).get("training")) or {}
        selected[name] = {**block, "training": _merged(block["training"], entry, override)}
    return selected


def check_dataset_defaults(name: str, block: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A variant's ``by_dataset`` entries, each merged over its ``training``
    (for checking); an entry for an unknown dataset is a ConfigError."""
    entries = block.get(BY_DATASET) or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{name}.{BY_DATASET}: map dataset names to training settings, "
                          f"got {entries!r}")
    for dataset in entries:
        if dataset not in SOURCES:
            raise ConfigError(f"{name}.{BY_DATASET}.{dataset}: no such dataset; "
                              f"known: {', '.join(SOURCES)}")
    return {dataset: _merged(block["training"], entry or {})
            for dataset, entry in entries.items()}


class ProjectConfigLoader(OmegaConfigLoader):
    """Kedro's loader, with each variant's defaults for the run's dataset selected.

    A run asks for its parameters two or three times (the context, the catalog, the
    checks); reading and merging the files takes about 0.7 s each time, so the
    first result is kept for the loader's life (one run) and handed out as copies."""

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key != "parameters":
            return super().__getitem__(key)
        if getattr(self, "_parameters", None) is None:
            config = super().__getitem__(key)
            runtime = self.runtime_params or {}
            dataset = runtime.get("dataset") or self["globals"].get("dataset")
            self._parameters = with_dataset_defaults(config, str(dataset), runtime)
        return copy.deepcopy(self._parameters)

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "parameters":
            self._parameters = None
        super().__setitem__(key, value)


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
    project = project or project_root()
    loader = ProjectConfigLoader(conf_source=str(project / "conf"),
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
