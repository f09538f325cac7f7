"""The evaluation table: rows of metrics, metrics.json and results_table.md."""

from __future__ import annotations

import json

import pytest
import torch

from vaelab import evaluate, losses, models
from vaelab.workshop import classifier, results, runs


@pytest.fixture(scope="module")
def ctx():
    """A small made-up dataset: two classes of images, one dark and one bright."""
    g = torch.Generator().manual_seed(0)

    def images(n):
        labels = torch.arange(n) % 2
        x = (0.2 + 0.6 * labels[:, None] + 0.1 * torch.randn(n, 784, generator=g)).clamp(0, 1)
        return x, labels

    tensors, labels = {}, {}
    for name, n in (("train", 300), ("val", 60), ("test", 100)):
        tensors[name], labels[name] = images(n)
    torch.manual_seed(0)
    net = classifier.Classifier().eval()
    test_features = classifier.features(net, tensors["test"])
    return results.Context("toy", tensors, labels, net, 0.5, test_features, torch.arange(20),
                           losses.bce_floor(tensors["test"]).mean().item(), 1.0, seed=0)


def _run(model_name: str, latent_dim: int = 3) -> runs.Run:
    torch.manual_seed(0)
    model = models.build(model_name, latent_dim).eval()
    cfg = runs.TrainConfig(dataset="toy", model=model_name, latent_dim=latent_dim, epochs=1)
    metrics = {"parameters": 1, "seconds_per_epoch": 1.0, "test_recon": 500.0, "test_kl": 1.0, "test_neg_elbo": 501.0}
    return runs.Run(None, cfg, model, [], metrics)


@pytest.fixture(autouse=True)
def few_samples(monkeypatch):
    monkeypatch.setattr(results, "SAMPLES", 200)
    monkeypatch.setattr(results, "NLL_K", 20)
    monkeypatch.setattr(results, "GMM_COMPONENTS", 2)


def test_vae_row_has_every_metric_and_a_bound_below_its_elbo(ctx):
    row = results.model_row("vae", _run("vae"), ctx)
    for key, _, _ in results.COLUMNS:
        assert row[key] is not None, key
    assert row["iw_nll"] <= row["iw_neg_elbo"]
    # like with like: the floor of the images the NLL was computed on, not of the whole test set
    subset_floor = losses.bce_floor(ctx.tensors["test"][ctx.nll_index]).mean().item()
    assert subset_floor != pytest.approx(ctx.floor, abs=0.01)  # the toy subset's floor differs, so the test can tell
    assert row["bce_floor"] == pytest.approx(subset_floor)
    assert row["excess_over_floor"] == pytest.approx(row["iw_nll"] - subset_floor)
    assert row["nll_k"] == 20 and row["nll_images"] == 20
    assert 0 <= row["probe_accuracy"] <= 1 and 0 <= row["knn_accuracy"] <= 1
    assert row["fd_prior"] >= 0 and row["fd_gmm"] >= 0
    assert row["active_units"] == evaluate.active_units(_run("vae").model, ctx.tensors["test"])[0]
    assert row == results.model_row("vae", _run("vae"), ctx)  # same seed, same numbers


def test_autoencoder_row_has_no_likelihood(ctx):
    row = results.model_row("ae", _run("ae"), ctx)
    assert row["iw_nll"] is None and row["test_neg_elbo"] is None and row["test_kl"] is None
    assert row["recon_mse"] > 0 and row["fd_prior"] >= 0


def test_pca_row_reconstructs_and_probes(ctx):
    row = results.pca_row(ctx, n_components=5)
    assert row["name"] == "PCA-5" and row["latent_dim"] == 5
    assert 0 < row["recon_mse"] < torch.var(ctx.tensors["test"]).item()  # better than the mean image
    assert row["probe_accuracy"] == 1.0  # the two classes differ by brightness: one direction separates them
    assert row["test_neg_elbo"] is None


def test_pixel_row_is_the_data_itself(ctx):
    row = results.pixel_row(ctx)
    assert row["recon_mse"] == 0 and row["fd_prior"] == ctx.fd_floor
    assert row["knn_accuracy"] == 1.0


def test_save_rows_replaces_one_dataset_and_keeps_the_other(tmp_path):
    a = [{"dataset": "mnist", "name": "AE", "test_neg_elbo": None, "recon_mse": 0.01, "active_units": 20}]
    b = [{"dataset": "fashion-mnist", "name": "VAE", "test_neg_elbo": 240.123, "recon_mse": float("nan")}]
    extra = {"bce_floor": 189.9, "classifier_accuracy": 0.9, "fd_floor": 1.5}
    results.save_rows(a, "mnist", extra, folder=tmp_path)
    results.save_rows(b, "fashion-mnist", extra, folder=tmp_path)
    content = results.save_rows(b, "fashion-mnist", extra, folder=tmp_path)  # again: replaced, not added
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved == content
    assert [r["dataset"] for r in saved["rows"]] == ["fashion-mnist", "mnist"]
    assert saved["rows"][0]["recon_mse"] is None  # NaN is not valid JSON
    assert list(saved["datasets"]) == ["fashion-mnist", "mnist"]
    table = (tmp_path / "results_table.md").read_text()
    assert table.index("### Fashion-MNIST") < table.index("### MNIST")
    assert "| VAE | 240.12 |" in table and "| AE | — |" in table
    assert sorted(p.name for p in tmp_path.iterdir()) == ["insights.md", "metrics.json", "results_table.md"]


