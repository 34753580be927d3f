"""Image grids for samples, shared by data reporting, training and evaluation."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image


def image_grid(images: np.ndarray, columns: int | None = None, padding: int = 2) -> Image.Image:
    """Tile NHWC images (uint8, or float in [-1, 1]) into one PIL image."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
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
