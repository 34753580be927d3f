"""Wiring of the compare report and the generate pipeline."""
from kedro.pipeline import Node, Pipeline

from .nodes import PER_VARIANT, compare_variants, generate_images


def create_compare_pipeline(variants) -> Pipeline:
    per_variant = {f"{v}__{item}": f"{v}.{item}" for v in variants for item in PER_VARIANT}
    return Pipeline([
        Node(
            compare_variants,
            inputs={"validated_images": "validated_images", "real_floor": "real_floor_metrics",
                    "feature_space_info": "feature_space_info",
                    "evaluation": "params:evaluation", **per_variant},
            outputs=["comparison_report_html", "comparison_report_md", "comparison_findings"],
            name="compare_variants",
        ),
    ])


def create_generate_pipeline() -> Pipeline:
    return Pipeline([
        Node(
            generate_images,
            inputs=["generator_to_sample", "params:generate"],
            outputs=["generated_pngs", "generated_arrays", "generated_grid"],
            name="generate_images",
        ),
    ])
