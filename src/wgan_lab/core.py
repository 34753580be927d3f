"""The project's kernel: name registries, the configuration error, list parameters.

Every layer uses these (the ``gan`` library, the experiments, the pipelines),
so they import nothing of the project.

A registry is the only place that knows which names exist: configuration
validates against it, and every lookup of an unknown name fails with the list
of known ones, so a misspelt or new name can never fall through to a default.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

from typing import Annotated

from pydantic import BeforeValidator, ConfigDict, Field, ValidationError
from pydantic.dataclasses import dataclass as pydantic_dataclass

T = TypeVar("T")

# A settings model: a frozen dataclass whose fields' types and bounds pydantic
# checks when it is made, with no field that is not declared. Each default is
# written once, on its field.
section = pydantic_dataclass(frozen=True, config=ConfigDict(extra="forbid"))
# A whole number of something, at least one.
Count = Annotated[int, Field(ge=1)]


class ProjectError(Exception):
    """An error about the project's inputs (parameters, data, a diverged run) whose
    message says everything a user needs: ``kedro run`` prints it as one line,
    without a traceback."""


class ConfigError(ProjectError, ValueError):
    """A parameter is invalid; the message names it (``block.section.name: problem``)."""


class UnknownNameError(ConfigError):
    """A name that is not in its registry (names come from the configuration); the
    message lists the known names."""


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


def _fields_at(model: Any, loc: list[str]) -> dict[str, Any]:
    """The declared fields of the settings model at ``loc`` (its last part excluded)."""
    fields = getattr(model, "__pydantic_fields__", {})
    for part in loc[:-1]:
        inner = getattr(fields.get(part), "annotation", None)
        fields = getattr(inner, "__pydantic_fields__", {})
    return fields


def config_error(error: Any, where: str, model: Any = None) -> ConfigError:
    """A pydantic ``ValidationError`` of ``model`` as the project's one-line message about
    its first problem: ``<where>.<field>: must be an integer >= 1 (got 2.5)``."""
    # An unknown key first: the value it was meant for is then "missing" too.
    errors = sorted(error.errors(), key=lambda e: e["type"] not in (
        "unexpected_keyword_argument", "extra_forbidden"))
    first = errors[0]
    loc = [str(part) for part in first["loc"] if not isinstance(part, int)]
    path = ".".join([where, *loc]) if loc else where
    kind, ctx = first["type"], first.get("ctx") or {}
    fields = _fields_at(model, loc) if model is not None else {}
    bound = next((k for k in _BOUND_WORDS if k in ctx), None)
    if bound:
        problem = f"must be {_BOUND_WORDS[bound]} {ctx[bound]}"
    elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
        known = ", ".join(fields)
        problem = "unknown parameter" + (f" (known: {known})" if known else "")
    elif kind == "literal_error":
        problem = f"must be one of {ctx.get('expected', '').replace(chr(39), '')}"
    elif kind in ("missing_argument", "missing"):
        return ConfigError(f"{path}: is required")
    else:
        words = next((w for k, w in _TYPE_WORDS.items() if kind.startswith(k)), None)
        problem = f"must be {words}" if words else first["msg"].removeprefix("Value error, ")
        metadata = getattr(fields.get(loc[-1]) if loc else None, "metadata", ())
        limits = [f"{op} {getattr(m, name)}" for m in metadata
                  for name, op in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
                  if getattr(m, name, None) is not None]
        if words and limits:
            problem += " " + " and ".join(limits)
    return ConfigError(f"{path}: {problem} (got {first.get('input')!r})")


def settings_from(model: type[T], block: Any, where: str, **derived: Any) -> T:
    """The settings ``model`` of a parameter ``block`` (a mapping), every field not given
    taking its declared default; a problem raises a ConfigError naming ``<where>.<field>``.
    ``derived`` fields come from elsewhere than the block."""
    if block is None:
        block = {}
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}: must be a mapping of parameters (got {block!r})")
    try:
        return model(**{**block, **derived})
    except ValidationError as exc:
        raise config_error(exc, where, model) from None


def masked_url(url: str) -> str:
    """``url`` with its password, if any, shown as ``***``: for messages and logs."""
    return re.sub(r"(//[^/:@\s]*):[^@/\s]*@", r"\1:***@", str(url))


def masked(value: Any) -> Any:
    """``value`` with the password of every URL in it masked, through dicts, lists and
    tuples: for whatever leaves the process (logs, MLflow parameters and tags, reports)."""
    if isinstance(value, str):
        return masked_url(value)
    if isinstance(value, dict):
        return {key: masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(masked(item) for item in value)
    return value


class MaskedPasswords(logging.Filter):
    """A log handler's filter that masks URL passwords in every record it handles,
    the project's, Kedro's, Optuna's or SQLAlchemy's."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        shown = masked_url(message)
        if shown != message:
            record.msg, record.args = shown, ()
        return True


def mask_passwords_in_logs() -> None:
    """Put ``MaskedPasswords`` on every handler configured now (Kedro's console and
    files, Optuna's stderr), once."""
    loggers = [logging.getLogger(), *(logging.getLogger(name)
                                      for name in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if not any(isinstance(f, MaskedPasswords) for f in handler.filters):
                handler.addFilter(MaskedPasswords())


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


# A list parameter in a settings model: YAML lists and the command line's spellings.
Listed = BeforeValidator(listed)