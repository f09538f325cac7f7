"""Learned priors and the hierarchical VAE: densities that integrate to one, KL estimates that
agree with the closed form, ELBO terms that agree with a direct Monte Carlo estimate."""

import dataclasses
import math

import pytest
import torch
from torch.distributions import Normal

from vaelab import bounds, evaluate, gaussian, losses, models, priors
from vaelab.workshop import runs


def grid(d: int, half: float = 12.0, n: int = 1201):
    """A regular grid over [-half, half]^d and the volume of one cell."""
    axis = torch.linspace(-half, half, n, dtype=torch.float64)
    cell = (axis[1] - axis[0]).item() ** d
    points = torch.cartesian_prod(*([axis] * d)).reshape(-1, d) if d > 1 else axis[:, None]
    return points, cell


# --- The mixture density ------------------------------------------------------------------------


@pytest.mark.parametrize("d, n", [(1, 4001), (2, 601)])
def test_a_learned_mixture_is_normalised(d, n):
    torch.manual_seed(0)
    prior = priors.MixturePrior(d, n_components=5)
    with torch.no_grad():
        prior.means.mul_(2)
        prior.logvars.uniform_(-2, 1)
        prior.logits.normal_()
        log_w, mu, logvar = (t.double() for t in prior.components())
    points, cell = grid(d, n=n)
    mass = (gaussian.log_mixture(points, log_w, mu, logvar).exp().sum() * cell).item()
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_a_vamp_prior_is_normalised_in_two_dimensions():
    torch.manual_seed(0)
    model = models.build("vae", latent_dim=2, prior="vamp", components=7, hidden=16).double()
    with torch.no_grad():
        model.prior.pseudo_inputs.uniform_(0, 1)  # pseudo-inputs that differ, so the components do
    points, cell = grid(2, n=601)
    with torch.no_grad():
        mass = (gaussian.log_mixture(points, *model.prior_components()).exp().sum() * cell).item()
    assert mass == pytest.approx(1.0, abs=1e-4)


def test_the_mixture_density_is_the_weighted_sum_of_its_gaussians():
    torch.manual_seed(1)
    log_w = torch.log_softmax(torch.randn(4, dtype=torch.float64), 0)
    mu, logvar = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    z = 2 * torch.randn(10, 3, dtype=torch.float64)
    direct = sum(log_w[k].exp() * Normal(mu[k], (0.5 * logvar[k]).exp()).log_prob(z).sum(1).exp() for k in range(4))
    torch.testing.assert_close(gaussian.log_mixture(z, log_w, mu, logvar), direct.log())
    marginal = gaussian.log_mixture_marginals(z, log_w, mu, logvar)
    for j in range(3):
        torch.testing.assert_close(marginal[:, j], gaussian.log_mixture(z[:, j:j + 1], log_w, mu[:, j:j + 1],
                                                                            logvar[:, j:j + 1]))


