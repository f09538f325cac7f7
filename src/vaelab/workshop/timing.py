"""How long each notebook takes, measured by ``make report`` and written into the notebooks and
the README by the build, so that a student knows the time before spending it.

    python -m vaelab.workshop.timing run notebooks/02_vae.ipynb                 # in place, Fashion-MNIST
    python -m vaelab.workshop.timing run notebooks/02_vae.ipynb --output build/notebooks/02_vae-mnist.ipynb \\
        -p dataset mnist                                                          # papermill's parameters
    python -m vaelab.workshop.timing write      # the times into the notebooks and the README

``run`` executes a notebook as ``jupyter nbconvert --execute --inplace`` with ``record_timing=False``
does (the same outputs, no timing metadata, execution counts 1..n; ``-p`` injects parameters as
papermill does), times every code cell, and logs every call of ``vaelab.workshop.runs.train`` in
the kernel: a hidden cell, run before the first cell without entering the kernel's history and not
saved, wraps the function when its module is imported (no earlier, so no import moves to another
cell). For each call the log holds the run folder, when it started and ended, the epochs of its
``history.json`` that this call trained (absent from the file before the call) and the training
seconds recorded for them or for the epochs it loaded from the cache (``wall_seconds`` per epoch).
A hidden cell after the last one prints the log. A failing cell fails the command (exit 1, the
error shown, no times recorded) and the executed notebook is still written, with the error in its
cell and the later cells as they were (nbconvert writes nothing then).

The times go into ``assets/notebook_times.json``, ``{"notebooks": {stem: {"fashion-mnist" | "mnist":
entry}}}`` (other notebooks' and datasets' entries are kept). An entry holds the date, the CPU's
model, the threads (OMP_NUM_THREADS), ``wall_s`` (kernel start to the last cell's end), ``trained_s``,
``loaded_s``, ``cold_s``, ``cached_s``, ``cells`` (per code cell: ``index`` among the notebook's own
code cells, null for papermill's injected one; a hash of its ``source``; ``seconds``; ``trained_s``
and ``loaded_s`` of the calls made in it) and ``runs`` (per call: folder, cell, seconds, whether
it trained, epochs, seconds trained, recorded and counted as loaded). Both numbers come from
measured quantities, whether the run found trained runs or not, for a notebook and for a cell alike:

* ``cold_s``, from scratch (no trained runs in ``runs/``): the wall time of this run plus the
  training seconds recorded for the runs it loaded from the cache (a run loaded twice, or loaded
  after this run trained it, counts once: from scratch it is trained once);
* ``cached_s``, with every run cached: the wall time less the training seconds this run spent.

"From scratch" is per notebook, as a student opening it on a fresh clone meets it: the runs it
shares with earlier notebooks count as its own. Time outside ``train``'s epochs (loading a run,
the test metrics of a freshly trained one) stays in both numbers; so does any other cache
(the Fréchet distance's classifier, ``workshop/classifier.py``), which is not logged.

``write`` puts these numbers in three places, each between markers that it rewrites and adds if
missing: a sentence after each notebook's title line (``<!-- time -->``); a bold line in the
markdown cell above any code cell that takes over a minute from scratch on Fashion-MNIST (``<!--
cell-time -->``; a markdown cell holding only that line is inserted where the cell above is code,
and a cell whose source changed since it was timed keeps the line it has); and a table in
the README after its table of notebooks (``<!-- notebook-times -->``). Only markdown changes: the
code cells, their outputs and execution counts (what nbval compares) stay as ``run`` left them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import nbformat

TIMES = Path("assets") / "notebook_times.json"  # under the project root
LABELS = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}  # the datasets a notebook is timed on, as the README names them
DEFAULT_LABEL = "fashion-mnist"  # a notebook run without parameters: what the committed outputs show
TRAIN = "vaelab.workshop.runs:train"  # the function whose calls train or load the runs
CELL_TIMEOUT_S = 1800  # the Makefile's nbconvert timeout, per cell
SLOW_CELL_S = 60  # a code cell over this from scratch says so in the markdown cell above it
LOG_MARK = "vaelab-timing-log:"


class TimingError(Exception):
    """Bad input (a notebook, a times file, the README): the message is one line naming the file."""


# --- In the kernel: the hidden cells -----------------------------------------------------------------

# Wraps __MODULE__.__FUNCTION__ now if the module is imported, else when it is (a one-shot import hook), so
# that importing it (torch, warnings on stderr) still happens in the notebook's own cell. Every name
# it uses lives inside the function, which deletes itself: the notebook's namespace is untouched.
KERNEL_SETUP = '''
def _vaelab_timing_setup(module_name, function_name):
    import functools, importlib.abc, json, sys, time
    from pathlib import Path

    log = []

    def history(folder):
        try:
            rows = json.loads((Path(folder) / "history.json").read_text())
        except (OSError, TypeError, ValueError):
            return []
        return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []

    def seconds(rows):
        return sum(float(row.get("wall_seconds", row.get("seconds", 0.0))) for row in rows)

    def wrap(module):
        original = getattr(module, function_name)
        if hasattr(original, "__vaelab_timing_log__"):
            return
        depth = [0]

        @functools.wraps(original)
        def logged(*args, **kwargs):
            if depth[0]:  # a call from inside a logged call is part of it
                return original(*args, **kwargs)
            folder, before, result = None, [], None
            try:
                folder = kwargs.get("folder", args[1] if len(args) > 1 else None)
                if folder is None:
                    folder = module.run_dir(kwargs["cfg"] if "cfg" in kwargs else args[0])
                before = history(folder)
            except Exception:  # the call itself will say what is wrong with its arguments
                pass
            start = time.time()
            depth[0] += 1
            try:
                result = original(*args, **kwargs)
                return result
            finally:
                depth[0] -= 1
                end = time.time()
                try:  # the log never changes what the call returns or raises
                    folder = getattr(result, "folder", folder)
                    after = history(folder) if folder is not None else []
                    trained = [row for row in after if row not in before]
                    log.append({"folder": None if folder is None else str(folder), "start": start, "end": end,
                                "epochs": len(after), "epochs_trained": len(trained),
                                "trained_s": seconds(trained), "recorded_s": seconds(after)})
                except Exception as e:
                    log.append({"folder": None, "start": start, "end": end, "epochs": 0, "epochs_trained": 0,
                                "trained_s": 0.0, "recorded_s": 0.0, "error": repr(e)})

        logged.__vaelab_timing_log__ = log
        setattr(module, function_name, logged)

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != module_name:
                return None
            for finder in sys.meta_path:
                spec = None if finder is self else getattr(finder, "find_spec", lambda *a: None)(name, path, target)
                if spec is not None and spec.loader is not None:
                    exec_module = spec.loader.exec_module

                    def exec_and_wrap(module):
                        exec_module(module)
                        wrap(module)
                        if self in sys.meta_path:  # wrapped: the hook has done its work
                            sys.meta_path.remove(self)

                    spec.loader.exec_module = exec_and_wrap
                    return spec
            return None

    if module_name in sys.modules:
        wrap(sys.modules[module_name])
    else:
        sys.meta_path.insert(0, Hook())


_vaelab_timing_setup(__MODULE__, __FUNCTION__)
del _vaelab_timing_setup
'''

KERNEL_REPORT = '''
print(__MARK__ + __import__("json").dumps(getattr(getattr(__import__("sys").modules.get(__MODULE__), __FUNCTION__, None),
                                              "__vaelab_timing_log__", [])))
'''


def _kernel_code(template: str, wrap: str) -> str:
    """A hidden cell's code for the function ``wrap`` ("module:function")."""
    module, function = wrap.split(":")
    return (template.replace("__MODULE__", repr(module)).replace("__FUNCTION__", repr(function))
            .replace("__MARK__", repr(LOG_MARK)))


