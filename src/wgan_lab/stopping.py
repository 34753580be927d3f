"""Stopping on SIGINT (Ctrl-C) and SIGTERM (Kubernetes, Slurm, spot machines).

Two modes, one exception. For a whole command (``signals_raise``), either
signal raises ``Interrupted`` wherever the program is, as Ctrl-C raises
KeyboardInterrupt, so that what the command has open (its MLflow run) can be
ended truthfully and the process exits with the signal's code (130, 143).
Inside a training loop (``deferred_stop``) a signal only sets a flag: the loop
stops at its next step boundary, saves a checkpoint there and raises
``Interrupted`` itself; a second signal while it saves exits at once (the
checkpoint writes are atomic, so the last good one is kept).

``Interrupted`` derives from KeyboardInterrupt, not Exception: handlers of
ordinary errors (a trial's ``catch``, a node's error hooks) must not take a
stop for a failure of the run's own.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator

logger = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal; the message says what was kept and how to go on."""

    def __init__(self, signum: int, message: str = "", step: int | None = None,
                 checkpoint: str | None = None) -> None:
        self.signum, self.step, self.checkpoint = int(signum), step, checkpoint
        super().__init__(message or f"stopped by {self.signal_name}")

    @property
    def signal_name(self) -> str:
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """What a shell reports for a process ended by the signal: 130, 143."""
        return 128 + self.signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handlers(handler) -> Iterator[None]:
    """``handler`` for both signals while inside, the previous ones after (main thread
    only: elsewhere Python cannot set a handler, and the signals stay as they were)."""
    if not _in_main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in SIGNALS}
    for number in SIGNALS:
        signal.signal(number, handler)
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


def _raise(signum, frame) -> None:
    raise Interrupted(signum)


@contextlib.contextmanager
def signals_raise() -> Iterator[None]:
    """For a whole command: SIGINT and SIGTERM raise ``Interrupted`` where it is."""
    with _handlers(_raise):
        yield


class StopRequest:
    """Set by a signal inside ``deferred_stop``; read by the loop at step boundaries."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def after_call(self) -> None:
        """Called by the loop after each compiled call; in one process there is no one
        to agree a stop with (several workers: ``gan.distribute.ClusterStop``)."""


@contextlib.contextmanager
def deferred_stop() -> Iterator[StopRequest]:
    """Inside: the first signal asks the loop to stop at its next step boundary; a
    second exits the process at once with the signal's code."""
    request = StopRequest()

    def handler(signum, frame) -> None:
        if request:
            os.write(2, f"\n{signal_name(signum)} again: exiting now, without "
                        f"saving (the last complete checkpoint is kept)\n".encode())
            os._exit(128 + signum)
        request.signum = signum
        logger.warning("%s received: stopping at the next step boundary and saving a "
                       "checkpoint there (send it again to exit at once)", signal_name(signum))

    with _handlers(handler):
        yield request
