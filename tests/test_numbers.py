"""Every number a notebook shows, read back for the tolerance tier (vaelab.workshop.numbers)."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from vaelab.workshop import numbers, paths

ROOT = paths.project_root()


def notebook(tmp_path, name, cells) -> str:
    path = tmp_path / name
    nbformat.write(new_notebook(cells=cells), path)
    return path


def printed(source, *outputs):
    return new_code_cell(source, outputs=list(outputs))


def stdout(text):
    return new_output("stream", name="stdout", text=text)


@pytest.fixture
def shown(tmp_path):
    table = "          KL (nats)   1 %\nz13           2.59 -11.65\nz2            1,024  3e-3\n"
    return notebook(tmp_path, "shown.ipynb", [
        new_markdown_cell("Prose with 3 numbers, 4 and 5: not an output"),
        printed("run()", stdout("epoch 1: 244.78 nats, 12 s elapsed, object at 0x7f3a\n"),
                new_output("stream", name="stderr", text="vae: 100%|██| 10/10 [00:03<00:00]\n")),
        printed("table", new_output("execute_result", data={"text/plain": table, "text/html": "<td>999</td>"})),
        printed("Markdown(x)", new_output("display_data", data={"text/markdown": "NLL **−87.5** of β=0.5",
                                                                 "text/plain": "<IPython.core.display.Markdown object>"})),
        printed("fig", new_output("display_data", data={"text/plain": "<Figure size 1000x400 with 2 Axes>",
                                                          "image/png": "iVBORw0KGgo="})),
        new_code_cell("speed()", outputs=[stdout("3.15 s per epoch, 17,240 images per second\n")],
                      metadata={"tags": ["nbval-ignore-output"]}),
        printed("show(f)", new_output("display_data", data={"text/markdown": "```python\ndef f(x):\n    return 2 * x\n```",
                                                              "text/plain": "<IPython.core.display.Markdown object>"})),
    ])


def test_every_number_a_reader_sees_is_read_and_nothing_else(shown):
    values = list(numbers.notebook_tokens(shown).values())
    # stdout: 1 and 244.78 (the duration and the address are masked as nbval masks them); stderr left out;
    # the table's plain text (its HTML is the same table): headers 1, then 2.59 -11.65 1,024 3e-3, not z13 or z2;
    # Markdown: −87.5 and 0.5 (β=0.5); a figure's repr, a cell nbval ignores and a listing of code: nothing.
    assert values == ["1", "244.78", "1", "2.59", "-11.65", "1,024", "3e-3", "−87.5", "0.5"]
    assert [numbers.parse(v) for v in values[-4:]] == [1024.0, 0.003, -87.5, 0.5]


@pytest.mark.parametrize("token, unit", [("3.14", 0.01), ("42", 1.0), ("1,024", 1.0), ("2e-3", 1e-3), ("−0.5", 0.1)])
def test_a_number_may_always_move_by_one_unit_of_its_last_digit(token, unit):
    assert numbers.last_digit(token) == pytest.approx(unit)


def test_a_number_beyond_its_tolerance_a_missing_one_and_an_unmeasured_one_fail(tmp_path, shown):
    tolerances = {key: 0.5 for key in numbers.notebook_tokens(shown)}
    assert all(c["ok"] for c in numbers.compare(shown, shown, tolerances))
    nb = nbformat.read(shown, as_version=4)
    nb.cells[1].outputs[0].text = "epoch 1: 245.00 nats\n"  # +0.22: within 0.5
    nb.cells[2].outputs[0].data["text/plain"] = nb.cells[2].outputs[0].data["text/plain"].replace("2.59", "3.59")
    nb.cells[3].outputs = []  # the Markdown's numbers are gone
    fresh = tmp_path / "fresh.ipynb"
    nbformat.write(nb, fresh)
    checks = numbers.compare(fresh, shown, tolerances)
    failed = [(c["cell"].split(" (")[0], c["reference"], c["fresh"]) for c in checks if not c["ok"]]
    assert failed == [("cell 1", 2.59, 3.59), ("cell 2", -87.5, None), ("cell 2", 0.5, None)]
    unmeasured = numbers.compare(shown, shown, {k: v for k, v in tolerances.items() if not k.endswith(" 0")})
    assert sum(not c["ok"] for c in unmeasured) == 3 and all(c["tolerance"] is None for c in unmeasured if not c["ok"])


def test_a_cell_whose_count_of_numbers_moves_with_the_seed_is_left_out(tmp_path, shown):
    nb = nbformat.read(shown, as_version=4)
    nb.cells[1].outputs[0].text = "epoch 1: 244.78 nats, and 3 more\n"  # one number more than the committed run
    fresh = tmp_path / "fresh.ipynb"
    nbformat.write(nb, fresh)
    tolerances = {key: 0.5 for key in numbers.notebook_tokens(shown)}
    assert [c["fresh"] for c in numbers.compare(fresh, shown, tolerances) if not c["ok"]] == [3.0]
    moving = numbers.cell_key(nb.cells[1])
    assert all(c["ok"] for c in numbers.compare(fresh, shown, tolerances, unstable={moving}))
    assert not any(c["key"].startswith(moving) for c in numbers.compare(fresh, shown, tolerances, unstable={moving}))


def test_an_edited_cell_keeps_the_other_cells_tolerances(tmp_path, shown):
    nb = nbformat.read(shown, as_version=4)
    nb.cells.insert(1, new_code_cell("print(7)", outputs=[stdout("7\n")]))
    edited = tmp_path / "edited.ipynb"
    nbformat.write(nb, edited)
    before, after = numbers.notebook_tokens(shown), numbers.notebook_tokens(edited)
    assert before.items() <= after.items() and len(after) == len(before) + 1


def test_the_measured_spread_covers_every_number_of_every_committed_notebook():
    """make bench-spread measured every number the committed notebooks show (run it again when a
    notebook's code cells change), and the tolerance tier has a tolerance for each."""
    tolerances, unstable = numbers.measured_tolerances("fashion-mnist"), numbers.unstable_cells("fashion-mnist")
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        keys = {key for key in numbers.notebook_tokens(path) if key.split()[0] not in unstable.get(path.stem, set())}
        missing = keys - tolerances.get(path.stem, {}).keys()
        assert not missing, f"{path.name}: {len(missing)} of {len(keys)} numbers have no measured spread; run make bench-spread"


def test_a_missing_or_broken_spread_file_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path)
    with pytest.raises(FileNotFoundError, match="notebook_spread_fashion-mnist.json: missing; run `make bench-spread`"):
        numbers.measured_tolerances()
    numbers.spread_path("fashion-mnist").parent.mkdir(parents=True)
    numbers.spread_path("fashion-mnist").write_text("{")
    with pytest.raises(ValueError, match="not JSON"):
        numbers.measured_tolerances()
    spread = {"ab 0": [1.0, 2.0, 3.0], "ab 1": [5.0], "cd 0": [100.0, 101.0], "cd 1": [10.0, 10.0], "cd 2": [50.0, 52.0]}
    numbers.spread_path("fashion-mnist").write_text(json.dumps({"notebooks": {"01_x": spread}}))
    tolerances = numbers.measured_tolerances()["01_x"]
    assert "ab 1" not in tolerances  # one value: no spread measured
    assert tolerances["ab 0"] == pytest.approx(4.0)  # four standard deviations
    # cd 0 and cd 2 moved by 0.70 % and 2.8 % of their size (standard deviations); cd 1 did not move, and gets
    # four times the median of those, 1.75 %, of its size; cd 0 too, since its own spread is smaller
    median = (0.5 ** 0.5 / 100.5 + 2 ** 0.5 / 51) / 2
    assert tolerances["cd 1"] == pytest.approx(4 * median * 10) and tolerances["cd 0"] == pytest.approx(4 * median * 100.5)
    assert tolerances["cd 2"] == pytest.approx(4 * 2 ** 0.5)
