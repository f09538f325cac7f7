"""The models of the course, all with one interface.

    encode(x) -> (mu, logvar)     x: images in [0, 1], shape (B, 1, 28, 28) or (B, 784)
    decode(z) -> logits           (B, 784): Bernoulli logits of the 784 pixels
    forward(x) -> (logits, mu, logvar)

``VAE`` is the classic VAE of pytorch/examples ``vae/main.py``, layer for layer: 784 -> 400 ->
(mu, log sigma^2), ReLU, decoder latent -> 400 -> 784. ``AE`` has the same layers and a deterministic
code (``logvar`` is None, so the loss has no KL term). ``ConvVAE``/``ConvAE`` replace the MLPs by
two strided convolutions and two transposed convolutions. ``DeepVAE``/``DeepAE`` are wider,
deeper MLPs (1024 and 512 units), with SiLU activations.

``HierarchicalVAE`` has two layers of latents (notebook 04).

A VAE's ``forward`` always samples z = mu + sigma * eps, in training and in evaluation alike:
the ELBO is an expectation over q(z|x), so evaluating it at z = mu would overstate the model.
``reconstruct`` decodes the mean code instead, for pictures.

Every VAE has a prior p(z) (``vaelab.priors``): N(0, I) unless ``build`` is given a learned one
(``prior="mog"`` or ``"vamp"``). What training and evaluation need from a VAE, whatever its
prior and its number of layers, are five methods:

    elbo_terms(x)            -> (logits, kl)  kl: (B, G) per-image KL of each of G groups of latents
    kl_groups                   sizes of those groups (None: one group per latent dimension)
    posterior(x), draw(posterior, n, generator, prior)
                             -> n codes z ~ q(z|x) with log q(z|x) and log p(z) (the IWAE bound)
    kl_by_dimension(x, generator) -> (B, latent) a KL per latent dimension
    sample_latent(n, generator, temperature) -> n codes from the prior, on the CPU
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from vaelab import gaussian, priors

PIXELS = 28 * 28


def device_of(model: nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer): where its inputs must go. CPU for a
    model with neither."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _marginal_kl(z, mu, logvar, components):
    """One-draw estimate of KL(q(z_j|x) || p_j(z_j)) per dimension j, p_j the prior mixture's
    marginal along j (``gaussian.log_mixture_marginals``): (B, d) at the drawn codes z (B, d)."""
    return gaussian.log_normal_terms(z, mu, logvar) - gaussian.log_mixture_marginals(z, *components)


class Model(nn.Module):
    """What every model of the course shares: subclasses define ``encode`` and ``decode`` (and
    ``latent_dim``); ``variational = False`` makes an autoencoder."""

    variational = True

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = gaussian.reparameterize(mu, logvar) if self.variational else mu
        return self.decode(z), mu, logvar

    def _split(self, code):
        """An encoder output as (mu, logvar) halves, or (code, None) for an autoencoder."""
        if not self.variational:
            return code, None
        mu, logvar = code.chunk(2, dim=1)
        return mu, logvar

    @torch.no_grad()
    def reconstruct(self, x):
        """Pixel probabilities decoded from the mean code, shaped like ``x``."""
        return torch.sigmoid(self.decode(self.encode(x)[0])).view_as(x)

    # --- The prior, and what the loss and the evaluation need -------------------------------

    @property
    def learned_prior(self):
        """The learned prior module, or None for N(0, I) (the KL then has a closed form)."""
        prior = self._modules.get("prior")
        return prior if prior is not None and prior.learned else None

    def encode_top(self, x):
        """(mu, logvar) of the latents the prior p(z) is on: here all of them (a VampPrior's encoder)."""
        return self.encode(x)

    def prior_components(self):
        """(log w, means, log-variances) of the prior's mixture, on the model's device (N(0, I): K = 1)."""
        prior = self._modules.get("prior") or priors.StandardNormal(self.latent_dim)
        return prior.components(self)

    @property
    def kl_groups(self):
        """Latent dimensions in each column of ``elbo_terms``' KL (None: one column per dimension)."""
        return None if self.learned_prior is None else torch.tensor([float(self.latent_dim)])

    def elbo_terms(self, x):
        """(logits, kl) of one draw z ~ q(z|x): kl (B, G) per image, None for an autoencoder.

        With N(0, I) the KL is exact, one column per latent dimension (``gaussian.kl_standard_normal``).
        With a learned prior it has no closed form; one column holds the single-sample Monte Carlo
        estimate log q(z|x) - log p(z) at the z the decoder saw: unbiased, its mean over a batch is
        the KL in expectation (and the ELBO's estimate stays unbiased)."""
        if not self.variational:
            return self(x)[0], None
        if self.learned_prior is None:
            logits, mu, logvar = self(x)
            return logits, gaussian.kl_standard_normal(mu.float(), logvar.float())
        mu, logvar = self.encode(x)
        z = gaussian.reparameterize(mu, logvar)
        kl = gaussian.log_normal(z, mu, logvar) - gaussian.log_mixture(z, *self.prior_components())
        return self.decode(z), kl.unsqueeze(1)

    def posterior(self, x):
        """What ``draw`` needs of q(z|x) for a batch of images: (mu, logvar)."""
        mu, logvar = self.encode(x)
        if logvar is None:
            raise ValueError("an autoencoder has no q(z|x): the importance-sampled bound needs a VAE")
        return mu, logvar

    def draw(self, posterior, n: int, generator, prior=None):
        """n codes z ~ q(z|x) per image, (n, B, latent), with log q(z|x) and log p(z), each (n, B).

        eps comes from ``generator`` (CPU); ``prior`` is ``prior_components()`` (computed once by the
        caller for many draws), ignored for N(0, I)."""
        mu, logvar = posterior
        eps = torch.randn(n, *mu.shape, generator=generator).to(mu.device)
        z = gaussian.reparameterize(mu, logvar, eps)  # (n, B, latent)
        log_q = gaussian.log_normal(z, mu, logvar, eps=eps)
        if self.learned_prior is None:
            log_p = gaussian.log_normal(z)
        else:
            log_p = gaussian.log_mixture(z, *(prior if prior is not None else self.prior_components()))
        return z, log_q, log_p

    def kl_by_dimension(self, x, generator=None):
        """(B, latent): KL(q(z_j|x) || p_j(z_j)) of every latent dimension j.

        N(0, I): exact, and the columns sum to the KL. A learned prior: p_j is the prior's marginal
        along j, estimated with one draw z ~ q(z|x); the dimensions of a mixture are not
        independent, so these do not sum to the KL (they show which dimensions carry information)."""
        mu, logvar = self.posterior(x)
        if self.learned_prior is None:
            return gaussian.kl_standard_normal(mu, logvar)
        z = self.draw((mu, logvar), 1, generator)[0][0]
        return _marginal_kl(z, mu, logvar, self.prior_components())

    def sample_latent(self, n: int, generator=None, temperature: float = 1.0) -> torch.Tensor:
        """n codes from the prior (scaled by ``temperature``), on the CPU: N(0, I) draws
        ``temperature * eps``; a mixture draws a component, then its mean plus scaled noise."""
        if self.learned_prior is None:
            return temperature * torch.randn(n, self.latent_dim, generator=generator)
        return gaussian.sample_mixture(n, *self.prior_components(), generator=generator, temperature=temperature).cpu()

    @property
    def latent_layers(self) -> dict:
        """Name -> slice of the code for each layer of latents (one layer here)."""
        return {"z": slice(0, self.latent_dim)}


class VAE(Model):
    """The classic MLP VAE of pytorch/examples: 784 -> 400 -> (mu, logvar); latent -> 400 -> 784 logits."""

    def __init__(self, latent_dim: int = 10, hidden: int = 400):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1 = nn.Linear(PIXELS, hidden)
        self.fc21 = nn.Linear(hidden, latent_dim)
        self.fc22 = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, PIXELS)

    def encode(self, x):
        h = F.relu(self.fc1(x.reshape(-1, PIXELS)))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))


