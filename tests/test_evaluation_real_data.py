"""The metrics on real MNIST: the floor, noise, and corruption (skipped without the data)."""
import numpy as np
import pytest

from wgan_lab.data.processing import to_unit_range
from wgan_lab.data.sources import FetchOptions, read_source
from wgan_lab.evaluation.evaluate import subsample
from wgan_lab.evaluation.metrics import fid

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mnist(shared_mnist_module):
    splits = read_source("mnist", shared_mnist_module, FetchOptions(download=False))
    return (to_unit_range(splits.train_images), splits.train_labels,
            to_unit_range(splits.test_images), splits.test_labels)


@pytest.fixture(scope="module")
def extractor(quick_mnist_extractor):
    extractor, accuracy = quick_mnist_extractor
    assert accuracy > 0.9
    return extractor


def test_real_vs_real_far_below_real_vs_noise(mnist, extractor):
    train_x, _, test_x, _ = mnist
    real_a = extractor(subsample(train_x, 2000, 0))[0]
    real_b = extractor(subsample(test_x, 2000, 1))[0]
    noise = np.random.default_rng(0).uniform(-1, 1, (2000, 28, 28, 1)).astype(np.float32)
    floor, noisy = fid(real_a, real_b), fid(real_a, extractor(noise)[0])
    assert floor * 20 < noisy


def test_fid_grows_monotonically_with_corruption(mnist, extractor):
    _, _, test_x, _ = mnist
    reference = extractor(test_x[:2000])[0]
    other = test_x[2000:4000]
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (0.0, 0.1, 0.25, 0.5, 1.0):
        corrupted = np.clip(other + sigma * rng.standard_normal(other.shape), -1, 1).astype(np.float32)
        scores.append(fid(reference, extractor(corrupted)[0]))
    assert scores == sorted(scores) and scores[-1] > 5 * scores[0]

