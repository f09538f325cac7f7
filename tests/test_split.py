"""The seeded split is drawn once, saved, and read back by every later call."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vaelab import data
from vaelab.data import DataError

LABELS = np.repeat(np.arange(10), 100)  # 1,000 labels, 100 of each class


def test_sizes_disjoint_stratified():
    train, val = data.make_split(LABELS, seed=0)
    assert (len(train), len(val)) == (900, 100)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(1000))
    assert np.bincount(LABELS[val]).tolist() == [10] * 10


def test_seeded():
    a = data.make_split(LABELS, seed=0)
    b = data.make_split(LABELS, seed=0)
    c = data.make_split(LABELS, seed=1)
    assert np.array_equal(a[1], b[1]) and not np.array_equal(a[1], c[1])


def test_saved_then_reused(tmp_path, monkeypatch):
    first = data.split_indices("fashion-mnist", LABELS, seed=3, root=tmp_path)
    path = tmp_path / "splits" / "fashion-mnist-seed3-val0.1.json"
    record = json.loads(path.read_text())
    assert record["val"] == first[1].tolist() and record["seed"] == 3

    def must_not_draw(*args, **kwargs):
        raise AssertionError("drew a new split although one was saved")

    monkeypatch.setattr(data, "make_split", must_not_draw)
    again = data.split_indices("fashion-mnist", LABELS, seed=3, root=tmp_path)
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])


@pytest.mark.parametrize("tamper, fault", [
    (lambda r: r.update(val=r["val"][:-1] + [r["train"][0]]), "overlap"),
    (lambda r: r.update(val=r["val"][:-5]), "do not split"),
    (lambda r: r.update(seed=7), "made for"),
    (lambda r: r.pop("train"), "not a split file"),
])
def test_a_tampered_split_file_is_refused(tmp_path, tamper, fault):
    data.split_indices("mnist", LABELS, seed=0, root=tmp_path)
    path = data.split_path("mnist", 0, root=tmp_path)
    record = json.loads(path.read_text())
    tamper(record)
    path.write_text(json.dumps(record))
    with pytest.raises(DataError, match=fault) as e:
        data.split_indices("mnist", LABELS, seed=0, root=tmp_path)
    assert str(e.value).startswith(str(path)) and "delete it" in str(e.value)


def test_invalid_json(tmp_path):
    path = data.split_path("mnist", 0, root=tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        data.split_indices("mnist", LABELS, seed=0, root=tmp_path)
