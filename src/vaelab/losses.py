"""The negative ELBO, in nats per image: the loss every VAE of the course minimises.

For an image x with pixel intensities in [0, 1] and a decoder that outputs Bernoulli logits,

    -ELBO(x) = E_q(z|x)[ -log p(x|z) ] + KL( q(z|x) || p(z) )
             = sum over pixels of BCE(logits, x)  +  KL

The first term (the reconstruction) is estimated with the one sample z that the model drew.
With the prior N(0, I) the KL has a closed form, -1/2 sum_j (1 + log s_j^2 - m_j^2 - s_j^2)
(``gaussian.kl_standard_normal``); with a learned prior (``vaelab.priors``) it is estimated with
the same z, log q(z|x) - log p(z). Either way the model hands it over as ``kl`` (B, G) from
``elbo_terms``, and ``neg_elbo`` is the one entry point:

    logits, kl = model.elbo_terms(x)
    loss = neg_elbo(logits, x, kl, beta=1.0)    # Loss(total, recon, kl); loss.total.backward()

Both terms are summed over pixels or latent dimensions and averaged over the batch, so every
number is in nats per image. ``beta`` weights the KL term (beta-VAE, KL warm-up: ``kl_weight``);
``free_bits`` lets every latent dimension carry that many nats without cost (Kingma et al.
2016). Neither changes the reported ``kl``, which is always the KL itself.
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


# exercise 3 · 2 points · 10 min · notebook 02 · the Bernoulli reconstruction term
def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) of each image, shape (B,): the decoder's ``logits`` (B, 784) are the log-odds of
    independent Bernoullis, one per pixel, and ``x`` holds the B images' intensities in [0, 1] (as
    (B, 784) or (B, 1, 28, 28)). Summed over the pixels, in nats; finite for any logits."""
    return F.binary_cross_entropy_with_logits(logits, x.reshape(logits.shape), reduction="none").sum(dim=1)


# exercise 7 · 1 point · 5 min · notebook 03 · the autoencoder's loss
def autoencoder_loss(logits, x) -> Loss:
    """The autoencoder's loss: the reconstruction term alone, averaged over the batch. Its code is
    a point, not a distribution, so there is no KL term (``kl`` is 0 and ``total`` is ``recon``)."""
    recon = recon_nll(logits, x).mean()
    return Loss(recon, recon, torch.zeros((), device=recon.device))


# exercise 4 · 3 points · 20 min · notebook 02 · the negative ELBO
def neg_elbo(logits, x, kl, beta: float = 1.0, free_bits: float = 0.0, groups=None) -> Loss:
    """The batch means of the loss terms. ``kl`` (B, G) holds each image's KL split in G groups
    of latents (``elbo_terms`` of ``vaelab.models``; for N(0, I) one group per dimension,
    ``gaussian.kl_standard_normal(mu, logvar)``). An autoencoder has no KL: ``kl`` None hands the
    loss to ``autoencoder_loss(logits, x)``.

    With ``free_bits`` = lambda > 0 the optimised KL term is sum_g max(lambda * size_g, KL_g), KL_g
    being group g's KL averaged over the batch and size_g its number of dimensions (``groups``, a
    float tensor (G,), the model's ``kl_groups``; None: one dimension each): a dimension that
    carries less than lambda nats is not pushed back to the prior, which keeps latent dimensions
    from collapsing (Kingma et al. 2016 group the latents in the same way). For a learned prior a
    group's KL is a Monte Carlo estimate, and so is the ``kl`` returned: its expectation is the KL.

    Returns ``Loss(total, recon, kl)``, three 0-dim tensors in nats per image: ``total`` = recon +
    beta * (the KL term, with free bits), ``recon`` and ``kl`` as they are, whatever beta was."""
    if kl is None:
        return autoencoder_loss(logits, x)
    recon = recon_nll(logits, x).mean()
    kl_groups = kl.mean(dim=0)
    total = kl_groups.sum()
    if free_bits <= 0:
        kl_term = total
    elif groups is None:
        kl_term = kl_groups.clamp(min=free_bits).sum()
    else:
        kl_term = torch.maximum(kl_groups, free_bits * groups.to(kl_groups.device)).sum()
    return Loss(recon + beta * kl_term, recon, total)


# exercise 6 · 1 point · 5 min · notebook 02 · the KL warm-up
def kl_weight(step: int, warmup_steps: int, beta: float = 1.0) -> float:
    """Linear KL warm-up: the weight of the KL term at ``step`` (0, 1, 2, ...) grows from 0 at step 0
    to ``beta`` at step ``warmup_steps`` and stays there; with no warm-up (0 steps) it is ``beta``."""
    if warmup_steps <= 0:
        return beta
    return beta * min(1.0, step / warmup_steps)


def bce_floor(x: torch.Tensor) -> torch.Tensor:
    """The entropy floor per image, shape (B,): sum over pixels of H(x) = -x log x - (1-x) log(1-x).

    BCE(p, x) >= H(x) for every p, with equality at p = x, so no model with a Bernoulli (BCE)
    decoder can reach a lower reconstruction term, let alone a lower -ELBO, on grey-level data."""
    x = x.reshape(len(x), -1).double()
    return -(torch.special.xlogy(x, x) + torch.special.xlogy(1 - x, 1 - x)).sum(dim=1).to(torch.float32)
