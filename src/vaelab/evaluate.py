"""Measuring trained models, batch by batch, without grad.

Helpers: mean codes, reconstructions, prior samples. Metrics, one function each:

* ``active_units`` and ``mean_kl_by_dimension``: which latent dimensions the model uses;
* ``prior_gap``: how the KL term splits into information and the prior's mismatch;
* ``linear_probe_accuracy`` and ``knn_accuracy``: how much of the label the codes carry;
* ``frechet_distance``: sample quality, on the features of ``vaelab.workshop.classifier``;
* ``fit_latent_gmm`` and ``sample_gmm``: a mixture fitted to the codes, as a better prior to
  sample from (and the only way to sample an autoencoder).

The bounds on the likelihood are ``vaelab.bounds``. Every number is in nats per image unless
stated. Every function takes data on any device, runs the model where the model is
(``models.device_of``) and hands tensors back on the CPU.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline

from vaelab import gaussian, latent
from vaelab.models import device_of

PROBE_MAX_ITER = 1000  # L-BFGS iterations of the linear probe (see linear_probe_accuracy)


@torch.no_grad()
def encode_mean(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mean code mu(x) of every image (for an AE, its code), shape (N, latent), on the CPU."""
    model.eval()
    device = device_of(model)
    return torch.cat([model.encode(x[i:i + batch_size].to(device))[0].cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def sample_posterior(model, x: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """One code z ~ q(z|x) of every image (the model's ``draw``; its noise from a CPU generator
    seeded with ``seed``), shape (N, latent), on the CPU."""
    model.eval()
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([model.draw(model.posterior(x[i:i + batch_size].to(device)), 1, generator)[0][0].cpu()
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, batch_size: int = 1000, sample: bool = False) -> torch.Tensor:
    """Pixel probabilities decoded from the mean code, shape (N, 784), on the CPU.

    With ``sample`` the code is drawn from q(z|x) instead (``model(x)``, the global random
    stream of the model's device): what the reconstruction term of the ELBO is measured on."""
    model.eval()
    device = device_of(model)
    decoded = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        logits = model(xb)[0] if sample else model.decode(model.encode(xb)[0])
        decoded.append(torch.sigmoid(logits).cpu())
    return torch.cat(decoded)


def reconstruction_mse(model, x: torch.Tensor) -> float:
    """Mean squared error per pixel between images and their reconstructions (intensities in [0, 1])."""
    return torch.mean((reconstruct(model, x) - x.reshape(len(x), -1)) ** 2).item()


@torch.no_grad()
def sample_prior(model, n: int, seed: int = 0, temperature: float = 1.0) -> torch.Tensor:
    """Decode n codes drawn from the model's prior p(z): the way a VAE generates; (n, 784)
    probabilities on the CPU. For N(0, I) z = temperature * eps; a learned prior draws a component
    and scales its spread by ``temperature``; a hierarchical VAE draws z2, then z1 ~ p(z1|z2)
    (``sample_latent`` of ``vaelab.models``). An autoencoder has no prior: it decodes N(0, I)
    codes, as if it had one. The draws come from a CPU generator seeded with ``seed``: the same
    codes on every device."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    if model.variational:
        z = model.sample_latent(n, generator, temperature)
    else:
        z = temperature * torch.randn(n, model.latent_dim, generator=generator)
    return latent.decode(model, z, batch_size=max(n, 1))


# --- How the latent space is used -------------------------------------------------------------


def active_units(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000) -> tuple[int, torch.Tensor]:
    """The number of active latent dimensions and the activity of every dimension.

    The activity of dimension u is A_u = Var_x( E_q(z|x)[z_u] ) = Var_x( mu_u(x) ), the sample
    variance (N - 1 in the denominator) over the images ``x``; u is active when A_u > threshold
    (Burda et al. 2016 use 0.01). A collapsed dimension has q(z_u|x) = p(z_u) for every x, so
    its mean does not move with x. For an autoencoder mu is the code itself.
    Returns (count, activities of shape (latent,)).
    """
    activity = encode_mean(model, x, batch_size).double().var(dim=0).float()
    return int((activity > threshold).sum()), activity


def active_units_by_layer(model, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000) -> dict:
    """``active_units`` counted in each layer of latents: {"z": n} for a one-layer model,
    {"z1": n1, "z2": n2} for a hierarchical VAE (``latent_layers`` of ``vaelab.models``)."""
    activity = active_units(model, x, threshold, batch_size)[1]
    return {name: int((activity[part] > threshold).sum()) for name, part in model.latent_layers.items()}


@torch.no_grad()
def mean_kl_by_dimension(model, x: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> torch.Tensor:
    """The mean KL(q(z_j|x) || p(z_j)) of every latent dimension j over ``x``, shape (latent,).

    For the N(0, I) prior it is exact,

        KL_j(x) = 1/2 (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2),

    and the terms sum to the mean total KL, in nats per image; a
    dimension with KL near 0 carries no information about x (posterior collapse). For a learned
    prior p(z_j) is the prior's marginal along j and the KL a Monte Carlo estimate with one draw
    per image (seeded with ``seed``); for the first layer of a hierarchical VAE it is the KL from
    p(z1_j|z2) (see ``kl_by_dimension`` of ``vaelab.models``).
    Autoencoders have no q(z|x): they raise ValueError.
    """
    if not model.variational:
        raise ValueError("an autoencoder has no q(z|x): there is no KL to split")
    model.eval()
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        kl = model.kl_by_dimension(x[start:start + batch_size].to(device), generator)
        total += kl.cpu().double().sum(dim=0)
    return (total / len(x)).float()


@torch.no_grad()
def prior_gap(model, x: torch.Tensor, n: int = 2000, seed: int = 0, batch_size: int = 1000) -> dict:
    """How the KL term of the ELBO splits, averaged over the images ``x`` (Hoffman & Johnson 2016):

        E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z)),   q(z) = 1/N sum_n q(z|x_n)

    I(x; z) is the information the codes carry about the images; KL(q(z) || p(z)) the nats paid
    only because the prior puts its mass elsewhere than the codes (the "aggregate posterior" q(z)):
    zero for the best possible prior, p(z) = q(z). Both are estimated by Monte Carlo with ``n``
    draws z ~ q(z) (an image, then its posterior), log q(z) being the mixture of all N posteriors
    (``gaussian.log_mixture``). That mixture holds each draw's own posterior, which inflates
    log q(z): KL(q(z) || p(z)) is overestimated and I(x; z) underestimated, and I(x; z) can be at
    most log N (``information_cap``), which a code that tells its images apart reaches. The KL itself is
    exact for N(0, I) (the closed form, ``mean_kl_by_dimension`` summed); for a learned prior it is the
    Monte Carlo mean of log q(z|x) - log p(z) over the same draws. One-layer VAEs only.
    Returns {"kl": ..., "marginal_kl": KL(q(z) || p(z)), "mutual_information": kl - marginal_kl,
    "information_cap": log N}."""
    if not model.variational or len(model.latent_layers) != 1:
        raise ValueError("prior_gap needs a one-layer VAE")
    model.eval()
    device = device_of(model)
    generator = torch.Generator().manual_seed(seed)
    codes = [model.encode(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    # to the CPU first, then float64 (an MPS device has no float64)
    mu, logvar = torch.cat([c[0].cpu() for c in codes]).double(), torch.cat([c[1].cpu() for c in codes]).double()
    pick = torch.randint(len(x), (n,), generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator, dtype=torch.float64)
    z = gaussian.reparameterize(mu[pick], logvar[pick], eps)
    log_qz = gaussian.log_mixture(z, torch.full((len(x),), -math.log(len(x)), dtype=torch.float64), mu, logvar)
    if model.learned_prior is None:
        log_pz = gaussian.log_normal(z)
        kl = mean_kl_by_dimension(model, x, batch_size, seed).sum().item()  # exact: the closed form
    else:
        log_pz = gaussian.log_mixture(z, *(t.detach().cpu().double() for t in model.prior_components()))
        # no closed form (and per-dimension marginals do not add up to it): log q(z|x) - log p(z) at the same draws
        kl = (gaussian.log_normal(z, mu[pick], logvar[pick], eps=eps) - log_pz).mean().item()
    marginal = (log_qz - log_pz).mean().item()
    return {"kl": kl, "marginal_kl": marginal, "mutual_information": kl - marginal, "information_cap": math.log(len(x))}


# --- What the codes know about the labels -----------------------------------------------------


def _numpy(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, seed: int = 0,
                          max_iter: int = PROBE_MAX_ITER) -> float:
    """Test accuracy of a multinomial logistic regression fitted on the training features.

    The pipeline whitens the features (PCA with every component kept, each scaled to unit variance
    on the training set) and fits scikit-learn's ``LogisticRegression`` (L-BFGS, default L2
    penalty C = 1). Whitening is a linear map, invertible on the span of the training features,
    so it does not change which classifiers a linear model can express there; it makes the
    problem well conditioned for L-BFGS, which matters for raw pixels, whose neighbours are
    strongly correlated. scikit-learn warns (ConvergenceWarning) if ``max_iter`` is not enough. ``seed`` is passed as
    ``random_state``. Features: (N, d) tensors or arrays.
    """
    probe = make_pipeline(PCA(whiten=True, random_state=seed),
                          LogisticRegression(max_iter=max_iter, random_state=seed))
    probe.fit(_numpy(train_features), _numpy(train_labels))
    return float(probe.score(_numpy(test_features), _numpy(test_labels)))


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour vote (Euclidean distance) among the training features.

    The features are not standardised: distances in the latent space are the model's own, and
    scaling up an unused, near-constant dimension would only add noise.
    """
    knn = KNeighborsClassifier(n_neighbors=k)
    knn.fit(_numpy(train_features), _numpy(train_labels))
    return float(knn.score(_numpy(test_features), _numpy(test_labels)))


# --- Sample quality ---------------------------------------------------------------------------


def _sqrtm_product(c1: np.ndarray, c2: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The real part of sqrt(C1 C2). If C1 C2 is singular (a dead ReLU feature makes a zero
    row and column), eps I is added to both covariances first, as pytorch-fid does; that moves
    the distance by about eps per dead feature."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        try:
            root = scipy.linalg.sqrtm(c1 @ c2)
        except scipy.linalg.LinAlgWarning:  # "Matrix is singular"
            root = np.full_like(c1, np.nan)
    if not np.isfinite(root).all():
        offset = eps * np.eye(len(c1))
        root = scipy.linalg.sqrtm((c1 + offset) @ (c2 + offset))
    return np.real(root)


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of features (N, d) (FID's formula).

        d^2 = ||m1 - m2||^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2))

    with m the means and C the sample covariances of the sets. It is the squared 2-Wasserstein
    distance between N(m1, C1) and N(m2, C2): 0 for identical sets, symmetric, and for
    diagonal covariances ||m1 - m2||^2 + sum_j (s1_j - s2_j)^2. The matrix root comes from
    ``scipy.linalg.sqrtm``, in float64; rounding can leave a tiny imaginary part, which is
    dropped. Use the penultimate features of ``classifier.Classifier``, for thousands of images
    per set: the estimate is biased upwards for small sets.
    """
    a, b = _numpy(features_a).astype(np.float64), _numpy(features_b).astype(np.float64)
    m1, m2 = a.mean(axis=0), b.mean(axis=0)
    c1, c2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    diff = m1 - m2
    return float(diff @ diff + np.trace(c1) + np.trace(c2) - 2 * np.trace(_sqrtm_product(c1, c2)))


# --- A better prior: a Gaussian mixture fitted to the codes -----------------------------------


def fit_latent_gmm(codes, n_components: int = 10, seed: int = 0) -> GaussianMixture:
    """A Gaussian mixture with full covariances fitted (EM, k-means start) to codes (N, latent).

    Sampling it instead of N(0, I) puts the samples where the encoder actually puts images
    (the "aggregate posterior"), and gives an autoencoder a way to generate at all."""
    gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed)
    return gmm.fit(_numpy(codes).astype(np.float64))


def sample_gmm_codes(gmm: GaussianMixture, n: int, seed: int = 0) -> torch.Tensor:
    """n codes drawn from the mixture, float32 (n, latent), in random component order.

    A component c is drawn with probability weights_[c], then z = means_[c] + L_c eps with
    L_c L_c^T = covariances_[c] and eps ~ N(0, I). (``GaussianMixture.sample`` takes no seed
    and returns the samples sorted by component.)"""
    rng = np.random.default_rng(seed)
    weights = gmm.weights_ / gmm.weights_.sum()
    component = rng.choice(len(weights), size=n, p=weights)
    eps = rng.standard_normal((n, gmm.means_.shape[1]))
    chol = np.linalg.cholesky(gmm.covariances_)
    z = gmm.means_[component] + np.einsum("nij,nj->ni", chol[component], eps)
    return torch.from_numpy(z).float()


def sample_gmm(model, gmm: GaussianMixture, n: int, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """Decode n codes drawn from the mixture (``sample_gmm_codes``): pixel probabilities (n, 784)."""
    return latent.decode(model, sample_gmm_codes(gmm, n, seed), batch_size)
