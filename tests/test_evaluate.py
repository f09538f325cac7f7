"""Helpers that measure trained models."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from vaelab import bounds, evaluate, gaussian, losses, models
from vaelab.workshop import classifier


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


# --- Hand-made models -------------------------------------------------------------------------


class Toy(models.Model):
    """A model with the course's interface whose encoder and decoder are set by hand:
    mu = (mean pixel - 0.5) * scales + shift, logvar = logvar (constant); logits = z @ weight + bias."""

    def __init__(self, scales, shift=0.0, logvar=0.0, weight=None, bias=0.0):
        super().__init__()
        scales = torch.as_tensor(scales, dtype=torch.float32)
        self.latent_dim = len(scales)
        self.register_buffer("scales", scales)
        self.register_buffer("shift", torch.as_tensor(shift, dtype=torch.float32).expand(self.latent_dim).clone())
        self.register_buffer("log_var", torch.as_tensor(logvar, dtype=torch.float32).expand(self.latent_dim).clone())
        self.weight = nn.Parameter(torch.zeros(self.latent_dim, 784) if weight is None else weight)
        self.bias = nn.Parameter(torch.as_tensor(bias, dtype=torch.float32).expand(784).clone())

    def encode(self, x):
        t = x.reshape(len(x), -1).mean(dim=1, keepdim=True) - 0.5
        return t * self.scales + self.shift, self.log_var.expand(len(x), -1)

    def decode(self, z):
        return z @ self.weight + self.bias

    def forward(self, x):
        mu, logvar = self.encode(x)
        return self.decode(gaussian.reparameterize(mu, logvar)), mu, logvar


def small_vae(latent_dim=2, seed=0):
    torch.manual_seed(seed)
    return models.VAE(latent_dim=latent_dim, hidden=16)


# --- Importance-sampled NLL -------------------------------------------------------------------


def test_iwae_is_exact_when_q_is_the_prior_and_the_decoder_ignores_z():
    # q(z|x) = p(z) and p(x|z) = p(x): every weight is p(x), so the bound is log p(x) for any k.
    torch.manual_seed(0)
    model = Toy(scales=[0.0, 0.0], bias=torch.randn(784))
    x = torch.rand(6, 784)
    exact = F.binary_cross_entropy_with_logits(model.bias.expand(6, 784), x, reduction="none").sum(1).mean().item()
    for k in (1, 7):
        iw = bounds.importance_sampled_bounds(model, x, k=k, batch_size=4)
        assert iw["nll"] == pytest.approx(exact, rel=1e-5)
        assert iw["neg_elbo"] == pytest.approx(exact, rel=1e-5)


def test_iwae_converges_to_the_log_likelihood_computed_by_quadrature():
    # One latent dimension: log p(x) = log of the integral of p(x|z) N(z; 0, 1) over a fine grid.
    model, x = small_vae(latent_dim=1), torch.rand(4, 784)
    with torch.no_grad():
        z = torch.linspace(-10, 10, 20001)[:, None]
        logits = model.decode(z)
        log_joint = torch.stack([-losses.recon_nll(logits, xi.expand(len(z), 784)) for xi in x]).double()
        log_joint += -0.5 * z[:, 0].double() ** 2 - 0.5 * math.log(2 * math.pi)
        nll = -(torch.logsumexp(log_joint, dim=1) + math.log(20 / 20000)).mean().item()
    assert bounds.importance_sampled_bounds(model, x, k=4000)["nll"] == pytest.approx(nll, abs=0.05)
    assert bounds.importance_sampled_bounds(model, x, k=1)["nll"] > nll + 2  # the one-sample bound is loose


def test_iwae_with_one_sample_is_the_neg_elbo_in_expectation():
    # An encoder far from the prior (KL 3.9 nats), so a missing log p(z) or log q(z|x) shows; a
    # gentle decoder keeps the spread of log w near 2 nats: standard errors about 0.015 nats.
    torch.manual_seed(0)
    model = Toy(scales=[4.0, -2.0], shift=[1.5, 2.0], logvar=[-2.0, -1.0], weight=0.05 * torch.randn(2, 784),
                bias=0.1 * torch.randn(784))
    x = torch.rand(1, 784).repeat(20000, 1)
    neg_elbo = bounds.elbo(model, x, seed=3)["neg_elbo"]  # analytic KL and one z per copy
    iw = bounds.importance_sampled_bounds(model, x, k=1, batch_size=5000)
    assert iw["nll"] == iw["neg_elbo"]
    assert iw["nll"] == pytest.approx(neg_elbo, abs=0.1)


def test_iwae_falls_with_k_and_stays_below_the_neg_elbo():
    model, x = small_vae(), torch.rand(50, 784)
    iw = [bounds.importance_sampled_bounds(model, x, k=k) for k in (1, 10, 100)]
    nlls = [b["nll"] for b in iw]
    assert nlls[0] > nlls[1] > nlls[2]
    assert all(b["nll"] <= b["neg_elbo"] for b in iw)
    assert nlls[2] < bounds.elbo(model, x)["neg_elbo"] - 1


def test_iwae_is_seeded_and_leaves_the_global_random_state_alone():
    model, x = small_vae(), torch.rand(10, 784)
    state = torch.get_rng_state()
    a = bounds.importance_sampled_bounds(model, x, k=5, seed=1)["nll"]
    assert torch.equal(torch.get_rng_state(), state)
    assert a == bounds.importance_sampled_bounds(model, x, k=5, seed=1)["nll"]
    assert a != bounds.importance_sampled_bounds(model, x, k=5, seed=2)["nll"]
    binary = bounds.importance_sampled_bounds(model, x, k=5, seed=1, binarize=True)["nll"]
    assert binary == bounds.importance_sampled_bounds(model, x, k=5, seed=1, binarize=True)["nll"] != a


def test_iwae_decodes_a_bounded_number_of_rows_at_a_time(monkeypatch):
    model, x = small_vae(), torch.rand(100, 784)
    reference = bounds.importance_sampled_bounds(model, x, k=500)["nll"]
    rows, decode = [], model.decode
    monkeypatch.setattr(model, "decode", lambda z: rows.append(len(z)) or decode(z))
    monkeypatch.setattr(bounds, "DECODER_ROWS", 1000)
    chunked = bounds.importance_sampled_bounds(model, x, k=500, batch_size=50)["nll"]
    assert max(rows) <= 1000 and sum(rows) == 500 * 100
    assert chunked == pytest.approx(reference, abs=0.5)  # another draw of the same estimate


def test_autoencoders_have_no_importance_bound_nor_kl():
    ae, x = models.AE(latent_dim=2), torch.rand(3, 784)
    with pytest.raises(ValueError, match="autoencoder"):
        bounds.importance_sampled_bounds(ae, x, k=2)["nll"]
    with pytest.raises(ValueError, match="autoencoder"):
        evaluate.mean_kl_by_dimension(ae, x)


# --- Active units and KL per dimension ----------------------------------------------------------


def test_active_units_counts_the_dimensions_whose_mean_moves_with_x():
    # mu_j = (mean pixel - 0.5) * s_j + 1: Var_x(mu_j) = s_j^2 Var(mean pixel), whatever the shift.
    x = torch.linspace(0, 1, 101)[:, None].expand(101, 784)
    spread = x.mean(dim=1).double().var().item()  # about 0.085
    scales = [1.0, 0.0, 0.5, 0.3]  # activities 0.086, 0, 0.021, 0.0077
    count, activity = evaluate.active_units(Toy(scales, shift=1.0), x)
    torch.testing.assert_close(activity, torch.tensor([s * s * spread for s in scales]))
    assert count == 2
    assert evaluate.active_units(Toy(scales, shift=1.0), x, threshold=0.005)[0] == 3


def test_the_mean_kl_by_dimension_sums_to_the_total_kl():
    model, x = small_vae(latent_dim=4), torch.rand(30, 784)
    per_dim = evaluate.mean_kl_by_dimension(model, x, batch_size=7)
    with torch.no_grad():
        total = gaussian.kl_standard_normal(*model.encode(x)).sum(dim=1).mean()
    assert per_dim.shape == (4,) and (per_dim >= 0).all()
    torch.testing.assert_close(per_dim.sum(), total)


def test_the_mean_kl_by_dimension_is_zero_for_a_collapsed_dimension():
    # Dimension 0: q = N(0, 1) = p (KL 0). Dimension 1: q = N(2, e^-1): KL = (4 + e^-1 - 1 + 1) / 2.
    model = Toy(scales=[0.0, 0.0], shift=[0.0, 2.0], logvar=[0.0, -1.0])
    per_dim = evaluate.mean_kl_by_dimension(model, torch.rand(5, 784))
    torch.testing.assert_close(per_dim, torch.tensor([0.0, (4 + math.exp(-1)) / 2]))


# --- Probes -----------------------------------------------------------------------------------


def blobs(n, classes=3, spread=0.3, seed=0):
    """Gaussian blobs in 5 dimensions around far-apart class centres: a separable problem."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, size=n)
    centres = 5.0 * np.eye(classes, 5)
    return torch.from_numpy(centres[labels] + spread * rng.standard_normal((n, 5))).float(), torch.from_numpy(labels)


