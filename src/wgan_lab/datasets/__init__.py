"""Custom Kedro datasets for formats kedro-datasets does not cover."""
from .generator_dataset import GeneratorDataset
from .image_source_dataset import ImageSourceDataset
from .npy_dataset import NpyDataset
from .npz_dataset import NpzDataset
from .previewable_image_dataset import PreviewableImageDataset
from .report_datasets import HTMLReportDataset, ReportFolderDataset, SampleGridsDataset

__all__ = ["GeneratorDataset", "HTMLReportDataset", "ImageSourceDataset", "NpyDataset",
           "NpzDataset", "PreviewableImageDataset", "ReportFolderDataset", "SampleGridsDataset"]
