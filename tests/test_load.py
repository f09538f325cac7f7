"""Loading the real datasets through torchvision, as whole in-memory tensors, and the split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab import data


def test_fashion_mnist_tensors(fashion_raw):
    x, y = data.load("fashion-mnist", train=True)
    assert x.shape == (60_000, 28, 28) and x.dtype == torch.uint8
    assert y.shape == (60_000,) and y.dtype == torch.int64
    assert torch.bincount(y).tolist() == [6_000] * 10
    xt, yt = data.load("fashion-mnist", train=False)
    assert xt.shape == (10_000, 28, 28) and torch.bincount(yt).tolist() == [1_000] * 10
    # the first training image of Fashion-MNIST is an ankle boot (label 9)
    assert y[0].item() == 9 and data.classes()[9] == "Ankle boot"


def test_class_names():
    assert data.classes("fashion-mnist") == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    assert data.classes("mnist")[7] == "7 - seven"


def test_mnist_tensors(mnist_raw):
    x, y = data.load("mnist", train=False)
    assert x.shape == (10_000, 28, 28) and x.dtype == torch.uint8
    assert y[:5].tolist() == [7, 2, 1, 0, 4]  # the famous first test digits


def test_load_without_a_copy_says_which_command_fetches_one(isolated):
    with pytest.raises(data.DataError) as e:
        data.load("fashion-mnist")
    message = str(e.value)
    assert message.startswith(str(isolated / "FashionMNIST" / "raw")) and "\n" not in message
    assert "python -m vaelab data fetch --dataset fashion-mnist" in message


def test_a_run_fetches_a_missing_copy_first(isolated, mirror, monkeypatch):
    from vaelab.workshop import datasets

    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    datasets.ensure("fashion-mnist")  # what runs.train does before it loads the split
    x, y = data.load("fashion-mnist", train=False)
    assert len(x) == 10_000 and (isolated / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()


def test_a_damaged_copy_is_named(isolated, mirror, monkeypatch):
    from vaelab.workshop import datasets

    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    datasets.fetch("fashion-mnist", log=lambda m: None)
    images = isolated / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])  # cut short
    with pytest.raises(data.DataError, match=rf"^{isolated / 'FashionMNIST' / 'raw'}: not a readable copy"):
        data.load("fashion-mnist", train=False)


def test_load_split_is_the_saved_stratified_90_10(fashion_raw):
    parts = data.load_split("fashion-mnist", seed=0)
    (xtr, ytr), (xva, yva), (xte, _) = parts["train"], parts["val"], parts["test"]
    assert (len(xtr), len(xva), len(xte)) == (54_000, 6_000, 10_000)
    assert torch.bincount(yva).tolist() == [600] * 10
    train, val = data.split_indices("fashion-mnist", data.load()[1].numpy(), seed=0)
    x, y = data.load()
    assert torch.equal(xva, x[torch.from_numpy(val)]) and torch.equal(ytr, y[torch.from_numpy(train)])
    assert len(np.intersect1d(train, val)) == 0
