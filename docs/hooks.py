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


def on_page_markdown(markdown, page, config, files):
    """Replace the notebooks mark with a table of every notebook and its links (Colab, GitHub),
    built by ``vaelab.colab`` from the repository's address in pyproject.toml."""
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
