"""The spread over training seeds of every number the notebooks show: the tolerance tier's yardstick.

    .venv/bin/python benchmarks/notebook_spread.py [--dataset fashion-mnist] [--seeds 1 2] [--notebooks 02_vae ...]

Another CPU, another BLAS or a GPU rounds differently from the first training step, and training
amplifies that as it amplifies a change of seed; so ``make test``'s tolerance tier allows each
number four standard deviations of its spread over seeds (``vaelab.workshop.numbers``). This
script runs every notebook top to bottom with ``-p seed k`` for each seed (papermill, into
``build/spread/<dataset>/seed<k>/``, figures into a folder of their own; the models go to
``runs/`` as usual, so a second call reuses them), reads every number of every code cell
(``numbers.notebook_tokens``), adds seed 0 from the committed notebooks, and writes each
number's values to ``benchmarks/results/notebook_spread_<dataset>.json`` (committed), with the
cells whose count of numbers changed with the seed ("unstable": a sentence that lists the targets
missed, say), which the check cannot compare number by number. A notebook
already run for a seed is read again, not run again. A fresh run takes about as long as the
notebooks from a fresh clone, per seed: about 30 minutes for Fashion-MNIST on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date
from pathlib import Path

from vaelab.workshop import numbers, paths


def run(notebook: Path, out: Path, dataset: str, seed: int) -> float:
    """Run one notebook with papermill for ``seed``; its seconds (0 if it had run already)."""
    if out.is_file():
        return 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "VAELAB_ASSETS_DIR": str(out.parent / "assets")}
    start = time.perf_counter()
    partial = out.with_suffix(".partial.ipynb")
    done = subprocess.run([sys.executable, "-m", "papermill", "--log-level", "WARNING", "--cwd", "notebooks",
                           str(notebook), str(partial), "-p", "seed", str(seed), "-p", "dataset", dataset], env=env)
    if done.returncode != 0:
        raise SystemExit(f"{notebook.name} failed with seed {seed} (its output so far: {partial})")
    partial.replace(out)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--notebooks", nargs="*", default=None, help="stems (default: every numbered notebook)")
    args = parser.parse_args()
    root = paths.project_root()
    notebooks = sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.notebooks:
        notebooks = [nb for nb in notebooks if nb.stem in args.notebooks]
    if args.dataset != "fashion-mnist":
        raise SystemExit("seed 0 is the committed notebooks, which are Fashion-MNIST's; other datasets are not measured yet")
    out_path = numbers.spread_path(args.dataset)
    content = json.loads(out_path.read_text()) if out_path.is_file() else {"notebooks": {}}
    start = time.perf_counter()
    folder = root / "build" / "spread" / args.dataset
    for seed in args.seeds:  # every notebook for one seed, then the next: stopped early, the first seeds are whole
        for notebook in notebooks:
            seconds = run(notebook, folder / f"seed{seed}" / notebook.name, args.dataset, seed)
            print(f"{notebook.stem} seed {seed}: {f'{seconds:.0f} s' if seconds else 'run before'}"
                  f"  [{time.perf_counter() - start:.0f} s in all]", flush=True)
    content.setdefault("unstable", {})
    for notebook in notebooks:
        values = {key: [value] for key, value in numbers.notebook_numbers(notebook).items()}
        count = lambda keys: Counter(key.split()[0] for key in keys)
        unstable = set()
        for seed in args.seeds:
            fresh = numbers.notebook_numbers(folder / f"seed{seed}" / notebook.name)
            for key in values.keys() & fresh.keys():
                values[key].append(fresh[key])
            unstable |= {cell for cell in count(values) | count(fresh) if count(values)[cell] != count(fresh)[cell]}
            print(f"{notebook.stem} seed {seed}: {len(fresh)} numbers (seed 0: {len(values)})"
                  f"{f'; the count changed in {len(unstable)} cell(s)' if unstable else ''}")
        content["notebooks"][notebook.stem] = values
        content["unstable"][notebook.stem] = sorted(unstable)
    content.update(about="Every number of every notebook's code cells (vaelab.workshop.numbers), seed 0 from the "
                         "committed notebooks, then the training seeds run by benchmarks/notebook_spread.py",
                   dataset=args.dataset, seeds=[0, *args.seeds], date=date.today().isoformat())
    out_path.parent.mkdir(parents=True, exist_ok=True)
    paths.atomic_write_bytes(out_path, (json.dumps(content, indent=0, ensure_ascii=False) + "\n").encode())
    print(f"wrote {out_path.relative_to(root)}")


if __name__ == "__main__":
    main()
