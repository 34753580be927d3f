"""Project pipelines."""
from __future__ import annotations

from kedro.pipeline import Pipeline

from wgan_lab.pipelines import data_processing


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    ingest = data_processing.create_pipeline()
    return {
        "data_processing": ingest,
        "__default__": ingest,
    }
