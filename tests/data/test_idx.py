import gzip

import numpy as np
import pytest

from wgan_lab.data.errors import DataSourceError
from wgan_lab.data.idx import encode_idx, read_idx_images, read_idx_labels


def write(path, content, compress=True):
    path.write_bytes(gzip.compress(content) if compress else content)
    return path


def test_round_trip_images_and_labels(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.uint8).reshape(3, 4, 5)
    labels = np.array([7, 0, 9], dtype=np.uint8)
    got = read_idx_images(write(tmp_path / "i.gz", encode_idx(images)))
    assert got.shape == (3, 4, 5, 1) and got.dtype == np.uint8
    np.testing.assert_array_equal(got[..., 0], images)
    got_labels = read_idx_labels(write(tmp_path / "l", encode_idx(labels), compress=False))
    assert got_labels.dtype == np.int64
    np.testing.assert_array_equal(got_labels, labels)


def test_header_hand_written(tmp_path):
    content = bytes([0, 0, 8, 1, 0, 0, 0, 2, 5, 6])
    np.testing.assert_array_equal(read_idx_labels(write(tmp_path / "l.gz", content)), [5, 6])


@pytest.mark.parametrize(
    "content, message",
    [
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 5]), "bad IDX magic"),
        (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1, 5]), "type code 0x0d"),
        (encode_idx(np.zeros((2, 2, 2), np.uint8)), "3 dimensions, expected 1"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 3, 5]), "declares shape (3,)"),
        (bytes([0, 0, 8]), "too short"),
    ],
)
def test_malformed_label_files_name_file_and_problem(tmp_path, content, message):
    path = write(tmp_path / "labels.gz", content)
    with pytest.raises(DataSourceError, match="labels.gz") as info:
        read_idx_labels(path)
    assert message in str(info.value)


def test_truncated_gzip(tmp_path):
    blob = gzip.compress(encode_idx(np.zeros((10, 28, 28), np.uint8)))
    path = tmp_path / "images.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataSourceError, match="truncated or corrupt gzip"):
        read_idx_images(path)


def test_not_gzip_despite_suffix(tmp_path):
    path = tmp_path / "images.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataSourceError, match="not a gzip file"):
        read_idx_images(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataSourceError, match="file not found"):
        read_idx_images(tmp_path / "nope.gz")
