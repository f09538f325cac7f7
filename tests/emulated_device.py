"""An emulated accelerator for tests on a machine without one.

Tensors "on" it are a tensor subclass that reports ``device(type='mps')``, computes on the CPU
underneath, and enforces what a real MPS device enforces and a CPU run never checks:

* an operation that mixes its tensors with CPU tensors (other than 0-dim scalars, copies and
  index tensors) raises "Expected all tensors to be on the same device", as CUDA and MPS do;
* float64 on it raises, as on MPS (which has no float64; ``FLOAT64 = True`` allows it, as CUDA does);
* ``.numpy()`` of one of its tensors raises, as for any GPU tensor.

    with emulated_mps():                   # vaelab sees an available "mps" device
        model = models.VAE().to("mps")     # parameters become emulated tensors
        evaluate.encode_mean(model, x)     # x on the CPU: the function must move it

``switch_on()`` keeps it on for the rest of a process without pytest (a notebook's kernel).
Autograd, optimisers and ``torch.save`` (which stores the CPU data) work through it, so the
training loop runs too. It checks where data goes, not what a real GPU computes.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

DEVICE = torch.device("meta")  # the label its tensors carry: a Linux build has no MPS device guard for autograd
REQUESTED = (torch.device("mps"), DEVICE)  # what code asks for when it means the emulated device
_ALLOWED_MIXED = {"copy_", "_to_copy", "index", "index_put_", "index_put", "_index_put_impl_", "lift_fresh",
                  "_has_compatible_shallow_copy_type", "set_", "detach", "alias"}


FLOAT64 = False  # MPS has no float64; True emulates a device that has it (CUDA), where only the mixing fails


class DeviceMismatch(RuntimeError):
    pass


class Emulated(torch.Tensor):
    """A CPU tensor ``elem`` that says it lives on the emulated device."""

    @staticmethod
    def __new__(cls, elem: torch.Tensor):
        if elem.dtype == torch.float64 and not FLOAT64:
            raise TypeError("Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support "
                            "float64 (emulated)")
        out = torch.Tensor._make_wrapper_subclass(cls, elem.shape, strides=elem.stride(), dtype=elem.dtype,
                                                  device=DEVICE, requires_grad=elem.requires_grad,
                                                  storage_offset=elem.storage_offset())
        out.elem = elem
        return out

    def __repr__(self):
        return f"Emulated({self.elem!r}, device='mps')"

    def __reduce_ex__(self, protocol):  # torch.save stores the data, as for a real device tensor moved to the CPU
        return self.elem.detach().__reduce_ex__(protocol)

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func.overloadpacket.__name__
        flat, _ = tree_flatten((args, kwargs))
        on_device = any(isinstance(t, Emulated) for t in flat)
        on_cpu = [t for t in flat if isinstance(t, torch.Tensor) and not isinstance(t, Emulated) and t.dim() > 0]
        if on_device and on_cpu and name not in _ALLOWED_MIXED:
            raise DeviceMismatch(f"Expected all tensors to be on the same device, but found at least two devices, "
                                 f"mps and cpu! ({func})")
        to_cpu = name == "_to_copy" and torch.device(kwargs.get("device") or DEVICE).type == "cpu"
        to_device = name == "_to_copy" and kwargs.get("device") is not None and torch.device(kwargs["device"]) in REQUESTED
        if to_device:
            kwargs = {**kwargs, "device": torch.device("cpu")}
        unwrapped = tree_map(lambda t: t.elem if isinstance(t, Emulated) else t, (args, kwargs))
        out = func(*unwrapped[0], **unwrapped[1])
        if to_cpu or name in ("_local_scalar_dense", "_has_compatible_shallow_copy_type", "is_same_size"):
            return out
        if not (on_device or to_device):
            return out
        if name.endswith("_") and isinstance(args[0], Emulated):  # in place: the same emulated tensor
            return args[0]
        return tree_map(lambda t: Emulated(t) if isinstance(t, torch.Tensor) else t, out)


def _device_of(args, kwargs):
    for value in (*args, *kwargs.values()):
        if isinstance(value, (str, torch.device)):
            try:
                return torch.device(value)
            except RuntimeError:
                continue
    return None


class _Mode(TorchFunctionMode):
    """Moves tensors onto the emulated device where real code would ask for "mps"."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name == "numpy" and args and isinstance(args[0], Emulated):
            raise TypeError("can't convert mps:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor "
                            "to host memory first (emulated)")
        target = _device_of(args[1:], kwargs) if name == "to" else kwargs.get("device")
        if target is not None and torch.device(target) in REQUESTED:
            if name == "to":
                tensor = args[0]
                dtype = next((a for a in (*args[1:], kwargs.get("dtype")) if isinstance(a, torch.dtype)), None)
                out = tensor.to(dtype) if dtype is not None else tensor
                if isinstance(out, Emulated):
                    return out
                with torch._C.DisableTorchFunctionSubclass():
                    return Emulated(out.detach().requires_grad_(tensor.requires_grad))
            kwargs = {**kwargs, "device": "cpu"}
            with torch._C.DisableTorchFunction():
                out = func(*args, **kwargs)
            return Emulated(out)
        return func(*args, **kwargs)


class _Factories(TorchDispatchMode):
    """Tensors that PyTorch creates on the emulated device inside C++ (autograd's zeros and
    scalars) are made on the CPU and wrapped, like those created from Python."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if kwargs.get("device") is not None and torch.device(kwargs["device"]) in REQUESTED \
                and func.overloadpacket.__name__ != "_to_copy":
            out = func(*args, **{**kwargs, "device": torch.device("cpu")})
            return tree_map(lambda t: Emulated(t) if isinstance(t, torch.Tensor) else t, out)
        return func(*args, **kwargs)


@contextmanager
def emulated_mps(monkeypatch):
    """Within the block vaelab sees an available MPS device, and "mps" tensors are emulated.
    ``monkeypatch`` is pytest's fixture, or anything with its ``setattr(target, name, value)``."""
    from vaelab import bounds
    from vaelab.workshop import device

    monkeypatch.setattr(device, "_mps_available", lambda: True)
    monkeypatch.setattr(device, "_device_module", lambda d: None)  # its random stream is the CPU's
    monkeypatch.setattr(bounds, "_random_module", lambda d: None)
    with _Mode(), _Factories():
        yield DEVICE


class _Setattr:
    """``setattr`` as pytest's monkeypatch offers it, never undone: for a process that keeps the
    emulation until it ends."""

    @staticmethod
    def setattr(target, name, value):
        setattr(target, name, value)


_switched_on = []  # the entered context: dropping it would close the generator, and the modes with it


def switch_on() -> torch.device:
    """Switch the emulation on for the rest of this process, without pytest: a notebook's kernel
    runs it before the notebook's first cell (tests/test_notebooks_on_device.py). Idempotent."""
    if not _switched_on:
        context = emulated_mps(_Setattr())
        context.__enter__()
        _switched_on.append(context)
    return DEVICE
