"""Priors p(z) for the VAEs: the standard normal, a learned mixture of Gaussians, the VampPrior.

Every prior here is a mixture of K Gaussians with diagonal covariances,

    p(z) = sum_k w_k N(z; m_k, diag(s_k^2)),

and describes itself by ``components(model)`` -> (log w (K,), m (K, d), log s^2 (K, d)):

* ``StandardNormal``: K = 1, m = 0, s = 1. Nothing is learned, and the KL of a Gaussian q(z|x)
  from it has a closed form (``losses.kl_per_dimension``), which the models use.
* ``MixturePrior`` (a "MoG prior"): K means, log-variances and mixing weights, all learned with
  the VAE by the same gradient steps.
* ``VampPrior`` (Tomczak & Welling 2018, "VAE with a VampPrior"): the mixture of the encoder's
  own posteriors at K learned pseudo-inputs u_k, p(z) = 1/K sum_k q(z|u_k). It follows the
  encoder as it trains, so it approximates the aggregate posterior q(z) = E_x q(z|x), the prior
  that maximises the ELBO on the training images.

A learned prior has no closed-form KL with q(z|x): the models estimate it by Monte Carlo with
the z they sampled, KL ~ log q(z|x) - log p(z) (see ``models``). ``log_prob`` and ``sample``
take the components, so one prior works on any device and inside any model.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI).sum(dim=-1)


def mixture_log_prob(z: torch.Tensor, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; m_k, diag(s_k^2)) of codes z (..., d), shape (...).

    The squared distance to every component is expanded into matrix products,
    sum_j (z_j - m_kj)^2 / s_kj^2 = z^2 . (1/s_k^2) - 2 z . (m_k/s_k^2) + sum_j m_kj^2/s_kj^2,
    so memory grows with N x K, not N x K x d (K = 500 components, 10,000 codes: 20 MB)."""
    shape, d = z.shape[:-1], z.shape[-1]
    flat = z.reshape(-1, d)
    precision = torch.exp(-logvar)  # (K, d)
    squared = flat.pow(2) @ precision.T - 2 * flat @ (mu * precision).T + (mu.pow(2) * precision).sum(dim=1)
    log_normal = -0.5 * (squared + logvar.sum(dim=1) + d * LOG_2PI)  # (N, K)
    return torch.logsumexp(log_normal + log_w, dim=1).reshape(shape)


def marginal_log_prob(z: torch.Tensor, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log p_j(z_j) for every dimension j of codes z (N, d): the mixture's marginal along j,
    p_j(z_j) = sum_k w_k N(z_j; m_kj, s_kj^2). Shape (N, d). (The marginals of a mixture do not
    multiply to the mixture: sum_j log p_j(z_j) is not log p(z).)"""
    log_normal = -0.5 * ((z[:, None, :] - mu).pow(2) * torch.exp(-logvar) + logvar + LOG_2PI)  # (N, K, d)
    return torch.logsumexp(log_normal + log_w[:, None], dim=1)


def sample_mixture(n: int, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """n codes from the mixture, on the components' device: a component k drawn with probability
    w_k, then z = m_k + temperature * s_k * eps. The random numbers come from ``generator`` (a CPU
    generator: the same codes on every device)."""
    k = torch.multinomial(log_w.detach().softmax(dim=0).cpu().double(), n, replacement=True, generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator).to(mu.device)
    k = k.to(mu.device)
    return mu[k] + temperature * torch.exp(0.5 * logvar[k]) * eps


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
    encoder's work. ``encode`` is the model's map from images to (mu, logvar) of this prior's layer."""

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
