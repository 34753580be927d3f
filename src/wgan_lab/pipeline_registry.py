"""Project pipelines, built from the variants the configuration declares.

``<variant>`` (every block of parameters_training.yml with a ``training``
section): ingestion, the feature space, that variant's training and
evaluation. ``compare``: the variants in ``compare.variants`` and the report.
``generate``: images from a trained generator. ``tune``: a search over
``tune.variant``'s settings; ``tune_report``: its report from the storage.
``study``: every variant of ``study.variants`` with every seed of
``study.seeds``, compared with statistics; ``study_report``: its report from
the job store.
``evaluate``: a generator or samples made elsewhere (``score.source``), scored by
the same protocol.
``theory``: the argument for WGAN measured on toy data, where the true
distances are known (closed forms, exact W1), with verdicts and its report.
``__default__`` is ``compare``.
"""
from __future__ import annotations

from kedro.pipeline import Pipeline

from wgan_lab import variants
from wgan_lab.pipelines import (data_processing, evaluation, reporting, study, theory,
                                training, tuning)


def register_pipelines() -> dict[str, Pipeline]:
    """Register the project's pipelines."""
    parameters = variants.current_parameters()
    ingest = data_processing.create_pipeline()
    features = evaluation.create_feature_space_pipeline()
    per_variant = {
        name: training.create_pipeline(name) + evaluation.create_pipeline(name)
        for name in variants.family(parameters)
    }
    compared = variants.compared(parameters)
    pipelines: dict[str, Pipeline] = {"data_processing": ingest}
    pipelines.update({name: ingest + features + p for name, p in per_variant.items()})
    pipelines["compare"] = (ingest + features + sum((per_variant[v] for v in compared), Pipeline([]))
                            + reporting.create_compare_pipeline(compared))
    pipelines["generate"] = reporting.create_generate_pipeline()
    pipelines["tune"] = ingest + features + tuning.create_pipeline()
    pipelines["tune_report"] = tuning.create_report_pipeline()
    pipelines["study"] = ingest + features + study.create_pipeline()
    pipelines["study_report"] = study.create_report_pipeline()
    pipelines["evaluate"] = ingest + features + evaluation.create_score_pipeline()
    pipelines["theory"] = theory.create_pipeline()
    pipelines["__default__"] = pipelines["compare"]
    return pipelines
