"""The package's shape: the lesson apart from the workshop, and every formula written once."""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

import vaelab

PACKAGE = Path(vaelab.__file__).parent
LESSON = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__main__.py")  # __main__: the command line's door
WORKSHOP = sorted((PACKAGE / "workshop").rglob("*.py"))

# Each formula of the course, how its code gives it away, and the one module allowed to write it.
FORMULAS = {
    # (the exercises' checks build PyTorch's own Normal from a log-variance, to compare the student's code against)
    "sigma from the log-variance (the reparameterisation, a Gaussian's sample)": (r"exp\(\s*0\.5\s*\*",
                                                                                  {"gaussian.py", "workshop/feedback.py"}),
    "log 2 pi (every Gaussian log-density)": (r"\bLOG_2PI\b|log\(\s*2\s*\*\s*(math|np|numpy|torch)\.pi", {"gaussian.py"}),
    "the closed-form KL (1 + log sigma^2 - mu^2 - sigma^2)": (r"1\s*\+\s*logvar|logvar\w*(\[[^]]*\])?\.exp\(\)", {"gaussian.py"}),
    "a Gaussian log-density (-1/2 (... + log sigma^2 + log 2 pi))": (r"-\s*0\.5\s*\*\s*\(", {"gaussian.py"}),
    "a log-sum-exp (a mixture's density, the importance-sampled bound)": (r"\blogsumexp\b", {"gaussian.py", "bounds.py"}),
    "the importance weights log p(x|z) + log p(z) - log q(z|x)": (r"\+\s*log_pz?\w*\s*-\s*log_qz?\w*", {"bounds.py"}),
}


def code_only(source: str) -> str:
    """``source`` without comments and strings (docstrings may state a formula; code may not repeat it)."""
    out, last = [], None
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type in (tokenize.COMMENT, tokenize.STRING, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT):
            continue
        if last in (tokenize.NAME, tokenize.NUMBER) and tok.type in (tokenize.NAME, tokenize.NUMBER):
            out.append(" ")  # "return mu": words stay apart, "exp ( 0.5" closes up to "exp(0.5"
        out.append(tok.string)
        last = tok.type
    return "".join(out)


def written_in(pattern: str, files) -> set[str]:
    return {path.relative_to(PACKAGE).as_posix() for path in files if re.search(pattern, code_only(path.read_text()))}


@pytest.mark.parametrize("formula", FORMULAS)
def test_each_formula_is_written_once(formula):
    pattern, home = FORMULAS[formula]
    where = written_in(pattern, [*LESSON, *WORKSHOP])
    assert where <= home, f"{formula} is written again in {sorted(where - home)}: call vaelab.gaussian (or bounds) instead"
    assert where & {"gaussian.py", "bounds.py"}, f"{formula}: not found in the lesson any more; update FORMULAS"


def test_the_formula_check_catches_a_formula_written_again(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text('"""z = mu + exp(0.5 * logvar) * eps, said in words is fine."""\n\n'
                       "def draw(mu, logvar, eps):\n    return mu + torch.exp(0.5 * logvar) * eps  # written again\n")
    caught = {name for name, (pattern, _) in FORMULAS.items() if re.search(pattern, code_only(planted.read_text()))}
    assert caught == {"sigma from the log-variance (the reparameterisation, a Gaussian's sample)"}
    kl = "def kl(mu, logvar):\n    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())\n"
    assert {name for name, (pattern, _) in FORMULAS.items() if re.search(pattern, code_only(kl))} == {
        "the closed-form KL (1 + log sigma^2 - mu^2 - sigma^2)", "a Gaussian log-density (-1/2 (... + log sigma^2 + log 2 pi))"}


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


@pytest.mark.parametrize("path", LESSON, ids=lambda p: p.name)
def test_no_module_of_the_lesson_imports_the_workshop(path):
    workshop = sorted(name for name in imports_of(path) if name.startswith("vaelab.workshop"))
    assert not workshop, f"{path.name} (the lesson) imports {workshop}: the workshop may use the lesson, not the other way"


def test_the_lesson_is_the_first_listing_and_says_which_floor_is_which():
    listing = sorted(p.name for p in PACKAGE.iterdir() if not p.name.startswith((".", "_")) and p.name != "__pycache__")
    assert listing == sorted([p.name for p in LESSON if not p.name.startswith("_")] + ["workshop"])
    lesson = {p.stem for p in LESSON if not p.name.startswith("_")}
    opening = vaelab.__doc__
    assert all(re.search(rf"^\s+{name}\s", opening, re.M) for name in lesson), "the package's docstring lists the lesson"
    assert "vaelab.workshop" in opening


def test_the_ci_cache_of_trained_runs_is_keyed_on_the_fingerprinted_code():
    """The workflow's runs/ cache must change whenever runs.code_fingerprint does."""
    from vaelab.workshop import runs

    workflow = (PACKAGE.parents[1] / ".github" / "workflows" / "ci.yml").read_text()
    key = next(line for line in workflow.splitlines() if "key: runs-" in line)
    missing = [name for name in runs.FINGERPRINTED if f"'src/vaelab/{name}'" not in key]
    assert not missing, f".github/workflows/ci.yml: the runs/ cache key leaves out {missing}"
