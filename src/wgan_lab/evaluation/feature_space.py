"""Where metrics are computed, and the FID a trainer asks for during training.

The domain classifier for labelled data, InceptionV3 from a local weights
file for unlabelled data, or pixels only. Both the evaluation and the
training pipelines use this module; neither imports the other's nodes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wgan_lab.core import settings_from

from .evaluate import EvaluationSettings, Extractor, generate, subsample
from .features import ClassifierConfig, FeatureExtractor, load_inception, load_or_train_classifier
from .metrics import classes_covered, frechet_distance, gaussian_stats


@dataclass
class FeatureSpace:
    """Where metrics are computed: a feature extractor (None: pixel metrics only)."""

    extractor: Extractor | None
    description: str
    n_classes: int = 0


def fit_feature_space(train_images: np.ndarray, train_labels: np.ndarray,
                      test_images: np.ndarray, test_labels: np.ndarray,
                      evaluation: dict[str, Any], classifier_dir: str
                      ) -> tuple[FeatureSpace, dict[str, Any]]:
    """The cached domain classifier for labelled data; InceptionV3 or pixels otherwise."""
    if (train_labels >= 0).all() and len(np.unique(train_labels)) > 1:
        config = ClassifierConfig(**evaluation["classifier"])
        model, info = load_or_train_classifier(classifier_dir, train_images, train_labels,
                                               test_images, test_labels, config)
        extractor = FeatureExtractor(model)
        return (FeatureSpace(extractor, "domain classifier", extractor.n_classes),
                {"feature_space": "domain classifier", **info})
    inception = load_inception(evaluation.get("inception_weights"), train_images.shape[1:])
    if inception is None:
        return FeatureSpace(None, "pixels only"), {"feature_space": "pixels only"}

    def extract(images):
        return np.concatenate([np.asarray(inception(images[i:i + 100], training=False))
                               for i in range(0, len(images), 100)]), None

    return FeatureSpace(extract, "InceptionV3"), {"feature_space": "InceptionV3"}


def fit_second_feature_space(train_images: np.ndarray, train_labels: np.ndarray,
                             test_images: np.ndarray, test_labels: np.ndarray,
                             evaluation: dict[str, Any]) -> tuple[FeatureSpace, dict[str, Any]]:
    """The second evaluator: ``evaluation.second_classifier`` (by default an MLP with
    another seed) trained on the same split and cached in ``second_classifier_dir``;
    None features for unlabelled data or without a cache folder."""
    settings = settings_from(EvaluationSettings, evaluation, "evaluation")
    folder, config = settings.second_classifier_dir, settings.second_classifier
    if not folder or not ((train_labels >= 0).all() and len(np.unique(train_labels)) > 1):
        return FeatureSpace(None, "none"), {"feature_space": "none"}
    model, info = load_or_train_classifier(folder, train_images, train_labels, test_images,
                                           test_labels, config)
    extractor = FeatureExtractor(model)
    description = f"second classifier ({config.architecture}, seed {config.seed})"
    return (FeatureSpace(extractor, description, extractor.n_classes),
            {"feature_space": description, **info})


def in_training_fid(space: FeatureSpace, test_images: np.ndarray, n: int, seed: int):
    """A trainer ``evaluate`` callback: FID and classes covered on ``n`` samples (None without features)."""
    if space.extractor is None:
        return None
    real_features, _ = space.extractor(subsample(test_images, n, seed))
    real_stats = gaussian_stats(real_features)

    def evaluate(step: int, generator) -> dict[str, float]:
        features, probabilities = space.extractor(generate(generator, n, seed))
        scores = {"fid": frechet_distance(*real_stats, *gaussian_stats(features))}
        if probabilities is not None:
            scores["classes_covered"] = float(
                classes_covered(probabilities.argmax(axis=1), probabilities.shape[1]))
        return scores

    return evaluate
