"""Read and check IDX files (the format of MNIST and Fashion-MNIST), gzip-compressed or not.

Each check names the file and the fault in one line: a missing file, a truncated or corrupt
gzip stream, a wrong magic number, wrong dimensions or size, or content whose MD5 differs from
the original file's.
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import zlib
from pathlib import Path

from vaelab.data import DataError

MAGIC = {"images": 0x00000803, "labels": 0x00000801}  # unsigned bytes, 3 or 1 dimensions


def read_bytes(path: Path) -> bytes:
    """The uncompressed content of ``path`` (``.gz`` is decompressed)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing file")
    if path.suffix != ".gz":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except EOFError:
        raise DataError(f"{path}: truncated gzip file (the stream ends early)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise DataError(f"{path}: corrupt gzip file ({e})") from None


def check_header(path: Path, content: bytes, kind: str, count: int) -> None:
    """Magic number, dimensions and total size of an IDX file holding ``count`` items."""
    if len(content) < 8:
        raise DataError(f"{path}: too short for an IDX file ({len(content)} bytes)")
    (magic,) = struct.unpack(">I", content[:4])
    if magic != MAGIC[kind]:
        raise DataError(
            f"{path}: wrong magic number 0x{magic:08x} (IDX {kind} files start with 0x{MAGIC[kind]:08x})"
        )
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", content[4 : 4 + 4 * ndim])
    expected = (count, 28, 28) if kind == "images" else (count,)
    if dims != expected:
        raise DataError(f"{path}: dimensions {dims}, expected {expected}")
    size = 4 + 4 * ndim + count * (784 if kind == "images" else 1)
    if len(content) != size:
        raise DataError(f"{path}: {len(content)} bytes, expected {size} for dimensions {dims}")


def md5(content: bytes) -> str:
    return hashlib.md5(content, usedforsecurity=False).hexdigest()


def read_checked(path: Path, expected_md5: str, count: int) -> bytes:
    """Read ``path`` and run every check; return the uncompressed content."""
    kind = "images" if "images" in Path(path).name else "labels"
    content = read_bytes(path)
    check_header(path, content, kind, count)
    actual = md5(content)
    if actual != expected_md5:
        raise DataError(f"{path}: MD5 of the content is {actual}, expected {expected_md5} (damaged or altered file)")
    return content
