"""The prior comparison of notebook 04 over training seeds: does its ranking hold?

    .venv/bin/python benchmarks/prior_seeds.py [--datasets fashion-mnist mnist] [--seeds 0 1 2 3]

(``make bench-priors``; about 25 minutes per dataset on 2 CPU cores.) Notebook 04 trains five
variants with one seed (the N(0, I) reference, free bits, a mixture prior, a VampPrior, two
layers of latents) for a few epochs each. One seed cannot tell a gain from luck: this script
trains the same five variants (``vaelab.workshop.comparison``), with the notebook's budget, for several seeds (seed 0
is the notebook's own run, reused from ``runs/``), measures each on the test set (the −ELBO, its
KL, active units) and by the importance-sampled bound of notebook 07 (k = 500 on the report's
fixed 1,000 test images), and writes every value, the mean and standard deviation over seeds,
and the paired gain over the N(0, I) model (same seed) to
``benchmarks/results/prior_seeds_<dataset>.json``, which notebook 04 shows beside its own run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from vaelab import bounds, data, evaluate, latent
from vaelab.workshop import comparison, results, runs

KEYS = ("test_neg_elbo", "test_kl", "iw_nll", "active_units")
OUT = Path(__file__).resolve().parent / "results"


def measure(dataset: str, seeds: list[int]) -> dict:
    split = data.load_split(dataset, seed=runs.SPLIT_SEED)
    test = data.as_float(split["test"][0])
    subset = latent.stratified_subset(split["test"][1], results.NLL_SUBSET, seed=0)  # the report's 1,000 images
    values = {name: {key: [] for key in KEYS} for name in comparison.VARIANTS}
    start = time.perf_counter()
    for seed in seeds:
        for name, cfg in comparison.configs(dataset, seed, device="cpu").items():
            run = runs.train(cfg, progress=False)
            iw = bounds.importance_sampled_bounds(run.model, test[subset], k=results.NLL_K, seed=0)
            row = {"test_neg_elbo": run.metrics["test_neg_elbo"], "test_kl": run.metrics["test_kl"],
                   "iw_nll": iw["nll"], "active_units": evaluate.active_units(run.model, test)[0]}
            for key in KEYS:
                values[name][key].append(row[key])
            print(f"{dataset} seed {seed} {name}: " + ", ".join(f"{k} {row[k]:.2f}" for k in KEYS)
                  + f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    summary = {}
    for name in comparison.VARIANTS:
        entry = {}
        for key in KEYS:
            entry[key] = {"mean": statistics.mean(values[name][key]), "sd": statistics.stdev(values[name][key])}
        for key in ("test_neg_elbo", "iw_nll"):  # paired with the N(0, I) run of the same seed
            gains = [a - b for a, b in zip(values["N(0, I)"][key], values[name][key])]
            entry[f"gain_{key}"] = {"mean": statistics.mean(gains), "sd": statistics.stdev(gains), "min": min(gains),
                                    "max": max(gains)}
        summary[name] = entry
    return {"dataset": dataset, "seeds": seeds, "epochs": comparison.EPOCHS, "latent_dim": comparison.LATENT_DIM,
            "components": comparison.COMPONENTS,
            "nll_k": results.NLL_K, "nll_images": len(subset), "values": values, "summary": summary,
            "seconds": round(time.perf_counter() - start), "date": date.today().isoformat(),
            "cpu": platform.processor() or platform.machine(), "threads": os.environ.get("OMP_NUM_THREADS"),
            "command": "make bench-priors (benchmarks/prior_seeds.py)"}


def write(content: dict) -> Path:
    """Write to a temporary file, then rename: a stopped run leaves the old file whole."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"prior_seeds_{content['dataset']}.json"
    with tempfile.NamedTemporaryFile("w", dir=OUT, suffix=".tmp", delete=False) as handle:
        json.dump(content, handle, indent=1, ensure_ascii=False)
    os.replace(handle.name, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=["fashion-mnist", "mnist"])
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2, 3])
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("--seeds: at least two seeds, or there is no spread to measure")
    for dataset in args.datasets:
        content = measure(dataset, args.seeds)
        print(f"{write(content)}: {content['seconds']} s")
        for name, entry in content["summary"].items():
            print(f"  {name:20s} NLL {entry['iw_nll']['mean']:.2f} ± {entry['iw_nll']['sd']:.2f}; "
                  f"gain over N(0, I) {entry['gain_iw_nll']['mean']:+.2f} ± {entry['gain_iw_nll']['sd']:.2f} "
                  f"(from {entry['gain_iw_nll']['min']:+.2f} to {entry['gain_iw_nll']['max']:+.2f})")


if __name__ == "__main__":
    main()
