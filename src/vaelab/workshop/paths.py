"""Where things live: the project root, the data folder, the mirrors and assets/.

Settings (environment variables):
  VAELAB_DATA_DIR     the data folder (default: <project root>/data)
  VAELAB_DATA_MIRROR  folders holding local copies, separated by os.pathsep (":" on Linux)
  VAELAB_ASSETS_DIR   where a run's figures and tables go (default: <project root>/build/scratch/assets,
                      so that a notebook run with other parameters leaves the report alone; ``make
                      report`` sets it to <project root>/assets, the report's own folder)

The project root (``vaelab.data.project_root``) is found by walking up from the working directory
to the folder that holds ``pyproject.toml`` and ``src/vaelab``, so notebooks (which run inside
``notebooks/``) and the command line (run from the root) use the same folders.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from vaelab.data import data_dir, project_root  # noqa: F401 (where things live: the data folder is the lesson's)


def shown(path) -> Path:
    """``path`` as a message shows it: relative to the project root when it lies inside it (so a
    notebook's output names ``data/...``, not the machine's folders), else as it is."""
    path = Path(path)
    try:
        return path.resolve().relative_to(project_root())
    except ValueError:
        return path


def mirror_dirs() -> list[Path]:
    value = os.environ.get("VAELAB_DATA_MIRROR", "")
    return [Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p.strip()]


def assets_dir() -> Path:
    """Where this run writes its figures and tables: ``VAELAB_ASSETS_DIR``, else a scratch folder."""
    value = os.environ.get("VAELAB_ASSETS_DIR")
    return Path(value).expanduser().resolve() if value else project_root() / "build" / "scratch" / "assets"


def report_assets_dir() -> Path:
    """The report's figures and tables, committed with the notebooks (what ``make report`` wrote)."""
    return project_root() / "assets"


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path`` to write; it is renamed to ``path`` when the block
    succeeds and deleted when it fails, so no reader ever sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` through a temporary file and a rename: never half a file."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def save_figure(fig, name: str, folder: Path | None = None) -> None:
    """Save ``fig`` as ``<assets>/<name>.png`` (or ``folder/<name>.png``), atomically, at the size it
    was made (no tight cropping) and without metadata that changes from run to run (no software
    version, no date): the same run gives the same bytes."""
    from vaelab.plots import DPI

    with atomic_path(Path(folder or assets_dir()) / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})


def benchmark_result(filename: str, target: str, script: str) -> dict:
    """A committed benchmark result, ``benchmarks/results/<filename>``, as JSON; missing or broken,
    a one-line error naming the file and the make target (and script) that writes it."""
    path = project_root() / "benchmarks" / "results" / filename
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: missing; run `make {target}` (benchmarks/{script})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not JSON ({e}); run `make {target}` again") from None
