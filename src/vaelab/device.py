"""Where the work runs: choosing a device, and keeping every model's inputs on the model's device.

    device = pick_device()          # VAELAB_DEVICE if set, else cuda, then mps, then cpu
    model = model.to(device)
    model_device(model)             # the device of a model's parameters
    on_cpu(tensor)                  # what every function hands back: data on the CPU

The course's rule: a function that takes a model moves its inputs to ``model_device(model)`` and
returns data on the CPU, so a notebook never has to know where the model lives. Apple's MPS
has no float64; sums that need float64 are moved to the CPU first (``on_cpu(x).double()``).

``VAELAB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides ``"auto"`` everywhere;
``make test`` and ``make report`` set it to ``cpu``, so the reference run and its check never
depend on the hardware present.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

ENV = "VAELAB_DEVICE"


class DeviceError(ValueError):
    """A device that does not exist or is not available here (the message is one line)."""


def _mps_available() -> bool:
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def pick_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` (or ``VAELAB_DEVICE`` when set): cuda, then mps, then cpu. Otherwise the device
    named, checked: a GPU that is not there raises DeviceError with a one-line reason."""
    if isinstance(name, torch.device):
        name = str(name)
    label = f"device {name!r}"
    if name == "auto" and os.environ.get(ENV, "").strip():
        name = os.environ[ENV].strip()
        label = f"{ENV}={name}"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise DeviceError(f"{label}: unknown device; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{label}: no CUDA GPU is available here (torch {torch.__version__}); use auto or cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceError(f"{label}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    elif device.type == "mps":
        if not _mps_available():
            raise DeviceError(f"{label}: Apple's MPS is not available here; use auto or cpu")
    elif device.type != "cpu":
        raise DeviceError(f"{label}: the course runs on cpu, cuda or mps")
    return device


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer); cpu for a model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def on_cpu(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor on the CPU (detached), where every function of the course hands data back."""
    return tensor.detach().cpu()


def accumulator_dtype(device: torch.device) -> torch.dtype:
    """float64 for running sums, except on MPS, which has no float64 (float32 there)."""
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def _device_module(device: torch.device):
    return {"cuda": getattr(torch, "cuda", None), "mps": getattr(torch, "mps", None)}.get(torch.device(device).type)


def rng_state(device: torch.device) -> dict:
    """The random state that training draws from: the CPU's and, on a GPU, the device's."""
    state = {"cpu": torch.get_rng_state()}
    module = _device_module(device)
    if module is not None:
        state["device"] = module.get_rng_state()
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    """Restore ``rng_state(device)`` (a saved GPU state is ignored on another kind of device)."""
    torch.set_rng_state(state["cpu"].cpu())
    module = _device_module(device)
    if module is not None and "device" in state:
        module.set_rng_state(state["device"].cpu())


@contextmanager
def seeded(seed: int, device: torch.device = torch.device("cpu")):
    """Run a block with the CPU's and ``device``'s random streams seeded with ``seed``, and leave
    the caller's random state as it was afterwards."""
    device = torch.device(device)
    module = _device_module(device)
    saved = module.get_rng_state() if module is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            if module is not None:
                module.set_rng_state(saved)
