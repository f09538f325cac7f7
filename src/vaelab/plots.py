"""Figures of the course: each function draws one kind of figure and returns it.

Every figure has a size taken from ``SIZES`` and ``DPI`` pixels per inch, so its pixel size is
known in advance. ``vaelab.workshop.paths.save_figure`` saves one for the report.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

DPI = 100
DATASET_NAMES = {"fashion-mnist": "Fashion-MNIST", "mnist": "MNIST"}
SIZES = {"wide": (10.0, 4.0), "square": (6.0, 6.0), "grid": (10.0, 10.0), "pair": (12.0, 6.0), "triple": (15.0, 5.2)}


def dataset_name(dataset: str) -> str:
    """The name a title uses: "Fashion-MNIST" for the slug "fashion-mnist"."""
    return DATASET_NAMES.get(dataset, dataset)


def figure(size: str = "wide", nrows: int = 1, ncols: int = 1, **kwargs):
    """``plt.subplots`` with one of the fixed ``SIZES`` and constrained layout."""
    return plt.subplots(nrows, ncols, figsize=SIZES[size], dpi=DPI, layout="constrained", **kwargs)


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
        kl_axis.plot(epochs, [row[f"{split}_kl"] for row in history], marker + "--", color=colour, mfc="white",
                     label=f"{name} KL")
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


def image_rows(rows: dict, title: str = "", size: str = "wide", column_labels: list[str] | None = None,
               cmaps: dict | None = None):
    """One row of images per entry of ``rows`` ({"label": (N, 28, 28) or (N, 784) in [0, 1]}).
    ``column_labels`` title the top row (e.g. the value of a traversed dimension); ``cmaps``
    ({"label": "magma"}) draws a row in another colour map, e.g. an error map |x̂ - x|."""
    n = max(len(images) for images in rows.values())
    fig, axes = figure(size, len(rows), n, squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        images = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28)
        cmap = (cmaps or {}).get(label, "gray")
        for c, ax in enumerate(axes[r]):
            if c < len(images):
                ax.imshow(images[c], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            if r == 0 and column_labels and c < len(column_labels):
                ax.set_title(column_labels[c], fontsize=8)
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


def scatter_by_class(ax, points, labels, class_names: list[str]) -> None:
    """Points (N, 2) on ``ax``, one tab10 colour per class, labelled with the class names."""
    points, labels = np.asarray(points), np.asarray(labels)
    for c, class_name in enumerate(class_names):
        mask = labels == c
        ax.scatter(points[mask, 0], points[mask, 1], s=3, alpha=0.6, color=plt.get_cmap("tab10")(c),
                   label=class_name, rasterized=True)


def latent_scatter(embeddings: dict, labels, class_names: list[str], title: str = "", size: str = "wide",
                   axis_labels: tuple[str, str] | None = None):
    """One scatter panel per entry of ``embeddings`` ({"VAE": (N, 2), ...}), points coloured by
    class, one legend with the class names. With ``axis_labels`` (e.g. ("PC 1", "PC 2")) every
    panel keeps its ticks and labels, for embeddings whose scale means something (PCA); without
    them the axes are bare (t-SNE, whose coordinates have no scale)."""
    fig, axes = figure(size, 1, len(embeddings), squeeze=False)
    for ax, (name, points) in zip(axes[0], embeddings.items()):
        scatter_by_class(ax, points, labels, class_names)
        ax.set_title(name)
        if axis_labels:
            ax.set(xlabel=axis_labels[0], ylabel=axis_labels[1])
            ax.tick_params(labelsize=8)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=plt.get_cmap("tab10")(c))
               for c in range(len(class_names))]
    fig.legend(handles, class_names, loc="outside right center", frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def aggregate_posterior(codes, labels, class_names: list[str], log_density, title: str = "", extent: float = 4.0):
    """2-D codes (N, 2) coloured by class over the contours of a prior's density: where the
    encoder puts the images against where the prior puts its mass. ``log_density`` maps (M, 2)
    float64 codes to log p(z) (M,); the contours enclose 50, 90 and 99 % of the prior's mass."""
    fig, ax = figure("square")
    axis = np.linspace(-extent, extent, 241)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    density = np.exp(np.asarray(log_density(grid), dtype=np.float64)).reshape(len(axis), len(axis))
    mass = np.sort(density.ravel())[::-1]
    cumulative = np.cumsum(mass) / mass.sum()
    levels = sorted({mass[np.searchsorted(cumulative, q)] for q in (0.99, 0.9, 0.5)})
    scatter_by_class(ax, codes, labels, class_names)
    contours = ax.contour(axis, axis, density, levels=levels, colors="black", linewidths=1)
    ax.clabel(contours, fmt=dict(zip(contours.levels, ["99 %", "90 %", "50 %"][-len(levels):])), fontsize=8)
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_aspect("equal")
    handles = [plt.Line2D([], [], marker="o", linestyle="", color=plt.get_cmap("tab10")(c)) for c in range(len(class_names))]
    ax.legend(handles, class_names, loc="upper left", fontsize=7, frameon=False, ncols=2)
    ax.set_title(title)
    return fig


