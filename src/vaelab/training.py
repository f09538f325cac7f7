"""The training step: how every model of the course learns, one batch at a time.

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = 0
    for epoch in range(10):
        order = torch.randperm(len(images))
        means, step = train_epoch(model, optimizer, images, order, step=step)

``train_epoch`` cuts the images into batches in the given order and takes one gradient step on
each (``train_step``): the model's ELBO terms, the loss, its gradients, the optimiser's update.
The KL weight grows linearly from 0 during a warm-up (``losses.kl_weight``), and the learning
rate may follow a cosine (``cosine_lr``). Saving, resuming and choosing the best epoch are the
workshop's (``vaelab.workshop.runs``); nothing here touches a file.
"""

from __future__ import annotations

import contextlib
import math

import torch

from vaelab import losses


class NonFiniteLoss(FloatingPointError):
    """The loss became NaN or infinite: the step's update would ruin the weights."""


# exercise 5 · 3 points · 15 min · notebook 02 · one training step
def train_step(model, optimizer, x: torch.Tensor, kl_weight: float = 1.0, free_bits: float = 0.0,
               amp: bool = False) -> losses.Loss:
    """One gradient step on a batch x (B, 784), on the model's device: the model's ELBO terms
    (``elbo_terms``), the loss (``losses.neg_elbo`` with ``kl_weight`` as its beta, ``free_bits`` and
    the model's ``kl_groups``), fresh gradients of it and the optimiser's update. A loss that is not
    finite raises NonFiniteLoss before any weight changes. Returns the ``Loss``.

    ``amp`` runs the model's forward pass in bfloat16 (autocast); the loss is always float32."""
    with torch.autocast(x.device.type, dtype=torch.bfloat16) if amp else contextlib.nullcontext():
        logits, kl = model.elbo_terms(x)
    loss = losses.neg_elbo(logits.float(), x, kl.float() if kl is not None else None, beta=kl_weight,
                           free_bits=free_bits, groups=model.kl_groups)
    if not torch.isfinite(loss.total):
        raise NonFiniteLoss(f"the loss is {loss.total.item()} (not finite)")
    optimizer.zero_grad(set_to_none=True)
    loss.total.backward()
    optimizer.step()
    return loss


def cosine_lr(step: int, total_steps: int, lr: float) -> float:
    """The learning rate at ``step`` of a cosine decay from ``lr`` to 0 over ``total_steps``."""
    return lr * 0.5 * (1 + math.cos(math.pi * step / total_steps))


def train_epoch(model, optimizer, images: torch.Tensor, order: torch.Tensor, batch_size: int = 128, step: int = 0,
                warmup_steps: int = 0, beta: float = 1.0, free_bits: float = 0.0, lr_at=None,
                binarize: bool = False, amp: bool = False):
    """One pass over ``images`` (N, 784), a batch of ``batch_size`` at a time in ``order``.

    ``step`` counts the batches since training began: the KL weight is ``kl_weight(step,
    warmup_steps, beta)`` and the learning rate ``lr_at(step)`` (None: the optimiser's own).
    ``binarize`` draws a black-and-white sample of every image each time it is seen.
    Returns the epoch's mean {"recon", "kl", "loss", "kl_weight"} in nats per image (the last
    batch's KL weight) and the next step. NonFiniteLoss names the batch where the loss broke."""
    model.train()
    exact = images.device.type in ("cpu", "cuda")  # float64 for the running sums where there is one (not on MPS)
    sums = torch.zeros(3, dtype=torch.float64 if exact else torch.float32, device=images.device)
    for i, start in enumerate(range(0, len(images), batch_size)):
        x = images[order[start:start + batch_size]]
        if binarize:
            x = torch.bernoulli(x)
        weight = losses.kl_weight(step, warmup_steps, beta)
        if lr_at is not None:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
        try:
            loss = train_step(model, optimizer, x, weight, free_bits, amp)
        except NonFiniteLoss as e:
            raise NonFiniteLoss(f"step {i + 1}: {e}") from None
        sums += torch.stack([loss.recon.detach(), loss.kl.detach(), loss.total.detach()]).to(sums.dtype) * len(x)
        step += 1
    recon, kl, total = (sums.cpu().double() / len(images)).tolist()
    return {"recon": recon, "kl": kl, "loss": total, "kl_weight": weight}, step
