"""Seed-to-seed spread of the numbers the tolerance check compares (``vaelab.workshop.check``).

    .venv/bin/python benchmarks/seed_spread.py [--seeds 1 2 3 4] [--best-seeds 1 2] [--out build/seed_spread.json]

The tolerance tier of ``make test`` (any platform but the reference one) re-runs the notebooks
and compares their key numbers with the committed ``assets/metrics.json``. Another CPU, another
BLAS or a GPU changes the floats of the very first step, and training amplifies that like a
change of seed: so the tolerances are measured as the spread of each number over training seeds.

This script trains the Fashion-MNIST models of notebook 07's table with other seeds (the
committed file holds seed 0) and measures every row exactly as the notebook does
(``results.model_row`` on the seed-0 context: same classifier, same test subset), plus the
classifier with other seeds. It prints, per number and model, the spread over all seeds (seed 0
included, from the committed file) and writes every value to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from vaelab.workshop import classifier, paths, results, runs

KEYS = ["test_neg_elbo", "test_recon", "test_kl", "iw_nll", "probe_accuracy", "knn_accuracy"]
TEN_EPOCH = {"AE": ("ae", {}), "MLP VAE": ("vae", {}), "conv VAE": ("conv-vae", {}),
             "β-VAE β=0.5": ("vae", {"beta": 0.5}), "β-VAE β=2": ("vae", {"beta": 2.0})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3, 4])
    parser.add_argument("--best-seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--out", default="build/seed_spread.json")
    args = parser.parse_args()
    dataset = "fashion-mnist"
    committed = json.loads((paths.assets_dir() / "metrics.json").read_text())
    values = {r["name"]: {k: [r[k]] for k in KEYS if r.get(k) is not None}
              for r in committed["rows"] if r["dataset"] == dataset}
    values["classifier"] = {"classifier_accuracy": [committed["datasets"][dataset]["classifier_accuracy"]]}
    ctx = results.Context.build(dataset, seed=0)
    start = time.perf_counter()
    jobs = [(name, seed, runs.TrainConfig(dataset=dataset, model=model, latent_dim=10, epochs=10, seed=seed, **kw))
            for seed in args.seeds for name, (model, kw) in TEN_EPOCH.items()]
    jobs += [("best VAE", seed, runs.best_config(dataset, seed)) for seed in args.best_seeds]
    for name, seed, cfg in jobs:
        row = results.model_row(name, runs.train(cfg, progress=False), ctx)
        for k in values[name]:
            values[name][k].append(row[k])
        print(f"{name} seed {seed}: " + ", ".join(f"{k} {row[k]:.4f}" for k in values[name]) +
              f"  [{time.perf_counter() - start:.0f} s]", flush=True)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as folder:
            net = classifier.train_classifier(ctx.tensors["train"], ctx.labels["train"], ctx.tensors["val"],
                                              ctx.labels["val"], epochs=results.CLASSIFIER_EPOCHS, seed=seed, folder=folder)
        values["classifier"]["classifier_accuracy"].append(classifier.accuracy(net, ctx.tensors["test"], ctx.labels["test"]))
        print(f"classifier seed {seed}: {values['classifier']['classifier_accuracy'][-1]:.4f}", flush=True)

    print(f"\n{'model':14s} {'number':20s} {'runs':>5s} {'mean':>10s} {'std':>8s} {'range':>8s}")
    for name, numbers in values.items():
        for k, v in numbers.items():
            if len(v) > 1:
                print(f"{name:14s} {k:20s} {len(v):5d} {statistics.mean(v):10.4f} {statistics.stdev(v):8.4f} "
                      f"{max(v) - min(v):8.4f}")
    out = paths.project_root() / args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_bytes(out, (json.dumps(values, indent=1, ensure_ascii=False) + "\n").encode())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