def test_probes_are_perfect_on_separable_data():
    train_f, train_y = blobs(300, seed=0)
    test_f, test_y = blobs(100, seed=1)
    assert evaluate.linear_probe_accuracy(train_f, train_y, test_f, test_y) == 1.0
    assert evaluate.knn_accuracy(train_f, train_y, test_f, test_y, k=5) == 1.0


def test_linear_probe_whitens_and_knn_keeps_the_latent_scale():
    train_f, train_y = blobs(300, seed=0)
    test_f, test_y = blobs(100, seed=1)
    # Tiny features: without whitening, the L2 penalty would flatten the probe to chance.
    assert evaluate.linear_probe_accuracy(1e-4 * train_f, train_y, 1e-4 * test_f, test_y) == 1.0
    # Near-constant noise dimensions (an unused latent) must not swamp the distances of kNN.
    noise = np.random.default_rng(2).standard_normal((400, 100)) * 1e-3
    train_n, test_n = np.hstack([train_f, noise[:300]]), np.hstack([test_f, noise[300:]])
    assert evaluate.knn_accuracy(train_n, train_y, test_n, test_y) == 1.0


def test_linear_probe_finds_classes_in_tiny_differences_of_correlated_features():
    """Every feature is nearly the same shared signal and the classes live in tiny differences
    between features (what neighbouring pixels look like). Whitening scales those differences up
    to unit variance; standardising each feature would leave them tiny (accuracy 0.34)."""
    train_f, train_y = blobs(300, seed=0)
    test_f, test_y = blobs(100, seed=1)
    mixing = np.ones((5, 5)) + 1e-3 * np.random.default_rng(3).standard_normal((5, 5))
    shared = np.random.default_rng(4).standard_normal((400, 1)) * np.ones((1, 5))
    mixed = np.vstack([train_f, test_f]) @ mixing.astype(np.float32) * 1e-3 + shared
    assert evaluate.linear_probe_accuracy(mixed[:300], train_y, mixed[300:], test_y) == 1.0


