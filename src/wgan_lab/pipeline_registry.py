"""Project pipelines.

``<variant>`` (gan, wgan, wgan_gp): ingestion, the feature space, that
variant's training and evaluation. ``compare``: all three and the report.
``generate``: images from a trained generator. ``__default__`` is ``compare``.
"""
from __future__ import annotations

from kedro.pipeline import Pipeline

from wgan_lab.pipelines import data_processing, evaluation, reporting, training


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    ingest = data_processing.create_pipeline()
    features = evaluation.create_feature_space_pipeline()
    per_variant = {
        name: training.create_pipeline(name) + evaluation.create_pipeline(name)
        for name in training.VARIANTS
    }
    pipelines: dict[str, Pipeline] = {"data_processing": ingest}
    pipelines.update({name: ingest + features + p for name, p in per_variant.items()})
    pipelines["compare"] = (ingest + features + sum(per_variant.values(), Pipeline([]))
                            + reporting.create_compare_pipeline(training.VARIANTS))
    pipelines["generate"] = reporting.create_generate_pipeline()
    pipelines["__default__"] = pipelines["compare"]
    return pipelines
