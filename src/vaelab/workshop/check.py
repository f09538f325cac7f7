"""The two tiers of the regression check that ``make test`` runs after the unit tests.

* **exact**, on the reference platform: the kind of CPU that made the committed outputs (recorded
  by ``make report`` in ``assets/reference_platform.json``), x86-64 with AVX2, the pinned torch, two
  threads, the model on the CPU. There nbval re-runs every notebook and compares every output with
  the committed one, digit for digit (the CPU kernels of ``vaelab.workshop.numeric``, which the
  Makefile sets, make that possible on one kind of CPU; two makers' CPUs round differently even so).
* **tolerance**, anywhere else (arm64 and Apple Silicon, another torch, a GPU): other kernels
  round differently from the very first step, so the exact outputs cannot be reproduced. The
  notebooks still run top to bottom, and the key numbers they write to ``metrics.json`` must agree
  with the committed ``assets/metrics.json`` within ``TOLERANCES``.

    python -m vaelab check tier                      # one line; exit 0 (exact) or 3 (tolerance)
    python -m vaelab check numbers build/check/assets/metrics.json

``VAELAB_CHECK=exact`` or ``VAELAB_CHECK=tolerance`` chooses a tier by hand.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

from vaelab.workshop import numeric, paths

# Absolute tolerances of the compared numbers (nats per image, or accuracies in [0, 1]): four times
# the largest standard deviation over training seeds of any row's number, rounded up, as
# benchmarks/seed_spread.py (make bench-spread) prints it; the README's table gives the measurement.
TOLERANCES = {
    "test_neg_elbo": 4.0, "test_recon": 3.5, "test_kl": 2.5, "iw_nll": 2.0,
    "probe_accuracy": 0.04, "knn_accuracy": 0.02, "classifier_accuracy": 0.025,
}
ROW_KEYS = ["test_neg_elbo", "test_recon", "test_kl", "iw_nll", "probe_accuracy", "knn_accuracy"]
DATASET_KEYS = ["classifier_accuracy"]


def pinned_torch(requirements: Path | None = None) -> str | None:
    """The torch version pinned in requirements.txt (None if there is none)."""
    path = requirements or paths.project_root() / "requirements.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    return next((line.split("==", 1)[1].strip() for line in lines if line.strip().startswith("torch==")), None)


RECORD = "reference_platform.json"
# How a machine gets the exact tier: its own outputs become the references (said in the tier's line).
HOW_TO_EXACT = (" on this machine, make its outputs the references: `make report`, under make's settings, rewrites the "
                "notebooks, assets/ and the CPU record; keep those commits to yourself or your course's fork")


def cpu_identity() -> dict:
    """What decides the floats besides the software: the CPU's vendor, family, model and name."""
    info = {"machine": platform.machine()}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("vendor_id", "cpu family", "model", "model name"):
            info[key.strip().replace(" ", "_")] = value.strip()
    return info


def record_platform(folder=None) -> Path:
    """Write the CPU that made the notebooks' outputs to ``assets/reference_platform.json``."""
    import torch

    path = (paths.report_assets_dir() if folder is None else Path(folder)) / RECORD
    record = {"cpu": cpu_identity(), "torch": torch.__version__.split("+")[0], "threads": torch.get_num_threads()}
    paths.atomic_write_bytes(path, (json.dumps(record, indent=1) + "\n").encode())
    return path


