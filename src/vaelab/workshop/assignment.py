"""The student edition of the course, written from this repository by ``make assignment``.

    python -m vaelab.workshop.assignment [OUT]          # default: build/assignment

The edition is a copy of the repository's files (``git ls-files``: tracked, or new and not
ignored), as they are in the working tree, in which

* the body of every exercise (``vaelab.workshop.exercises``) is a stub that raises
  NotImplementedError naming the exercise, the notebook that uses it and what to implement; the
  signature, the docstring and the exercise's marker stay;
* the notebooks carry no outputs (they showed the solution's code and numbers), and there is no
  ``assets/`` (the report's figures and numbers: the student's ``make report`` writes their own);
* what only the solution needs is left out: ``benchmarks/``, the tests that hold classic wrong
  answers (``tests/test_exercises.py``) or compare with this repository's committed outputs, and
  this repository's CI workflows. ``.github/workflows/classroom.yml`` takes their place: GitHub
  Classroom's autograding, one step per exercise with its points;
* ``ASSIGNMENT.md`` lists the exercises, their points and times and how to check them, and
  ``make test`` runs the linter, the checks and the remaining unit tests.

It is written to a temporary folder beside ``OUT`` and renamed at the end: never half an edition.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from vaelab.workshop import exercises as ex
from vaelab.workshop.paths import project_root

LEFT_OUT = ("assets/", "benchmarks/", ".github/", "tests/test_exercises.py", "tests/test_assignment.py",
            "tests/notebook_numbers_check.py", "tests/planted_bugs_check.py")
SOLUTION_ONLY_TESTS = ("tests/test_notebooks.py", "tests/test_check.py", "tests/test_site.py",  # need committed outputs
                       "tests/test_numbers.py")
RUFF_STUBS = '''
# The edition's stubs leave some imports of the lesson unused until the exercises are done.
[tool.ruff.lint.per-file-ignores]
"src/vaelab/*.py" = ["F401"]
'''


def tracked_files(root: Path) -> list[str]:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                            capture_output=True, check=True).stdout
    return sorted(name for name in listed.decode().split("\0") if name and (root / name).is_file())


def _stub_lines(exercise: ex.Exercise, indent: str) -> list[str]:
    message = exercise.stub_message()
    first, second = message.index("implement "), message.index("as its docstring")
    parts = [message[:first], message[first:second], message[second:]]
    return [f'{indent}raise NotImplementedError("{parts[0]}"\n',
            f'{indent}                          "{parts[1]}"\n',
            f'{indent}                          "{parts[2]}")\n']


def stubbed(source: str, found: list[ex.Exercise]) -> str:
    """``source`` with the body of each exercise in ``found`` (all of one module) replaced by its stub."""
    lines = source.splitlines(keepends=True)
    by_line = {e.line + 1: e for e in found}  # the def stands on the line after its marker
    cuts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.lineno in by_line:
            exercise = by_line[node.lineno]
            first = node.body[0]
            has_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                and isinstance(first.value.value, str)
            start = first.end_lineno if has_docstring else node.body[0].lineno - 1  # 0-based index of the first body line
            cuts.append((start, node.end_lineno, _stub_lines(exercise, " " * first.col_offset)))
    if len(cuts) != len(found):
        raise ValueError(f"{found[0].path}: {len(found)} exercises marked, {len(cuts)} functions found")
    for start, end, stub in sorted(cuts, reverse=True):
        lines[start:end] = stub
    return "".join(lines)


def solution_lines(package: Path = ex.PACKAGE) -> dict[str, set[str]]:
    """Every line of every exercise's solution body (whitespace folded), by exercise name: what the
    edition must not contain anywhere."""
    out = {}
    for exercise in ex.marked(package):
        source = exercise.path.read_text()
        body = stubbed(source, [exercise])
        removed = [line for line in source.splitlines() if line not in body.splitlines()]
        out[exercise.name] = {" ".join(line.split()) for line in removed if len(line.strip()) > 6}
    return out


def edition_test_rule() -> str:
    ignored = " ".join(f"--ignore={name}" for name in SOLUTION_ONLY_TESTS)
    return ("# The edition's test: the linter, the exercises' checks (make check), then the unit tests, which run the\n"
            "# whole course on your code (the solution's comparison with its committed outputs is not part of it).\n"
            "test: lint data\n"
            "\t$(MAKE) --no-print-directory check\n"
            f"\t$(PY) -m pytest tests {ignored}\n")


def edition_makefile(makefile: str) -> str:
    rule = re.compile(r"^test:.*\n(\t.*\n)+", re.M)
    if not rule.search(makefile):
        raise ValueError("Makefile: no test rule to replace")
    return rule.sub(lambda m: edition_test_rule(), makefile, count=1)


def stripped_notebook(text: str) -> str:
    nb = json.loads(text)
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def classroom_workflow(found: list[ex.Exercise]) -> str:
    """GitHub Classroom's autograding: one command-grader step per exercise, its points as max-score."""
    steps, ids = [], []
    for e in found:
        step_id = f"exercise-{e.number}"
        ids.append(step_id)
        steps.append(f"""      - name: "exercise {e.number}: {e.title}"
        id: {step_id}
        uses: classroom-resources/autograding-command-grader@v1
        with:
          test-name: "exercise {e.number}: {e.title} ({e.name})"
          setup-command: ""
          command: python -m vaelab.workshop.exercises {e.number}
          timeout: 5
          max-score: {e.points}
""")
    results = "".join(f"          {i.upper()}_RESULTS: \"${{{{steps.{i}.outputs.result}}}}\"\n" for i in ids)
    return f"""name: Autograding
# GitHub Classroom runs this on every push of a student's repository and reports the points of each
# exercise that passes (the same checks as `make check`; they need no data and take seconds).
on:
  - push
  - workflow_dispatch
  - repository_dispatch
permissions:
  checks: write
  actions: read
  contents: read
jobs:
  autograding:
    runs-on: ubuntu-latest
    if: github.actor != 'github-classroom[bot]'
    timeout-minutes: 20
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: The package and PyTorch (CPU)
        run: |
          pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu
          pip install --quiet --no-deps -e .
          pip install --quiet numpy
{''.join(steps)}      - name: Autograding reporter
        uses: classroom-resources/autograding-grading-reporter@v1
        env:
{results}        with:
          runners: {','.join(ids)}
"""


