"""Kaggle CSVs: plain, gzip and zip; LF and CRLF; every malformed file refused with file, line
and column; and the real 70,000 images identical through CSV and through torchvision."""

from __future__ import annotations

import gzip
import zipfile

import numpy as np
import pytest
import torch

from vaelab import data
from vaelab.workshop import datasets
from vaelab.workshop.datasets.kaggle_csv import HEADER

HEAD = ",".join(HEADER)


def row(label=3, pixel=0, **cells):
    """A data line; ``cells`` overrides single cells, e.g. ``pixel5="x"``."""
    values = {"label": str(label), **{f"pixel{i}": str(pixel) for i in range(1, 785)}}
    values.update({k: str(v) for k, v in cells.items()})
    return ",".join(values[name] for name in HEADER)


def small_set(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=g))


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.zip"])
def test_round_trip_in_each_format(tmp_path, suffix):
    images, labels = small_set()
    path = datasets.write_csv(tmp_path / f"set{suffix}", images, labels, progress=False)
    x, y = datasets.read_csv(path)
    assert torch.equal(x, images) and torch.equal(y, labels) and x.dtype == torch.uint8
    assert [p.name for p in tmp_path.iterdir()] == [f"set{suffix}"]  # no temporary files left


def test_compressed_files_are_what_they_say(tmp_path):
    images, labels = small_set(3)
    gz = datasets.write_csv(tmp_path / "a.csv.gz", images, labels, progress=False)
    assert gzip.decompress(gz.read_bytes()).decode().startswith("label,pixel1,pixel2,")
    with zipfile.ZipFile(datasets.write_csv(tmp_path / "fashion-mnist_train.csv.zip", images, labels, progress=False)) as z:
        assert z.namelist() == ["fashion-mnist_train.csv"]  # like Kaggle's archive


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".csv.zip"])
def test_crlf_line_ends(tmp_path, suffix):
    text = "\r\n".join([HEAD, row(4, 7), row(9, 255)]) + "\r\n"
    path = tmp_path / f"crlf{suffix}"
    if suffix == ".csv":
        path.write_bytes(text.encode())
    elif suffix == ".csv.gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("crlf.csv", text)
    x, y = datasets.read_csv(path)
    assert y.tolist() == [4, 9] and x[0].unique().tolist() == [7] and x[1].unique().tolist() == [255]


BAD = {
    "empty file": ("", "empty file (no header line)"),
    "header only": (HEAD + "\n", "no data rows after the header"),
    "renamed column": (HEAD.replace("pixel2,", "pixel02,") + "\n" + row() + "\n",
                       "line 1 (header): column 3 is 'pixel02', expected 'pixel2'"),
    "missing column": (HEAD.removesuffix(",pixel784") + "\n",
                       "line 1 (header): 784 columns, expected 785 (label,pixel1,...,pixel784)"),
    "no header": (row() + "\n" + row() + "\n", "line 1 (header): column 1 is '3', expected 'label'"),
    "extra field": ("\n".join([HEAD, row(), row() + ",0", row()]) + "\n", "line 3: 786 fields, expected 785"),
    "short row": ("\n".join([HEAD, row(), row().rsplit(",", 1)[0]]) + "\n", "line 3, column 'pixel784': empty cell"),
    "empty cell": ("\n".join([HEAD, row(), row(pixel17="")]) + "\n", "line 3, column 'pixel17': empty cell"),
    "blank line": ("\n".join([HEAD, row(), "", row()]) + "\n", "line 3, column 'label': empty cell"),
    "decimal": ("\n".join([HEAD, row(), row(), row(pixel300="3.5")]) + "\n",
                "line 4, column 'pixel300': '3.5' is not an integer"),
    "text": ("\n".join([HEAD, row(pixel1="white")]) + "\n", "line 2, column 'pixel1': 'white' is not an integer"),
    "pixel 256": ("\n".join([HEAD, row(), row(pixel784=256)]) + "\n",
                  "line 3, column 'pixel784': pixel value 256 is outside 0-255"),
    "negative pixel": ("\n".join([HEAD, row(pixel9=-1)]) + "\n", "line 2, column 'pixel9': pixel value -1 is outside 0-255"),
    "label 10": ("\n".join([HEAD, row(), row(), row(label=10)]) + "\n", "line 4, column 'label': label value 10 is outside 0-9"),
}


@pytest.mark.parametrize("case", BAD)
def test_malformed_file_is_refused_naming_file_line_and_column(tmp_path, case):
    text, fault = BAD[case]
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(data.DataError) as e:
        datasets.read_csv(path)
    assert str(e.value) == f"{path}: {fault}"


@pytest.mark.parametrize("suffix, fault", [(".csv.gz", "cannot be read as CSV"), (".csv.zip", "cannot be read as CSV")])
def test_damaged_archive(tmp_path, suffix, fault):
    images, labels = small_set(50)
    path = datasets.write_csv(tmp_path / f"set{suffix}", images, labels, progress=False)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(data.DataError, match=fault) as e:
        datasets.read_csv(path)
    assert str(e.value).startswith(str(path)) and "\n" not in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(data.DataError, match="missing file"):
        datasets.read_csv(tmp_path / "nope.csv")


def test_real_csv_equals_torchvision(fashion_raw, tmp_path):
    """All 70,000 Fashion-MNIST images: CSV export, read back, identical tensors."""
    written = datasets.export_csv("fashion-mnist", tmp_path, progress=False)
    for split, train in (("train", True), ("test", False)):
        x_csv, y_csv = datasets.read_csv(written[split])
        x_tv, y_tv = data.load("fashion-mnist", train=train)
        assert x_csv.dtype == x_tv.dtype and y_csv.dtype == y_tv.dtype
        assert torch.equal(x_csv, x_tv) and torch.equal(y_csv, y_tv), split


def test_real_zip_of_a_slice(fashion_raw, tmp_path):
    x, y = data.load("fashion-mnist", train=False)
    path = datasets.write_csv(tmp_path / "fashion-mnist_test.csv.zip", x[:2000], y[:2000], progress=False)
    xz, yz = datasets.read_csv(path)
    assert torch.equal(xz, x[:2000]) and torch.equal(yz, y[:2000])
    assert np.bincount(yz.numpy(), minlength=10).sum() == 2000
