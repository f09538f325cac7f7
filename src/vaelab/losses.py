"""The negative ELBO, in nats per image.

For an image x with pixel intensities in [0, 1] and a decoder that outputs Bernoulli logits,

    -ELBO(x) = E_q(z|x)[ -log p(x|z) ] + KL( q(z|x) || N(0, I) )
             = sum over pixels of BCE(logits, x)  +  -1/2 sum_j (1 + log s_j^2 - m_j^2 - s_j^2)

The first term (the reconstruction) is estimated with the one sample z that ``forward`` drew;
the KL between two Gaussians is exact. (With a learned prior, ``vaelab.priors``, the KL has no
closed form and is estimated with the same z: ``elbo_loss``.) Both are summed over pixels or latent dimensions and
averaged over the batch, so every number is in nats per image. ``beta`` weights the KL term
(beta-VAE, KL warm-up); ``free_bits`` lets every latent dimension carry that many nats without
cost (Kingma et al. 2016). Neither changes the reported ``kl``, which is always the true KL.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class Loss(NamedTuple):
    total: torch.Tensor  # recon + beta * kl: what the optimiser minimises
    recon: torch.Tensor  # -log p(x|z), nats per image
    kl: torch.Tensor  # KL(q(z|x) || p(z)), nats per image

    @property
    def neg_elbo(self) -> torch.Tensor:
        """recon + kl: the negative ELBO whatever beta was."""
        return self.recon + self.kl


def kl_per_dimension(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu_j, exp(logvar_j)) || N(0, 1)) of every image and latent dimension, shape (B, d)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag(exp(logvar))) || N(0, I)) per image, shape (B,)."""
    return kl_per_dimension(mu, logvar).sum(dim=1)


def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per image under independent Bernoullis, shape (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x.reshape(logits.shape), reduction="none").sum(dim=1)


def neg_elbo(logits, x, mu, logvar, beta: float = 1.0, free_bits: float = 0.0) -> Loss:
    """Batch means of the loss terms. ``logvar`` None (an autoencoder) means no KL term.

    With ``free_bits`` = lambda > 0 the optimised KL term is sum_j max(lambda, KL_j), KL_j being
    dimension j's KL averaged over the batch: a dimension that carries less than lambda nats is
    not pushed back to the prior, which keeps latent dimensions from collapsing."""
    kl = None if logvar is None else kl_per_dimension(mu, logvar)
    return elbo_loss(logits, x, kl, beta=beta, free_bits=free_bits)


def elbo_loss(logits, x, kl, beta: float = 1.0, free_bits: float = 0.0, groups=None) -> Loss:
    """``neg_elbo`` for any VAE: ``kl`` (B, G) holds each image's KL split in G groups of latents
    (``models.*.elbo_terms``), None for an autoencoder. ``groups`` gives the latent dimensions in
    each group (None: one each); free bits then allow lambda nats per dimension of a group,
    sum_g max(lambda * size_g, KL_g) (Kingma et al. 2016 group the latents in the same way).
    For a learned prior a group's KL is a Monte Carlo estimate (see ``models``), and so is the
    ``kl`` returned: its expectation is the KL."""
    recon = recon_nll(logits, x).mean()
    if kl is None:
        zero = torch.zeros((), device=recon.device)
        return Loss(recon, recon, zero)
    kl_groups = kl.mean(dim=0)
    total = kl_groups.sum()
    if free_bits <= 0:
        kl_term = total
    elif groups is None:
        kl_term = kl_groups.clamp(min=free_bits).sum()
    else:
        kl_term = torch.maximum(kl_groups, free_bits * groups.to(kl_groups.device)).sum()
    return Loss(recon + beta * kl_term, recon, total)


def kl_weight(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    """Linear KL warm-up: the KL weight grows from 0 to ``beta`` over ``warmup_steps`` steps."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def bce_floor(x: torch.Tensor) -> torch.Tensor:
    """The entropy floor per image, shape (B,): sum over pixels of H(x) = -x log x - (1-x) log(1-x).

    BCE(p, x) >= H(x) for every p, with equality at p = x, so no model with a Bernoulli (BCE)
    decoder can reach a lower reconstruction term, let alone a lower -ELBO, on grey-level data."""
    x = x.reshape(len(x), -1).double()
    return -(torch.special.xlogy(x, x) + torch.special.xlogy(1 - x, 1 - x)).sum(dim=1).to(torch.float32)
