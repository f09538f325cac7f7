"""MkDocs hooks: publish the notebooks' figures from assets/ and MathJax from node_modules/.

Nothing is copied by hand: every PNG in assets/ becomes ``assets/<name>.png`` in the site, and
MathJax's ``tex-chtml.js`` (TeX input only: with the MathML input too, re-typesetting a page after
instant navigation would typeset MathJax's own hidden MathML a second time) with its CHTML fonts
becomes ``js/mathjax/``. A page that links a
figure missing from assets/ fails ``mkdocs build --strict``; so does a missing MathJax (run
``npm ci``, as ``make docs`` does).
"""

from __future__ import annotations

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
