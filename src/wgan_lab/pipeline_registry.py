"""Project pipelines.

``<variant>`` (gan, wgan, wgan_gp) runs ingestion then that variant's
training; ``training`` trains all three; ``__default__`` is everything.
"""
from __future__ import annotations

from kedro.pipeline import Pipeline

from wgan_lab.pipelines import data_processing, training


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    ingest = data_processing.create_pipeline()
    variants = {name: training.create_pipeline(name) for name in training.VARIANTS}
    pipelines: dict[str, Pipeline] = {"data_processing": ingest}
    pipelines.update({name: ingest + train for name, train in variants.items()})
    pipelines["training"] = sum(variants.values(), Pipeline([]))
    pipelines["__default__"] = ingest + pipelines["training"]
    return pipelines
