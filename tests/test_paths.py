"""Where a run writes: the report's assets only when asked."""

from __future__ import annotations

from vaelab.workshop import paths


def test_a_run_writes_to_a_scratch_folder_unless_told_to_write_the_report(monkeypatch):
    """Running a notebook with other parameters must not rewrite the report's figures and tables:
    they go to build/scratch/assets unless VAELAB_ASSETS_DIR names a folder (make report: assets/)."""
    monkeypatch.delenv("VAELAB_ASSETS_DIR", raising=False)
    root = paths.project_root()
    assert paths.assets_dir() == root / "build" / "scratch" / "assets"
    assert paths.report_assets_dir() == root / "assets"
    monkeypatch.setenv("VAELAB_ASSETS_DIR", str(root / "assets"))
    assert paths.assets_dir() == root / "assets"
