"""Training speed as users run it: the course's command line against the pytorch/examples loop, in one run.

    .venv/bin/python benchmarks/train_speed.py [--epochs 10]

Both loops train the classic MLP VAE (latent 10) on Fashion-MNIST, batch 128, Adam 1e-3, for the
same number of epochs, each in a process of its own whose environment is the user's (this
process's, less the Makefile's pins: thread counts, CPU-kernel variables, VAELAB_DEVICE):

  * our loop is the command a user types, ``python -m vaelab train --model vae --latent-dim 10
    --device cpu ...`` (whole in-memory tensors, batches sliced by a random permutation,
    BCE-with-logits, fused Adam; the package chooses its CPU kernels when imported);
  * the pytorch/examples loop (pytorch/examples vae/main.py): torchvision dataset with ToTensor, a
    DataLoader, sigmoid + binary_cross_entropy, loss.item() every step. It runs twice, under
    PyTorch's own defaults (as pytorch/examples runs) and under vaelab's kernel choice; the
    faster of the two is the reference, so the ratio never flatters our loop.

Only training steps are timed (the command's per-epoch ``seconds`` in history.json; the same
span in the pytorch/examples loop), not start-up, evaluation or checkpoints. It prints images per second,
their ratio (target: at least 2.5x), the test -ELBO of each loop's final weights (the same
work, so about the same number), and the arithmetic rate each reached (FLOPs counted by
torch.utils.flop_counter) against a matmul peak measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from vaelab import bounds, data, gaussian, losses, models
from vaelab.workshop import datasets, numeric, paths

TRAIN_IMAGES = 54_000  # the saved split's training images (the CLI's); the pytorch/examples loop takes all 60,000
PINS = ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "VAELAB_DEVICE", *numeric.DEFAULTS]


def user_env(**extra) -> dict:
    """This process's environment less the Makefile's pins: what a user's shell has."""
    env = {k: v for k, v in os.environ.items() if k not in PINS}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


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
        losses.neg_elbo(logits, x, gaussian.kl_standard_normal(mu, logvar)).total.backward()
    return counter.get_total_flops() / batch


def test_neg_elbo(state_dict) -> float:
    model = models.VAE(latent_dim=10)
    model.load_state_dict(state_dict)
    x_test, _ = data.load("fashion-mnist", train=False)
    return bounds.elbo(model, data.as_float(x_test))["neg_elbo"]


def classic_loop(epochs: int, weights: str, seed: int = 0) -> None:
    """pytorch/examples vae/main.py's train(), on the same files; prints {"seconds": ...} as JSON
    and saves the final weights to ``weights``. Runs in a child process (see ``main``)."""
    from torchvision import datasets, transforms

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
        print(f"    epoch {epoch + 1}: {time.perf_counter() - start:.2f} s, train loss {train_loss / len(dataset):.2f}",
              file=sys.stderr, flush=True)
    torch.save(model.state_dict(), weights)
    print(json.dumps({"seconds": seconds, "images": len(dataset) * epochs, "threads": torch.get_num_threads(),
                      "capability": torch.backends.cpu.get_cpu_capability()}))


def run_classic_loop(epochs: int, numeric_defaults: bool, folder: Path) -> dict:
    weights = folder / f"classic-{int(numeric_defaults)}.pt"
    env = {**user_env(), **(numeric.defaults() if numeric_defaults and numeric.is_x86_avx2() else {})}
    done = subprocess.run([sys.executable, __file__, "--classic-loop", str(weights), "--epochs", str(epochs)],
                          env=env, stdout=subprocess.PIPE, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["neg_elbo"] = test_neg_elbo(torch.load(weights, weights_only=True))
    return result


def run_cli(epochs: int, folder: Path) -> dict:
    """``python -m vaelab train`` as typed in a shell; its timing from the run's history.json."""
    out = folder / "cli-run"
    command = [sys.executable, "-m", "vaelab", "train", "--dataset", "fashion-mnist", "--model", "vae",
               "--latent-dim", "10", "--epochs", str(epochs), "--seed", "0", "--device", "cpu", "--out", str(out)]
    print(f"  $ python -m vaelab train --dataset fashion-mnist --model vae --latent-dim 10 --epochs {epochs} "
          f"--seed 0 --device cpu --out <tmp>", flush=True)
    start = time.perf_counter()
    subprocess.run(command, env=user_env(), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    history = json.loads((out / "history.json").read_text())
    last = torch.load(out / "last.pt", weights_only=True)["model"]  # the final weights, as the pytorch/examples loop
    return {"seconds": sum(row["seconds"] for row in history), "images": TRAIN_IMAGES * epochs, "wall": wall,
            "neg_elbo": test_neg_elbo(last)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--classic-loop", metavar="WEIGHTS", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.classic_loop:
        return classic_loop(args.epochs, args.classic_loop)
    datasets.fetch("fashion-mnist", log=lambda m: None)
    shown = {k: os.environ[k] for k in PINS if k in os.environ}
    print(f"classic VAE (MLP VAE 784-400-10), Fashion-MNIST, batch 128, Adam 1e-3, {args.epochs} epochs, "
          f"torch {torch.__version__}; each loop in its own process, without the Makefile's pins"
          f"{' (' + ', '.join(f'{k}={v}' for k, v in shown.items()) + ' removed)' if shown else ''}")
    peak = matmul_peak()
    per_image = flops_per_image()
    print(f"matmul peak (2048x2048 float32, this process): {peak:.1f} GFLOP/s")
    print(f"one training image costs {per_image / 1e6:.2f} MFLOP (forward + backward): "
          f"the arithmetic alone takes {per_image * TRAIN_IMAGES / (peak * 1e9):.2f} s an epoch of 54,000 at that peak")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = {}
        for name, defaults in (("pytorch/examples loop, PyTorch's defaults", False),
                               ("pytorch/examples loop, vaelab's kernels", True)):
            print(f"  {name}", flush=True)
            rows[name] = run_classic_loop(args.epochs, defaults, folder)
        rows["our loop: python -m vaelab train"] = run_cli(args.epochs, folder)

    for name, r in rows.items():
        rate = per_image * r["images"] / r["seconds"] / 1e9
        extra = f", {r['capability']} kernels" if "capability" in r else f", whole command {r['wall']:.1f} s"
        print(f"{name:34s} {r['seconds'] / args.epochs:6.2f} s/epoch  {r['images'] / r['seconds']:9,.0f} images/s  "
              f"{rate:6.1f} GFLOP/s ({rate / peak:.0%} of peak)  test -ELBO of the final weights "
              f"{r['neg_elbo']:.2f}{extra}", flush=True)
    speed = {name: r["images"] / r["seconds"] for name, r in rows.items()}
    reference = max((name for name in speed if name.startswith("pytorch/examples loop")), key=speed.get)
    ratio = speed["our loop: python -m vaelab train"] / speed[reference]
    print(f"speed-up of the command line over the faster pytorch/examples loop ({reference}): {ratio:.2f}x "
          f"(target: at least 2.5x, aim 3x) -> {'MET' if ratio >= 2.5 else 'NOT MET'}")


if __name__ == "__main__":
    main()
