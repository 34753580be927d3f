"""Read-only Kedro dataset over a raw image source folder (IDX, CIFAR-10, images)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset, DatasetError

from wgan_lab.data.errors import DataSourceError
from wgan_lab.data.images import ImageSplits
from wgan_lab.data.sources import SOURCES, FetchOptions, read_source


class ImageSourceDataset(AbstractDataset[None, ImageSplits]):
    """Loads ``ImageSplits`` from ``path`` for one of ``mnist``, ``fashion_mnist``,
    ``cifar10`` or ``image_folder``, downloading the public ones when missing.

    Errors in the files surface as ``DatasetError`` with the file and the problem.
    """

    def __init__(
        self,
        path: str,
        source: str,
        download: bool = True,
        mirrors: list[str] | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        image_size: int = 28,
        channels: int = 1,
        labels_from_subfolders: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if source not in SOURCES:
            raise DatasetError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}")
        self._path = Path(path)
        self._source = source
        self._fetch = FetchOptions(
            download=download, mirrors=tuple(mirrors) if mirrors else None,
            timeout=timeout, retries=retries,
        )
        self._image_size = image_size
        self._channels = channels
        self._labels_from_subfolders = labels_from_subfolders
        self.metadata = metadata

    def load(self) -> ImageSplits:
        try:
            return read_source(
                self._source, self._path, self._fetch,
                image_size=self._image_size, channels=self._channels,
                labels_from_subfolders=self._labels_from_subfolders,
            )
        except DataSourceError as exc:
            raise DatasetError(str(exc)) from exc

    def save(self, data: None) -> None:
        raise DatasetError("ImageSourceDataset is read-only: raw data is never overwritten")

    def _exists(self) -> bool:
        return self._path.exists()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "source": self._source}
