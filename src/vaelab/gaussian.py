"""The Gaussian formulas of the course, each written once; every other module calls these.

A diagonal Gaussian is given by its mean ``mu`` and log-variance ``logvar`` = log sigma^2 (what
an encoder outputs: any real number, where sigma itself would have to stay positive).

    reparameterize(mu, logvar)        z = mu + sigma * eps,  eps ~ N(0, I)
    kl_standard_normal(mu, logvar)    KL( N(mu, sigma^2) || N(0, 1) ), per dimension
    kl_normal(mu, logvar, mu_p, logvar_p)
                                      KL( N(mu, sigma^2) || N(mu_p, sigma_p^2) ), per dimension
    log_normal(z, mu, logvar)         log N(z; mu, diag(sigma^2)), summed over the last dimension
    log_normal_terms(z, mu, logvar)   the same, one term per dimension
    log_mixture(z, log_w, mu, logvar) log sum_k w_k N(z; m_k, diag(s_k^2))
    log_mixture_marginals(...)        log p_j(z_j) of each dimension's marginal of that mixture
    sample_mixture(n, log_w, mu, logvar)
                                      n codes from the mixture

Every log-density is in nats. The functions broadcast: ``mu`` (B, d) with ``eps`` (n, B, d)
gives n codes per image.
"""

from __future__ import annotations

import math

import torch

LOG_2PI = math.log(2 * math.pi)


# exercise 1 · 2 points · 10 min · notebook 02 · the reparameterisation
def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor | None = None) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z|x) that gradients flow through.

    ``eps`` defaults to fresh noise shaped like ``mu`` (the global random stream); pass your own
    to draw from a seeded generator, several codes at once, or scaled noise (a temperature)."""
    if eps is None:
        eps = torch.randn_like(mu)
    return mu + torch.exp(0.5 * logvar) * eps


# exercise 2 · 2 points · 10 min · notebook 02 · the KL of a diagonal Gaussian from N(0, I)
def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_j, exp(logvar_j)) || N(0, 1)) of every image and dimension, shaped like ``mu``:
    -1/2 (1 + log sigma_j^2 - mu_j^2 - sigma_j^2), exact (Kingma & Welling 2014, appendix B)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(mu_p, exp(logvar_p))) of every dimension, exact:
    1/2 (log sigma_p^2 - log sigma^2 + (sigma^2 + (mu - mu_p)^2) / sigma_p^2 - 1)."""
    return 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) * torch.exp(-logvar_p) - 1)


def log_normal_terms(z: torch.Tensor, mu=0.0, logvar=0.0, eps: torch.Tensor | None = None) -> torch.Tensor:
    """log N(z_j; mu_j, exp(logvar_j)) of every dimension, shaped like ``z`` (broadcast).

    The defaults give N(0, 1). ``eps`` = (z - mu) / sigma, when the caller drew z from it, saves
    computing it again (and its rounding)."""
    if not isinstance(logvar, torch.Tensor):
        logvar = torch.tensor(logvar, dtype=z.dtype, device=z.device)
    squared = eps.pow(2) if eps is not None else (z - mu).pow(2) * torch.exp(-logvar)
    return -0.5 * (squared + logvar + LOG_2PI)


def log_normal(z: torch.Tensor, mu=0.0, logvar=0.0, eps: torch.Tensor | None = None) -> torch.Tensor:
    """log N(z; mu, diag(exp(logvar))), summed over the last dimension (``log_normal_terms``)."""
    return log_normal_terms(z, mu, logvar, eps).sum(dim=-1)


# exercise 8 · 3 points · 20 min · notebook 04 · a mixture's log-density
def log_mixture(z: torch.Tensor, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log sum_k w_k N(z; m_k, diag(s_k^2)) of codes z (..., d), shape (...).

    The squared distance to every component is expanded into matrix products,
    sum_j (z_j - m_kj)^2 / s_kj^2 = z^2 . (1/s_k^2) - 2 z . (m_k/s_k^2) + sum_j m_kj^2/s_kj^2,
    so memory grows with N x K, not N x K x d (K = 500 components, 10,000 codes: 20 MB)."""
    shape, d = z.shape[:-1], z.shape[-1]
    flat = z.reshape(-1, d)
    precision = torch.exp(-logvar)  # (K, d)
    squared = flat.pow(2) @ precision.T - 2 * flat @ (mu * precision).T + (mu.pow(2) * precision).sum(dim=1)
    log_components = -0.5 * (squared + logvar.sum(dim=1) + d * LOG_2PI)  # (N, K): log N(z; m_k, s_k^2)
    return torch.logsumexp(log_components + log_w, dim=1).reshape(shape)


def log_mixture_marginals(z: torch.Tensor, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log p_j(z_j) for every dimension j of codes z (N, d): the mixture's marginal along j,
    p_j(z_j) = sum_k w_k N(z_j; m_kj, s_kj^2). Shape (N, d). (The marginals of a mixture do not
    multiply to the mixture: sum_j log p_j(z_j) is not log p(z).)"""
    log_components = log_normal_terms(z[:, None, :], mu, logvar)  # (N, K, d)
    return torch.logsumexp(log_components + log_w[:, None], dim=1)


def sample_mixture(n: int, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                   generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
    """n codes from the mixture, on the components' device: a component k drawn with probability
    w_k, then z = m_k + s_k * (temperature * eps). The random numbers come from ``generator`` (a
    CPU generator: the same codes on every device)."""
    k = torch.multinomial(log_w.detach().softmax(dim=0).cpu().double(), n, replacement=True, generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator).to(mu.device)
    k = k.to(mu.device)
    return reparameterize(mu[k], logvar[k], temperature * eps)
