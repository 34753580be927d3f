"""The `theory` pipeline: the argument for WGAN measured on toy data (#22)."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
