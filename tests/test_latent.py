"""Codes to look at and to decode: subsets, embeddings, grids, traversals, interpolations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from vaelab import latent, models


def test_stratified_subset_takes_as_many_of_each_class_and_is_seeded():
    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    index = latent.stratified_subset(labels, 30, seed=1)
    assert len(index) == 30 and len(set(index.tolist())) == 30
    assert torch.bincount(labels[index]).tolist() == [10, 10, 10]
    assert torch.equal(index, latent.stratified_subset(labels, 30, seed=1))
    assert not torch.equal(index, latent.stratified_subset(labels, 30, seed=2))


def test_embed_2d_pca_keeps_the_widest_directions_and_passes_2d_codes_through():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((200, 5)) * np.array([10.0, 0.1, 5.0, 0.1, 0.1])
    points = latent.embed_2d(codes, "pca")
    assert points.shape == (200, 2)
    assert points[:, 0].var() == pytest.approx(codes[:, 0].var(ddof=1), rel=0.05)
    two = rng.standard_normal((10, 2))
    np.testing.assert_array_equal(latent.embed_2d(two, "tsne"), two)
    with pytest.raises(ValueError, match="unknown embedding"):
        latent.embed_2d(codes, "umap")


def test_embed_2d_tsne_separates_two_far_clusters():
    rng = np.random.default_rng(0)
    codes = np.concatenate([rng.standard_normal((40, 4)), rng.standard_normal((40, 4)) + 50])
    points = latent.embed_2d(codes, "tsne", seed=0)
    assert points.shape == (80, 2)
    centre_a, centre_b = points[:40].mean(0), points[40:].mean(0)
    spread = max(points[:40].std(0).max(), points[40:].std(0).max())
    assert np.linalg.norm(centre_a - centre_b) > 3 * spread


def test_manifold_codes_follow_the_inverse_cdf_row_by_row_from_the_top_left():
    codes = latent.manifold_codes(5, edge=0.1).numpy()
    values = norm.ppf(np.linspace(0.1, 0.9, 5))
    assert codes.shape == (25, 2)
    np.testing.assert_allclose(codes[:5, 0], values, rtol=1e-6)  # first row: z1 left to right
    np.testing.assert_allclose(codes[::5, 1], values[::-1], rtol=1e-6)  # first column: z2 top to bottom
    assert codes[0, 1] == pytest.approx(norm.ppf(0.9), rel=1e-6)


def test_a_traversal_can_move_each_dimension_over_its_own_quantiles():
    codes = torch.stack([torch.linspace(-1, 1, 101), torch.linspace(-10, 30, 101)], dim=1)  # two scales
    values = latent.quantiles(codes, [0.0, 0.5, 1.0])
    assert torch.allclose(values, torch.tensor([[-1.0, 0.0, 1.0], [-10.0, 10.0, 30.0]]), atol=1e-6)
    rows = latent.traversal_codes(torch.zeros(2), values).reshape(2, 3, 2)
    assert torch.allclose(rows[0, :, 0], values[0]) and torch.all(rows[0, :, 1] == 0)
    assert torch.allclose(rows[1, :, 1], values[1]) and torch.all(rows[1, :, 0] == 0)


def test_traversal_codes_move_one_dimension_per_row():
    base = torch.tensor([0.5, -1.0, 2.0])
    values = torch.tensor([-3.0, 0.0, 3.0])
    codes = latent.traversal_codes(base, values).reshape(3, 3, 3)
    for j in range(3):
        torch.testing.assert_close(codes[j, :, j], values)
        others = [k for k in range(3) if k != j]
        torch.testing.assert_close(codes[j][:, others], base[others].expand(3, 2))


def test_interpolation_codes_include_both_ends():
    a, b = torch.zeros(4), torch.ones(4)
    codes = latent.interpolation_codes(a, b, 5)
    torch.testing.assert_close(codes[0], a)
    torch.testing.assert_close(codes[-1], b)
    torch.testing.assert_close(codes[2], torch.full((4,), 0.5))


def test_decode_gives_probabilities_in_batches():
    torch.manual_seed(0)
    model = models.VAE(latent_dim=3)
    z = torch.randn(7, 3)
    out = latent.decode(model, z, batch_size=3)
    torch.testing.assert_close(out, torch.sigmoid(model.decode(z)))
