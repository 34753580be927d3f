"""Downloads against a real HTTP server on 127.0.0.1 that the test starts."""
import gzip
import hashlib
import http.server
import socket
import threading
from functools import partial

import numpy as np
import pytest

from wgan_lab.data.download import download_file
from wgan_lab.data.errors import DataSourceError, DownloadError
from wgan_lab.data.idx import encode_idx
from wgan_lab.data.sources import IDX_FILES, FetchOptions, read_source

PAYLOAD = encode_idx(np.arange(100, dtype=np.uint8).reshape(4, 5, 5))


@pytest.fixture
def http_dir(tmp_path):
    """Serve tmp_path/served over HTTP on a free loopback port; yields (dir, base url)."""
    served = tmp_path / "served"
    served.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/"


def test_good_file_is_downloaded_and_verified(http_dir, tmp_path):
    served, url = http_dir
    (served / "x.gz").write_bytes(gzip.compress(PAYLOAD, compresslevel=1))
    out = tmp_path / "out" / "x.gz"
    # md5 of the decompressed bytes: a re-compressed copy must still pass.
    download_file([url + "x.gz"], out, hashlib.md5(PAYLOAD).hexdigest(), progress=False)
    assert gzip.decompress(out.read_bytes()) == PAYLOAD
    assert [p.name for p in out.parent.iterdir()] == ["x.gz"]


def test_corrupt_file_is_rejected_and_not_left_behind(http_dir, tmp_path):
    served, url = http_dir
    (served / "x.gz").write_bytes(gzip.compress(PAYLOAD[:-1] + b"\x00"))
    out = tmp_path / "out" / "x.gz"
    with pytest.raises(DownloadError, match="does not match expected"):
        download_file([url + "x.gz"], out, hashlib.md5(PAYLOAD).hexdigest(), progress=False)
    assert list(out.parent.iterdir()) == []


def test_falls_back_to_second_mirror(http_dir, tmp_path):
    served, url = http_dir
    (served / "x.gz").write_bytes(gzip.compress(PAYLOAD))
    out = tmp_path / "x.gz"
    download_file([closed_port_url() + "x.gz", url + "x.gz"], out,
                  hashlib.md5(PAYLOAD).hexdigest(), retries=1, progress=False)
    assert out.is_file()


def test_http_404_is_reported(http_dir, tmp_path):
    _, url = http_dir
    with pytest.raises(DownloadError, match="404"):
        download_file([url + "missing.gz"], tmp_path / "m.gz", None, retries=2,
                      backoff=0.01, progress=False)


def test_server_down_names_missing_files_and_where_to_put_them(tmp_path):
    raw = tmp_path / "01_raw" / "mnist"
    fetch = FetchOptions(mirrors=(closed_port_url(),), retries=2, timeout=2, progress=False)
    with pytest.raises(DataSourceError) as info:
        read_source("mnist", raw, fetch)
    message = str(info.value)
    for name in IDX_FILES.values():
        assert str(raw / name) in message
    assert "Place the files there" in message and "Connection refused" in message
    assert not any(raw.iterdir())


def test_download_off_is_a_clear_error(tmp_path):
    with pytest.raises(DataSourceError, match="Downloading is switched off"):
        read_source("fashion_mnist", tmp_path, FetchOptions(download=False))


def test_missing_mnist_is_fetched_from_mirror(http_dir, tmp_path, monkeypatch):
    """The whole fetch path for a source, with the canonical md5s swapped for the test's."""
    from tests.conftest import write_idx_source
    from wgan_lab.data import sources

    served, url = http_dir
    arrays = write_idx_source(served, n_train=30, n_test=10)
    md5 = {k: hashlib.md5(encode_idx(v)).hexdigest() for k, v in arrays.items()}
    monkeypatch.setitem(sources.IDX_SOURCES, "mnist",
                        sources.IdxSource((url,), md5, sources.IDX_SOURCES["mnist"].class_names))
    splits = read_source("mnist", tmp_path / "raw", FetchOptions(progress=False))
    assert splits.train_images.shape == (30, 28, 28, 1)
    np.testing.assert_array_equal(splits.test_labels, arrays["test_labels"])
