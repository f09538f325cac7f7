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


# Where each model, prior and trick is taught (the notebook's name, without its number): the first notebook
# whose code uses it must be that one (teach before use; the README's "Why this order").
VAE, AE, PRIORS, EVALUATION = "vae", "autoencoder_baseline", "beyond_the_standard_prior", "evaluation"
TAUGHT_IN = {
    'model="vae"': VAE, "training.train_epoch": VAE, "training.train_step": VAE,  # the loop: warm-up, schedule
    'for name in ("ae", "vae")': AE, "autoencoder_loss": AE,  # the autoencoder (later notebooks: config("ae"))
    "comparison.configs": PRIORS, "runs.best_config": PRIORS, "priors.VampPrior": PRIORS, "gaussian.log_mixture": PRIORS,
    "HierarchicalVAE": PRIORS, "prior_gap": PRIORS, "active_units": PRIORS,  # 05 looks at active units one by one
    '"conv-vae"': EVALUATION, "iwae_nll": EVALUATION, "model_row": EVALUATION,  # the conv VAE, the importance-sampled bound
}


def test_every_model_prior_and_trick_is_used_first_in_the_notebook_that_teaches_it():
    for term, chapter in TAUGHT_IN.items():
        users = [p.stem[3:] for p in NOTEBOOKS if any(term in "".join(c["source"]) for c in code_cells(p))]
        assert users, f"{term}: no notebook uses it any more; update TAUGHT_IN"
        assert users[0] == chapter, (f"{term} is first used in notebook {users[0]}, but taught in notebook {chapter}: "
                                     f"teach it before use, or move the use")


def test_latent_dimensions_are_numbered_from_one_everywhere():
    """z1, z2, ... in every notebook's labels, as on the Explore page (docs/js/explorer.js): a dimension
    called z12 in one figure and z13 in another is one dimension too many to keep apart."""
    for path in NOTEBOOKS:
        code = "".join("".join(c["source"]) for c in code_cells(path))
        assert not re.search(r"f\"z\{j\}|f'z\{j\}", code), f"{path.name}: label dimensions z{{j + 1}}, from one"
    explorer = (Path(__file__).parents[1] / "docs" / "js" / "explorer.js").read_text()
    assert "`z${j + 1}" in explorer and "`z${j}`" not in explorer
