"""The domain feature space, the real-data floor, per-variant metrics, and the
scoring of generators or samples made elsewhere."""
from .pipeline import create_feature_space_pipeline, create_pipeline, create_score_pipeline

__all__ = ["create_feature_space_pipeline", "create_pipeline", "create_score_pipeline"]
