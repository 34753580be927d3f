"""Custom Kedro datasets for formats kedro-datasets does not cover."""
from .image_source_dataset import ImageSourceDataset
from .npy_dataset import NpyDataset

__all__ = ["ImageSourceDataset", "NpyDataset"]
