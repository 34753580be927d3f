"""Nodes of the reporting pipelines: thin adapters over ``wgan_lab.reporting.compare``."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from PIL import Image

from wgan_lab.data.images import ImageSplits
from wgan_lab.data.processing import from_unit_range
from wgan_lab.core import settings_from
from wgan_lab.evaluation.evaluate import GenerateSettings, generate, interpolate
from wgan_lab.evaluation.metrics import class_histogram
from wgan_lab.reporting.compare import VariantRun, build_report
from wgan_lab.gan.conditioning import generator_classes
from wgan_lab.visualize import class_rows, image_grid

logger = logging.getLogger(__name__)

PER_VARIANT = ("metrics", "training_history", "fid_history", "class_histogram", "generator")


def compare_variants(validated_images: ImageSplits, real_floor: dict[str, Any],
                     feature_space_info: dict[str, Any], evaluation: dict[str, Any],
                     **per_variant) -> tuple[str, str, dict[str, Any]]:
    """One report over every variant passed as ``<variant>__<item>`` keyword arguments."""
    names = sorted({key.split("__")[0] for key in per_variant})
    runs = []
    for name in names:
        item = {k: per_variant[f"{name}__{k}"] for k in PER_VARIANT}
        runs.append(VariantRun(
            name=name, metrics=item["metrics"], history=item["training_history"],
            fid_history=item["fid_history"], class_histogram=item["class_histogram"],
            samples=generate(item["generator"], 64, seed=evaluation["protocol"]["seed"]),
            interpolation=interpolate(item["generator"]),
        ))
    real_histogram = (class_histogram(validated_images.test_labels,
                                      len(validated_images.class_names)).tolist()
                      if validated_images.labelled and len(validated_images.test_labels) else [])
    return build_report(runs, real_floor, real_histogram, validated_images.class_names,
                        evaluation["protocol"], feature_space_info.get("feature_space", "?"))


def generate_images(generator, settings: dict[str, Any]
                    ) -> tuple[dict[str, Image.Image], dict[str, np.ndarray], Image.Image]:
    """``n`` images as PNG files and one array bundle, from fixed-seed noise; a
    conditional generator's of the asked classes, with their labels in the bundle and
    a grid of one row per class."""
    chosen = settings_from(GenerateSettings, settings, "generate")
    labels = chosen.labels(generator_classes(generator))
    images = generate(generator, chosen.n, chosen.seed, labels=labels)
    pixels = from_unit_range(images)
    pngs = {f"{i:06d}": Image.fromarray(p[..., 0] if p.shape[-1] == 1 else p)
            for i, p in enumerate(pixels)}
    arrays = {"images": pixels, "images_unit_range": images}
    if labels is None:
        grid = image_grid(images[:64])
    else:
        arrays["labels"] = labels
        grid = class_rows(images, labels)
    logger.info("Generated %d images%s", len(pixels), "" if labels is None else
                f" of class {', '.join(map(str, np.unique(labels)))}")
    return pngs, arrays, grid

