"""The report's overview headline: written at build time by docs/hooks.py from assets/metrics.json,
so its numbers are always the latest run's."""

from __future__ import annotations

import json
import sys

import pytest
from mkdocs.exceptions import PluginError

from vaelab.workshop import paths

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
        {"dataset": "mnist", "name": "best VAE", "table": "priors", "test_neg_elbo": 1.0},  # notebook 04's: not here
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


def test_a_metric_in_prose_is_the_number_of_the_latest_run(hooks):
    content = {"datasets": {"mnist": {"bce_floor": 45.5321}}, "rows": [
        {"dataset": "mnist", "name": "best VAE", "active_units": 17, "iw_nll": 89.2549, "probe_accuracy": 0.95912},
        {"dataset": "mnist", "name": "VampPrior", "table": "priors", "iw_nll": 94.716}]}
    assert hooks.metric(content, "mnist / best VAE / active_units") == "17"
    assert hooks.metric(content, "mnist / best VAE / iw_nll") == "89.25"
    assert hooks.metric(content, "mnist / best VAE / probe_accuracy") == "0.959"
    assert hooks.metric(content, "mnist / priors: VampPrior / iw_nll") == "94.72"
    assert hooks.metric(content, "mnist / dataset / bce_floor") == "45.53"
    for wrong in ("mnist / VampPrior / iw_nll", "mnist / best VAE / fd_gmm", "fashion-mnist / best VAE / iw_nll"):
        with pytest.raises(ValueError, match="no such number"):
            hooks.metric(content, wrong)


def test_a_page_citing_a_number_the_run_lacks_fails_the_build(hooks):
    class Page:
        class file:
            src_path = "insights.md"
    with pytest.raises(PluginError, match=r"docs/insights.md: \[\[metric: mnist / best VAE / no_such_key\]\]"):
        hooks.on_page_markdown("NLL [[metric: mnist / best VAE / no_such_key]] nats", Page, None, None)


def test_every_metric_the_pages_cite_is_in_the_committed_run(hooks):
    for page in sorted((ROOT / "docs").glob("*.md")):
        hooks.on_page_markdown(page.read_text(), None, None, None)  # raises on a number the run lacks


def test_the_explore_pages_file_table_comes_from_the_manifests(hooks, tmp_path):
    """Issue 16: the Explore page says each decoder's size and error as the latest export wrote them."""
    with pytest.raises(PluginError, match="no exported decoders; run notebook 08"):
        hooks.explore_files(tmp_path)
    entry = {"file": "mnist-best.bin", "bytes": 1_551_792, "error": {"max": 0.0246, "mean": 0.000343, "grey_levels": 7},
             "layers": [{"op": "linear", "in": 20, "out": 512}, {"op": "silu"},
                        {"op": "linear", "in": 512, "out": 784, "scale": "w2.scale", "group": 16}]}
    (tmp_path / "mnist.json").write_text(json.dumps({"dataset": "mnist", "models": {"best": entry}}))
    table = hooks.explore_files(tmp_path)
    assert "| MNIST | best VAE | 1.55 MB | 512×20 float16 · 784×512 int8 | 0.0246 (7 grey levels) | 0.00034 |" in table
    assert "In all, with the manifests: **1.55 MB**" in table


def test_the_teaching_page_lists_the_exercises_from_their_markers(hooks):
    from vaelab.workshop import exercises

    table = hooks.exercises_table()
    found = exercises.marked()
    assert all(f"| {e.number} | {e.title} | `{e.name}` | notebook {e.notebook} | {e.points} |" in table for e in found)
    assert table.splitlines()[-1].startswith(f"| | **all** | | | **{sum(e.points for e in found)}**")
    assert hooks.EXERCISES_MARK in (ROOT / "docs" / "teaching.md").read_text()
