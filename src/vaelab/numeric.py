"""The CPU kernels the course runs on, chosen when ``vaelab`` is imported.

On an x86-64 CPU with AVX2, ``import vaelab`` sets these variables, each only if it is unset:

    ATEN_CPU_CAPABILITY=avx2   PyTorch's own kernels (ATen) use their AVX2 code (not on Intel CPUs)
    ONEDNN_MAX_CPU_ISA=AVX2    oneDNN (convolutions) likewise
    MKL_CBWR=AVX2              MKL's matrix products take their AVX2 branch, reproducibly

Why: speed, and the same floats wherever the same kind of CPU runs the course (``make``, a
notebook opened in Jupyter and ``python -m vaelab train`` all get the same kernels, which the
exact notebook check of ``make test`` relies on). Which ATen kernels are faster depends on the
CPU's maker, so ATen's choice is left to PyTorch on Intel CPUs:

* on an AMD EPYC with AVX-512 (Zen 4), ATen's AVX-512 log-sigmoid, the kernel inside
  BCE-with-logits, took 483 us per 128 x 784 batch against 143 us with AVX2, and the seed model
  trained at 2.54 s an epoch against 2.24 s held to AVX2;
* on an Intel Xeon with AVX-512 (2026-11-23), BCE-with-logits forward and backward took 196 us
  with AVX-512 against 247 us with AVX2, and the command line trained the seed model at
  1.31-1.63 s an epoch with ATen free against 1.85 s held to AVX2 (1.96x the seeds' loop instead
  of about 2.8x);
* on a CPU without AVX-512 (an AMD EPYC Zen 3, say) AVX2 is what ATen picks anyway.

PyTorch reads all three lazily, at its first kernel call, so they take effect even when ``torch``
was imported before ``vaelab`` (not when it already computed something: then ``apply_defaults``
warns). Elsewhere (arm64, Apple Silicon, a CPU without AVX2) nothing is set.
``VAELAB_NUMERIC_DEFAULTS=0`` turns this off; a value you set yourself is never changed. Thread
counts are left alone: the Makefile pins them (two) for the reference runs only.
"""

from __future__ import annotations

import os
import platform
import sys
import warnings
from pathlib import Path

DEFAULTS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}  # every variable it may set
LEFT_TO_PYTORCH = {"GenuineIntel": {"ATEN_CPU_CAPABILITY"}}  # by CPU maker: faster with PyTorch's own choice
SWITCH = "VAELAB_NUMERIC_DEFAULTS"


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


def defaults(vendor: str | None = None) -> dict:
    """The variables ``apply_defaults`` sets on an x86-64 CPU with AVX2 made by ``vendor`` (default: this one)."""
    left = LEFT_TO_PYTORCH.get(cpu_vendor() if vendor is None else vendor, set())
    return {key: value for key, value in DEFAULTS.items() if key not in left}


def is_x86_avx2() -> bool:
    """An x86-64 CPU whose AVX2 and FMA are known to be there (the reference platform's kind)."""
    return platform.machine().lower() in ("x86_64", "amd64") and {"avx2", "fma"} <= cpu_flags()


def apply_defaults(environ=os.environ) -> dict:
    """Set the unset ``defaults()`` on an x86-64 CPU with AVX2; return what was set."""
    if environ.get(SWITCH, "1") == "0" or not is_x86_avx2():
        return {}
    applied = {key: value for key, value in defaults().items() if key not in environ}
    environ.update(applied)
    torch = sys.modules.get("torch")
    if applied.get("ATEN_CPU_CAPABILITY") and torch is not None and hasattr(torch, "backends"):
        capability = torch.backends.cpu.get_cpu_capability()
        if capability != "AVX2":
            warnings.warn(f"vaelab: PyTorch already chose its {capability} kernels before vaelab was imported; "
                          f"import vaelab first (or set ATEN_CPU_CAPABILITY=avx2) to run as the course does",
                          stacklevel=3)
    return applied
