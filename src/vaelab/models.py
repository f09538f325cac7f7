"""The models of the course, all with one interface.

    encode(x) -> (mu, logvar)     x: images in [0, 1], shape (B, 1, 28, 28) or (B, 784)
    decode(z) -> logits           (B, 784): Bernoulli logits of the 784 pixels
    forward(x) -> (logits, mu, logvar)

``VAE`` is the seeds' model exactly (pytorch/examples ``vae/main.py``): 784 -> 400 -> (mu, log
sigma^2), ReLU, decoder latent -> 400 -> 784. ``AE`` has the same layers and a deterministic
code (``logvar`` is None, so the loss has no KL term). ``ConvVAE``/``ConvAE`` replace the MLPs by
two strided convolutions and two transposed convolutions. ``DeepVAE``/``DeepAE`` are wider,
deeper MLPs (1024 and 512 units): the best VAE the course trains on a CPU budget.

A VAE's ``forward`` always samples z = mu + sigma * eps, in training and in evaluation alike:
the ELBO is an expectation over q(z|x), so evaluating it at z = mu would overstate the model.
``reconstruct`` decodes the mean code instead, for pictures.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

PIXELS = 28 * 28


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with eps ~ N(0, I): a sample of q(z|x) that gradients flow through."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


class _Model(nn.Module):
    variational = True

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = reparameterize(mu, logvar) if self.variational else mu
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


class VAE(_Model):
    """The seeds' MLP VAE: 784 -> 400 -> (mu, logvar); latent -> 400 -> 784 logits."""

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


class AE(_Model):
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


class DeepVAE(_Model):
    """A wider, deeper MLP VAE: 784 -> 1024 -> 512 -> (mu, logvar); latent -> 512 -> 1024 -> 784,
    with SiLU activations (x * sigmoid(x)), which train to a better ELBO here than ReLU.

    The course's best VAE on a CPU budget: per image it costs about four times the seeds' model
    and, unlike the conv VAE, runs at matrix-product speed on two cores."""

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


class ConvVAE(_Model):
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


MODELS = {"vae": VAE, "ae": AE, "conv-vae": ConvVAE, "conv-ae": ConvAE, "deep-vae": DeepVAE, "deep-ae": DeepAE}


def build(name: str, latent_dim: int = 10, **kwargs) -> nn.Module:
    try:
        return MODELS[name](latent_dim=latent_dim, **kwargs)
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None
