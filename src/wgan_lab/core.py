"""The project's kernel: name registries, the configuration error, list parameters.

Every layer uses these (the ``gan`` library, the experiments, the pipelines),
so they import nothing of the project.

A registry is the only place that knows which names exist: configuration
validates against it, and every lookup of an unknown name fails with the list
of known ones, so a misspelt or new name can never fall through to a default.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class ProjectError(Exception):
    """An error about the project's inputs (parameters, data, a diverged run) whose
    message says everything a user needs: ``kedro run`` prints it as one line,
    without a traceback."""


class ConfigError(ProjectError, ValueError):
    """A parameter is invalid; the message names it (``block.section.name: problem``)."""


class UnknownNameError(ProjectError, ValueError):
    """A name that is not in its registry; the message lists the known names."""


class Registry(Mapping[str, T], Generic[T]):
    def __init__(self, concept: str, entries: dict[str, T]) -> None:
        self.concept = concept
        self._entries = dict(entries)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.concept} {name!r}; known: {', '.join(self._entries)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


# What a pydantic error type says, in the project's words.
_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false",
               "string": "a string", "tuple": "a list", "list": "a list", "dict": "a mapping",
               "dataclass": "a mapping of parameters", "model": "a mapping of parameters"}
_BOUND_WORDS = {"ge": "at least", "gt": "greater than", "le": "at most", "lt": "less than"}


def config_error(error: Any, where: str, fields: dict[str, Any] | None = None) -> ConfigError:
    """A pydantic ``ValidationError`` as the project's one-line message about its first
    problem: ``<where>.<field>: must be an integer >= 1 (got 2.5)``. ``fields`` (a
    model's ``__pydantic_fields__``) lets a type error name the field's bounds too."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    path = ".".join([where, *loc]) if loc else where
    kind, ctx = first["type"], first.get("ctx") or {}
    bound = next((k for k in _BOUND_WORDS if k in ctx), None)
    if bound:
        problem = f"must be {_BOUND_WORDS[bound]} {ctx[bound]}"
    elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = ", ".join(fields or {})
        problem = "unknown parameter" + (f" (known: {known})" if known else "")
    else:
        words = next((w for k, w in _TYPE_WORDS.items() if kind.startswith(k)), None)
        problem = f"must be {words}" if words else first["msg"].removeprefix("Value error, ")
        metadata = getattr((fields or {}).get(loc[0]) if loc else None, "metadata", ())
        limits = [f"{op} {getattr(m, name)}" for m in metadata
                  for name, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                  if getattr(m, name, None) is not None]
        if words and limits:
            problem += " " + " and ".join(limits)
    return ConfigError(f"{path}: {problem} (got {first.get('input')!r})")


def listed(value: Any) -> list:
    """A list parameter as YAML or the command line gives it. Kedro's --params
    splits on commas, so the command line spells a list `gan+wgan_gp+lsgan`
    (spaces work too, quoted); a single number is a list of one."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in re.split(r"[+\s]+", value.strip()) if v]
    if isinstance(value, (int, float)):
        return [value]
    return list(value)
