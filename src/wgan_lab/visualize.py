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
