"""Training: every model trains, runs are seeded and resumable, checkpoints load without pickles,
a non-finite loss stops the run, and a run folder refuses a different config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vaelab import bounds, data, losses, models
from vaelab.workshop import paths, runs
from vaelab.workshop.runs import TrainConfig, TrainingError, fit


@pytest.fixture(scope="module")
def tiny(fashion_raw):
    """1,024 training and 256 validation images of the real split."""
    tensors = data.split_tensors("fashion-mnist")
    return tensors["train"][:1024], tensors["val"][:256]


def config(**kwargs):
    return TrainConfig(**{"epochs": 2, "latent_dim": 4, "device": "cpu", **kwargs})


def weights(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


def without_timing(history):
    return [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second", "wall_seconds")} for row in history]


@pytest.mark.parametrize("name", list(models.MODELS))
def test_every_model_has_the_interface(name):
    model = models.build(name, latent_dim=6)
    x = torch.rand(3, 1, 28, 28)
    mu, logvar = model.encode(x)
    assert mu.shape == (3, 6)
    assert (logvar is None) == (not name.endswith("vae")) and (logvar is None or logvar.shape == (3, 6))
    logits, mu2, _ = model(x)
    assert logits.shape == (3, 784) and model.decode(mu).shape == (3, 784)
    assert model.reconstruct(x).shape == x.shape


def test_the_classic_vae_is_the_pytorch_examples_architecture():
    model = models.VAE(latent_dim=10)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.endswith("weight")}
    assert shapes == {"fc1.weight": (400, 784), "fc21.weight": (10, 400), "fc22.weight": (10, 400),
                      "fc3.weight": (400, 10), "fc4.weight": (784, 400)}
    assert models.AE().fc2.weight.shape == (10, 400)
    with pytest.raises(ValueError, match="unknown model 'gan'"):
        models.build("gan")


@pytest.mark.parametrize("name", list(models.MODELS))
def test_each_model_learns(tiny, tmp_path, name):
    run = fit(config(model=name), *tiny, tmp_path / name, progress=False)
    first, last = run.history[0], run.history[-1]
    assert last["train_loss"] < first["train_loss"] and last["val_neg_elbo"] < 545  # 545: a uniform guess
    assert (last["val_kl"] == 0) == (not name.endswith("vae"))
    assert {p.name for p in (tmp_path / name).iterdir()} == {"config.json", "history.json", "last.pt", "best.safetensors"}


def test_seeded_and_deterministic(tiny, tmp_path):
    a = fit(config(), *tiny, tmp_path / "a", progress=False)
    b = fit(config(), *tiny, tmp_path / "b", progress=False)
    c = fit(config(seed=1), *tiny, tmp_path / "c", progress=False)
    assert all(torch.equal(a.model.state_dict()[k], v) for k, v in b.model.state_dict().items())
    assert without_timing(a.history) == without_timing(b.history)
    assert not torch.equal(a.model.fc1.weight, c.model.fc1.weight)


def test_a_killed_run_resumes_and_ends_the_same(tiny, tmp_path, monkeypatch):
    whole = fit(config(epochs=3), *tiny, tmp_path / "whole", progress=False)

    calls = {"n": 0}
    real = losses.neg_elbo

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 8 + 3:  # 8 steps an epoch: the 3rd step of epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(losses, "neg_elbo", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        fit(config(epochs=3), *tiny, tmp_path / "cut", progress=False)
    assert len(json.loads((tmp_path / "cut" / "history.json").read_text())) == 1
    monkeypatch.setattr(losses, "neg_elbo", real)
    resumed = fit(config(epochs=3), *tiny, tmp_path / "cut", progress=False)
    assert without_timing(resumed.history) == without_timing(whole.history)
    for k, v in whole.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[k], v), k


def test_a_finished_run_is_reused_not_retrained(tiny, tmp_path, monkeypatch):
    first = fit(config(), *tiny, tmp_path / "r", progress=False)
    monkeypatch.setattr(losses, "neg_elbo", lambda *a, **k: pytest.fail("trained again"))
    again = fit(config(), *tiny, tmp_path / "r", progress=False)
    assert again.history == first.history


def test_best_checkpoint_is_the_best_validation_epoch(tiny, tmp_path, monkeypatch):
    two_epochs = fit(config(epochs=2), *tiny, tmp_path / "two", progress=False)
    real_elbo, scripted = bounds.elbo, iter([300.0, 200.0, 250.0])  # epoch 2 is the best

    def evaluate(*args, **kwargs):
        return {**real_elbo(*args, **kwargs), "neg_elbo": next(scripted)}

    monkeypatch.setattr(bounds, "elbo", evaluate)
    run = fit(config(epochs=3), *tiny, tmp_path / "three", progress=False)
    assert [row["val_neg_elbo"] for row in run.history] == [300.0, 200.0, 250.0]
    best = load_file(str(tmp_path / "three" / "best.safetensors"))
    last = torch.load(tmp_path / "three" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(best[k], v) for k, v in two_epochs.model.state_dict().items())
    assert not torch.equal(best["fc1.weight"], last["fc1.weight"])
    assert all(torch.equal(run.model.state_dict()[k], v) for k, v in best.items())  # the run loads the best


def test_checkpoints_load_without_unpickling(tiny, tmp_path):
    fit(config(), *tiny, tmp_path / "r", progress=False)
    state = torch.load(tmp_path / "r" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and set(state) >= {"model", "optimizer", "shuffle_rng", "torch_rng", "history"}
    assert not list((tmp_path / "r").glob(".*tmp*"))  # atomic writes leave no temporary files


def test_a_different_config_is_refused(tiny, tmp_path):
    fit(config(), *tiny, tmp_path / "r", progress=False)
    with pytest.raises(TrainingError, match="holds a run with another config"):
        fit(config(latent_dim=8), *tiny, tmp_path / "r", progress=False)


def test_non_finite_loss_stops_with_a_clear_message(tiny, tmp_path):
    bad = tiny[0].clone()
    bad[200] = float("nan")
    with pytest.raises(TrainingError, match=r"epoch 1, step \d+: the loss is nan \(not finite\); training stopped"):
        fit(config(), bad, tiny[1], tmp_path / "r", progress=False)


def test_kl_warmup_is_recorded(tiny, tmp_path):
    run = fit(config(epochs=3, warmup_epochs=2), *tiny, tmp_path / "r", progress=False)
    assert [round(row["kl_weight"], 3) for row in run.history] == [0.438, 0.938, 1.0]


def test_run_folders_differ_by_config():
    configs = [TrainConfig(), TrainConfig(seed=1), TrainConfig(beta=2), TrainConfig(warmup_epochs=5),
               TrainConfig(binarize=True), TrainConfig(model="ae"), TrainConfig(dataset="mnist"),
               TrainConfig(schedule="cosine"), TrainConfig(latent_dim=20), TrainConfig(epochs=30), TrainConfig(amp=True),
               runs.best_config()]
    folders = [runs.run_dir(c) for c in configs]
    assert len(set(folders)) == len(folders)
    assert folders[0].parts[-3:] == ("runs", "fashion-mnist", "vae-z10-e10-s0")


def test_train_writes_test_metrics_and_retrains_when_the_code_changed(tiny, tmp_path, monkeypatch, capsys):
    x_train, x_val = tiny
    monkeypatch.setattr(data, "split_tensors", lambda dataset, seed=0: {"train": x_train, "val": x_val, "test": x_val[:100]})
    run = runs.train(config(), tmp_path / "r", progress=False)
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics == run.metrics and metrics["best_epoch"] in (1, 2) and metrics["epochs"] == 2
    assert metrics["test_neg_elbo"] == pytest.approx(bounds.elbo(run.model, x_val[:100])["neg_elbo"])
    assert metrics["bce_floor"] == pytest.approx(losses.bce_floor(x_val[:100]).mean().item())

    monkeypatch.setattr(losses, "neg_elbo", lambda *a, **k: pytest.fail("trained again"))
    assert runs.train(config(), tmp_path / "r", progress=False).metrics == metrics  # same code: reused

    monkeypatch.undo()
    monkeypatch.setattr(data, "split_tensors", lambda dataset, seed=0: {"train": x_train, "val": x_val, "test": x_val[:100]})
    monkeypatch.setattr(runs, "code_fingerprint", lambda: "another version")
    monkeypatch.setattr(paths, "project_root", lambda: tmp_path.resolve())  # the run inside "the project"
    again = runs.train(config(), tmp_path / "r", progress=False)
    assert "r: made by another version of the code; training again" in capsys.readouterr().err.splitlines()
    assert again.metrics["code"] == "another version"


def test_bfloat16_autocast_trains_float32_weights(tiny, tmp_path):
    run = fit(config(model="deep-vae", amp=True), *tiny, tmp_path / "amp", progress=False)
    assert all(p.dtype == torch.float32 for p in run.model.parameters())
    assert run.history[-1]["train_loss"] < run.history[0]["train_loss"]
    plain = fit(config(model="deep-vae"), *tiny, tmp_path / "fp32", progress=False)
    assert run.history[-1]["val_neg_elbo"] == pytest.approx(plain.history[-1]["val_neg_elbo"], rel=0.05)
    assert run.history[-1]["val_neg_elbo"] != plain.history[-1]["val_neg_elbo"]  # autocast did change the arithmetic


def test_a_standard_run_folder_from_older_code_with_fewer_config_fields_is_retrained(tiny, tmp_path, monkeypatch, capsys):
    x_train, x_val = tiny
    monkeypatch.setattr(data, "split_tensors", lambda dataset, seed=0: {"train": x_train, "val": x_val, "test": x_val[:100]})
    monkeypatch.setattr(runs, "project_root", lambda: tmp_path)
    cfg = config()
    runs.train(cfg, progress=False)
    record_path = runs.run_dir(cfg) / "config.json"
    record = json.loads(record_path.read_text())
    del record["config"]["amp"]  # as written before the field existed
    record["code"] = "older"
    record_path.write_text(json.dumps(record))
    run = runs.train(cfg, progress=False)
    assert "training again" in capsys.readouterr().err and run.metrics["code"] == runs.code_fingerprint()


def test_the_code_fingerprint_ignores_docstrings_and_comments():
    base = runs._code_only('"""Module."""\nimport math\n\ndef f(x):\n    return math.exp(x)\n')
    assert runs._code_only('import math  # a comment\n\n\ndef f(x):\n    """What f does."""\n    return math.exp(x)\n') == base
    assert runs._code_only('import math\n\ndef f(x):\n    return math.exp(-x)\n') != base
    assert runs._code_only('import math\n\ndef f(x):\n    y = 0\n    "kept"\n    return math.exp(x)\n') != \
        runs._code_only('import math\n\ndef f(x):\n    y = 0\n    return math.exp(x)\n')  # only docstrings go


def test_editing_a_docstring_keeps_the_fingerprint_and_editing_code_changes_it(tmp_path, monkeypatch):
    import shutil

    import vaelab

    package = tmp_path / "vaelab"
    shutil.copytree(Path(vaelab.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(vaelab, "__file__", str(package / "__init__.py"))
    before = runs.code_fingerprint()
    losses_py = package / "losses.py"
    source = losses_py.read_text()
    losses_py.write_text(source.replace('"""', '"""An edited docstring. ', 1) + "# a new comment\n")
    assert runs.code_fingerprint() == before
    losses_py.write_text(source + "\nEPSILON = 1e-7\n")
    assert runs.code_fingerprint() != before