def test_table_has_the_report_columns():
    frame = results.table([{"name": "A", "test_neg_elbo": 1.0}, {"name": "B", "knn_accuracy": 0.5}])
    assert list(frame.columns) == [header for _, header, _ in results.COLUMNS]
    assert list(frame.index) == ["A", "B"] and frame.loc["B", "5-NN"] == 0.5


def _rows(ae_mse: float, vae_mse: float) -> list[dict]:
    common = {"dataset": "toy", "latent_dim": 10, "test_kl": 15.0, "fd_prior": 50.0, "fd_gmm": 20.0,
              "test_neg_elbo": 240.0, "iw_neg_elbo": 239.0, "iw_nll": 238.0, "excess_over_floor": 48.0, "bce_floor": 190.0,
              "nll_k": 500}
    rows = [dict(common, name=name, active_units=units, recon_mse=0.02)
            for name, units in (("MLP VAE", 10), ("β-VAE β=0.5", 10), ("β-VAE β=2", 6), ("best VAE", 20))]
    rows[0]["recon_mse"] = vae_mse
    rows[3].update(latent_dim=20, test_neg_elbo=236.0, iw_neg_elbo=235.0, iw_nll=234.5, excess_over_floor=44.5)
    ae = dict(common, name="AE", active_units=10, recon_mse=ae_mse, fd_prior=120.0, test_kl=None,
              test_neg_elbo=None, iw_nll=None, excess_over_floor=None)
    return [ae] + rows


def test_insights_take_every_number_and_comparison_from_the_rows():
    text = results.insights({"rows": _rows(0.013, 0.014), "datasets": {"toy": {}}})
    assert "### toy" in text
    assert "keeps 10 of its 10 dimensions active; with β = 2 (the KL weighed twice) 6, with β = 0.5 10" in text
    assert "0.0130 per pixel, the VAE with the same layers 0.0140 (sharper for the AE)" in text
    assert "farther from the data than the VAE's (Fréchet distance 120.0 against 50.0)" in text
    # the gap is taken on the same images and draws (iw_neg_elbo), not against the full test set's -ELBO
    assert "NLL is 234.50 nats against a −ELBO of 235.00" in text
    assert "overstates the NLL by 0.50 to 1.00 nats on those images" in text and "at least 44.5 nats above" in text
    flipped = results.insights({"rows": _rows(0.015, 0.014), "datasets": {"toy": {}}})
    assert "(blurrier for the AE)" in flipped
    assert results.insights({"rows": _rows(0.1, 0.1)[1:], "datasets": {"toy": {}}}).count("###") == 0  # no AE row


def test_priors_rows_are_a_table_of_their_own(tmp_path):
    """Notebook 04 saves its rows as the "priors" table: notebook 07's rows of the same dataset stay,
    saving again replaces only that table, and the Markdown shows it under the evaluation table."""
    extra = {"bce_floor": 189.9, "classifier_accuracy": 0.9, "fd_floor": 1.5}
    evaluation = [{"dataset": "mnist", "name": "best VAE", "test_neg_elbo": 91.5}]
    priors = [{"dataset": "mnist", "name": "VampPrior", "test_neg_elbo": 93.25, "epochs": 5}]
    results.save_rows(evaluation, "mnist", extra, folder=tmp_path)
    results.save_rows(priors, "mnist", folder=tmp_path, table="priors")
    content = results.save_rows(priors, "mnist", folder=tmp_path, table="priors")  # replaced, not added
    assert [(r["name"], r["table"]) for r in content["rows"]] == [("best VAE", "evaluation"), ("VampPrior", "priors")]
    assert content["datasets"]["mnist"] == extra  # extra=None keeps the evaluation's
    text = (tmp_path / "results_table.md").read_text()
    assert text.index("| best VAE | 91.50 |") < text.index("#### MNIST: learned priors and two layers, 5 epochs each")
    assert text.index("#### MNIST: learned priors") < text.index("| VampPrior | 93.25 |")
    with pytest.raises(ValueError, match="table must be one of"):
        results.save_rows(priors, "mnist", folder=tmp_path, table="extra")


def test_describe_prior_names_the_prior_and_the_free_bits():
    assert results.describe_prior({"prior": "vamp", "components": 100, "free_bits": 0.0}) == \
        "a VampPrior (K = 100), no free bits"
    assert results.describe_prior({"prior": "normal", "free_bits": 0.5}) == \
        "an N(0, I) prior and 0.5 free nats per dimension"
