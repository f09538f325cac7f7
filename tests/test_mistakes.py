"""Every mistake gets one clear line: bad options are refused before any work starts, and a
missing, damaged or foreign file where a run's file should be names the file, says what is wrong
and what to do, exits non-zero, prints no traceback and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from vaelab.workshop import cli, runs


def vaelab(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "vaelab", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


TRAIN = ["train", "--dataset", "fashion-mnist", "--model", "vae", "--latent-dim", "2", "--epochs", "1"]
BAD_OPTIONS = [
    ("--epochs", "0"), ("--epochs", "-3"), ("--epochs", "1e9"), ("--epochs", "2.5"), ("--epochs", "ten"),
    ("--latent-dim", "0"), ("--latent-dim", "100000"), ("--batch-size", "0"), ("--batch-size", "10000000"),
    ("--lr", "0"), ("--lr", "-1e-3"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "50"),
    ("--beta", "-1"), ("--beta", "nan"), ("--beta", "1e300"), ("--warmup-epochs", "-1"), ("--warmup-epochs", "inf"),
    ("--free-bits", "-0.5"), ("--free-bits", "nan"), ("--free-bits", "1e6"), ("--seed", "-1"), ("--seed", "1e3"),
    ("--seed", str(2**64)), ("--device", "gpu"), ("--device", "xla"), ("--model", "transformer"),
    ("--schedule", "linear"), ("--dataset", "cifar10"), ("--prior", "flat"), ("--components", "0"),
    ("--components", "1e9"), ("--components", "-5"),
]


@pytest.mark.parametrize("option, value", BAD_OPTIONS, ids=lambda v: str(v))
def test_a_bad_training_option_is_one_line_before_any_work(option, value, tmp_path, capsys):
    out = tmp_path / "run"
    argv = TRAIN
    if option in ("--model", "--dataset"):
        i = TRAIN.index(option)
        argv = TRAIN[:i] + TRAIN[i + 2:]
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, f"{option}={value}", "--out", str(out)])
    assert e.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("python -m vaelab train: error: argument " + option) and value in line, line
    assert "--help" in line
    assert not out.exists()


def test_options_that_disagree_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main([*TRAIN, "--warmup-epochs", "5", "--out", str(tmp_path / "run")])
    assert e.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert "--warmup-epochs (5) must be at most --epochs (1)" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("options, message", [(["--model", "ae", "--prior", "vamp"], "needs a VAE"),
                                              (["--model", "hvae", "--latent-dim", "5"], "must be even")])
def test_a_model_and_options_that_do_not_go_together_are_one_line(options, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--epochs", "1", *options, "--out", str(tmp_path / "run")])
    assert e.value.code == 2 and message in one_line(capsys.readouterr().err)
    assert not (tmp_path / "run").exists()


def test_a_file_where_the_run_folder_should_be(tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    with pytest.raises(SystemExit):
        cli.main([*TRAIN, "--out", str(tmp_path / "taken")])
    assert "is a file, not a folder" in one_line(capsys.readouterr().err)
    assert (tmp_path / "taken").read_text() == "mine"


def test_the_config_refuses_what_the_command_line_refuses():
    """Notebooks and the API get the same checks as the command line."""
    for field, value in [("epochs", 0), ("lr", float("nan")), ("free_bits", -1.0), ("latent_dim", 2.5),
                         ("seed", -1), ("binarize", "yes"), ("model", "mlp"), ("schedule", "step")]:
        with pytest.raises(runs.ConfigError, match=field.split("_")[0]):
            runs.TrainConfig(**{field: value}).validate()
    assert runs.TrainConfig().validate() == runs.TrainConfig()


# --- Damaged, truncated and foreign run files ------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, fashion_raw):
    """One real finished run (the classic VAE, latent 2, one epoch): its files are damaged below."""
    folder = tmp_path_factory.mktemp("runs") / "vae"
    runs.train(runs.TrainConfig(model="vae", latent_dim=2, epochs=1, batch_size=512, device="cpu"), folder,
                progress=False)
    return folder


@pytest.fixture
def run_copy(finished_run, tmp_path):
    folder = tmp_path / "vae"
    shutil.copytree(finished_run, folder)
    return folder


def truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


DAMAGES = {
    "config.json truncated": ("config.json", truncate, "not readable JSON"),
    "config.json a list": ("config.json", lambda p: p.write_text("[1, 2]"), "not a run's file"),
    "config.json foreign": ("config.json", lambda p: p.write_text('{"name": "x"}'), "not a run's config"),
    "config.json unknown field": ("config.json", lambda p: p.write_text(json.dumps(
        {"config": {**json.loads(p.read_text())["config"], "dropout": 0.1}})), "not a run's config"),
    "config.json missing": ("config.json", lambda p: p.unlink(), "missing"),
    "config.json out of range": ("config.json", lambda p: p.write_text(json.dumps(
        {"config": {**json.loads(p.read_text())["config"], "latent_dim": "10"}})), "not a valid run config"),
    "best.safetensors truncated": ("best.safetensors", truncate, "not a readable safetensors file"),
    "best.safetensors of another model": ("best.safetensors", lambda p: save_file(
        {"w": torch.zeros(3)}, str(p)), "holds weights of another model than the config's VAE"),
    "best.safetensors missing": ("best.safetensors", lambda p: p.unlink(), "missing"),
    "history.json not JSON": ("history.json", lambda p: p.write_bytes(b"\x00\xff garbage"), "not readable JSON"),
    "history.json empty list": ("history.json", lambda p: p.write_text("[]"), "not a run's history"),
    "history.json rows without timings": ("history.json", lambda p: p.write_text('[{"epoch": 1, "val_neg_elbo": 250}]'),
                                          "not a run's history"),
}


@pytest.mark.parametrize("damage", DAMAGES, ids=str)
def test_evaluate_a_damaged_run_is_one_line(damage, run_copy, capsys):
    name, harm, what = DAMAGES[damage]
    harm(run_copy / name)
    assert cli.main(["evaluate", str(run_copy)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {run_copy / name}: {what}"), line
    assert f"delete the run folder {run_copy}" in line


class Foreign:  # a class a weights-only load must refuse
    pass


CHECKPOINT_DAMAGES = {
    "truncated": (truncate, "not a readable checkpoint"),
    "a foreign pickle": (lambda p: p.write_bytes(pickle.dumps(Foreign())), "not a readable checkpoint"),
    "another program's": (lambda p: torch.save({"weights": torch.zeros(2)}, p), "not a checkpoint of vaelab.workshop.runs"),
    "another model's": (lambda p: torch.save({**torch.load(p, weights_only=True), "model": {"w": torch.zeros(1)}}, p),
                        "holds another model's weights"),
}


@pytest.mark.parametrize("damage", CHECKPOINT_DAMAGES, ids=str)
def test_resuming_from_a_damaged_checkpoint_is_one_line(damage, run_copy, capsys):
    """A run cut off after epoch 1 of 2 resumes from last.pt; a damaged last.pt stops it with one line."""
    harm, what = CHECKPOINT_DAMAGES[damage]
    record = json.loads((run_copy / "config.json").read_text())
    record["config"]["epochs"] = 2  # the same run, asked for two epochs: it would resume from last.pt
    (run_copy / "config.json").write_text(json.dumps(record))
    harm(run_copy / "last.pt")
    before = sorted(p.name for p in run_copy.iterdir())
    assert cli.main(["train", "--model", "vae", "--latent-dim", "2", "--epochs", "2", "--batch-size", "512",
                     "--device", "cpu", "--out", str(run_copy)]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"error: {run_copy / 'last.pt'}: {what}"), line
    assert "delete the run folder" in line
    assert sorted(p.name for p in run_copy.iterdir()) == before  # nothing new, nothing half-written


def test_a_damaged_run_gives_one_line_from_a_shell_too(run_copy):
    truncate(run_copy / "best.safetensors")
    done = vaelab("evaluate", str(run_copy))
    assert done.returncode == 1
    assert "not a readable safetensors file" in one_line(done.stderr)


def test_a_run_folder_that_does_not_exist(tmp_path, capsys):
    assert cli.main(["evaluate", str(tmp_path / "nothing")]) == 1
    assert one_line(capsys.readouterr().err) == f"error: {tmp_path / 'nothing'}: no such run folder"


def test_a_negative_value_without_equals_says_how_to_write_it(capsys):
    with pytest.raises(SystemExit):
        cli.main([*TRAIN, "--lr", "-1e-3", "--out", "runs/never"])
    assert "written --option=VALUE" in one_line(capsys.readouterr().err)


def test_a_bad_option_from_a_shell_has_no_usage_block():
    done = vaelab(*TRAIN, "--lr", "nan", "--out", "runs/never")
    assert done.returncode == 2
    assert one_line(done.stderr) == ("python -m vaelab train: error: argument --lr: must be a number from 1e-08 to 1, "
                                     "not nan (python -m vaelab train --help lists the options)")


def test_a_bad_vaelab_device_names_the_variable(tmp_path):
    done = subprocess.run([sys.executable, "-m", "vaelab", *TRAIN, "--out", str(tmp_path / "run")], capture_output=True,
                          text=True, env={**os.environ, "VAELAB_DEVICE": "gpu", "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 1
    assert one_line(done.stderr) == "error: VAELAB_DEVICE=gpu: unknown device; use auto, cpu, cuda, cuda:N or mps"
    assert not (tmp_path / "run").exists()
