"""Figures for the course. Every function builds its own figure and returns it (no ``plt.show()``).

Introduced in: 02_convolution.ipynb (show_images, show_filters, show_maps),
01_history.ipynb (plot_history, plot_confusion), 03_receptive_fields.ipynb (show_receptive_field).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _to_numpy_image(img):
    """(C, H, W) or (H, W) tensor/array -> (H, W) or (H, W, C) numpy array for imshow."""
    import numpy as np

    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    return a


def show_images(
    images,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    size: float = 1.6,
    normalize: bool = True,
    suptitle: str | None = None,
):
    """A grid of images.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)`` tensor, or a list of ``(H, W)`` / ``(H, W, 3)`` arrays.
        titles: one short title per image (optional).
        ncols (int): images per row. Default: 8.
        cmap (str): colour map for one-channel images. Default: "gray".
        size (float): inches per image. Default: 1.6.
        normalize (bool): stretch each image to its own min..max. Default: True.
    """
    import numpy as np

    plt = _plt()
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image, got 0")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)), squeeze=False
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        a = _to_numpy_image(images[i]).astype(np.float64)
        if normalize:
            lo, hi = a.min(), a.max()
            a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        ax.imshow(
            a,
            cmap=cmap if a.ndim == 2 else None,
            vmin=0 if normalize else None,
            vmax=1 if normalize else None,
            interpolation="nearest",
        )
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def show_filters(weight, ncols: int = 8, title: str | None = None):
    """The filters of a conv layer.

    Args:
        weight: ``(K, C, F, F)``; with ``C == 3`` each filter is drawn in colour, otherwise
            its first input channel is drawn in grey.
    """
    w = weight.detach().cpu()
    if w.dim() != 4:
        raise ValueError(f"weight must be 4-D (K, C, F, F), got shape {tuple(w.shape)}")
    imgs = w if w.shape[1] == 3 else w[:, :1]
    return show_images(imgs, titles=[f"filter {k}" for k in range(len(w))], ncols=ncols, suptitle=title)


def show_maps(maps, ncols: int = 8, title: str | None = None, cmap: str = "viridis"):
    """Activation maps of one image.

    Args:
        maps: ``(K, H, W)`` (or ``(1, K, H, W)``): one map per filter.
    """
    m = maps.detach().cpu()
    if m.dim() == 4 and m.shape[0] == 1:
        m = m[0]
    if m.dim() != 3:
        raise ValueError(f"maps must be (K, H, W) or (1, K, H, W), got shape {tuple(maps.shape)}")
    return show_images(list(m), titles=[f"map {k}" for k in range(len(m))], ncols=ncols, cmap=cmap, suptitle=title)


def plot_history(history, title: str | None = None):
    """Loss and accuracy curves of a ``utils.train.History`` (or a dict of lists).

    Keys ending in ``loss`` go on the left axes, keys ending in ``acc`` on the right.
    """
    plt = _plt()
    hist = dict(history)
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.5))
    for key, values in hist.items():
        if key == "epoch" or not values:
            continue
        ax = ax_l if key.endswith("loss") else ax_a if key.endswith("acc") else None
        if ax is not None:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    ax_l.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_a.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(y_true, y_pred, classes: Sequence[str] | None = None, title: str | None = None):
    """Confusion matrix (rows: true class, columns: predicted class) with counts in the cells.

    Args:
        y_true: ``(N,)`` true class indices.  y_pred: ``(N,)`` predicted class indices.
        classes: class names (default: ``0 .. K-1``).
    """
    import numpy as np
    import torch
    from matplotlib.colors import LogNorm

    plt = _plt()
    y_true, y_pred = torch.as_tensor(y_true).long(), torch.as_tensor(y_pred).long()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape, got {tuple(y_true.shape)} and {tuple(y_pred.shape)}"
        )
    k = int(max(y_true.max(), y_pred.max())) + 1 if classes is None else len(classes)
    cm = torch.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    fig, ax = plt.subplots(figsize=(0.5 * k + 2, 0.5 * k + 1.5))
    # log colour scale: a handful of errors stays visible next to thousands of correct answers
    counts = np.ma.masked_equal(cm.numpy(), 0)
    ax.imshow(counts, cmap="Blues", norm=LogNorm(vmin=0.5, vmax=max(int(cm.max()), 1)))
    for i in range(k):
        for j in range(k):
            v = int(cm[i, j])
            if v:
                colour = "white" if v > cm.max() / 10 else "black"
                ax.text(j, i, str(v), ha="center", va="center", fontsize=7, color=colour)
    labels = list(classes) if classes is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), labels)
    ax.set_yticks(range(k), labels)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.tight_layout()
    return fig


def show_receptive_field(image, grad, title: str | None = None):
    """An image with the receptive field of one unit (non-zero ``grad``) drawn over it.

    Args:
        image: ``(C, H, W)`` or ``(H, W)``.
        grad: ``(H, W)`` absolute input gradient, e.g. ``utils.measure.receptive_field(...).grad``.
    """
    import numpy as np

    plt = _plt()
    img = _to_numpy_image(image).astype(np.float64)
    img = (img - img.min()) / (img.max() - img.min() + 1e-12)
    g = grad.detach().cpu().numpy() if hasattr(grad, "detach") else np.asarray(grad)
    if g.shape != img.shape[:2]:
        raise ValueError(f"grad must have the image's spatial shape {img.shape[:2]}, got {g.shape}")
    fig, axes = plt.subplots(1, 2, figsize=(7, 3.5))
    axes[0].imshow(img, cmap="gray" if img.ndim == 2 else None)
    axes[0].imshow(np.ma.masked_where(g == 0, g), cmap="autumn", alpha=0.6)
    axes[0].set_title("receptive field on the image")
    axes[1].imshow(g, cmap="magma")
    axes[1].set_title("|d output / d input|")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