# --- Running a notebook --------------------------------------------------------------------------------

@dataclass
class CellTime:
    position: int  # in nb.cells
    started: float  # time.time(), to match the kernel's log
    seconds: float  # time.perf_counter() around the cell


@dataclass
class Execution:
    wall_s: float = 0.0
    cells: list[CellTime] = field(default_factory=list)
    calls: list[dict] = field(default_factory=list)
    error: Exception | None = None


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """The notebook at ``path`` (nbformat 4), or TimingError naming it."""
    try:
        return nbformat.reads(Path(path).read_text(encoding="utf-8"), as_version=4)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise TimingError(f"{path}: not a readable notebook ({type(e).__name__}: {_first_line(e)})") from None


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The file nbconvert writes for ``nb``: nbformat's JSON and a final newline."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def kernel_name(nb: nbformat.NotebookNode) -> str:
    return nb.metadata.get("kernelspec", {}).get("name") or "python3"


def inject_parameters(nb: nbformat.NotebookNode, parameters: dict) -> nbformat.NotebookNode:
    """``nb`` with papermill's injected-parameters cell after its ``parameters`` cell (papermill's own code)."""
    from papermill.parameterize import parameterize_notebook

    language = nb.metadata.get("kernelspec", {}).get("language") or nb.metadata.get("language_info", {}).get("name")
    nb.metadata.setdefault("papermill", {})  # where papermill notes the parameters
    untagged = [cell for cell in nb.cells if "tags" not in cell.metadata]
    for cell in untagged:  # papermill reads every cell's tags (its own reader adds them)
        cell.metadata["tags"] = []
    nb = parameterize_notebook(nb, parameters, kernel_name=kernel_name(nb), language=language or "python")
    for cell in untagged:
        del cell.metadata["tags"]
    return nb


