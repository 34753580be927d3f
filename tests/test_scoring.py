"""Scoring generators and samples made elsewhere (`kedro run --pipelines=evaluate`):
real images score near the real floor, whatever file they come in; bad files are
refused in one line naming the file and the problem (the pipeline refuses them
before any work: test_checks_before_run)."""
import json

import keras
import mlflow
import numpy as np
import pytest
from PIL import Image
from scipy import linalg

from tests.conftest import run_pipeline, write_idx_source
from wgan_lab.data.processing import to_unit_range
from wgan_lab.data.sources import FetchOptions, read_source as read_dataset
from wgan_lab.evaluation.evaluate import Protocol, subsample
from wgan_lab.scoring import ScoreSourceError, check_source, read_source, score


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance of two feature sets, from its formula."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


@pytest.mark.integration
def test_real_images_in_an_npz_or_pngs_score_the_real_floor(shared_mnist, quick_mnist_extractor,
                                                              tmp_path):
    splits = read_dataset("mnist", shared_mnist, FetchOptions(download=False))
    extractor, _ = quick_mnist_extractor
    protocol = Protocol(n_samples=1000, kid_subsets=5, kid_subset_size=500)
    test = to_unit_range(splits.test_images)
    train = splits.train_images[:1000]
    np.savez(tmp_path / "real.npz", images=train[..., 0],   # no channel axis: allowed
             labels=splits.train_labels[:1000].astype(np.int64))
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i, image in enumerate(train[:, :, :, 0]):
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    real = subsample(test, 1000, protocol.seed)
    floor = frechet(extractor(to_unit_range(train))[0], extractor(real)[0])
    for source in (tmp_path / "real.npz", folder):
        metrics = score(read_source(str(source)), str(source), test, extractor, protocol)
        assert metrics["fid"] == pytest.approx(floor, rel=1e-3), source
    # Another thousand real images: the floor's own spread.
    other = frechet(extractor(to_unit_range(splits.train_images[1000:2000]))[0],
                    extractor(real)[0])
    assert floor < 3 * other
    assert metrics["n_fake"] == 1000


@pytest.mark.integration
def test_labelled_real_samples_score_cas_equal_to_the_real_trained_classifier(
        shared_mnist, quick_mnist_extractor, tmp_path):
    """Real training images with their own labels, scored as samples: CAS (the recipe
    trained on them, tested on the real test images) is the accuracy of that recipe
    trained on real data, and the class accuracy is the domain classifier's per-class
    accuracy on them."""
    from wgan_lab.evaluation.features import ClassifierConfig, train_classifier

    splits = read_dataset("mnist", shared_mnist, FetchOptions(download=False))
    extractor, _ = quick_mnist_extractor
    protocol = Protocol(n_samples=1000, kid_subsets=5, kid_subset_size=500)
    recipe = ClassifierConfig(epochs=1, batch_size=128)
    train, labels = splits.train_images[:1000], splits.train_labels[:1000].astype(np.int64)
    np.savez(tmp_path / "labelled.npz", images=train, labels=labels)
    test = to_unit_range(splits.test_images)
    metrics = score(read_source(str(tmp_path / "labelled.npz")), "labelled.npz", test,
                    extractor, protocol, splits.test_labels, recipe)

    keep = subsample(np.arange(len(test)), 1000, protocol.seed)
    _, real_trained = train_classifier(to_unit_range(train), labels, test[keep],
                                       splits.test_labels[keep], recipe)
    assert metrics["cas"] == pytest.approx(real_trained, abs=1e-6)
    predicted = extractor(to_unit_range(train))[1].argmax(axis=1)
    per_class = [np.mean(predicted[labels == c] == c) for c in range(10)]
    assert metrics["class_accuracy"] == pytest.approx(np.mean(per_class))
    assert metrics["class_accuracy_worst"] == pytest.approx(min(per_class))
    assert metrics["intra_fid"] > 0 and metrics["intra_fid_worst"] >= metrics["intra_fid"]


def test_bad_files_are_refused_in_one_line_naming_the_file(tmp_path):
    cases = {
        "size.npz": (dict(images=np.zeros((4, 32, 32), np.uint8)), "wrong image size: 32x32x1"),
        "channels.npz": (dict(images=np.zeros((4, 28, 28, 3), np.uint8)),
                         "wrong channel count: 28x28x3"),
        "range.npz": (dict(images=np.full((4, 28, 28), 1.5, np.float32)),
                      "float pixel values must lie in [-1, 1]"),
        "labels.npz": (dict(images=np.zeros((4, 28, 28), np.uint8), labels=np.array([0, 1, 2, 10])),
                       "labels must lie in 0-9"),
        "named.npz": (dict(pictures=np.zeros((4, 28, 28), np.uint8)),
                      "needs an array named 'images' (found: pictures)"),
    }
    for name, (arrays, problem) in cases.items():
        np.savez(tmp_path / name, **arrays)
        with pytest.raises(ScoreSourceError) as error:
            check_source(str(tmp_path / name), "mnist")
        message = str(error.value)
        assert message.startswith(f"{tmp_path / name}: ") and problem in message, message
        assert "\n" not in message
    (tmp_path / "broken.keras").write_text("not a model")
    with pytest.raises(ScoreSourceError, match=r"broken\.keras: not a Keras model"):
        check_source(str(tmp_path / "broken.keras"), "mnist")
    # A generator of 32x32 colour images for MNIST's 28x28 grey ones.
    z = keras.Input((4,))
    image = keras.layers.Reshape((32, 32, 3))(keras.layers.Dense(32 * 32 * 3)(z))
    keras.Model(z, image).save(tmp_path / "colour.keras")
    with pytest.raises(ScoreSourceError, match=r"colour\.keras: wrong image size: 32x32x3, "
                                               r"where the dataset's images are 28x28x1"):
        check_source(str(tmp_path / "colour.keras"), "mnist")
    with pytest.raises(ScoreSourceError, match=r"nowhere\.npz: no such file or folder"):
        check_source(str(tmp_path / "nowhere.npz"), "mnist")


def test_the_evaluate_pipeline_writes_the_metrics_a_report_and_an_mlflow_run(kedro_project):
    arrays = write_idx_source(kedro_project / "data/01_raw/mnist", n_train=200, n_test=60)
    source = kedro_project / "made_elsewhere.npz"
    np.savez(source, images=arrays["train_images"][:50])
    run_pipeline(kedro_project, "evaluate", env="quick", params={"source": str(source)})
    folder = kedro_project / "data/08_reporting/mnist-quick/scored"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["source"] == str(source) and metrics["n_fake"] == 50
    report = (folder / "report.md").read_text()
    assert report.startswith(f"# Scored: {source}") and f"| fid | {metrics['fid']:.4g} |" in report
    client = mlflow.MlflowClient()
    [run] = client.search_runs([e.experiment_id for e in client.search_experiments()],
                               f"tags.scored_source = '{source}'")
    assert run.data.metrics["protocol_fid"] == pytest.approx(metrics["fid"])
    assert "scored/report.md" in {a.path for a in client.list_artifacts(run.info.run_id, "scored")}
