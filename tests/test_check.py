"""The regression check's two tiers (vaelab.workshop.check): which one applies where, and a tolerance
check that passes on the committed numbers and fails on a broken loss."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import torch

from vaelab import gaussian
from vaelab.workshop import check, numeric, paths, runs

COMMITTED = paths.project_root() / "assets" / "metrics.json"
REFERENCE_ENV = {"OMP_NUM_THREADS": "2", **numeric.defaults()}


@pytest.fixture(scope="module")
def committed() -> dict:
    return check.read_metrics(COMMITTED)


def test_the_committed_numbers_agree_with_themselves(committed):
    checks = check.compare(committed, committed)
    names = {c["row"] for c in checks}
    assert {"AE", "MLP VAE", "conv VAE", "best VAE", "(dataset)"} <= names
    assert len(checks) >= 40 and all(c["ok"] for c in checks)


def test_a_number_beyond_its_tolerance_fails_and_only_it(committed):
    fresh = copy.deepcopy(committed)
    row = next(r for r in fresh["rows"] if r["dataset"] == "fashion-mnist" and r["name"] == "MLP VAE")
    row["test_kl"] += 1.01 * check.TOLERANCES["test_kl"]
    row["iw_nll"] += 0.99 * check.TOLERANCES["iw_nll"]
    failed = [c for c in check.compare(fresh, committed) if not c["ok"]]
    assert [(c["dataset"], c["row"], c["key"]) for c in failed] == [("fashion-mnist", "MLP VAE", "test_kl")]


def test_a_missing_row_or_a_nan_fails(committed):
    fresh = copy.deepcopy(committed)
    fresh["rows"] = [r for r in fresh["rows"] if r["name"] != "best VAE"]
    next(r for r in fresh["rows"] if r["name"] == "AE")["probe_accuracy"] = float("nan")
    failed = {(c["row"], c["key"]) for c in check.compare(fresh, committed) if not c["ok"]}
    assert ("AE", "probe_accuracy") in failed and ("best VAE", "test_neg_elbo") in failed


def test_report_prints_each_number_and_a_closing_count(tmp_path, committed, capsys):
    fresh = tmp_path / "metrics.json"
    fresh.write_text(json.dumps({"rows": [r for r in committed["rows"] if r["dataset"] == "fashion-mnist"],
                                 "datasets": {"fashion-mnist": committed["datasets"]["fashion-mnist"]}}))
    assert check.report(fresh, COMMITTED)
    lines = capsys.readouterr().out.splitlines()
    n = sum(line.startswith("ok ") for line in lines)
    assert n > 20 and lines[-1] == f"tolerance check: {n} passed, 0 failed"


@pytest.mark.parametrize("content, what", [("{", "not readable JSON"), ('{"rows": 3}', "not a metrics file")])
def test_an_unreadable_metrics_file_is_one_line(tmp_path, content, what):
    bad = tmp_path / "metrics.json"
    bad.write_text(content)
    done = subprocess.run([sys.executable, "-m", "vaelab", "check", "numbers", str(bad)], capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith(f"error: {bad}: {what}") and done.stderr.count("\n") == 1


# --- Which tier applies ------------------------------------------------------------------------


def test_off_x86_the_tolerance_tier_applies_and_says_why(monkeypatch):
    monkeypatch.setattr(numeric.platform, "machine", lambda: "arm64")
    monkeypatch.delenv("VAELAB_CHECK", raising=False)
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    tier, reason = check.platform_tier(REFERENCE_ENV)
    assert tier == "tolerance" and reason.startswith("this CPU is arm64") and "\n" not in reason


def test_another_kind_of_cpu_than_the_references_is_the_tolerance_tier(monkeypatch):
    """An Intel and an AMD CPU round differently even with the same kernels pinned."""
    here = check.cpu_identity()
    other = {**here, "model": f"{here.get('model', '')}0", "model_name": "Another CPU"}
    monkeypatch.setattr(check, "reference_cpu", lambda: other)
    tier, reason = check.platform_tier({**REFERENCE_ENV, "VAELAB_CHECK": ""})
    assert tier == "tolerance" and "is not the kind that made the committed outputs (Another CPU" in reason
    assert reason.endswith(f"(for the exact tier{check.HOW_TO_EXACT})") and "make report" in reason and "\n" not in reason


def test_the_committed_outputs_record_their_cpu(tmp_path):
    recorded = json.loads(check.record_platform(tmp_path).read_text())
    assert recorded["cpu"] == check.cpu_identity() and recorded["torch"] == torch.__version__.split("+")[0]
    assert (COMMITTED.parent / check.RECORD).is_file(), "make report writes assets/reference_platform.json"


@pytest.mark.parametrize("env, why", [({"OMP_NUM_THREADS": "8"}, "OMP_NUM_THREADS is 8"),
                                      ({"ATEN_CPU_CAPABILITY": "avx512"}, "ATEN_CPU_CAPABILITY=avx512")])
def test_another_numeric_environment_is_the_tolerance_tier(env, why, monkeypatch):
    monkeypatch.setattr(numeric, "is_x86_avx2", lambda: True)
    monkeypatch.setattr(check, "reference_cpu", check.cpu_identity)
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    monkeypatch.setattr(torch, "__version__", check.pinned_torch())
    assert check.platform_tier(REFERENCE_ENV) [0] == "exact"
    tier, reason = check.platform_tier({**REFERENCE_ENV, **env})
    assert tier == "tolerance" and why in reason
    assert "make report" not in reason  # the references' own CPU gets the exact tier through make, not by remaking them


def test_a_gpu_or_another_torch_is_the_tolerance_tier(monkeypatch):
    monkeypatch.setattr(numeric, "is_x86_avx2", lambda: True)
    monkeypatch.setenv("VAELAB_DEVICE", "cuda")
    tier, reason = check.platform_tier(REFERENCE_ENV)
    assert tier == "tolerance" and "cuda" in reason.lower()
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    monkeypatch.setattr(torch, "__version__", "2.99.0")
    assert "torch is 2.99.0, not the pinned" in check.platform_tier(REFERENCE_ENV)[1]


def test_vaelab_check_chooses_a_tier_by_hand():
    assert check.platform_tier({"VAELAB_CHECK": "tolerance"}) == ("tolerance", "chosen by VAELAB_CHECK=tolerance")
    done = subprocess.run([sys.executable, "-m", "vaelab", "check", "tier"], capture_output=True, text=True,
                          env={"VAELAB_CHECK": "tolerance", "PATH": ""})
    assert done.returncode == 3 and done.stdout == "tolerance: chosen by VAELAB_CHECK=tolerance\n"


# --- The tolerance check catches a broken loss -------------------------------------------------

CLASSIC_VAE = runs.TrainConfig(dataset="fashion-mnist", model="vae", latent_dim=10, epochs=10, seed=0, device="cpu")
ELBO_KEYS = ["test_neg_elbo", "test_recon", "test_kl"]


def as_metrics(run) -> dict:
    row = {"dataset": "fashion-mnist", "name": "MLP VAE", **{k: run.metrics[k] for k in ELBO_KEYS}}
    return {"rows": [row], "datasets": {"fashion-mnist": {}}}


def test_the_classic_vae_as_trained_here_passes(fashion_raw, committed):
    """The classic VAE of notebooks 02 and 07, trained here (or reused from runs/), is within tolerance
    of the committed numbers: on the reference platform it is the same number."""
    checks = check.compare(as_metrics(runs.train(CLASSIC_VAE, progress=False)), committed, ELBO_KEYS, ["MLP VAE"])
    assert len(checks) == 3 and all(c["ok"] for c in checks), checks


def test_a_broken_kl_fails_the_tolerance_check(fashion_raw, committed, tmp_path, monkeypatch):
    """The KL without its factor 1/2, a classic slip: trained and measured with it, the classic VAE
    lands far outside the tolerances."""
    monkeypatch.setattr(gaussian, "kl_standard_normal", lambda mu, logvar: -(1 + logvar - mu.pow(2) - logvar.exp()))
    run = runs.train(CLASSIC_VAE, tmp_path / "broken", progress=False)
    failed = [c["key"] for c in check.compare(as_metrics(run), committed, ELBO_KEYS, ["MLP VAE"]) if not c["ok"]]
    assert "test_kl" in failed and "test_neg_elbo" in failed
