"""Where the work runs: choosing a device, and saving and restoring its random state.

    device = pick_device()          # VAELAB_DEVICE if set, else cuda, then mps, then cpu
    model = model.to(device)

The course's rule: a function that takes a model moves its inputs to the model's device
(``models.device_of``) and returns data on the CPU, so a notebook never has to know where the
model lives. Apple's MPS has no float64; sums that need float64 are moved to the CPU first.

``VAELAB_DEVICE`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) overrides ``"auto"`` everywhere;
``make test`` and ``make report`` set it to ``cpu``, so the reference run and its check never
depend on the hardware present.
"""

from __future__ import annotations

import os

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
