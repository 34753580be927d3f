import numpy as np
import pytest
from PIL import Image

from wgan_lab.data.errors import DataSourceError
from wgan_lab.data.image_folder import read_image_folder
from wgan_lab.data.images import UNLABELLED, ImageSplits
from wgan_lab.data.processing import (
    from_unit_range, hold_out, summarize, to_unit_range, validate,
)


def make_folder(root, per_class=4, broken=1, size=12):
    rng = np.random.default_rng(0)
    for cls, suffix in (("cats", ".png"), ("dogs", ".jpg")):
        (root / cls / "nested").mkdir(parents=True)
        for i in range(per_class):
            where = root / cls / ("nested" if i % 2 else "")
            Image.fromarray(rng.integers(0, 256, (size, size + 3, 3), np.uint8)).save(
                where / f"{i}{suffix}")
    for i in range(broken):
        (root / "cats" / f"broken{i}.png").write_bytes(b"not an image")
    (root / "notes.txt").write_text("ignored")
    return root


def test_reads_recursively_with_labels_resize_and_channels(tmp_path):
    splits = read_image_folder(make_folder(tmp_path), image_size=16, channels=1)
    assert splits.train_images.shape == (8, 16, 16, 1)
    assert splits.class_names == ["cats", "dogs"]
    assert sorted(np.bincount(splits.train_labels)) == [4, 4]
    assert splits.files_seen == 9
    assert [p.endswith("broken0.png") for p, _ in splits.skipped] == [True]


def test_rgb_and_unlabelled(tmp_path):
    make_folder(tmp_path, broken=0)
    Image.new("RGB", (5, 5)).save(tmp_path / "top.bmp")
    splits = read_image_folder(tmp_path, image_size=8, channels=3)
    assert splits.train_images.shape == (9, 8, 8, 3)
    assert splits.class_names == [] and (splits.train_labels == UNLABELLED).all()


def test_skipped_fraction_is_reported_then_enforced(tmp_path):
    splits = read_image_folder(make_folder(tmp_path, broken=1), image_size=8, channels=1)
    report = validate(splits, max_skipped_fraction=0.5)
    # notes.txt is listed as unsupported, not counted as unreadable
    assert list(report.columns) == ["path", "problem", "reason"]
    assert sorted(report["problem"]) == ["unreadable", "unsupported"]
    with pytest.raises(DataSourceError, match=r"(?s)1 of 9 image files unreadable.*broken0.png"):
        validate(splits, max_skipped_fraction=0.1)


def test_empty_folder_is_an_error(tmp_path):
    with pytest.raises(DataSourceError, match="no images found"):
        read_image_folder(tmp_path, 8, 1)


def test_all_broken_is_an_error(tmp_path):
    (tmp_path / "a.png").write_bytes(b"junk")
    splits = read_image_folder(tmp_path, 8, 1)
    with pytest.raises(DataSourceError, match="no usable training images"):
        validate(splits, max_skipped_fraction=1.0)


def splits_of(n_train, n_test=0, labels=None):
    images = np.zeros((n_train, 4, 4, 1), np.uint8)
    return ImageSplits("t", images, np.arange(n_train) % 2 if labels is None else labels,
                       np.zeros((n_test, 4, 4, 1), np.uint8), np.zeros(n_test, np.int64),
                       class_names=["a", "b"])


def test_label_count_mismatch_and_range():
    with pytest.raises(DataSourceError, match="10 images but 3 labels"):
        validate(splits_of(10, labels=np.zeros(3, np.int64)), 0.0)
    with pytest.raises(DataSourceError, match="labels outside 0..1"):
        validate(splits_of(3, labels=np.array([0, 1, 2])), 0.0)


def test_hold_out_is_seeded_and_disjoint():
    base = splits_of(100)
    base.train_images[:, 0, 0, 0] = np.arange(100)
    a, b, c = hold_out(base, 0.2, 1), hold_out(base, 0.2, 1), hold_out(base, 0.2, 2)
    assert len(a.test_images) == 20 and len(a.train_images) == 80
    ids = lambda s: set(s.test_images[:, 0, 0, 0])  # noqa: E731
    assert ids(a) == ids(b) != ids(c)
    assert not ids(a) & set(a.train_images[:, 0, 0, 0])
    assert hold_out(splits_of(10, n_test=5), 0.2, 1).test_images.shape[0] == 5


def test_unit_range_exact_ends_and_round_trip():
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    unit = to_unit_range(pixels)
    assert unit.dtype == np.float32 and unit.min() == -1.0 and unit.max() == 1.0
    np.testing.assert_array_equal(from_unit_range(unit), pixels)


def test_summary_counts_and_moments():
    splits = splits_of(4, labels=np.array([0, 0, 0, 1]))
    splits.train_images[3] = 255
    table = summarize(splits).set_index(["split", "class"])
    assert table.loc[("train", "a"), "count"] == 3
    assert table.loc[("train", "b"), "pixel_mean"] == 1.0
    assert table.loc[("train", "(all)"), "pixel_mean"] == pytest.approx(0.25)
    assert table.loc[("train", "(all)"), "pixel_std"] == pytest.approx(np.sqrt(0.25 * 0.75))
