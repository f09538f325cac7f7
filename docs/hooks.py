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
import sys
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[1]
MATHJAX = ROOT / "node_modules" / "mathjax" / "es5"


def on_files(files, config):
    for png in sorted((ROOT / "assets").glob("*.png")):
        files.append(File.generated(config, f"assets/{png.name}", abs_src_path=str(png)))
    script = MATHJAX / "tex-chtml.js"
    if not script.is_file():
        raise PluginError(f"{script}: missing; install MathJax with `npm ci` (package.json pins it)")
    files.append(File.generated(config, "js/mathjax/tex-chtml.js", abs_src_path=str(script)))
    for font in sorted((MATHJAX / "output" / "chtml" / "fonts").rglob("*.woff")):
        name = font.relative_to(MATHJAX).as_posix()
        files.append(File.generated(config, f"js/mathjax/{name}", abs_src_path=str(font)))
    return files


NOTEBOOKS_MARK = "<!-- notebooks: links from pyproject.toml -->"


HEADLINE_MARK = "<!-- headline: the best VAE from assets/metrics.json -->"
HEADLINE_ROWS = ["MLP VAE", "best VAE", "best VAE, binarized MNIST"]  # notebook 06's names, in this order
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}


def _number(value, decimals: int) -> str:
    return "—" if value is None else f"{value:.{decimals}f}"


def headline(content: dict) -> str:
    """The overview's headline table from a metrics.json ``content`` (notebook 06's rows): the
    seed's MLP VAE and the best VAE of each dataset, and the binarized-MNIST row where there is one."""
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


def on_page_markdown(markdown, page, config, files):
    """Replace the headline mark with the best VAE's numbers from assets/metrics.json (written by
    notebook 06), and the notebooks mark with a table of every notebook and its links (Colab,
    GitHub), built by ``vaelab.colab`` from the repository's address in pyproject.toml."""
    if HEADLINE_MARK in markdown:
        metrics = ROOT / "assets" / "metrics.json"
        try:
            content = json.loads(metrics.read_text())
        except (OSError, ValueError) as e:
            raise PluginError(f"{metrics}: not readable ({e}); run notebook 06 (make report)") from None
        markdown = markdown.replace(HEADLINE_MARK, headline(content))
    if NOTEBOOKS_MARK not in markdown:
        return markdown
    sys.path.insert(0, str(ROOT / "src"))
    from vaelab import colab  # standard library only: the Pages workflow does not install torch

    url = colab.repository(ROOT)
    rows = ["| notebook | open it |", "|---|---|"]
    for path in colab.notebooks(ROOT):
        rows.append(f"| `{path.stem}` | [Open in Colab]({colab.colab_url(path.name, url)}) · "
                    f"[view on GitHub]({colab.github_url(path.name, url)}) |")
    return markdown.replace(NOTEBOOKS_MARK, "\n".join(rows))
