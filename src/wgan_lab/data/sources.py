"""Readers for the supported image sources, fetching the public ones when missing.

Each reader returns ``ImageSplits`` of uint8 NHWC images. Structural problems
raise ``DataSourceError`` naming the file; nothing is normalised here.
"""
from __future__ import annotations

import logging
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .download import download_file
from .errors import DataSourceError, DownloadError
from .idx import read_idx_images, read_idx_labels
from .image_folder import read_image_folder
from .images import ImageSplits

logger = logging.getLogger(__name__)

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


@dataclass(frozen=True)
class IdxSource:
    """A public IDX dataset: mirrors and md5s of the decompressed files."""

    mirrors: tuple[str, ...]
    md5: dict[str, str]
    class_names: tuple[str, ...]


IDX_SOURCES = {
    "mnist": IdxSource(
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        md5={
            "train_images": "6bbc9ace898e44ae57da46a324031adb",
            "train_labels": "a25bea736e30d166cdddb491f175f624",
            "test_images": "2646ac647ad5339dbf082846283269ea",
            "test_labels": "27ae3e4e09519cfbb04c329615203637",
        },
        class_names=tuple(str(d) for d in range(10)),
    ),
    "fashion_mnist": IdxSource(
        mirrors=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
        md5={
            "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
            "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
            "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        class_names=(
            "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
        ),
    ),
}

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_DIR = "cifar-10-batches-py"
# The canonical distribution publishes the md5 of the archive itself.
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)

SOURCES = (*IDX_SOURCES, "cifar10", "image_folder")


@dataclass(frozen=True)
class FetchOptions:
    """How missing public files are fetched; ``mirrors`` overrides the built-in list."""

    download: bool = True
    mirrors: tuple[str, ...] | None = None
    timeout: float = 30.0
    retries: int = 3
    progress: bool = True


def _missing_files_error(directory: Path, names: list[str], reason: str) -> DataSourceError:
    listing = "\n  ".join(str(directory / n) for n in names)
    return DataSourceError(
        f"Missing raw files:\n  {listing}\n{reason} Place the files there by hand "
        f"(e.g. copy them from another machine) and run again."
    )


def _ensure_files(
    directory: Path, files: dict[str, str], md5: dict[str, str], mirrors: tuple[str, ...],
    fetch: FetchOptions, md5_of_decompressed: bool = True,
) -> None:
    missing = [key for key, name in files.items() if not (directory / name).is_file()]
    if not missing:
        return
    names = [files[k] for k in missing]
    if not fetch.download:
        raise _missing_files_error(directory, names, "Downloading is switched off.")
    for key in missing:
        try:
            download_file(
                [m.rstrip("/") + "/" + files[key] for m in mirrors],
                directory / files[key],
                md5.get(key),
                md5_of_decompressed=md5_of_decompressed,
                timeout=fetch.timeout,
                retries=fetch.retries,
                progress=fetch.progress,
            )
        except DownloadError as exc:
            raise _missing_files_error(
                directory, names, f"They could not be downloaded ({exc})."
            ) from exc


def read_idx_source(directory: Path, name: str, fetch: FetchOptions) -> ImageSplits:
    """Read MNIST-style IDX files from ``directory``, fetching missing ones."""
    spec = IDX_SOURCES[name]
    _ensure_files(directory, IDX_FILES, spec.md5, fetch.mirrors or spec.mirrors, fetch)
    arrays = {}
    for key, filename in IDX_FILES.items():
        reader = read_idx_images if key.endswith("images") else read_idx_labels
        arrays[key] = reader(directory / filename)
    for split in ("train", "test"):
        n_img, n_lab = len(arrays[f"{split}_images"]), len(arrays[f"{split}_labels"])
        if n_img != n_lab:
            raise DataSourceError(
                f"{directory / IDX_FILES[split + '_images']}: {n_img} images but "
                f"{directory / IDX_FILES[split + '_labels']} has {n_lab} labels"
            )
    return ImageSplits(source=name, class_names=list(spec.class_names),
                       files={key: str(directory / f) for key, f in IDX_FILES.items()}, **arrays)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    if not path.is_file():
        raise DataSourceError(f"{path}: file not found")
    try:
        with open(path, "rb") as stream:
            # The canonical CIFAR-10 "python version" is a pickle; only read
            # files this project fetched and verified, or that you trust.
            batch = pickle.load(stream, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
        raise DataSourceError(f"{path}: not a CIFAR-10 python batch ({exc})") from exc
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataSourceError(f"{path}: data has shape {data.shape}, expected (N, 3072)")
    if len(data) != len(labels):
        raise DataSourceError(f"{path}: {len(data)} images but {len(labels)} labels")
    # Stored as N x (3 planes of 32x32), i.e. NCHW.
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar10(directory: Path, fetch: FetchOptions) -> ImageSplits:
    """Read the CIFAR-10 python batches, fetching and unpacking the archive if needed."""
    batches = directory / CIFAR10_DIR
    if not batches.is_dir():
        archive = directory / CIFAR10_ARCHIVE
        _ensure_files(
            directory, {"archive": CIFAR10_ARCHIVE}, {"archive": CIFAR10_MD5},
            fetch.mirrors or CIFAR10_MIRRORS, fetch, md5_of_decompressed=False,
        )
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(directory, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise DataSourceError(f"{archive}: cannot unpack ({exc})") from exc
    train = [_read_cifar_batch(batches / f"data_batch_{i}") for i in range(1, 6)]
    test_images, test_labels = _read_cifar_batch(batches / "test_batch")
    return ImageSplits(
        source="cifar10",
        train_images=np.concatenate([b[0] for b in train]),
        train_labels=np.concatenate([b[1] for b in train]),
        test_images=test_images,
        test_labels=test_labels,
        class_names=list(CIFAR10_CLASSES),
        files={"train_images": str(batches / "data_batch_1..5"),
               "train_labels": str(batches / "data_batch_1..5"),
               "test_images": str(batches / "test_batch"), "test_labels": str(batches / "test_batch")},
    )


def read_source(
    source: str,
    directory: Path,
    fetch: FetchOptions = FetchOptions(),
    image_size: int = 28,
    channels: int = 1,
    labels_from_subfolders: bool = True,
) -> ImageSplits:
    """Read the named ``source`` from ``directory``."""
    directory = Path(directory)
    if source in IDX_SOURCES:
        return read_idx_source(directory, source, fetch)
    if source == "cifar10":
        return read_cifar10(directory, fetch)
    if source == "image_folder":
        return read_image_folder(directory, image_size, channels, labels_from_subfolders)
    raise DataSourceError(f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}")
