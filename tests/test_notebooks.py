"""Committed notebooks must carry the outputs of one top-to-bottom run; nbval (`make test`)
then re-runs them and compares. Without this guard, a notebook committed without outputs
would pass nbval with nothing compared."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
LESSON = {p.stem for p in (Path(__file__).parents[1] / "src" / "vaelab").glob("*.py")}


def code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS and NOTEBOOKS[0].name == "01_data_preparation.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_one_run(path):
    cells = code_cells(path)
    assert [c.get("execution_count") for c in cells] == list(range(1, len(cells) + 1)), \
        f"{path.name}: run it with `make report` instead of committing a partial or hand-edited run"
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: committed with an error output"
    assert sum(bool(c.get("outputs")) for c in cells) >= len(cells) // 2, f"{path.name}: outputs stripped?"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_has_a_papermill_parameters_cell(path):
    tagged = [c for c in code_cells(path) if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one cell tagged 'parameters'"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if not p.name.startswith("01_")], ids=lambda p: p.name)
def test_a_notebook_that_trains_has_a_device_parameter(path):
    """Students pick where a notebook runs (papermill `-p device cuda`); `make` sets VAELAB_DEVICE=cpu,
    which "auto" follows, so the reference run never depends on the hardware present."""
    parameters = next(c for c in code_cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    assert 'device = "auto"' in "".join(parameters["source"])
    uses = "".join("".join(c["source"]) for c in code_cells(path))
    assert uses.count("device=device") + uses.count("seed, device)") >= 1


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_parameters_cell_says_where_figures_go(path):
    """Experimenting must not rewrite the report: each parameters cell says so, where students edit."""
    parameters = next(c for c in code_cells(path) if "parameters" in c.get("metadata", {}).get("tags", []))
    assert "build/scratch/assets" in "".join(parameters["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_test_harness_marker_or_slug_title_in_what_a_student_reads(path):
    """nbval's options live in cell tags (``nbval-ignore-output``), not in comments a student reads;
    figure titles name the dataset ("Fashion-MNIST"), not its slug."""
    for c in code_cells(path):
        source = "".join(c["source"])
        assert "NBVAL" not in source.upper(), f"{path.name}: {source[:60]!r}"
        assert 'f"{dataset}: ' not in source, f"{path.name}: a title with the slug: {source[:60]!r}"


def shown_cells(path):
    """(expression, the Markdown it printed) of every ``show(...)`` cell: the package's own source."""
    for c in code_cells(path):
        match = re.fullmatch(r"show\(([\w.]+)\)", "".join(c["source"]).strip())
        if match and c.get("outputs"):
            yield match.group(1), "".join(c["outputs"][0]["data"]["text/markdown"])


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if any(shown_cells(p))], ids=lambda p: p.name)
def test_the_code_a_notebook_shows_is_the_package_as_it_is(path):
    """A notebook shows the package's own lines (``show``); after an edit of the package, the committed
    notebook must be run again, on any machine (the exact tier would also catch it, on the reference CPU)."""
    for expression, markdown in shown_cells(path):
        module, *attributes = expression.split(".")
        obj = importlib.import_module(f"vaelab.{module}" if module in LESSON else f"vaelab.workshop.{module}")
        for name in attributes:
            obj = getattr(obj, name)
        assert markdown == f"```python\n{inspect.getsource(obj)}```", \
            f"{path.name}: show({expression}) printed an older version of it; run the notebook again (make report)"
