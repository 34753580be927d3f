"""The parameter reference of the documentation site, generated from the settings
models that check every block before a run (``parameter_checks``): each parameter's
type, constraints, the model's default, the value conf/base sets, and the comment
the model's source gives it. ``python -m wgan_lab.parameter_reference`` rewrites
docs/reference.md; a test fails when the committed page differs from what this
module generates, so the reference cannot drift from the code.
"""
from __future__ import annotations

import dataclasses
import inspect
import re
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import PydanticUndefined

from wgan_lab.data.processing import ProcessingSettings
from wgan_lab.evaluation.evaluate import EvaluationSettings, GenerateSettings
from wgan_lab.experiments.search import TuneSettings
from wgan_lab.experiments.seeds import StudySettings
from wgan_lab.experiments.theory import TheorySettings
from wgan_lab.gan.config import TrainingConfig
from wgan_lab.gan.regularizers import REGULARIZERS
from wgan_lab.scoring import ScoreSettings
from wgan_lab.tracking import ModelRegistrySettings
from wgan_lab.variants import BY_DATASET, CompareSettings, load_parameters

# The datasets whose defaults the page lists side by side.
DATASETS = ("mnist", "fashion_mnist")

# Page section -> (parameter block in conf/base, settings model, the block's doc page).
BLOCKS: dict[str, tuple[str, type, str]] = {
    "Training (every variant's `<variant>.training`)": ("wgan.training", TrainingConfig,
                                                        "variants.md"),
    "Data processing (`data_processing`)": ("data_processing", ProcessingSettings,
                                            "datasets.md"),
    "Evaluation (`evaluation`)": ("evaluation", EvaluationSettings, "evaluation.md"),
    "Tuning (`tune`)": ("tune", TuneSettings, "tuning.md"),
    "The study (`study`)": ("study", StudySettings, "study.md"),
    "Comparison (`compare`)": ("compare", CompareSettings, "pipelines.md"),
    "Generating images (`generate`)": ("generate", GenerateSettings, "pipelines.md"),
    "Scoring generators and samples made elsewhere (`score`)": ("score", ScoreSettings,
                                                                "evaluation.md"),
    "Model registry (`model_registry`)": ("model_registry", ModelRegistrySettings, "mlflow.md"),
    "Theory (`theory`)": ("theory", TheorySettings, "theory.md"),
}
PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def _comments(model: type) -> dict[str, str]:
    """Field name -> the comment the model's source gives it (trailing, or the
    comment lines right above it)."""
    try:
        lines = inspect.getsource(model).splitlines()
    except (OSError, TypeError):
        return {}
    found, above = {}, []
    for line in lines[1:]:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        match = re.match(r"\s+(\w+)\s*:[^#]*(?:#\s*(.*))?$", line)
        if match and not stripped.startswith(("def ", "return ")):
            found.setdefault(match.group(1), match.group(2) or " ".join(above))
        above = []
    return found


def _yaml_comments() -> dict[str, str]:
    """Dotted parameter name -> its comment in conf/base's parameter files (trailing,
    or the comment lines right above it): what users read there, read here too."""
    found: dict[str, str] = {}
    for path in sorted((PAGE.parents[1] / "conf" / "base").glob("parameters*.yml")):
        stack: list[tuple[int, str]] = []
        above: list[str] = []
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith("#"):
                above.append(stripped.lstrip("# "))
                continue
            match = re.match(r"(\s*)([\w-]+):([^#]*)(?:#\s*(.*))?$", line)
            if not match:
                above = []
                continue
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, match.group(2)))
            found[".".join(key for _, key in stack)] = match.group(4) or " ".join(above)
            above = []
    return found


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type_name(typing.get_args(annotation)[0])
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", "") for a in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (tuple, list):
        return f"list of {_type_name(typing.get_args(annotation)[0])}"
    if origin is dict:
        return "mapping"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(field) -> str:
    words = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    shown = []
    for item in field.metadata:
        for name, sign in words.items():
            if getattr(item, name, None) is not None:
                shown.append(f"{sign} {getattr(item, name)}")
    return ", ".join(shown)


def _default(field) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    if field.default_factory is not None:
        return field.default_factory()
    return PydanticUndefined


def _shown(value: Any) -> str:
    if value is PydanticUndefined:
        return "required"
    if dataclasses.is_dataclass(value):
        return "see below"
    if isinstance(value, tuple):
        value = list(value)
    text = "null" if value is None else str(value)
    return f"`{text}`" if text else '`""`'


