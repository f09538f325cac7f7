"""The student edition (make assignment): every exercise a stub and every check failing with "not
implemented yet", no solution line anywhere in it, no outputs, notebooks that stop at the first
exercise with its message, and a GitHub Classroom workflow that runs the same checks."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import nbclient
import nbformat
import pytest
import yaml

from vaelab.workshop import assignment, exercises

EXERCISES = exercises.marked()


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    return assignment.build(tmp_path_factory.mktemp("edition") / "assignment")


def in_edition(edition, *args):
    env = {**os.environ, "PYTHONPATH": str(edition / "src")}
    return subprocess.run([sys.executable, *args], cwd=edition, env=env, capture_output=True, text=True)


def test_every_check_fails_in_the_fresh_edition_and_none_crashes(edition):
    done = in_edition(edition, "-m", "vaelab.workshop.exercises")
    lines = done.stdout.splitlines()
    assert done.returncode == 1, done.stderr
    assert lines[-1] == f"0 passed, {len(EXERCISES)} failed"
    assert len(lines) == len(EXERCISES) + 1
    assert all(line.endswith("FAILED: not implemented yet (the function still raises NotImplementedError)")
               for line in lines[:-1]), lines


# Lines of a solution that the course shows elsewhere on purpose: the models' interface in the losses'
# docstring, and the PyTorch idiom of a training step that the classifier's own loop and a gradient test use.
SHOWN_ELSEWHERE = {"logits, kl = model.elbo_terms(x)", "optimizer.zero_grad(set_to_none=True)", "optimizer.step()",
                   "loss.total.backward()"}


def test_the_edition_holds_no_solution_line(edition):
    solution = assignment.solution_lines()
    assert all(solution.values()), "every exercise has lines to hide"
    hidden = set().union(*solution.values()) - SHOWN_ELSEWHERE
    found = []
    for path in edition.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".yml", ".toml", ".js", ".txt", ""):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                if " ".join(line.split()) in hidden:
                    found.append(f"{path.relative_to(edition)}:{number}: {line.strip()}")
    assert not found, found


def test_a_stub_keeps_its_signature_docstring_and_marker(edition):
    for e in EXERCISES:
        source = (edition / "src" / "vaelab" / f"{e.module}.py").read_text()
        stub = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == e.function)
        solution = next(n for n in ast.walk(ast.parse(e.path.read_text()))
                        if isinstance(n, ast.FunctionDef) and n.name == e.function)
        assert ast.dump(stub.args) == ast.dump(solution.args) and ast.get_docstring(stub) == ast.get_docstring(solution)
        assert isinstance(stub.body[-1], ast.Raise) and len(stub.body) == 2, e.name
        assert f"# exercise {e.number} · " in source
        message = "".join(part.value for part in ast.walk(stub.body[-1]) if isinstance(part, ast.Constant))
        assert message == e.stub_message() and f"notebook {e.notebook}" in message


def test_the_edition_has_no_outputs_no_assets_and_says_what_to_do(edition):
    for path in sorted((edition / "notebooks").glob("*.ipynb")):
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert all(c["outputs"] == [] and c["execution_count"] is None for c in cells), path.name
    assert not (edition / "assets").exists() and not (edition / "benchmarks").exists()
    assert not (edition / "tests" / "test_exercises.py").exists()
    text = (edition / "ASSIGNMENT.md").read_text()
    assert all(f"| {e.number} | {e.title} | `{e.name}`" in text for e in EXERCISES)
    assert f"**{sum(e.points for e in EXERCISES)}**" in text
    makefile = (edition / "Makefile").read_text()
    rule = makefile[makefile.index("\ntest:"):]
    assert "check" in rule.splitlines()[2] and "--ignore=tests/test_notebooks.py" in rule


def test_the_classroom_workflow_runs_each_check_for_its_points(edition):
    workflow = yaml.safe_load((edition / ".github" / "workflows" / "classroom.yml").read_text())
    steps = workflow["jobs"]["autograding"]["steps"]
    graders = [s for s in steps if "autograding-command-grader" in s.get("uses", "")]
    assert [(s["with"]["command"], s["with"]["max-score"]) for s in graders] == \
        [(f"python -m vaelab.workshop.exercises {e.number}", e.points) for e in EXERCISES]
    reporter = steps[-1]
    assert reporter["with"]["runners"].split(",") == [s["id"] for s in graders]
    assert set(reporter["env"]) == {f"{s['id'].upper()}_RESULTS" for s in graders}
    assert sorted(os.listdir(edition / ".github" / "workflows")) == ["classroom.yml"]
    one = in_edition(edition, "-m", "vaelab.workshop.exercises", "1")  # the command a step runs
    assert one.returncode == 1 and one.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_an_edition_notebook_stops_at_the_first_exercise_with_its_message(edition, fashion_raw, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(edition / "src"))  # the kernel imports the edition's package
    monkeypatch.setenv("VAELAB_DATA_DIR", str(fashion_raw.parents[1]))
    path = edition / "notebooks" / "02_vae.ipynb"
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as stopped:
        client.execute()
    first = EXERCISES[0]
    assert stopped.value.ename == "NotImplementedError"
    assert stopped.value.evalue == first.stub_message()