def reference_cpu() -> dict | None:
    try:
        return json.loads((paths.report_assets_dir() / RECORD).read_text())["cpu"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def platform_tier(environ=os.environ) -> tuple[str, str]:
    """("exact" or "tolerance", a one-line reason) for the notebooks' regression check here."""
    forced = environ.get("VAELAB_CHECK", "").strip().lower()
    if forced in ("exact", "tolerance"):
        return forced, f"chosen by VAELAB_CHECK={forced}"
    import torch

    from vaelab.workshop.device import DeviceError, pick_device

    reasons = []
    machine = platform.machine() or "an unknown CPU"
    if not numeric.is_x86_avx2():
        reasons.append(f"this CPU is {machine}{' without AVX2' if machine.lower() in ('x86_64', 'amd64') else ''}, "
                       f"and the committed outputs come from an x86-64 CPU with AVX2")
    reference = reference_cpu()
    other_cpu = reference != cpu_identity()  # only making the references here gives this machine the exact tier
    if reference is None:
        reasons.append(f"no record of the CPU that made the committed outputs (assets/{RECORD}; make report writes it)")
    elif reference != cpu_identity():
        reasons.append(f"this CPU ({cpu_identity().get('model_name', machine)}) is not the kind that made the committed "
                       f"outputs ({reference.get('model_name', reference.get('machine'))}, "
                       f"{reference.get('vendor_id', '?')} family {reference.get('cpu_family', '?')} "
                       f"model {reference.get('model', '?')})")
    try:
        device = pick_device("auto")
        if device.type != "cpu":
            reasons.append(f"the notebooks run on {device.type} (VAELAB_DEVICE), not on the CPU")
    except DeviceError as e:
        reasons.append(str(e))
    pinned = pinned_torch()
    if pinned and torch.__version__.split("+")[0] != pinned:
        reasons.append(f"torch is {torch.__version__}, not the pinned {pinned}")
    if environ.get("OMP_NUM_THREADS") != "2":
        reasons.append(f"OMP_NUM_THREADS is {environ.get('OMP_NUM_THREADS', 'unset')}, not 2 (make sets it)")
    expected = numeric.defaults()
    changed = [f"{k}={environ.get(k, 'unset')}" for k in numeric.DEFAULTS if environ.get(k) != expected.get(k)]
    if changed and not reasons:
        reasons.append(f"the CPU kernels differ from the reference ({', '.join(changed)})")
    if reasons:
        return "tolerance", "; ".join(reasons) + " -> the exact notebook check does not apply; the notebooks' " \
                            "key numbers are compared with assets/metrics.json within measured tolerances" + \
                            (f" (for the exact tier{HOW_TO_EXACT})" if other_cpu else "")
    return "exact", (f"this CPU kind made the committed outputs (x86-64 with AVX2, torch {torch.__version__}, 2 threads, "
                     f"cpu): nbval compares every notebook output with the committed one")


class CheckError(ValueError):
    """A metrics file that cannot be read (the message is one line)."""


def read_metrics(path) -> dict:
    """A metrics.json as notebook 07 writes it: ``{"rows": [...], "datasets": {...}}``."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckError(f"{path}: missing (did notebook 07 run?)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckError(f"{path}: not readable JSON ({type(e).__name__}: {e})") from None
    if not isinstance(content, dict) or not isinstance(content.get("rows"), list) \
            or not isinstance(content.get("datasets"), dict):
        raise CheckError(f"{path}: not a metrics file of notebook 07 (no 'rows' list and 'datasets' table)")
    if not all(isinstance(r, dict) and isinstance(r.get("dataset"), str) and isinstance(r.get("name"), str)
               for r in content["rows"]) or not all(isinstance(v, dict) for v in content["datasets"].values()):
        raise CheckError(f"{path}: not a metrics file of notebook 07 (a row without a dataset and a name)")
    return content


def compare(fresh: dict, reference: dict, keys=None, rows=None) -> list[dict]:
    """Every key number of ``reference`` against ``fresh``, for the datasets ``fresh`` has.

    Returns one dict per number: dataset, row, key, reference, fresh, tolerance and ``ok``
    (|fresh - reference| <= tolerance; a number missing or not finite in ``fresh`` fails).
    ``keys`` limits the row numbers compared (default ``ROW_KEYS``), ``rows`` the rows (by name;
    default all, and then the dataset's own numbers too)."""
    keys = ROW_KEYS if keys is None else keys
    checks = []

    def one(dataset, row, key, ref, new):
        ok = isinstance(new, (int, float)) and math.isfinite(new) and abs(new - ref) <= TOLERANCES[key]
        checks.append({"dataset": dataset, "row": row, "key": key, "reference": ref, "fresh": new,
                       "tolerance": TOLERANCES[key], "ok": bool(ok)})

    for dataset, extra in fresh["datasets"].items():
        fresh_rows = {r.get("name"): r for r in fresh["rows"] if r.get("dataset") == dataset}
        for ref_row in (r for r in reference["rows"] if r["dataset"] == dataset and (rows is None or r["name"] in rows)):
            new_row = fresh_rows.get(ref_row["name"], {})
            for key in keys:
                if ref_row.get(key) is not None:
                    one(dataset, ref_row["name"], key, ref_row[key], new_row.get(key))
        ref_extra = reference["datasets"].get(dataset, {})
        for key in DATASET_KEYS if rows is None else []:
            if ref_extra.get(key) is not None:
                one(dataset, "(dataset)", key, ref_extra[key], (extra or {}).get(key))
    return checks


def report(fresh_path, reference_path=None, out=print) -> bool:
    """Compare two metrics files, print one line per number and a closing count; True if all agree."""
    reference_path = reference_path or paths.report_assets_dir() / "metrics.json"
    fresh, reference = read_metrics(fresh_path), read_metrics(reference_path)
    checks = compare(fresh, reference)
    if not checks:
        raise CheckError(f"{fresh_path}: holds no dataset that {reference_path} has numbers for")
    for c in checks:
        new = f"{c['fresh']:.4f}" if isinstance(c["fresh"], (int, float)) else "missing"
        diff = f"{c['fresh'] - c['reference']:+.4f}" if isinstance(c["fresh"], (int, float)) else ""
        out(f"{'ok  ' if c['ok'] else 'FAIL'} {c['dataset']:13s} {c['row']:14s} {c['key']:19s} "
            f"committed {c['reference']:10.4f}  fresh {new:>10s} {diff:>9s}  (tolerance {c['tolerance']:g})")
    failed = sum(not c["ok"] for c in checks)
    out(f"tolerance check: {len(checks) - failed} passed, {failed} failed")
    return failed == 0
