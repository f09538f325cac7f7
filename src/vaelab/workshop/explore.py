"""The decoders the report's explorer runs in the reader's browser (docs/explore.md).

Notebook 08 exports, for each dataset, two models into ``<assets>/explore/``:

* ``plane``: the 2-D VAE of notebook 05: its decoder, and the codes of 3,000 test images to draw
  as the latent plane (the reader points anywhere on it and sees what the decoder draws there);
* ``best``: the best VAE: its decoder, the KL of each latent dimension (the sliders are the
  dimensions with the most), the mean codes of two test images per class (to start from and to
  interpolate between), and its prior's mixture components (to sample from).

Files (all little-endian arrays, each at an offset that its manifest names):

    <dataset>.json              the manifest: classes, and per model its layers, arrays, size, error
    <dataset>-<model>.bin       one binary file per model: weights, codes, images
    check/<dataset>.json        codes and PyTorch's pixels for them: what the browser test compares
                                (not published with the site)

How weights are stored: biases and any weight matrix of at most ``LARGE`` entries in float16; a
larger matrix in int8, with one float16 scale per group of ``GROUP`` consecutive inputs of a row
(w ~ scale * q, q in -127..127), which halves its size again. The export checks the decoder
rebuilt from the files against PyTorch's on the test codes and on prior samples: the pixel
probabilities may differ by at most ``TOLERANCE`` (8 grey levels of 255 at the worst pixel), or it
fails, naming the model. Float16 alone would keep the difference to one grey level, but the best
VAE's decoder would take 2.7 MB per dataset, over the explorer's budget of about 5 MB in all.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vaelab import evaluate, latent
from vaelab.workshop.paths import atomic_write_bytes, shown

LARGE = 400_000  # weight matrices with more entries are stored in int8 (the best VAE's last two)
GROUP = 8  # inputs sharing one int8 scale (with 16, the MNIST best VAE's decoder went over TOLERANCE)
TOLERANCE = 0.03  # the largest allowed |p_browser - p_pytorch| of a pixel probability
ACTIVATIONS = {nn.ReLU: "relu", nn.SiLU: "silu"}


def mlp_layers(model) -> list[nn.Module]:
    """The model's decoder as a list of Linear, ReLU and SiLU modules (what the browser runs);
    ValueError, naming the model, for any other kind of decoder."""
    if isinstance(getattr(model, "decoder", None), nn.Sequential):
        layers = list(model.decoder)
    elif all(hasattr(model, name) for name in ("fc3", "fc4")):  # the classic VAE: fc4(relu(fc3(z)))
        layers = [model.fc3, nn.ReLU(), model.fc4]
    else:
        raise ValueError(f"{type(model).__name__}: the explorer runs MLP decoders only (Linear, ReLU, SiLU)")
    for layer in layers:
        if not isinstance(layer, (nn.Linear, *ACTIVATIONS)):
            raise ValueError(f"{type(model).__name__}: the explorer cannot run a {type(layer).__name__} layer "
                             "(MLP decoders only: Linear, ReLU, SiLU)")
    return layers


def quantise(weight: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """How a weight matrix is stored: ({"float16": array} or {"int8": q, "scale": s}) and the matrix
    those arrays stand for (what the browser computes with)."""
    w = weight.detach().cpu().float()
    if w.numel() <= LARGE:
        half = w.numpy().astype(np.float16)
        return {"float16": half}, torch.from_numpy(half.astype(np.float32))
    rows, cols = w.shape
    groups = math.ceil(cols / GROUP)
    padded = torch.nn.functional.pad(w, (0, groups * GROUP - cols)).view(rows, groups, GROUP)
    scale = (padded.abs().amax(dim=2) / 127).clamp_min(1e-12).numpy().astype(np.float16)
    scale32 = torch.from_numpy(scale.astype(np.float32)).unsqueeze(2)
    q = torch.round(padded / scale32).clamp(-127, 127)
    restored = (q * scale32).view(rows, groups * GROUP)[:, :cols]
    return {"int8": q.view(rows, -1)[:, :cols].numpy().astype(np.int8), "scale": scale}, restored


class Pack:
    """Arrays laid end to end in one binary file, each at an offset aligned to 4 bytes."""

    def __init__(self):
        self.chunks, self.size, self.arrays = [], 0, {}

    def add(self, name: str, array: np.ndarray) -> str:
        array = np.ascontiguousarray(array)
        dtype = array.dtype.newbyteorder("<") if array.dtype.itemsize > 1 else array.dtype
        payload = array.astype(dtype).tobytes()
        self.arrays[name] = {"dtype": array.dtype.name, "shape": list(array.shape), "offset": self.size}
        padding = -len(payload) % 4
        self.chunks.append(payload + b"\0" * padding)
        self.size += len(payload) + padding
        return name

    def bytes(self) -> bytes:
        return b"".join(self.chunks)


def _pack_decoder(model, pack: Pack) -> tuple[list, list]:
    """Store the decoder's layers in ``pack``: (layer descriptions, the same layers in PyTorch as stored)."""
    described, stored = [], []
    for i, layer in enumerate(mlp_layers(model)):
        if isinstance(layer, nn.Linear):
            arrays, weight = quantise(layer.weight)
            entry = {"op": "linear", "in": layer.in_features, "out": layer.out_features}
            if "int8" in arrays:
                entry.update(weight=pack.add(f"w{i}", arrays["int8"]), scale=pack.add(f"w{i}.scale", arrays["scale"]),
                             group=GROUP)
            else:
                entry.update(weight=pack.add(f"w{i}", arrays["float16"]))
            bias = layer.bias.detach().cpu().numpy().astype(np.float16)
            entry["bias"] = pack.add(f"b{i}", bias)
            copy = nn.Linear(layer.in_features, layer.out_features)
            copy.weight.data, copy.bias.data = weight, torch.from_numpy(bias.astype(np.float32))
            described.append(entry)
            stored.append(copy)
        else:
            described.append({"op": ACTIVATIONS[type(layer)]})
            stored.append(type(layer)())
    return described, stored


