"""Every notebook runs top to bottom on a GPU, here an emulated one (tests/emulated_device.py).

`make test` runs on the CPU, where a tensor left on the CPU next to a model's GPU tensors goes
unnoticed; a student's GPU then stops the notebook with "Expected all tensors to be on the same
device". tests/test_device.py covers the package's functions, not the code the notebooks write
themselves: at commit 7220767 the aggregate-posterior cell (then notebook 07's) built the prior's
density from ``t.double()`` of the model's GPU tensors against a CPU grid, and crashed on an NVIDIA GPU.

So each notebook (found by glob, whatever its number) runs in its own Jupyter kernel in a
temporary folder (its runs/ and figures land there, nothing in the repository), after a hidden
set-up cell that switches the emulated MPS device on for the whole kernel and makes the run small:
a few hundred images per split (as many of each class), one epoch for the best VAE, few
importance samples and generated images. The parameters cell gets ``device = "mps"`` and small
sizes, as papermill's ``-p`` would. A cell that raises fails the test in one line: the notebook,
the cell, the error and the innermost line of the course's code it came from (a cell or src/vaelab).
"""

from __future__ import annotations

import ast
import os
import re
import shutil
from pathlib import Path

import emulated_device
import matplotlib.pyplot as plt
import nbformat
import pytest
import torch
from emulated_device import DeviceMismatch, emulated_mps
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from vaelab import gaussian, models, plots

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# Injected into a notebook's parameters cell where it has the name (papermill's -p).
PARAMETERS = {"device": "mps", "epochs": 1, "tsne_points": 100, "components": 10, "binarized_epochs": 1}
SPLIT_SIZES = {"train": 500, "val": 200, "test": 300}  # images per split, the same number of each class
PROJECT_INPUTS = ("benchmarks/results",)  # committed files a notebook reads from the project root (copied)
CELL_TIMEOUT = 600  # seconds: a hung cell fails its notebook instead of the whole run

# The hidden first cell: it runs in the notebook's kernel, before the notebook's own cells, and is never saved.
SETUP = f"""
import dataclasses
import functools
from pathlib import Path

import emulated_device

emulated_device.switch_on()  # "mps" is available, and its tensors refuse what a GPU refuses

from vaelab import data, latent, plots
from vaelab.workshop import results, runs

if data.project_root().resolve() != Path.cwd().resolve():
    raise RuntimeError(f"runs/ would go to {{data.project_root()}}, not the test's temporary folder")


def replace(module, name, value):
    if not hasattr(module, name):
        raise RuntimeError(f"{{module.__name__}}.{{name}} is gone: update SETUP in tests/test_notebooks_on_device.py")
    setattr(module, name, value)


_full_split, _best_config = data.load_split, runs.best_config


@functools.lru_cache(maxsize=None)
def _small_split(name, seed, root):
    parts = _full_split(name, seed=seed, root=root)
    sizes = {SPLIT_SIZES!r}
    picks = {{part: latent.stratified_subset(y, sizes[part], seed=0).sort().values for part, (_, y) in parts.items()}}
    return {{part: (x[picks[part]], y[picks[part]]) for part, (x, y) in parts.items()}}


def small_split(name="fashion-mnist", seed=0, root=None):
    return dict(_small_split(name, seed, root))


def short_best_config(*args, **kwargs):
    config = _best_config(*args, **kwargs)
    return dataclasses.replace(config, epochs=1, warmup_epochs=min(config.warmup_epochs, 0.5))


# Figures at a tenth of their resolution, shown and saved: every plotting line still runs, with less
# rendering (the pictures are looked at in the report, not here).
get_ipython().run_line_magic("config", "InlineBackend.print_figure_kwargs = {{'bbox_inches': None, 'dpi': 10}}")
replace(plots, "DPI", 10)
replace(data, "load_split", small_split)  # split_tensors, runs.train and results.Context read the split through it
replace(runs, "best_config", short_best_config)
for name, value in {{"NLL_SUBSET": 50, "NLL_K": 4, "SAMPLES": 200, "CLASSIFIER_EPOCHS": 1}}.items():
    replace(results, name, value)
"""


def parameters_cell(nb):
    return next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))


