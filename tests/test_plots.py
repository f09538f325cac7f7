"""Figures saved for assets/: fixed pixel size, same bytes every run, written atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from vaelab import plots
from vaelab.workshop import paths  # noqa: E402

CLASSES = [f"class {i}" for i in range(10)]


def test_saved_png_has_fixed_size_and_stable_bytes(tmp_path):
    fig = plots.class_balance({"train": np.repeat(np.arange(10), 6), "test": np.arange(10)}, CLASSES)
    paths.save_figure(fig, "balance", tmp_path)
    first = (tmp_path / "balance.png").read_bytes()
    paths.save_figure(fig, "balance", tmp_path)
    second = (tmp_path / "balance.png").read_bytes()
    assert first == second
    with Image.open(tmp_path / "balance.png") as image:
        assert image.size == (1000, 400)
        assert "Software" not in image.info  # no version string that changes with matplotlib
    assert [p.name for p in tmp_path.iterdir()] == ["balance.png"]


def test_class_balance_counts_each_split():
    fig = plots.class_balance({"train": np.repeat(np.arange(10), 6), "val": np.array([0, 0, 9])}, CLASSES)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights[:10] == [6] * 10 and heights[10:] == [2, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train (60)", "val (3)"]


def test_examples_grid_shows_each_class_in_its_row():
    images = np.stack([np.full((28, 28), 20 * label, dtype=np.uint8) for label in np.repeat(np.arange(10), 3)])
    labels = np.repeat(np.arange(10), 3)
    fig = plots.examples_grid(images, labels, CLASSES, per_class=4)
    axes = np.array(fig.axes).reshape(10, 4)
    assert axes[7, 0].get_ylabel() == "class 7"
    assert axes[7, 0].images[0].get_array().max() == 140
    assert not axes[7, 3].images  # only 3 examples of the class: the 4th cell stays empty


def test_training_curves_plot_every_term():
    history = [{"epoch": e, "train_neg_elbo": 300 - e, "val_neg_elbo": 301 - e, "train_recon": 280 - e,
                "val_recon": 281 - e, "train_kl": 10 + e, "val_kl": 11 + e} for e in (1, 2, 3)]
    fig = plots.training_curves(history, title="t")
    left, right, kl_axis = fig.axes
    assert [list(line.get_ydata()) for line in left.get_lines()] == [[299, 298, 297], [300, 299, 298]]
    assert [list(line.get_ydata()) for line in kl_axis.get_lines()] == [[11, 12, 13], [12, 13, 14]]
    assert len(right.get_legend().get_texts()) == 4


def test_image_grid_tiles_images_in_rows():
    images = np.zeros((10, 784), dtype=np.float32)
    images[9] = 1.0
    fig = plots.image_grid(images, ncols=4)
    canvas = fig.axes[0].images[0].get_array()
    assert canvas.shape == (3 * 29 + 1, 4 * 29 + 1)
    assert canvas[2 * 29 + 1:3 * 29, 1 * 29 + 1:2 * 29].min() == 1.0  # image 9: row 2, column 1
    assert canvas[1:29, 1:29].max() == 0.0


def test_image_rows_label_each_row():
    fig = plots.image_rows({"original": np.zeros((3, 28, 28)), "recon": np.ones((3, 784))})
    assert [ax.get_ylabel() for ax in fig.axes[::3]] == ["original", "recon"]


def test_image_rows_title_the_columns_and_draw_an_error_row_in_its_own_colours():
    fig = plots.image_rows({"x": np.zeros((3, 784)), "|x̂ − x|": np.ones((3, 784))}, column_labels=["-1", "0", "+1"],
                           cmaps={"|x̂ − x|": "magma"})
    assert [ax.get_title() for ax in fig.axes[:3]] == ["-1", "0", "+1"]
    assert [ax.get_title() for ax in fig.axes[3:]] == ["", "", ""]
    assert fig.axes[0].images[0].get_cmap().name == "gray" and fig.axes[3].images[0].get_cmap().name == "magma"


def test_latent_scatter_draws_one_panel_per_model_and_names_the_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 5)
    fig = plots.latent_scatter({"VAE": rng.standard_normal((50, 2)), "AE": rng.standard_normal((50, 2))}, labels,
                               CLASSES, size="pair")
    assert [ax.get_title() for ax in fig.axes] == ["VAE", "AE"]
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 50
    assert [t.get_text() for t in fig.legends[0].get_texts()] == CLASSES
    assert fig.axes[0].get_xticks().size == 0  # t-SNE: no scale to read


def test_latent_scatter_keeps_the_scale_when_axes_are_named():
    points = np.array([[-30.0, 0.0], [30.0, 5.0]])
    fig = plots.latent_scatter({"PCA": points}, np.array([0, 1]), CLASSES, axis_labels=("PC 1", "PC 2"))
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("PC 1", "PC 2")
    assert ax.get_xticks().size > 0 and ax.get_xlim()[0] < -30 < 30 < ax.get_xlim()[1]


def test_kl_bars_sort_dimensions_and_counts_active_units():
    fig = plots.kl_bars({"VAE": [0.1, 3.0, 0.0]}, {"VAE": 2})
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == [3.0, 0.1, 0.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "1", "3"]  # z1, z2, ...: the explorer's numbering
    assert ax.get_title() == "VAE: the bars sum to 3.1 nats, 2 active units"
    assert ax.get_legend() is None  # no free bits, no line


def test_kl_bars_of_a_learned_prior_do_not_claim_to_sum_to_the_kl():
    fig = plots.kl_bars({"VampPrior": [0.5, 2.0]}, {"VampPrior": 2}, learned_prior={"VampPrior"}, title="the figure's title")
    title = fig.axes[0].get_title()
    assert "sum" not in title and "do not add up to the KL" in title and "2 active units" in title
    assert fig._suptitle.get_text() == "the figure's title"  # the panel's heading does not replace it


def test_kl_bars_draw_the_free_bits_floor():
    fig = plots.kl_bars({"VAE": [0.1, 3.0], "free bits": [0.5, 2.0]}, free_bits={"free bits": 0.5})
    plain, floored = fig.axes
    assert not plain.get_lines()
    assert [list(line.get_ydata()) for line in floored.get_lines()] == [[0.5, 0.5]]
    assert [t.get_text() for t in floored.get_legend().get_texts()] == ["free bits: 0.5 nats"]


def test_rate_distortion_places_each_model_and_joins_a_group():
    points = [{"label": "b=1", "kl": 10.0, "recon": 230.0, "group": "VAE"},
              {"label": "b=2", "kl": 5.0, "recon": 240.0, "group": "VAE"},
              {"label": "best", "kl": 15.0, "recon": 220.0}]
    ax = plots.rate_distortion(points).axes[0]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [5.0, 10.0] and list(line.get_ydata()) == [240.0, 230.0]
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["b=2", "b=1", "best"]
    # every model is in the legend (a group once, a model of its own by name) and the lines of equal
    # -ELBO sit at round values from the smallest total (235) to the largest (245), each labelled
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["VAE", "best"]
    assert texts[3:] == ["−ELBO 235", "−ELBO 237.5", "−ELBO 240", "−ELBO 242.5", "−ELBO 245"]


def test_manifold_labels_axes_with_the_code_values():
    values = np.linspace(-1.5, 1.5, 4)
    ax = plots.manifold(np.zeros((16, 784)), values).axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["-1.5", "0.5"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["1.5", "-0.5"]


def test_aggregate_posterior_draws_the_codes_inside_labelled_mass_contours():
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(200, 2)), np.repeat(np.arange(10), 20)
    log_normal = lambda z: -0.5 * (np.asarray(z) ** 2).sum(axis=1) - np.log(2 * np.pi)
    fig = plots.aggregate_posterior(codes, labels, CLASSES, log_normal, title="codes")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == ["50 %", "90 %", "99 %"]
    assert ax.get_xlabel() == "$z_1$" and [t.get_text() for t in ax.get_legend().get_texts()] == CLASSES
    assert plots.dataset_name("fashion-mnist") == "Fashion-MNIST"
