"""Measuring trained models: codes, reconstructions and samples, batch by batch, without grad.

Issue-level metrics (importance-sampled NLL, active units, probes, sample quality) build on
these helpers; ``train.evaluate`` computes the ELBO terms.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def encode_mean(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mean code mu(x) of every image (for an AE, its code), shape (N, latent)."""
    model.eval()
    return torch.cat([model.encode(x[i:i + batch_size])[0] for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Pixel probabilities decoded from the mean code, shape (N, 784)."""
    model.eval()
    return torch.cat([torch.sigmoid(model.decode(model.encode(x[i:i + batch_size])[0]))
                      for i in range(0, len(x), batch_size)])


def reconstruction_mse(model, x: torch.Tensor) -> float:
    """Mean squared error per pixel between images and their reconstructions (intensities in [0, 1])."""
    return torch.mean((reconstruct(model, x) - x.reshape(len(x), -1)) ** 2).item()


@torch.no_grad()
def sample_prior(model, n: int, seed: int = 0, temperature: float = 1.0) -> torch.Tensor:
    """Decode z ~ N(0, temperature^2 I): the way a VAE generates; (n, 784) probabilities."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    z = temperature * torch.randn(n, model.latent_dim, generator=generator)
    return torch.sigmoid(model.decode(z))
