"""What users open, checked in headless Chromium: kedro viz, the comparison report, MLflow's UI.

Chromium is Debian's package (`.ci/run` installs it); Playwright drives it
without downloading a browser of its own. Screenshots go to test-artifacts/
(WGAN_LAB_TEST_ARTIFACTS), not to git.
"""
import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow import MlflowClient
from PIL import Image

from tests.conftest import REPO_ROOT, tiny_compare_run
from tests.pipelines.test_model_registry import free_port, wait_for

CHROMIUM = Path(os.environ.get("WGAN_LAB_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("WGAN_LAB_TEST_ARTIFACTS", REPO_ROOT / "test-artifacts"))
# As root, without a sandbox; no background traffic, which this closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.is_file():
        message = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI must run the browser tests", pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    with tiny_compare_run(tmp_path_factory.mktemp("browser") / "project") as root:
        yield root


def serve_folder(folder: Path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def image_states(page, selector: str) -> list[dict]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => ({complete: e.complete, width: e.naturalWidth}))")


def test_kedro_viz_build_renders_the_pipeline_and_previews_results(project, page):
    built = subprocess.run([sys.executable, "-m", "kedro", "viz", "build", "--include-previews"],
                           cwd=project, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "DO_NOT_TRACK": "1"})
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    graph = json.loads((project / "build/api/main").read_text())
    server = serve_folder(project / "build")
    try:
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        page.wait_for_selector("svg .pipeline-node", timeout=TIMEOUT_MS)
        # Every node and dataset of the default (compare) pipeline is drawn, the
        # variants as collapsed namespaces.
        drawn = set(page.locator("svg .pipeline-node text").all_text_contents())
        assert {"Compare Variants", "Fit Feature Space", "Gan", "Wgan", "Wgan Gp"} <= drawn or \
            {"compare_variants", "fit_feature_space", "gan", "wgan", "wgan_gp"} <= drawn, drawn
        assert page.locator("svg .pipeline-node").count() >= len(
            [n for n in graph["nodes"] if "." not in n["name"] and n["type"] != "parameters"])

        # The sample grids preview as one strip of the grids, 4 pixels apart.
        grids = sorted((project / "data/08_reporting/mnist/wgan/samples").glob("*.png"))
        assert 2 <= len(grids) <= 6
        grid_width = Image.open(grids[0]).width
        for dataset, width in (
                ("real_samples_grid",
                 Image.open(project / "data/08_reporting/mnist/real_samples.png").width),
                ("wgan.training_curves",
                 Image.open(project / "data/08_reporting/mnist/wgan/training_curves.png").width),
                ("wgan.sample_grids", len(grids) * grid_width + 4 * (len(grids) - 1))):
            page.get_by_text(dataset, exact=True).first.click()
            preview = page.locator(".pipeline-metadata__plot-image")
            preview.first.wait_for(timeout=TIMEOUT_MS)
            page.wait_for_function("() => [...document.querySelectorAll("
                                   "'.pipeline-metadata__plot-image')].every(e => e.complete)")
            [state] = image_states(page, ".pipeline-metadata__plot-image")
            assert state["width"] == width, dataset
            page.screenshot(path=ARTIFACTS / f"kedro-viz-{dataset}.png")
    finally:
        server.shutdown()
    # The HTML report is previewed as the page itself.
    [node] = [n for n in graph["nodes"] if n["name"] == "comparison_report_html"]
    detail = json.loads((project / "build/api/nodes" / node["id"]).read_text())
    assert detail["preview_type"] == "HTMLPreview"
    assert detail["preview"] == (project / "data/08_reporting/mnist/comparison_report.html"
                                 ).read_text()


def test_comparison_report_images_decode_and_tables_render(project, page):
    report = project / "data/08_reporting/mnist/comparison_report.html"
    html = report.read_text()
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    images = image_states(page, "img")
    assert len(images) == len(re.findall(r"<img\b", html)) > 0
    assert all(i["complete"] and i["width"] > 0 for i in images), images
    rows = page.eval_on_selector_all("table", "ts => ts.map(t => t.rows.length)")
    assert rows and all(n > 1 for n in rows)
    table_text = page.inner_text("table")
    metrics = json.loads((project / "data/08_reporting/mnist/wgan_gp/metrics.json").read_text())
    assert "wgan_gp" in table_text and f"{metrics['fid']:.2f}"[:4] in page.inner_text("body")
    page.screenshot(path=ARTIFACTS / "comparison-report.png", full_page=True)


def test_mlflow_ui_shows_the_run_and_its_metrics(project, page, spawn):
    uri = f"sqlite:///{project / 'mlflow.db'}"
    client = MlflowClient(uri)
    [experiment] = [e for e in client.search_experiments() if e.name == "wgan_lab"]
    [run] = client.search_runs([experiment.experiment_id], "tags.mlflow.runName = 'wgan'")
    port = free_port()
    ui = spawn([str(Path(sys.executable).parent / "mlflow"), "ui", "--backend-store-uri", uri,
                "--host", "127.0.0.1", "--port", str(port)],
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}/health", ui)
    # The run list: the kedro run (`compare`), its variants nested under it.
    page.goto(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}"
              "/runs?workflowType=machine_learning")
    page.get_by_text("compare", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    page.screenshot(path=ARTIFACTS / "mlflow-experiment.png")
    page.goto(f"http://127.0.0.1:{port}/#/experiments/{experiment.experiment_id}"
              f"/runs/{run.info.run_id}")
    page.get_by_text("critic_loss", exact=True).first.wait_for(timeout=TIMEOUT_MS)
    body = page.inner_text("body")
    for name in ("critic_loss", "generator_loss", "wasserstein_estimate", "training_fid",
                 "protocol_fid"):
        shown = body[body.index(name):].split("\n")[1]  # the value cell under the name
        assert float(shown) == pytest.approx(run.data.metrics[name], rel=1e-6), (name, shown)
    page.screenshot(path=ARTIFACTS / "mlflow-run.png", full_page=True)
