"""Helpers that measure trained models."""

from __future__ import annotations

import pytest
import torch

from vaelab import evaluate, models


@pytest.fixture
def vae():
    torch.manual_seed(0)
    return models.VAE(latent_dim=3)


def test_encode_mean_and_reconstruct_in_batches(vae):
    x = torch.rand(25, 784)
    mu = evaluate.encode_mean(vae, x, batch_size=10)
    torch.testing.assert_close(mu, vae.encode(x)[0])
    probabilities = evaluate.reconstruct(vae, x, batch_size=7)
    torch.testing.assert_close(probabilities, torch.sigmoid(vae.decode(vae.encode(x)[0])))
    assert probabilities.min() >= 0 and probabilities.max() <= 1


def test_reconstruction_mse(vae):
    x = torch.rand(8, 784)
    expected = ((evaluate.reconstruct(vae, x) - x) ** 2).mean().item()
    assert evaluate.reconstruction_mse(vae, x) == pytest.approx(expected)


def test_prior_samples_are_seeded_and_scaled_by_temperature(vae):
    a, b = evaluate.sample_prior(vae, 5, seed=1), evaluate.sample_prior(vae, 5, seed=1)
    assert a.shape == (5, 784) and torch.equal(a, b)
    assert not torch.equal(a, evaluate.sample_prior(vae, 5, seed=2))
    cold = evaluate.sample_prior(vae, 5, seed=1, temperature=0.0)
    torch.testing.assert_close(cold, torch.sigmoid(vae.decode(torch.zeros(5, 3))))
