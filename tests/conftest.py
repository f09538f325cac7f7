"""Fixtures on the real data. The data folder must hold a checked Fashion-MNIST copy
(`make test` fetches one first); tests that need MNIST are skipped when it has none."""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import pytest

from vaelab import data
from vaelab.workshop import paths
from vaelab.workshop.datasets import registry, sources
from vaelab.workshop.datasets.registry import FILES


def _installed(name: str) -> Path:
    info = registry.get(name)
    try:
        sources.verify_installed(info)
    except data.DataError as e:
        pytest.skip(f"{name} is not in the data folder ({e}); run `make data` or `python -m vaelab data fetch`")
    return sources.raw_dir(info)


@pytest.fixture(scope="session")
def fashion_raw() -> Path:
    """The data folder's checked Fashion-MNIST raw files."""
    return _installed("fashion-mnist")


@pytest.fixture(scope="session")
def mnist_raw() -> Path:
    return _installed("mnist")


@pytest.fixture(scope="session")
def fashion_gz(fashion_raw, tmp_path_factory) -> Path:
    """A mirror-style folder holding the four real Fashion-MNIST files, gzip-compressed."""
    folder = tmp_path_factory.mktemp("gz") / "fashion-mnist"
    folder.mkdir()
    for fname in FILES:
        with open(fashion_raw / fname, "rb") as src, gzip.open(folder / f"{fname}.gz", "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
    return folder


@pytest.fixture
def mirror(fashion_gz, tmp_path) -> Path:
    """A private copy of a mirror (tests may damage it): ``tmp/mirror/fashion-mnist/*.gz``."""
    root = tmp_path / "mirror"
    shutil.copytree(fashion_gz, root / "fashion-mnist")
    return root


@pytest.fixture
def isolated(tmp_path, monkeypatch) -> Path:
    """An empty data folder, no mirror, no Debian copy, no download: nothing outside tmp_path."""
    root = tmp_path / "data"
    monkeypatch.setenv("VAELAB_DATA_DIR", str(root))
    monkeypatch.delenv("VAELAB_DATA_MIRROR", raising=False)
    for name, info in registry.DATASETS.items():
        monkeypatch.setitem(registry.DATASETS, name,
                            dataclasses.replace(info, debian_dirs=(str(tmp_path / "no-debian"),)))

    def no_network(info, into):
        raise RuntimeError("<urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(sources, "_download", no_network)
    assert paths.data_dir() == root
    return root
