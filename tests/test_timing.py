"""The notebook timer (``vaelab.workshop.timing``) on tiny synthetic notebooks: it runs them as
nbconvert does, logs the calls that train or load runs, records both times, and writes them into
the notebooks and the README between markers, the same files when written twice. The kernel wraps a
stand-in for ``runs.train`` (``--wrap``) so that nothing trains: the tests take seconds."""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from vaelab.workshop import timing

# A stand-in for vaelab.workshop.runs: train() "trains" a run missing from runs/ (sleeping its seconds
# and recording them per epoch in history.json, as runs.fit does) and loads one that is there.
FAKE_RUNS = '''
import json, time
from pathlib import Path


class Run:
    def __init__(self, folder, history):
        self.folder, self.history = folder, history


def run_dir(cfg):
    return Path(__file__).parents[1] / "runs" / cfg["name"]


def train(cfg, folder=None):
    folder = Path(folder) if folder is not None else run_dir(cfg)
    path = folder / "history.json"
    if not path.is_file():
        time.sleep(cfg["seconds"])
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([{"epoch": 1, "wall_seconds": cfg["seconds"]}]))
    return Run(folder, json.loads(path.read_text()))
'''
WRAP = "fake_runs:train"
CACHED_S = 75.0  # the recorded training seconds of the run found in runs/: over a minute from scratch
README = textwrap.dedent("""\
    # A course

    | notebook | what it does |
    | --- | --- |
    | [`01_tiny`](notebooks/01_tiny.ipynb) | trains nothing for real |

    ## More
    """)


def tiny_notebook() -> nbformat.NotebookNode:
    nb = new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    parameters = new_code_cell('dataset = "fashion-mnist"\nname = "cached"')
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [new_markdown_cell("[![badge](x.svg)](x)\n\n# 01 · Tiny\n\nIntro."), parameters,
                new_code_cell("import fake_runs"),
                new_markdown_cell("Load the cached run."),
                new_code_cell('run = fake_runs.train({"name": name, "seconds": 0.1})\nlen(run.history)'),
                new_code_cell('fresh = fake_runs.train({"name": "fresh-" + dataset, "seconds": 0.3})\nprint(fresh.folder.name)'),
                new_code_cell('[name for name in dir() if "timing" in name]')]
    return nb


