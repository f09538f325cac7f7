"""Where a dataset copy is found, in what order, and what a damaged copy does."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import subprocess

import pytest

from vaelab import data
from vaelab.workshop import datasets
from vaelab.workshop.datasets import idx, registry, sources
from vaelab.workshop.datasets.registry import FILES

FASHION = registry.DATASETS["fashion-mnist"]


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def installed_ok(root):
    for fname in FILES:
        content = (root / "FashionMNIST" / "raw" / fname).read_bytes()
        assert idx.md5(content) == FASHION.md5[fname]


def use_debian_dir(monkeypatch, folder):
    info = dataclasses.replace(registry.DATASETS["fashion-mnist"], debian_dirs=(str(folder),))
    monkeypatch.setitem(registry.DATASETS, "fashion-mnist", info)


# --- the order in which copies are looked for -------------------------------------------------

def test_mirror_list_is_searched_in_order(isolated, mirror, tmp_path, monkeypatch):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    monkeypatch.setenv("VAELAB_DATA_MIRROR", os.pathsep.join([str(empty), str(mirror)]))
    log = []
    dest = datasets.fetch("fashion-mnist", log=log.append)
    assert dest == isolated / "FashionMNIST" / "raw"
    installed_ok(isolated)
    assert "copied from the mirror" in log[-1] and str(mirror / "fashion-mnist") in log[-1]
    assert files_under(isolated) == sorted(f"FashionMNIST/raw/{f}" for f in FILES)  # no leftovers


def test_data_folder_copy_comes_first(isolated, mirror, monkeypatch):
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    datasets.fetch("fashion-mnist", log=lambda m: None)
    (mirror / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").unlink()  # the mirror is no longer usable
    log = []
    datasets.fetch("fashion-mnist", log=log.append)
    assert log == [f"fashion-mnist: checked copy in {isolated / 'FashionMNIST' / 'raw'}"]


def test_debian_package_folder(isolated, fashion_gz, monkeypatch):
    use_debian_dir(monkeypatch, fashion_gz)
    log = []
    datasets.fetch("fashion-mnist", log=log.append)
    installed_ok(isolated)
    assert "Debian package dataset-fashion-mnist" in log[-1]


def test_mirror_comes_before_debian_package(isolated, mirror, tmp_path, monkeypatch):
    broken = tmp_path / "debian"
    broken.mkdir()  # exists, but empty: using it would fail
    use_debian_dir(monkeypatch, broken)
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    datasets.fetch("fashion-mnist", log=lambda m: None)
    installed_ok(isolated)


def test_download_is_the_next_resort_and_cleans_up(isolated, fashion_gz, monkeypatch):
    calls = []

    def fake_download(info, into):  # what torchvision leaves: raw/ with .gz and extracted files
        calls.append(into)
        raw = into / info.folder / "raw"
        shutil.copytree(fashion_gz, raw)
        return raw

    monkeypatch.setattr(sources, "_download", fake_download)
    datasets.fetch("fashion-mnist", log=lambda m: None)
    installed_ok(isolated)
    assert len(calls) == 1 and not calls[0].exists()
    assert files_under(isolated) == sorted(f"FashionMNIST/raw/{f}" for f in FILES)


def test_no_copy_names_every_way(isolated):
    with pytest.raises(data.DataError) as e:
        datasets.fetch("fashion-mnist", log=lambda m: None)
    message = str(e.value)
    for way in (str(isolated / "FashionMNIST" / "raw"), "VAELAB_DATA_MIRROR", "(it is not set)",
                "apt-get install dataset-fashion-mnist", "torchvision", "Name or service not known"):
        assert way in message
    assert files_under(isolated) == []


def test_mnist_has_no_debian_way(isolated):
    with pytest.raises(data.DataError) as e:
        datasets.fetch("mnist", log=lambda m: None)
    assert "apt-get" not in str(e.value) and "VAELAB_DATA_MIRROR" in str(e.value)


def test_apt_install_as_last_resort(isolated, fashion_gz, tmp_path, monkeypatch):
    debian = tmp_path / "debian-fashion-mnist"
    use_debian_dir(monkeypatch, debian)
    commands = []

    def fake_run(command, env=None):
        commands.append(command)
        shutil.copytree(fashion_gz, debian)  # what installing the package does
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(sources, "_can_apt", lambda info: True)
    monkeypatch.setattr(sources.subprocess, "run", fake_run)
    with pytest.raises(data.DataError):
        datasets.fetch("fashion-mnist", log=lambda m: None)  # not allowed: apt is never run
    assert commands == []
    log = []
    datasets.fetch("fashion-mnist", allow_apt=True, log=log.append)
    assert commands == [["apt-get", "install", "-y", "--no-install-recommends", "dataset-fashion-mnist"]]
    assert any("installing the Debian package dataset-fashion-mnist" in line for line in log)
    installed_ok(isolated)


def test_apt_needs_root_and_a_package(monkeypatch):
    monkeypatch.setattr(sources.shutil, "which", lambda name: "/usr/bin/apt-get")
    monkeypatch.setattr(sources.os, "geteuid", lambda: 1000)
    assert not sources._can_apt(FASHION)
    monkeypatch.setattr(sources.os, "geteuid", lambda: 0)
    assert not sources._can_apt(registry.DATASETS["mnist"])


def test_unknown_dataset():
    with pytest.raises(data.DataError, match="unknown dataset 'cifar'; choose one of: fashion-mnist, mnist"):
        datasets.fetch("cifar")


# --- integrity: every fault is one line naming the file, and nothing is half-copied ------------

def _rewrite(path, change):
    with gzip.open(path, "rb") as f:
        content = bytearray(f.read())
    change(content)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(bytes(content))


def truncate(path):
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])


def flip_compressed_byte(path):
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))


def flip_content_byte(path):
    _rewrite(path, lambda c: c.__setitem__(-1, c[-1] ^ 0x01))


def wrong_magic(path):
    _rewrite(path, lambda c: c.__setitem__(slice(0, 4), b"\x00\x00\x08\x03"))


def wrong_count(path):
    _rewrite(path, lambda c: c.__setitem__(slice(4, 8), (9_999).to_bytes(4, "big")))


def extra_bytes(path):
    _rewrite(path, lambda c: c.extend(b"\x00"))


def not_gzip(path):
    path.write_bytes(b"this is not a gzip file at all")


DAMAGES = [
    (truncate, "truncated gzip file"),
    (flip_compressed_byte, "corrupt gzip file"),
    (not_gzip, "corrupt gzip file"),
    (flip_content_byte, "MD5 of the content is"),
    (wrong_magic, "wrong magic number"),
    (wrong_count, "dimensions"),
    (extra_bytes, "bytes, expected"),
    (os.remove, "missing file"),
]


@pytest.mark.parametrize("fname, damage, fault", [
    ("t10k-labels-idx1-ubyte", damage, fault) for damage, fault in DAMAGES] + [
    ("train-images-idx3-ubyte", damage, fault) for damage, fault in DAMAGES if damage is not wrong_magic])
def test_damaged_mirror_file(isolated, mirror, monkeypatch, fname, damage, fault):
    path = mirror / "fashion-mnist" / f"{fname}.gz"
    damage(path)
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    with pytest.raises(data.DataError) as e:
        datasets.fetch("fashion-mnist", log=lambda m: None)
    message = str(e.value)
    assert message.startswith(f"{path}: ") and fault in message and "\n" not in message
    assert files_under(isolated) == [], "a failed fetch left files in the data folder"


def test_wrong_magic_on_an_images_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08\x01" + (60_000).to_bytes(4, "big"))
    with pytest.raises(data.DataError, match=r"wrong magic number 0x00000801 \(IDX images files start with 0x00000803\)"):
        idx.read_checked(path, "0" * 32, 60_000)


def test_damaged_data_folder_copy_is_refused_then_replaced(isolated, mirror, monkeypatch):
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    datasets.fetch("fashion-mnist", log=lambda m: None)
    path = isolated / "FashionMNIST" / "raw" / "train-labels-idx1-ubyte"
    content = bytearray(path.read_bytes())
    content[100] = (content[100] + 1) % 10
    path.write_bytes(bytes(content))
    with pytest.raises(data.DataError, match=rf"^{path}: MD5 of the content is [0-9a-f]{{32}}, expected 9018921c"):
        datasets.verify("fashion-mnist")
    log = []
    datasets.fetch("fashion-mnist", log=log.append)
    assert "damaged" in log[0]
    installed_ok(isolated)
