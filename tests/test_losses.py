"""The negative ELBO: analytic KL against Monte Carlo, the BCE form against pytorch/examples', the
reparameterisation's gradients, and z sampled (not set to the mean) in evaluation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vaelab import bounds, gaussian, losses, models


def test_analytic_kl_equals_a_monte_carlo_estimate():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(4, 6, generator=g)
    logvar = torch.randn(4, 6, generator=g) * 0.5
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn(200_000, 4, 6, generator=g)  # samples of q(z|x)
    log_q = (-0.5 * ((z - mu) / std) ** 2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
    monte_carlo = (log_q - log_p).mean(0)
    analytic = gaussian.kl_standard_normal(mu, logvar).sum(dim=1)
    assert analytic.shape == (4,)
    torch.testing.assert_close(monte_carlo, analytic, atol=0.03, rtol=0.01)


def test_kl_is_zero_only_at_the_prior():
    assert gaussian.kl_standard_normal(torch.zeros(3, 5), torch.zeros(3, 5)).sum(dim=1).abs().max() == 0
    assert (gaussian.kl_standard_normal(torch.full((1, 5), 0.1), torch.zeros(1, 5)).sum(dim=1) > 0).all()


def test_bce_with_logits_equals_pytorch_examples_sigmoid_then_bce():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(8, 784, generator=g) * 3
    x = torch.rand(8, 784, generator=g)
    seeds = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum") / len(x)
    ours = losses.recon_nll(logits, x).mean()
    torch.testing.assert_close(ours, seeds, rtol=1e-5, atol=1e-3)


def test_bce_with_logits_stays_finite_where_sigmoid_saturates():
    logits = torch.tensor([[200.0, -200.0]])
    x = torch.tensor([[0.0, 1.0]])
    assert torch.isfinite(losses.recon_nll(logits, x)).all()
    assert losses.recon_nll(logits, x).item() == pytest.approx(400.0)


def test_loss_terms_are_nats_per_image_and_beta_weights_only_the_kl():
    g = torch.Generator().manual_seed(2)
    logits, x = torch.randn(16, 784, generator=g), torch.rand(16, 784, generator=g)
    mu, logvar = torch.randn(16, 10, generator=g), torch.randn(16, 10, generator=g)
    loss = losses.neg_elbo(logits, x, gaussian.kl_standard_normal(mu, logvar), beta=0.25)
    assert loss.recon.item() == pytest.approx(losses.recon_nll(logits, x).sum().item() / 16)
    assert loss.kl.item() == pytest.approx(gaussian.kl_standard_normal(mu, logvar).sum(dim=1).sum().item() / 16, rel=1e-6)
    assert loss.total.item() == pytest.approx(loss.recon.item() + 0.25 * loss.kl.item())
    assert loss.neg_elbo.item() == pytest.approx(loss.recon.item() + loss.kl.item())
    assert losses.neg_elbo(logits, x, None).kl.item() == 0  # an autoencoder


def test_free_bits_stop_pushing_quiet_dimensions_but_keep_the_true_kl():
    logits, x = torch.zeros(4, 784), torch.full((4, 784), 0.5)
    mu = torch.tensor([[0.1, 2.0]] * 4, requires_grad=True)  # KL per dimension: 0.005 and 2 nats
    logvar = torch.zeros(4, 2, requires_grad=True)
    loss = losses.neg_elbo(logits, x, gaussian.kl_standard_normal(mu, logvar), beta=0.5, free_bits=0.25)
    assert loss.kl.item() == pytest.approx(0.005 + 2.0)  # reported: the true KL
    assert loss.total.item() == pytest.approx(loss.recon.item() + 0.5 * (0.25 + 2.0))
    loss.total.backward()
    assert mu.grad[:, 0].abs().max() == 0  # below lambda: no pull back to the prior
    assert mu.grad[:, 1].abs().min() > 0
    plain = losses.neg_elbo(logits, x, gaussian.kl_standard_normal(mu, logvar), beta=0.5)
    assert plain.total.item() == pytest.approx(plain.recon.item() + 0.5 * plain.kl.item())


def test_linear_warmup():
    assert [losses.kl_weight(s, 4, beta=2.0) for s in range(6)] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.0]
    assert losses.kl_weight(0, 0, beta=0.5) == 0.5


def test_gradients_reach_mu_and_logvar_through_the_sample():
    mu = torch.zeros(2, 3, requires_grad=True)
    logvar = torch.zeros(2, 3, requires_grad=True)
    torch.manual_seed(0)
    z = gaussian.reparameterize(mu, logvar)
    (z**2).sum().backward()  # d/dmu = 2z, d/dlogvar = z * eps (nonzero) -- no KL involved
    assert mu.grad.abs().min() > 0 and logvar.grad.abs().min() > 0
    torch.testing.assert_close(mu.grad, 2 * z.detach())


@pytest.mark.parametrize("name", ["vae", "conv-vae"])
def test_evaluation_samples_z_instead_of_using_mu(name):
    torch.manual_seed(0)
    model = models.build(name, latent_dim=4).eval()
    x = torch.rand(32, 784)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        at_mean = losses.recon_nll(model.decode(mu), x).mean().item()
        first, second = bounds.elbo(model, x, seed=0), bounds.elbo(model, x, seed=1)
    assert first["recon"] != pytest.approx(at_mean)  # would be equal if eval used z = mu
    assert first["recon"] != second["recon"]  # different noise, different estimate
    assert bounds.elbo(model, x, seed=0) == first  # but seeded: repeatable


def test_bernoulli_entropy_floor_is_a_lower_bound():
    x = torch.rand(5, 784)
    floor = losses.bce_floor(x)
    assert floor.shape == (5,)
    torch.testing.assert_close(losses.recon_nll(torch.logit(x), x), floor)  # reached at p = x
    assert (losses.recon_nll(torch.logit(x.clamp(0.1, 0.9)), x) >= floor).all()
    assert losses.bce_floor(torch.tensor([[0.0, 1.0]])).item() == 0.0
