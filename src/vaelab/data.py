"""The images the course trains on: Fashion-MNIST (the default) or MNIST, as tensors, split.

    x, y = data.load("fashion-mnist", train=True)     # uint8 (60000, 28, 28), int64 (60000,)
    parts = data.load_split("fashion-mnist", seed=0)  # {"train": (x, y), "val": (x, y), "test": (x, y)}
    tensors = data.split_tensors("fashion-mnist")     # {"train": float (54000, 784) in [0, 1], ...}
    data.classes("fashion-mnist")                     # ['T-shirt/top', 'Trouser', ...]

The images are read from the data folder (``data/``, or ``VAELAB_DATA_DIR``) by torchvision's own
dataset classes, whole, into memory. A checked copy gets there with ``python -m vaelab data
fetch`` (``make`` runs it, notebook 01 calls it; ``vaelab.workshop.datasets`` finds the copy).

The validation images are 10 % of the training set, stratified by class, drawn once per seed
and saved (``data/splits/``): every run and notebook trains and validates on the same images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split
from torchvision import datasets as tvd

DATASETS = {"fashion-mnist": tvd.FashionMNIST, "mnist": tvd.MNIST}
VAL_FRACTION = 0.1


class DataError(Exception):
    """A dataset that is missing, damaged or malformed. The message is one line that names the
    file and what is wrong with it (the error listing every way to get a dataset is the one
    exception: it lists them on separate lines)."""


def project_root(start: Path | None = None) -> Path:
    """The folder above the working directory that holds ``pyproject.toml`` and ``src/vaelab``
    (notebooks run inside ``notebooks/``), else the working directory itself."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() and (folder / "src" / "vaelab").is_dir():
            return folder
    return here


def data_dir() -> Path:
    """The data folder: ``VAELAB_DATA_DIR``, else ``<project root>/data``."""
    value = os.environ.get("VAELAB_DATA_DIR")
    return Path(value).expanduser().resolve() if value else project_root() / "data"


def dataset_class(name: str):
    """torchvision's dataset class of ``name``; DataError for a name the course does not know."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return DATASETS[name]


def classes(name: str = "fashion-mnist") -> list[str]:
    return list(dataset_class(name).classes)


def load(name: str = "fashion-mnist", train: bool = True, root: Path | None = None):
    """The whole training (60,000) or test (10,000) set: images uint8 (N, 28, 28), labels int64 (N,)."""
    cls, root = dataset_class(name), Path(root or data_dir())
    raw = root / cls.__name__ / "raw"
    if not raw.is_dir():
        raise DataError(f"{raw}: no copy of {name}; get one with `python -m vaelab data fetch --dataset {name}` "
                        f"(make does it; so does notebook 01)")
    try:
        dataset = cls(root=str(root), train=train, download=False)
    except (RuntimeError, ValueError, OSError) as e:
        raise DataError(f"{raw}: not a readable copy of {name} ({str(e).strip() or type(e).__name__}); "
                        f"`python -m vaelab data fetch --dataset {name}` checks it and fetches it again") from None
    return dataset.data, dataset.targets


def make_split(labels: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION):
    """Sorted (train, validation) index arrays, stratified by label."""
    index = np.arange(len(labels))
    train, val = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(val)


def split_path(name: str, seed: int, val_fraction: float = VAL_FRACTION, root: Path | None = None) -> Path:
    return Path(root or data_dir()) / "splits" / f"{name}-seed{seed}-val{val_fraction:g}.json"


def _checked_split(path: Path, record: dict, name: str, seed: int, n: int, val_fraction: float):
    try:
        train = np.asarray(record["train"], dtype=np.int64)
        val = np.asarray(record["val"], dtype=np.int64)
        fields = (record["dataset"], record["seed"], record["n"], record["val_fraction"])
    except (KeyError, TypeError, ValueError) as e:
        raise DataError(f"{path}: not a split file ({type(e).__name__}: {e}); delete it to draw the split again") from None
    problem = None
    if fields != (name, seed, n, val_fraction):
        problem = f"made for (dataset, seed, n, val_fraction) = {fields}, expected {(name, seed, n, val_fraction)}"
    elif len(val) != round(n * val_fraction) or len(train) + len(val) != n:
        problem = f"sizes {len(train)} + {len(val)} do not split {n} images {1 - val_fraction:g}/{val_fraction:g}"
    elif not np.array_equal(np.sort(np.concatenate([train, val])), np.arange(n)):
        problem = "the indices overlap or fall outside the training set"
    if problem:
        raise DataError(f"{path}: {problem}; delete it to draw the split again")
    return train, val


def split_indices(name: str, labels: np.ndarray, seed: int = 0, val_fraction: float = VAL_FRACTION,
                  root: Path | None = None):
    """The saved (train, validation) indices of ``name`` and ``seed``; drawn and saved if new."""
    labels = np.asarray(labels)
    path = split_path(name, seed, val_fraction, root)
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON ({e}); delete it to draw the split again") from None
        return _checked_split(path, record, name, seed, len(labels), val_fraction)
    train, val = make_split(labels, seed, val_fraction)
    record = {"dataset": name, "seed": seed, "n": len(labels), "val_fraction": val_fraction,
              "train": train.tolist(), "val": val.tolist()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")  # written whole, then renamed
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)
    return train, val


def load_split(name: str = "fashion-mnist", seed: int = 0, root: Path | None = None) -> dict:
    """``{"train": (x, y), "val": (x, y), "test": (x, y)}`` with the saved seeded split."""
    x, y = load(name, train=True, root=root)
    train, val = split_indices(name, y.numpy(), seed=seed, root=root)
    train, val = torch.from_numpy(train), torch.from_numpy(val)
    return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": load(name, train=False, root=root)}


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1], the layout every model takes."""
    return images.reshape(len(images), -1).float().div_(255)


def split_tensors(name: str = "fashion-mnist", seed: int = 0) -> dict:
    """Float (N, 784) train/val/test images of the saved split (every run uses seed 0's split)."""
    return {part: as_float(x) for part, (x, _) in load_split(name, seed=seed).items()}
