"""The repository's address, set once, and what follows from it: the "Open in Colab" badges (the
README's notebook table, each notebook's first cell), each notebook's Colab install cell, and the
report's links (``docs/hooks.py``).

The address lives in ``pyproject.toml`` (``[project.urls] Repository``). To move the course:
change it there, run ``make colab`` (``python -m vaelab.workshop.colab``: rewrites the badges and install
cells), then ``make report`` (notebooks are committed with the outputs of a real run).
``tests/test_colab.py`` fails while anything disagrees with the address.

Only the standard library is used here, so the report's build can import it without torch.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

BRANCH = "main"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_MARK = "# Colab only:"
_URL = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)/?$")


def _root(root=None) -> Path:
    if root is not None:
        return Path(root)
    from vaelab.workshop.paths import project_root

    return project_root()


def repository(root=None) -> str:
    """The repository's address, ``https://github.com/<owner>/<name>``: from pyproject.toml in a
    checkout, else from the installed package's metadata (as in Colab)."""
    pyproject = _root(root) / "pyproject.toml"
    if pyproject.is_file():
        import tomllib  # Python 3.11+; the checkout's tools run there

        url = tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {}).get("Repository")
        where = f"{pyproject} [project.urls] Repository"
    else:
        from importlib.metadata import metadata

        urls = dict(entry.split(", ", 1) for entry in metadata("vaelab").get_all("Project-URL") or [])
        url, where = urls.get("Repository"), "the installed vaelab's metadata (Project-URL Repository)"
    if not url or not _URL.match(url):
        raise ValueError(f"{where}: expected https://github.com/<owner>/<name>, not {url!r}")
    return url.rstrip("/")


def slug(url: str) -> str:
    """``owner/name`` of a GitHub address."""
    owner, name = _URL.match(url).groups()
    return f"{owner}/{name}"


def colab_url(notebook: str, url: str) -> str:
    """Where Colab opens ``notebooks/<notebook>`` of the repository's main branch."""
    return f"https://colab.research.google.com/github/{slug(url)}/blob/{BRANCH}/notebooks/{notebook}"


def github_url(notebook: str, url: str) -> str:
    return f"{url}/blob/{BRANCH}/notebooks/{notebook}"


def badge(notebook: str, url: str) -> str:
    """The Markdown of the "Open in Colab" badge of one notebook."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(notebook, url)})"


DRIVE = "/content/drive"  # where Colab mounts Google Drive


def install_cell(url: str) -> str:
    """The source of every notebook's first code cell: in Colab only, keep the work on Google Drive
    (asked for; declined, it stays on the machine), install the package and fetch the data. Each
    Colab notebook is a new machine: with data/ and runs/ on Drive, a notebook reuses what an
    earlier one trained instead of training it again."""
    return (f"{INSTALL_MARK} keep data/ and runs/ on your Google Drive (Colab asks; say no and each notebook trains its\n"
            "# models again), install the course's package from its repository and fetch a checked copy of the data\n"
            "# (`make setup` and `make data` did it everywhere else). Runtime > Change runtime type > GPU is optional.\n"
            "import importlib\n"
            "import os\n"
            "import subprocess\n"
            "import sys\n"
            "\n"
            "if \"google.colab\" in sys.modules:\n"
            "    try:\n"
            "        from google.colab import drive\n"
            "\n"
            f"        drive.mount(\"{DRIVE}\")\n"
            f"        os.makedirs(\"{DRIVE}/MyDrive/vaelab\", exist_ok=True)\n"
            f"        os.chdir(\"{DRIVE}/MyDrive/vaelab\")  # data/, runs/ and build/ go here, kept between notebooks\n"
            "    except Exception as error:  # declined, or no Drive\n"
            "        print(f\"Google Drive not used ({error}): data/ and runs/ stay on this machine, so every notebook \"\n"
            "              \"trains the models it needs again\")\n"
            "    print(f\"working folder: {os.getcwd()}\")\n"
            "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", "
            f"\"vaelab @ git+{url}\"], check=True)\n"
            "    importlib.invalidate_caches()\n"
            "    for name in (\"fashion-mnist\", \"mnist\"):\n"
            "        subprocess.run([sys.executable, \"-m\", \"vaelab\", \"data\", \"fetch\", \"--dataset\", name], "
            "check=name != \"mnist\")")


def notebooks(root=None) -> list[Path]:
    return sorted((_root(root) / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _synced_notebook(nb: dict, name: str, url: str) -> dict:
    """``nb`` with the badge as the first line of its first cell and the install cell after it."""
    first = nb["cells"][0]
    lines = "".join(first["source"]).split("\n")
    if lines[0].startswith("[![Open In Colab]"):
        lines = lines[2:] if len(lines) > 1 and not lines[1].strip() else lines[1:]
    first["source"] = _lines("\n".join([badge(name, url), "", *lines]))
    cell = nb["cells"][1] if len(nb["cells"]) > 1 else None
    source = _lines(install_cell(url))
    if cell is not None and cell["cell_type"] == "code" and "".join(cell["source"]).startswith(INSTALL_MARK):
        cell["source"] = source
    else:
        cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
        if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) >= (4, 5):
            cell = {"id": "colab-install", **cell}  # nbformat 4.5 gives every cell an id
        nb["cells"].insert(1, cell)
    return nb


def _lines(text: str) -> list[str]:
    """Notebook JSON's way of storing a cell's source: lines with their newlines."""
    parts = text.split("\n")
    return [line + "\n" for line in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _synced_readme(text: str, url: str) -> str:
    """The README with the last column of each notebook row of its table set to the badge."""
    out = []
    for line in text.split("\n"):
        match = re.match(r"^\| \[`(\d\d_\w+)`\]\(notebooks/\1\.ipynb\) \|", line)
        if match:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells[-1].startswith("[![Open In Colab]"):
                cells = cells[:-1]
            line = "| " + " | ".join([*cells, badge(f"{match.group(1)}.ipynb", url)]) + " |"
        out.append(line)
    return "\n".join(out)


def out_of_sync(root=None) -> dict[Path, str]:
    """Every file whose badges or install cell disagree with the address: {path: its synced text}."""
    root, url = _root(root), repository(root)
    stale = {}
    for path in notebooks(root):
        text = path.read_text()
        synced = json.dumps(_synced_notebook(json.loads(text), path.name, url), indent=1, ensure_ascii=False) + "\n"
        if synced != text:
            stale[path] = synced
    readme = root / "README.md"
    text = readme.read_text()
    if _synced_readme(text, url) != text:
        stale[readme] = _synced_readme(text, url)
    return stale


def main() -> int:
    """Rewrite the badges and install cells that disagree with the address (``make colab``)."""
    from vaelab.workshop.paths import atomic_write_bytes

    stale = out_of_sync()
    for path, text in stale.items():
        atomic_write_bytes(path, text.encode())
        print(f"updated {path.name}")
    print(f"{len(stale)} file(s) updated from {repository()}" if stale else f"all links follow {repository()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
