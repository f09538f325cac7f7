"""``python -m vaelab data fetch|verify|export-csv``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vaelab import data
from vaelab.workshop import cli, datasets, runs


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vaelab", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_verify_the_data_folder(fashion_raw):
    result = run("data", "verify", "--dataset", "fashion-mnist")
    assert result.returncode == 0, result.stderr
    assert "match the original MD5s" in result.stdout


def test_fetch_from_a_mirror_then_verify_fails_on_damage(mirror, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(mirror))
    assert cli.main(["data", "fetch", "--no-download"]) == 0
    assert "copied from the mirror" in capsys.readouterr().out
    labels = tmp_path / "d" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    assert cli.main(["data", "verify"]) == 1
    assert capsys.readouterr().err == f"error: {labels}: 10007 bytes, expected 10008 for dimensions (10000,)\n"


def test_fetch_with_nothing_to_fetch_from(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VAELAB_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("VAELAB_DATA_MIRROR", str(tmp_path / "nothing"))
    assert cli.main(["data", "fetch", "--dataset", "mnist", "--no-download"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: mnist: no copy found") and "download: not tried" in err
    assert not any((tmp_path / "d").rglob("*-ubyte"))


def test_export_csv(fashion_raw, tmp_path, monkeypatch, capsys):
    real_load = data.load
    monkeypatch.setattr(data, "load", lambda name, train=True: tuple(t[:300] for t in real_load(name, train)))
    assert cli.main(["data", "export-csv", "--out", str(tmp_path), "--format", ".csv.gz"]) == 0
    out = capsys.readouterr().out
    assert f"fashion-mnist train: {tmp_path / 'fashion-mnist_train.csv.gz'}" in out
    x, y = datasets.read_csv(tmp_path / "fashion-mnist_test.csv.gz")
    assert len(x) == 300 and y.tolist() == real_load("fashion-mnist", False)[1][:300].tolist()


def test_unknown_dataset_is_a_usage_error():
    result = run("data", "fetch", "--dataset", "cifar10")
    assert result.returncode == 2 and "invalid choice: 'cifar10'" in result.stderr


@pytest.mark.parametrize("argv", [[], ["data"]])
def test_a_subcommand_is_required(argv):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2


def test_train_then_evaluate(fashion_raw, tmp_path):
    out = tmp_path / "runs" / "vae"
    result = run("train", "--dataset", "fashion-mnist", "--model", "vae", "--latent-dim", "2", "--epochs", "1",
                 "--seed", "0", "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dataset"] == "fashion-mnist" and metrics["model"] == "vae" and metrics["epochs"] == 1
    assert metrics["test_neg_elbo"] == pytest.approx(metrics["test_recon"] + metrics["test_kl"])
    assert 189.8 < metrics["bce_floor"] < 190 < metrics["test_neg_elbo"] < 545
    assert metrics["seconds_per_epoch"] > 0 and metrics["train_images_per_second"] > 0
    assert f"test -ELBO {metrics['test_neg_elbo']:.2f} nats/image" in result.stdout
    result = run("evaluate", str(out))
    assert result.returncode == 0, result.stderr
    assert f"test -ELBO {metrics['test_neg_elbo']:.2f}" in result.stdout and "matches" in result.stdout


def test_train_options_reach_the_config(monkeypatch, tmp_path):
    """Every training option of the command line lands in the TrainConfig: the best VAE's recipe
    (runs.best_config) can be trained from the shell."""
    class Stop(Exception):
        pass

    seen = []

    def fake_train(cfg, out):
        seen.append(cfg)
        raise Stop

    monkeypatch.setattr(runs, "train", fake_train)
    best = runs.best_config("mnist", seed=3)
    argv = ["train", "--dataset", "mnist", "--model", best.model, "--latent-dim", str(best.latent_dim),
            "--epochs", str(best.epochs), "--lr", str(best.lr), "--schedule", best.schedule,
            "--warmup-epochs", str(best.warmup_epochs), "--free-bits", str(best.free_bits), "--prior", best.prior,
            "--components", str(best.components), "--seed", "3",
            "--out", str(tmp_path / "best")]
    with pytest.raises(Stop):
        cli.main(argv)
    assert seen == [best]


