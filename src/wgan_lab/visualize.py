"""Image grids for samples, shared by data reporting, training and evaluation."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from wgan_lab.data.processing import from_unit_range


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> Image.Image:
    """Tile NHWC images (uint8, or float in [-1, 1]) into one PIL image."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = from_unit_range(images)
    n, h, w, c = images.shape
    columns = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / columns))
    canvas = np.full(
        (rows * (h + padding) + padding, columns * (w + padding) + padding, c), 255, np.uint8
    )
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        canvas[top : top + h, left : left + w] = image
    return Image.fromarray(canvas[..., 0] if c == 1 else canvas)


def class_rows(images: np.ndarray, labels: np.ndarray, per_class: int = 8) -> Image.Image:
    """A grid with one row per class present in ``labels``: its first ``per_class`` images."""
    rows = [np.flatnonzero(labels == c)[:per_class] for c in np.unique(labels)]
    columns = max(len(r) for r in rows)
    picked = [images[r] for r in rows]
    blank = np.full((1, *images.shape[1:]), 1.0 if images.dtype != np.uint8 else 255,
                    images.dtype)
    # A class with fewer images than the widest row is padded with blank (white) cells.
    padded = [np.concatenate([p, np.repeat(blank, columns - len(p), axis=0)]) for p in picked]
    return image_grid(np.concatenate(padded), columns)
