"""Atomic file writes: readers see the old file or the complete new one, never a part."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(destination: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    ``suffix`` ends the temporary name, for writers that insist on an extension.

    On any exception the temporary file is removed and ``destination`` is untouched.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=destination.name + ".", suffix=suffix,
                                dir=destination.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes 0600 files; give the result the permissions of a normal write.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
