"""The in-memory form of an image source: uint8 NHWC arrays with their labels."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

UNLABELLED = -1


@dataclass
class ImageSplits:
    """Raw images of one source, as read from disk.

    Images are uint8 NHWC in [0, 255]; labels are int64 class indices, or
    ``UNLABELLED`` (-1) where the source has no labels. ``skipped`` lists
    files that could not be read, as ``(path, reason)`` pairs; ``unsupported``
    the files of a kind the reader does not take (listed, not counted as
    unreadable). ``files`` names the file or folder each array came from
    (keys ``train_images``, ``train_labels``, ...), for error messages.
    """

    source: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    files_seen: int = 0
    unsupported: list[tuple[str, str]] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)

    def file_of(self, key: str) -> str:
        """Where the array ``key`` came from, or the source's name."""
        return self.files.get(key, self.source)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])  # type: ignore[return-value]

    @property
    def labelled(self) -> bool:
        return bool(self.class_names)


def class_count(labels: np.ndarray) -> int:
    """How many classes ``labels`` index (0 when unlabelled): the largest label plus one."""
    labels = np.asarray(labels)
    if not len(labels) or (labels == UNLABELLED).any():
        return 0
    return int(labels.max()) + 1
