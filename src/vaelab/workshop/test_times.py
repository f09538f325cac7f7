"""Where ``make test``'s time went: a table from what the run recorded in ``build/test-times/``.

    python -m vaelab.workshop.test_times                       # print the table of the last make test
    python -m vaelab.workshop.test_times --readme --label "from a fresh clone"   # and put it in README.md

``make test`` writes ``setup.txt`` (when make started, when the tests started), ``finished.txt``,
and one file per part: ``unit.json`` and ``notebooks.json`` (every test's seconds, by the root
``conftest.py``) or, in the tolerance tier, ``tolerance.txt`` (each notebook's start and end)
instead of ``notebooks.json``. The last row is the whole run, start to end, as the wall clock saw it.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from collections import defaultdict
from datetime import date
from pathlib import Path

from vaelab.workshop import paths

START, END = "<!-- make-test-times -->", "<!-- /make-test-times -->"
# The unit tests' parts, as make test runs them (VAELAB_TEST_TIMES names each record), and their rows.
UNIT_PARTS = {"unit": "the unit tests (`pytest tests`)"}


class TimesError(ValueError):
    """What make test recorded is missing or unreadable (the message is one line)."""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        raise TimesError(f"{path}: missing; it is written by make test (run it first)") from None


def _numbers(path: Path) -> list[int]:
    text = _read(path)
    try:
        return [int(word) for word in text.split()]
    except ValueError:
        raise TimesError(f"{path}: not whole seconds since 1970 ({text.strip()[:60]!r})") from None


def _json(path: Path) -> dict:
    try:
        return json.loads(_read(path))
    except json.JSONDecodeError as e:
        raise TimesError(f"{path}: not JSON ({e})") from None


def duration(seconds: float) -> str:
    """Seconds as a reader wants them: "45 s" under two minutes, else "12.3 min"."""
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def collect(folder: Path) -> dict:
    """The parts of one make test: set-up, the notebooks (each, with its longest cell), the unit
    tests (their slowest files) and the whole run, in seconds."""
    make_start, tests_start = _numbers(folder / "setup.txt")[:2]
    finished = _numbers(folder / "finished.txt")[0]
    notebooks, longest, tier = {}, {}, "exact (nbval)"
    if (folder / "notebooks.json").is_file():
        record = _json(folder / "notebooks.json")
        for nodeid, seconds in record["tests"].items():
            name = Path(nodeid.split("::")[0]).stem
            notebooks[name] = notebooks.get(name, 0.0) + seconds
            cell = nodeid.split("::")[-1]
            if seconds > longest.get(name, ("", 0.0))[1]:
                longest[name] = (cell, seconds)
    elif (folder / "tolerance.txt").is_file():
        tier = "tolerance (papermill, then the numbers compared)"
        for line in _read(folder / "tolerance.txt").splitlines():
            name, start, end = line.split()
            notebooks[name] = float(int(end) - int(start))
    else:
        raise TimesError(f"{folder}: holds neither notebooks.json nor tolerance.txt; did make test reach the notebooks?")
    units = {}
    for name in UNIT_PARTS:
        if not (folder / f"{name}.json").is_file():
            continue
        unit = _json(folder / f"{name}.json")
        by_file = defaultdict(float)
        for nodeid, seconds in unit["tests"].items():
            by_file[nodeid.split("::")[0]] += seconds
        units[name] = {"wall": unit["finished"] - unit["started"], "tests": len(unit["tests"]),
                       "files": sorted(by_file.items(), key=lambda item: -item[1])}
    if not units:
        raise TimesError(f"{folder}: holds no unit tests' times ({', '.join(f'{n}.json' for n in UNIT_PARTS)})")
    return {"setup": tests_start - make_start, "tier": tier, "notebooks": notebooks, "longest": longest,
            "units": units, "total": finished - make_start}


def table(parts: dict, label: str = "") -> str:
    """The Markdown table of ``collect``'s parts, with a line saying where and when it was measured."""
    from vaelab.workshop import check

    cpu = check.cpu_identity().get("model_name", platform.machine())
    lines = [f"Where `make test`'s time went{' ' + label if label else ''}: {cpu}, 2 threads, "
             f"{parts['tier']} tier, {date.today().isoformat()} (written from the run by "
             f"`python -m vaelab.workshop.test_times`).", "",
             "| part | wall time | what takes it |", "| --- | ---: | --- |",
             f"| set-up: virtual environment and packages, data, site, linter, the exercises' checks | "
             f"{duration(parts['setup'])} | |"]
    lines.append(f"| the notebooks' check, {parts['tier']} | {duration(sum(parts['notebooks'].values()))} | |")
    for name, seconds in parts["notebooks"].items():
        cell, cell_s = parts["longest"].get(name, ("", 0.0))
        what = f"longest: {cell.lower()}, {duration(cell_s)}" if cell and cell_s >= 30 else ""
        lines.append(f"| · `{name}` | {duration(seconds)} | {what} |")
    for name, unit in parts["units"].items():
        slowest = ", ".join(f"`{Path(f).name}` {duration(s)}" for f, s in unit["files"][:3])
        lines.append(f"| {UNIT_PARTS[name]} ({unit['tests']} tests) | {duration(unit['wall'])} | slowest files: {slowest} |")
    lines.append(f"| **make test, start to end** | **{duration(parts['total'])}** | |")
    return "\n".join(lines) + "\n"


def write_readme(text: str, readme: Path | None = None) -> Path:
    """Put ``text`` between the README's make-test-times markers (written whole, then renamed)."""
    readme = readme or paths.project_root() / "README.md"
    old = _read(readme)
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(old):
        raise TimesError(f"{readme}: has no {START} ... {END} block to write the table into")
    paths.atomic_write_bytes(readme, pattern.sub(lambda _: f"{START}\n{text}{END}", old).encode())
    return readme


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default=None, help="what make test recorded (default build/test-times)")
    parser.add_argument("--readme", action="store_true", help="also write the table into README.md")
    parser.add_argument("--label", default="", help='how the run was made, e.g. "from a fresh clone"')
    args = parser.parse_args(argv)
    folder = Path(args.folder) if args.folder else paths.project_root() / "build" / "test-times"
    try:
        text = table(collect(folder), args.label)
        print(text, end="")
        if args.readme:
            print(f"wrote {write_readme(text)}")
    except TimesError as e:
        print(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
