"""Every function that takes a model runs where the model is and hands data back on the CPU.

On a machine without a GPU the model goes to an emulated MPS device (tests/emulated_device.py):
it refuses operations that mix its tensors with CPU tensors and refuses float64, as MPS does.
Run on HEAD before this test existed, it failed in encode_mean, reconstruct, sample_prior,
mean_kl_by_dimension, the importance-sampled bound, bounds.elbo and the training loop. Where a
CUDA or MPS device is present, the same test runs there on real tensors.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from emulated_device import Emulated, emulated_mps

from vaelab import bounds, data, evaluate, latent, models
from vaelab.workshop import classifier, device, numeric, results, runs

DEVICES = ["emulated-mps",
           pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")),
           pytest.param("mps", marks=pytest.mark.skipif(not device._mps_available(), reason="no MPS device here"))]


@pytest.fixture
def on_device(request, monkeypatch):
    """The device name a TrainConfig takes, with the emulation switched on for 'emulated-mps'."""
    if request.param == "emulated-mps":
        with emulated_mps(monkeypatch):
            yield "mps"
    else:
        yield request.param


def is_cpu(t) -> bool:
    return type(t) is torch.Tensor and t.device.type == "cpu"


def small_data(n=600, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 784, generator=generator).round()  # binary images: a quick, learnable signal
    y = torch.randint(0, 10, (n,), generator=generator)
    return x, y


@pytest.mark.parametrize("on_device", DEVICES, indirect=True)
def test_the_whole_path_runs_on_the_models_device_with_data_on_the_cpu(on_device, tmp_path, monkeypatch):
    x, y = small_data()
    cfg = runs.TrainConfig(model="deep-vae", latent_dim=4, epochs=2, batch_size=128, lr=2e-3, schedule="cosine",
                            warmup_epochs=1, free_bits=0.1, binarize=True, device=on_device)
    run = runs.fit(cfg, x[:500], x[500:], tmp_path / "run", progress=False)
    model = run.model
    assert models.device_of(model).type != "cpu"
    assert len(run.history) == 2 and all(type(v) in (int, float) for v in run.history[-1].values())
    again = runs.fit(cfg, x[:500], x[500:], tmp_path / "run", progress=False)  # reused from last.pt
    assert again.history == run.history

    run.metrics = metrics = runs.held_out_metrics(run, x[500:])  # CPU data in, numbers out
    assert metrics["test_neg_elbo"] == pytest.approx(metrics["test_recon"] + metrics["test_kl"])
    codes = evaluate.encode_mean(model, x)
    assert is_cpu(codes) and codes.shape == (600, 4)
    for out in (evaluate.reconstruct(model, x[:50]), evaluate.reconstruct(model, x[:50], sample=True),
                evaluate.sample_prior(model, 9, temperature=0.5), latent.decode(model, torch.zeros(3, 4)),
                evaluate.mean_kl_by_dimension(model, x[:100]), evaluate.active_units(model, x[:100])[1]):
        assert is_cpu(out)
    iw = bounds.importance_sampled_bounds(model, x[:20], k=4, binarize=True)
    assert iw["nll"] <= iw["neg_elbo"]
    assert 0 <= evaluate.reconstruction_mse(model, x[:50]) <= 1
    gmm = evaluate.fit_latent_gmm(codes, 2)
    assert is_cpu(evaluate.sample_gmm(model, gmm, 5))

    net = classifier.train_classifier(x, y, x[:64], y[:64], epochs=1, device=on_device)
    assert models.device_of(net).type != "cpu" and is_cpu(classifier.features(net, x[:10]))
    assert 0 <= classifier.accuracy(net, x, y) <= 1
    monkeypatch.setattr(results, "SAMPLES", 200)
    monkeypatch.setattr(results, "NLL_K", 3)
    test_features = classifier.features(net, x[500:])
    ctx = results.Context("fashion-mnist", {"train": x[:500], "val": x[500:], "test": x[500:]},
                          {"train": y[:500], "val": y[500:], "test": y[500:]}, net, 0.1, test_features,
                          torch.arange(20), 100.0, 0.0)
    row = results.model_row("emulated", run, ctx)
    assert row["iw_nll"] <= row["iw_neg_elbo"] and 0 <= row["probe_accuracy"] <= 1 and row["fd_prior"] >= 0


@pytest.mark.parametrize("on_device", DEVICES, indirect=True)
@pytest.mark.parametrize("model, prior", [("vae", "mog"), ("hvae", "vamp")])
def test_learned_priors_and_the_hierarchy_run_on_the_models_device(on_device, model, prior, tmp_path):
    x, _ = small_data(300)
    cfg = runs.TrainConfig(model=model, latent_dim=4, prior=prior, components=6, epochs=1, batch_size=100,
                            free_bits=0.1, device=on_device)
    run = runs.fit(cfg, x[:200], x[200:], tmp_path / "run", progress=False)
    assert models.device_of(run.model).type != "cpu"
    metrics = runs.held_out_metrics(run, x[200:])
    assert metrics["test_neg_elbo"] == pytest.approx(metrics["test_recon"] + metrics["test_kl"])
    for out in (evaluate.sample_prior(run.model, 7, temperature=0.5), evaluate.mean_kl_by_dimension(run.model, x[:50]),
                evaluate.encode_mean(run.model, x[:50]), evaluate.reconstruct(run.model, x[:20], sample=True)):
        assert is_cpu(out)
    iw = bounds.importance_sampled_bounds(run.model, x[:20], k=4)
    assert iw["nll"] <= iw["neg_elbo"]
    assert set(evaluate.active_units_by_layer(run.model, x[:100])) == set(run.model.latent_layers)


def test_on_the_emulated_device_the_numbers_are_the_cpus(monkeypatch):
    """Moving the model changes where the work runs, not what it computes: the evaluation of the
    same weights and data gives the CPU's numbers (the emulated device computes on the CPU)."""
    torch.manual_seed(0)
    x, _ = small_data(200)
    model = models.VAE(latent_dim=3)
    on_cpu = (bounds.elbo(model, x), bounds.importance_sampled_bounds(model, x[:30], k=5),
              evaluate.mean_kl_by_dimension(model, x), evaluate.sample_prior(model, 4))
    with emulated_mps(monkeypatch):
        model.to("mps")
        assert isinstance(next(model.parameters()), Emulated)
        moved = (bounds.elbo(model, x), bounds.importance_sampled_bounds(model, x[:30], k=5),
                 evaluate.mean_kl_by_dimension(model, x), evaluate.sample_prior(model, 4))
    assert on_cpu[:2] == moved[:2]
    assert torch.equal(on_cpu[2], moved[2]) and torch.equal(on_cpu[3], moved[3])