def test_mixture_samples_have_the_mixtures_moments():
    log_w = torch.log(torch.tensor([0.25, 0.75]))
    mu, logvar = torch.tensor([[-3.0, 0.0], [1.0, 2.0]]), torch.log(torch.tensor([[0.25, 1.0], [1.0, 4.0]]))
    z = gaussian.sample_mixture(200_000, log_w, mu, logvar, generator=torch.Generator().manual_seed(0))
    mean = 0.25 * mu[0] + 0.75 * mu[1]
    var = 0.25 * (logvar[0].exp() + mu[0] ** 2) + 0.75 * (logvar[1].exp() + mu[1] ** 2) - mean ** 2
    torch.testing.assert_close(z.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(z.var(0), var, atol=0.05, rtol=0.01)
    again = gaussian.sample_mixture(200_000, log_w, mu, logvar, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, z)  # seeded: the same codes


# --- The KL of a learned prior --------------------------------------------------------------------


def test_with_one_component_at_the_standard_normal_the_monte_carlo_kl_is_the_closed_form():
    torch.manual_seed(0)
    model = models.build("vae", latent_dim=4, prior="mog", components=1, hidden=32)
    with torch.no_grad():
        model.prior.means.zero_()
        model.prior.logvars.zero_()
        model.fc22.bias.fill_(-2.0)  # a posterior narrower than the prior: a KL of a few nats
    x = torch.rand(3, 784).repeat(40_000, 1)
    with torch.no_grad():
        _, kl = model.elbo_terms(x)
        mu, logvar = model.encode(x[:3])
    assert kl.shape == (len(x), 1)
    exact = gaussian.kl_standard_normal(mu, logvar).sum(dim=1)
    estimate = kl[:, 0].reshape(40_000, 3)
    stderr = estimate.std(0) / math.sqrt(40_000)
    assert ((estimate.mean(0) - exact).abs() < 4 * stderr).all(), (estimate.mean(0), exact)
    assert (exact > 2).all()


def test_free_bits_of_a_group_allow_lambda_nats_per_dimension():
    kl = torch.tensor([[0.1, 2.0, 3.0]])  # a dimension of z1, one of z1, then z2 (4 dimensions) as one group
    groups = torch.tensor([1.0, 1.0, 4.0])
    loss = losses.neg_elbo(torch.zeros(1, 784), torch.zeros(1, 784), kl, free_bits=0.5, groups=groups)
    recon = losses.recon_nll(torch.zeros(1, 784), torch.zeros(1, 784)).item()
    assert loss.kl.item() == pytest.approx(5.1)
    assert loss.total.item() == pytest.approx(recon + 0.5 + 2.0 + 3.0)  # max(0.5, 0.1), 2.0, max(2.0, 3.0)


def test_the_standard_prior_keeps_the_closed_form_loss_bit_for_bit():
    torch.manual_seed(0)
    model, x = models.VAE(latent_dim=5, hidden=32), torch.rand(16, 784)
    torch.manual_seed(1)
    logits, mu, logvar = model(x)
    plain = losses.neg_elbo(logits, x, gaussian.kl_standard_normal(mu, logvar), beta=0.7, free_bits=0.3)
    torch.manual_seed(1)
    logits, kl = model.elbo_terms(x)
    general = losses.neg_elbo(logits, x, kl, beta=0.7, free_bits=0.3, groups=model.kl_groups)
    assert all(torch.equal(a, b) for a, b in zip(plain, general))


# --- The hierarchical VAE ---------------------------------------------------------------------------


@pytest.mark.parametrize("prior", ["normal", "vamp"])
def test_hierarchical_elbo_terms_agree_with_a_direct_monte_carlo_estimate(prior):
    """recon + KL from ``elbo_terms`` against -(log p(x|z1,z2) + log p(z1|z2) + log p(z2) - log q(z1|x,z2)
    - log q(z2|x)) with the densities written out here (torch.distributions)."""
    torch.manual_seed(0)
    model = models.build("hvae", latent_dim=4, prior=prior, components=3, hidden=(64, 32)).double()
    x = torch.rand(2, 784, dtype=torch.float64)
    n = 20_000
    with torch.no_grad():
        logits, kl = model.elbo_terms(x.repeat(n, 1))
        ours = (losses.recon_nll(logits, x.repeat(n, 1)) + kl.sum(1)).reshape(n, 2)
        h = model.trunk(x.repeat(n, 1))
        mu2, logvar2 = model.q_z2(h).chunk(2, dim=-1)
        q2 = Normal(mu2, (0.5 * logvar2).exp())
        z2 = q2.sample()
        mu1, logvar1 = model.q_z1(torch.cat([h, z2], -1)).chunk(2, dim=-1)
        q1 = Normal(mu1, (0.5 * logvar1).exp())
        z1 = q1.sample()
        pm, plv = model.p_z1(z2).chunk(2, dim=-1)
        log_p1 = Normal(pm, (0.5 * plv).exp()).log_prob(z1).sum(1)
        if prior == "normal":
            log_p2 = Normal(0.0, 1.0).log_prob(z2).sum(1)
        else:
            means, logvars = model.q_z2(model.trunk(model.prior.images())).chunk(2, dim=-1)
            comp = Normal(means, (0.5 * logvars).exp())
            log_p2 = torch.logsumexp(comp.log_prob(z2[:, None, :]).sum(-1), 1) - math.log(3)
        log_px = -losses.recon_nll(model.decode(torch.cat([z1, z2], -1)), x.repeat(n, 1))
        direct = -(log_px + log_p1 + log_p2 - q1.log_prob(z1).sum(1) - q2.log_prob(z2).sum(1)).reshape(n, 2)
    stderr = (ours.var(0) / n + direct.var(0) / n).sqrt()
    assert ((ours.mean(0) - direct.mean(0)).abs() < 4 * stderr).all(), (ours.mean(0), direct.mean(0), stderr)


@pytest.mark.parametrize("name, prior", [("hvae", "normal"), ("hvae", "mog"), ("vae", "vamp"), ("vae", "mog")])
def test_importance_weights_use_the_models_own_densities(name, prior):
    """With k = 1 the importance-sampled -ELBO is the model's -ELBO in expectation."""
    torch.manual_seed(0)
    model = models.build(name, latent_dim=4, prior=prior, components=3, hidden=32 if name == "vae" else (64, 32))
    x = torch.rand(2, 784)
    n = 4000
    with torch.no_grad():
        logits, kl = model.elbo_terms(x.repeat(n, 1))
        ours = (losses.recon_nll(logits, x.repeat(n, 1)) + kl.sum(1)).reshape(n, 2)
    iw = bounds.importance_sampled_bounds(model, x.repeat(n, 1), k=1, batch_size=1000)
    stderr = 2 * (ours.var(0).mean() / (2 * n)).sqrt()
    assert iw["neg_elbo"] == pytest.approx(ours.mean().item(), abs=4 * stderr.item())
    tight = bounds.importance_sampled_bounds(model, x, k=200)
    assert tight["nll"] <= tight["neg_elbo"]


@pytest.mark.parametrize("prior", ["normal", "mog"])
def test_hierarchical_mean_kl_by_dimension_sums_to_the_kl_with_a_standard_top(prior):
    torch.manual_seed(0)
    model = models.build("hvae", latent_dim=6, prior=prior, components=4, hidden=(64, 32))
    x = torch.rand(3, 784).repeat(5000, 1)
    per_dim = evaluate.mean_kl_by_dimension(model, x)
    with torch.no_grad():
        total = model.elbo_terms(x)[1].sum(1).mean().item()
    assert per_dim.shape == (6,) and (per_dim[:3] >= 0).all()
    if prior == "normal":
        assert per_dim.sum().item() == pytest.approx(total, rel=0.02)
    assert list(model.latent_layers) == ["z1", "z2"]


def test_active_units_are_counted_per_layer():
    torch.manual_seed(0)
    model = models.build("hvae", latent_dim=6, hidden=(64, 32))
    with torch.no_grad():
        model.q_z2.weight[:3].zero_()  # z2's means no longer depend on x: a collapsed top layer
        model.q_z2.bias[:3].zero_()
        model.q_z1[-1].weight.mul_(20)  # z1's means move with the image
    x = 10 * torch.rand(500, 1).expand(500, 784)  # inputs from black to ten times white: codes that move
    per_layer = evaluate.active_units_by_layer(model, x)
    assert per_layer["z2"] == 0 and per_layer["z1"] == 3


def test_prior_samples_come_from_the_learned_prior():
    model = models.build("vae", latent_dim=2, prior="mog", components=1, hidden=16)
    with torch.no_grad():
        model.prior.means.fill_(5.0)
        model.prior.logvars.fill_(-20.0)
    z = model.sample_latent(4, torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, torch.full((4, 2), 5.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(evaluate.sample_prior(model, 4), torch.sigmoid(model.decode(z)).detach(), atol=1e-4, rtol=0)
    hier = models.build("hvae", latent_dim=4, hidden=(32, 16))
    cold = hier.sample_latent(3, torch.Generator().manual_seed(0), temperature=0.0)
    with torch.no_grad():
        assert torch.equal(cold[:, 2:], torch.zeros(3, 2))
        torch.testing.assert_close(cold[:, :2], hier.p_z1(torch.zeros(3, 2)).chunk(2, -1)[0])  # z1 = mean of p(z1|z2=0)


# --- Training and configs -------------------------------------------------------------------------


@pytest.mark.parametrize("model, prior", [("deep-vae", "vamp"), ("hvae", "mog")])
def test_a_learned_prior_trains_and_its_parameters_are_saved(tmp_path, model, prior):
    x = torch.rand(64, 784)
    cfg = runs.TrainConfig(model=model, latent_dim=4, prior=prior, components=5, epochs=2, batch_size=32,
                            free_bits=0.1, device="cpu")
    run = runs.fit(cfg, x, x[:16], tmp_path / "run", progress=False)
    assert run.history[-1]["train_kl"] > 0
    assert any(name.startswith("prior.") for name in run.model.state_dict())
    again = runs.load_run(tmp_path / "run")
    for (k, a), b in zip(run.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert f"{prior}5" in runs.run_dir(cfg).name


@pytest.mark.parametrize("fields, message", [
    ({"prior": "flat"}, "prior must be one of normal, mog, vamp"),
    ({"model": "ae", "prior": "vamp"}, "needs a VAE"),
    ({"model": "hvae", "latent_dim": 5}, "must be even"),
    ({"prior": "mog", "components": 0}, "components must be a whole number from 1"),
])
def test_prior_options_are_checked(fields, message):
    with pytest.raises(runs.ConfigError, match=message):
        runs.TrainConfig(**fields).validate()


def test_the_kl_splits_into_information_and_the_priors_gap():
    """Codes that ignore the image: q(z|x) = N(m, s^2) for every x gives I(x; z) = 0 and
    KL(q(z) || p(z)) = KL(N(m, s^2) || N(0, 1)); a prior equal to that posterior closes the gap."""
    torch.manual_seed(0)
    model = models.build("vae", latent_dim=2, hidden=8)
    with torch.no_grad():
        for layer in (model.fc21, model.fc22):
            layer.weight.zero_()
        model.fc21.bias.copy_(torch.tensor([1.0, -0.5]))
        model.fc22.bias.fill_(math.log(0.25))
    x = torch.rand(300, 784)
    gap = evaluate.prior_gap(model, x, n=4000)
    assert gap["marginal_kl"] == pytest.approx(gap["kl"], abs=0.04) and abs(gap["mutual_information"]) < 0.04  # Monte Carlo
    assert gap["kl"] == pytest.approx(0.5 * (2 * 0.25 - 2 - 2 * math.log(0.25) + 1.25), rel=1e-5)
    learned = models.build("vae", latent_dim=2, prior="mog", components=1, hidden=8)
    learned.load_state_dict(model.state_dict(), strict=False)
    with torch.no_grad():
        learned.prior.means.copy_(torch.tensor([[1.0, -0.5]]))
        learned.prior.logvars.fill_(math.log(0.25))
    closed = evaluate.prior_gap(learned, x, n=4000)
    assert abs(closed["marginal_kl"]) < 1e-6 and abs(closed["kl"]) < 0.05  # the one-draw KL estimate: about 0


def test_the_split_of_a_learned_priors_kl_is_the_joint_kl_not_a_sum_over_dimensions():
    """With a two-component mixture prior the per-dimension marginal KLs do not add up to the KL:
    prior_gap's KL must be E_x E_q[log q(z|x) - log p(z)], estimated here independently."""
    torch.manual_seed(0)
    model = models.build("vae", latent_dim=2, prior="mog", components=2, hidden=8)
    with torch.no_grad():
        model.prior.means.copy_(torch.tensor([[2.0, 2.0], [-2.0, -2.0]]))  # correlated across dimensions
        model.prior.logvars.fill_(math.log(0.3))
    x = torch.rand(400, 784)
    gap = evaluate.prior_gap(model, x, n=4000)
    with torch.no_grad():
        mu, logvar = model.encode(x)
        mu, logvar = mu.double().repeat(50, 1), logvar.double().repeat(50, 1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu, generator=torch.Generator().manual_seed(1))
        log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
        log_p = gaussian.log_mixture(z, *(t.double() for t in model.prior_components()))
    direct = (log_q - log_p).mean().item()
    assert gap["kl"] == pytest.approx(direct, abs=0.1)
    assert abs(evaluate.mean_kl_by_dimension(model, x).sum().item() - direct) > 0.5  # the sum would have been wrong
    assert gap["mutual_information"] == pytest.approx(gap["kl"] - gap["marginal_kl"])


def test_the_information_estimate_is_capped_at_log_n_and_says_so():
    """Codes that tell every image apart (tiny posteriors far from each other): the true I(x; z)
    is huge, but the estimate with q(z) a mixture of the N posteriors cannot exceed log N, which
    prior_gap reports beside it, so that a table never reads a cap as a measurement."""
    torch.manual_seed(0)
    model = models.build("vae", latent_dim=2, hidden=8)
    with torch.no_grad():
        model.fc22.weight.zero_()
        model.fc22.bias.fill_(math.log(1e-6))  # sigma = 0.001
    x = torch.rand(50, 784)
    gap = evaluate.prior_gap(model, x, n=1000)
    assert gap["information_cap"] == pytest.approx(math.log(50))
    assert gap["mutual_information"] <= gap["information_cap"] + 1e-9
    assert gap["mutual_information"] == pytest.approx(gap["information_cap"], abs=0.1)  # reached: a cap, not a value


def test_posterior_samples_are_seeded_draws_of_each_models_q():
    torch.manual_seed(0)
    model = models.build("hvae", latent_dim=4, hidden=(32, 16))
    x = torch.rand(50, 784)
    a = evaluate.sample_posterior(model, x, seed=3)
    assert a.shape == (50, 4) and torch.equal(a, evaluate.sample_posterior(model, x, seed=3))
    assert not torch.equal(a, evaluate.sample_posterior(model, x, seed=4))
    flat = models.build("vae", latent_dim=2, hidden=8)
    with torch.no_grad():
        flat.fc22.bias.fill_(-40.0)  # a posterior that is a point: the draw is the mean
    torch.testing.assert_close(evaluate.sample_posterior(flat, x), evaluate.encode_mean(flat, x))


def test_components_name_another_run_only_for_a_learned_prior():
    plain = dataclasses.asdict(runs.TrainConfig(model="deep-vae"))
    assert runs.same_config(plain, {**plain, "components": 7})  # N(0, I) has no components
    mog = dataclasses.asdict(runs.TrainConfig(model="deep-vae", prior="mog", components=100))
    assert not runs.same_config(mog, {**mog, "components": 7})
    older = {k: v for k, v in plain.items() if k not in ("prior", "components")}  # a record from before priors
    assert runs.same_config(older, plain) and not runs.same_config(older, mog)
