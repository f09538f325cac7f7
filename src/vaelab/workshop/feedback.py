"""The checks of the assignment's exercises (``vaelab.workshop.exercises`` runs them), one per exercise.

Each tries the student's function on small, fixed inputs against known answers and properties and
raises ``Wrong`` with what is wrong, in words a student can act on, never the answer. References
come from PyTorch itself (``torch.distributions``, ``binary_cross_entropy_with_logits``), never from
the lesson's own solution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import distributions as D


class Wrong(AssertionError):
    """What a check found wrong, in words for the student."""


def expect(condition, message: str) -> None:
    if not condition:
        raise Wrong(message)


def close(a, b, tol: float = 1e-4) -> bool:
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=tol, atol=tol))


def numbers(t) -> str:
    return ", ".join(f"{v:.4g}" for v in torch.as_tensor(t, dtype=torch.float64).flatten()[:4].tolist())


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def check_reparameterize():
    from vaelab import gaussian

    g = _generator()
    mu, eps = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    z = gaussian.reparameterize(mu, torch.zeros(4, 3), eps)
    expect(isinstance(z, torch.Tensor) and z.shape == mu.shape, f"z has shape {tuple(getattr(z, 'shape', ()))}, "
           f"expected one code per row of mu, {tuple(mu.shape)}")
    expect(close(gaussian.reparameterize(mu, torch.zeros(4, 3), torch.zeros(4, 3)), mu),
           "with eps = 0 your z is not mu: the code must be centred on the encoder's mean")
    expect(close(z - mu, eps), "with log-variance 0 (sigma = 1), z - mu should be eps itself; yours is not")
    expect(close(gaussian.reparameterize(mu.double(), torch.zeros(4, 3, dtype=torch.float64), eps.double()) - mu, eps),
           "your reparameterisation fails in float64")
    nine = torch.full((4, 3), math.log(9.0))
    expect(close(gaussian.reparameterize(mu, nine, eps) - mu, 3 * eps),
           "with log-variance log 9 (sigma = 3), z - mu should be 3 * eps: remember logvar is log sigma^2, "
           "the log of the variance, not of sigma")
    draws = gaussian.reparameterize(torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(0.25)))
    expect(abs(draws.mean().item() - 2.0) < 0.02 and abs(draws.std().item() - 0.5) < 0.02,
           f"without eps, 20,000 draws for mu = 2, sigma = 0.5 have mean {draws.mean().item():.3f} and standard "
           f"deviation {draws.std().item():.3f}: draw eps ~ N(0, I) shaped like mu (torch.randn_like)")
    mu, logvar = torch.zeros(2, 3, requires_grad=True), torch.zeros(2, 3, requires_grad=True)
    z = gaussian.reparameterize(mu, logvar, torch.ones(2, 3))
    expect(z.requires_grad, "gradients do not reach mu or logvar: build z from them with tensor operations, without "
           ".detach(), .item() or torch.no_grad()")
    z.sum().backward()
    expect(mu.grad is not None and close(mu.grad, torch.ones(2, 3)), "gradients do not reach mu as they should "
           "(dz/dmu = 1): build z from mu with tensor operations, without .detach() or .item()")
    expect(logvar.grad is not None and bool((logvar.grad.abs() > 0).all()),
           "gradients do not reach logvar: z must depend on logvar through differentiable operations")


def check_kl_standard_normal():
    from vaelab import gaussian

    g = _generator()
    mu, logvar = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    kl = gaussian.kl_standard_normal(mu, logvar)
    expect(isinstance(kl, torch.Tensor) and kl.shape == (5, 4), f"your KL has shape {tuple(getattr(kl, 'shape', ()))}: "
           f"return one value per image and latent dimension, (5, 4) here, without summing")
    expect(close(gaussian.kl_standard_normal(torch.zeros(3, 2), torch.zeros(3, 2)), torch.zeros(3, 2)),
           "your KL is not 0 when q equals the prior (mu = 0, log-variance 0)")
    expect(bool((kl >= -1e-6).all()), f"your KL is negative for some inputs ({numbers(kl[kl < 0])}): a KL never is; "
           f"check the sign")
    exact = D.kl_divergence(D.Normal(mu, torch.exp(0.5 * logvar)), D.Normal(0.0, 1.0))
    expect(close(kl, exact), f"your KL is {numbers(kl)} where KL(N(mu, sigma^2) || N(0, 1)) is {numbers(exact)}: "
           f"check the factor 1/2 and which terms are variances and which log-variances")
    expect(close(gaussian.kl_standard_normal(mu.double(), logvar.double()), exact), "your KL fails in float64")
    mu, logvar = torch.ones(1, 2, requires_grad=True), torch.ones(1, 2, requires_grad=True)
    gaussian.kl_standard_normal(mu, logvar).sum().backward()
    expect(mu.grad is not None and logvar.grad is not None, "gradients do not reach mu and logvar")


def check_recon_nll():
    from vaelab import losses

    x = torch.rand(3, 784, generator=_generator())
    half = losses.recon_nll(torch.zeros(3, 784), x)
    expect(isinstance(half, torch.Tensor) and half.shape == (3,), f"your reconstruction term has shape "
           f"{tuple(getattr(half, 'shape', ()))}: return one number per image, (3,) here (sum over the pixels)")
    expect(close(half, torch.full((3,), 784 * math.log(2))), f"with p = 0.5 on every pixel an image costs 784 log 2 = "
           f"{784 * math.log(2):.2f} nats, whatever its pixels; yours costs {numbers(half)}")
    logits = 3 * torch.randn(3, 784, generator=_generator(1))
    exact = -D.Bernoulli(logits=logits, validate_args=False).log_prob(x).sum(dim=1)
    ours = losses.recon_nll(logits, x)
    expect(close(ours, exact), f"your reconstruction term is {numbers(ours)} where -log p(x|z) is {numbers(exact)}: "
           f"the decoder gives logits (before the sigmoid), and grey pixels are Bernoulli probabilities")
    expect(close(losses.recon_nll(logits.double(), x.double()), exact), "your reconstruction term fails in float64")
    extreme = losses.recon_nll(torch.tensor([[100.0, -100.0] * 392]), torch.tensor([[0.0, 1.0] * 392]))
    expect(bool(torch.isfinite(extreme).all()), "your reconstruction term is not finite for logits of +-100 "
           "(a confident, wrong decoder): compute it from the logits, not from sigmoid probabilities")
    expect(close(losses.recon_nll(logits, x.reshape(3, 1, 28, 28)), exact),
           "images come as (B, 1, 28, 28) too: reshape x like the logits")


def check_neg_elbo():
    from vaelab import losses

    g = _generator()
    logits, x = torch.randn(4, 784, generator=g), torch.rand(4, 784, generator=g)
    kl = torch.rand(4, 3, generator=g)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 4
    loss = losses.neg_elbo(logits, x, kl)
    expect(isinstance(loss, losses.Loss), f"return a losses.Loss(total, recon, kl), not a {type(loss).__name__}")
    expect(close(loss.recon, recon), f"recon is {numbers(loss.recon)}, expected the mean over the batch of each image's "
           f"reconstruction term, {numbers(recon)} (nats per image, not per batch)")
    expect(close(loss.kl, kl.sum(dim=1).mean()), f"kl is {numbers(loss.kl)}: sum each image's KL over its groups "
           f"(the columns of kl), then average over the images")
    expect(close(loss.total, recon + kl.sum(dim=1).mean()), "with beta = 1 the total is not recon + kl")
    weighted = losses.neg_elbo(logits, x, kl, beta=0.5)
    expect(close(weighted.total, recon + 0.5 * kl.sum(dim=1).mean()), "beta does not weight the KL term of the total")
    expect(close(weighted.kl, kl.sum(dim=1).mean()), "beta changed the kl reported: report the KL itself, "
           "weight it only in total")
    small = torch.tensor([[0.0, 2.0, 0.9], [0.2, 2.0, 0.1]])  # batch means 0.1, 2.0 and 0.5
    free = losses.neg_elbo(logits[:2], x[:2], small, free_bits=0.5)
    recon2 = F.binary_cross_entropy_with_logits(logits[:2], x[:2], reduction="sum") / 2
    expect(close(free.total, recon2 + 0.5 + 2.0 + 0.5), "with free bits 0.5, a dimension whose KL (averaged over the "
           "batch) is below 0.5 should cost 0.5 in total, one above it its KL")
    expect(close(free.kl, torch.tensor(2.6)), "free bits changed the kl reported: report the KL itself")
    grouped = losses.neg_elbo(logits[:2], x[:2], torch.tensor([[0.1, 1.0], [0.1, 1.0]]), free_bits=0.5,
                              groups=torch.tensor([1.0, 4.0]))
    expect(close(grouped.total, recon2 + 0.5 + 2.0), "with groups, free bits allow lambda nats per dimension of a "
           "group: a group of 4 dimensions with a KL of 1.0 should cost 4 x 0.5 = 2.0")


def check_train_step():
    from vaelab import losses, training

    class Tiny(torch.nn.Module):  # a stand-in model whose "ELBO terms" are simple
        kl_groups = None

        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(6, 6)

        def elbo_terms(self, x):
            return self.layer(x), None

    seen = {}

    def simple_loss(logits, x, kl, beta=1.0, free_bits=0.0, groups=None):  # stands in for exercise 4
        seen.update(beta=beta)
        error = ((logits - x) ** 2).mean()
        return losses.Loss(error, error, torch.zeros(()))

    torch.manual_seed(0)
    model, x = Tiny(), torch.rand(5, 6, generator=_generator())
    before = [p.detach().clone() for p in model.parameters()]
    gradients = torch.autograd.grad(simple_loss(model.elbo_terms(x)[0], x, None).total, list(model.parameters()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for p in model.parameters():
        p.grad = torch.full_like(p, 100.0)  # the gradients of an earlier batch
    real, losses.neg_elbo = losses.neg_elbo, simple_loss
    try:
        loss = training.train_step(model, optimizer, x, kl_weight=0.3)
        after = [p.detach().clone() for p in model.parameters()]
        expect(seen.get("beta") == 0.3, "train_step must compute the loss with losses.neg_elbo, kl_weight as its beta")
        expect(isinstance(loss, losses.Loss), "train_step must return the batch's Loss")
        expect(not all(torch.equal(a, b) for a, b in zip(before, after)), "your step did not change the weights: "
               "the gradients come from loss.total.backward(), and optimizer.step() applies them")
        expected = [b - 0.1 * grad for b, grad in zip(before, gradients)]
        stale = [b - 0.1 * (grad + 100.0) for b, grad in zip(before, gradients)]
        expect(not all(close(a, s) for a, s in zip(after, stale)), "the update used the gradients of an earlier batch "
               "too: zero the gradients (optimizer.zero_grad()) before backward")
        expect(all(close(a, e, 1e-5) for a, e in zip(after, expected)), "the update is not one optimiser step along "
               "the gradient of this batch's loss: zero the gradients, then backward, then step, once each")
        broken = x.clone()
        broken[0, 0] = float("nan")
        try:
            training.train_step(model, optimizer, broken)
        except training.NonFiniteLoss:
            pass
        else:
            raise Wrong("a batch whose loss is nan did not raise NonFiniteLoss")
        expect(all(torch.equal(a, p.detach()) for a, p in zip(after, model.parameters())),
               "a batch whose loss is nan changed the weights: check the loss before the step")
    finally:
        losses.neg_elbo = real


def check_kl_weight():
    from vaelab import losses

    weights = [losses.kl_weight(step, 4, beta=2.0) for step in range(7)]
    expect(close(weights, [0.0, 0.5, 1.0, 1.5, 2.0, 2.0, 2.0]), f"over a warm-up of 4 steps to beta = 2, steps 0 to 6 "
           f"should weigh 0, 0.5, 1, 1.5, 2, 2, 2; yours weigh {', '.join(f'{w:g}' for w in weights)}")
    expect(losses.kl_weight(0, 0, beta=0.5) == 0.5, "without a warm-up (0 steps) the weight is beta from the first step")
    expect(losses.kl_weight(10**6, 100) == 1.0, "after the warm-up the weight must stay at beta (1 by default)")


def check_autoencoder_loss():
    from vaelab import losses

    g = _generator()
    logits, x = torch.randn(4, 784, generator=g), torch.rand(4, 784, generator=g)
    loss = losses.autoencoder_loss(logits, x)
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 4
    expect(isinstance(loss, losses.Loss), f"return a losses.Loss(total, recon, kl), not a {type(loss).__name__}")
    expect(close(loss.recon, recon), f"recon is {numbers(loss.recon)}, expected the batch mean of each image's "
           f"reconstruction term, {numbers(recon)}")
    expect(close(loss.total, loss.recon), "an autoencoder's total loss is its reconstruction term")
    expect(close(loss.kl, torch.tensor(0.0)), "an autoencoder has no KL term: report kl = 0")


def check_iwae_nll():
    from vaelab import bounds

    g = _generator()
    log_w = -1000 + 5 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    nll = bounds.iwae_nll(log_w)
    expect(isinstance(nll, torch.Tensor) and nll.shape == (3,), f"your bound has shape "
           f"{tuple(getattr(nll, 'shape', ()))}: one number per image, (3,) here, from log_w of shape (k, B) = (50, 3)")
    expect(bool(torch.isfinite(nll).all()), "your bound is not finite for log-weights near -1000: exponentiating them "
           "underflows to 0; a log-sum-exp never does")
    expect(close(bounds.iwae_nll(log_w[:1]), -log_w[0]), "with k = 1 the bound is -log w of the one sample (the -ELBO)")
    expect(close(bounds.iwae_nll(torch.full((7, 2), -3.0)), torch.tensor([3.0, 3.0])),
           "k equal weights w give -log w: here 3.0, whatever k (average the weights, do not add them)")
    shifted = log_w + 980
    expect(close(nll, -torch.log(torch.exp(shifted).mean(dim=0)) + 980, 1e-6),
           f"your bound is {numbers(nll)}, not -log of the mean of the k weights of each image")
    expect(bool((nll <= -log_w.mean(dim=0) + 1e-9).all()), "the bound must be at most the mean of -log w (Jensen)")


def check_log_mixture():
    from vaelab import gaussian

    g = _generator()
    k, d = 3, 2
    log_w = torch.log_softmax(torch.randn(k, generator=g), dim=0)
    mu, logvar = torch.randn(k, d, generator=g), 0.5 * torch.randn(k, d, generator=g)
    z = 2 * torch.randn(5, d, generator=g)
    ours = gaussian.log_mixture(z, log_w, mu, logvar)
    mixture = D.MixtureSameFamily(D.Categorical(logits=log_w), D.Independent(D.Normal(mu, torch.exp(0.5 * logvar)), 1))
    exact = mixture.log_prob(z)
    expect(isinstance(ours, torch.Tensor) and ours.shape == (5,), f"your log-density has shape "
           f"{tuple(getattr(ours, 'shape', ()))}: one number per code, (5,) for z of shape (5, 2)")
    one = gaussian.log_mixture(z, torch.zeros(1), torch.zeros(1, d), torch.zeros(1, d))
    expect(close(one, D.Independent(D.Normal(torch.zeros(d), 1.0), 1).log_prob(z)),
           "with one component N(0, I) your log-density is not the standard normal's")
    expect(close(ours, exact), f"your log-density is {numbers(ours)} where log sum_k w_k N(z; m_k, s_k^2) is "
           f"{numbers(exact)}: log_w holds log-weights, logvar log-variances")
    expect(close(gaussian.log_mixture(z.double(), log_w.double(), mu.double(), logvar.double()), exact),
           "your log-density fails in float64")
    expect(close(gaussian.log_mixture(z[None].expand(4, 5, d), log_w, mu, logvar), exact.expand(4, 5)),
           "codes of shape (4, 5, 2) should give (4, 5): keep every leading dimension of z")
    far = gaussian.log_mixture(torch.full((1, d), 60.0), log_w, mu, logvar)
    expect(bool(torch.isfinite(far).all()), "your log-density is not finite far from every component: sum the "
           "weighted densities with a log-sum-exp, never exponentiate them one by one")


CHECKS = {1: check_reparameterize, 2: check_kl_standard_normal, 3: check_recon_nll, 4: check_neg_elbo,
          5: check_train_step, 6: check_kl_weight, 7: check_autoencoder_loss, 8: check_log_mixture, 9: check_iwae_nll}


