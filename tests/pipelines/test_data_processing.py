"""The data_processing pipeline through a real Kedro session."""
import gzip

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tests.conftest import run_pipeline, write_idx_source


def test_tiny_idx_source_end_to_end(kedro_project):
    arrays = write_idx_source(kedro_project / "data/01_raw/mnist", n_train=50, n_test=20)
    run_pipeline(kedro_project, "data_processing")
    model_input = kedro_project / "data/05_model_input/mnist"
    train = np.load(model_input / "train_images.npy")
    assert train.shape == (50, 28, 28, 1) and train.dtype == np.float32
    assert -1.0 <= train.min() and train.max() <= 1.0
    np.testing.assert_array_equal(np.load(model_input / "test_labels.npy"),
                                  arrays["test_labels"])
    summary = pd.read_csv(kedro_project / "data/08_reporting/mnist/data_summary.csv")
    assert summary.query("split == 'train' and `class` == '(all)'")["count"].item() == 50
    grid = Image.open(kedro_project / "data/08_reporting/mnist/real_samples.png")
    assert grid.size[0] > 28 * 7


def test_dataset_is_chosen_by_runtime_parameter(kedro_project):
    write_idx_source(kedro_project / "data/01_raw/fashion_mnist", n_train=30, n_test=10)
    run_pipeline(kedro_project, "data_processing", params={"dataset": "fashion_mnist"})
    assert np.load(kedro_project / "data/05_model_input/fashion_mnist/train_images.npy").shape[0] == 30
    assert not (kedro_project / "data/05_model_input/mnist").exists()


def test_corrupt_source_fails_and_writes_nothing(kedro_project):
    raw = kedro_project / "data/01_raw/mnist"
    write_idx_source(raw)
    labels = raw / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:-5]))
    with pytest.raises(Exception, match="train-labels-idx1-ubyte.gz.*declares shape"):
        run_pipeline(kedro_project, "data_processing")
    assert not (kedro_project / "data/05_model_input").exists()
    assert not (kedro_project / "data/08_reporting").exists()


def test_image_folder_with_a_broken_file(kedro_project):
    root = kedro_project / "data/01_raw/image_folder"
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(np.full((20, 20, 3), i * 10, np.uint8)).save(root / cls / f"{i}.png")
    (root / "a" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    run_pipeline(kedro_project, "data_processing", params={"dataset": "image_folder"})
    out = kedro_project / "data/05_model_input/image_folder"
    assert np.load(out / "train_images.npy").shape == (18, 28, 28, 1)
    assert np.load(out / "test_images.npy").shape == (2, 28, 28, 1)
    report = pd.read_csv(kedro_project / "data/08_reporting/image_folder/data_validation_report.csv")
    assert report["path"].str.endswith("bad.jpg").tolist() == [True]


@pytest.mark.integration
def test_real_mnist(kedro_project, shared_mnist):
    raw = kedro_project / "data/01_raw/mnist"
    raw.mkdir(parents=True)
    for f in shared_mnist.glob("*.gz"):
        (raw / f.name).symlink_to(f)
    run_pipeline(kedro_project, "data_processing")
    out = kedro_project / "data/05_model_input/mnist"
    train, test = np.load(out / "train_images.npy"), np.load(out / "test_images.npy")
    assert train.shape == (60000, 28, 28, 1) and test.shape == (10000, 28, 28, 1)
    assert train.min() == -1.0 and train.max() == 1.0
    counts = np.bincount(np.load(out / "train_labels.npy"))
    assert counts.tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(np.load(out / "test_labels.npy")).tolist() == [
        980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
