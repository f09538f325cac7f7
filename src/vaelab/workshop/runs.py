"""Runs: a model trained by the course's training step (``vaelab.training``), seeded, kept in
a folder, resumable, and reused as long as the code that made it has not changed.

    cfg = TrainConfig(model="vae", latent_dim=10, epochs=10)
    run = train(cfg)                       # trains, or resumes, or loads a finished run
    run.model, run.history, run.metrics

Batches are sliced from whole in-memory tensors (no DataLoader, no per-image transform). A run
folder holds ``config.json``, ``history.json`` (per epoch: train and validation recon/KL/total
in nats per image, seconds), ``last.pt`` (everything needed to resume, loaded with
``weights_only=True``), ``best.safetensors`` (the weights of the epoch with the best validation
loss) and ``metrics.json`` (test metrics of the best weights). Every file is written to a
temporary name and renamed. A killed run resumes from its last finished epoch and ends with
exactly the weights and history of an uninterrupted run.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

import vaelab
from vaelab import bounds, data, losses, models, priors, training
from vaelab.workshop import datasets
from vaelab.workshop.device import pick_device, rng_state, set_rng_state
from vaelab.workshop.paths import atomic_path, atomic_write_bytes, project_root, shown

# What each option of a run may be: (type, smallest, largest). ``check_option`` and the command
# line (``vaelab.workshop.cli``) both read this table, so a notebook and a command get the same message.
LIMITS = {
    "latent_dim": (int, 1, 1024), "epochs": (int, 1, 10_000), "batch_size": (int, 1, 60_000),
    "lr": (float, 1e-8, 1.0), "beta": (float, 0.0, 1000.0), "warmup_epochs": (float, 0.0, 10_000.0),
    "free_bits": (float, 0.0, 100.0), "seed": (int, 0, 2**32 - 1), "components": (int, 1, 10_000),
}
SCHEDULES = ("constant", "cosine")


@dataclass
class TrainConfig:
    dataset: str = "fashion-mnist"
    model: str = "vae"  # vae | ae | conv-vae | conv-ae | deep-vae | deep-ae | hvae
    latent_dim: int = 10  # for hvae: both layers together, half each
    prior: str = "normal"  # normal (N(0, I)) | mog (a learned mixture) | vamp (VampPrior); see vaelab.priors
    components: int = 500  # mixture components or pseudo-inputs of a learned prior
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    schedule: str = "constant"  # constant | cosine (the learning rate decays to 0 over the run)
    beta: float = 1.0  # weight of the KL term (beta-VAE); 1 is the ELBO
    warmup_epochs: float = 0.0  # linear KL warm-up from 0 to beta over this many epochs
    free_bits: float = 0.0  # nats per latent dimension that cost nothing (see losses.neg_elbo)
    binarize: bool = False  # dynamic binarization: a fresh Bernoulli sample of each image per batch
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | mps
    amp: bool = False  # bfloat16 autocast of the forward pass (CPUs with AVX512-BF16 or AMX, recent GPUs)

    def validate(self) -> TrainConfig:
        """Raise ConfigError (one line) for any field out of its range; return the config."""
        if self.dataset not in data.DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(sorted(data.DATASETS))}, not {self.dataset!r}")
        if self.model not in models.MODELS:
            raise ConfigError(f"model must be one of {', '.join(models.MODELS)}, not {self.model!r}")
        for name in LIMITS:
            check_option(name, getattr(self, name))
        if self.warmup_epochs > self.epochs:
            raise ConfigError(f"warmup_epochs ({self.warmup_epochs:g}) must be at most epochs ({self.epochs})")
        if self.prior not in priors.PRIORS:
            raise ConfigError(f"prior must be one of {', '.join(priors.PRIORS)}, not {self.prior!r}")
        if self.prior != "normal" and not models.MODELS[self.model].variational:
            raise ConfigError(f"prior {self.prior!r} needs a VAE; {self.model} is an autoencoder and has no prior")
        if self.model == "hvae" and self.latent_dim % 2:
            raise ConfigError(f"latent_dim of hvae must be even (two layers, half each), not {self.latent_dim}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"schedule must be one of {', '.join(SCHEDULES)}, not {self.schedule!r}")
        for name in ("binarize", "amp"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, not {getattr(self, name)!r}")
        pick_device(self.device)  # DeviceError if it is not there
        return self


class TrainingError(RuntimeError):
    pass


class ConfigError(ValueError):
    """An option out of its range (the message is one line)."""


class RunError(RuntimeError):
    """A run folder whose files are missing, damaged or not a run's (the message is one line)."""