def parse_parameter(value: str):
    """A ``-p`` value as papermill's command line reads it: True, False, None, an int, a float, or text."""
    from papermill.cli import _resolve_type

    return _resolve_type(value)


def _hidden_cell(client, nb, source: str):
    """Run ``source`` in the kernel outside its history; nbclient puts the cell at an index, so it
    goes at the end of ``nb`` for the call and is taken out again."""
    cell = nbformat.v4.new_code_cell(source)
    nb.cells.append(cell)
    try:
        client.execute_cell(cell, len(nb.cells) - 1, store_history=False)
    finally:
        nb.cells.pop()
    return cell


def _read_log(cell, wrap: str) -> list[dict]:
    text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    line = next((line for line in text.splitlines() if line.startswith(LOG_MARK)), None)
    if line is None:
        raise TimingError(f"the kernel printed no log of {wrap}: {text[-200:]!r}")
    return json.loads(line[len(LOG_MARK):])


def execute(nb: nbformat.NotebookNode, folder: Path, wrap: str = TRAIN) -> Execution:
    """Run every cell of ``nb`` in a fresh kernel started in ``folder``, as nbconvert's
    ExecutePreprocessor does (``record_timing=False``), timing each code cell and logging the calls
    of ``wrap`` ("module:function"). A cell that fails stops the run; its error is in ``error``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name=kernel_name(nb), record_timing=False,
                            resources={"metadata": {"path": str(folder)}})
    result = Execution()
    start = time.perf_counter()
    with client.setup_kernel():
        info = client.wait_for_reply(client.kc.kernel_info())
        nb.metadata["language_info"] = info["content"]["language_info"]
        _hidden_cell(client, nb, _kernel_code(KERNEL_SETUP, wrap))
        try:
            for position, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                started, clock = time.time(), time.perf_counter()
                try:
                    client.execute_cell(cell, position, store_history=True)
                finally:
                    result.cells.append(CellTime(position, started, time.perf_counter() - clock))
        except (CellControlSignal, DeadKernelError) as e:  # a cell's error or timeout (CellControlSignal), a dead kernel
            result.error = e
        result.wall_s = time.perf_counter() - start
        if result.error is None:
            result.calls = _read_log(_hidden_cell(client, nb, _kernel_code(KERNEL_REPORT, wrap)), wrap)
    client.set_widgets_metadata()
    return result


def code_cells(nb: nbformat.NotebookNode) -> dict[int, int]:
    """{position in nb.cells: the cell's index among the notebook's own code cells}: the index
    ``write`` finds a cell by, the same with papermill's injected cell or markdown cells added."""
    index, found = 0, {}
    for position, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "injected-parameters" not in cell.metadata.get("tags", []):
            found[position] = index
            index += 1
    return found


def source_hash(cell) -> str:
    """A short hash of a code cell's source: ``write`` checks that a timed cell is still the one timed."""
    return hashlib.sha256(cell.source.encode()).hexdigest()[:12]


