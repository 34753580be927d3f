"""The domain feature space, the real-data floor, and per-variant metrics."""
from .pipeline import create_feature_space_pipeline, create_pipeline

__all__ = ["create_feature_space_pipeline", "create_pipeline"]