class AE(Model):
    """The baseline: the same layers, with a deterministic code and no KL."""

    variational = False

    def __init__(self, latent_dim: int = 10, hidden: int = 400):
        super().__init__()
        self.latent_dim = latent_dim
        self.fc1 = nn.Linear(PIXELS, hidden)
        self.fc2 = nn.Linear(hidden, latent_dim)
        self.fc3 = nn.Linear(latent_dim, hidden)
        self.fc4 = nn.Linear(hidden, PIXELS)

    def encode(self, x):
        return self.fc2(F.relu(self.fc1(x.reshape(-1, PIXELS)))), None

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))


class DeepVAE(Model):
    """A wider, deeper MLP VAE: 784 -> 1024 -> 512 -> (mu, logvar); latent -> 512 -> 1024 -> 784,
    with SiLU activations (x * sigmoid(x)). Dense layers only: its work is matrix products, which
    a CPU runs at its best speed. The best VAE of the course (``runs.best_config``) is this model
    with a VampPrior."""

    def __init__(self, latent_dim: int = 20, hidden: tuple = (1024, 512)):
        super().__init__()
        self.latent_dim = latent_dim
        h1, h2 = hidden
        out = latent_dim * (2 if self.variational else 1)
        self.encoder = nn.Sequential(nn.Linear(PIXELS, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU(), nn.Linear(h2, out))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, h2), nn.SiLU(), nn.Linear(h2, h1), nn.SiLU(), nn.Linear(h1, PIXELS))

    def encode(self, x):
        return self._split(self.encoder(x.reshape(-1, PIXELS)))

    def decode(self, z):
        return self.decoder(z)


