"""Validation, hold-out split, normalisation and summaries of ``ImageSplits``."""
from __future__ import annotations

from typing import Annotated

import numpy as np
import pandas as pd
from pydantic import Field

from wgan_lab.core import Count, section

from .errors import DataSourceError
from .images import UNLABELLED, ImageSplits


REPORT_COLUMNS = ["path", "problem", "reason"]


def _values(values: np.ndarray, most: int = 5) -> str:
    distinct = np.unique(values)
    return ", ".join(str(v) for v in distinct[:most]) + (", ..." if len(distinct) > most else "")


@section
class ProcessingSettings:
    """The ``data_processing`` block."""

    # Image folders have no test split: this fraction is held out, with this seed.
    test_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1
    seed: int = 1234
    # Fail when more than this fraction of an image folder's files is unreadable.
    max_skipped_fraction: Annotated[float, Field(ge=0, le=1)] = 0.05
    grid_size: Count = 64


def validate(splits: ImageSplits, max_skipped_fraction: float) -> pd.DataFrame:
    """Check ``splits`` and return a report of skipped and unsupported files; raise if unusable.

    Every error names the file, the offending value and how many are affected.
    """
    src = splits.source
    if len(splits.train_images) == 0:
        raise DataSourceError(f"{splits.file_of('train_images')}: no usable training images")
    for split in ("train", "test"):
        images, labels = getattr(splits, f"{split}_images"), getattr(splits, f"{split}_labels")
        image_file, label_file = splits.file_of(f"{split}_images"), splits.file_of(f"{split}_labels")
        if len(images) != len(labels):
            raise DataSourceError(
                f"{src}: {split} split has {len(images)} images but {len(labels)} labels "
                f"(images: {image_file}, labels: {label_file})"
            )
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataSourceError(
                f"{image_file}: {split} images must be uint8 NHWC with 1 or 3 channels, "
                f"got {images.dtype} {images.shape}"
            )
        if len(images) and images.shape[1:] != splits.image_shape:
            raise DataSourceError(
                f"{image_file}: {split} images have shape {images.shape[1:]}, but the train "
                f"images ({splits.file_of('train_images')}) have {splits.image_shape}"
            )
        if splits.labelled and len(labels):
            bad = (labels < 0) | (labels >= len(splits.class_names))
            if bad.any():
                raise DataSourceError(
                    f"{label_file}: {int(bad.sum())} of {len(labels)} {split} labels outside "
                    f"0..{len(splits.class_names) - 1} (values {_values(labels[bad])})"
                )
    seen = max(splits.files_seen, 1)
    fraction = len(splits.skipped) / seen
    if fraction > max_skipped_fraction:
        listing = "\n  ".join(f"{p}: {r}" for p, r in splits.skipped[:20])
        raise DataSourceError(
            f"{src}: {len(splits.skipped)} of {splits.files_seen} image files unreadable "
            f"({fraction:.1%} > max_skipped_fraction {max_skipped_fraction:.1%}). To accept "
            f"them, raise it, e.g. --params=data_processing.max_skipped_fraction="
            f"{min(1.0, round(fraction + 0.005, 2))} (or in "
            f"conf/base/parameters_data_processing.yml):\n  {listing}"
        )
    rows = ([(p, "unreadable", r) for p, r in splits.skipped]
            + [(p, "unsupported", r) for p, r in splits.unsupported])
    return pd.DataFrame(rows, columns=REPORT_COLUMNS)


def hold_out(splits: ImageSplits, test_fraction: float, seed: int) -> ImageSplits:
    """Move a seeded random ``test_fraction`` of train to test when there is no test split."""
    if len(splits.test_images) or test_fraction <= 0:
        return splits
    if not 0 < test_fraction < 1:
        raise DataSourceError(f"test_fraction must be in (0, 1), got {test_fraction}")
    n = len(splits.train_images)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(n * test_fraction))) if n > 1 else 0
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ImageSplits(
        source=splits.source,
        train_images=splits.train_images[train],
        train_labels=splits.train_labels[train],
        test_images=splits.train_images[test],
        test_labels=splits.train_labels[test],
        class_names=splits.class_names,
        skipped=splits.skipped,
        files_seen=splits.files_seen,
        unsupported=splits.unsupported,
        files={**splits.files, "test_images": splits.file_of("train_images"),
               "test_labels": splits.file_of("train_labels")},
    )


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], same NHWC shape."""
    # One multiply-add into a preallocated float32 array keeps peak memory at
    # the output plus the uint8 input, instead of several float temporaries.
    out = np.empty(images.shape, dtype=np.float32)
    np.multiply(images, np.float32(2.0 / 255.0), out=out, casting="unsafe")
    out -= np.float32(1.0)
    return out


def from_unit_range(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], clipping what lies outside."""
    return np.clip(np.rint((np.asarray(images) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def summarize(splits: ImageSplits) -> pd.DataFrame:
    """Per split and class: image count, pixel mean and std (on [0, 1]), image shape."""
    rows = []
    shape = "x".join(str(d) for d in splits.image_shape)
    for split in ("train", "test"):
        images, labels = getattr(splits, f"{split}_images"), getattr(splits, f"{split}_labels")
        if not len(images):
            continue
        classes = range(len(splits.class_names)) if splits.labelled else [UNLABELLED]
        names = splits.class_names if splits.labelled else ["(unlabelled)"]
        histograms = _class_histograms(images, labels, classes)
        for name, counts in [*zip(names, histograms), ("(all)", histograms.sum(axis=0))]:
            mean, std = _moments(counts)
            rows.append({
                "split": split,
                "class": name,
                "count": int(counts.sum()) // int(np.prod(images.shape[1:])),
                "pixel_mean": mean,
                "pixel_std": std,
                "image_shape": shape,
            })
    return pd.DataFrame(rows)


def _class_histograms(images: np.ndarray, labels: np.ndarray, classes, chunk: int = 4096
                      ) -> np.ndarray:
    """256-bin pixel histograms per class, exact, without a float copy of the images."""
    # bincount converts its input to int64, so go a chunk at a time to keep
    # that temporary small.
    histograms = np.zeros((len(classes), 256), np.int64)
    for start in range(0, len(images), chunk):
        block, block_labels = images[start : start + chunk], labels[start : start + chunk]
        for i, cls in enumerate(classes):
            histograms[i] += np.bincount(block[block_labels == cls].ravel(), minlength=256)
    return histograms


def _moments(counts: np.ndarray) -> tuple[float, float]:
    """Mean and std on a [0, 1] scale from a 256-bin pixel histogram."""
    total = counts.sum()
    if not total:
        return float("nan"), float("nan")
    levels = np.arange(256) / 255.0
    mean = float(counts @ levels / total)
    return mean, float(np.sqrt(max(counts @ levels**2 / total - mean**2, 0.0)))
