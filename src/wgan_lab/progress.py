"""Progress of long work: a live bar on a terminal, plain log lines everywhere else.

On a terminal this is rich's progress bar on rich's shared console, the one
Kedro's log handler writes to, so log lines print above the bar instead of
breaking it. When output is not a terminal (CI, a log file, a pipe), a bar
would be a stream of carriage returns: one log line is written every
``interval`` seconds and one at the end instead.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from rich import get_console
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

logger = logging.getLogger(__name__)

# Seconds between plain progress lines when output is not a terminal.
LOG_INTERVAL = 30.0


def _clock(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


class Progress:
    """Progress of ``total`` units of work, from ``start`` (work done before a resume).

    Use as a context manager; ``update`` sets the units done and an optional
    status text (last losses, FID), ``advance`` adds units.
    """

    def __init__(self, description: str, total: int, unit: str = "steps", start: int = 0,
                 interval: float = LOG_INTERVAL, console: Console | None = None) -> None:
        self.description = description
        self.total = max(int(total), 0)
        self.unit = unit
        self.completed = int(start)
        self.status = ""
        self._start_units = int(start)
        self._interval = interval
        self._console = console or get_console()
        self._bar: RichProgress | None = None
        self._task = None
        self._started = self._last_line = 0.0
        self._logged_at = -1

    @property
    def live(self) -> bool:
        """True when a live bar is drawn (output is a terminal)."""
        return self._console.is_terminal

    def __enter__(self) -> Progress:
        self._started = self._last_line = time.perf_counter()
        if self.live:
            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"),
                TimeRemainingColumn(), TextColumn("{task.fields[status]}"),
                console=self._console)
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=self.total,
                                            completed=self.completed, rate="", status="")
        return self

    def rate(self) -> float:
        """Units per second since this progress started (work before a resume excluded)."""
        elapsed = time.perf_counter() - self._started
        return (self.completed - self._start_units) / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """The plain progress line: done/total, rate, elapsed, time left, status."""
        rate = self.rate()
        share = f" ({100 * self.completed / self.total:.0f}%)" if self.total else ""
        left = (f", {_clock((self.total - self.completed) / rate)} left"
                if rate > 0 and self.completed < self.total else "")
        status = f"; {self.status}" if self.status else ""
        return (f"{self.description}: {self.completed}/{self.total} {self.unit}{share}, "
                f"{rate:.1f} {self.unit}/s, {_clock(time.perf_counter() - self._started)} "
                f"elapsed{left}{status}")

    def update(self, completed: int, status: str | None = None) -> None:
        self.completed = int(completed)
        if status is not None:
            self.status = status
        if self._bar is not None:
            self._bar.update(self._task, completed=self.completed, status=self.status,
                             rate=f"{self.rate():.1f} {self.unit}/s")
        elif time.perf_counter() - self._last_line >= self._interval:
            self._log()

    def advance(self, units: int = 1, status: str | None = None) -> None:
        self.update(self.completed + units, status)

    def _log(self) -> None:
        logger.info(self.line())
        self._last_line = time.perf_counter()
        self._logged_at = self.completed

    def __exit__(self, *exc_info) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self._logged_at != self.completed:
            self._log()