@torch.no_grad()
def pixels(model, codes: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities sigmoid(decode(z)) of the codes, computed by PyTorch in float32, on the CPU."""
    return latent.decode(model, codes.float())


@torch.no_grad()
def _error(model, stored: list, codes: torch.Tensor) -> dict:
    reference = pixels(model, codes)
    browser = torch.sigmoid(nn.Sequential(*stored)(codes.float()))
    difference = (browser - reference).abs()
    return {"max": round(float(difference.max()), 5), "mean": round(float(difference.mean()), 6),
            "grey_levels": int(((browser * 255).round() - (reference * 255).round()).abs().max()), "codes": len(codes)}


def _export_model(name: str, model, pack: Pack, error_codes: torch.Tensor) -> dict:
    """Store ``model``'s decoder (on the CPU, in eval mode: ``export`` puts it there) and measure its error."""
    layers, stored = _pack_decoder(model, pack)
    error = _error(model, stored, error_codes)
    if error["max"] > TOLERANCE:
        raise ValueError(f"{name}: the stored decoder's pixels differ from PyTorch's by up to {error['max']:.4f} "
                         f"(more than the tolerance {TOLERANCE}); store more layers in float16 (raise LARGE)")
    return {"latent_dim": model.latent_dim, "layers": layers, "output": "sigmoid", "error": error}


def _range(codes: torch.Tensor) -> list:
    """Each dimension's slider range: the central 99 % of the test codes, widened on each side by a
    quarter of its width."""
    low, high = latent.quantiles(codes, [0.005, 0.995]).unbind(1)  # the traversals' quantiles (notebook 05)
    pad = 0.25 * (high - low)
    return torch.stack([low - pad, high + pad], dim=1).tolist()


def gallery(labels: torch.Tensor, per_class: int = 2) -> torch.Tensor:
    """Indices of the first ``per_class`` test images of every class, class by class."""
    return torch.cat([torch.nonzero(labels == c).flatten()[:per_class] for c in torch.unique(labels)])


@torch.no_grad()
def export(dataset: str, plane, best, images: torch.Tensor, labels: torch.Tensor, class_names: list[str],
           folder: Path, points: int = 3000, sliders: int = 6, seed: int = 0) -> dict:
    """Write the explorer's files for ``dataset`` into ``folder`` (see the module's docstring) from
    the 2-D VAE ``plane``, the best VAE ``best`` and the test ``images`` (N, 784) in [0, 1] with
    their ``labels``; returns the manifest. Each file is written whole or not at all."""
    if plane.latent_dim != 2:
        raise ValueError(f"the plane model must have a 2-D latent, not {plane.latent_dim}")
    folder = Path(folder)
    generator = torch.Generator().manual_seed(seed)
    manifest = {"dataset": dataset, "classes": list(class_names), "tolerance": TOLERANCE, "models": {}}
    check = {"dataset": dataset, "tolerance": TOLERANCE, "models": {}}
    files = {}
    for name, model in (("plane", plane), ("best", best)):
        model = model.cpu().eval()
        pack = Pack()
        codes = evaluate.encode_mean(model, images)
        prior = model.sample_latent(500, generator)
        entry = _export_model(name, model, pack, torch.cat([codes[:2000], prior]))
        if name == "plane":
            subset = latent.stratified_subset(labels, points, seed=seed)
            entry["points"] = pack.add("points", codes[subset].numpy().astype(np.float32))
            entry["point_labels"] = pack.add("point_labels", labels[subset].numpy().astype(np.uint8))
            entry["extent"] = 4.0
        else:
            kl = evaluate.mean_kl_by_dimension(model, images, seed=seed)
            entry["kl"] = [round(float(v), 4) for v in kl]
            entry["sliders"] = [int(i) for i in torch.argsort(kl, descending=True)[:sliders]]
            entry["ranges"] = [[round(v, 3) for v in pair] for pair in _range(codes)]
            chosen = gallery(labels)
            entry["gallery_labels"] = [int(v) for v in labels[chosen]]
            entry["gallery"] = pack.add("gallery", (images[chosen] * 255).round().numpy().astype(np.uint8))
            entry["gallery_codes"] = pack.add("gallery_codes", codes[chosen].numpy().astype(np.float32))
            log_w, means, logvars = (t.detach().cpu().numpy().astype(np.float32) for t in model.prior_components())
            entry["prior"] = {"log_weights": pack.add("prior.log_weights", log_w),
                              "means": pack.add("prior.means", means), "logvars": pack.add("prior.logvars", logvars)}
        entry["file"] = f"{dataset}-{name}.bin"
        entry["bytes"] = pack.size
        entry["arrays"] = pack.arrays
        manifest["models"][name] = entry
        files[entry["file"]] = pack.bytes()
        probe = torch.cat([codes[:8], prior[:8]])
        check["models"][name] = {"codes": [[round(float(v), 6) for v in z] for z in probe],
                                 "pixels": [[round(float(v), 6) for v in p] for p in pixels(model, probe)]}
    for file, payload in files.items():
        atomic_write_bytes(folder / file, payload)
    atomic_write_bytes(folder / "check" / f"{dataset}.json", (json.dumps(check) + "\n").encode())
    atomic_write_bytes(folder / f"{dataset}.json", (json.dumps(manifest, indent=1) + "\n").encode())
    return manifest


def read_array(manifest_path: Path, model: str, name: str) -> np.ndarray:
    """One array of an exported model, read back from its binary file as the browser reads it."""
    manifest_path = Path(manifest_path)
    entry = json.loads(manifest_path.read_text())["models"][model]
    meta = entry["arrays"][name]
    payload = (manifest_path.parent / entry["file"]).read_bytes()
    dtype = np.dtype(meta["dtype"]).newbyteorder("<")
    count = int(np.prod(meta["shape"]))
    if meta["offset"] + count * dtype.itemsize > len(payload):
        raise ValueError(f"{shown(manifest_path.parent / entry['file'])}: shorter than its manifest says "
                         f"({len(payload)} bytes); export it again (notebook 08)")
    return np.frombuffer(payload, dtype=dtype, count=count, offset=meta["offset"]).reshape(meta["shape"])


def load_decoder(manifest_path: Path, model: str) -> nn.Sequential:
    """The decoder an export describes, rebuilt in PyTorch from its files (logits out): the
    browser's computation, for tests and for a look at what the page runs."""
    entry = json.loads(Path(manifest_path).read_text())["models"][model]
    layers = []
    for layer in entry["layers"]:
        if layer["op"] != "linear":
            layers.append({op: kind for kind, op in ACTIVATIONS.items()}[layer["op"]]())
            continue
        w = torch.from_numpy(read_array(manifest_path, model, layer["weight"]).astype(np.float32))
        if "scale" in layer:
            scale = torch.from_numpy(read_array(manifest_path, model, layer["scale"]).astype(np.float32))
            w = w * scale.repeat_interleave(layer["group"], dim=1)[:, :layer["in"]]
        linear = nn.Linear(layer["in"], layer["out"])
        linear.weight.data = w
        linear.bias.data = torch.from_numpy(read_array(manifest_path, model, layer["bias"]).astype(np.float32))
        layers.append(linear)
    return nn.Sequential(*layers).eval()