def manifold(images, values, title: str = "", ax=None):
    """The decoder over an n x n grid of 2-D codes (``latent.manifold_codes``), axes labelled by
    the code values ``values`` (the n inverse-CDF points)."""
    n = len(values)
    fig = image_grid(images, ncols=n, title=title, ax=ax)
    ax = fig.axes[0] if ax is None else ax
    ax.set_axis_on()
    ticks = 1 + 29 * np.arange(n) + 14
    ax.set_xticks(ticks[::2], [f"{v:.1f}" for v in values[::2]], fontsize=7)
    ax.set_yticks(ticks[::2], [f"{v:.1f}" for v in values[::-1][::2]], fontsize=7)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    return fig


def kl_bars(kls: dict, threshold_counts: dict | None = None, title: str = "", free_bits: dict | None = None,
            learned_prior: set | frozenset = frozenset()):
    """Bar charts of the mean KL of every latent dimension, one panel per model, dimensions
    sorted from the most to the least informative and numbered from 1 (z1, z2, ...: the numbering
    of every figure, table and the explorer); ``threshold_counts`` ({name: active units}) goes
    into each panel's title; ``free_bits`` ({name: nats}) draws that model's free-bits floor as a
    dashed line (a dimension below it costs nothing in the training loss). For the names in
    ``learned_prior`` each bar is the dimension's KL against the prior's marginal, and the bars do
    not add up to the model's KL: the title says so instead of giving their sum."""
    fig, axes = figure("wide", 1, len(kls), squeeze=False)
    for ax, (name, kl) in zip(axes[0], kls.items()):
        kl = np.asarray(kl)
        order = np.argsort(-kl, kind="stable")
        ax.bar(np.arange(len(kl)), kl[order], color="C0")
        if (free_bits or {}).get(name):
            ax.axhline(free_bits[name], color="C3", linestyle="--", linewidth=1,
                       label=f"free bits: {free_bits[name]:g} nats")
            ax.legend(frameon=False, fontsize=8, loc="upper right")
        ax.set_xticks(np.arange(len(kl)), [str(j + 1) for j in order], fontsize=7)
        ax.set_xlabel("latent dimension $z_j$ (sorted by KL)")
        ax.set_ylabel("KL (nats per image)")
        count = f", {threshold_counts[name]} active units" if threshold_counts else ""
        # for N(0, I) the bars add up to the KL; for a learned prior each is a dimension's KL against the
        # prior's marginal, and they do not
        heading = (f"{name}{count}\n(against the prior's marginals: they do not add up to the KL)" if name in learned_prior
                   else f"{name}: the bars sum to {kl.sum():.1f} nats{count}")
        ax.set_title(heading, fontsize=9 if name in learned_prior else 10)
        ax.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def rate_distortion(points: list[dict], title: str = ""):
    """KL (rate) against reconstruction (distortion), one labelled point per model
    ({"label", "kl", "recon"}, a "group" joins points with a line and has one legend entry; a
    point without a group has its own marker and entry), with dotted lines of equal
    -ELBO = recon + KL at round values, each labelled with its value."""
    fig, ax = figure("square")
    groups: dict = {}
    for p in points:
        groups.setdefault(p.get("group"), []).append(p)
    colour = 0
    markers = iter("sD^vP*X")
    for group, members in groups.items():
        members = sorted(members, key=lambda p: p["kl"])
        if group:  # a line through the group's points, one legend entry for the group
            ax.plot([p["kl"] for p in members], [p["recon"] for p in members], "o-", color=f"C{colour}", label=group)
            colour += 1
        for p in members:
            if not group:  # a model of its own: its own colour, marker and legend entry
                ax.plot(p["kl"], p["recon"], next(markers, "o"), color=f"C{colour}", markersize=7, label=p["label"])
                colour += 1
            ax.annotate(p["label"], (p["kl"], p["recon"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.margins(x=0.1, y=0.06)  # room for the labels of the outermost points
    kl_range = np.array(ax.get_xlim())
    y_low, y_high = ax.get_ylim()
    totals = [p["kl"] + p["recon"] for p in points]
    # like contour lines: a few round values of -ELBO = recon + KL between the models' extremes
    levels = MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(min(totals), max(totals))
    for total in [t for t in levels if min(totals) <= t <= max(totals)]:
        ax.plot(kl_range, total - kl_range, ":", color="grey", linewidth=0.8)
        # the value where the line enters the panel: at the left edge, or at the top if it enters there
        x = max(kl_range[0], total - y_high)
        if x < kl_range[1]:
            ax.annotate(f"−ELBO {total:g}", (x, total - x), textcoords="offset points", xytext=(3, -10),
                        fontsize=7, color="grey", bbox=dict(facecolor="white", edgecolor="none", pad=0.5, alpha=0.85))
    ax.set_xlim(*kl_range)
    ax.set_ylim(y_low, y_high)
    ax.set_xlabel("rate: KL (nats per image)")
    ax.set_ylabel("distortion: reconstruction (nats per image)")
    ax.set_title(title or "Rate against distortion (dotted: equal -ELBO)")
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.3)
    return fig
