"""What kedro viz previews for reports and sample grids, from real files."""
import base64
import io

from PIL import Image

from wgan_lab.datasets import HTMLReportDataset, ReportFolderDataset, SampleGridsDataset


def test_an_html_report_previews_as_the_page(tmp_path):
    page = "<html><body><h1>Report</h1><img src='data:image/png;base64,AAAA'></body></html>"
    (tmp_path / "report.html").write_text(page)
    assert HTMLReportDataset(filepath=str(tmp_path / "report.html")).preview() == page


def test_a_report_folder_previews_its_last_page_in_path_order(tmp_path):
    for study, title in (("a_study", "first"), ("b_study", "second")):
        (tmp_path / study).mkdir()
        (tmp_path / study / "study_report.html").write_text(f"<h1>{title}</h1>")
        (tmp_path / study / "study_runs.csv").write_text("variant,seed\n")
    folder = ReportFolderDataset(path=str(tmp_path), dataset="text.TextDataset")
    assert folder.preview() == "<h1>second</h1>"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "No report" in ReportFolderDataset(path=str(empty), dataset="text.TextDataset").preview()
    assert SampleGridsDataset(path=str(empty), dataset="pillow.ImageDataset").preview() == ""


def test_sample_grids_preview_as_one_strip_of_at_most_six(tmp_path):
    # Ten grids, each one flat grey level, so each strip slot says which grid it shows.
    for i in range(10):
        Image.new("L", (20, 10), color=i * 20).save(tmp_path / f"step_{(i + 1) * 100:07d}.png")
    grids = SampleGridsDataset(path=str(tmp_path), dataset="pillow.ImageDataset",
                               filename_suffix=".png")
    strip = Image.open(io.BytesIO(base64.b64decode(grids.preview()))).convert("L")
    assert strip.size == (6 * 20 + 5 * 4, 10)
    shown = [strip.getpixel((i * 24 + 10, 5)) for i in range(6)]
    # Evenly spaced from the first grid to the last: grids 0, 2, 4, 5, 7, 9 of 0..9.
    assert shown == [g * 20 for g in (0, 2, 4, 5, 7, 9)]