def cold_and_cached(seconds: float, trained_s: float, loaded_s: float) -> tuple[float, float]:
    """The time from scratch and with every run cached, from a measured time, the training seconds
    spent in it and the training seconds recorded for the runs it loaded (the module's docstring)."""
    return seconds + loaded_s, max(0.0, seconds - trained_s)


def _cell_of(call: dict, cells: list[CellTime]) -> CellTime | None:
    """The code cell running when ``call`` started."""
    return next((c for c in reversed(cells) if c.started <= call["start"]), None)


def measure(nb: nbformat.NotebookNode, execution: Execution, root: Path) -> dict:
    """The times file's entry for one run of a notebook (see the module's docstring)."""
    own = code_cells(nb)
    per_cell = {c.position: {"trained_s": 0.0, "loaded_s": 0.0} for c in execution.cells}
    runs, counted = [], set()
    for call in execution.calls:
        cell = _cell_of(call, execution.cells)
        folder = call["folder"]
        loaded_s = 0.0 if folder in counted else call["recorded_s"] - call["trained_s"]
        counted.add(folder)
        if cell is not None:
            per_cell[cell.position]["trained_s"] += call["trained_s"]
            per_cell[cell.position]["loaded_s"] += loaded_s
        runs.append({"folder": _shown(folder, root), "cell": None if cell is None else own.get(cell.position),
                     "seconds": _round(call["end"] - call["start"]), "trained": call["epochs_trained"] > 0,
                     "epochs": call["epochs"], "epochs_trained": call["epochs_trained"],
                     "trained_s": _round(call["trained_s"]), "recorded_s": _round(call["recorded_s"]),
                     "loaded_s": _round(loaded_s)})
    trained_s = sum(c["trained_s"] for c in per_cell.values())
    loaded_s = sum(c["loaded_s"] for c in per_cell.values())
    cold_s, cached_s = cold_and_cached(execution.wall_s, trained_s, loaded_s)
    return {
        "date": date.today().isoformat(), "cpu": cpu_model(), "threads": threads(),
        "wall_s": _round(execution.wall_s), "trained_s": _round(trained_s), "loaded_s": _round(loaded_s),
        "cold_s": _round(cold_s), "cached_s": _round(cached_s),
        "cells": [{"index": own.get(c.position), "source": source_hash(nb.cells[c.position]), "seconds": _round(c.seconds),
                   "trained_s": _round(per_cell[c.position]["trained_s"]), "loaded_s": _round(per_cell[c.position]["loaded_s"])}
                  for c in execution.cells],
        "runs": runs,
    }


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux, where platform.processor() is often empty)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def threads() -> int:
    """The threads the notebooks compute with: OMP_NUM_THREADS (the Makefile sets 2), else every core."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else (os.cpu_count() or 1)


def run(notebook, output=None, parameters: dict | None = None, label: str | None = None,
        times: Path | None = None, wrap: str = TRAIN) -> int:
    """Execute ``notebook`` (in place, or into ``output``), write it, and record its times under
    ``label`` in ``times``. Returns the exit status: 0, or 1 when a cell failed (nothing recorded)."""
    notebook = Path(notebook)
    root = project_root()
    times = Path(times) if times is not None else root / TIMES
    label = label or (parameters or {}).get("dataset", DEFAULT_LABEL)
    if not re.fullmatch(r"[\w.]+:\w+", wrap):
        raise TimingError(f"{notebook}: the function to log must be written module:function, not {wrap!r}")
    if label not in LABELS:
        raise TimingError(f"{notebook}: label must be one of {', '.join(LABELS)}, not {label!r}")
    read_times(times)  # a damaged times file stops the run before it starts, not after an hour
    nb = read_notebook(notebook)
    if parameters:
        nb = inject_parameters(nb, parameters)
    execution = execute(nb, notebook.resolve().parent, wrap)
    write_text(Path(output) if output else notebook, notebook_text(nb))
    if execution.error is not None:
        print(f"{notebook}: a cell failed; the executed notebook, with the error, is in {output or notebook}\n"
              f"{execution.error}", file=sys.stderr)
        return 1
    record(times, notebook.stem, label, measure(nb, execution, root))
    return 0


# --- The times file ---------------------------------------------------------------------------------------

ENTRY_KEYS = {"date": str, "cpu": str, "threads": int, "wall_s": (int, float), "cold_s": (int, float),
              "cached_s": (int, float), "cells": list}
CELL_KEYS = {"index": (int, type(None)), "source": str, "seconds": (int, float), "trained_s": (int, float),
             "loaded_s": (int, float)}


def read_times(path: Path) -> dict:
    """The times file (``{"notebooks": {stem: {label: entry}}}``; empty if there is none), checked:
    TimingError naming the file and what is wrong."""
    path = Path(path)
    if not path.exists():
        return {"notebooks": {}}
    try:
        times = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise TimingError(f"{path}: not readable JSON ({type(e).__name__}: {_first_line(e)}); "
                          f"delete it and run make report") from None
    problem = _times_problem(times)
    if problem:
        raise TimingError(f"{path}: not a notebook times file ({problem}); delete it and run make report")
    return times


def _times_problem(times) -> str | None:
    """What is wrong with the content of a times file, or None."""
    if not isinstance(times, dict) or not isinstance(times.get("notebooks"), dict):
        return 'no "notebooks" object'
    for stem, labels in times["notebooks"].items():
        if not isinstance(labels, dict):
            return f"{stem}: not an object"
        for label, entry in labels.items():
            wrong = _wrong_keys(entry, ENTRY_KEYS)
            for cell in entry["cells"] if wrong is None else []:
                wrong = wrong or _wrong_keys(cell, CELL_KEYS)
            if wrong:
                return f"{stem}, {label}: {wrong}"
    return None


def _wrong_keys(obj, kinds: dict) -> str | None:
    """The first key of ``kinds`` that ``obj`` lacks or holds a value of another type in, or None."""
    if not isinstance(obj, dict):
        return "not an object"
    for key, kind in kinds.items():
        if not isinstance(obj.get(key), kind) or isinstance(obj.get(key), bool):
            return f"{key!r} missing or not a {getattr(kind, '__name__', 'number')}"
    return None


def record(path: Path, stem: str, label: str, entry: dict) -> None:
    """Put ``entry`` under ``stem`` and ``label`` in the times file, keeping every other entry."""
    notebooks = read_times(path)["notebooks"]
    notebooks.setdefault(stem, {})[label] = entry
    times = {"about": "Written by make report (python -m vaelab.workshop.timing run); see that module's docstring.",
             "notebooks": dict(sorted(notebooks.items()))}
    write_text(path, json.dumps(times, indent=1, ensure_ascii=False) + "\n")


# --- Writing the times into the notebooks and the README ---------------------------------------------------

HEADER = ("<!-- time -->", "<!-- /time -->")
CELL = ("<!-- cell-time -->", "<!-- /cell-time -->")
README = ("<!-- notebook-times -->", "<!-- /notebook-times -->")
TITLE = re.compile(r"^# \d+ · .+$", re.MULTILINE)
NOTEBOOK_ROW = re.compile(r"^\| \[`\d\d_\w+`\]\(notebooks/")  # a row of the README's table of notebooks


def duration(seconds: float) -> str:
    """A time as a reader wants it: seconds under 90 s (to 5 s from 10 s up), else minutes."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 10:
        return f"{round(seconds)} s"
    if seconds < 90:
        return f"{5 * round(seconds / 5)} s"
    return f"{round(seconds / 60)} min"


