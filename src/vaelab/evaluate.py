"""Measuring trained models, batch by batch, without grad.

Helpers: mean codes, reconstructions, prior samples. Metrics, one function each:

* ``importance_sampled_nll`` (and ``importance_sampled_bounds``): the IWAE bound on -log p(x);
* ``active_units`` and ``kl_per_dimension``: which latent dimensions the model uses;
* ``linear_probe_accuracy`` and ``knn_accuracy``: how much of the label the codes carry;
* ``frechet_distance``: sample quality, on the features of ``vaelab.classifier``;
* ``fit_latent_gmm`` and ``sample_gmm``: a mixture fitted to the codes, as a better prior to
  sample from (and the only way to sample an autoencoder).

``train.evaluate`` computes the ELBO terms. Every number is in nats per image unless stated.
Every function takes data on any device, runs the model where the model is
(``device.model_device``) and hands tensors back on the CPU.
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

from vaelab import latent, losses, priors
from vaelab.device import model_device, on_cpu

DECODER_ROWS = 10_000  # rows decoded at once by importance_sampled_nll: about 30 MB of logits
PROBE_MAX_ITER = 1000  # L-BFGS iterations of the linear probe (see linear_probe_accuracy)


@torch.no_grad()
def encode_mean(model, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The mean code mu(x) of every image (for an AE, its code), shape (N, latent), on the CPU."""
    model.eval()
    device = model_device(model)
    return torch.cat([on_cpu(model.encode(x[i:i + batch_size].to(device))[0]) for i in range(0, len(x), batch_size)])


@torch.no_grad()
def sample_posterior(model, x: torch.Tensor, seed: int = 0, batch_size: int = 1000) -> torch.Tensor:
    """One code z ~ q(z|x) of every image (the model's ``draw``; its noise from a CPU generator
    seeded with ``seed``), shape (N, latent), on the CPU."""
    model.eval()
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    return torch.cat([on_cpu(model.draw(model.posterior(x[i:i + batch_size].to(device)), 1, generator)[0][0])
                      for i in range(0, len(x), batch_size)])


@torch.no_grad()
def reconstruct(model, x: torch.Tensor, batch_size: int = 1000, sample: bool = False) -> torch.Tensor:
    """Pixel probabilities decoded from the mean code, shape (N, 784), on the CPU.

    With ``sample`` the code is drawn from q(z|x) instead (``model(x)``, the global random
    stream of the model's device): what the reconstruction term of the ELBO is measured on."""
    model.eval()
    device = model_device(model)
    decoded = []
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        logits = model(xb)[0] if sample else model.decode(model.encode(xb)[0])
        decoded.append(on_cpu(torch.sigmoid(logits)))
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


# --- Likelihood: the importance-weighted bound (Burda, Grosse and Salakhutdinov 2016) ---------


