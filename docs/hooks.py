"""MkDocs hooks: publish the notebooks' figures from assets/ and MathJax from node_modules/, and
write the table of notebook links (Colab, GitHub) from the repository's address.

Nothing is copied by hand: every PNG in assets/ becomes ``assets/<name>.png`` in the site, and
MathJax's ``tex-chtml.js`` (TeX input only: with the MathML input too, re-typesetting a page after
instant navigation would typeset MathJax's own hidden MathML a second time) with its CHTML fonts
becomes ``js/mathjax/``. A page that links a
figure missing from assets/ fails ``mkdocs build --strict``; so does a missing MathJax (run
``npm ci``, as ``make docs`` does).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"


def on_files(files, config):
    for png in sorted((ROOT / "assets").glob("*.png")):
        files.append(File.generated(config, f"assets/{png.name}", abs_src_path=str(png)))
    for path in sorted((ROOT / "assets" / "explore").glob("*")):  # the explorer's decoders (not check/)
        if path.suffix in (".json", ".bin"):
            files.append(File.generated(config, f"assets/explore/{path.name}", abs_src_path=str(path)))
    script = MATHJAX / "tex-chtml.js"
    if not script.is_file():
        raise PluginError(f"{script}: missing; install MathJax with `npm ci` (package.json pins it)")
    files.append(File.generated(config, "js/mathjax/tex-chtml.js", abs_src_path=str(script)))
    for font in sorted((MATHJAX / "output" / "chtml" / "fonts").rglob("*.woff")):
        name = font.relative_to(MATHJAX).as_posix()
        files.append(File.generated(config, f"js/mathjax/{name}", abs_src_path=str(font)))
    return files


NOTEBOOKS_MARK = "<!-- notebooks: links from pyproject.toml -->"
EXPLORE_MARK = "<!-- explore: the exported files from assets/explore/ -->"
MODEL_NAMES = {"plane": "2-D VAE", "best": "best VAE"}


def explore_files(folder: Path) -> str:
    """The explorer's files table from the manifests in ``folder`` (notebook 08's export): the size
    of each model's file (``<dataset>-<model>.bin``), how its weights are stored, and how far its pixels are from PyTorch's."""
    manifests = sorted(folder.glob("*.json"))
    if not manifests:
        raise PluginError(f"{folder}: no exported decoders; run notebook 08 (make report)")
    rows = ["| dataset | model | size | weights stored as | largest pixel difference | mean |",
            "|---|---|---:|---|---:|---:|"]
    total = 0
    for path in manifests:
        manifest = json.loads(path.read_text())
        for name, entry in manifest["models"].items():
            size = entry["bytes"] + path.stat().st_size / len(manifest["models"])
            total += size
            linear = [layer for layer in entry["layers"] if layer["op"] == "linear"]
            storage = " · ".join(f"{layer['out']}×{layer['in']} {'int8' if 'scale' in layer else 'float16'}"
                                 for layer in linear)
            error, levels = entry["error"], entry["error"]["grey_levels"]
            rows.append(f"| {DATASET_NAMES.get(manifest['dataset'], manifest['dataset'])} | {MODEL_NAMES.get(name, name)} | "
                        f"{entry['bytes'] / 1e6:.2f} MB | {storage} | "
                        f"{error['max']:.4f} ({levels} grey level{'' if levels == 1 else 's'}) | {error['mean']:.5f} |")
    return "\n".join(rows) + f"\n\nIn all, with the manifests: **{total / 1e6:.2f} MB**."


HEADLINE_MARK = "<!-- headline: the best VAE from assets/metrics.json -->"
HEADLINE_ROWS = ["MLP VAE", "best VAE", "best VAE, binarized MNIST"]  # notebook 07's names, in this order
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}


def _number(value, decimals: int) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def headline(content: dict) -> str:
    """The overview's headline table from a metrics.json ``content`` (notebook 07's rows): the
    classic MLP VAE and the best VAE of each dataset, and the binarized-MNIST row where there is one."""
    rows = ["| dataset | model | test −ELBO | NLL (k = 500) | active units | linear probe | FD prior |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for dataset in content["datasets"]:
        named = {r["name"]: r for r in content["rows"]
                 if r["dataset"] == dataset and r.get("table", "evaluation") == "evaluation"}
        for name in (n for n in HEADLINE_ROWS if n in named):
            r = named[name]
            rows.append(f"| {DATASET_NAMES.get(dataset, dataset)} | {name} | {_number(r.get('test_neg_elbo'), 2)} | "
                        f"{_number(r.get('iw_nll'), 2)} | {r.get('active_units')} of {r.get('latent_dim')} | "
                        f"{_number(r.get('probe_accuracy'), 3)} | {_number(r.get('fd_prior'), 1)} |")
    return "\n".join(rows)


# A number of the latest run inside hand-written prose: [[metric: fashion-mnist / best VAE / active_units]]
# (dataset / row name / key of metrics.json; "priors: VampPrior" names a row of notebook 04's table,
# "dataset" the dataset's own numbers such as its entropy floor "bce_floor").
METRIC = re.compile(r"\[\[metric:\s*([^\]]+?)\s*\]\]")
DECIMALS = {"probe_accuracy": 3, "knn_accuracy": 3, "recon_mse": 4, "fd_prior": 1, "fd_gmm": 1, "fd_floor": 1}


def metric(content: dict, reference: str) -> str:
    """The value ``reference`` ("dataset / row / key") names in a metrics.json ``content``, as the
    tables print it; ValueError, naming the reference, if there is no such number."""
    parts = [p.strip() for p in reference.split("/")]
    if len(parts) != 3:
        raise ValueError(f"[[metric: {reference}]]: write it as dataset / row / key")
    dataset, name, key = parts
    if name == "dataset":  # the dataset's own numbers: entropy floor, classifier accuracy, ...
        value = content["datasets"].get(dataset, {}).get(key)
    else:
        table, _, name = name.rpartition(":") if ":" in name else ("evaluation", "", name)
        rows = [r for r in content["rows"] if r["dataset"] == dataset and r["name"] == name.strip()
                and r.get("table", "evaluation") == table.strip()]
        value = rows[0].get(key) if rows else None
    if value is None:
        raise ValueError(f"[[metric: {reference}]]: assets/metrics.json has no such number")
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{DECIMALS.get(key, 2)}f}"


def _metrics() -> dict:
    path = ROOT / "assets" / "metrics.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PluginError(f"{path}: not readable ({e}); run notebook 07 (make report)") from None


EXERCISES_MARK = "[[exercises]]"


def exercises_table() -> str:
    """The assignment's exercises as a table, read from their markers in the lesson
    (``vaelab.workshop.exercises``, standard library only)."""
    sys.path.insert(0, str(ROOT / "src"))
    from vaelab.workshop import exercises

    found = exercises.marked(ROOT / "src" / "vaelab")
    rows = ["| # | exercise | function | first used in | points | about |", "|---:|---|---|---|---:|---:|"]
    rows += [f"| {e.number} | {e.title} | `{e.name}` | notebook {e.notebook} | {e.points} | {e.minutes} min |"
             for e in found]
    rows.append(f"| | **all** | | | **{sum(e.points for e in found)}** | **{sum(e.minutes for e in found)} min** |")
    return "\n".join(rows)


def on_page_markdown(markdown, page, config, files):
    """Replace the headline mark with the best VAE's numbers from assets/metrics.json (written by
    notebook 07), every [[metric: ...]] with its number from the same file, and the notebooks mark
    with a table of every notebook and its links (Colab, GitHub), built by ``vaelab.workshop.colab`` from the
    repository's address in pyproject.toml."""
    if HEADLINE_MARK in markdown:
        markdown = markdown.replace(HEADLINE_MARK, headline(_metrics()))
    if METRIC.search(markdown):
        content = _metrics()
        where = getattr(getattr(page, "file", None), "src_path", "a page")
        try:
            markdown = METRIC.sub(lambda m: metric(content, m.group(1)), markdown)
        except ValueError as e:
            raise PluginError(f"docs/{where}: {e}") from None
    if EXPLORE_MARK in markdown:
        markdown = markdown.replace(EXPLORE_MARK, explore_files(ROOT / "assets" / "explore"))
    if EXERCISES_MARK in markdown:
        markdown = markdown.replace(EXERCISES_MARK, exercises_table())
    if NOTEBOOKS_MARK not in markdown:
        return markdown
    sys.path.insert(0, str(ROOT / "src"))
    from vaelab.workshop import colab  # standard library only: the Pages workflow does not install torch

    url = colab.repository(ROOT)
    rows = ["| notebook | open it |", "|---|---|"]
    for path in colab.notebooks(ROOT):
        rows.append(f"| `{path.stem}` | [Open in Colab]({colab.colab_url(path.name, url)}) · "
                    f"[view on GitHub]({colab.github_url(path.name, url)}) |")
    return markdown.replace(NOTEBOOKS_MARK, "\n".join(rows))