def test_probes_are_at_chance_on_random_labels():
    rng = np.random.default_rng(0)
    features, labels = rng.standard_normal((3000, 5)), rng.integers(0, 4, size=3000)
    args = features[:2000], labels[:2000], features[2000:], labels[2000:]
    assert evaluate.linear_probe_accuracy(*args) == pytest.approx(0.25, abs=0.06)
    assert evaluate.knn_accuracy(*args) == pytest.approx(0.25, abs=0.06)


# --- Fréchet distance -------------------------------------------------------------------------


def test_frechet_distance_to_itself_is_zero_and_a_shift_adds_its_squared_norm():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((500, 6)) @ rng.standard_normal((6, 6))  # correlated features
    shift = np.array([1.0, -2.0, 0.0, 0.5, 3.0, 0.0])
    assert evaluate.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert evaluate.frechet_distance(a, a + shift) == pytest.approx(shift @ shift, abs=1e-6)
    assert evaluate.frechet_distance(torch.from_numpy(a).float(), torch.from_numpy(a + shift).float()) \
        == pytest.approx(shift @ shift, abs=1e-3)


def test_frechet_distance_is_symmetric():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((400, 4)), 2 * rng.standard_normal((300, 4)) @ rng.standard_normal((4, 4)) + 1
    assert evaluate.frechet_distance(a, b) == pytest.approx(evaluate.frechet_distance(b, a), rel=1e-9)
    assert evaluate.frechet_distance(a, b) > 1


def test_frechet_distance_of_diagonal_gaussians_has_its_closed_form():
    # N(m1, diag s1^2) vs N(m2, diag s2^2): ||m1 - m2||^2 + sum (s1 - s2)^2.
    rng = np.random.default_rng(2)
    m1, s1, m2, s2 = np.array([0.0, 1, 2]), np.array([1.0, 2, 0.5]), np.array([1.0, 1, 0]), np.array([3.0, 1, 0.5])
    a = m1 + s1 * rng.standard_normal((50000, 3))
    b = m2 + s2 * rng.standard_normal((50000, 3))
    expected = np.sum((m1 - m2) ** 2) + np.sum((s1 - s2) ** 2)  # 5 + 5 = 10
    assert evaluate.frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_frechet_distance_survives_dead_features():
    # A ReLU unit that never fires: a constant column, singular covariances.
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((300, 4)), rng.standard_normal((300, 4)) + 1
    a[:, 0] = b[:, 0] = 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distance = evaluate.frechet_distance(a, b)
    assert not caught  # no "Matrix is singular" warning: the offset handles it
    assert distance == pytest.approx(evaluate.frechet_distance(a[:, 1:], b[:, 1:]), abs=1e-3)