class DeepAE(DeepVAE):
    variational = False


class ConvVAE(Model):
    """Conv encoder 1x28x28 -> 32x14x14 -> 64x7x7 -> dense -> (mu, logvar); the decoder mirrors it."""

    def __init__(self, latent_dim: int = 10, channels: int = 32, hidden: int = 256):
        super().__init__()
        self.latent_dim = latent_dim
        c = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.ReLU(),          # 14x14
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), nn.ReLU(),      # 7x7
            nn.Flatten(), nn.Linear(2 * c * 49, hidden), nn.ReLU())
        self.to_code = nn.Linear(hidden, latent_dim * (2 if self.variational else 1))
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, 2 * c * 49), nn.ReLU(), nn.Unflatten(1, (2 * c, 7, 7)),
            nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1), nn.ReLU(),  # 14x14
            nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1), nn.Flatten())  # 28x28 logits

    def encode(self, x):
        return self._split(self.to_code(self.encoder(x.reshape(-1, 1, 28, 28))))

    def decode(self, z):
        return self.decoder(z)


class ConvAE(ConvVAE):
    variational = False


class HierarchicalVAE(Model):
    """Two layers of latents (Tomczak & Welling 2018's two-layer VAE, in the deep MLP's sizes):

        generative model  p(z2) p(z1|z2) p(x|z1, z2)
        inference model   q(z2|x) q(z1|x, z2)

    z2 (the top) gets the prior (N(0, I), a mixture or a VampPrior); p(z1|z2) is a Gaussian whose
    mean and variance an MLP computes from z2. The decoder sees both layers, and q(z1|x, z2) sees
    the image and the top code: in the plain chain z2 -> z1 -> x the top layer mostly collapses
    (Burda et al. 2016 found few active units there), because x can be explained by z1 alone.

    The code of the shared interface is z = [z1, z2] (``latent_dim`` = d1 + d2, half each).
    ``encode`` gives the means along the mean path: mu2(x), then mu1(x, mu2) (and the log-variances).
    The KL has one column per dimension: KL(q(z1_j|x, z2) || p(z1_j|z2)), exact given the drawn
    z2, and the top layer's KL as in a one-layer VAE; together their expectation is the ELBO's KL,
    E_q[log q(z1, z2|x) - log p(z1, z2)]."""

    def __init__(self, latent_dim: int = 40, hidden: tuple = (1024, 512)):
        super().__init__()
        if latent_dim < 2 or latent_dim % 2:
            raise ValueError(f"a hierarchical VAE splits its latents in two layers: latent_dim must be even, not {latent_dim}")
        self.latent_dim = latent_dim
        self.d1 = self.d2 = latent_dim // 2
        h1, h2 = hidden
        self.trunk = nn.Sequential(nn.Linear(PIXELS, h1), nn.SiLU(), nn.Linear(h1, h2), nn.SiLU())
        self.q_z2 = nn.Linear(h2, 2 * self.d2)
        self.q_z1 = nn.Sequential(nn.Linear(h2 + self.d2, h2), nn.SiLU(), nn.Linear(h2, 2 * self.d1))
        self.p_z1 = nn.Sequential(nn.Linear(self.d2, h2), nn.SiLU(), nn.Linear(h2, 2 * self.d1))
        self.decoder = nn.Sequential(nn.Linear(latent_dim, h2), nn.SiLU(), nn.Linear(h2, h1), nn.SiLU(), nn.Linear(h1, PIXELS))

    def encode_top(self, x):
        return self.q_z2(self.trunk(x.reshape(-1, PIXELS))).chunk(2, dim=-1)

    def _q_z1(self, h, z2):
        return self.q_z1(torch.cat([h, z2], dim=-1)).chunk(2, dim=-1)

    def _p_z1(self, z2):
        return self.p_z1(z2).chunk(2, dim=-1)

    def encode(self, x):
        h = self.trunk(x.reshape(-1, PIXELS))
        mu2, logvar2 = self.q_z2(h).chunk(2, dim=-1)
        mu1, logvar1 = self._q_z1(h, mu2)
        return torch.cat([mu1, mu2], dim=-1), torch.cat([logvar1, logvar2], dim=-1)

    def decode(self, z):
        return self.decoder(z)

    def _sample(self, x):
        h = self.trunk(x.reshape(-1, PIXELS))
        mu2, logvar2 = self.q_z2(h).chunk(2, dim=-1)
        z2 = gaussian.reparameterize(mu2, logvar2)
        mu1, logvar1 = self._q_z1(h, z2)
        z1 = gaussian.reparameterize(mu1, logvar1)
        return (z1, mu1, logvar1), (z2, mu2, logvar2)

    def forward(self, x):
        (z1, mu1, logvar1), (z2, mu2, logvar2) = self._sample(x)
        return self.decode(torch.cat([z1, z2], dim=-1)), torch.cat([mu1, mu2], dim=-1), torch.cat([logvar1, logvar2], dim=-1)

    @property
    def kl_groups(self):
        if self.learned_prior is None:
            return None
        return torch.tensor([1.0] * self.d1 + [float(self.d2)])

    def _top_kl(self, z2, mu2, logvar2):
        if self.learned_prior is None:
            return gaussian.kl_standard_normal(mu2, logvar2)
        return (gaussian.log_normal(z2, mu2, logvar2) - gaussian.log_mixture(z2, *self.prior_components())).unsqueeze(1)

    def elbo_terms(self, x):
        (z1, mu1, logvar1), (z2, mu2, logvar2) = self._sample(x)
        kl1 = gaussian.kl_normal(mu1, logvar1, *self._p_z1(z2))
        return self.decode(torch.cat([z1, z2], dim=-1)), torch.cat([kl1, self._top_kl(z2, mu2, logvar2)], dim=1)

    def posterior(self, x):
        h = self.trunk(x.reshape(-1, PIXELS))
        return (h, *self.q_z2(h).chunk(2, dim=-1))

    def draw(self, posterior, n: int, generator, prior=None):
        h, mu2, logvar2 = posterior
        eps2 = torch.randn(n, *mu2.shape, generator=generator).to(mu2.device)
        eps1 = torch.randn(n, len(mu2), self.d1, generator=generator).to(mu2.device)
        z2 = gaussian.reparameterize(mu2, logvar2, eps2)  # (n, B, d2)
        mu1, logvar1 = self._q_z1(h.expand(n, *h.shape), z2)
        z1 = gaussian.reparameterize(mu1, logvar1, eps1)
        log_q = gaussian.log_normal(z2, mu2, logvar2, eps=eps2) + gaussian.log_normal(z1, mu1, logvar1, eps=eps1)
        if self.learned_prior is None:
            log_p2 = gaussian.log_normal(z2)
        else:
            log_p2 = gaussian.log_mixture(z2, *(prior if prior is not None else self.prior_components()))
        log_p1 = gaussian.log_normal(z1, *self._p_z1(z2))
        return torch.cat([z1, z2], dim=-1), log_q, log_p2 + log_p1

    def kl_by_dimension(self, x, generator=None):
        """z1: KL(q(z1_j|x, z2) || p(z1_j|z2)) at one drawn z2 (these sum to the layer's KL in
        expectation); z2: as in a one-layer VAE (exact for N(0, I), the marginal's otherwise)."""
        h, mu2, logvar2 = self.posterior(x)
        eps2 = torch.randn(mu2.shape, generator=generator).to(mu2.device)
        z2 = gaussian.reparameterize(mu2, logvar2, eps2)
        mu1, logvar1 = self._q_z1(h, z2)
        kl1 = gaussian.kl_normal(mu1, logvar1, *self._p_z1(z2))
        if self.learned_prior is None:
            kl2 = gaussian.kl_standard_normal(mu2, logvar2)
        else:
            kl2 = _marginal_kl(z2, mu2, logvar2, self.prior_components())
        return torch.cat([kl1, kl2], dim=1)

    def sample_latent(self, n: int, generator=None, temperature: float = 1.0) -> torch.Tensor:
        """z2 from the prior, then z1 ~ p(z1|z2) (both scaled by ``temperature``); [z1, z2] on the CPU."""
        device = device_of(self)
        if self.learned_prior is None:
            z2 = (temperature * torch.randn(n, self.d2, generator=generator)).to(device)
        else:
            z2 = gaussian.sample_mixture(n, *self.prior_components(), generator=generator, temperature=temperature)
        mu1, logvar1 = self._p_z1(z2)
        eps1 = torch.randn(n, self.d1, generator=generator).to(device)
        return torch.cat([gaussian.reparameterize(mu1, logvar1, temperature * eps1), z2], dim=-1).cpu()

    @property
    def latent_layers(self) -> dict:
        return {"z1": slice(0, self.d1), "z2": slice(self.d1, self.latent_dim)}


MODELS = {"vae": VAE, "ae": AE, "conv-vae": ConvVAE, "conv-ae": ConvAE, "deep-vae": DeepVAE, "deep-ae": DeepAE,
          "hvae": HierarchicalVAE}


def build(name: str, latent_dim: int = 10, prior: str = "normal", components: int = 500, **kwargs) -> nn.Module:
    """A model by name, with the prior ``prior`` (``normal``, ``mog`` or ``vamp``, with
    ``components`` components or pseudo-inputs) on its (top) latents."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    model = MODELS[name](latent_dim=latent_dim, **kwargs)
    if prior != "normal":
        if not model.variational:
            raise ValueError(f"an autoencoder ({name}) has no prior to learn")
        top = model.d2 if isinstance(model, HierarchicalVAE) else latent_dim
        model.prior = priors.build(prior, top, components)
    return model
