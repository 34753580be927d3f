"""A numpy array stored as a local ``.npy`` file, written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from wgan_lab.fileio import atomic_path


class NpyDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """Loads and saves one array with ``np.load``/``np.save`` (no pickles).

    ``mmap_mode`` (e.g. ``"r"``) maps the file instead of reading it, which
    keeps memory flat for consumers that only read slices.
    """

    def __init__(self, filepath: str, mmap_mode: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._mmap_mode = mmap_mode
        self.metadata = metadata

    def load(self) -> np.ndarray:
        return np.load(self._filepath, mmap_mode=self._mmap_mode, allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        if not isinstance(data, np.ndarray):
            raise DatasetError(f"NpyDataset saves numpy arrays, got {type(data).__name__}")
        # np.save appends ".npy" to a path, so write through an open file.
        with atomic_path(self._filepath) as tmp, open(tmp, "wb") as stream:
            np.save(stream, data, allow_pickle=False)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap_mode": self._mmap_mode}
