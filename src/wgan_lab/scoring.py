"""Generators and samples made elsewhere, scored by the project's protocol (beside
``tracking``: an MLflow model URI is one of the things it reads).

``kedro run --pipelines=evaluate --params=source=<path-or-uri>`` reads one of the
``SCORED_SOURCES``: a Keras generator (``.keras``), an MLflow model URI
(``models:/...``, ``runs:/...``), an ``.npz`` of images (and optionally labels),
or a folder of PNGs. ``check_source`` runs before any work and says in one line
which file is wrong and how: a missing or unreadable file, an image size or
channel count that is not the dataset's, values outside 0-255 (integers) or
[-1, 1] (floats), labels outside the dataset's classes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wgan_lab.core import ProjectError, Registry, section

# The image shape of each public dataset, known before ingestion (an image
# folder's is known only once it is read).
DATASET_SHAPES = {"mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "cifar10": (32, 32, 3)}
DATASET_CLASSES = {"mnist": 10, "fashion_mnist": 10, "cifar10": 10}


@section
class ScoreSettings:
    """The ``score`` block: what the ``evaluate`` pipeline scores, for which dataset."""

    source: str = ""   # a .keras generator, an MLflow model URI, an .npz or a folder of PNGs
    dataset: str = ""  # whose test split it is scored against (the run's dataset)


class ScoreSourceError(ProjectError, ValueError):
    """A generator or sample file that the protocol cannot score; the message names it."""


@dataclass(frozen=True)
class Samples:
    """Images in [-1, 1] (N x H x W x C float32), with labels when the file had them."""

    images: np.ndarray
    labels: np.ndarray | None = None


def _to_unit_range(images: np.ndarray, where: str) -> np.ndarray:
    if np.issubdtype(images.dtype, np.integer):
        if images.min() < 0 or images.max() > 255:
            raise ScoreSourceError(f"{where}: integer pixel values must lie in 0-255 "
                                   f"(got {images.min()} to {images.max()})")
        return (images.astype(np.float32) / 127.5 - 1.0)
    if not np.issubdtype(images.dtype, np.floating):
        raise ScoreSourceError(f"{where}: images must be integers 0-255 or floats in [-1, 1] "
                               f"(got dtype {images.dtype})")
    if not np.isfinite(images).all() or images.min() < -1.0 or images.max() > 1.0:
        raise ScoreSourceError(f"{where}: float pixel values must lie in [-1, 1], as the "
                               f"project's generators make them (got {np.nanmin(images):.3g} "
                               f"to {np.nanmax(images):.3g})")
    return images.astype(np.float32)


def _with_channels(images: np.ndarray) -> np.ndarray:
    return images[..., None] if images.ndim == 3 else images


def _read_npz(path: Path) -> Samples:
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = dict(data)
    except Exception as exc:  # a truncated or foreign file: numpy's own words
        raise ScoreSourceError(f"{path}: not a readable .npz file ({exc})") from None
    if "images" not in arrays:
        raise ScoreSourceError(f"{path}: needs an array named 'images' (found: "
                               f"{', '.join(arrays) or 'none'})")
    images = _with_channels(arrays["images"])
    if images.ndim != 4:
        raise ScoreSourceError(f"{path}: 'images' must be N x H x W (x C), got shape "
                               f"{arrays['images'].shape}")
    return Samples(_to_unit_range(images, str(path)), arrays.get("labels"))


def _read_png_folder(path: Path) -> Samples:
    from PIL import Image, UnidentifiedImageError

    files = sorted(path.glob("*.png"))
    if not files:
        raise ScoreSourceError(f"{path}: no .png files in this folder")
    images = []
    for file in files:
        try:
            with Image.open(file) as image:
                array = np.asarray(image.convert("L" if image.mode in ("L", "1", "P", "LA")
                                                 else "RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise ScoreSourceError(f"{file}: not a readable PNG ({exc})") from None
        if images and array.shape != images[0].shape:
            raise ScoreSourceError(f"{file}: {array.shape} pixels, where {files[0].name} has "
                                   f"{images[0].shape}; every image must have one size")
        images.append(array)
    return Samples(_to_unit_range(_with_channels(np.stack(images)), str(path)))


def _read_keras(path: Path):
    import zipfile

    import keras

    if not zipfile.is_zipfile(path):
        raise ScoreSourceError(f"{path}: not a Keras model (a .keras file is a zip archive; "
                               f"this one is not)")
    try:
        return keras.models.load_model(path, safe_mode=True)
    except Exception as exc:
        raise ScoreSourceError(f"{path}: not a loadable Keras model ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _read_mlflow(uri: str):
    import mlflow

    try:
        return mlflow.keras.load_model(uri)
    except Exception as exc:
        raise ScoreSourceError(f"{uri}: no loadable MLflow Keras model there ("
                               f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
                               ) from None


@dataclass(frozen=True)
class ScoredSource:
    """One kind of thing to score: how to recognise it and how to read it."""

    matches: Callable[[str], bool]
    read: Callable[[str], Any]   # a generator (z -> images) or ``Samples``
    local: bool = True           # a path on this machine (checked to exist)
    summary: str = ""


SCORED_SOURCES: Registry[ScoredSource] = Registry("source kind", {
    "keras": ScoredSource(lambda s: s.endswith(".keras"), lambda s: _read_keras(Path(s)),
                          summary="a Keras generator, z -> images in [-1, 1]"),
    "mlflow": ScoredSource(lambda s: s.startswith(("models:/", "runs:/")), _read_mlflow,
                           local=False, summary="an MLflow Keras model (a logged generator)"),
    "npz": ScoredSource(lambda s: s.endswith(".npz"), lambda s: _read_npz(Path(s)),
                        summary="'images' (N x H x W x C, 0-255 or [-1, 1]), optional 'labels'"),
    "png_folder": ScoredSource(lambda s: Path(s).is_dir(), lambda s: _read_png_folder(Path(s)),
                               summary="a folder of PNG images"),
})


def kind_of(source: str) -> str:
    """The ``SCORED_SOURCES`` entry that reads ``source``."""
    if not source:
        raise ScoreSourceError("score.source: name a generator (.keras, models:/...) or "
                               "samples (.npz, a folder of PNGs): --params=source=<path>")
    for name, entry in SCORED_SOURCES.items():
        if entry.matches(source):
            if entry.local and not Path(source).exists():
                raise ScoreSourceError(f"{source}: no such file or folder")
            return name
    if not Path(source).exists():
        raise ScoreSourceError(f"{source}: no such file or folder")
    raise ScoreSourceError(f"{source}: not a generator or samples the protocol reads "
                           f"({'; '.join(f'{k}: {e.summary}' for k, e in SCORED_SOURCES.items())})")


def read_source(source: str):
    """The generator or the ``Samples`` that ``source`` holds."""
    return SCORED_SOURCES[kind_of(source)].read(source)


def check_read(read, source: str, image_shape: tuple[int, ...] | None,
               n_classes: int | None) -> None:
    """What ``read_source`` gave, against the dataset's image shape and classes."""
    if isinstance(read, Samples):
        shape = tuple(read.images.shape[1:])
        if len(read.images) < 2:
            raise ScoreSourceError(f"{source}: {len(read.images)} image(s); the protocol needs "
                                   f"at least 2")
        labels = read.labels
        if labels is not None:
            if labels.shape != (len(read.images),) or not np.issubdtype(labels.dtype, np.integer):
                raise ScoreSourceError(f"{source}: 'labels' must be one integer per image "
                                       f"(got shape {labels.shape}, dtype {labels.dtype})")
            if n_classes is not None and (labels.min() < 0 or labels.max() >= n_classes):
                raise ScoreSourceError(f"{source}: labels must lie in 0-{n_classes - 1}, the "
                                       f"dataset's classes (got {labels.min()} to {labels.max()})")
    else:
        output = getattr(read, "output_shape", None)
        if output is None or getattr(read, "input_shape", None) is None:
            raise ScoreSourceError(f"{source}: not a generator (a Keras model from latent "
                                   f"vectors to images)")
        shape = tuple(output[1:])
    if image_shape is not None and shape != tuple(image_shape):
        what = ("channel count" if shape[:-1] == tuple(image_shape)[:-1] else "image size")
        raise ScoreSourceError(f"{source}: wrong {what}: {'x'.join(map(str, shape))}, where the "
                               f"dataset's images are {'x'.join(map(str, image_shape))}")


