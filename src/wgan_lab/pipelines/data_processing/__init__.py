"""Ingestion and normalisation of the chosen image source."""
from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
