"""Codes to look at and codes to decode: 2-D embeddings, manifold grids, traversals, interpolations.

Every function returns codes or pixel probabilities; ``vaelab.plots`` draws them. Nothing here
trains a network, and every random choice comes from a ``seed``.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from vaelab.models import device_of


def stratified_subset(labels: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """Indices of n images, the same number from each class (n // classes), in a seeded random order."""
    generator = torch.Generator().manual_seed(seed)
    classes = torch.unique(labels)
    per_class = n // len(classes)
    picks = [torch.nonzero(labels == c).flatten() for c in classes]
    picks = [p[torch.randperm(len(p), generator=generator)[:per_class]] for p in picks]
    index = torch.cat(picks)
    return index[torch.randperm(len(index), generator=generator)]


def embed_2d(codes, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, d) codes -> (N, 2): the first two principal components (``pca``) or a t-SNE map
    (``tsne``: perplexity 30, PCA initialisation, scikit-learn's defaults otherwise). A code with
    two dimensions is returned as it is."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[1] == 2:
        return codes
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    if method == "tsne":
        return TSNE(n_components=2, perplexity=30, init="pca", random_state=seed).fit_transform(codes)
    raise ValueError(f"unknown embedding {method!r}: use 'pca' or 'tsne'")


def manifold_codes(n: int = 20, edge: float = 0.05) -> torch.Tensor:
    """An n x n grid of 2-D codes, row by row from the top-left, spaced by the inverse CDF of
    N(0, 1) at n probabilities evenly spaced in [edge, 1 - edge]: each cell of the grid holds the
    same prior mass, so the grid covers the prior as the samples would. Shape (n * n, 2)."""
    values = norm.ppf(np.linspace(edge, 1 - edge, n))
    z1, z2 = np.meshgrid(values, values[::-1])  # z2 grows upwards, as on a plot
    return torch.from_numpy(np.stack([z1.ravel(), z2.ravel()], axis=1)).float()


def traversal_codes(base: torch.Tensor, values) -> torch.Tensor:
    """One row per latent dimension j: ``base`` (d,) with z_j replaced by each of ``values``:
    the same n values for every dimension (n,), or each dimension's own (d, n), such as
    ``quantiles``. Shape (d * n, d), row j first."""
    values = torch.as_tensor(values, dtype=base.dtype)
    d = len(base)
    codes = base.repeat(d, values.shape[-1], 1)  # (d, n, d)
    codes[torch.arange(d), :, torch.arange(d)] = values
    return codes.reshape(-1, d)


def quantiles(codes: torch.Tensor, q) -> torch.Tensor:
    """Each dimension's quantiles ``q`` (n,) of ``codes`` (N, d), as (d, n): a traversal over the
    values a dimension really takes, whatever its scale."""
    return torch.quantile(codes.float(), torch.as_tensor(q, dtype=torch.float32), dim=0).T


def interpolation_codes(z_start: torch.Tensor, z_end: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """``steps`` codes on the straight line from z_start to z_end, both ends included: (steps, d)."""
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z_start + t * z_end


@torch.no_grad()
def decode(model, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Pixel probabilities (N, 784) of codes z."""
    model.eval()
    device = device_of(model)
    return torch.cat([torch.sigmoid(model.decode(z[i:i + batch_size].to(device))).cpu()
                      for i in range(0, len(z), batch_size)])