def check_option(name: str, value, label: str | None = None):
    """``value`` if it is a finite number of the right type within ``LIMITS[name]``, else ConfigError
    naming ``label`` (default: the field's name)."""
    kind, low, high = LIMITS[name]
    label = name if label is None else label
    what = "a whole number" if kind is int else "a number"
    limits = f"from {low} to {high}" if kind is int else f"from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise ConfigError(f"{label} must be {what} {limits}, not {value!r}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ConfigError(f"{label} must be {what} {limits}, not {value!r}")
    return value


FINGERPRINTED = ("gaussian.py", "models.py", "losses.py", "priors.py", "training.py", "bounds.py", "data.py",
                 "workshop/runs.py", "workshop/device.py")


def code_fingerprint() -> str:
    """A hash of the code that decides a run's numbers (``FINGERPRINTED``: the models, the loss,
    the training step, the data, this module): a finished run is reused only by the code that
    made it. It hashes each module's syntax tree without docstrings, so editing a comment or a
    docstring does not throw trained runs away."""
    root = Path(vaelab.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root / name for name in FINGERPRINTED):
        digest.update(path.relative_to(root).as_posix().encode() + _code_only(path.read_text()).encode())
    return digest.hexdigest()[:16]


def _code_only(source: str) -> str:
    """The syntax tree of ``source`` without docstrings and comments, as text."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def build_model(cfg: TrainConfig) -> torch.nn.Module:
    """The untrained model of a config (on the CPU), with its prior."""
    return models.build(cfg.model, cfg.latent_dim, prior=cfg.prior, components=cfg.components)


@dataclass
class Run:
    folder: Path
    config: TrainConfig
    model: torch.nn.Module
    history: list
    metrics: dict


def _save_torch(obj, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _save_weights(model, path: Path) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp))


def _write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1) + "\n").encode())


def same_config(a: dict, b: dict) -> bool:
    """Two recorded configs describe the same run: every field but ``device`` (``"auto"`` and
    ``"cpu"`` may name the same device; the record's resolved device type is compared instead),
    and ``components`` only where the prior is learned. A field a record lacks has its default."""
    def identity(config: dict) -> dict:
        full = {**dataclasses.asdict(TrainConfig()), **config}
        ignored = {"device"} | ({"components"} if full["prior"] == "normal" else set())
        return {k: v for k, v in full.items() if k not in ignored}
    return identity(a) == identity(b)


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _damaged(path: Path, problem: str) -> RunError:
    return RunError(f"{path}: {problem}; delete the run folder {path.parent} and train again")


def _read_json(path: Path, kind=dict):
    """The JSON content of a run file, or RunError naming the file and what is wrong."""
    if not path.is_file():
        raise _damaged(path, "missing")
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _damaged(path, f"not readable JSON ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(content, kind):
        raise _damaged(path, f"not a run's file (a JSON {type(content).__name__}, expected a {kind.__name__})")
    return content


def read_record(folder) -> dict:
    """``folder/config.json``: the run's config (checked to be a TrainConfig), code version, device."""
    path = Path(folder) / "config.json"
    record = _read_json(path)
    try:
        TrainConfig(**record["config"]).validate()
    except (KeyError, TypeError) as e:
        raise _damaged(path, f"not a run's config ({type(e).__name__}: {e})") from None
    except ConfigError as e:
        raise _damaged(path, f"not a valid run config ({e})") from None
    except ValueError:  # a device that is not here (DeviceError): the record is fine, the caller chooses
        pass
    return record


def _load_weights(model, path: Path, device) -> None:
    """Load safetensors weights into ``model``; RunError if the file is missing, damaged or another model's."""
    if not path.is_file():
        raise _damaged(path, "missing")
    try:
        state = load_file(str(path), device=str(device))
    except Exception as e:  # safetensors raises its own error type for a damaged file
        raise _damaged(path, f"not a readable safetensors file ({_first_line(e)})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise _damaged(path, f"holds weights of another model than the config's {type(model).__name__}") from None


def load_run(folder, device: str = "cpu") -> Run:
    """A finished run: its config, the best weights (safetensors), its history and metrics.
    Any missing, damaged or foreign file raises RunError with one line naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RunError(f"{folder}: no such run folder")
    cfg = TrainConfig(**read_record(folder)["config"])
    device = pick_device(device)
    model = build_model(cfg)
    _load_weights(model, folder / "best.safetensors", device)
    model.to(device).eval()
    history = _read_json(folder / "history.json", list)
    needed = {"epoch", "val_neg_elbo", "seconds", "images_per_second"}
    if not history or not all(isinstance(row, dict) and needed <= row.keys() for row in history):
        raise _damaged(folder / "history.json", "not a run's history (no epochs with validation numbers)")
    metrics_path = folder / "metrics.json"
    metrics = _read_json(metrics_path) if metrics_path.is_file() else {}
    return Run(folder, cfg, model, history, metrics)


def _load_checkpoint(path: Path) -> dict:
    """``last.pt`` on the CPU, unpickled safely; RunError if it is damaged or another program's."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated zip, a foreign pickle, ...
        raise _damaged(path, f"not a readable checkpoint ({_first_line(e)[:120]})") from None
    needed = {"model", "optimizer", "epoch", "shuffle_rng", "torch_rng", "history", "best"}
    if not isinstance(state, dict) or not needed <= state.keys():
        raise _damaged(path, "not a checkpoint of vaelab.workshop.runs (keys missing)")
    return state


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def fit(cfg: TrainConfig, train_x: torch.Tensor, val_x: torch.Tensor, folder, progress: bool = True) -> Run:
    """Train ``cfg`` on ``train_x`` (float, (N, 784)), choosing the best epoch on ``val_x``.

    Resumes from ``folder/last.pt`` if an earlier run with the same config was cut off."""
    cfg.validate()
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise TrainingError(f"{folder}: is a file, not a run folder; choose another --out")
    device = pick_device(cfg.device)
    record = {"config": dataclasses.asdict(cfg), "code": code_fingerprint(), "torch": torch.__version__,
              "device": device.type}
    config_path = folder / "config.json"
    if config_path.is_file():
        old = read_record(folder)
        if (not same_config(old["config"], record["config"]) or old.get("code") != record["code"]
                or old.get("device", "cpu") != record["device"]):
            raise TrainingError(f"{folder}: holds a run with another config, code version or device; "
                                f"use another folder or delete it")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(config_path, record)

    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, **({"fused": True} if device.type in ("cpu", "cuda") else {}))
    shuffle = torch.Generator().manual_seed(cfg.seed)
    history, best, epoch0 = [], float("inf"), 0
    last_path = folder / "last.pt"
    if last_path.is_file():
        state = _load_checkpoint(last_path)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError):
            raise _damaged(last_path, f"holds another model's weights than the config's {type(model).__name__}") from None
        shuffle.set_state(state["shuffle_rng"])
        set_rng_state({"cpu": state["torch_rng"], **({"device": state["device_rng"]} if "device_rng" in state else {})},
                      device)
        history, best, epoch0 = state["history"], state["best"], state["epoch"]

    train_x, val_x = train_x.to(device), val_x.to(device)
    steps_per_epoch = -(-len(train_x) // cfg.batch_size)
    warmup_steps = round(cfg.warmup_epochs * steps_per_epoch)
    total_steps = cfg.epochs * steps_per_epoch
    lr_at = (lambda step: training.cosine_lr(step, total_steps, cfg.lr)) if cfg.schedule == "cosine" else None
    bar = tqdm(range(epoch0, cfg.epochs), desc=f"{cfg.model} {cfg.dataset}", unit="epoch",
               initial=epoch0, total=cfg.epochs, disable=not progress)
    for epoch in bar:
        start = time.perf_counter()
        order = torch.randperm(len(train_x), generator=shuffle).to(device)
        try:
            means, _ = training.train_epoch(model, optimizer, train_x, order, cfg.batch_size, epoch * steps_per_epoch,
                                            warmup_steps, cfg.beta, cfg.free_bits, lr_at, cfg.binarize, cfg.amp)
        except training.NonFiniteLoss as e:
            raise TrainingError(f"{folder}: epoch {epoch + 1}, {e}; training stopped. "
                                f"Try a lower --lr, or check the input data.") from None
        seconds = time.perf_counter() - start
        val = bounds.elbo(model, val_x, seed=cfg.seed, binarize=cfg.binarize)
        row = {"epoch": epoch + 1, "train_recon": means["recon"], "train_kl": means["kl"], "train_loss": means["loss"],
               "train_neg_elbo": means["recon"] + means["kl"], "val_recon": val["recon"], "val_kl": val["kl"],
               "val_neg_elbo": val["neg_elbo"], "kl_weight": means["kl_weight"], "seconds": seconds,
               "images_per_second": len(train_x) / seconds}
        history.append(row)
        if val["neg_elbo"] < best:
            best = val["neg_elbo"]
            _save_weights(model, folder / "best.safetensors")
        row["wall_seconds"] = time.perf_counter() - start  # training, validation and best checkpoint
        _write_json(folder / "history.json", history)
        rng = rng_state(device)
        _save_torch({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                     "shuffle_rng": shuffle.get_state(), "torch_rng": rng["cpu"],
                     **({"device_rng": rng["device"]} if "device" in rng else {}),
                     "history": history, "best": best}, last_path)
        bar.set_postfix(train=f"{row['train_neg_elbo']:.1f}", val=f"{val['neg_elbo']:.1f}")
    bar.close()
    return load_run(folder, device=str(device))


SPLIT_SEED = 0  # every run trains and validates on the one saved split (data/splits/)


def held_out_metrics(run: Run, test_x: torch.Tensor) -> dict:
    """The test numbers of a run's best weights, in nats per image, with the entropy floor."""
    cfg, history = run.config, run.history
    best = min(history, key=lambda row: row["val_neg_elbo"])
    test = bounds.elbo(run.model, test_x, seed=cfg.seed, binarize=cfg.binarize)
    floor = losses.bce_floor(test_x).mean().item() if not cfg.binarize else 0.0
    return {
        "dataset": cfg.dataset, "model": cfg.model, "latent_dim": cfg.latent_dim, "prior": cfg.prior, "seed": cfg.seed,
        "epochs": cfg.epochs, "beta": cfg.beta, "binarize": cfg.binarize, "best_epoch": best["epoch"],
        "test_neg_elbo": test["neg_elbo"], "test_recon": test["recon"], "test_kl": test["kl"],
        "val_neg_elbo": best["val_neg_elbo"], "bce_floor": floor,
        "seconds_per_epoch": _mean([row["seconds"] for row in history]),
        "train_images_per_second": _mean([row["images_per_second"] for row in history]),
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "device": str(models.device_of(run.model)), "threads": torch.get_num_threads(),
        "torch": torch.__version__, "code": code_fingerprint(),
    }


def run_dir(cfg: TrainConfig) -> Path:
    """The standard folder of a config:
    ``runs/<dataset>/<model>-z<latent>-e<epochs>[-<prior><K>][-b<beta>][-w<warmup>][-fb<free bits>][-bin]-s<seed>``."""
    name = f"{cfg.model}-z{cfg.latent_dim}-e{cfg.epochs}"
    name += f"-{cfg.prior}{cfg.components}" if cfg.prior != "normal" else ""
    name += f"-b{cfg.beta:g}" if cfg.beta != 1 else ""
    name += f"-w{cfg.warmup_epochs:g}" if cfg.warmup_epochs else ""
    name += f"-fb{cfg.free_bits:g}" if cfg.free_bits else ""
    name += "-bin" if cfg.binarize else ""
    name += "-amp" if cfg.amp else ""
    if (cfg.batch_size, cfg.lr, cfg.schedule) != (128, 1e-3, "constant"):
        name += f"-bs{cfg.batch_size}-lr{cfg.lr:g}-{cfg.schedule}"
    device = pick_device(cfg.device).type
    name += "" if device == "cpu" else f"-{device}"  # a GPU's run never replaces the CPU's reference run
    return project_root() / "runs" / cfg.dataset / f"{name}-s{cfg.seed}"


def train(cfg: TrainConfig, folder=None, progress: bool = True) -> Run:
    """Train ``cfg`` on the saved split (or resume, or reuse a finished run made by the same
    code), then write the test metrics of the best checkpoint to ``folder/metrics.json``.

    ``folder`` defaults to ``run_dir(cfg)``. This config's run left by another version of the
    code is emptied and trained again, so a reused run always comes from the code checked out."""
    cfg.validate()
    folder = Path(folder) if folder is not None else run_dir(cfg)
    config_path = folder / "config.json"
    if config_path.is_file():
        old = read_record(folder)
        # Another version of the code, or another kind of device, made it: start over if it is this
        # config's run (the same config, or the standard folder, whose name encodes the config
        # even when fields were added). A run made on a GPU is not the CPU's reference run.
        same_run = same_config(old["config"], dataclasses.asdict(cfg)) or folder == run_dir(cfg)
        made_on, device = old.get("device", "cpu"), pick_device(cfg.device).type
        if same_run and (old.get("code") != code_fingerprint() or made_on != device):
            why = ("by another version of the code" if old.get("code") != code_fingerprint()
                   else f"on {made_on}, and this run is on {device}")
            print(f"{shown(folder)}: made {why}; training again", file=sys.stderr)
            for name in ("config.json", "history.json", "last.pt", "best.safetensors", "metrics.json"):
                (folder / name).unlink(missing_ok=True)
    datasets.ensure(cfg.dataset)  # a checked copy in the data folder (fetched the first time)
    tensors = data.split_tensors(cfg.dataset, seed=SPLIT_SEED)
    run = fit(cfg, tensors["train"], tensors["val"], folder, progress=progress)
    if run.metrics.get("code") != code_fingerprint():
        run.metrics = held_out_metrics(run, tensors["test"])
        _write_json(Path(folder) / "metrics.json", run.metrics)
    return run


def best_config(dataset: str = "fashion-mnist", seed: int = 0, device: str = "auto", binarize: bool = False) -> TrainConfig:
    """The course's best VAE for the likelihood within 12 minutes of training on two CPU cores:
    the deep MLP VAE with SiLU (``deep-vae``), latent 20, a VampPrior with 100 pseudo-inputs, 45
    epochs at batch 128 with a learning rate of 2e-3 decayed by a cosine and a KL warm-up over
    the first 5 epochs, no free bits.

    It was chosen on the validation images among the candidates of ``benchmarks/prior_search.py``
    (notebook 04 shows how); ``benchmarks/quality.py`` checks its numbers and its training time."""
    return TrainConfig(dataset=dataset, model="deep-vae", latent_dim=20, epochs=45, lr=2e-3, schedule="cosine",
                       warmup_epochs=5, prior="vamp", components=100, binarize=binarize, seed=seed, device=device)