def assignment_text(found: list[ex.Exercise]) -> str:
    rows = "\n".join(f"| {e.number} | {e.title} | `{e.name}` in `src/vaelab/{e.module}.py` | {e.notebook} | {e.points} | "
                     f"{e.minutes} min |" for e in found)
    return f"""# The assignment

This is the student edition of the course. The notebooks, the report and the tests are all here; what
is missing is the lines the course is about. Each exercise is a function of the package whose body you
write: its signature and its docstring say what it takes and what it returns, and the notebook named
beside it explains the maths. Until you write it, the function stops with a one-line message naming the
exercise.

| # | exercise | where | notebook | points | about |
| --- | --- | --- | --- | ---: | ---: |
{rows}
| | **all** | | | **{sum(e.points for e in found)}** | **{sum(e.minutes for e in found)} min** |

## How to work

```bash
make check            # every exercise: passed, or what is wrong; ends with "N passed, N failed"
make check N=3        # only exercise 3 (several: N="3 4")
make lab              # Jupyter Lab on the notebooks; run them in order
```

`make check` tries your functions on small, fixed inputs against known answers and properties (a KL of
0 when q is the prior, 784 log 2 nats for p = 0.5 on every pixel, gradients that reach the mean and
the variance, ...) and says what is wrong, never the answer. It needs no data and runs in seconds.
Once an exercise passes, the notebooks that use it train and plot with your code: `make report` runs
them all and builds your report, and `make test` runs the linter, the checks and the unit tests.

Change only the bodies of the exercises. On GitHub Classroom every push runs the same checks
(`.github/workflows/classroom.yml`) and reports your points.
"""


def build(out: Path | None = None, root: Path | None = None) -> Path:
    """Write the edition into ``out`` (default ``build/assignment``), replacing what was there."""
    root = Path(root or project_root())
    out = Path(out) if out is not None else root / "build" / "assignment"
    package = root / "src" / "vaelab"
    found = ex.marked(package)
    by_file: dict[str, list[ex.Exercise]] = {}
    for e in found:
        by_file.setdefault(e.path.relative_to(root).as_posix(), []).append(e)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        for name in tracked_files(root):
            if name.startswith(LEFT_OUT) or name in LEFT_OUT:
                continue
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if name in by_file:
                target.write_text(stubbed((root / name).read_text(), by_file[name]))
            elif name.endswith(".ipynb"):
                target.write_text(stripped_notebook((root / name).read_text()))
            elif name == "Makefile":
                target.write_text(edition_makefile((root / name).read_text()))
            elif name == "pyproject.toml":
                target.write_text((root / name).read_text() + RUFF_STUBS)
            elif name == "README.md":
                target.write_text("> **The assignment edition**: start with [ASSIGNMENT.md](ASSIGNMENT.md). Its "
                                  "exercises are stubs until you write them.\n\n" + (root / name).read_text())
            else:
                shutil.copy2(root / name, target)
        (tmp / "ASSIGNMENT.md").write_text(assignment_text(found))
        workflow = tmp / ".github" / "workflows" / "classroom.yml"
        workflow.parent.mkdir(parents=True, exist_ok=True)
        workflow.write_text(classroom_workflow(found))
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


if __name__ == "__main__":
    folder = build(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"the student edition is in {folder} ({len(ex.marked())} exercises); `make check` there fails each "
          f"until it is written")