def test_the_emulated_device_refuses_what_a_gpu_refuses(monkeypatch):
    """The emulation is only worth something if it fails where a real device fails."""
    x = torch.rand(4, 784)
    with emulated_mps(monkeypatch):
        model = models.VAE(latent_dim=2).to("mps")
        with pytest.raises(RuntimeError, match="same device"):
            model.encode(x)
        with pytest.raises(TypeError, match="float64"):
            model.encode(x.to("mps"))[0].double()
        with pytest.raises(TypeError, match="numpy"):
            model.encode(x.to("mps"))[0].numpy()


def test_pick_device_follows_vaelab_device(monkeypatch):
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    assert device.pick_device("auto") == torch.device("cpu")
    monkeypatch.delenv("VAELAB_DEVICE")
    expected = "cuda" if torch.cuda.is_available() else "mps" if device._mps_available() else "cpu"
    assert device.pick_device().type == expected
    assert device.pick_device("cpu").type == "cpu"


@pytest.mark.parametrize("name, message", [("gpu", "VAELAB_DEVICE=gpu: unknown device"),
                                           ("xla", "the course runs on cpu, cuda or mps"),
                                           ("cuda:99", "cuda")])
def test_a_device_that_is_not_there_is_one_line(name, message, monkeypatch):
    monkeypatch.setenv("VAELAB_DEVICE", name)
    with pytest.raises(device.DeviceError, match=message) as e:
        device.pick_device("auto")
    assert "\n" not in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_cuda_without_a_gpu_says_so():
    with pytest.raises(device.DeviceError, match="no CUDA GPU is available here"):
        device.pick_device("cuda")


# --- The CPU kernels of the reference runs (vaelab.workshop.numeric) --------------------------


def python(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in numeric.DEFAULTS}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**clean, **env})


def test_importing_vaelab_changes_nothing_in_the_process():
    done = python("import os, vaelab, vaelab.models, vaelab.training, vaelab.workshop.runs, vaelab.workshop.cli; "
                  f"print(sorted(k for k in {sorted(numeric.DEFAULTS)!r} if k in os.environ), os.environ.get('OMP_NUM_THREADS'))",
                  OMP_NUM_THREADS="3")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "3"]