def _block(markers: tuple[str, str], text: str) -> str:
    """``text`` between the markers, each on a line of its own: a line that opens with an HTML comment
    is raw HTML to Markdown (CommonMark, Jupyter), so ``<!-- a -->**b**`` would show its asterisks."""
    return f"{markers[0]}\n{text}\n{markers[1]}"


def _block_pattern(markers: tuple[str, str]) -> re.Pattern:
    return re.compile(re.escape(markers[0]) + r".*?" + re.escape(markers[1]), re.DOTALL)


def _replace(pattern: re.Pattern, text: str, block: str) -> str:
    """``text`` with its first match of ``pattern`` replaced by ``block`` (taken literally)."""
    match = pattern.search(text)
    return text[:match.start()] + block + text[match.end():]


def about(seconds: float) -> str:
    """``duration`` with "about" in front, but "under 1 s" as it is."""
    return duration(seconds) if seconds < 1 else f"about {duration(seconds)}"


def three_times(in_order_s: float, cached_s: float, cold_s: float) -> str:
    """The three times of a notebook or a cell, in words, each said once where two agree."""
    if duration(cold_s) == duration(cached_s):
        return f"{about(cold_s)} (it trains nothing)"
    if duration(in_order_s) == duration(cached_s):
        return (f"{about(cached_s)} in the course's order or with `runs/` holding the models it uses, "
                f"{about(cold_s)} on a fresh machine, where it trains them all")
    if duration(in_order_s) == duration(cold_s):
        return (f"{about(cold_s)} in the course's order or on a fresh machine (it trains the models it uses), "
                f"{about(cached_s)} with `runs/` holding them")
    return (f"{about(in_order_s)} in the course's order (it trains the models no earlier notebook trained), "
            f"{about(cached_s)} with `runs/` holding every model it uses, {about(cold_s)} on a fresh machine, where it "
            f"trains them all")


