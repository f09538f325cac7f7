"""Every number a notebook prints or tabulates, and how far each may move off the reference CPU.

    numbers = notebook_numbers("notebooks/05_latent_space.ipynb")   # {"3f2a9c1e 3": 0.33, ...}
    tolerances = measured_tolerances("fashion-mnist")                # from make bench-spread

The tolerance tier of ``make test`` runs the notebooks on another machine and compares, with
``compare``, every number of every code cell's output (what it prints, the tables it displays as
text, its Markdown) with the committed notebook's, in order: key ``"3f2a9c1e 3"`` is the fourth
number shown by the code cell whose source hashes to 3f2a9c1e. A figure is compared only through
the numbers its notebook prints about it (the pictures themselves are not).
Numbers that nbval masks (``tests/nbval_sanitize.cfg``: wall-clock durations, object addresses)
are masked here too, the cells whose output nbval ignores (a training speed) are left out, and so
are the digits of a label such as ``z13`` or ``x2`` (a number glued to a letter); stderr (progress
bars, warnings) is left out, as nbval leaves it out.

Each number's tolerance is measured, as the tier's tolerances always were, by the spread over
training seeds: ``make bench-spread`` runs every notebook with other seeds and keeps each number's
values (``benchmarks/results/notebook_spread_<dataset>.json``); the tolerance is four standard
deviations over training seeds, and never less than one unit of the last digit printed.
"""

from __future__ import annotations

import configparser
import hashlib
import math
import re
import statistics
from pathlib import Path

import nbformat

from vaelab.workshop import paths

