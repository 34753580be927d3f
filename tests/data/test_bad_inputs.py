"""Every bad input named: each case here was a defect found by trying broken data."""
import gzip

import numpy as np
import pytest
from PIL import Image

from tests.conftest import run_pipeline, write_idx_source
from wgan_lab.data.errors import DataSourceError
from wgan_lab.data.idx import encode_idx
from wgan_lab.data.image_folder import read_image_folder
from wgan_lab.data.images import ImageSplits
from wgan_lab.data.processing import validate
from wgan_lab.data.sources import FetchOptions, read_source


def good_pngs(folder, n=4, size=8):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((size, size), 40 * i, np.uint8)).save(folder / f"ok{i}.png")


def test_decompression_bomb_is_skipped_and_listed(tmp_path, monkeypatch):
    good_pngs(tmp_path)
    Image.new("L", (100, 100)).save(tmp_path / "bomb.png")
    # Pillow refuses images over twice MAX_IMAGE_PIXELS: 10,000 > 2 * 1,000.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    splits = read_image_folder(tmp_path, image_size=8, channels=1)
    assert len(splits.train_images) == 4
    assert [(p.endswith("bomb.png"), "DecompressionBombError" in r) for p, r in splits.skipped] \
        == [(True, True)]


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 257, 32768, 65535]], np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    image.save(tmp_path / "deep.png")
    splits = read_image_folder(tmp_path, image_size=4, channels=1)
    # x * 255 / 65535, rounded: 0, 1, 127.5 -> 128, 255 (clipping gave 0, 255, 255, 255)
    np.testing.assert_array_equal(splits.train_images[0, ..., 0], [[0, 1, 128, 255]] * 4)


def test_unsupported_files_are_counted_and_listed_not_failed(tmp_path):
    good_pngs(tmp_path / "cats")
    Image.new("L", (8, 8)).save(tmp_path / "cats" / "anim.gif")
    (tmp_path / "cats" / "readme.txt").write_text("x")
    (tmp_path / ".hidden").write_text("x")
    splits = read_image_folder(tmp_path, image_size=8, channels=1)
    report = validate(splits, max_skipped_fraction=0.0)
    listed = report[report["problem"] == "unsupported"]
    assert sorted(p.rsplit("/", 1)[-1] for p in listed["path"]) == ["anim.gif", "readme.txt"]
    assert listed["reason"].str.contains("unsupported file type .gif").any()


def test_a_folder_of_only_unsupported_files_says_what_it_found(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "a.gif")
    with pytest.raises(DataSourceError, match=r"no images found .*found 1 other file\(s\), e\.g\. a\.gif"):
        read_image_folder(tmp_path, 8, 1)


def test_label_range_error_names_file_values_and_count(tmp_path):
    arrays = write_idx_source(tmp_path, n_train=20, n_test=10)
    labels = arrays["train_labels"].copy()
    labels[[3, 7, 9]] = [12, 255, 12]
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(labels)))
    splits = read_source("mnist", tmp_path, FetchOptions(download=False))
    with pytest.raises(DataSourceError, match=r"train-labels-idx1-ubyte\.gz: 3 of 20 train labels "
                                              r"outside 0\.\.9 \(values 12, 255\)"):
        validate(splits, 0.0)


def test_shape_error_says_which_file_is_which():
    splits = ImageSplits("mnist", np.zeros((2, 28, 28, 1), np.uint8), np.zeros(2, np.int64),
                         np.zeros((2, 32, 32, 1), np.uint8), np.zeros(2, np.int64),
                         class_names=[str(i) for i in range(10)],
                         files={"train_images": "raw/train-images", "test_images": "raw/t10k-images"})
    with pytest.raises(DataSourceError, match=r"raw/t10k-images: test images have shape "
                                              r"\(32, 32, 1\), but the train images "
                                              r"\(raw/train-images\) have \(28, 28, 1\)"):
        validate(splits, 0.0)


def test_threshold_error_says_how_to_change_it(tmp_path):
    good_pngs(tmp_path, n=3)
    (tmp_path / "broken.png").write_bytes(b"junk")
    splits = read_image_folder(tmp_path, image_size=8, channels=1)
    with pytest.raises(DataSourceError, match=r"raise it, e\.g\. --params=data_processing\."
                                              r"max_skipped_fraction=0\.26"):
        validate(splits, 0.05)


def test_no_report_beside_older_arrays_when_ingestion_fails(kedro_project):
    """A first run writes arrays and reports; a second run whose arrays cannot be saved
    must not rewrite the reports (they would describe data the arrays do not hold)."""
    raw = kedro_project / "data/01_raw/mnist"
    write_idx_source(raw, n_train=30, n_test=10)
    run_pipeline(kedro_project, "data_processing")
    report = kedro_project / "data/08_reporting/mnist/data_validation_report.csv"
    summary = kedro_project / "data/08_reporting/mnist/data_summary.csv"
    before = {p: p.stat().st_mtime_ns for p in (report, summary)}

    write_idx_source(raw, n_train=40, n_test=10, seed=1)
    blocked = kedro_project / "data/05_model_input/mnist/train_labels.npy"
    blocked.unlink()
    blocked.mkdir()  # a folder where the array goes: its save fails
    with pytest.raises(Exception):
        run_pipeline(kedro_project, "data_processing")
    assert {p: p.stat().st_mtime_ns for p in (report, summary)} == before


def test_failed_validation_writes_no_report(kedro_project):
    raw = kedro_project / "data/01_raw/mnist"
    arrays = write_idx_source(raw, n_train=20, n_test=10)
    labels = arrays["test_labels"].copy()
    labels[0] = 42
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(labels)))
    with pytest.raises(Exception, match=r"t10k-labels-idx1-ubyte\.gz: 1 of 10 test labels"):
        run_pipeline(kedro_project, "data_processing")
    assert not (kedro_project / "data/08_reporting").exists() or not any(
        (kedro_project / "data/08_reporting").rglob("*.*"))
