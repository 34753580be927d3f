"""A variant's search space: dotted parameter paths and how to draw each.

Declared in ``conf/base/parameters_tune.yml``, e.g.::

    optimizer.learning_rate: {type: float, low: 1.0e-5, high: 1.0e-3, log: true}
    objective.n_critic: {type: int, low: 1, high: 5}
    model.hidden_units: {type: categorical, choices: [[256, 256], [512, 512]]}

Every path must be a training parameter of the model, objective or optimizer
sections, except the loss and regularizer, which define the variant; a typo
fails before any training, naming the path and the known ones. (The schedule
is the search's budget, not a dimension.)
"""
from __future__ import annotations

import copy
import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from wgan_lab.core import ConfigError
from wgan_lab.gan.config import RESULT_SECTIONS, SECTIONS

# What makes a variant what it is: never part of its search.
DEFINING = ("objective.loss", "objective.regularizer")

KINDS = ("float", "int", "categorical")


@dataclass(frozen=True)
class Dimension:
    path: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        """Draw this dimension's value for an Optuna ``trial``."""
        if self.kind == "float":
            return trial.suggest_float(self.path, self.low, self.high, log=self.log, step=self.step)
        if self.kind == "int":
            return trial.suggest_int(self.path, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return self.decode(trial.suggest_categorical(self.path, self._encoded()))

    def _encoded(self) -> list:
        # Optuna stores categorical choices as scalars: lists travel as JSON text.
        return [json.dumps(list(c)) if isinstance(c, (list, tuple)) else c for c in self.choices]

    def encode(self, value: Any) -> Any:
        """What Optuna stores for the parameter ``value`` (an enqueued trial's)."""
        if self.kind == "categorical" and isinstance(value, (list, tuple)):
            return json.dumps(list(value))
        return value

    def admits(self, value: Any) -> bool:
        """Whether ``value`` lies in this dimension's space."""
        if self.kind == "categorical":
            return self.encode(value) in self._encoded()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind == "int" and value != int(value):
            return False
        return self.low <= value <= self.high

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"(choices {list(self.choices)})"
        return f"([{self.low:g}, {self.high:g}])"

    def decode(self, stored: Any) -> Any:
        """The parameter value of what Optuna stored for this dimension."""
        if self.kind != "categorical":
            return stored
        choice = self.choices[self._encoded().index(stored)]
        return list(choice) if isinstance(choice, (list, tuple)) else choice


def searchable() -> list[str]:
    """Every parameter path a search space may name."""
    return [f"{section}.{f.name}" for section in RESULT_SECTIONS
            for f in dataclasses.fields(SECTIONS[section]) if f"{section}.{f.name}" not in DEFINING]


def parse_space(space: dict[str, Any], where: str) -> list[Dimension]:
    """The dimensions of ``space``, each checked against the searchable parameters."""
    if not isinstance(space, dict) or not space:
        raise ConfigError(f"{where}: declare at least one parameter to search")
    known = searchable()
    dimensions = []
    for path, spec in space.items():
        if path in DEFINING:
            raise ConfigError(f"{where}.{path}: defines the variant, so it is not searched "
                              f"(tune another variant instead)")
        if path not in known:
            raise ConfigError(f"{where}.{path}: not a searchable training parameter "
                              f"(known: {', '.join(known)})")
        if not isinstance(spec, dict) or spec.get("type") not in KINDS:
            raise ConfigError(f"{where}.{path}: needs type: {' | '.join(KINDS)} (got {spec!r})")
        kind = spec["type"]
        if kind == "categorical":
            choices = tuple(spec.get("choices") or ())
            if not choices:
                raise ConfigError(f"{where}.{path}: a categorical needs choices")
            dimensions.append(Dimension(path, kind, choices=choices))
            continue
        unknown = set(spec) - {"type", "low", "high", "log", "step"}
        if unknown or "low" not in spec or "high" not in spec:
            raise ConfigError(f"{where}.{path}: a {kind} needs low and high (and optionally "
                              f"log, step); got {spec!r}")
        low, high = float(spec["low"]), float(spec["high"])
        if not low < high or (spec.get("log") and low <= 0):
            raise ConfigError(f"{where}.{path}: needs low < high (and low > 0 with log: true)")
        dimensions.append(Dimension(path, kind, low, high, bool(spec.get("log", False)),
                                    spec.get("step")))
    return dimensions


def apply(training: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``training`` with the dotted ``values`` set."""
    result = copy.deepcopy(training)
    for path, value in values.items():
        section, name = path.split(".")
        result[section] = {**result.get(section, {}), name: value}
    return result


def as_parameters(variant: str, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as the nested block to paste into parameters_training.yml."""
    block: dict[str, Any] = {}
    for path, value in sorted(values.items()):
        section, name = path.split(".")
        block.setdefault(section, {})[name] = value
    return {variant: {"training": block}}
