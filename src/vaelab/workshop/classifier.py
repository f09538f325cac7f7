"""A small CNN classifier whose penultimate activations define the Fréchet distance of samples.

    model = train_classifier(train_x, train_y, val_x, val_y, epochs=3, seed=0, folder="runs/classifier")
    accuracy(model, test_x, test_y)          # the share of test images it classifies right
    features(model, x)                       # (N, 128): what evaluate.frechet_distance compares

Images are float tensors (N, 784) in [0, 1], the layout the VAEs take; labels are integer
tensors (N,). The network is two 3x3 convolutions with max pooling (1 -> 16 -> 32 channels by
default, 28 -> 14 -> 7 pixels), a 128-unit ReLU layer (the features) and a 10-way linear
output: about 0.2 M parameters (``channels=(32, 64)`` for a wider one). Notebook 07 trains it for 3
epochs (``results.CLASSIFIER_EPOCHS``), caches it in ``runs/<dataset>/classifier/`` and prints
its test accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from vaelab.models import device_of
from vaelab.workshop.device import pick_device
from vaelab.workshop.paths import atomic_path

FEATURES = 128
CLASSES = 10
WEIGHTS = "classifier.safetensors"


class Classifier(nn.Module):
    """conv3x3(1->c1) ReLU maxpool -> conv3x3(c1->c2) ReLU maxpool -> c2*49 -> 128 ReLU -> 10 logits."""

    def __init__(self, channels: tuple = (16, 32), n_features: int = FEATURES, classes: int = CLASSES):
        super().__init__()
        c1, c2 = channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 14x14
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Linear(c2 * 49, n_features), nn.ReLU())
        self.head = nn.Linear(n_features, classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate (post-ReLU) activations, shape (B, n_features)."""
        return self.body(x.reshape(-1, 1, 28, 28))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (B, classes)."""
        return self.head(self.features(x))


@torch.no_grad()
def features(model: Classifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The penultimate activations of every image, in batches, without grad: (N, 128) on the CPU."""
    model.eval()
    device = device_of(model)
    return torch.cat([model.features(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


@torch.no_grad()
def predict(model: Classifier, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The predicted class of every image, shape (N,), on the CPU."""
    model.eval()
    device = device_of(model)
    return torch.cat([model(x[i:i + batch_size].to(device)).argmax(dim=1).cpu() for i in range(0, len(x), batch_size)])


def accuracy(model: Classifier, x: torch.Tensor, y: torch.Tensor) -> float:
    """The fraction of images whose predicted class is the label."""
    return (predict(model, x) == y.cpu()).double().mean().item()


def _save_atomic(model: Classifier, path: Path, metadata: dict) -> None:
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"config": json.dumps(metadata, sort_keys=True)})


def saved_config(path) -> dict | None:
    """The training config stored in a saved classifier's metadata (None if there is no file)."""
    path = Path(path)
    if not path.is_file():
        return None
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("config", "null"))


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, val_x: torch.Tensor, val_y: torch.Tensor,
                     epochs: int = 3, seed: int = 0, folder=None, batch_size: int = 128,
                     lr: float = 1e-3, channels: tuple = (16, 32), device: str = "auto") -> Classifier:
    """Train a ``Classifier`` with Adam and cross-entropy, or load the one ``folder`` holds.

    A saved ``folder/classifier.safetensors`` is reused when its metadata records the same
    training config (epochs, seed, batch size, learning rate, channels and the sizes of the train
    and validation sets); otherwise the network is trained and the file written through a temporary
    name and ``os.replace``, so a killed run never leaves half a file. Initialisation and batch
    order come from ``seed``; the caller's random state is untouched. The validation accuracy
    of the final weights is stored in the metadata. It trains on ``device`` (``"auto"``: see
    ``device.pick_device``), which is part of the config: weights trained on a GPU are not reused
    on the CPU. Returns the model in eval mode on that device.
    """
    device = pick_device(device)
    config = {"epochs": epochs, "seed": seed, "batch_size": batch_size, "lr": lr, "channels": list(channels),
              "n_train": len(train_x), "n_val": len(val_x), **({} if device.type == "cpu" else {"device": device.type})}
    path = Path(folder) / WEIGHTS if folder is not None else None
    if path is not None and (saved_config(path) or {}).get("train") == config:
        model = Classifier(tuple(channels))
        model.load_state_dict(load_file(str(path)))
        return model.to(device).eval()

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Classifier(tuple(channels)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    shuffle = torch.Generator().manual_seed(seed)
    train_x, train_y = train_x.to(device), train_y.long().to(device)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=shuffle).to(device)
        for start in range(0, len(train_x), batch_size):
            index = order[start:start + batch_size]
            loss = F.cross_entropy(model(train_x[index]), train_y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    model.eval()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomic(model, path, {"train": config, "val_accuracy": accuracy(model, val_x, val_y)})
    return model
