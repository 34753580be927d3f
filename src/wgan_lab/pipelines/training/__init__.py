"""One training pipeline, instantiated per variant (gan, wgan, wgan_gp) by namespace."""
from .pipeline import VARIANTS, create_pipeline

__all__ = ["VARIANTS", "create_pipeline"]