SIGMAS = 4  # tolerance: this many standard deviations over training seeds
# A number standing alone: not glued to a letter or a digit before it (z13, x2, 0x7f are labels),
# with an optional sign (ASCII or the minus sign −), thousands separators and an exponent.
NUMBER = re.compile(r"(?<![\w.])[-−]?\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w])|(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def sanitizers(config: Path | None = None) -> list[tuple[re.Pattern, str]]:
    """nbval's (regex, replacement) pairs from ``tests/nbval_sanitize.cfg``: what nbval does not compare."""
    parser = configparser.ConfigParser()
    path = config or paths.project_root() / "tests" / "nbval_sanitize.cfg"
    if not parser.read(path):
        raise FileNotFoundError(f"{path}: missing (nbval's sanitizer, which the number check shares)")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def output_text(output) -> str:
    """The text a reader sees of one output: stdout, a Markdown display, or a result's plain text
    (a DataFrame's table); "" for stderr, images, errors and listings of code."""
    if output.get("output_type") == "stream":
        return output.get("text", "") if output.get("name") == "stdout" else ""
    data = output.get("data", {})
    markdown = data.get("text/markdown", "")
    if ("".join(markdown) if isinstance(markdown, list) else markdown).lstrip().startswith("```"):
        return ""  # a listing of the package's code (the notebooks' show()): code, not a result
    for kind in ("text/markdown", "text/plain"):
        if kind in data:
            text = data[kind]
            text = "".join(text) if isinstance(text, list) else text
            return "" if re.fullmatch(r"<(Figure|IPython\.core\.display\.\w+) .*>", text.strip()) else text
    return ""


def parse(token: str) -> float:
    """A printed number as a float: the minus sign and thousands separators understood."""
    return float(token.replace("−", "-").replace(",", ""))


def last_digit(token: str) -> float:
    """One unit of the last digit printed: 0.01 for "3.14", 1 for "42" or "1,024", 1e-3 for "2e-3"."""
    mantissa, _, exponent = token.replace(",", "").lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 10.0 ** (int(exponent or 0) - decimals)


def cell_numbers(cell, masks) -> list[str]:
    """The numbers one code cell shows, as printed (tokens), in order."""
    tokens = []
    for output in cell.get("outputs", []):
        text = output_text(output)
        for regex, replacement in masks:
            text = regex.sub(replacement, text)
        tokens += NUMBER.findall(text)
    return tokens


def _code_cells(path):
    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable notebook ({type(e).__name__}: {e})") from None
    return [c for c in nb.cells if c.cell_type == "code"]


def cell_key(cell) -> str:
    """A code cell's name in the keys: a hash of its source, so that a cell added or edited elsewhere
    in the notebook leaves the other cells' numbers and their measured tolerances where they were."""
    return hashlib.sha256(cell.source.strip().encode()).hexdigest()[:8]


def ignored_by_nbval(cell) -> bool:
    """A cell whose output nbval does not compare (tag ``nbval-ignore-output`` or ``nbval-skip``, or the
    comment markers): what changes from machine to machine, such as a training speed."""
    tags = set(cell.get("metadata", {}).get("tags", []))
    first = (cell.source.strip().splitlines() or [""])[0]
    return bool(tags & {"nbval-ignore-output", "nbval-skip"}) or first.strip() in ("# NBVAL_IGNORE_OUTPUT", "# NBVAL_SKIP")


def notebook_tokens(path) -> dict[str, str]:
    """``{"<cell> <j>": token}`` for every number of every code cell of the notebook at ``path``, in
    order (``<cell>`` is ``cell_key``, j counts the cell's numbers from 0)."""
    masks = sanitizers()
    tokens = {}
    for cell in _code_cells(path):
        if ignored_by_nbval(cell):
            continue
        for j, token in enumerate(cell_numbers(cell, masks)):
            tokens[f"{cell_key(cell)} {j}"] = token
    return tokens


def cell_names(path) -> dict[str, str]:
    """``{cell_key: "cell i (its first line)"}``, i counting code cells from 0 as nbval's "Cell i" does."""
    return {cell_key(c): f"cell {i} ({(c.source.strip().splitlines() or [''])[0][:60]})"
            for i, c in enumerate(_code_cells(path))}


def notebook_numbers(path) -> dict[str, float]:
    """``notebook_tokens`` as floats."""
    return {key: parse(token) for key, token in notebook_tokens(path).items()}


def spread_path(dataset: str) -> Path:
    """Where ``make bench-spread`` keeps the numbers' values over seeds for ``dataset``."""
    return paths.project_root() / "benchmarks" / "results" / f"notebook_spread_{dataset}.json"


def measured_tolerances(dataset: str = "fashion-mnist") -> dict[str, dict[str, float]]:
    """``{notebook stem: {key: tolerance}}`` from the spread ``make bench-spread`` measured.

    A number's tolerance is four standard deviations of its values over training seeds. With only a few
    seeds one number's deviation is a rough estimate (two seeds can agree by chance), so it is at
    least four times the median relative spread of its cell's numbers (a table's numbers move
    together) times its own size. A number measured with one seed only has no tolerance (it fails).
    ``compare`` adds the floor of one unit of the last digit printed."""
    content = paths.benchmark_result(spread_path(dataset).name, "bench-spread", "notebook_spread.py")
    tolerances = {}
    for stem, values in content["notebooks"].items():
        spread = {key: (statistics.stdev(v), abs(statistics.fmean(v))) for key, v in values.items() if len(v) > 1}
        relative = {}
        for key, (sd, size) in spread.items():
            if sd > 0 and size > 0:
                relative.setdefault(key.split()[0], []).append(sd / size)
        pooled = {cell: statistics.median(r) for cell, r in relative.items()}
        tolerances[stem] = {key: SIGMAS * max(sd, pooled.get(key.split()[0], 0.0) * size)
                            for key, (sd, size) in spread.items()}
    return tolerances


def unstable_cells(dataset: str = "fashion-mnist") -> dict[str, set[str]]:
    """``{notebook stem: {cell_key, ...}}``: the cells whose count of numbers changed with the seed
    when ``make bench-spread`` measured them (their numbers cannot be compared place by place)."""
    content = paths.benchmark_result(spread_path(dataset).name, "bench-spread", "notebook_spread.py")
    return {stem: set(cells) for stem, cells in content.get("unstable", {}).items()}


def compare(fresh_path, reference_path, tolerances: dict[str, float], unstable=frozenset()) -> list[dict]:
    """Every number of the committed notebook (``reference_path``) against the fresh run's.

    One dict per number: key, the cell's first source line, reference, fresh, tolerance (the
    measured one, at least a unit of the last digit printed) and ``ok``. A number with no measured
    tolerance fails (the notebook changed since make bench-spread), and so does a cell that shows
    another count of numbers than the committed one. The cells in ``unstable`` (``unstable_cells``)
    are left out: their count of numbers moves with the seed, so their places do not match (the
    numbers such a sentence repeats are compared where a table shows them)."""
    reference, fresh = notebook_tokens(reference_path), notebook_tokens(fresh_path)
    names = cell_names(reference_path)
    checks = []

    def one(key, token, new):
        measured = tolerances.get(key)
        tolerance = max(measured, last_digit(token)) if measured is not None and token is not None else None
        ok = (token is not None and new is not None and tolerance is not None and math.isfinite(parse(new))
              and abs(parse(new) - parse(token)) <= tolerance)
        checks.append({"key": key, "cell": names.get(key.split()[0], "a cell the committed notebook lacks"),
                       "reference": parse(token) if token is not None else None,
                       "fresh": parse(new) if new is not None else None, "tolerance": tolerance, "ok": bool(ok)})

    for key, token in reference.items():
        if key.split()[0] not in unstable:
            one(key, token, fresh.get(key))
    for key in fresh.keys() - reference.keys():
        if key.split()[0] not in unstable:
            one(key, None, fresh[key])
    return checks
