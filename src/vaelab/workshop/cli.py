"""Command line.

    python -m vaelab data fetch|verify|export-csv --dataset NAME
    python -m vaelab train --dataset fashion-mnist --model vae --latent-dim 10 --epochs 10 --out runs/NAME
    python -m vaelab evaluate runs/NAME
    python -m vaelab check tier | numbers FRESH.json

Every option is checked against its range before any work starts, and every mistake (a bad
option, a missing or damaged file) ends with one line on stderr that names what is wrong and
what to do, and a non-zero exit code: 2 for a bad command line, 1 for anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vaelab import data
from vaelab.data import DataError
from vaelab.workshop import datasets
from vaelab.workshop.device import DeviceError, pick_device


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (no usage block): ``prog: error: what (prog --help ...)``."""

    def error(self, message):
        if message.endswith("expected one argument"):  # argparse reads "-1e-3" as an option
            message += " (a value that starts with '-' is written --option=VALUE)"
        self.exit(2, f"{self.prog}: error: {message} ({self.prog} --help lists the options)\n")


def _option(name: str):
    """An argparse type for the training option ``name``, checked against ``runs.LIMITS``."""
    from vaelab.workshop import runs

    kind = runs.LIMITS[name][0]

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = text
        try:
            return runs.check_option(name, value, label="")
        except runs.ConfigError as e:  # the message ends with the value as typed
            raise argparse.ArgumentTypeError(str(e).strip().rsplit(", not ", 1)[0] + f", not {text}") from None

    parse.__name__ = name  # argparse names the type in its own messages
    return parse


def _device(text: str) -> str:
    if text == "auto":  # resolved (with VAELAB_DEVICE) when the work starts
        return text
    try:
        pick_device(text)
    except DeviceError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _out_folder(text: str) -> Path:
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path} is a file, not a folder")
    return path


def _fetch(args) -> None:
    datasets.fetch(args.dataset, allow_download=not args.no_download, allow_apt=args.allow_apt, log=print)


def _verify(args) -> None:
    for fname, md5 in datasets.verify(args.dataset).items():
        print(f"{args.dataset}: {fname} OK (MD5 {md5})")
    print(f"{args.dataset}: all four files in the data folder match the original MD5s")


def _export_csv(args) -> None:
    for split, path in datasets.export_csv(args.dataset, args.out, suffix=args.format).items():
        print(f"{args.dataset} {split}: {path}")


def _train(args) -> None:
    from vaelab.workshop import runs

    cfg = runs.TrainConfig(dataset=args.dataset, model=args.model, latent_dim=args.latent_dim,
                            prior=args.prior, components=args.components, epochs=args.epochs, batch_size=args.batch_size,
                            lr=args.lr, schedule=args.schedule, beta=args.beta, warmup_epochs=args.warmup_epochs,
                            free_bits=args.free_bits, binarize=args.binarize, seed=args.seed, amp=args.amp,
                            device=args.device)
    if args.warmup_epochs > args.epochs:  # the options together (each alone was checked by argparse)
        args.parser.error(f"--warmup-epochs ({args.warmup_epochs:g}) must be at most --epochs ({args.epochs})")
    try:
        cfg.validate()
    except runs.ConfigError as e:  # the model and its options together (a prior on an AE, an odd hvae latent)
        args.parser.error(str(e))
    run = runs.train(cfg, args.out)
    _print_metrics(run.metrics)
    print(f"wrote {args.out}/best.safetensors, history.json and metrics.json")


def _print_metrics(m: dict) -> None:
    prior = f", {m['prior']} prior" if m.get("prior", "normal") != "normal" else ""
    print(f"{m['dataset']} {m['model']}{prior} (latent {m['latent_dim']}, {m['epochs']} epochs, "
          f"best epoch {m['best_epoch']}, seed {m['seed']})")
    print(f"  test -ELBO {m['test_neg_elbo']:.2f} nats/image = recon {m['test_recon']:.2f} + KL {m['test_kl']:.2f}"
          + (f"   (entropy floor {m['bce_floor']:.1f})" if m["bce_floor"] else ""))
    print(f"  {m['seconds_per_epoch']:.2f} s/epoch, {m['train_images_per_second']:,.0f} training images/s on {m['device']}")


def _evaluate(args) -> None:
    from vaelab.workshop import runs

    device = args.device
    if device is None:  # where the run was made, if that device is here; else the CPU
        made_on = runs.read_record(args.run).get("device", "cpu") if Path(args.run).is_dir() else "cpu"
        try:
            device = str(pick_device(made_on))
        except DeviceError:
            device = "cpu"
    run = runs.load_run(args.run, device=device)
    fresh = runs.held_out_metrics(run, data.split_tensors(run.config.dataset)["test"])
    saved_path = Path(args.run) / "metrics.json"
    saved = run.metrics
    _print_metrics({**fresh, **{k: saved[k] for k in ("seconds_per_epoch", "train_images_per_second")
                                 if isinstance(saved.get(k), (int, float))}})
    keys = ("test_neg_elbo", "test_recon", "test_kl")
    if saved and all(isinstance(saved.get(k), (int, float)) for k in keys):
        same = all(abs(fresh[k] - saved[k]) < 1e-6 for k in keys)
        print(f"  {'matches' if same else 'DIFFERS from'} {saved_path}")


