"""Colab in one click: the badges, the install cells and the report's links all follow the one
repository address in pyproject.toml, and the install cell works where Colab runs it: a fresh
Python with the package's dependencies already there (Colab has them), ``google.colab`` imported,
and no checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from vaelab.workshop import colab, paths

ROOT = paths.project_root()


def test_everything_follows_the_repository_address():
    stale = colab.out_of_sync(ROOT)
    assert not stale, f"run `make colab` (then `make report`): {', '.join(p.name for p in stale)} disagree"


def test_each_notebook_opens_in_colab_and_installs_there():
    url = colab.repository(ROOT)
    readme = (ROOT / "README.md").read_text()
    for path in colab.notebooks(ROOT):
        cells = json.loads(path.read_text())["cells"]
        badge = f"(https://colab.research.google.com/github/{colab.slug(url)}/blob/main/notebooks/{path.name})"
        assert "".join(cells[0]["source"]).startswith("[![Open In Colab]") and badge in "".join(cells[0]["source"])
        assert badge in readme, f"README: no Colab badge for {path.name}"
        install = "".join(cells[1]["source"])
        assert cells[1]["cell_type"] == "code" and f'"vaelab @ git+{url}"' in install
        assert not cells[1]["outputs"], f"{path.name}: the install cell printed something outside Colab"


def test_the_reports_links_follow_the_address():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(ROOT / "docs"))
    page = hooks.on_page_markdown(f"intro\n\n{hooks.NOTEBOOKS_MARK}\n", None, None, None)
    url = colab.repository(ROOT)
    for path in colab.notebooks(ROOT):
        assert colab.colab_url(path.name, url) in page and colab.github_url(path.name, url) in page
    assert hooks.NOTEBOOKS_MARK in (ROOT / "docs" / "reproduce.md").read_text()


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a", ""])
def test_an_address_that_is_not_a_github_repository_is_refused(tmp_path, url):
    (tmp_path / "pyproject.toml").write_text(f'[project]\nname = "vaelab"\n[project.urls]\nRepository = "{url}"\n')
    with pytest.raises(ValueError, match="expected https://github.com/<owner>/<name>"):
        colab.repository(tmp_path)


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Path:
    """A new virtual environment that sees this one's packages (standing in for Colab's torch,
    numpy, ...) through a .pth file, but not vaelab itself."""
    folder = tmp_path_factory.mktemp("colab")
    venv.EnvBuilder(with_pip=False).create(folder / "venv")  # pip too comes from the shared packages (a current one, as in Colab)
    python = folder / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = Path(sysconfig.get_paths()["purelib"])
    shared = folder / "colab-packages"  # this environment's packages less vaelab (a real Colab has none)
    shared.mkdir()
    for entry in ours.iterdir():
        if not entry.name.lower().startswith(("vaelab", "__editable__", "_vaelab")):
            (shared / entry.name).symlink_to(entry)
    Path(site, "colab-packages.pth").write_text(f"{shared}\n")
    stub = folder / "stub" / "google" / "colab"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text('"""A stand-in for Colab\'s own module."""\n')
    (stub / "drive.py").write_text(  # Drive mounts where the test says (STUB_DRIVE_OK), or the student declines
        'import os\n\ndef mount(path):\n    if not os.environ.get("STUB_DRIVE_OK"):\n'
        '        raise ValueError("mount failed")\n    os.makedirs(path + "/MyDrive", exist_ok=True)\n')
    return python


def run_cell(python: Path, source: str, in_colab: bool, cwd: Path, **extra_env):
    prelude = "import google.colab\n" if in_colab else ""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAELAB_", "PYTHON"))}
    env["PYTHONPATH"] = str(python.parents[2] / "stub")
    env.update(extra_env)
    return subprocess.run([python, "-c", prelude + source], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="pip installs from git: no git here")
def test_the_install_cell_installs_the_package_only_in_colab(fresh_python, tmp_path, fashion_raw):
    url = colab.repository(ROOT)
    source = colab.install_cell(url).replace(f"git+{url}", f"git+file://{ROOT}")  # a local clone, not GitHub
    content = tmp_path / "content"  # Colab's working folder: no checkout anywhere above it
    content.mkdir()
    mirror_root = tmp_path / "mirror-stand-in"  # stands in for the download Colab would do
    (mirror_root / "fashion-mnist").mkdir(parents=True)
    for f in fashion_raw.iterdir():
        (mirror_root / "fashion-mnist" / f.name).symlink_to(f)
    outside = run_cell(fresh_python, source + "\nimport vaelab", in_colab=False, cwd=content)
    assert outside.returncode != 0 and "No module named 'vaelab'" in outside.stderr  # nothing installed
    inside = run_cell(fresh_python, source + "\nimport vaelab, vaelab.data; print(vaelab.__file__)", in_colab=True,
                      cwd=content, VAELAB_DATA_MIRROR=str(mirror_root))
    assert inside.returncode == 0, inside.stderr[-2000:]
    assert str(fresh_python.parents[1]) in inside.stdout  # installed into the fresh environment, not the checkout
    # The cell fetched a checked copy of the data into the working folder, where a notebook reads it.
    assert (content / "data" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    # The installed package works outside a checkout: data and runs go to the working folder.
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAELAB_DATA")}
    train = subprocess.run([fresh_python, "-m", "vaelab", "train", "--latent-dim", "2", "--epochs", "1",
                            "--batch-size", "1000", "--device", "cpu", "--out", "runs/first"],
                           capture_output=True, text=True, cwd=content, env=env)
    assert train.returncode == 0, train.stderr[-2000:]
    assert (content / "data" / "FashionMNIST" / "raw").is_dir() and (content / "runs" / "first" / "metrics.json").is_file()
    assert "Google Drive not used (mount failed)" in inside.stdout  # declined: said, and the work stays on the machine


def test_in_colab_the_work_goes_to_google_drive_so_the_next_notebook_reuses_it(fresh_python, tmp_path):
    """Each Colab notebook is a new machine: the install cell mounts Drive and works in a folder
    there, so data/ and runs/ outlive the notebook. Here Drive is a temporary folder."""
    drive = tmp_path / "drive"
    source = colab.install_cell(colab.repository(ROOT)).replace(colab.DRIVE, str(drive))
    source = source.split("    subprocess.run(")[0]  # up to the install: where the work goes, nothing installed
    cell = run_cell(fresh_python, source + "\nprint(os.getcwd())", in_colab=True, cwd=tmp_path, STUB_DRIVE_OK="1")
    assert cell.returncode == 0, cell.stderr[-2000:]
    folder = drive / "MyDrive" / "vaelab"
    assert folder.is_dir() and cell.stdout.strip().splitlines()[-1] == str(folder)
