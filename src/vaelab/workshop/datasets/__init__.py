"""Getting a checked copy of a dataset into the data folder, and the Kaggle CSV form of it.

    from vaelab.workshop import datasets
    datasets.fetch("fashion-mnist")          # the data folder, a mirror, Debian's package, a download
    datasets.verify("fashion-mnist")         # {file name: MD5}, every installed file checked
    datasets.read_csv("fashion-mnist_train.csv.zip")

``sources`` says where a copy is looked for and in what order; ``idx`` reads and checks an IDX
file; ``registry`` holds the files' checksums; ``kaggle_csv`` reads and writes Kaggle's CSVs.
The course's notebooks read the installed copy through ``vaelab.data``.
"""

from __future__ import annotations

from pathlib import Path

from vaelab import data
from vaelab.data import DataError
from vaelab.workshop.datasets import registry, sources
from vaelab.workshop.datasets.kaggle_csv import csv_path, read_csv, write_csv
from vaelab.workshop.datasets.sources import fetch

__all__ = ["DataError", "csv_path", "ensure", "ensure_csv", "export_csv", "fetch", "read_csv", "verify", "write_csv"]


def ensure(name: str = "fashion-mnist") -> None:
    """``fetch`` ``name`` if the data folder has no copy of it yet (and say nothing if it has)."""
    if not sources.is_installed(registry.get(name)):
        fetch(name)


def verify(name: str = "fashion-mnist", root: Path | None = None) -> dict[str, str]:
    """Check every installed file of ``name``; return ``{file name: MD5}``. Raises DataError."""
    info = registry.get(name)
    sources.verify_installed(info, root)
    return dict(info.md5)


def ensure_csv(name: str = "fashion-mnist") -> dict[str, Path]:
    """The Kaggle CSVs of ``name`` in ``data/csv/``, exported from the IDX data if missing."""
    wanted = {split: csv_path(name, split) for split in ("train", "test")}
    if all(path.is_file() for path in wanted.values()):
        return wanted
    return export_csv(name)


def export_csv(name: str = "fashion-mnist", out_dir: Path | None = None, suffix: str = ".csv",
               progress: bool = True) -> dict[str, Path]:
    """Write the training and test sets as Kaggle CSVs; return their paths by split."""
    written = {}
    for split, train in (("train", True), ("test", False)):
        path = csv_path(name, split, suffix=suffix) if out_dir is None else Path(out_dir) / f"{name}_{split}{suffix}"
        written[split] = write_csv(path, *data.load(name, train=train), progress=progress)
    return written