def _check_tier(args) -> None:
    from vaelab.workshop import check

    tier, reason = check.platform_tier()
    print(f"{tier}: {reason}")
    sys.exit(0 if tier == "exact" else 3)


def _check_record(args) -> None:
    from vaelab.workshop import check

    print(f"wrote {check.record_platform()}")


def _check_numbers(args) -> None:
    from vaelab.workshop import check

    sys.exit(0 if check.report(args.fresh, args.reference) else 1)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m vaelab", description="The VAE course's command line.")
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
    export.add_argument("--out", type=_out_folder, default=None, help="folder (default: data/csv)")
    export.add_argument("--format", default=".csv", choices=[".csv", ".csv.gz", ".csv.zip"])

    from vaelab.models import MODELS

    train_parser = commands.add_parser("train", help="train a model on the saved split, write runs/NAME")
    train_parser.add_argument("--dataset", default="fashion-mnist", choices=sorted(data.DATASETS))
    train_parser.add_argument("--model", default="vae", choices=list(MODELS))
    train_parser.add_argument("--latent-dim", type=_option("latent_dim"), default=10,
                              help="latent dimensions (hvae: both layers together, half each)")
    train_parser.add_argument("--prior", default="normal", choices=["normal", "mog", "vamp"],
                              help="p(z): N(0, I), a learned mixture of Gaussians, or a VampPrior")
    train_parser.add_argument("--components", type=_option("components"), default=500,
                              help="components (mog) or pseudo-inputs (vamp) of a learned prior")
    train_parser.add_argument("--epochs", type=_option("epochs"), default=10)
    train_parser.add_argument("--batch-size", type=_option("batch_size"), default=128)
    train_parser.add_argument("--lr", type=_option("lr"), default=1e-3)
    train_parser.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                              help="learning-rate schedule")
    train_parser.add_argument("--beta", type=_option("beta"), default=1.0, help="weight of the KL term (1: the ELBO)")
    train_parser.add_argument("--warmup-epochs", type=_option("warmup_epochs"), default=0.0,
                              help="linear KL warm-up length")
    train_parser.add_argument("--free-bits", type=_option("free_bits"), default=0.0,
                              help="nats per latent dimension that cost no KL (keeps dimensions from collapsing)")
    train_parser.add_argument("--binarize", action="store_true", help="dynamic binarization of the images")
    train_parser.add_argument("--amp", action="store_true",
                              help="bfloat16 autocast of the forward pass (faster on CPUs with AVX512-BF16/AMX)")
    train_parser.add_argument("--seed", type=_option("seed"), default=0)
    train_parser.add_argument("--device", type=_device, default="auto",
                              help="auto (VAELAB_DEVICE if set, else cuda, mps, cpu), cpu, cuda, cuda:N or mps")
    train_parser.add_argument("--out", type=_out_folder, required=True, help="run folder, e.g. runs/vae")
    train_parser.set_defaults(func=_train, parser=train_parser)

    evaluate_parser = commands.add_parser("evaluate", help="recompute a run's test metrics from its checkpoint")
    evaluate_parser.add_argument("run", type=Path)
    evaluate_parser.add_argument("--device", type=_device, default=None,
                                 help="where to evaluate (default: the device the run was made on, if here; else cpu)")
    evaluate_parser.set_defaults(func=_evaluate)

    check_parser = commands.add_parser("check", help="the regression check's tiers (make test uses these)")
    checks = check_parser.add_subparsers(dest="action", required=True)
    checks.add_parser("tier", help="say whether the exact notebook check applies here (exit 0) or not (exit 3)"
                      ).set_defaults(func=_check_tier)
    checks.add_parser("record", help="record this CPU as the one that made the committed outputs (make report)"
                      ).set_defaults(func=_check_record)
    numbers = checks.add_parser("numbers", help="compare a fresh metrics.json with the committed one, within tolerances")
    numbers.add_argument("fresh", type=Path, help="metrics.json of a fresh run of the notebooks")
    numbers.add_argument("--reference", type=Path, default=None, help="default: assets/metrics.json")
    numbers.set_defaults(func=_check_numbers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vaelab.workshop import runs  # its errors are caught below

    try:
        args.func(args)
    except KeyboardInterrupt:
        print("interrupted" + (": run the same command again to resume from the last finished epoch"
                               if args.command == "train" else ""), file=sys.stderr)
        return 130
    except (DataError, DeviceError, runs.RunError, runs.TrainingError, OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
