"""Kaggle's CSV form of the datasets: a header ``label,pixel1,...,pixel784``, then one image a row.

``read_csv`` reads ``.csv``, ``.csv.gz`` and ``.csv.zip`` directly (pandas infers the compression
from the name), with LF or CRLF line ends, and checks the file: the header, 785 fields a row,
no empty cells, integers only, pixels 0-255, labels 0-9, at least one row. A bad file raises a
DataError naming the file, the line (the header is line 1) and the column.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from vaelab.data import DataError
from vaelab.workshop import paths

HEADER = ["label"] + [f"pixel{i}" for i in range(1, 785)]
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_EXPECTED_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def csv_path(name: str, split: str, root: Path | None = None, suffix: str = ".csv") -> Path:
    """Where ``export_csv`` writes a split: ``data/csv/fashion-mnist_train.csv`` (Kaggle's names)."""
    return Path(root or paths.data_dir()) / "csv" / f"{name}_{split}{suffix}"


def _check_header(path: Path, columns: list[str]) -> None:
    if len(columns) != len(HEADER):
        raise DataError(f"{path}: line 1 (header): {len(columns)} columns, expected {len(HEADER)} "
                        f"(label,pixel1,...,pixel784)")
    for number, (got, want) in enumerate(zip(columns, HEADER), start=1):
        if got.strip() != want:
            raise DataError(f"{path}: line 1 (header): column {number} is {got!r}, expected {want!r}")


def _first_bad_cell(path: Path, column: str) -> tuple[int, str]:
    """Line number and text of the first cell in ``column`` that is not an integer."""
    cells = pd.read_csv(path, usecols=[column], dtype=str, keep_default_na=False,
                        skip_blank_lines=False)[column]
    for row, cell in enumerate(cells):
        if not _INTEGER.fullmatch(cell):
            return row + 2, cell
    raise AssertionError("no bad cell found")  # pragma: no cover - the caller saw one


def read_csv(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Images as a uint8 tensor (N, 28, 28) and labels as int64 (N,), like torchvision's."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: missing file")
    try:
        frame = pd.read_csv(path, skip_blank_lines=False, engine="c")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file (no header line)") from None
    except pd.errors.ParserError as e:
        found = _EXPECTED_FIELDS.search(str(e))
        if found:
            want, line, saw = found.groups()
            raise DataError(f"{path}: line {line}: {saw} fields, expected {want}") from None
        raise DataError(f"{path}: not a readable CSV file ({e})") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as e:  # bad gzip/zip, binary junk
        raise DataError(f"{path}: cannot be read as CSV ({e})") from None

    _check_header(path, list(frame.columns))
    if len(frame) == 0:
        raise DataError(f"{path}: no data rows after the header")
    for column in frame.columns:
        if not pd.api.types.is_integer_dtype(frame[column].dtype):
            line, cell = _first_bad_cell(path, column)
            what = "empty cell" if not cell.strip() else f"{cell!r} is not an integer"
            raise DataError(f"{path}: line {line}, column {column!r}: {what}")

    values = frame.to_numpy(dtype=np.int64)
    for columns, low, high, what in ((slice(0, 1), 0, 9, "label"), (slice(1, None), 0, 255, "pixel")):
        part = values[:, columns]
        bad = np.argwhere((part < low) | (part > high))
        if len(bad):
            row, col = bad[0]
            column = HEADER[columns.start + col]
            raise DataError(f"{path}: line {row + 2}, column {column!r}: {what} value {part[row, col]} "
                            f"is outside {low}-{high}")
    labels = torch.from_numpy(values[:, 0].copy())
    images = torch.from_numpy(values[:, 1:].astype(np.uint8).reshape(-1, 28, 28))
    return images, labels


def write_csv(path: str | os.PathLike, images: torch.Tensor, labels: torch.Tensor,
              chunk: int = 5_000, progress: bool = True) -> Path:
    """Write images and labels as a Kaggle CSV (compressed by the name's suffix), atomically."""
    path = Path(path)
    flat = images.reshape(len(images), -1).numpy().astype(np.int64)
    table = np.concatenate([labels.numpy().reshape(-1, 1).astype(np.int64), flat], axis=1)
    with paths.atomic_path(path) as tmp:
        plain = tmp.with_suffix(".csv") if path.suffix in (".gz", ".zip") else tmp
        try:
            with open(plain, "w", newline="") as f:
                f.write(",".join(HEADER) + "\n")
                for start in tqdm(range(0, len(table), chunk), desc=f"writing {path.name}",
                                  unit="chunk", disable=not progress, leave=False):
                    np.savetxt(f, table[start:start + chunk], fmt="%d", delimiter=",")
            if path.suffix == ".gz":  # compress the finished text (mtime 0: same bytes every run)
                with open(plain, "rb") as src, open(tmp, "wb") as raw, \
                        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as dst:
                    shutil.copyfileobj(src, dst)
            elif path.suffix == ".zip":  # a zip archive holding the one CSV, as Kaggle ships it
                with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                    archive.write(plain, arcname=path.name.removesuffix(".zip"))
        finally:
            if plain != tmp:
                plain.unlink(missing_ok=True)
    return path
