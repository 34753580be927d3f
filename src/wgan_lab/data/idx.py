"""Reader for the IDX format of MNIST and Fashion-MNIST (optionally gzipped).

Format: two zero bytes, a type code (0x08 = unsigned byte), the number of
dimensions, then one big-endian uint32 per dimension, then the data.
"""
from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from .errors import DataSourceError

_UNSIGNED_BYTE = 0x08
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: Path) -> bytes:
    """Return the content of ``path``, decompressed when it is gzip."""
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(f"{path}: file not found")
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == _GZIP_MAGIC:
        if raw[:2] != _GZIP_MAGIC:
            raise DataSourceError(f"{path}: not a gzip file (bad magic bytes)")
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DataSourceError(f"{path}: truncated or corrupt gzip data ({exc})") from exc
    return raw


def parse_idx(content: bytes, ndim: int, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX ``content`` that must have ``ndim`` dimensions of unsigned bytes."""
    if len(content) < 4:
        raise DataSourceError(f"{name}: too short for an IDX header ({len(content)} bytes)")
    if content[0] != 0 or content[1] != 0:
        raise DataSourceError(f"{name}: bad IDX magic number {content[:4].hex()}")
    if content[2] != _UNSIGNED_BYTE:
        raise DataSourceError(
            f"{name}: IDX type code 0x{content[2]:02x}, expected 0x08 (unsigned byte)"
        )
    if content[3] != ndim:
        raise DataSourceError(f"{name}: IDX file has {content[3]} dimensions, expected {ndim}")
    header_len = 4 + 4 * ndim
    if len(content) < header_len:
        raise DataSourceError(f"{name}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(content) - header_len
    if actual != expected:
        raise DataSourceError(
            f"{name}: header declares shape {dims} ({expected} bytes of data) "
            f"but the file holds {actual} bytes"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx_images(path: Path) -> np.ndarray:
    """Read an IDX image file as uint8 NHWC with one channel."""
    return parse_idx(read_bytes(path), ndim=3, name=str(path))[..., np.newaxis]


def read_idx_labels(path: Path) -> np.ndarray:
    """Read an IDX label file as int64."""
    return parse_idx(read_bytes(path), ndim=1, name=str(path)).astype(np.int64)


def encode_idx(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX bytes (the inverse of ``parse_idx``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UNSIGNED_BYTE, array.ndim])
    return header + np.asarray(array.shape, dtype=">u4").tobytes() + array.tobytes()