def check_source(source: str, dataset: str) -> None:
    """Everything that can be checked before any work: the file, and its images against
    the dataset's known shape and classes (an image folder's shape is checked later)."""
    check_read(read_source(source), source, DATASET_SHAPES.get(dataset),
               DATASET_CLASSES.get(dataset))


def score(read, source: str, real: np.ndarray, extractor, protocol,
          real_labels: np.ndarray | None = None, recipe=None) -> dict[str, float]:
    """The protocol's metrics of what ``read_source`` gave against the ``real`` test
    images: a generator's ``n_samples`` draws, or ``n_samples`` of the samples (all of
    them when fewer). With the test images' ``real_labels``, labelled samples and a
    conditional generator get the labelled metrics too (class accuracy, intra-class
    FID, and CAS with the classifier ``recipe``)."""
    from wgan_lab.evaluation.evaluate import compute_metrics, evaluate_generator, subsample

    check_read(read, source, tuple(real.shape[1:]), None)
    if not isinstance(read, Samples):
        result, _ = evaluate_generator(read, real, extractor, protocol, description="Scoring",
                                       real_labels=real_labels, recipe=recipe)
        return result
    n = min(protocol.n_samples, len(read.images), len(real))
    keep = (np.sort(np.random.default_rng(protocol.seed + 2).choice(len(read.images), n,
                                                                     replace=False))
            if n < len(read.images) else np.arange(n))
    fake = read.images[keep]
    features = extractor(fake) if extractor is not None else None
    labelled = read.labels is not None and real_labels is not None
    test = subsample(np.arange(len(real)), n, protocol.seed)
    return compute_metrics(real[test], fake, extractor, protocol, fake_features=features,
                           real_labels=real_labels[test] if labelled else None,
                           fake_labels=read.labels[keep] if labelled else None,
                           recipe=recipe if labelled else None)


def score_report(source: str, metrics: dict[str, Any], floor: dict[str, Any], protocol,
                 features: str) -> str:
    """The scored metrics beside the real floor (training against test images), as Markdown."""
    rows = [f"| {name} | {value:.4g} | {floor.get(name, float('nan')):.4g} |"
            for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return "\n".join([f"# Scored: {source}", "",
                      f"Protocol: {protocol.__dict__}; features: {features}.", "",
                      "| metric | scored | real floor (train vs test) |", "|---|---|---|",
                      *rows, ""])
