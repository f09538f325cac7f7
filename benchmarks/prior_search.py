"""The runs behind ``runs.best_config``: candidate VAEs with learned priors and two layers of latents,
each within the 12-minute budget on 2 cores, compared on the validation images.

    .venv/bin/python benchmarks/prior_search.py                        # every candidate, Fashion-MNIST
    .venv/bin/python benchmarks/prior_search.py --dataset mnist --only deep-vamp100-e48
    .venv/bin/python benchmarks/prior_search.py --binarize --dataset mnist

Each line (JSON) gives the best validation -ELBO and its epoch, the test -ELBO, recon and KL, the
importance-sampled NLL (k = 500, the report's fixed 1,000-image test subset), active units per
layer, the wall-clock minutes of training (validation and checkpoints included) and seconds per
epoch. Runs go to runs/search/<dataset>/<name> and are reused when the code has not changed.
Run it on an otherwise idle machine: the budget is wall-clock time.
"""

from __future__ import annotations

import argparse
import json

import torch

from vaelab import bounds, data, evaluate, latent
from vaelab.workshop import paths, results, runs

RECIPE = dict(lr=2e-3, schedule="cosine", warmup_epochs=5)
CANDIDATES = {  # name: the fields that differ from RECIPE (epochs chosen to fit 12 minutes on 2 cores)
    "deep-normal-e75-fb0.5": dict(model="deep-vae", latent_dim=20, epochs=75, free_bits=0.5),  # the best VAE until now
    "deep-vamp100-e38": dict(model="deep-vae", latent_dim=20, prior="vamp", components=100, epochs=38),
    "deep-vamp100-e45": dict(model="deep-vae", latent_dim=20, prior="vamp", components=100, epochs=45),  # best_config
    "deep-vamp100-e48": dict(model="deep-vae", latent_dim=20, prior="vamp", components=100, epochs=48),
    "hvae-normal-e52": dict(model="hvae", latent_dim=40, epochs=52),
    "hvae-vamp100-e38": dict(model="hvae", latent_dim=40, prior="vamp", components=100, epochs=38),
    "hvae-mog100-e48": dict(model="hvae", latent_dim=40, prior="mog", components=100, epochs=48),
}


def measure(cfg: runs.TrainConfig, name: str) -> dict:
    run = runs.train(cfg, paths.project_root() / "runs" / "search" / cfg.dataset / name, progress=True)
    x, labels = data.load_split(cfg.dataset, seed=runs.SPLIT_SEED)["test"]
    index = latent.stratified_subset(labels, results.NLL_SUBSET, seed=0)
    test = data.as_float(x)
    nll = bounds.importance_sampled_bounds(run.model, test[index], k=results.NLL_K, seed=0, binarize=cfg.binarize)["nll"]
    best = min(run.history, key=lambda row: row["val_neg_elbo"])
    m = run.metrics
    return {"name": name, "dataset": cfg.dataset, "binarize": cfg.binarize, "val_neg_elbo": round(best["val_neg_elbo"], 3),
            "best_epoch": best["epoch"], "test_neg_elbo": round(m["test_neg_elbo"], 3), "recon": round(m["test_recon"], 2),
            "kl": round(m["test_kl"], 2), "nll": round(nll, 3), "active": evaluate.active_units_by_layer(run.model, test),
            "minutes": round(sum(row["wall_seconds"] for row in run.history) / 60, 2),
            "seconds_per_epoch": round(m["seconds_per_epoch"], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    parser.add_argument("--binarize", action="store_true", help="dynamically binarized images")
    parser.add_argument("--only", choices=list(CANDIDATES), nargs="*")
    args = parser.parse_args()
    print(f"{torch.get_num_threads()} threads, torch {torch.__version__}", flush=True)
    for name, fields in CANDIDATES.items():
        if args.only and name not in args.only:
            continue
        cfg = runs.TrainConfig(dataset=args.dataset, binarize=args.binarize, **{**RECIPE, **fields})
        print(json.dumps(measure(cfg, name + ("-bin" if args.binarize else ""))), flush=True)


if __name__ == "__main__":
    main()
