"""The explorer's export (vaelab.workshop.explore): what the report's page decodes must be what PyTorch
decodes, within the stated tolerance, from files that are small, whole and self-describing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vaelab import models
from vaelab.workshop import explore


def data(n: int = 60, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 784, generator=generator).round()  # binary pixels, 6 per class
    labels = torch.arange(n) % 10
    return images, labels


def trained_like(model, seed: int = 0):
    """A model with weights of a trained network's scale (default init is too small to matter)."""
    torch.manual_seed(seed)
    for p in model.parameters():
        p.data.normal_(0, 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explore")
    plane = trained_like(models.build("vae", latent_dim=2))
    best = trained_like(models.build("deep-vae", latent_dim=8, prior="vamp", components=5), seed=1)
    images, labels = data()
    manifest = explore.export("fashion-mnist", plane, best, images, labels, [f"class {c}" for c in range(10)],
                              folder, points=30, sliders=3)
    return folder, manifest, plane, best


def test_the_export_describes_its_files(exported):
    folder, manifest, _, _ = exported
    assert json.loads((folder / "fashion-mnist.json").read_text()) == manifest
    for entry in manifest["models"].values():
        assert (folder / entry["file"]).stat().st_size == entry["bytes"]
        for meta in entry["arrays"].values():
            assert meta["offset"] % 4 == 0
    plane, best = manifest["models"]["plane"], manifest["models"]["best"]
    assert plane["arrays"]["points"]["shape"] == [30, 2] and plane["arrays"]["point_labels"]["dtype"] == "uint8"
    assert [layer["op"] for layer in plane["layers"]] == ["linear", "relu", "linear"]
    assert [layer["op"] for layer in best["layers"]] == ["linear", "silu", "linear", "silu", "linear"]
    assert best["arrays"]["gallery"]["shape"] == [20, 784]  # two test images of each class
    assert best["arrays"]["prior.means"]["shape"] == [5, 8]  # the VampPrior's 5 components
    assert len(best["sliders"]) == 3 and len(best["ranges"]) == 8


def test_large_matrices_are_int8_with_a_scale_per_group_and_small_ones_float16(exported):
    _, manifest, _, _ = exported
    linear = [layer for layer in manifest["models"]["best"]["layers"] if layer["op"] == "linear"]
    # 8 -> 512 -> 1024 -> 784: the last two have more than LARGE entries
    assert ["scale" in layer for layer in linear] == [False, True, True]
    arrays = manifest["models"]["best"]["arrays"]
    assert arrays[linear[2]["weight"]]["dtype"] == "int8"
    assert arrays[linear[2]["scale"]]["shape"] == [784, 1024 // explore.GROUP]
    assert arrays[linear[0]["weight"]]["dtype"] == "float16"


def test_the_stored_decoder_draws_pytorchs_pixels_within_the_tolerance(exported):
    folder, manifest, plane, best = exported
    codes = {"plane": torch.randn(50, 2, generator=torch.Generator().manual_seed(3)) * 2,
             "best": torch.randn(50, 8, generator=torch.Generator().manual_seed(4))}
    for name, model in (("plane", plane), ("best", best)):
        stored = torch.sigmoid(explore.load_decoder(folder / "fashion-mnist.json", name)(codes[name])).detach()
        difference = (stored - explore.pixels(model, codes[name])).abs().max()
        assert difference <= explore.TOLERANCE, (name, float(difference))
        assert manifest["models"][name]["error"]["max"] <= explore.TOLERANCE
    assert manifest["models"]["plane"]["error"]["grey_levels"] <= 1  # float16 only: a grey level at most


def test_the_check_file_holds_pytorchs_pixels_of_its_codes(exported):
    folder, _, plane, _ = exported
    check = json.loads((folder / "check" / "fashion-mnist.json").read_text())
    codes = torch.tensor(check["models"]["plane"]["codes"])
    assert codes.shape == (16, 2)
    expected = explore.pixels(plane, codes).numpy()
    assert np.abs(np.array(check["models"]["plane"]["pixels"]) - expected).max() < 1e-5


def test_the_gallery_is_the_first_images_of_each_class():
    labels = torch.tensor([3, 1, 3, 0, 1, 0, 3, 1])
    assert explore.gallery(labels, per_class=2).tolist() == [3, 5, 1, 4, 0, 2]


def test_a_decoder_the_page_cannot_run_is_refused_with_its_name(tmp_path):
    images, labels = data()
    conv = models.build("conv-vae", latent_dim=4)
    with pytest.raises(ValueError, match=r"ConvVAE: the explorer cannot run a \w+ layer"):
        explore.mlp_layers(conv)
    plane = models.build("vae", latent_dim=3)
    with pytest.raises(ValueError, match="2-D latent"):
        explore.export("mnist", plane, plane, images, labels, [str(c) for c in range(10)], tmp_path)
    assert not any(tmp_path.iterdir())


def test_an_export_over_the_tolerance_fails_and_writes_nothing(tmp_path, monkeypatch):
    images, labels = data()
    plane = trained_like(models.build("vae", latent_dim=2))
    monkeypatch.setattr(explore, "LARGE", 1000)  # every matrix in int8
    monkeypatch.setattr(explore, "TOLERANCE", 1e-6)
    with pytest.raises(ValueError, match=r"plane: the stored decoder's pixels differ from PyTorch's by up to"):
        explore.export("mnist", plane, trained_like(models.build("deep-vae", latent_dim=4)), images, labels,
                       [str(c) for c in range(10)], tmp_path, points=20)
    assert not list(tmp_path.rglob("*"))


def test_a_truncated_file_is_named(exported, tmp_path):
    folder, manifest, _, _ = exported
    for path in folder.glob("fashion-mnist*"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    entry = manifest["models"]["best"]
    (tmp_path / entry["file"]).write_bytes((folder / entry["file"]).read_bytes()[:1000])
    with pytest.raises(ValueError, match="fashion-mnist-best.bin: shorter than its manifest says"):
        explore.load_decoder(tmp_path / "fashion-mnist.json", "best")
