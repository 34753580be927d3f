"""Reports and sample grids as kedro viz previews them: an HTML report shown as the
page itself, a folder of reports as its newest HTML page, a folder of sample grids
as one strip of them from the first step to the last."""
from __future__ import annotations

import base64
import io

from kedro.io.core import DatasetError, get_filepath_str
from kedro_datasets._typing import HTMLPreview, ImagePreview
from kedro_datasets.partitions import PartitionedDataset
from kedro_datasets.text import TextDataset
from PIL import Image

# Grids in a sample-grid preview: enough to see training progress, small enough to read.
PREVIEW_GRIDS = 6


def _partitions(folder: PartitionedDataset) -> dict:
    """The folder's partitions (id -> loader); none before the first run writes some."""
    try:
        return folder.load()
    except DatasetError:
        return {}


class HTMLReportDataset(TextDataset):
    """An HTML report (kedro-datasets' TextDataset) that kedro viz shows as a page."""

    # kedro viz picks the preview renderer by the name of this return annotation.
    def preview(self) -> HTMLPreview:
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, mode="r", encoding="utf-8") as stream:
            return HTMLPreview(stream.read())


class ReportFolderDataset(PartitionedDataset):
    """A folder of report files (HTML, Markdown, CSV, JSON) that kedro viz previews
    as its last HTML page in path order (one study or search per subfolder)."""

    def preview(self) -> HTMLPreview:
        loaders = _partitions(self)
        pages = sorted(p for p in loaders if p.endswith(".html"))
        return HTMLPreview(loaders[pages[-1]]() if pages else "<p>No report yet.</p>")


class SampleGridsDataset(PartitionedDataset):
    """Sample grids by training step (``step_0000100.png``...) that kedro viz previews
    as one strip: up to PREVIEW_GRIDS grids, evenly spaced from the first to the last."""

    def preview(self) -> ImagePreview:
        loaders = _partitions(self)
        steps = sorted(loaders)
        if not steps:
            return ImagePreview("")
        count = min(PREVIEW_GRIDS, len(steps))
        picked = [steps[round(i * (len(steps) - 1) / max(count - 1, 1))] for i in range(count)]
        grids = [loaders[step]().convert("RGB") for step in picked]
        gap = 4
        strip = Image.new("RGB", (sum(g.width for g in grids) + gap * (len(grids) - 1),
                                  max(g.height for g in grids)), "white")
        left = 0
        for grid in grids:
            strip.paste(grid, (left, 0))
            left += grid.width + gap
        buffer = io.BytesIO()
        strip.save(buffer, format="PNG")
        return ImagePreview(base64.b64encode(buffer.getvalue()).decode("ascii"))
