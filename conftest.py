"""Root conftest: it reaches notebooks/ too. nbval compares every code cell's outputs, but not
stderr (progress bars, warnings), which changes from run to run without changing any result.

Every pytest session also writes what each test took to ``build/test-times/<name>.json`` (name:
VAELAB_TEST_TIMES, as make test sets it, else ``unit`` or ``notebooks``)
(wall-clock start and end, and seconds per test, setup to teardown): ``make test`` ends with a
table of where its time went (``vaelab.workshop.test_times``)."""

import json
import os
import time
from pathlib import Path

_TIMES = {"started": None, "tests": {}}


def pytest_collectstart(collector):
    if collector.fspath and collector.fspath.ext == ".ipynb":
        collector.skip_compare += ("stderr",)


def pytest_sessionstart(session):
    _TIMES["started"] = time.time()


def pytest_runtest_logreport(report):
    _TIMES["tests"][report.nodeid] = _TIMES["tests"].get(report.nodeid, 0.0) + report.duration


def pytest_sessionfinish(session, exitstatus):
    tests = _TIMES["tests"]
    if not tests:
        return
    kind = os.environ.get("VAELAB_TEST_TIMES") or (
        "notebooks" if all(nodeid.split("::")[0].endswith(".ipynb") for nodeid in tests) else "unit")
    folder = Path(session.config.rootpath) / "build" / "test-times"
    folder.mkdir(parents=True, exist_ok=True)
    record = {"started": _TIMES["started"], "finished": time.time(), "exitstatus": int(exitstatus),
              "tests": {nodeid: round(seconds, 3) for nodeid, seconds in tests.items()}}
    temporary = folder / f".{kind}.json.{os.getpid()}"
    temporary.write_text(json.dumps(record, indent=1) + "\n")
    temporary.replace(folder / f"{kind}.json")
