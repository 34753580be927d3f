"""One training pipeline, instantiated per variant by namespace."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
