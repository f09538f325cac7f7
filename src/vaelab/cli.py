"""Command line: ``python -m vaelab data fetch|verify|export-csv --dataset NAME``."""

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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