def test_the_makefile_reads_the_kernels_from_the_module_run_as_a_script():
    script = [sys.executable, numeric.__file__]
    clean = {k: v for k, v in os.environ.items() if k not in numeric.DEFAULTS}
    printed = subprocess.run(script, capture_output=True, text=True, env=clean, check=True).stdout.split()
    assert printed == [f"{k}={v}" for k, v in (numeric.defaults() if numeric.is_x86_avx2() else {}).items()]
    mine = subprocess.run(script, capture_output=True, text=True, env={**clean, "MKL_CBWR": "AUTO"}, check=True).stdout
    assert "MKL_CBWR" not in mine  # a value set by the user is kept


@pytest.mark.skipif(not numeric.is_x86_avx2(), reason="the defaults apply to x86-64 CPUs with AVX2 only")
def test_on_intel_aten_keeps_its_own_kernels_and_elsewhere_avx2(monkeypatch):
    monkeypatch.setattr(numeric, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(numeric, "cpu_vendor", lambda: "GenuineIntel")
    intel = {}
    assert numeric.apply_defaults(intel) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"} == intel
    monkeypatch.setattr(numeric, "cpu_vendor", lambda: "AuthenticAMD")
    amd = {}
    assert numeric.apply_defaults(amd) == numeric.DEFAULTS == amd
    assert numeric.defaults("GenuineIntel").keys() < numeric.DEFAULTS.keys()


def test_an_intel_cpu_with_avx512_gets_the_avx512_branches_of_mkl_and_onednn_and_amd_keeps_avx2():
    avx512 = {"avx2", "fma", *numeric.AVX512_FLAGS}
    assert numeric.defaults("GenuineIntel", avx512) == {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE", "MKL_CBWR": "AVX512"}
    assert numeric.defaults("GenuineIntel", avx512 - {"avx512bw"}) == {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}
    assert numeric.defaults("AuthenticAMD", avx512) == numeric.DEFAULTS  # measured faster there with AVX2


@pytest.mark.skipif(not numeric.is_x86_avx2(), reason="the defaults apply to x86-64 CPUs with AVX2 only")
def test_the_avx512_branches_compute_the_same_weights_twice():
    """What the exact tier needs of the kernels this CPU gets: two runs, the same floats."""
    code = ("import hashlib, torch; torch.manual_seed(0); net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.SiLU(), "
            "torch.nn.Linear(512, 784)); opt = torch.optim.Adam(net.parameters(), fused=True); x = torch.rand(128, 784)\n"
            "for _ in range(5): opt.zero_grad(); torch.nn.functional.mse_loss(net(x), x).backward(); opt.step()\n"
            "print(hashlib.sha1(b''.join(p.detach().numpy().tobytes() for p in net.parameters())).hexdigest())")
    runs = [python(code, OMP_NUM_THREADS="2", **numeric.defaults()) for _ in range(2)]
    assert all(done.returncode == 0 for done in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout


@pytest.mark.skipif(not numeric.is_x86_avx2(), reason="the defaults apply to x86-64 CPUs with AVX2 only")
@pytest.mark.skipif("ATEN_CPU_CAPABILITY" not in numeric.defaults(), reason="ATen's kernels are PyTorch's choice on this CPU")
def test_the_avx2_kernels_take_effect_when_set_before_torch_computes():
    env = numeric.defaults()
    done = python("import torch; torch.ones(2).sum(); print(torch.backends.cpu.get_cpu_capability())", **env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["AVX2"]


def test_nothing_is_set_off_x86(monkeypatch):
    monkeypatch.setattr(numeric.platform, "machine", lambda: "arm64")
    environ = {}
    assert numeric.apply_defaults(environ) == {} and environ == {}


def test_auto_and_the_device_it_picks_are_the_same_run(tmp_path, monkeypatch, fashion_raw):
    """A run trained with device="cpu" is reused by device="auto" on a machine whose auto is the CPU
    (and the other way round): the config's device field is not part of a run's identity, the
    device type it ran on is."""
    monkeypatch.setenv("VAELAB_DEVICE", "cpu")
    x = data.split_tensors("fashion-mnist")["val"][:1000]
    cfg = runs.TrainConfig(latent_dim=2, epochs=1, batch_size=500, device="cpu")
    first = runs.fit(cfg, x, x[:200], tmp_path / "run", progress=False)
    again = runs.fit(runs.TrainConfig(latent_dim=2, epochs=1, batch_size=500, device="auto"), x, x[:200],
                      tmp_path / "run", progress=False)
    assert again.history == first.history
    with pytest.raises(runs.TrainingError, match="another config"):
        runs.fit(runs.TrainConfig(latent_dim=2, epochs=1, batch_size=250), x, x[:200], tmp_path / "run", progress=False)
