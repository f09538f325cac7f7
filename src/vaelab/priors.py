"""Priors p(z) for the VAEs: the standard normal, a learned mixture of Gaussians, the VampPrior.

Every prior here is a mixture of K Gaussians with diagonal covariances,

    p(z) = sum_k w_k N(z; m_k, diag(s_k^2)),

and describes itself by ``components(model)`` -> (log w (K,), m (K, d), log s^2 (K, d)):

* ``StandardNormal``: K = 1, m = 0, s = 1. Nothing is learned, and the KL of a Gaussian q(z|x)
  from it has a closed form (``gaussian.kl_standard_normal``), which the models use.
* ``MixturePrior`` (a "MoG prior"): K means, log-variances and mixing weights, all learned with
  the VAE by the same gradient steps.
* ``VampPrior`` (Tomczak & Welling 2018, "VAE with a VampPrior"): the mixture of the encoder's
  own posteriors at K learned pseudo-inputs u_k, p(z) = 1/K sum_k q(z|u_k). It follows the
  encoder as it trains, so it approximates the aggregate posterior q(z) = E_x q(z|x), the prior
  that maximises the ELBO on the training images.

A learned prior has no closed-form KL with q(z|x): the models estimate it by Monte Carlo with
the z they sampled, KL ~ log q(z|x) - log p(z) (see ``models``). The mixture's density and
samples are ``gaussian.log_mixture`` and ``gaussian.sample_mixture`` of the components, so one
prior works on any device and inside any model.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class StandardNormal(nn.Module):
    """p(z) = N(0, I): the prior of the vanilla VAE (closed-form KL)."""

    learned = False

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim

    def components(self, model=None):
        device = next(model.parameters()).device if model is not None else torch.device("cpu")
        zero = torch.zeros(1, self.latent_dim, device=device)
        return torch.zeros(1, device=device), zero, zero

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


class MixturePrior(nn.Module):
    """p(z) = sum_k w_k N(m_k, diag(s_k^2)) with K learned means, log-variances and weights.

    The means start as K draws of N(0, I) and the variances at 1, so at the start the mixture is
    spread like the standard normal; the weights are a softmax of learned logits."""

    learned = True

    def __init__(self, latent_dim: int, n_components: int = 100):
        super().__init__()
        self.means = nn.Parameter(torch.randn(n_components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))

    def components(self, model=None):
        return torch.log_softmax(self.logits, dim=0), self.means, self.logvars


class VampPrior(nn.Module):
    """p(z) = 1/K sum_k q(z|u_k): the encoder's posteriors at K learned pseudo-inputs u_k (images).

    As in the paper's code, a pseudo-input is a learned image clipped to [0, 1] (hardtanh),
    starting near grey 0.05 (N(0.05, 0.01) per pixel). ``components`` runs the encoder on them,
    so every evaluation of p(z) costs K encoder passes: K = 500 at batch 128 about quadruples the
    encoder's work. ``model.encode_top`` is the map from images to (mu, logvar) of the latents this
    prior is on."""

    learned = True

    def __init__(self, latent_dim: int, n_components: int = 500, pixels: int = 784):
        super().__init__()
        self.latent_dim = latent_dim
        self.pseudo_inputs = nn.Parameter(0.05 + 0.01 * torch.randn(n_components, pixels))

    def images(self) -> torch.Tensor:
        """The pseudo-inputs as images in [0, 1], (K, 784)."""
        return nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def components(self, model):
        mu, logvar = model.encode_top(self.images())
        k = len(mu)
        return torch.full((k,), -math.log(k), device=mu.device), mu, logvar


PRIORS = {"normal": StandardNormal, "mog": MixturePrior, "vamp": VampPrior}


def build(name: str, latent_dim: int, n_components: int) -> nn.Module:
    """A prior by name: ``normal``, ``mog`` (K components) or ``vamp`` (K pseudo-inputs)."""
    if name not in PRIORS:
        raise ValueError(f"unknown prior {name!r}; choose one of: {', '.join(PRIORS)}")
    return StandardNormal(latent_dim) if name == "normal" else PRIORS[name](latent_dim, n_components)
