"""Figures saved for assets/: fixed pixel size, same bytes every run, written atomically."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from vaelab import plots  # noqa: E402

CLASSES = [f"class {i}" for i in range(10)]


def test_saved_png_has_fixed_size_and_stable_bytes(tmp_path):
    fig = plots.class_balance({"train": np.repeat(np.arange(10), 6), "test": np.arange(10)}, CLASSES)
    plots.save_figure(fig, "balance", tmp_path)
    first = (tmp_path / "balance.png").read_bytes()
    plots.save_figure(fig, "balance", tmp_path)
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
