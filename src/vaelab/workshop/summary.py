"""What a model is, as tables a notebook shows: its layers with their output shapes and
parameters, and one line per model (latent size, prior, weight layers, parameters).

    summary.layers(model)                   # one row per layer, traced on one image
    summary.model_table({"VAE": vae, "best VAE": best})

The shapes are traced, not typed: one image goes through ``model(x)`` with a hook on every
layer, so the table cannot drift from the code. The prior's own parameters (a mixture's means,
a VampPrior's pseudo-inputs) are a row of their own; ``model(x)`` does not use them.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from vaelab.models import device_of

PIXELS = 784


def _describe(module: nn.Module) -> str:
    """A layer in words: "Linear 784 → 400", "Conv2d 1 → 32, 4×4, stride 2", "ReLU"."""
    name = type(module).__name__
    if isinstance(module, nn.Linear):
        return f"{name} {module.in_features} → {module.out_features}"
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        k = "×".join(map(str, module.kernel_size))
        return f"{name} {module.in_channels} → {module.out_channels}, {k}, stride {module.stride[0]}"
    return name


def _own_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters(recurse=False))


@torch.no_grad()
def layers(model: nn.Module) -> pd.DataFrame:
    """One row per layer that ``model(x)`` runs, in the order it runs them, for one image:
    the layer's name in the model, what it is, its output shape (without the batch) and its
    parameters; then the prior's parameters, if it has any. The model's mode is left as it was."""
    rows, hooks = [], []

    def record(name):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, tuple) else output
            rows.append({"layer": name, "what": _describe(module), "output": " × ".join(map(str, out.shape[1:])),
                         "parameters": _own_parameters(module)})
        return hook

    for name, module in model.named_modules():
        if name and not list(module.children()) and not name.startswith("prior"):
            hooks.append(module.register_forward_hook(record(name)))
    was_training = model.training
    try:
        model.eval()
        model(torch.zeros(1, PIXELS, device=device_of(model)))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    prior = model._modules.get("prior")
    prior_parameters = sum(p.numel() for p in prior.parameters()) if prior is not None else 0
    if prior_parameters:
        rows.append({"layer": "prior", "what": type(prior).__name__, "output": "", "parameters": prior_parameters})
    return pd.DataFrame(rows).set_index("layer")


PRIOR_NAMES = {"StandardNormal": "N(0, I)", "MixturePrior": "mixture of Gaussians", "VampPrior": "VampPrior"}


def model_table(named: dict) -> pd.DataFrame:
    """One row per model of ``named`` ({"VAE": model, ...}): its class, its latent size, its
    prior, its weight layers (linear and convolutional, from ``layers``) and its parameters."""
    out = {}
    for name, model in named.items():
        table = layers(model)
        prior = model._modules.get("prior")
        kind = type(prior).__name__ if prior is not None else "StandardNormal"
        out[name] = {"class": type(model).__name__, "latent": model.latent_dim,
                     "prior": PRIOR_NAMES.get(kind, kind) if getattr(model, "variational", True) else "none (AE)",
                     "weight layers": int(table["what"].str.contains("Linear|Conv").sum()),
                     "parameters": int(sum(p.numel() for p in model.parameters()))}
    return pd.DataFrame(out).T