def header_sentence(entries: dict, in_order: dict) -> str:
    """The sentence after a notebook's title, from its entries ``{label: entry}`` (Fashion-MNIST's
    first) and its times in the course's order ``{label: seconds}`` (``course_order``)."""
    main = entries[DEFAULT_LABEL]
    text = (f"**Time** on the reference CPU ({main['threads']} threads), Fashion-MNIST: "
            + three_times(in_order[DEFAULT_LABEL], main["cached_s"], main["cold_s"]))
    other = entries.get("mnist")
    if other is not None:
        times = [duration(in_order["mnist"]), duration(other["cached_s"]), duration(other["cold_s"])]
        text += f"; MNIST: {times[0]}" if len(set(times)) == 1 else f"; MNIST (in order / cached / fresh): {' / '.join(times)}"
    trained = main["cold_s"] != main["cached_s"]
    return text + (f". Measured by `make report` on {_dates([main, *([other] if other else [])])}"
                   + ("; a model's training time as recorded when it was trained." if trained else "."))


def cell_sentence(cold_s: float, cached_s: float, in_order_s: float | None = None) -> str:
    in_order_s = cold_s if in_order_s is None else in_order_s
    return f"**On the reference CPU this cell takes {three_times(in_order_s, cached_s, cold_s)}.**"


def course_order(times: dict, stems: list[str]) -> dict:
    """``{stem: {label: {"notebook": seconds, "cells": {index: seconds}}}}``: how long each notebook
    and each code cell takes when the notebooks run in their order, so that ``runs/`` holds what
    an earlier notebook trained: the time with every run cached, plus the recorded training
    seconds of each run in the first notebook and cell that use it."""
    out: dict = {}
    for label in LABELS:
        seen: set = set()
        for stem in stems:
            entry = times["notebooks"].get(stem, {}).get(label)
            if entry is None:
                continue
            cells = {c["index"]: cold_and_cached(c["seconds"], c["trained_s"], c["loaded_s"])[1]
                     for c in entry["cells"] if c["index"] is not None}
            total = entry["cached_s"]
            for run in entry["runs"]:
                if run["folder"] in seen:
                    continue
                seen.add(run["folder"])
                total += run["recorded_s"]
                if run["cell"] in cells:
                    cells[run["cell"]] += run["recorded_s"]
            out.setdefault(stem, {})[label] = {"notebook": total, "cells": cells}
    return out


def _dates(entries: list[dict]) -> str:
    days = sorted({entry["date"] for entry in entries})
    return days[0] if len(days) == 1 else f"{days[0]} to {days[-1]}"


def set_header(nb: nbformat.NotebookNode, sentence: str, path: Path) -> None:
    """Put ``sentence`` between the time markers of the first markdown cell, after its title line."""
    first = next((cell for cell in nb.cells if cell.cell_type == "markdown"), None)
    title = TITLE.search(first.source) if first is not None else None
    if title is None:
        raise TimingError(f"{path}: no title line '# NN · Title' in its first markdown cell")
    block, pattern = _block(HEADER, sentence), _block_pattern(HEADER)
    if pattern.search(first.source):
        first.source = _replace(pattern, first.source, block)
    else:
        first.source = first.source[:title.end()] + "\n\n" + block + first.source[title.end():]