def with_parameters(nb, parameters: dict) -> None:
    """Append ``name = value`` to the notebook's parameters cell for each name it assigns (papermill's -p)."""
    cell = parameters_cell(nb)
    assigned = {target.id for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    lines = [f"{name} = {value!r}" for name, value in parameters.items() if name in assigned]
    cell.source += "\n# injected by tests/test_notebooks_on_device.py\n" + "\n".join(lines) + "\n"


def where(traceback: str) -> str:
    """Where the innermost frame of the course's own code (a notebook cell, or src/vaelab) in a
    kernel's traceback is: it tells whether the notebook or the package has to change."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", traceback)
    frames = re.findall(r"(?:File (\S+?):(\d+)|Cell In\[(\d+)\], line (\d+))(?:, in ([\w<>.]+))?", plain)
    ours = [(f"src/{file.split('/src/')[-1]}:{line}" if file else f"cell In[{cell}] line {cell_line}", function)
            for file, line, cell, cell_line, function in frames if cell or "/src/vaelab/" in file]
    if not ours:
        return ""
    place, function = ours[-1]
    return f" (in {function}, {place})" if function else f" ({place})"


def failure(name: str, number, cell, error: CellExecutionError) -> str:
    """One line: the notebook, the cell (its In [n] number) and its first line, the error, where it was raised."""
    first = next((line.strip() for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
    message = next((line for line in str(error.evalue).splitlines() if line.strip()), "")
    return f"{name}: cell {number} `{first[:70]}`: {error.ename}: {message[:300]}{where(error.traceback)}"


def run_on_device(path: Path, folder: Path) -> str | None:
    """Run the notebook at ``path`` small, on the emulated device, in ``folder``; the first failure, or None."""
    nb = nbformat.read(path, as_version=4)
    with_parameters(nb, PARAMETERS)
    for inputs in PROJECT_INPUTS:
        if (ROOT / inputs).is_dir():
            shutil.copytree(ROOT / inputs, folder / inputs)
    env = {**os.environ, "VAELAB_DATA_DIR": os.environ.get("VAELAB_DATA_DIR") or str(ROOT / "data"),
           "VAELAB_ASSETS_DIR": str(folder / "assets"), "VAELAB_DEVICE": "mps", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "PYDEVD_DISABLE_FILE_VALIDATION": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "tests"), str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)}
    setup = nbformat.v4.new_code_cell(SETUP)
    nb.cells.insert(0, setup)  # in this copy only (nbclient writes each cell back at its index): nothing is saved
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}})
    with client.setup_kernel(env=env):
        try:
            client.execute_cell(setup, 0, store_history=False)
        except CellExecutionError as e:
            return failure(path.name, "(the test's set-up)", setup, e)
        for number, (index, cell) in enumerate(((i, c) for i, c in enumerate(nb.cells) if i and c.cell_type == "code"), 1):
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as e:
                return failure(path.name, number, cell, e)
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebook_runs_on_a_gpu(path, tmp_path, fashion_raw):
    """The whole notebook on the emulated device, small: no cell of it, and no package function it
    calls, may mix the device's tensors with the CPU's, ask the device for float64 or read a device
    tensor as NumPy (a GPU refuses what the CPU lets through)."""
    problem = run_on_device(path, tmp_path)
    if problem:
        pytest.fail(problem, pytrace=False)
    nb = nbformat.read(path, as_version=4)
    if re.search(r"^device = ", parameters_cell(nb).source, re.M):  # proof that it ran there: runs/<dataset>/...-mps-s<seed>
        assert list((tmp_path / "runs").glob("*/*-mps-s*")), \
            f"{path.name}: has a device parameter, yet trained no run on the emulated device (no runs/*/*-mps-s*)"


TODAY = lambda t: t.detach().cpu().double()  # noqa: E731 (the aggregate-posterior cell's components: on the CPU)
AT_7220767 = lambda t: t.double()  # noqa: E731 (float64, and still on the model's device)


def aggregate_posterior_prior(model, move):
    """The aggregate-posterior cell's prior density for ``plots.aggregate_posterior``, the model's
    prior components handed over by ``move``."""
    return lambda z: gaussian.log_mixture(torch.as_tensor(z), *(move(t) for t in model.prior_components()))


def test_the_aggregate_posterior_prior_leaves_the_device(monkeypatch):
    """The line that crashed on an NVIDIA GPU at 7220767 made the prior's components float64
    (``t.double()``) but left them on the device, while the plot's grid is on the CPU. Covered here
    whatever the notebooks become: on the emulated MPS the old line fails (float64 first; with
    float64 allowed, as on CUDA, the report's "same device" error) and today's line draws the plot."""
    codes, labels, names = torch.randn(40, 2), torch.arange(40) % 10, [str(c) for c in range(10)]
    with emulated_mps(monkeypatch):
        model = models.VAE(latent_dim=2).to("mps")
        fig = plots.aggregate_posterior(codes, labels, names, aggregate_posterior_prior(model, TODAY))
        assert fig.axes[0].collections, "today's line drew no contours"
        with pytest.raises(TypeError, match="float64"):
            plots.aggregate_posterior(codes, labels, names, aggregate_posterior_prior(model, AT_7220767))
        monkeypatch.setattr(emulated_device, "FLOAT64", True)
        with pytest.raises(DeviceMismatch, match="Expected all tensors to be on the same device"):
            plots.aggregate_posterior(codes, labels, names, aggregate_posterior_prior(model, AT_7220767))
    plt.close("all")
