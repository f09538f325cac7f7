"""The report's overview headline: written at build time by docs/hooks.py from assets/metrics.json,
so its numbers are always the latest run's."""

from __future__ import annotations

import json
import sys

import pytest
from mkdocs.exceptions import PluginError

from vaelab import paths

ROOT = paths.project_root()


@pytest.fixture(scope="module")
def hooks():
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(ROOT / "docs"))
    return hooks


def test_headline_takes_its_numbers_from_the_rows(hooks):
    content = {"datasets": {"mnist": {}}, "rows": [
        {"dataset": "mnist", "name": "best VAE", "table": "evaluation", "test_neg_elbo": 91.8501, "iw_nll": 89.2549,
         "active_units": 17, "latent_dim": 20, "probe_accuracy": 0.9591, "fd_prior": 17.04},
        {"dataset": "mnist", "name": "MLP VAE", "test_neg_elbo": 105.8, "iw_nll": 101.64, "active_units": 20,
         "latent_dim": 20, "probe_accuracy": 0.885, "fd_prior": 133.5},
        {"dataset": "mnist", "name": "best VAE", "table": "priors", "test_neg_elbo": 1.0},  # notebook 07's: not here
        {"dataset": "mnist", "name": "AE", "test_neg_elbo": None}]}
    lines = hooks.headline(content).splitlines()
    assert lines[2] == "| MNIST | MLP VAE | 105.80 | 101.64 | 20 of 20 | 0.885 | 133.5 |"
    assert lines[3] == "| MNIST | best VAE | 91.85 | 89.25 | 17 of 20 | 0.959 | 17.0 |"
    assert len(lines) == 4


def test_the_overview_shows_the_committed_numbers(hooks):
    page = (ROOT / "docs" / "index.md").read_text()
    assert hooks.HEADLINE_MARK in page
    out = hooks.on_page_markdown(page, None, None, None)
    content = json.loads((ROOT / "assets" / "metrics.json").read_text())
    best = next(r for r in content["rows"] if r["dataset"] == "fashion-mnist" and r["name"] == "best VAE"
                and r.get("table", "evaluation") == "evaluation")
    assert f"| Fashion-MNIST | best VAE | {best['test_neg_elbo']:.2f} | {best['iw_nll']:.2f} |" in out


def test_a_missing_metrics_file_fails_the_build(hooks, monkeypatch, tmp_path):
    monkeypatch.setattr(hooks, "ROOT", tmp_path)
    with pytest.raises(PluginError, match="metrics.json: not readable"):
        hooks.on_page_markdown(hooks.HEADLINE_MARK, None, None, None)
