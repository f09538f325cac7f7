"""Training speed: our loop against the seeds' loop, on the seed model, in one run.

    .venv/bin/python benchmarks/train_speed.py [--epochs 10]

Both loops train the seeds' MLP VAE (latent 10) on the 60,000 Fashion-MNIST training images,
batch 128, Adam 1e-3, for the same number of epochs:

  * the seeds' loop (pytorch/examples vae/main.py): torchvision dataset with ToTensor, a
    DataLoader, sigmoid + binary_cross_entropy, loss.item() every step;
  * our loop (vaelab.train.fit): whole in-memory tensors, batches sliced by a random
    permutation, BCE-with-logits, fused Adam.

It prints training images per second for both and their ratio (target: at least 2.5x), the test
-ELBO each loop's final weights reach (the same work, so about the same number), and the
arithmetic rate each reached (FLOPs counted by torch.utils.flop_counter) against a matmul peak
measured in the same run. Only training steps are timed, not evaluation or checkpoints.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from torchvision import datasets, transforms

from vaelab import data, losses, models, paths, train


def matmul_peak(n: int = 2048, repeats: int = 20) -> float:
    """GFLOP/s of a large float32 matrix product on this machine, best of ``repeats``."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def flops_per_image(batch: int = 128) -> float:
    """FLOPs of one training step (forward and backward) divided by the batch size."""
    model = models.VAE(latent_dim=10)
    x = torch.rand(batch, 784)
    with FlopCounterMode(display=False) as counter:
        logits, mu, logvar = model(x)
        losses.neg_elbo(logits, x, mu, logvar).total.backward()
    return counter.get_total_flops() / batch


def test_neg_elbo(model) -> float:
    x_test, _ = data.load("fashion-mnist", train=False)
    return train.evaluate(model, train.as_float(x_test))["neg_elbo"]


def seeds_loop(epochs: int, seed: int = 0) -> tuple[float, float]:
    """pytorch/examples vae/main.py's train(), on the same files; returns (seconds, test -ELBO)."""
    torch.manual_seed(seed)
    dataset = datasets.FashionMNIST(str(paths.data_dir()), train=True, download=False, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(dataset, batch_size=128, shuffle=True)
    model = models.VAE(latent_dim=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    seconds = 0.0
    for epoch in range(epochs):
        model.train()
        train_loss = 0.0
        start = time.perf_counter()
        for x, _ in loader:
            optimizer.zero_grad()
            logits, mu, logvar = model(x)
            bce = F.binary_cross_entropy(torch.sigmoid(logits), x.view(-1, 784), reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = bce + kld
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
        seconds += time.perf_counter() - start
        print(f"  seeds' loop epoch {epoch + 1}: {time.perf_counter() - start:.2f} s, "
              f"train loss {train_loss / len(dataset):.2f}", flush=True)
    return seconds, test_neg_elbo(model)


def our_loop(epochs: int, seed: int = 0) -> tuple[float, float]:
    x_train, _ = data.load("fashion-mnist", train=True)
    x_test, _ = data.load("fashion-mnist", train=False)
    cfg = train.TrainConfig(model="vae", latent_dim=10, epochs=epochs, seed=seed, device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        run = train.fit(cfg, train.as_float(x_train), train.as_float(x_test), folder, progress=False)
        last = torch.load(f"{folder}/last.pt", weights_only=True)["model"]  # the final weights, as the seeds' loop
        run.model.load_state_dict(last)
    for row in run.history:
        print(f"  our loop    epoch {row['epoch']}: {row['seconds']:.2f} s, train loss {row['train_loss']:.2f}", flush=True)
    return sum(row["seconds"] for row in run.history), test_neg_elbo(run.model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    data.fetch("fashion-mnist", log=lambda m: None)
    images = 60_000 * args.epochs
    print(f"seed model (MLP VAE 784-400-10), Fashion-MNIST 60,000 images, batch 128, Adam 1e-3, "
          f"{args.epochs} epochs, {torch.get_num_threads()} threads, torch {torch.__version__}")
    peak = matmul_peak()
    per_image = flops_per_image()
    floor = per_image * 60_000 / (peak * 1e9)
    print(f"matmul peak (2048x2048 float32): {peak:.1f} GFLOP/s")
    print(f"one training image costs {per_image / 1e6:.2f} MFLOP (forward + backward): "
          f"the arithmetic alone takes {floor:.2f} s an epoch at that peak")

    results = {}
    for name, loop in (("seeds' loop", seeds_loop), ("our loop", our_loop)):
        seconds, neg_elbo = loop(args.epochs)
        results[name] = images / seconds
        rate = per_image * images / seconds / 1e9
        print(f"{name:12s} {seconds / args.epochs:6.2f} s/epoch  {images / seconds:9,.0f} images/s  "
              f"{rate:6.1f} GFLOP/s ({rate / peak:.0%} of peak)  test -ELBO of the final weights {neg_elbo:.2f}", flush=True)
    ratio = results["our loop"] / results["seeds' loop"]
    print(f"speed-up of our loop over the seeds' loop: {ratio:.2f}x (target: at least 2.5x) "
          f"-> {'MET' if ratio >= 2.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