def slow_cells(entry: dict, nb: nbformat.NotebookNode, path: Path,
               in_order: dict | None = None) -> tuple[dict[int, str], set[int]]:
    """({code cell index: its sentence} for the cells over SLOW_CELL_S from scratch, the indices of
    timed cells whose source changed since: their lines are left as they are)."""
    cells = {index: nb.cells[position] for position, index in code_cells(nb).items()}
    slow, changed = {}, set()
    for timed in entry["cells"]:
        index = timed["index"]
        if index is None:
            continue
        if index not in cells or source_hash(cells[index]) != timed["source"]:
            changed.add(index)
            continue
        cold_s, cached_s = cold_and_cached(timed["seconds"], timed["trained_s"], timed["loaded_s"])
        if cold_s > SLOW_CELL_S:
            slow[index] = cell_sentence(cold_s, cached_s, (in_order or {}).get(index))
    if changed:
        print(f"note: {path}: code cells {', '.join(str(i + 1) for i in sorted(changed))} changed since make report "
              f"timed them; the lines above them are left as they are", file=sys.stderr)
    return slow, changed


def set_cell_times(nb: nbformat.NotebookNode, slow: dict[int, str], changed: set[int] = frozenset()) -> None:
    """The cell-time line in the markdown cell above each code cell of ``slow`` (a new markdown cell
    where the cell above is code), and in no other cell (but those above ``changed`` cells)."""
    pattern = _block_pattern(CELL)
    index_of = code_cells(nb)
    kept = {position - 1 for position, index in index_of.items() if index in changed}
    wanted = {position - 1: slow[index] for position, index in index_of.items() if index in slow}
    for position in range(len(nb.cells) - 1, -2, -1):  # from the end: inserting or deleting moves only later cells
        cell = nb.cells[position] if position >= 0 else None
        sentence = wanted.get(position)
        if cell is None or cell.cell_type != "markdown":
            if sentence:
                nb.cells.insert(position + 1, _time_cell(sentence, nb.cells[position + 1]))
        elif position in kept:
            continue
        elif sentence and pattern.search(cell.source):
            cell.source = _replace(pattern, cell.source, _block(CELL, sentence))
        elif sentence:
            cell.source = cell.source.rstrip("\n") + ("\n\n" if cell.source.strip() else "") + _block(CELL, sentence)
        elif pattern.search(cell.source):
            cell.source = re.sub(r"\n*" + pattern.pattern, "", cell.source, flags=re.DOTALL)
            if not cell.source.strip():
                del nb.cells[position]


def _time_cell(sentence: str, code) -> nbformat.NotebookNode:
    """A markdown cell holding only the cell-time line of ``code``, with an id derived from the code cell's."""
    cell = nbformat.v4.new_markdown_cell(_block(CELL, sentence))
    if "id" in code:
        cell["id"] = f"{code['id']}-time"[:64]
    else:
        cell.pop("id", None)
    return cell


