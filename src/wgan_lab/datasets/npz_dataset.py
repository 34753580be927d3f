"""Several named numpy arrays in one local ``.npz`` file, written atomically."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError

from wgan_lab.fileio import atomic_path


class NpzDataset(AbstractDataset[dict, dict]):
    def __init__(self, filepath: str, metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self.metadata = metadata

    def load(self) -> dict[str, np.ndarray]:
        with np.load(self._filepath, allow_pickle=False) as bundle:
            return {key: bundle[key] for key in bundle.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        if not isinstance(data, dict):
            raise DatasetError(f"NpzDataset saves a dict of arrays, got {type(data).__name__}")
        with atomic_path(self._filepath) as tmp, open(tmp, "wb") as stream:
            np.savez_compressed(stream, **data)

    def _exists(self) -> bool:
        return self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
