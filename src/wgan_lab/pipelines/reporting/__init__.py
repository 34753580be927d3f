"""The comparison report and the generate pipeline."""
from .pipeline import create_compare_pipeline, create_generate_pipeline

__all__ = ["create_compare_pipeline", "create_generate_pipeline"]