def readme_block(times: dict, stems: list[str]) -> str:
    """The README's table of times: one row per notebook; per dataset, the time in the course's
    order, with every model in ``runs/``, and on a fresh machine."""
    entries = [e for stem in stems for e in times["notebooks"].get(stem, {}).values()]
    cpus = " and ".join(sorted({f"{e['cpu']}, {e['threads']} threads" for e in entries})) or "not measured yet"
    in_order = course_order(times, stems)
    lines = [f"How long each notebook takes on the reference CPU ({cpus}): **in order**, run after the notebooks before "
             f"it (so `runs/` holds what they trained, and it trains the rest); **cached**, with `runs/` holding every "
             f"model it uses (a second run); **fresh**, on a machine with nothing in `runs/` (a new Colab machine "
             f"without the Drive folder), where it trains every model it uses. Measured by `make report`"
             + (f" on {_dates(entries)}" if entries else "") + "; a model's training time as recorded when it was trained.",
             "",
             "| notebook | " + " | ".join(f"{name}: in order | cached | fresh" for name in LABELS.values()) + " |",
             "| --- |" + " ---: | ---: | ---: |" * len(LABELS)]
    for stem in stems:
        cells = []
        for label in LABELS:
            entry = times["notebooks"].get(stem, {}).get(label)
            cells += ([duration(in_order[stem][label]["notebook"]), duration(entry["cached_s"]), duration(entry["cold_s"])]
                      if entry else ["—", "—", "—"])
        lines.append(f"| `{stem}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"  # a blank line ends the table before the closing marker


def set_readme(text: str, block: str, path: Path) -> str:
    """``text`` with ``block`` between the README markers, added after the table of notebooks if missing."""
    pattern = _block_pattern(README)
    if pattern.search(text):
        return _replace(pattern, text, _block(README, block))
    lines = text.split("\n")
    start = next((i for i, line in enumerate(lines) if NOTEBOOK_ROW.match(line)), None)
    if start is None:
        raise TimingError(f"{path}: no {README[0]} markers and no table of notebooks (rows like "
                          f"| [`01_name`](notebooks/01_name.ipynb) |) to put them after")
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    print(f"note: {path}: added the {README[0]} markers after the table of notebooks", file=sys.stderr)
    return "\n".join([*lines[:end], "", _block(README, block), *lines[end:]])


def write(root: Path | None = None, times: Path | None = None) -> list[Path]:
    """Write the measured times into every notebook of ``root/notebooks`` and ``root/README.md``;
    returns the files that changed."""
    root = Path(root) if root is not None else project_root()
    times_path = Path(times) if times is not None else root / TIMES
    measured = read_times(times_path)
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    in_order = course_order(measured, [p.stem for p in notebooks])
    changed = []
    for path in notebooks:
        entries = measured["notebooks"].get(path.stem, {})
        if DEFAULT_LABEL not in entries:
            print(f"note: {path}: not timed on {LABELS[DEFAULT_LABEL]} in {times_path}; left as it is", file=sys.stderr)
            continue
        nb = read_notebook(path)
        order = in_order[path.stem]
        set_header(nb, header_sentence(entries, {label: order[label]["notebook"] for label in order}), path)
        set_cell_times(nb, *slow_cells(entries[DEFAULT_LABEL], nb, path, order[DEFAULT_LABEL]["cells"]))
        if write_if_changed(path, notebook_text(nb)):
            changed.append(path)
    readme = root / "README.md"
    if not readme.is_file():
        raise TimingError(f"{readme}: no such file")
    text = readme.read_text(encoding="utf-8")
    if write_if_changed(readme, set_readme(text, readme_block(measured, [p.stem for p in notebooks]), readme)):
        changed.append(readme)
    return changed


# --- Files -----------------------------------------------------------------------------------------------------

def project_root() -> Path:
    """The folder above the working directory holding pyproject.toml and src/vaelab, as
    ``vaelab.data.project_root`` finds it (not imported: it would load torch into this process)."""
    here = Path.cwd().resolve()
    return next((f for f in (here, *here.parents) if (f / "pyproject.toml").is_file() and (f / "src" / "vaelab").is_dir()),
                here)


def write_text(path: Path, text: str) -> None:
    """Write ``path`` whole: a temporary file beside it, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_if_changed(path: Path, text: str) -> bool:
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    write_text(path, text)
    return True


def _shown(folder: str | None, root: Path) -> str | None:
    if folder is None:
        return None
    try:
        return Path(folder).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(folder)


def _round(seconds: float) -> float:
    return round(float(seconds), 2)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


# --- Command line ----------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vaelab.workshop.timing", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_ = commands.add_parser("run", help="execute a notebook and record its times")
    run_.add_argument("notebook", type=Path)
    run_.add_argument("--output", type=Path, help="write the executed notebook here (default: in place)")
    run_.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                      help="a parameter, injected as papermill does")
    run_.add_argument("--label", choices=list(LABELS), help="the dataset the times are for (default: -p dataset, "
                                                            f"else {DEFAULT_LABEL})")
    run_.add_argument("--times", type=Path, help=f"the times file (default: {TIMES} in the project root)")
    run_.add_argument("--wrap", default=TRAIN, help=f"the function whose calls train or load runs (default: {TRAIN})")
    write_ = commands.add_parser("write", help="write the recorded times into the notebooks and the README")
    write_.add_argument("--root", type=Path, help="the project root (default: found from the working directory)")
    write_.add_argument("--times", type=Path, help=f"the times file (default: {TIMES} in the root)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            parameters = {name: parse_parameter(value) for name, value in args.parameter}
            return run(args.notebook, args.output, parameters, args.label, args.times, args.wrap)
        for path in write(args.root, args.times):
            print(f"updated {path}")
        return 0
    except TimingError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
