"""The assignment's checks: the solution passes every one, and each classic mistake is caught with
words a student can act on. (The mistakes below are how students really get these wrong; this
file is left out of the student edition.)"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vaelab import bounds, gaussian, losses, training
from vaelab.workshop import exercises, feedback


def test_the_solution_passes_every_check():
    results = {n: exercises.run_check(n) for n in feedback.CHECKS}
    assert all(ok for ok, _ in results.values()), {n: said for n, (ok, said) in results.items() if not ok}


def test_every_exercise_is_marked_once_in_teaching_order_and_has_a_check():
    found = exercises.marked()
    assert [e.number for e in found] == list(range(1, len(found) + 1)) == sorted(feedback.CHECKS)
    assert [e.notebook for e in found] == sorted(e.notebook for e in found), "exercises follow the notebooks' order"
    assert all(e.points > 0 and e.minutes > 0 for e in found)
    assert {e.name for e in found} >= {"gaussian.reparameterize", "gaussian.kl_standard_normal", "losses.recon_nll",
                                       "losses.neg_elbo", "training.train_step", "losses.kl_weight",
                                       "losses.autoencoder_loss", "bounds.iwae_nll", "gaussian.log_mixture"}


# --- Classic mistakes ------------------------------------------------------------------------------


def sigma_is_exp_logvar(mu, logvar, eps=None):
    eps = torch.randn_like(mu) if eps is None else eps
    return mu + torch.exp(logvar) * eps  # the variance taken for the standard deviation


def eps_ignored(mu, logvar, eps=None):
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)  # fresh noise even when eps is given


def detached(mu, logvar, eps=None):
    eps = torch.randn_like(mu) if eps is None else eps
    return (mu + torch.exp(0.5 * logvar) * eps).detach()


def kl_sign_flipped(mu, logvar):
    return 0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def kl_without_the_half(mu, logvar):
    return -(1 + logvar - mu.pow(2) - logvar.exp())


def kl_summed(mu, logvar):
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)


def recon_mean_over_pixels(logits, x):
    return F.binary_cross_entropy_with_logits(logits, x.reshape(logits.shape), reduction="none").mean(dim=1)


def recon_logits_as_probabilities(logits, x):
    return F.binary_cross_entropy(logits.clamp(1e-6, 1 - 1e-6), x.reshape(logits.shape), reduction="none").sum(dim=1)


def elbo_summed_over_the_batch(logits, x, kl, beta=1.0, free_bits=0.0, groups=None):
    recon = losses.recon_nll(logits, x).sum()
    return losses.Loss(recon + beta * kl.sum(), recon, kl.sum())


def elbo_reports_the_weighted_kl(logits, x, kl, beta=1.0, free_bits=0.0, groups=None):
    recon, total = losses.recon_nll(logits, x).mean(), beta * kl.sum(dim=1).mean()
    return losses.Loss(recon + total, recon, total)


def free_bits_per_image(logits, x, kl, beta=1.0, free_bits=0.0, groups=None):
    recon = losses.recon_nll(logits, x).mean()
    return losses.Loss(recon + beta * kl.clamp(min=free_bits).sum(dim=1).mean(), recon, kl.sum(dim=1).mean())


def step_without_zero_grad(model, optimizer, x, kl_weight=1.0, free_bits=0.0, amp=False):
    logits, kl = model.elbo_terms(x)
    loss = losses.neg_elbo(logits, x, kl, beta=kl_weight, free_bits=free_bits, groups=model.kl_groups)
    if not torch.isfinite(loss.total):
        raise training.NonFiniteLoss("not finite")
    loss.total.backward()
    optimizer.step()
    return loss


def step_without_backward(model, optimizer, x, kl_weight=1.0, free_bits=0.0, amp=False):
    logits, kl = model.elbo_terms(x)
    loss = losses.neg_elbo(logits, x, kl, beta=kl_weight, free_bits=free_bits, groups=model.kl_groups)
    optimizer.zero_grad()
    optimizer.step()
    return loss


def step_on_a_nan_loss(model, optimizer, x, kl_weight=1.0, free_bits=0.0, amp=False):
    logits, kl = model.elbo_terms(x)
    loss = losses.neg_elbo(logits, x, kl, beta=kl_weight, free_bits=free_bits, groups=model.kl_groups)
    optimizer.zero_grad()
    loss.total.backward()
    optimizer.step()
    return loss


def warmup_never_stops(step, warmup_steps, beta=1.0):
    return beta * step / warmup_steps if warmup_steps else beta


def ae_loss_summed(logits, x):
    recon = losses.recon_nll(logits, x).sum()
    return losses.Loss(recon, recon, torch.zeros(()))


def iwae_is_the_mean_log_weight(log_w):
    return -log_w.mean(dim=0)


def iwae_without_log_k(log_w):
    return -torch.logsumexp(log_w, dim=0)


def iwae_exponentiated(log_w):
    return -torch.log(torch.exp(log_w).mean(dim=0))


def mixture_without_weights(z, log_w, mu, logvar):
    log_n = gaussian.log_normal(z[..., None, :], mu, logvar)
    return torch.logsumexp(log_n, dim=-1) - math.log(len(log_w))  # as if every weight were 1/K


def mixture_exponentiated(z, log_w, mu, logvar):
    return torch.log((torch.exp(gaussian.log_normal(z[..., None, :], mu, logvar)) * log_w.exp()).sum(dim=-1))


MISTAKES = {  # name: (exercise, module, function, wrong implementation, what the student must be told)
    "sigma = exp(logvar)": (1, gaussian, "reparameterize", sigma_is_exp_logvar, "logvar is log sigma^2"),
    "eps ignored": (1, gaussian, "reparameterize", eps_ignored, "with eps = 0 your z is not mu"),
    "z detached": (1, gaussian, "reparameterize", detached, "gradients do not reach mu"),
    "KL sign flipped": (2, gaussian, "kl_standard_normal", kl_sign_flipped, "negative"),
    "KL without its 1/2": (2, gaussian, "kl_standard_normal", kl_without_the_half, "check the factor 1/2"),
    "KL summed over dimensions": (2, gaussian, "kl_standard_normal", kl_summed, "without summing"),
    "reconstruction averaged over pixels": (3, losses, "recon_nll", recon_mean_over_pixels, "784 log 2"),
    "logits taken for probabilities": (3, losses, "recon_nll", recon_logits_as_probabilities, "784 log 2"),
    "loss summed over the batch": (4, losses, "neg_elbo", elbo_summed_over_the_batch, "not per batch"),
    "beta in the reported KL": (4, losses, "neg_elbo", elbo_reports_the_weighted_kl, "report the KL itself"),
    "free bits per image": (4, losses, "neg_elbo", free_bits_per_image, "averaged over the batch"),
    "zero_grad forgotten": (5, training, "train_step", step_without_zero_grad, "zero the gradients"),
    "backward forgotten": (5, training, "train_step", step_without_backward, "did not change the weights"),
    "a nan loss stepped on": (5, training, "train_step", step_on_a_nan_loss, "did not raise NonFiniteLoss"),
    "warm-up past beta": (6, losses, "kl_weight", warmup_never_stops, "should weigh 0, 0.5, 1, 1.5, 2, 2, 2"),
    "autoencoder loss summed": (7, losses, "autoencoder_loss", ae_loss_summed, "batch mean"),
    "IWAE = mean log weight": (9, bounds, "iwae_nll", iwae_is_the_mean_log_weight, "not -log of the mean"),
    "IWAE without log k": (9, bounds, "iwae_nll", iwae_without_log_k, "average the weights, do not add them"),
    "IWAE exponentiated": (9, bounds, "iwae_nll", iwae_exponentiated, "log-sum-exp"),
    "mixture weights dropped": (8, gaussian, "log_mixture", mixture_without_weights, "log_w holds log-weights"),
    "mixture exponentiated": (8, gaussian, "log_mixture", mixture_exponentiated, "not finite far from every component"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_classic_mistake_fails_its_check_and_says_what_to_fix(mistake, monkeypatch):
    number, module, name, wrong, told = MISTAKES[mistake]
    monkeypatch.setattr(module, name, wrong)
    ok, said = exercises.run_check(number)
    assert not ok, f"{mistake}: exercise {number}'s check passed"
    assert told in said, f"{mistake}: the check said {said!r}"
    assert "\n" not in said


def test_a_stub_is_reported_as_not_implemented_and_a_crash_in_one_line(monkeypatch):
    def stub(*args, **kwargs):
        raise NotImplementedError("exercise 1 (...)")

    monkeypatch.setattr(gaussian, "reparameterize", stub)
    assert exercises.run_check(1) == (False, "not implemented yet (the function still raises NotImplementedError)")
    monkeypatch.setattr(gaussian, "kl_standard_normal", lambda mu, logvar: mu @ logvar)  # shapes that do not fit
    ok, said = exercises.run_check(2)
    assert not ok and said.startswith("it crashed: RuntimeError") and "\n" not in said


def test_the_command_prints_a_line_per_exercise_and_the_tally(capsys):
    assert exercises.main(["2", "6"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("exercise 2 · ") and out[0].endswith(": passed") and out[-1] == "2 passed, 0 failed"
    assert exercises.main(["99"]) == 2


def test_a_check_that_calls_an_unfinished_exercise_says_which_one_first(monkeypatch):
    recon = next(e for e in exercises.marked() if e.name == "losses.recon_nll")

    def stub(*args, **kwargs):
        raise NotImplementedError(recon.stub_message())

    monkeypatch.setattr(losses, "recon_nll", stub)
    ok, said = exercises.run_check(4)  # the negative ELBO uses the reconstruction term
    assert not ok and said == f"needs exercise {recon.number} first: {recon.title} is not implemented yet"
