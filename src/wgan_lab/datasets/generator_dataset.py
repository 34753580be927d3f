"""A trained generator: the local ``.keras`` file, or an MLflow model URI when one is given."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
from kedro.io import AbstractDataset, DatasetError


class GeneratorDataset(AbstractDataset[None, keras.Model]):
    def __init__(self, filepath: str, model_uri: str | None = None,
                 metadata: dict[str, Any] | None = None) -> None:
        self._filepath = Path(filepath)
        self._model_uri = model_uri or None
        self.metadata = metadata

    def load(self) -> keras.Model:
        if self._model_uri:
            import mlflow

            return mlflow.keras.load_model(self._model_uri)
        if not self._filepath.is_file():
            raise DatasetError(f"No trained generator at {self._filepath}: train the variant "
                               f"first, or pass --params=model_uri=<MLflow model URI>")
        return keras.models.load_model(self._filepath, safe_mode=True)

    def save(self, data: keras.Model) -> None:
        raise DatasetError("GeneratorDataset is read-only; training saves generators")

    def _exists(self) -> bool:
        return bool(self._model_uri) or self._filepath.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "model_uri": self._model_uri}
