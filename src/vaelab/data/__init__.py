"""Datasets for the course: Fashion-MNIST (default) and MNIST, checked, in memory, split.

    from vaelab import data
    x, y = data.load("fashion-mnist", train=True)      # uint8 (60000, 28, 28), int64 (60000,)
    parts = data.load_split("fashion-mnist", seed=0)   # {"train": (x, y), "val": ..., "test": ...}
    data.classes("fashion-mnist")                      # ['T-shirt/top', 'Trouser', ...]

Loading goes through torchvision's ``FashionMNIST``/``MNIST`` classes, after every file was
checked against the MD5 of the original; a missing copy is fetched first (see ``sources``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vaelab import paths
from vaelab.data import registry, sources
from vaelab.data.errors import DataError
from vaelab.data.kaggle_csv import csv_path, read_csv, write_csv
from vaelab.data.registry import DATASETS
from vaelab.data.sources import fetch
from vaelab.data.split import split_indices

__all__ = ["DATASETS", "DataError", "classes", "csv_path", "ensure_csv", "export_csv", "fetch", "load",
           "load_split", "read_csv", "split_indices", "verify", "write_csv"]


def classes(name: str = "fashion-mnist") -> list[str]:
    return registry.get(name).classes


def verify(name: str = "fashion-mnist", root: Path | None = None) -> dict[str, str]:
    """Check every installed file of ``name``; return ``{file name: MD5}``. Raises DataError."""
    info = registry.get(name)
    sources.verify_installed(info, root)
    return dict(info.md5)


def load(name: str = "fashion-mnist", train: bool = True, root: Path | None = None):
    """The whole training (60,000) or test (10,000) set as tensors: images uint8 (N, 28, 28)
    and labels int64 (N,). Fetches the dataset first if the data folder has no copy."""
    info = registry.get(name)
    root = Path(root or paths.data_dir())
    if not sources.is_installed(info, root):
        sources.fetch(name, root)
    sources.verify_installed(info, root, prefixes=("train" if train else "t10k",))
    dataset = info.torchvision_class(root=str(root), train=train, download=False)
    return dataset.data, dataset.targets


def load_split(name: str = "fashion-mnist", seed: int = 0, root: Path | None = None) -> dict:
    """``{"train": (x, y), "val": (x, y), "test": (x, y)}`` with the saved seeded split."""
    x, y = load(name, train=True, root=root)
    train, val = split_indices(name, y.numpy(), seed=seed, root=root)
    train, val = torch.from_numpy(train), torch.from_numpy(val)
    return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": load(name, train=False, root=root)}


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
        written[split] = write_csv(path, *load(name, train=train), progress=progress)
    return written
