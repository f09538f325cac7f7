"""Command line.

    python -m vaelab data fetch|verify|export-csv --dataset NAME
    python -m vaelab train --dataset fashion-mnist --model vae --latent-dim 10 --epochs 10 --out runs/NAME
    python -m vaelab evaluate runs/NAME
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaelab import data
from vaelab.data import DataError


def _fetch(args) -> None:
    data.fetch(args.dataset, allow_download=not args.no_download, allow_apt=args.allow_apt, log=print)


def _verify(args) -> None:
    for fname, md5 in data.verify(args.dataset).items():
        print(f"{args.dataset}: {fname} OK (MD5 {md5})")
    print(f"{args.dataset}: all four files in the data folder match the original MD5s")


def _export_csv(args) -> None:
    for split, path in data.export_csv(args.dataset, args.out, suffix=args.format).items():
        print(f"{args.dataset} {split}: {path}")


def _train(args) -> None:
    from vaelab import train

    cfg = train.TrainConfig(dataset=args.dataset, model=args.model, latent_dim=args.latent_dim,
                            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule, beta=args.beta,
                            warmup_epochs=args.warmup_epochs, free_bits=args.free_bits, binarize=args.binarize, seed=args.seed, amp=args.amp,
                            device=args.device)
    run = train.train(cfg, args.out)
    _print_metrics(run.metrics)
    print(f"wrote {args.out}/best.safetensors, history.json and metrics.json")


def _print_metrics(m: dict) -> None:
    print(f"{m['dataset']} {m['model']} (latent {m['latent_dim']}, {m['epochs']} epochs, best epoch {m['best_epoch']}, seed {m['seed']})")
    print(f"  test -ELBO {m['test_neg_elbo']:.2f} nats/image = recon {m['test_recon']:.2f} + KL {m['test_kl']:.2f}"
          + (f"   (entropy floor {m['bce_floor']:.1f})" if m["bce_floor"] else ""))
    print(f"  {m['seconds_per_epoch']:.2f} s/epoch, {m['train_images_per_second']:,.0f} training images/s on {m['device']}")


def _evaluate(args) -> None:
    import json

    from vaelab import train

    run = train.load_run(args.run)
    fresh = train.test_metrics(run, train.split_tensors(run.config.dataset)["test"])
    saved_path = Path(args.run) / "metrics.json"
    saved = json.loads(saved_path.read_text()) if saved_path.is_file() else {}
    _print_metrics({**fresh, "seconds_per_epoch": saved.get("seconds_per_epoch", fresh["seconds_per_epoch"]),
                    "train_images_per_second": saved.get("train_images_per_second", fresh["train_images_per_second"])})
    if saved:
        same = all(abs(fresh[k] - saved[k]) < 1e-6 for k in ("test_neg_elbo", "test_recon", "test_kl"))
        print(f"  {'matches' if same else 'DIFFERS from'} {saved_path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m vaelab", description="The VAE course's command line.")
    commands = parser.add_subparsers(dest="command", required=True)
    data_parser = commands.add_parser("data", help="get, check and export the datasets")
    actions = data_parser.add_subparsers(dest="action", required=True)

    def action(name, func, help):
        p = actions.add_parser(name, help=help)
        p.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
        p.set_defaults(func=func)
        return p

    fetch = action("fetch", _fetch, "copy a checked dataset into the data folder (mirror, Debian package or download)")
    fetch.add_argument("--no-download", action="store_true", help="never download")
    fetch.add_argument("--allow-apt", action="store_true",
                       help="as a last resort, install the Debian package with apt-get (root only)")
    action("verify", _verify, "check the data folder's copy against the original MD5s")
    export = action("export-csv", _export_csv, "write Kaggle-style CSVs (label,pixel1..pixel784) of both splits")
    export.add_argument("--out", type=Path, default=None, help="folder (default: data/csv)")
    export.add_argument("--format", default=".csv", choices=[".csv", ".csv.gz", ".csv.zip"])

    from vaelab.models import MODELS

    train_parser = commands.add_parser("train", help="train a model on the saved split, write runs/NAME")
    train_parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    train_parser.add_argument("--model", default="vae", choices=list(MODELS))
    train_parser.add_argument("--latent-dim", type=int, default=10)
    train_parser.add_argument("--epochs", type=int, default=10)
    train_parser.add_argument("--batch-size", type=int, default=128)
    train_parser.add_argument("--lr", type=float, default=1e-3)
    train_parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                              help="learning-rate schedule")
    train_parser.add_argument("--beta", type=float, default=1.0, help="weight of the KL term (1: the ELBO)")
    train_parser.add_argument("--warmup-epochs", type=float, default=0.0, help="linear KL warm-up length")
    train_parser.add_argument("--free-bits", type=float, default=0.0,
                              help="nats per latent dimension that cost no KL (keeps dimensions from collapsing)")
    train_parser.add_argument("--binarize", action="store_true", help="dynamic binarization of the images")
    train_parser.add_argument("--amp", action="store_true",
                              help="bfloat16 autocast of the forward pass (faster on CPUs with AVX512-BF16/AMX)")
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), or a torch device")
    train_parser.add_argument("--out", type=Path, required=True, help="run folder, e.g. runs/vae")
    train_parser.set_defaults(func=_train)

    evaluate_parser = commands.add_parser("evaluate", help="recompute a run's test metrics from its checkpoint")
    evaluate_parser.add_argument("run", type=Path)
    evaluate_parser.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (DataError, RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
