"""Name -> definition tables: one per concept, each owned by the concept's module.

A registry is the only place that knows which names exist: configuration
validates against it, and every lookup of an unknown name fails with the list
of known ones, so a misspelt or new name can never fall through to a default.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(ValueError):
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

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
