"""The lock that keeps two runs from writing the same files at once."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from wgan_lab.core import ProjectError


class LockHeld(ProjectError):
    """Another process holds a run lock."""


class RunLock:
    """An exclusive ``flock`` on ``path``, which holds the holder's process id.

    The kernel drops the lock when its process ends, however it ends, so a file left
    by a killed run locks nothing: the next run takes it at once.
    """

    def __init__(self, path: Path | str, what: str) -> None:
        self.path, self.what = Path(path), what
        self._file = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise LockHeld(f"{self.what} is in use by another run (process {holder}) in this "
                           f"project folder: its lock is {self.path}. Wait for that run to "
                           f"end or stop it; two at once would overwrite each other's "
                           f"checkpoints and outputs") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()   # closing drops the flock; the file may stay
            self._file = None
