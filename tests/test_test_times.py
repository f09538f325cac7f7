"""The table of where make test's time went (vaelab.workshop.test_times), from what a run recorded."""

from __future__ import annotations

import json

import pytest

from vaelab.workshop import test_times


def record(folder, notebooks=True):
    folder.mkdir(parents=True)
    (folder / "setup.txt").write_text("1000 1060\n")
    (folder / "finished.txt").write_text("2980\n")
    unit = {"started": 1060.0, "finished": 1480.0, "exitstatus": 0,
            "tests": {"tests/test_a.py::test_one": 100.0, "tests/test_a.py::test_two": 20.0, "tests/test_b.py::test_x": 5.0}}
    (folder / "unit.json").write_text(json.dumps(unit))
    if notebooks:
        cells = {"notebooks/01_data.ipynb::Cell 0": 1.0, "notebooks/01_data.ipynb::Cell 1": 14.0,
                 "notebooks/02_vae.ipynb::Cell 0": 2.0, "notebooks/02_vae.ipynb::Cell 7": 600.0}
        (folder / "notebooks.json").write_text(json.dumps({"started": 1060.0, "finished": 1700.0, "tests": cells}))
    else:
        (folder / "tolerance.txt").write_text("01_data 1060 1075\n02_vae 1075 1677\n")


def test_the_parts_add_up_from_what_make_test_recorded(tmp_path):
    record(tmp_path / "t")
    parts = test_times.collect(tmp_path / "t")
    assert parts["setup"] == 60 and parts["total"] == 1980 and parts["units"]["unit"]["wall"] == 420
    assert parts["notebooks"] == {"01_data": 15.0, "02_vae": 602.0}
    assert parts["longest"]["02_vae"] == ("Cell 7", 600.0)
    assert parts["units"]["unit"]["files"][0] == ("tests/test_a.py", 120.0)
    text = test_times.table(parts, "from a fresh clone")
    assert "| set-up: virtual environment and packages" in text and "| 60 s |" in text
    assert "| · `02_vae` | 10.0 min | longest: cell 7, 10.0 min |" in text
    assert "| the unit tests (`pytest tests`) (3 tests) | 7.0 min | slowest files: `test_a.py` 2.0 min" in text
    assert "| **make test, start to end** | **33.0 min** | |" in text


def test_the_tolerance_tier_is_timed_per_notebook(tmp_path):
    record(tmp_path / "t", notebooks=False)
    parts = test_times.collect(tmp_path / "t")
    assert parts["tier"].startswith("tolerance") and parts["notebooks"] == {"01_data": 15.0, "02_vae": 602.0}


def test_a_run_that_did_not_record_says_so_in_one_line(tmp_path, capsys):
    assert test_times.main(["--folder", str(tmp_path / "none")]) == 1
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and "setup.txt: missing; it is written by make test" in out


def test_the_table_goes_between_the_readme_markers_and_nowhere_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Course\n\nbefore\n{test_times.START}\nold table\n{test_times.END}\nafter\n")
    test_times.write_readme("| new | table |\n", readme)
    assert readme.read_text() == f"# Course\n\nbefore\n{test_times.START}\n| new | table |\n{test_times.END}\nafter\n"
    readme.write_text("# no markers\n")
    with pytest.raises(test_times.TimesError, match="has no <!-- make-test-times -->"):
        test_times.write_readme("x\n", readme)
