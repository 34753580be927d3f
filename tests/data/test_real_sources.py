"""Entry points users rely on, against real files: the shipped checksums, Fashion-MNIST,
and the CIFAR-10 reader on an archive in the real pickled format."""
import gzip
import hashlib
import pickle
import tarfile

import numpy as np
import pytest

from tests.conftest import require_shared_dataset
from wgan_lab.data.idx import encode_idx
from wgan_lab.data.sources import (
    CIFAR10_ARCHIVE, CIFAR10_CLASSES, IDX_FILES, IDX_SOURCES, FetchOptions, read_source,
)


@pytest.mark.integration
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_shipped_md5s_match_the_real_files(name):
    """The constants download() verifies against, checked on the real decompressed bytes."""
    folder = require_shared_dataset(name)
    for key, filename in IDX_FILES.items():
        digest = hashlib.md5(gzip.decompress((folder / filename).read_bytes())).hexdigest()
        assert IDX_SOURCES[name].md5[key] == digest, filename


@pytest.mark.integration
def test_fashion_mnist_is_ingested_for_real():
    splits = read_source("fashion_mnist", require_shared_dataset("fashion_mnist"),
                         FetchOptions(download=False))
    assert splits.train_images.shape == (60000, 28, 28, 1)
    assert splits.test_images.shape == (10000, 28, 28, 1)
    # Fashion-MNIST is balanced: 6,000 train and 1,000 test images per class.
    assert np.bincount(splits.train_labels).tolist() == [6000] * 10
    assert np.bincount(splits.test_labels).tolist() == [1000] * 10
    assert splits.class_names[0] == "T-shirt/top" and len(splits.class_names) == 10
    assert splits.train_images.max() == 255 and splits.train_images.min() == 0


def _cifar_batch(n, first_label, rng):
    """A batch dict as CIFAR-10's python pickles hold it: bytes keys, rows of 3 colour planes."""
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    data[0, :1024], data[0, 1024:2048], data[0, 2048:] = 255, 0, 128   # image 0: R, G, B planes
    return {b"batch_label": b"testing batch", b"labels": [(first_label + i) % 10 for i in range(n)],
            b"data": data, b"filenames": [f"img_{i}.png".encode() for i in range(n)]}


def test_cifar10_reader_on_an_archive_in_the_real_format(tmp_path):
    rng = np.random.default_rng(0)
    staging = tmp_path / "staging" / "cifar-10-batches-py"
    staging.mkdir(parents=True)
    for i in range(1, 6):
        with open(staging / f"data_batch_{i}", "wb") as stream:
            pickle.dump(_cifar_batch(4, i, rng), stream)
    with open(staging / "test_batch", "wb") as stream:
        pickle.dump(_cifar_batch(3, 0, rng), stream)
    raw = tmp_path / "raw"
    raw.mkdir()
    with tarfile.open(raw / CIFAR10_ARCHIVE, "w:gz") as tar:
        tar.add(staging, arcname="cifar-10-batches-py")

    splits = read_source("cifar10", raw, FetchOptions(download=False))
    assert splits.train_images.shape == (20, 32, 32, 3) and splits.test_images.shape == (3, 32, 32, 3)
    assert splits.train_labels.tolist()[:5] == [1, 2, 3, 4, 2]       # batch 1 then batch 2
    # Stored as planes (NCHW): every pixel of image 0 must read (255, 0, 128).
    assert (splits.train_images[0] == [255, 0, 128]).all()
    assert splits.class_names == list(CIFAR10_CLASSES)
    assert (raw / "cifar-10-batches-py" / "test_batch").is_file()     # unpacked beside the archive


def test_cifar10_batch_that_is_not_a_pickle_is_named(tmp_path):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(gzip.compress(encode_idx(np.zeros(3, np.uint8))))
    with pytest.raises(Exception, match=r"data_batch_1: not a CIFAR-10 python batch"):
        read_source("cifar10", tmp_path, FetchOptions(download=False))
