"""Quality: the seed model against the seeds' result, and the course's best VAE against its targets.

    .venv/bin/python benchmarks/quality.py            # all three rows
    .venv/bin/python benchmarks/quality.py --only seed

Rows (test set, best validation checkpoint, z sampled as in training):
  * the seed model, the MLP VAE of pytorch/examples (latent 10, 10 epochs) on Fashion-MNIST:
    target -ELBO <= 245 nats per image;
  * the best VAE (``train.best_config``), trained at most 10 minutes on 2 cores:
    Fashion-MNIST <= 235, MNIST <= 95.
Each row prints the BCE entropy floor of the test images next to the result: no model with a
Bernoulli decoder can go below it. Runs stay in runs/ and are reused when the code has not
changed, so a second call only re-reads them; the training time printed is the one recorded
when the run was made (wall clock of every epoch, validation and checkpoints included).
"""

from __future__ import annotations

import argparse

import torch

from vaelab import data, train

BUDGET_SECONDS = 600
ROWS = {
    "seed": ("seed model (MLP VAE, latent 10, 10 epochs)",
             train.TrainConfig(dataset="fashion-mnist", model="vae", latent_dim=10, epochs=10), 245.0),
    "best-fashion-mnist": ("best VAE", train.best_config("fashion-mnist"), 235.0),
    "best-mnist": ("best VAE", train.best_config("mnist"), 95.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=["seed", "best-fashion-mnist", "best-mnist"], nargs="*")
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}")
    results = []
    for key, (label, cfg, target) in ROWS.items():
        if args.only and key not in args.only:
            continue
        data.fetch(cfg.dataset, log=lambda m: None)
        run = train.train(cfg, progress=True)
        m = run.metrics
        minutes = sum(row["wall_seconds"] for row in run.history) / 60
        met = m["test_neg_elbo"] <= target and (key == "seed" or minutes * 60 <= BUDGET_SECONDS)
        results.append(met)
        print(f"{cfg.dataset:13s} {label} [{cfg.model}, latent {cfg.latent_dim}, {cfg.epochs} epochs"
              f", lr {cfg.lr:g}{' ' + cfg.schedule if cfg.schedule != 'constant' else ''}"
              f"{f', KL warm-up {cfg.warmup_epochs:g} epochs' if cfg.warmup_epochs else ''}"
              f"{f', {cfg.free_bits:g} free nats per dimension' if cfg.free_bits else ''}"
              f"{', bfloat16 autocast' if cfg.amp else ''}]", flush=True)
        print(f"    test -ELBO {m['test_neg_elbo']:.2f} = recon {m['test_recon']:.2f} + KL {m['test_kl']:.2f} nats/image; "
              f"entropy floor {m['bce_floor']:.1f} (excess {m['test_neg_elbo'] - m['bce_floor']:.1f}); "
              f"trained in {minutes:.1f} min -> target <= {target:g}"
              f"{'' if key == 'seed' else f' within {BUDGET_SECONDS // 60} min'}: {'MET' if met else 'NOT MET'}", flush=True)
    print(f"{sum(results)} of {len(results)} targets met")


if __name__ == "__main__":
    main()
