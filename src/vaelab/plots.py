"""Figures for the notebooks and the report; ``save_figure`` is the one way into ``assets/``.

Every saved figure has a size taken from ``SIZES`` and ``DPI`` pixels per inch, is saved
without tight cropping (so its pixel size is known in advance), and carries no metadata that
changes from run to run (no software version, no date): the same run gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from vaelab import paths

DPI = 100
SIZES = {"wide": (10.0, 4.0), "square": (6.0, 6.0), "grid": (10.0, 10.0)}


def figure(size: str = "wide", nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` with one of the fixed ``SIZES`` and constrained layout."""
    return plt.subplots(nrows, ncols, figsize=SIZES[size], dpi=DPI, layout="constrained", **kwargs)


def save_figure(fig, name: str, folder: Path | None = None) -> None:
    """Save ``fig`` as ``assets/<name>.png`` (or ``folder/<name>.png``), atomically."""
    with paths.atomic_path(Path(folder or paths.assets_dir()) / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=DPI, format="png", metadata={"Software": None})


def class_balance(splits: dict, class_names: list[str], title: str = ""):
    """Grouped bar chart of the images per class in each split (``{"train": labels, ...}``)."""
    fig, ax = figure("wide")
    width = 0.8 / len(splits)
    x = np.arange(len(class_names))
    for i, (split, labels) in enumerate(splits.items()):
        counts = np.bincount(np.asarray(labels), minlength=len(class_names))
        bars = ax.bar(x + (i - (len(splits) - 1) / 2) * width, counts, width, label=f"{split} ({counts.sum():,})")
        ax.bar_label(bars, fmt="{:,.0f}", fontsize=7, padding=1)
    ax.set_xticks(x, class_names, rotation=20)
    ax.set_ylabel("images")
    ax.set_title(title or "Images per class")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.15)  # headroom for the legend above the bars
    ax.legend(frameon=False, loc="upper center", ncols=len(splits))
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def examples_grid(images, labels, class_names: list[str], per_class: int = 10, title: str = ""):
    """One row per class with its first ``per_class`` images, the class name at the left."""
    images, labels = np.asarray(images), np.asarray(labels)
    fig, axes = figure("grid", len(class_names), per_class, squeeze=False)
    for row, name in enumerate(class_names):
        picks = np.flatnonzero(labels == row)[:per_class]
        for col, ax in enumerate(axes[row]):
            if col < len(picks):
                ax.imshow(images[picks[col]], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
        axes[row, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.suptitle(title or "Examples of each class")
    return fig


def training_curves(history: list[dict], title: str = ""):
    """Left: train and validation -ELBO per epoch. Right: the reconstruction term (left axis)
    and the KL term (right axis, dashed), each on its own scale."""
    fig, (left, right) = figure("wide", 1, 2)
    epochs = [row["epoch"] for row in history]
    left.plot(epochs, [row["train_neg_elbo"] for row in history], "o-", label="train")
    left.plot(epochs, [row["val_neg_elbo"] for row in history], "s-", label="validation")
    left.set_title("-ELBO (nats per image)")
    left.legend(frameon=False)
    kl_axis = right.twinx()
    for split, marker, colour in (("train", "o", "C0"), ("val", "s", "C1")):
        name = "train" if split == "train" else "validation"
        right.plot(epochs, [row[f"{split}_recon"] for row in history], marker + "-", color=colour, label=f"{name} reconstruction")
        kl_axis.plot(epochs, [row[f"{split}_kl"] for row in history], marker + "--", color=colour, mfc="white", label=f"{name} KL")
    right.set_ylabel("reconstruction (nats)")
    kl_axis.set_ylabel("KL (nats, dashed)")
    right.set_title("reconstruction and KL terms")
    lines = right.get_lines() + kl_axis.get_lines()
    right.legend(lines, [line.get_label() for line in lines], frameon=False, loc="center right", fontsize=8)
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    left.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def image_rows(rows: dict, title: str = "", size: str = "wide"):
    """One row of images per entry of ``rows`` ({"label": (N, 28, 28) or (N, 784) in [0, 1]})."""
    n = max(len(images) for images in rows.values())
    fig, axes = figure(size, len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
        for c, ax in enumerate(axes[r]):
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.spines[:].set_visible(False)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(title)
    return fig


def image_grid(images, ncols: int = 8, title: str = "", ax=None):
    """Images (N, 28, 28) or (N, 784) in [0, 1] tiled into one picture, ``ncols`` a row."""
    images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
    nrows = -(-len(images) // ncols)
    canvas = np.ones((nrows * 29 + 1, ncols * 29 + 1), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        canvas[1 + r * 29:1 + r * 29 + 28, 1 + c * 29:1 + c * 29 + 28] = image
    if ax is None:
        fig, ax = figure("square")
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title)
    return ax.figure
