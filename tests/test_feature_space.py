"""The feature space for unlabelled images: InceptionV3 from a local file, or pixels only."""
import logging

import keras
import numpy as np

from wgan_lab.pipelines.evaluation.nodes import fit_feature_space, real_floor

UNLABELLED = np.full(8, -1, np.int64)
IMAGES = np.random.default_rng(0).uniform(-1, 1, (8, 28, 28, 1)).astype(np.float32)
PROTOCOL = {"protocol": {"n_samples": 8, "kid_subsets": 2, "kid_subset_size": 4, "k": 2}}


def test_unlabelled_without_weights_falls_back_to_pixels_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        space, info = fit_feature_space(IMAGES, UNLABELLED, IMAGES, UNLABELLED,
                                        {"inception_weights": "/nonexistent.h5", **PROTOCOL}, "unused")
    assert space.extractor is None and info["feature_space"] == "pixels only"
    assert "only the pixel-space metrics" in caplog.text
    floor = real_floor(space, IMAGES, IMAGES, PROTOCOL)
    assert "sliced_wasserstein" in floor and "fid" not in floor


def test_unlabelled_with_a_local_inception_weights_file(tmp_path):
    # Random weights in the right file format stand in for the ImageNet ones.
    weights = tmp_path / "inception_notop.weights.h5"
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(299, 299, 3)).save_weights(weights)
    space, info = fit_feature_space(IMAGES, UNLABELLED, IMAGES, UNLABELLED,
                                    {"inception_weights": str(weights), **PROTOCOL}, "unused")
    assert info["feature_space"] == "InceptionV3"
    features, probabilities = space.extractor(IMAGES[:3])
    assert features.shape == (3, 2048) and probabilities is None
