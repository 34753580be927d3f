"""Read a folder of PNG/JPEG/BMP images, recursively, into uint8 arrays."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DataSourceError
from .images import UNLABELLED, ImageSplits

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp"}


def scan(directory: Path) -> tuple[list[Path], list[Path]]:
    """The image files below ``directory``, and the other files (hidden ones aside),
    each in a stable order: one walk of the tree."""
    images, others = [], []
    for path in sorted(directory.rglob("*")):
        if not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        elif not any(part.startswith(".") for part in path.relative_to(directory).parts):
            others.append(path)
    return images, others


def _to_8_bit(image: Image.Image) -> Image.Image:
    """16- and 32-bit integer greyscale scaled to 8 bits (Pillow's convert would clip at 255)."""
    if not image.mode.startswith("I"):
        return image
    values = np.asarray(image).astype(np.float64)
    # "I;16*" is 16-bit by definition; PNG decoders also hand 16-bit data over as "I".
    full_scale = 65535.0 if image.mode.startswith("I;16") or values.max() <= 65535 else 2**32 - 1
    return Image.fromarray(np.rint(values * (255.0 / full_scale)).astype(np.uint8), "L")


def _load(path: Path, size: int, mode: str) -> np.ndarray:
    with Image.open(path) as image:
        image = _to_8_bit(image).convert(mode)
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)


def read_image_folder(
    directory: Path, image_size: int, channels: int, labels_from_subfolders: bool = True
) -> ImageSplits:
    """Read every image below ``directory``; unreadable files are skipped and listed.

    With ``labels_from_subfolders``, the name of an image's first-level
    sub-folder is its class; images directly in ``directory`` make the folder
    unlabelled. All images go to the train split; the hold-out is made later.
    """
    if channels not in (1, 3):
        raise DataSourceError(f"image_folder: channels must be 1 or 3, got {channels}")
    if not directory.is_dir():
        raise DataSourceError(f"{directory}: image folder not found")
    paths, others = scan(directory)
    if not paths:
        found = (f"; found {len(others)} other file(s), e.g. {others[0].name}" if others else "")
        raise DataSourceError(
            f"{directory}: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))}{found})"
        )
    mode = "L" if channels == 1 else "RGB"
    images, folders, skipped = [], [], []
    for path in paths:
        try:
            images.append(_load(path, image_size, mode))
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
                SyntaxError) as exc:
            skipped.append((str(path), f"{type(exc).__name__}: {exc}"))
            continue
        relative = path.relative_to(directory).parts
        folders.append(relative[0] if len(relative) > 1 else None)

    labelled = labels_from_subfolders and bool(folders) and all(f is not None for f in folders)
    class_names = sorted(set(folders)) if labelled else []
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array(
        [index[f] for f in folders] if labelled else [UNLABELLED] * len(folders), dtype=np.int64
    )
    shape = (0, image_size, image_size, channels)
    stacked = np.stack(images).reshape(-1, *shape[1:]) if images else np.zeros(shape, np.uint8)
    return ImageSplits(
        source="image_folder",
        train_images=stacked,
        train_labels=labels,
        test_images=np.zeros(shape, np.uint8),
        test_labels=np.zeros(0, np.int64),
        class_names=class_names,
        skipped=skipped,
        files_seen=len(paths),
        unsupported=[(str(p), f"unsupported file type {p.suffix or '(none)'}; read: "
                      f"{', '.join(sorted(IMAGE_SUFFIXES))}") for p in others],
        files={key: str(directory) for key in ("train_images", "train_labels")},
    )
