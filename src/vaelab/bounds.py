"""The bounds on the likelihood a trained model is measured by, in nats per image.

* ``elbo``: the -ELBO (reconstruction + KL) of a set of images, as training reports it, with one
  draw z ~ q(z|x) per image;
* ``importance_sampled_bounds``: the k-sample importance-weighted bound on -log p(x) (IWAE,
  Burda, Grosse and Salakhutdinov 2016), with the -ELBO of the very same draws.

Both run the model where it is (``models.device_of``), take the images on any device, draw
their noise from their own seeded streams (the same numbers every time, the caller's random
state untouched) and return Python floats.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from vaelab import losses
from vaelab.models import device_of

DECODER_ROWS = 10_000  # rows decoded at once by importance_sampled_bounds: about 30 MB of logits


def _random_module(device: torch.device):
    """``torch.cuda`` or ``torch.mps``: what holds a GPU's random stream (None for the CPU)."""
    return {"cuda": getattr(torch, "cuda", None), "mps": getattr(torch, "mps", None)}.get(torch.device(device).type)


@contextmanager
def seeded(seed: int, device: torch.device | str = "cpu"):
    """Run a block with the CPU's and ``device``'s random streams seeded with ``seed``, and leave
    the caller's random state as it was afterwards."""
    module = _random_module(device)
    saved = module.get_rng_state() if module is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            yield
        finally:
            if module is not None:
                module.set_rng_state(saved)


@torch.no_grad()
def elbo(model, x: torch.Tensor, batch_size: int = 1000, seed: int = 0, binarize: bool = False) -> dict:
    """Mean recon, KL and -ELBO in nats per image over ``x`` (float, (N, 784)).

    z is sampled from q(z|x), as in training (never set to the mean); the noise comes from its
    own seeded stream, so the result is repeatable and the caller's random state is untouched.
    The KL is the model's (``elbo_terms``): exact for N(0, I), a one-draw Monte Carlo estimate
    for a learned prior. ``binarize``: one Bernoulli sample of each image, as a model trained on
    binarized images sees them. An autoencoder has a KL of 0."""
    model.eval()
    device = device_of(model)
    totals = torch.zeros(2, dtype=torch.float64)
    with seeded(seed, device):
        generator = torch.Generator().manual_seed(seed + 1)
        for start in range(0, len(x), batch_size):
            xb = x[start:start + batch_size]
            if binarize:
                xb = torch.bernoulli(xb.cpu(), generator=generator)
            xb = xb.to(device)
            logits, kl = model.elbo_terms(xb)
            recon = losses.recon_nll(logits, xb)
            kl = kl.sum(dim=1) if kl is not None else torch.zeros_like(recon)
            totals += torch.stack([recon.sum(), kl.sum()]).cpu().double()
    recon, kl = (totals / len(x)).tolist()
    return {"neg_elbo": recon + kl, "recon": recon, "kl": kl}


def log_importance_weights(model, x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): (k, B), float64.

    The model draws the codes with their log-densities (``draw`` of ``vaelab.models``: under its
    own prior, and through both layers of a hierarchical VAE); the prior's components are
    computed once per batch. The k draws are decoded a chunk at a time, at most ``DECODER_ROWS``
    rows (or one draw per image, if the batch is bigger), so memory does not grow with k."""
    posterior = model.posterior(x)
    prior = model.prior_components() if model.learned_prior is not None else None
    batch = len(x)
    chunk = max(1, DECODER_ROWS // batch)
    log_w = []
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        z, log_qz, log_pz = model.draw(posterior, n, generator, prior)  # (n, B, latent), (n, B), (n, B)
        logits = model.decode(z.reshape(n * batch, -1))
        log_px_z = -losses.recon_nll(logits, x.expand(n, *x.shape).reshape(n * batch, -1)).reshape(n, batch)
        log_w.append((log_px_z + log_pz - log_qz).cpu().double())  # float64 on the CPU (MPS has none)
    return torch.cat(log_w)


# exercise 9 · 2 points · 10 min · notebook 07 · the importance-sampled bound
def iwae_nll(log_w: torch.Tensor) -> torch.Tensor:
    """The k-sample bound on -log p(x) of each image from its k log-weights ``log_w`` (k, B):
    -log (1/k) sum_i w_i, computed as a log-sum-exp so that no weight is ever exponentiated alone."""
    return -(torch.logsumexp(log_w, dim=0) - math.log(len(log_w)))


@torch.no_grad()
def importance_sampled_bounds(model, x: torch.Tensor, k: int = 500, batch_size: int = 100, seed: int = 0,
                              binarize: bool = False) -> dict:
    """The k-sample importance-weighted bound on -log p(x) and the -ELBO from the same draws.

    With z_1..z_k ~ q(z|x) and weights w_i = p(x|z_i) p(z_i) / q(z_i|x),

        nll(x)      = -log (1/k) sum_i w_i   = -(logsumexp_i log w_i - log k)
        neg_elbo(x) = -(1/k) sum_i log w_i

    averaged over the images, in nats per image. p(x|z) is the product of Bernoullis of the
    decoder's logits (BCE summed over pixels, as in training), p(z) the model's prior (N(0, I), a
    learned mixture, a VampPrior; p(z2) p(z1|z2) for a hierarchical VAE), q(z|x) = N(mu,
    diag(exp(logvar))) (q(z2|x) q(z1|x, z2)). E[nll] is an upper bound on -log p(x) that falls as k grows and tends
    to it as k -> infinity; for k = 1 it is the (single-sample) -ELBO. By Jensen's inequality
    nll <= neg_elbo for the very same draws, not only in expectation. ``neg_elbo`` estimates the
    quantity ``elbo`` reports, with a Monte Carlo KL and k draws instead of one.

    The draws (and, with ``binarize``, one Bernoulli sample of each image, as for a model
    trained on binarized data) come from a generator seeded with ``seed``: the result is
    repeatable for a given seed and ``batch_size``, and the global random state is untouched.
    Memory stays at ``DECODER_ROWS`` decoded rows whatever k and the number of images.
    Autoencoders have no q(z|x): they raise ValueError.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    model.eval()
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    x = x.reshape(len(x), -1)
    totals = torch.zeros(2, dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        xb = x[start:start + batch_size]
        if binarize:
            xb = torch.bernoulli(xb.cpu(), generator=generator)
        xb = xb.to(device)
        if not model.variational:
            raise ValueError("an autoencoder has no q(z|x): the importance-sampled bound needs a VAE")
        log_w = log_importance_weights(model, xb, k, generator)
        nll = iwae_nll(log_w)
        totals += torch.stack([nll.sum(), -log_w.mean(dim=0).sum()])
    nll, neg_elbo = (totals / len(x)).tolist()
    return {"nll": nll, "neg_elbo": neg_elbo, "k": k}
