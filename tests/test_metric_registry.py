"""One registry of the protocol's metrics: evaluation computes its entries, and the
compare and study reports name and order them from it."""
import numpy as np

from wgan_lab.evaluation.evaluate import Protocol, compute_metrics
from wgan_lab.evaluation.features import ClassifierConfig
from wgan_lab.evaluation.metrics import METRICS
from wgan_lab.reporting.compare import TABLE_COLUMNS
from wgan_lab.reporting.study import HEADLINE


def extractor(images):
    features = images.reshape(len(images), -1)[:, :12].astype(np.float64)
    logits = features[:, :10]
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return features, probabilities


def test_evaluation_computes_every_registered_metric_and_nothing_else():
    rng = np.random.default_rng(0)
    real, fake = (rng.uniform(-1, 1, (60, 4, 4, 1)).astype(np.float32) for _ in range(2))
    protocol = Protocol(n_samples=60, kid_subsets=3, kid_subset_size=20, k=3, swd_projections=8)
    # Labelled samples (a conditional generator's) and a classifier recipe: every metric.
    labels = np.arange(60) % 3
    recipe = ClassifierConfig(architecture="mlp", epochs=1, feature_dim=4)
    result = compute_metrics(real, fake, extractor, protocol, real_labels=labels,
                             fake_labels=labels, recipe=recipe)
    assert set(result) - {"n_real", "n_fake"} == set(METRICS)
    # Unlabelled: all but the labelled metrics.
    unlabelled = compute_metrics(real, fake, extractor, protocol)
    assert set(unlabelled) - {"n_real", "n_fake"} == {
        n for n, m in METRICS.items() if m.needs not in ("labels", "recipe")}
    # Without a feature space only the pixel metrics remain.
    pixels = compute_metrics(real, fake, None, protocol)
    assert set(pixels) - {"n_real", "n_fake"} == {n for n, m in METRICS.items()
                                                  if m.needs == "pixels"}


def test_reports_read_labels_and_headline_from_the_registry():
    assert TABLE_COLUMNS == {name: metric.label for name, metric in METRICS.items()}
    leading = [name for name, metric in METRICS.items() if metric.headline]
    assert list(HEADLINE[:len(leading)]) == leading
    assert METRICS["fid"].lower_is_better and not METRICS["recall"].lower_is_better