def make_project(root: Path) -> Path:
    (root / "notebooks").mkdir(parents=True)
    (root / "notebooks" / "fake_runs.py").write_text(FAKE_RUNS)
    (root / "runs" / "cached").mkdir(parents=True)
    (root / "runs" / "cached" / "history.json").write_text(json.dumps([{"epoch": 1, "wall_seconds": CACHED_S}]))
    (root / "README.md").write_text(README)
    path = root / "notebooks" / "01_tiny.ipynb"
    nbformat.write(tiny_notebook(), path)
    return path


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project run as make report runs it: the notebook in place on Fashion-MNIST, then on MNIST
    into build/, then ``timing write``."""
    root = tmp_path_factory.mktemp("project")
    path = make_project(root)
    times = root / "assets" / "notebook_times.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert timing.main(["run", str(path), "--times", str(times), "--wrap", WRAP]) == 0
        assert timing.main(["run", str(path), "--output", str(root / "build" / "01_tiny-mnist.ipynb"),
                            "-p", "dataset", "mnist", "--times", str(times), "--wrap", WRAP]) == 0
        executed = path.read_text()
        assert timing.main(["write", "--root", str(root), "--times", str(times)]) == 0
    return root, executed


def entry(root: Path, label: str) -> dict:
    return json.loads((root / "assets" / "notebook_times.json").read_text())["notebooks"]["01_tiny"][label]


def test_the_notebook_is_executed_as_nbconvert_does(project):
    root, executed = project
    nb = nbformat.reads(executed, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(nb.cells) == len(tiny_notebook().cells), "a hidden cell was saved"
    assert [c.execution_count for c in code] == [1, 2, 3, 4, 5]
    assert not any("_vaelab_timing" in c.source for c in nb.cells)
    assert not any("execution" in c.metadata for c in code), "timing metadata (record_timing=False)"
    assert code[2].outputs[0]["data"]["text/plain"] == "1"
    assert code[4].outputs[0]["data"]["text/plain"] == "[]", "the hidden cell left names in the notebook"
    assert nb.metadata["language_info"]["name"] == "python"


def test_parameters_are_injected_as_papermill_does(project):
    root, _ = project
    nb = nbformat.read(root / "build" / "01_tiny-mnist.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[1].metadata["tags"] == ["injected-parameters"] and 'dataset = "mnist"' in code[1].source
    assert [c.execution_count for c in code] == [1, 2, 3, 4, 5, 6]
    assert "fresh-mnist" in code[4].outputs[0]["text"]
    assert "tags" not in code[2].metadata


def test_both_times_come_from_the_measurements(project):
    root, _ = project
    fashion = entry(root, "fashion-mnist")
    runs = {Path(r["folder"]).name: r for r in fashion["runs"]}
    assert not runs["cached"]["trained"] and runs["cached"]["loaded_s"] == CACHED_S and runs["cached"]["cell"] == 2
    assert runs["fresh-fashion-mnist"]["trained"] and runs["fresh-fashion-mnist"]["trained_s"] == 0.3
    assert fashion["cold_s"] == pytest.approx(fashion["wall_s"] + CACHED_S, abs=0.02)
    assert fashion["cached_s"] == pytest.approx(fashion["wall_s"] - 0.3, abs=0.02)
    assert fashion["cold_s"] >= fashion["cached_s"]
    cells = {c["index"]: c for c in fashion["cells"]}
    assert sorted(cells) == [0, 1, 2, 3, 4] and cells[2]["loaded_s"] == CACHED_S and cells[3]["trained_s"] == 0.3
    assert cells[3]["seconds"] >= 0.3
    mnist = entry(root, "mnist")
    assert [c["index"] for c in mnist["cells"]] == [0, None, 1, 2, 3, 4]  # papermill's cell is not the notebook's
    assert mnist["cold_s"] >= mnist["cached_s"]


def test_write_puts_the_times_in_the_notebook_and_the_readme(project):
    root, _ = project
    nb = nbformat.read(root / "notebooks" / "01_tiny.ipynb", as_version=4)
    header = nb.cells[0].source
    assert header.startswith("[![badge](x.svg)](x)\n\n# 01 · Tiny\n\n<!-- time -->\n**Time** on the reference CPU ")
    assert "Fashion-MNIST: " in header and "; MNIST (in order / cached / fresh): " in header
    assert "Measured by `make report` on " in header
    assert header.endswith("<!-- /time -->\n\nIntro.")
    assert nb.cells[3].source.startswith("Load the cached run.\n\n<!-- cell-time -->\n**On the reference CPU this cell "
                                         "takes about 75 s in the course's order or on a fresh machine ")
    assert sum("cell-time" in c.source for c in nb.cells) == 1
    readme = (root / "README.md").read_text()
    assert "| [`01_tiny`](notebooks/01_tiny.ipynb) | trains nothing for real |\n\n<!-- notebook-times -->\n" in readme
    assert "| notebook | Fashion-MNIST: in order | cached | fresh | MNIST: in order | cached | fresh |" in readme
    dataset = r" (75|80) s \| (under 1|\d) s \| (75|80) s \|"  # in order (it trains the run), cached, fresh
    assert re.search(r"\n\| `01_tiny` \|" + dataset + dataset + r"\n", readme)
    assert readme.endswith("<!-- /notebook-times -->\n\n## More\n")


def test_writing_twice_gives_the_same_files(project):
    root, _ = project
    files = [root / "notebooks" / "01_tiny.ipynb", root / "README.md"]
    before = [p.read_text() for p in files]
    assert timing.write(root, root / "assets" / "notebook_times.json") == []
    assert [p.read_text() for p in files] == before


def test_a_failing_cell_fails_the_run_and_is_written_with_its_error(tmp_path, capsys):
    path = make_project(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells.insert(3, new_code_cell('raise ValueError("no such run")'))
    nbformat.write(nb, path)
    times = tmp_path / "times.json"
    assert timing.main(["run", str(path), "--times", str(times), "--wrap", WRAP]) == 1
    err = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().err)  # the traceback's colours
    assert f"{path}: a cell failed" in err and "ValueError: no such run" in err
    code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    assert code[2].outputs[0]["output_type"] == "error" and code[3].execution_count is None
    assert not times.exists(), "a failed run records no times"


# --- write, without a kernel ----------------------------------------------------------------------------------

def test_a_slow_cell_under_a_code_cell_gets_a_markdown_cell_that_goes_when_it_is_fast():
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# 01 · T"), new_code_cell("a = 1"), new_code_cell("train()"), new_code_cell("b = 2")]
    code_ids = [c.id for c in nb.cells]
    timing.set_cell_times(nb, {1: timing.cell_sentence(300, 20)})
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "markdown", "code", "code"]
    assert nb.cells[2].source == ("<!-- cell-time -->\n**On the reference CPU this cell takes about 5 min in the course's order "
                                 "or on a fresh machine (it trains the models it uses), about 20 s with `runs/` holding "
                                 "them.**\n<!-- /cell-time -->")
    assert nb.cells[2].id == f"{code_ids[2]}-time"
    timing.set_cell_times(nb, {1: timing.cell_sentence(400, 30)})  # measured again: the line is replaced
    assert len(nb.cells) == 5 and "about 7 min in the course's order" in nb.cells[2].source
    timing.set_cell_times(nb, {2: timing.cell_sentence(95, 95)})  # now another cell is the slow one
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "markdown", "code"]
    timing.set_cell_times(nb, {})
    assert [c.id for c in nb.cells] == code_ids


def test_in_the_courses_order_a_run_is_trained_by_the_first_notebook_that_uses_it():
    """Notebook 01 trains run A; notebook 02 reuses A and trains B: in order, 02 pays only for B,
    with everything cached for neither, on a fresh machine for both."""
    def entry(cached_s, runs):
        return {"cached_s": cached_s, "cold_s": cached_s + sum(r["recorded_s"] for r in runs), "cells": [
            {"index": 0, "seconds": cached_s, "trained_s": 0.0, "loaded_s": sum(r["recorded_s"] for r in runs)}],
            "runs": [{**r, "cell": 0} for r in runs]}
    a, b = {"folder": "runs/x/a", "recorded_s": 100.0}, {"folder": "runs/x/b", "recorded_s": 40.0}
    times = {"notebooks": {"01_one": {"fashion-mnist": entry(5.0, [a])}, "02_two": {"fashion-mnist": entry(3.0, [a, b])}}}
    order = timing.course_order(times, ["01_one", "02_two"])
    assert order["01_one"]["fashion-mnist"] == {"notebook": 105.0, "cells": {0: 105.0}}
    assert order["02_two"]["fashion-mnist"] == {"notebook": 43.0, "cells": {0: 43.0}}
    assert timing.three_times(43.0, 3.0, 143.0).startswith("about 45 s in the course's order (it trains the models no earlier")
    assert timing.three_times(3.0, 3.0, 3.0) == "about 3 s (it trains nothing)"


def test_a_changed_cell_keeps_its_line():
    nb = new_notebook()
    nb.cells = [new_markdown_cell("# 01 · T"), new_markdown_cell("Train."), new_code_cell("train()")]
    timing.set_cell_times(nb, {0: timing.cell_sentence(120, 5)})
    line = nb.cells[1].source
    timing.set_cell_times(nb, {}, changed={0})
    assert nb.cells[1].source == line
    timing.set_cell_times(nb, {})
    assert nb.cells[1].source == "Train."


def test_a_notebook_without_a_title_is_refused_naming_it():
    nb = new_notebook()
    nb.cells = [new_markdown_cell("Some text, no title")]
    with pytest.raises(timing.TimingError, match=r"^x/01_a\.ipynb: no title line '# NN · Title'"):
        timing.set_header(nb, "**Time:** ...", Path("x/01_a.ipynb"))


@pytest.mark.parametrize("content", ["{not json", '{"notebooks": []}', '{"notebooks": {"01_a": {"mnist": {"date": 1}}}}'])
def test_a_damaged_times_file_is_one_line_naming_it(tmp_path, capsys, content):
    times = tmp_path / "notebook_times.json"
    times.write_text(content)
    (tmp_path / "notebooks").mkdir()
    assert timing.main(["write", "--root", str(tmp_path), "--times", str(times)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {times}: ") and err.count("\n") == 1


def test_a_readme_without_markers_or_table_is_refused_naming_it():
    with pytest.raises(timing.TimingError, match=r"^R\.md: no <!-- notebook-times --> markers"):
        timing.set_readme("# Title\n\nNo table.\n", "x", Path("R.md"))


@pytest.mark.parametrize("seconds, shown", [(0.4, "under 1 s"), (3.2, "3 s"), (42, "40 s"), (88, "90 s"), (95, "2 min"),
                                            (400, "7 min")])
def test_durations_are_rounded_for_reading(seconds, shown):
    assert timing.duration(seconds) == shown