# --- The classifier of the Fréchet distance ---------------------------------------------------


def test_classifier_shapes_and_batched_features():
    torch.manual_seed(0)
    model, x = classifier.Classifier(), torch.rand(7, 784)
    assert model(x).shape == (7, 10)
    assert model(x.reshape(7, 1, 28, 28)).shape == (7, 10)
    features = classifier.features(model, x, batch_size=3)
    assert features.shape == (7, 128) and not features.requires_grad
    torch.testing.assert_close(features, model.features(x).detach())
    assert (features >= 0).all()  # post-ReLU activations


def stripes(n, seed=0):
    """Synthetic 10-class images: class c is a bright band on rows 2c+3 to 2c+5, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=generator)
    images = 0.3 * torch.rand(n, 28, 28, generator=generator)
    for c in range(10):
        images[labels == c, 2 * c + 3:2 * c + 6] += 0.7
    return images.reshape(n, 784), labels


def test_train_classifier_learns_saves_atomically_and_reuses(tmp_path, monkeypatch):
    train_x, train_y = stripes(512, seed=0)
    val_x, val_y = stripes(200, seed=1)
    untrained = classifier.accuracy(classifier.Classifier(), val_x, val_y)
    model = classifier.train_classifier(train_x, train_y, val_x, val_y, epochs=2, seed=0, folder=tmp_path,
                                        batch_size=32)
    trained = classifier.accuracy(model, val_x, val_y)
    assert trained > 0.5 and trained > untrained + 0.3
    assert [p.name for p in tmp_path.iterdir()] == ["classifier.safetensors"]  # no temporary file left
    config = classifier.saved_config(tmp_path / "classifier.safetensors")
    assert config["train"]["epochs"] == 2 and config["val_accuracy"] == pytest.approx(trained)

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of reusing the saved weights")

    monkeypatch.setattr(classifier.F, "cross_entropy", no_training)
    again = classifier.train_classifier(train_x, train_y, val_x, val_y, epochs=2, seed=0, folder=tmp_path,
                                        batch_size=32)
    for name, tensor in load_file(str(tmp_path / "classifier.safetensors")).items():
        torch.testing.assert_close(again.state_dict()[name], tensor)
    torch.testing.assert_close(again.state_dict()["head.weight"], model.state_dict()["head.weight"])
    with pytest.raises(AssertionError, match="trained again"):  # another config is not reused
        classifier.train_classifier(train_x, train_y, val_x, val_y, epochs=1, seed=0, folder=tmp_path, batch_size=32)


# --- A Gaussian mixture prior -----------------------------------------------------------------


def two_clusters(n=2000, seed=0):
    """Codes from two clusters: 80% around (-3, 0), 20% around (3, 1)."""
    rng = np.random.default_rng(seed)
    upper = rng.random(n) < 0.2
    centres = np.where(upper[:, None], [3.0, 1.0], [-3.0, 0.0])
    return torch.from_numpy(centres + 0.5 * rng.standard_normal((n, 2))).float()


def test_gmm_codes_follow_the_fitted_mixture():
    gmm = evaluate.fit_latent_gmm(two_clusters(), n_components=2, seed=0)
    z = evaluate.sample_gmm_codes(gmm, 4000, seed=0)
    assert z.shape == (4000, 2) and z.dtype == torch.float32
    right = z[:, 0] > 0
    assert right.float().mean().item() == pytest.approx(0.2, abs=0.03)
    torch.testing.assert_close(z[right].mean(0), torch.tensor([3.0, 1.0]), atol=0.1, rtol=0)
    torch.testing.assert_close(z[~right].std(0), torch.tensor([0.5, 0.5]), atol=0.05, rtol=0)
    assert right[:100].any() and not right[:100].all()  # shuffled, not sorted by component


def test_gmm_samples_are_decoded_probabilities_and_seeded():
    model = small_vae()
    gmm = evaluate.fit_latent_gmm(two_clusters(200), n_components=3, seed=0)
    samples = evaluate.sample_gmm(model, gmm, 25, seed=4, batch_size=10)
    assert samples.shape == (25, 784) and samples.min() >= 0 and samples.max() <= 1
    torch.testing.assert_close(samples, torch.sigmoid(model.decode(evaluate.sample_gmm_codes(gmm, 25, seed=4))))
    assert torch.equal(samples, evaluate.sample_gmm(model, gmm, 25, seed=4, batch_size=10))
    assert not torch.equal(samples, evaluate.sample_gmm(model, gmm, 25, seed=5, batch_size=10))
