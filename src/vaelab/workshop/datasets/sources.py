"""Find a copy of a dataset and install it, checked, into the data folder.

Where a copy is looked for, in order:
  1. the data folder itself (``VAELAB_DATA_DIR``, default ``data/``), in torchvision's layout
     ``FashionMNIST/raw/`` or ``MNIST/raw/``;
  2. each folder listed in ``VAELAB_DATA_MIRROR`` that holds ``fashion-mnist/`` or ``mnist/``
     with the four IDX files (``.gz`` or uncompressed);
  3. ``/usr/share/datasets/fashion-mnist/`` (Debian/Ubuntu package ``dataset-fashion-mnist``);
  4. a download by torchvision;
  5. only when allowed (``make`` allows it): installing the Debian package with apt-get, as root.

Every file is checked (gzip stream, IDX header, MD5 of the content) before anything is written,
and files are written to temporary names and renamed only once all four passed, so a failed
fetch leaves nothing half-copied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from vaelab.data import DataError
from vaelab.workshop import paths
from vaelab.workshop.datasets import registry
from vaelab.workshop.datasets.idx import read_checked
from vaelab.workshop.datasets.registry import FILES, DatasetInfo


def _stderr(message: str) -> None:
    print(message, file=sys.stderr)


def raw_dir(info: DatasetInfo, root: Path | None = None) -> Path:
    return Path(root or paths.data_dir()) / info.folder / "raw"


def _locate(folder: Path, fname: str) -> Path:
    """``fname.gz`` or ``fname`` in ``folder``; the ``.gz`` path (reported missing) if neither."""
    for candidate in (folder / f"{fname}.gz", folder / fname):
        if candidate.is_file():
            return candidate
    return folder / f"{fname}.gz"


def is_installed(info: DatasetInfo, root: Path | None = None) -> bool:
    return all((raw_dir(info, root) / fname).is_file() for fname in FILES)


def verify_installed(info: DatasetInfo, root: Path | None = None, prefixes=("train", "t10k")) -> None:
    """Check the installed files whose names start with one of ``prefixes``; raise DataError."""
    folder = raw_dir(info, root)
    for fname, count in FILES.items():
        if fname.startswith(prefixes):
            read_checked(folder / fname, info.md5[fname], count)


def install_from(info: DatasetInfo, source: Path, root: Path | None = None) -> Path:
    """Check the four files in ``source`` and copy them, uncompressed, into the data folder."""
    contents = {fname: read_checked(_locate(Path(source), fname), info.md5[fname], count)
                for fname, count in FILES.items()}
    dest = raw_dir(info, root)
    dest.mkdir(parents=True, exist_ok=True)
    temporary = {}
    try:
        for fname, content in contents.items():
            temporary[fname] = dest / f".{fname}.tmp-{os.getpid()}"
            temporary[fname].write_bytes(content)
        for fname, tmp in temporary.items():
            os.replace(tmp, dest / fname)
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
    return dest


def _download(info: DatasetInfo, into: Path) -> Path:
    """Download with torchvision into ``into``; return the folder holding the files."""
    info.torchvision_class(root=str(into), train=True, download=True)
    return into / info.folder / "raw"


def _can_apt(info: DatasetInfo) -> bool:
    return (info.debian_package is not None and shutil.which("apt-get") is not None
            and Path("/etc/debian_version").exists() and hasattr(os, "geteuid") and os.geteuid() == 0)


def _apt_install(package: str, log) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "--no-install-recommends", package]
    if subprocess.run(command, env=env).returncode != 0:
        log("apt-get install failed; running apt-get update and trying once more")
        subprocess.run(["apt-get", "update"], env=env)
        if subprocess.run(command, env=env).returncode != 0:
            raise DataError(f"apt-get install {package} failed (see its output above)")


def fetch(name: str = "fashion-mnist", root: Path | None = None, *, allow_download: bool = True,
          allow_apt: bool = False, log=_stderr) -> Path:
    """Make sure the data folder holds a checked copy of ``name``; return its raw folder."""
    info = registry.get(name)
    root = Path(root or paths.data_dir())
    dest = raw_dir(info, root)
    if is_installed(info, root):
        try:
            verify_installed(info, root)
            log(f"{name}: checked copy in {paths.shown(dest)}")
            return dest
        except DataError as e:
            log(f"{name}: the copy in the data folder is damaged ({e}); fetching it again")

    tried = []
    mirrors = paths.mirror_dirs()
    for mirror in mirrors:
        if (mirror / name).is_dir():
            install_from(info, mirror / name, root)
            log(f"{name}: copied from the mirror {mirror / name} into {paths.shown(dest)} (checked)")
            return dest
        tried.append(f"{mirror} has no {name}/ folder")

    def from_debian():
        for folder in map(Path, info.debian_dirs):
            if folder.is_dir():
                install_from(info, folder, root)
                log(f"{name}: copied from {folder} (Debian package {info.debian_package}) into {dest} (checked)")
                return dest
        return None

    if found := from_debian():
        return found

    download_error = "not tried"
    if allow_download:
        tmp = root / f".download-{name}-{os.getpid()}"
        try:
            log(f"{name}: no local copy; downloading with torchvision")
            install_from(info, _download(info, tmp), root)
            log(f"{name}: downloaded into {dest} (checked)")
            return dest
        except (RuntimeError, OSError) as e:
            download_error = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    if allow_apt and _can_apt(info):
        log(f"{name}: no copy found and the download failed; installing the Debian package "
            f"{info.debian_package} with apt-get")
        _apt_install(info.debian_package, log)
        if found := from_debian():
            return found

    raise DataError(_no_copy_message(info, dest, mirrors, tried, download_error))


def _no_copy_message(info, dest, mirrors, tried, download_error) -> str:
    names = ", ".join(f"{f}.gz" for f in FILES)
    ways = [f"{info.name}: no copy found. Ways to get it:",
            f"  - put its four IDX files ({names}, or uncompressed) in {dest}/",
            f"  - set VAELAB_DATA_MIRROR to a folder holding {info.name}/ with those files "
            + (f"(tried: {'; '.join(tried)})" if mirrors else "(it is not set)")]
    if info.debian_package:
        ways.append(f"  - on Debian/Ubuntu: sudo apt-get install {info.debian_package} "
                    f"(puts it in {info.debian_dirs[0]}/; `make test` does this itself when run as root)")
    ways.append(f"  - connect to the internet, and torchvision downloads it (download: {download_error})")
    return "\n".join(ways)