def _rows(model: type, prefix: str, configured: Any, described: dict[str, str]
          ) -> list[str]:
    comments = _comments(model)
    rows, nested = [], []
    for name, field in model.__pydantic_fields__.items():
        value = configured.get(name, PydanticUndefined) if isinstance(configured, dict) \
            else PydanticUndefined
        annotation = field.annotation
        if dataclasses.is_dataclass(annotation) and hasattr(annotation, "__pydantic_fields__"):
            nested.append((annotation, f"{prefix}{name}.", value))
            continue
        if isinstance(value, dict):
            value = PydanticUndefined  # a mapping parameter: its own docs page says more
        rows.append(f"| `{prefix}{name}` | {_type_name(annotation)} | {_constraints(field)} | "
                    f"{_shown(_default(field))} | "
                    f"{'' if value is PydanticUndefined else _shown(value)} | "
                    f"{described.get(prefix + name) or comments.get(name, '')} |")
    for annotation, child_prefix, value in nested:
        name = child_prefix.rstrip(".")
        doc = described.get(name) or " ".join((inspect.getdoc(annotation) or "").split())
        rows.append(f"| `{name}` | section | | | | {doc} |")
        rows.extend(_rows(annotation, child_prefix, value, described))
    return rows


def _configured(parameters: dict[str, Any], block: str) -> Any:
    value: Any = parameters
    for key in block.split("."):
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value


def _compact(section: dict[str, Any], unused: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{k} {list(v) if isinstance(v, tuple) else v}" for k, v in section.items()
                     if v is not None and k not in unused)


def _by_dataset(parameters: dict[str, Any]) -> list[str]:
    """Each variant with a ``by_dataset`` block: the training it runs on each dataset."""
    headline = [name for name, block in parameters.items()
                if isinstance(block, dict) and BY_DATASET in block]
    out = ["## Defaults by dataset", "",
           f"A variant's `{BY_DATASET}` block holds the training settings that differ on a "
           "dataset; the run's `dataset` parameter picks the entry, which applies over the "
           "files and under `--params` (an explicit override wins). What each headline "
           "variant trains on each dataset:", "",
           "| variant | dataset | model | objective | optimizer | steps |", "|---|---|---|---|---|---|"]
    strengths = {REGULARIZERS[name].strength for name in REGULARIZERS} - {None}
    for dataset in DATASETS:
        on_dataset = load_parameters(runtime_params={"dataset": dataset})
        for name in headline:
            t = TrainingConfig.from_params(on_dataset[name]["training"], prefix=name).as_dict()
            objective = t["objective"]
            # Each regularizer reads one strength field (its registry entry says which).
            unused = tuple(strengths - {REGULARIZERS[objective["regularizer"]].strength})
            out.append(f"| `{name}` | {dataset} | {_compact(t['model'])} | "
                       f"{_compact(objective, unused)} | {_compact(t['optimizer'])} | "
                       f"{t['schedule']['steps']} |")
    return [*out, ""]


def reference() -> str:
    """The reference page's Markdown."""
    parameters = load_parameters()
    described = _yaml_comments()
    out = ["# Parameter reference", "",
           "Every parameter block a run reads is checked by its settings model before the "
           "first node runs (an unknown key, a wrong type or a value outside its range "
           "fails in one line). This page is generated from those models "
           "(`python -m wgan_lab.parameter_reference`): the type and range each accepts, "
           "the model's default, the value `conf/base` sets (what a run uses unless "
           "`conf/local`, an environment or `--params` says otherwise), and what the "
           "parameter does.", ""]
    for title, (block, model, page) in BLOCKS.items():
        doc = " ".join((inspect.getdoc(model) or "").split())
        out += [f"## {title}", "", f"{doc} More on the [{page[:-3]} page]({page}).", "",
                "| parameter | type | range | model default | conf/base | what it does |",
                "|---|---|---|---|---|---|",
                *_rows(model, f"{block}.", _configured(parameters, block), described), ""]
        if model is TrainingConfig:
            out += _by_dataset(parameters)
    return "\n".join(out)


def main() -> None:
    PAGE.write_text(reference())
    print(f"wrote {PAGE}", file=sys.stderr)


if __name__ == "__main__":
    main()
