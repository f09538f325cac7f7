"""The CPU kernels of the reference runs, which the exact notebook check needs.

On an x86-64 CPU with AVX2 the reference runs (``make report``) and their check (``make test``)
run with these variables, each only where it is unset:

    ATEN_CPU_CAPABILITY=avx2   PyTorch's own kernels (ATen) use their AVX2 code (not on Intel CPUs)
    ONEDNN_MAX_CPU_ISA=AVX2    oneDNN (convolutions) likewise
    MKL_CBWR=AVX2              MKL's matrix products take their AVX2 branch, reproducibly

With them the same kind of CPU computes the same floats, digit for digit, which the exact tier of
the check compares. Which kernels are faster depends on the CPU, so by its maker:

* ``LEFT_TO_PYTORCH``: ATen's choice is left to PyTorch on Intel CPUs (``benchmarks/train_speed.py``
  times both);
* ``AVX512_WHERE``: on an Intel CPU with AVX-512, MKL and oneDNN take their AVX-512 branches
  (``MKL_CBWR=AVX512``, ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``), still reproducibly. Measured on the
  reference Intel Xeon (2 threads, 2026-12-01): a training step of the best VAE 27 ms with AVX2
  against 18-21 ms, of the conv VAE 48-54 ms against 26-29 ms, the same weights in two runs each.

Nothing sets them when ``vaelab`` is imported. The Makefile reads them from this file, run as a
script (``python3 src/vaelab/workshop/numeric.py`` prints ``NAME=value`` lines, standard library
only) and exports them for every notebook, test and command it runs, and ``make lab`` starts
Jupyter with them: a notebook run there computes what ``make report`` computed. Elsewhere
(arm64, Apple Silicon, a CPU without AVX2) nothing is set. Thread counts are the Makefile's own.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

DEFAULTS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}  # every variable it may set
LEFT_TO_PYTORCH = {"GenuineIntel": {"ATEN_CPU_CAPABILITY"}}  # by CPU maker: faster with PyTorch's own choice
AVX512 = {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_CBWR": "AVX512"}  # the AVX-512 branches of oneDNN and MKL
AVX512_WHERE = {"GenuineIntel"}  # by CPU maker: faster with them where the CPU has AVX-512
AVX512_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}  # what those branches need


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux, WSL); empty where there is none."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_vendor() -> str:
    """The CPU's maker as /proc/cpuinfo names it ("GenuineIntel", "AuthenticAMD"); "" where unknown."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    line = next((line for line in text.splitlines() if line.startswith("vendor_id")), "")
    return line.partition(":")[2].strip()


def defaults(vendor: str | None = None, flags: set[str] | None = None) -> dict:
    """The variables ``apply_defaults`` sets on an x86-64 CPU with AVX2 made by ``vendor``, with the
    feature ``flags`` (default: this CPU's)."""
    vendor = cpu_vendor() if vendor is None else vendor
    flags = cpu_flags() if flags is None else flags
    left = LEFT_TO_PYTORCH.get(vendor, set())
    chosen = {**DEFAULTS, **(AVX512 if vendor in AVX512_WHERE and AVX512_FLAGS <= flags else {})}
    return {key: value for key, value in chosen.items() if key not in left}


def is_x86_avx2() -> bool:
    """An x86-64 CPU whose AVX2 and FMA are known to be there (the reference platform's kind)."""
    return platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= cpu_flags()


def apply_defaults(environ=os.environ) -> dict:
    """Set the unset ``defaults()`` in ``environ`` on an x86-64 CPU with AVX2; return what was set.
    (PyTorch reads them at its first kernel call: set them before a process computes anything.)"""
    if not is_x86_avx2():
        return {}
    applied = {key: value for key, value in defaults().items() if key not in environ}
    environ.update(applied)
    return applied


if __name__ == "__main__":  # the Makefile's way in: NAME=value lines, for the variables not already set
    print("\n".join(f"{key}={value}" for key, value in apply_defaults(dict(os.environ)).items()))
