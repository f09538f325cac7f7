"""The architecture tables the notebooks show: traced from the models, so they match the code."""

from __future__ import annotations

from vaelab import models
from vaelab.workshop import summary


def test_layers_trace_every_layer_in_the_order_it_runs_with_its_shape_and_parameters():
    vae = models.build("vae", latent_dim=10)
    table = summary.layers(vae)
    assert list(table.index)[:2] == ["fc1", "fc21"] and list(table.index)[-1] == "fc4"
    assert table.loc["fc1", "what"] == "Linear 784 → 400" and table.loc["fc1", "output"] == "400"
    assert table.loc["fc4", "output"] == "784"
    assert table["parameters"].sum() == sum(p.numel() for p in vae.parameters())
    assert vae.training  # the mode is given back


def test_convolutions_show_their_channels_and_feature_maps():
    table = summary.layers(models.build("conv-vae", latent_dim=10))
    assert table.loc["encoder.0", "what"] == "Conv2d 1 → 32, 4×4, stride 2"
    assert table.loc["encoder.0", "output"] == "32 × 14 × 14"
    assert table.loc["decoder.5", "what"] == "ConvTranspose2d 64 → 32, 4×4, stride 2"
    assert table.loc["decoder.7", "output"] == "1 × 28 × 28" and table.loc["decoder.8", "output"] == "784"


def test_a_learned_prior_is_a_row_of_its_own_and_the_summary_names_it():
    vamp = models.build("deep-vae", latent_dim=20, prior="vamp", components=100)
    table = summary.layers(vamp)
    assert table.index[-1] == "prior" and table.loc["prior", "parameters"] == 100 * 784
    assert table["parameters"].sum() == sum(p.numel() for p in vamp.parameters())
    line = summary.model_table({"best VAE": vamp, "AE": models.build("ae", latent_dim=10)})
    assert line.loc["best VAE", "prior"] == "VampPrior" and line.loc["best VAE", "weight layers"] == 6
    assert line.loc["AE", "prior"] == "none (AE)" and line.loc["best VAE", "latent"] == 20
