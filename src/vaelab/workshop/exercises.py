"""The assignment's exercises: where they are in the lesson, and a check for each that teaches.

An exercise is a function of the lesson marked by the comment line just above its ``def``:

    # exercise 1 · 2 points · 10 min · notebook 02 · the reparameterisation
    def reparameterize(mu, logvar, eps=None):

``make assignment`` (``vaelab.workshop.assignment``) replaces the body of every marked function by
a stub that raises NotImplementedError naming the exercise; ``make check`` runs this module:

    python -m vaelab.workshop.exercises          # every exercise
    python -m vaelab.workshop.exercises 3 4      # only exercises 3 and 4

Each check tries the student's function on small, fixed inputs against known answers and
properties (a KL of 0 when q is the prior, 784 log 2 nats for p = 0.5 on every pixel, gradients
that reach mu and logvar, ...), and says what is wrong in words a student can act on, never the
answer. It prints one line per exercise and ends with ``N passed, N failed``; the exit status is 1
while any fails. A check needs no data and runs in well under a second. The checks themselves are
``vaelab.workshop.feedback``; this module reads the markers with the standard library alone (the
report's build lists the exercises without PyTorch).
"""

from __future__ import annotations

import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import vaelab

PACKAGE = Path(vaelab.__file__).parent
MARK = re.compile(r"^# exercise (\d+) · (\d+) points? · (\d+) min · notebook (\d\d) · (.+)$")


@dataclass(frozen=True)
class Exercise:
    number: int
    points: int
    minutes: int
    notebook: str  # "02": the notebook that first uses it
    title: str
    module: str  # "gaussian"
    function: str  # "reparameterize"
    path: Path
    line: int  # of the marker

    @property
    def name(self) -> str:
        return f"{self.module}.{self.function}"

    def stub_message(self) -> str:
        return (f"exercise {self.number} ({self.title}, notebook {self.notebook}): implement {self.name} "
                f"in src/vaelab/{self.module}.py, as its docstring says; `make check` tells you when it is right")


def marked(package: Path = PACKAGE) -> list[Exercise]:
    """Every marked function of the lesson (the modules in ``package``, not the workshop), by number."""
    found = []
    for path in sorted(package.glob("*.py")):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            match = MARK.match(line)
            if match:
                definition = re.match(r"def (\w+)\(", lines[i + 1]) if i + 1 < len(lines) else None
                if definition is None:
                    raise ValueError(f"{path}:{i + 1}: an exercise marker must stand just above a def")
                number, points, minutes, notebook, title = match.groups()
                found.append(Exercise(int(number), int(points), int(minutes), notebook, title, path.stem,
                                      definition.group(1), path, i + 1))
    return sorted(found, key=lambda e: e.number)


def run_check(number: int) -> tuple[bool, str]:
    """(passed, what to say) for one exercise: what is wrong, or that the stub is still there."""
    from vaelab.workshop.feedback import CHECKS, Wrong

    try:
        CHECKS[number]()
    except Wrong as e:
        return False, str(e)
    except NotImplementedError as e:
        other = re.match(r"exercise (\d+) \((.+), notebook \d\d\)", str(e))
        if other and int(other.group(1)) != number:  # it calls another exercise's function, still a stub
            return False, f"needs exercise {other.group(1)} first: {other.group(2)} is not implemented yet"
        return False, "not implemented yet (the function still raises NotImplementedError)"
    except Exception as e:  # a crash inside the student's code: say where, in one line
        frame = traceback.extract_tb(e.__traceback__)[-1]
        return False, f"it crashed: {type(e).__name__}: {e} (at {Path(frame.filename).name}, line {frame.lineno})"
    return True, "passed"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    listed = {e.number: e for e in marked()}
    wanted = [int(a) for a in argv] if argv else sorted(listed)
    unknown = [n for n in wanted if n not in listed]
    if unknown:
        print(f"no exercise {', '.join(map(str, unknown))}; the exercises are {', '.join(map(str, sorted(listed)))}")
        return 2
    passed = 0
    for n in wanted:
        e = listed[n]
        ok, said = run_check(n)
        passed += ok
        print(f"exercise {n} · {e.title} ({e.name}, {e.points} point{'s' * (e.points != 1)}): "
              f"{'passed' if ok else 'FAILED: ' + said}")
    print(f"{passed} passed, {len(wanted) - passed} failed")
    return 0 if passed == len(wanted) else 1


if __name__ == "__main__":
    sys.exit(main())
