"""The seeded 90/10 train/validation split of the 60,000 training images, saved to disk.

The first call for a (dataset, seed) draws a split stratified by class with scikit-learn's
``train_test_split`` and saves the indices to ``data/splits/NAME-seedS-valF.json``; every later
call, from any notebook or run, reads that file, so all of them train and validate on the
same images.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from vaelab import paths
from vaelab.data.errors import DataError

VAL_FRACTION = 0.1


def split_path(name: str, seed: int, val_fraction: float = VAL_FRACTION, root: Path | None = None) -> Path:
    return Path(root or paths.data_dir()) / "splits" / f"{name}-seed{seed}-val{val_fraction:g}.json"


def make_split(labels: np.ndarray, seed: int, val_fraction: float = VAL_FRACTION):
    """Sorted (train, validation) index arrays, stratified by label."""
    index = np.arange(len(labels))
    train, val = train_test_split(index, test_size=val_fraction, random_state=seed, stratify=labels)
    return np.sort(train), np.sort(val)


def _check(path: Path, record: dict, name: str, seed: int, n: int, val_fraction: float):
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
    """The saved (train, validation) indices for ``name`` and ``seed``; drawn and saved if new."""
    labels = np.asarray(labels)
    path = split_path(name, seed, val_fraction, root)
    if path.is_file():
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(f"{path}: not valid JSON ({e}); delete it to draw the split again") from None
        return _check(path, record, name, seed, len(labels), val_fraction)
    train, val = make_split(labels, seed, val_fraction)
    record = {"dataset": name, "seed": seed, "n": len(labels), "val_fraction": val_fraction,
              "train": train.tolist(), "val": val.tolist()}
    paths.atomic_write_bytes(path, json.dumps(record).encode())
    return train, val