def _log_weights(model, x: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
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
        log_w.append(on_cpu(log_px_z + log_pz - log_qz).double())  # float64 on the CPU (MPS has none)
    return torch.cat(log_w)


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
    quantity ``train.evaluate`` reports, with a Monte Carlo KL and k draws instead of one.

    The draws (and, with ``binarize``, one Bernoulli sample of each image, as for a model
    trained on binarized data) come from a generator seeded with ``seed``: the result is
    repeatable for a given seed and ``batch_size``, and the global random state is untouched.
    Memory stays at ``DECODER_ROWS`` decoded rows whatever k and the number of images.
    Autoencoders have no q(z|x): they raise ValueError.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    model.eval()
    device = model_device(model)
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
        log_w = _log_weights(model, xb, k, generator)
        nll = -(torch.logsumexp(log_w, dim=0) - math.log(k))
        totals += torch.stack([nll.sum(), -log_w.mean(dim=0).sum()])
    nll, neg_elbo = (totals / len(x)).tolist()
    return {"nll": nll, "neg_elbo": neg_elbo, "k": k}


def importance_sampled_nll(model, x: torch.Tensor, k: int = 500, batch_size: int = 100, seed: int = 0,
                           binarize: bool = False) -> float:
    """-log p(x) estimated with the k-sample IWAE bound, nats per image (see ``importance_sampled_bounds``)."""
    return importance_sampled_bounds(model, x, k=k, batch_size=batch_size, seed=seed, binarize=binarize)["nll"]


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
def kl_per_dimension(model, x: torch.Tensor, batch_size: int = 1000, seed: int = 0) -> torch.Tensor:
    """The mean KL(q(z_j|x) || p(z_j)) of every latent dimension j over ``x``, shape (latent,).

    For the N(0, I) prior it is exact,

        KL_j(x) = 1/2 (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2),

    and the terms sum to the mean total KL of ``losses.kl_divergence``, in nats per image; a
    dimension with KL near 0 carries no information about x (posterior collapse). For a learned
    prior p(z_j) is the prior's marginal along j and the KL a Monte Carlo estimate with one draw
    per image (seeded with ``seed``); for the first layer of a hierarchical VAE it is the KL from
    p(z1_j|z2) (see ``kl_by_dimension`` of ``vaelab.models``).
    Autoencoders have no q(z|x): they raise ValueError.
    """
    if not model.variational:
        raise ValueError("an autoencoder has no q(z|x): there is no KL to split")
    model.eval()
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    for start in range(0, len(x), batch_size):
        kl = model.kl_by_dimension(x[start:start + batch_size].to(device), generator)
        total += on_cpu(kl).double().sum(dim=0)
    return (total / len(x)).float()


@torch.no_grad()
def prior_gap(model, x: torch.Tensor, n: int = 2000, seed: int = 0, batch_size: int = 1000) -> dict:
    """How the KL term of the ELBO splits, averaged over the images ``x`` (Hoffman & Johnson 2016):

        E_x KL(q(z|x) || p(z)) = I(x; z) + KL(q(z) || p(z)),   q(z) = 1/N sum_n q(z|x_n)

    I(x; z) is the information the codes carry about the images; KL(q(z) || p(z)) the nats paid
    only because the prior puts its mass elsewhere than the codes (the "aggregate posterior" q(z)):
    zero for the best possible prior, p(z) = q(z). Both are estimated by Monte Carlo with ``n``
    draws z ~ q(z) (an image, then its posterior), log q(z) being the mixture of all N posteriors
    (``priors.mixture_log_prob``). For many latent dimensions and a finite N the estimate of
    KL(q(z) || p(z)) is biased low (each z sits on its own image's posterior). The KL itself is
    exact for N(0, I) (the closed form, ``kl_per_dimension`` summed); for a learned prior it is the
    Monte Carlo mean of log q(z|x) - log p(z) over the same draws. One-layer VAEs only.
    Returns {"kl": ..., "marginal_kl": KL(q(z) || p(z)), "mutual_information": kl - marginal_kl}."""
    if not model.variational or len(model.latent_layers) != 1:
        raise ValueError("prior_gap needs a one-layer VAE")
    model.eval()
    device = model_device(model)
    generator = torch.Generator().manual_seed(seed)
    codes = [model.encode(x[i:i + batch_size].to(device)) for i in range(0, len(x), batch_size)]
    mu, logvar = torch.cat([c[0] for c in codes]).double(), torch.cat([c[1] for c in codes]).double()
    mu, logvar = on_cpu(mu), on_cpu(logvar)  # float64 on the CPU
    pick = torch.randint(len(x), (n,), generator=generator)
    z = mu[pick] + torch.exp(0.5 * logvar[pick]) * torch.randn(n, mu.shape[1], generator=generator, dtype=torch.float64)
    log_qz = priors.mixture_log_prob(z, torch.full((len(x),), -math.log(len(x)), dtype=torch.float64), mu, logvar)
    if model.learned_prior is None:
        log_pz = -0.5 * (z.pow(2) + priors.LOG_2PI).sum(dim=1)
        kl = kl_per_dimension(model, x, batch_size, seed).sum().item()  # exact: the closed form
    else:
        log_pz = priors.mixture_log_prob(z, *(on_cpu(t).double() for t in model.prior_components()))
        # no closed form (and per-dimension marginals do not add up to it): log q(z|x) - log p(z) at the same draws
        log_q_own = -0.5 * ((z - mu[pick]).pow(2) / logvar[pick].exp() + logvar[pick] + priors.LOG_2PI).sum(dim=1)
        kl = (log_q_own - log_pz).mean().item()
    marginal = (log_qz - log_pz).mean().item()
    return {"kl": kl, "marginal_kl": marginal, "mutual_information": kl - marginal}


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
    problem well conditioned for L-BFGS. That matters for raw pixels, whose neighbours are
    strongly correlated: on Fashion-MNIST's 784 pixels, standardising each pixel instead took 995
    iterations and 100 s on 2 cores (test accuracy 0.833), whitening 96 iterations and 10 s
    (0.830). On the models' 10- and 20-dimensional codes both took 26 to 109 iterations and gave
    the same accuracy to within 0.0003. ``PROBE_MAX_ITER`` = 1,000 leaves a wide margin, and
    scikit-learn warns (ConvergenceWarning) if it is not enough. ``seed`` is passed as
    ``random_state``. Features: (N, d) tensors or arrays.
    """
    probe = make_pipeline(PCA(whiten=True, random_state=seed),
                          LogisticRegression(max_iter=max_iter, random_state=seed))
    probe.fit(_numpy(train_features), _numpy(train_labels))
    return float(probe.score(_numpy(test_features), _numpy(test_labels)))


def knn_accuracy(train_features, train_labels, test_features, test_labels, k: int = 5) -> float:
    """Test accuracy of a k-nearest-neighbour vote (Euclidean distance) among the training features.

    The features are not standardised: distances in the latent space are the model's own (its
    prior is N(0, I)), and scaling up an unused, near-constant dimension would only add noise.
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
