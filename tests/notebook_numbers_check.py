"""The tolerance tier's comparison of every notebook's numbers (run by `make check-tolerance`,
not by `pytest tests`: the file name leaves it out of the unit tests).

    make check-tolerance NOTEBOOKS="notebooks/05_latent_space.ipynb"
    pytest tests/notebook_numbers_check.py      # after the notebooks ran into build/check/

For each notebook run into ``VAELAB_CHECKED_DIR`` (default ``build/check``), every number of every
code cell must be within its measured tolerance of the committed notebook's
(``vaelab.workshop.numbers``). A failure lists the numbers out of tolerance, cell by cell."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from vaelab.workshop import numbers, paths

ROOT = paths.project_root()
CHECKED = Path(os.environ.get("VAELAB_CHECKED_DIR", ROOT / "build" / "check"))
RUN = sorted(CHECKED.glob("[0-9][0-9]_*.ipynb"))


def describe(c) -> str:
    fresh = "missing" if c["fresh"] is None else f"{c['fresh']:g}"
    reference = "none" if c["reference"] is None else f"{c['reference']:g}"
    allowed = "no measured tolerance" if c["tolerance"] is None else f"tolerance {c['tolerance']:.3g}"
    return f"{c['cell']}, number {c['key'].split()[1]}: committed {reference}, this run {fresh}, {allowed}"


@pytest.mark.parametrize("executed", RUN, ids=[p.stem for p in RUN])
def test_every_number_is_within_its_measured_tolerance(executed):
    tolerances = numbers.measured_tolerances("fashion-mnist")
    if executed.stem not in tolerances:
        pytest.fail(f"{numbers.spread_path('fashion-mnist')}: no spread measured for {executed.stem}; run make bench-spread")
    checks = numbers.compare(executed, ROOT / "notebooks" / executed.name, tolerances[executed.stem],
                             numbers.unstable_cells("fashion-mnist").get(executed.stem, set()))
    failed = [c for c in checks if not c["ok"]]
    print(f"{executed.stem}: {len(checks) - len(failed)} of {len(checks)} numbers within tolerance")
    assert not failed, f"{executed.stem}: {len(failed)} of {len(checks)} numbers out of tolerance:\n" + \
        "\n".join(describe(c) for c in failed[:25]) + ("\n..." if len(failed) > 25 else "")


def test_the_tolerance_run_ran_notebooks():
    assert RUN, f"{CHECKED}: holds no notebook; make check-tolerance runs them there first"
