"""Fetch files from mirrors, verified by checksum and written atomically.

A file is first written to a temporary name beside its destination, then its
md5 is checked (of the decompressed bytes for ``.gz`` files, because some
mirrors re-compress), and only a verified file is renamed into place, so an
interrupted or corrupt download never leaves a file that looks complete.
"""
from __future__ import annotations

import gzip
import hashlib
import logging
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from ..fileio import atomic_path
from .errors import DownloadError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def md5_of_file(path: Path, decompress: bool = False) -> str:
    """md5 of a file's bytes, or of its gzip-decompressed bytes."""
    digest = hashlib.md5()
    opener = gzip.open if decompress else open
    try:
        with opener(path, "rb") as stream:
            for chunk in iter(lambda: stream.read(_CHUNK), b""):
                digest.update(chunk)
    except (EOFError, OSError, zlib.error) as exc:
        raise DownloadError(f"{path}: cannot be read for checksum ({exc})") from exc
    return digest.hexdigest()


def _stream_to(url: str, target: Path, timeout: float, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "wgan-lab"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, desc=url.rsplit("/", 1)[-1],
            disable=not progress, leave=False,
        ) as bar:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                bar.update(len(chunk))


def download_file(
    urls: Sequence[str],
    destination: Path,
    md5: str | None,
    *,
    md5_of_decompressed: bool = True,
    timeout: float = 30.0,
    retries: int = 3,
    backoff: float = 1.0,
    progress: bool = True,
) -> Path:
    """Download ``destination`` from the first mirror in ``urls`` that serves a valid copy.

    Each mirror is tried up to ``retries`` times with exponential backoff. Raises
    ``DownloadError`` listing every attempt when none succeeds.
    """
    destination = Path(destination)
    decompress = md5_of_decompressed and destination.suffix == ".gz"
    failures: list[str] = []
    for url in urls:
        for attempt in range(1, retries + 1):
            try:
                logger.info("Downloading %s (attempt %d/%d)", url, attempt, retries)
                with atomic_path(destination) as tmp:
                    _stream_to(url, tmp, timeout, progress)
                    if md5 is not None:
                        actual = md5_of_file(tmp, decompress=decompress)
                        if actual != md5:
                            raise DownloadError(f"md5 {actual} does not match expected {md5}")
                return destination
            except (urllib.error.URLError, OSError, DownloadError, ValueError) as exc:
                failures.append(f"{url} (attempt {attempt}): {exc}")
                logger.warning("Download failed: %s", failures[-1])
                # A checksum mismatch will not fix itself on the same mirror.
                if isinstance(exc, DownloadError):
                    break
                if attempt < retries:
                    time.sleep(backoff * 2 ** (attempt - 1))
    raise DownloadError(
        f"Could not download {destination.name}:\n  " + "\n  ".join(failures)
    )
