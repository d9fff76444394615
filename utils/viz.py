"""Figures for the course. Every function builds its own figure and returns it (no ``plt.show()``).

Call ``set_style()`` once in a notebook's setup cell for the course-wide defaults (resolution,
font sizes); importing ``utils.viz`` changes nothing. Every figure made here uses constrained
layout (titles never run into the next row), fonts of at least 9 pt, and a colour bar on every
heat map.

Introduced in: 01_history.ipynb (set_style, show_images, show_filters, show_maps, plot_history,
plot_confusion), 03_receptive_fields.ipynb (show_receptive_field), 05_conv1d_conv3d.ipynb
(show_spectrograms), 07_normalization_comparison.ipynb (norm_axes_mask, show_norm_axes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

MIN_FONT_PT = 9  # the smallest font any figure of the course uses
MAX_WIDTH_IN = 10.0  # widest grid (inches) before it wraps: wider figures are shrunk on screen

# The course-wide matplotlib defaults that set_style() applies.
STYLE = {
    "figure.dpi": 125,  # inline display: a 28x28 map drawn 2 inches wide is 250 px
    "savefig.dpi": "figure",
    "font.size": 10,
    "axes.titlesize": 10,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.title_fontsize": 9,
    "figure.titlesize": 11,
    "figure.labelsize": 10,
    "image.interpolation": "nearest",  # pixels stay pixels: no blur over a 5x5 filter
    "axes.titlepad": 4.0,
}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def set_style() -> dict:
    """Apply the course-wide matplotlib defaults (``STYLE``) and return the dict applied.

    Resolution for inline display (``figure.dpi`` 125) and fonts of at least 9 pt
    (``font.size`` 10; titles and labels 10; ticks and legends 9). The figure layout engine is
    left alone, so a notebook's own ``fig.tight_layout()`` keeps working without warnings; the
    helpers of this module use constrained layout themselves. Call it once in the setup cell,
    after importing pyplot is fine; importing ``utils`` never calls it.

    Returns:
        dict: a copy of the rcParams that were set.

    Introduced in: 01_history.ipynb
    """
    import matplotlib

    _plt()  # import pyplot first: a backend that loads its own rc on import cannot undo ours
    applied = dict(STYLE)
    matplotlib.rcParams.update(applied)
    return applied


def _to_numpy_image(img):
    """(C, H, W) or (H, W) tensor/array -> (H, W) or (H, W, C) numpy array for imshow."""
    import numpy as np

    a = img.detach().cpu().numpy() if hasattr(img, "detach") else np.asarray(img)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(1, 2, 0)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise ValueError(
            f"each image must be (H, W), (1, H, W), (3, H, W) or (H, W, 3), got shape {a.shape}; "
            "pass one channel at a time, e.g. x[:, :1]"
        )
    return a


def _grid(n: int, ncols: int, cell_w: float, max_width: float) -> tuple[int, int]:
    """(rows, cols) for n cells: at most ncols per row and at most max_width inches wide, rows balanced."""
    if not isinstance(ncols, int) or isinstance(ncols, bool) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    cols = max(1, min(ncols, n, int(max_width // cell_w)))
    rows = math.ceil(n / cols)
    return rows, math.ceil(n / rows)


def _colorbar(fig, mappable, ax, label: str | None = None):
    """A slim colour bar next to ax with a few plain-number ticks in MIN_FONT_PT-pt type."""
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    cb = fig.colorbar(mappable, ax=ax, fraction=0.046, pad=0.03)
    if isinstance(mappable.norm, LogNorm):  # 1, 10, 100, 1000 rather than 10^0 .. 10^3
        cb.locator = LogLocator(base=10)
        cb.formatter = FuncFormatter(lambda v, _: f"{v:g}")
        cb.minorformatter = NullFormatter()
    else:
        cb.locator = MaxNLocator(4)
    cb.update_ticks()
    cb.ax.tick_params(which="both", labelsize=MIN_FONT_PT)
    if label:
        cb.set_label(label, fontsize=MIN_FONT_PT)
    return cb


def _scale(a, normalize: bool, vmin, vmax):
    """(data, vmin, vmax) for imshow. A constant image gets a range centred on its value."""
    import numpy as np

    if a.ndim == 3:  # RGB: imshow ignores vmin/vmax, so stretch (or clip) the data to 0..1 here
        lo = a.min() if normalize and vmin is None else (0.0 if vmin is None else vmin)
        hi = a.max() if normalize and vmax is None else (1.0 if vmax is None else vmax)
        a = (a - lo) / (hi - lo) if hi > lo else np.full_like(a, 0.5)
        return np.clip(a, 0.0, 1.0), None, None
    if normalize:
        lo = a.min() if vmin is None else vmin
        hi = a.max() if vmax is None else vmax
    else:
        lo = 0.0 if vmin is None else vmin
        hi = 1.0 if vmax is None else vmax
    if hi <= lo:  # constant image: its value in the middle of the colour map (mid-grey for "gray")
        half = abs(float(lo)) or 1.0
        lo, hi = lo - half, lo + half
    return a, float(lo), float(hi)


def show_images(
    images,
    titles: Sequence[str] | None = None,
    ncols: int = 8,
    cmap: str = "gray",
    size: float = 1.6,
    normalize: bool = True,
    suptitle: str | None = None,
    *,
    colorbar: bool = False,
    vmin: float | None = None,
    vmax: float | None = None,
    max_width: float = MAX_WIDTH_IN,
):
    """A grid of images.

    Args:
        images: ``(N, C, H, W)`` or ``(N, H, W)`` tensor, or a list of ``(H, W)``, ``(C, H, W)``
            or ``(H, W, 3)`` arrays (C = 1 or 3).
        titles: one short title per image (optional).
        ncols (int): at most this many images per row; fewer when the row would be wider than
            ``max_width`` inches (each image keeps ``size``), and rows are balanced (6 images
            in rows of at most 4 come out as 3 + 3). Default: 8.
        cmap (str): colour map for one-channel images. Default: "gray".
        size (float): inches per image. Default: 1.6.
        normalize (bool): stretch each image to its own min..max when True (the colour bar,
            if any, shows the real values). A constant image (a 3x3 blur filter, all ones/9)
            has no range to stretch: it is drawn in the middle colour of the colour map
            (mid-grey for "gray") and its colour bar is centred on its value. When False, values
            are drawn as they are on the scale ``vmin..vmax`` (default 0..1; RGB is clipped to
            0..1). Default: True.
        suptitle (str, optional): a title over the whole grid.
        colorbar (bool): a colour bar next to each one-channel image (RGB images have none).
            Default: False.
        vmin, vmax (float, optional): one shared scale for every image, instead of each
            image's own range (normalize=True) or 0..1 (normalize=False).
        max_width (float): widest figure in inches before the grid wraps. Default: 10.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 01_history.ipynb
    """
    import numpy as np

    plt = _plt()
    n = len(images)
    if n == 0:
        raise ValueError("show_images needs at least one image, got 0")
    if titles is not None and len(titles) != n:
        raise ValueError(f"titles must have one entry per image: {n} images, got {len(titles)} titles")
    if not size > 0:
        raise ValueError(f"size must be a positive number of inches, got {size!r}")
    arrays = [_to_numpy_image(images[i]).astype(np.float64) for i in range(n)]
    cbar = colorbar and any(a.ndim == 2 for a in arrays)
    cell_w = size * (1.3 if cbar else 1.0)
    rows, cols = _grid(n, ncols, cell_w, max_width)
    title_h = 0.3 if titles is not None else 0.0
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(cell_w * cols, (size + title_h) * rows + (0.45 if suptitle else 0.0)),
        squeeze=False,
        layout="constrained",
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        a, lo, hi = _scale(arrays[i], normalize, vmin, vmax)
        im = ax.imshow(a, cmap=cmap if a.ndim == 2 else None, vmin=lo, vmax=hi, interpolation="nearest")
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=MIN_FONT_PT)
        if colorbar and a.ndim == 2:
            _colorbar(fig, im, ax)
    if suptitle:
        fig.suptitle(suptitle, fontsize=max(MIN_FONT_PT, 11))
    return fig


def show_filters(weight, ncols: int = 8, title: str | None = None, *, colorbar: bool | None = None):
    """The filters of a conv layer, each stretched to its own range.

    Args:
        weight: ``(K, C, F, F)``; with ``C == 3`` each filter is drawn in colour, otherwise
            its first input channel is drawn in grey.
        ncols (int): at most this many filters per row. Default: 8.
        title (str, optional): a title over the grid.
        colorbar (bool, optional): a colour bar (the weights' values) next to each grey filter.
            Default: True for grey filters; colour filters never have one.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 01_history.ipynb
    """
    import torch

    w = torch.as_tensor(weight).detach().cpu()
    if w.dim() != 4:
        raise ValueError(f"weight must be 4-D (K, C, F, F), got shape {tuple(w.shape)}")
    imgs = w if w.shape[1] == 3 else w[:, :1]
    return show_images(
        imgs,
        titles=[f"filter {k}" for k in range(len(w))],
        ncols=ncols,
        suptitle=title,
        colorbar=w.shape[1] != 3 if colorbar is None else colorbar,
    )


def show_maps(maps, ncols: int = 8, title: str | None = None, cmap: str = "viridis", *, size: float = 2.0):
    """Activation maps of one image, each on its own scale with a colour bar.

    Args:
        maps: ``(K, H, W)`` (or ``(1, K, H, W)``): one map per filter.
        ncols (int): at most this many maps per row (fewer when a row would be over 10 inches
            wide). Default: 8.
        title (str, optional): a title over the grid.
        cmap (str): colour map. Default: "viridis".
        size (float): inches per map (a 28x28 map is then 250 px wide at 125 dpi). Default: 2.0.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 01_history.ipynb
    """
    import torch

    m = torch.as_tensor(maps).detach().cpu()
    if m.dim() == 4 and m.shape[0] == 1:
        m = m[0]
    if m.dim() != 3:
        raise ValueError(f"maps must be (K, H, W) or (1, K, H, W), got shape {tuple(maps.shape)}")
    return show_images(
        list(m),
        titles=[f"map {k}" for k in range(len(m))],
        ncols=ncols,
        cmap=cmap,
        size=size,
        suptitle=title,
        colorbar=True,
    )


def plot_history(history, title: str | None = None):
    """Loss and accuracy curves of a ``utils.train.History`` (or a dict of lists).

    Keys ending in ``loss`` go on the left axes, keys ending in ``acc`` on the right.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 01_history.ipynb
    """
    plt = _plt()
    hist = dict(history)
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for key, values in hist.items():
        if key == "epoch" or not values:
            continue
        ax = ax_l if key.endswith("loss") else ax_a if key.endswith("acc") else None
        if ax is not None:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    ax_l.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_a.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_l, ax_a):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=MIN_FONT_PT)
    if title:
        fig.suptitle(title, fontsize=max(MIN_FONT_PT, 11))
    return fig


def plot_confusion(y_true, y_pred, classes: Sequence[str] | None = None, title: str | None = None):
    """Confusion matrix (rows: true class, columns: predicted class) with counts in the cells.

    The colour scale is logarithmic (a handful of errors stays visible next to thousands of
    correct answers), shown by a colour bar; empty cells stay white.

    Args:
        y_true: ``(N,)`` true class indices.  y_pred: ``(N,)`` predicted class indices.
        classes: class names (default: ``0 .. K-1``).

    Returns:
        matplotlib.figure.Figure

    Introduced in: 01_history.ipynb
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
    if y_true.numel() == 0:
        raise ValueError("plot_confusion needs at least one prediction, got 0")
    if min(int(y_true.min()), int(y_pred.min())) < 0:
        raise ValueError("class indices must be >= 0, got a negative one")
    top = int(max(y_true.max(), y_pred.max()))
    k = top + 1 if classes is None else len(classes)
    if top >= k:
        raise ValueError(f"classes names {k} classes but the labels go up to {top}; pass one name per class")
    cm = torch.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)
    fig, ax = plt.subplots(figsize=(0.45 * k + 2.4, 0.45 * k + 1.6), layout="constrained")
    counts = np.ma.masked_equal(cm.numpy(), 0)
    norm = LogNorm(vmin=0.5, vmax=max(int(cm.max()), 1))
    im = ax.imshow(counts, cmap="Blues", norm=norm)
    for i in range(k):
        for j in range(k):
            v = int(cm[i, j])
            if v:
                colour = "white" if norm(v) > 0.6 else "black"
                ax.text(j, i, str(v), ha="center", va="center", fontsize=MIN_FONT_PT, color=colour)
    labels = list(classes) if classes is not None else [str(i) for i in range(k)]
    ax.set_xticks(range(k), labels, fontsize=MIN_FONT_PT)
    ax.set_yticks(range(k), labels, fontsize=MIN_FONT_PT)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    _colorbar(fig, im, ax, label="count (log scale)")
    return fig


def show_receptive_field(image, grad, title: str | None = None):
    """An image with the receptive field of one unit (non-zero ``grad``) drawn over it.

    Args:
        image: ``(C, H, W)`` or ``(H, W)``.
        grad: ``(H, W)`` absolute input gradient, e.g. ``utils.measure.receptive_field(...).grad``;
            drawn again on the right as a heat map with a colour bar.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 03_receptive_fields.ipynb
    """
    import numpy as np

    plt = _plt()
    img = _to_numpy_image(image).astype(np.float64)
    img = (img - img.min()) / (img.max() - img.min() + 1e-12)
    g = grad.detach().cpu().numpy() if hasattr(grad, "detach") else np.asarray(grad)
    if g.shape != img.shape[:2]:
        raise ValueError(f"grad must have the image's spatial shape {img.shape[:2]}, got {g.shape}")
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), layout="constrained")
    axes[0].imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
    axes[0].imshow(np.ma.masked_where(g == 0, g), cmap="autumn", alpha=0.6)
    axes[0].set_title("receptive field on the image")
    im = axes[1].imshow(g, cmap="magma")
    axes[1].set_title("|d output / d input|")
    for ax in axes:
        ax.axis("off")
    _colorbar(fig, im, axes[1], label="|gradient|")
    if title:
        fig.suptitle(title, fontsize=max(MIN_FONT_PT, 11))
    return fig


#: the normalization layers drawn by show_norm_axes, and what each averages over
NORM_KINDS = {
    "batch": "BatchNorm: over N, H, W (one per channel)",
    "layer": "LayerNorm: over C, H, W (one per sample)",
    "instance": "InstanceNorm: over H, W (one per sample and channel)",
    "group": "GroupNorm: over a group of C, and H, W",
}


def norm_axes_mask(kind: str, n: int = 4, c: int = 6, hw: int = 5, groups: int = 2):
    """Which elements of an ``(N, C, H·W)`` block share one mean and variance with element ``(0, 0, 0)``.

    Args:
        kind (str): ``"batch"``, ``"layer"``, ``"instance"`` or ``"group"`` (see ``NORM_KINDS``).
        n, c, hw (int): the sizes of the batch, channel and flattened spatial axes.
        groups (int): the number of channel groups (``"group"`` only); must divide ``c``.

    Returns:
        numpy bool array ``(n, c, hw)``: True where the element is averaged together with ``(0, 0, 0)``.

    Introduced in: 07_normalization_comparison.ipynb
    """
    import numpy as np

    if kind not in NORM_KINDS:
        raise ValueError(f"kind must be one of {sorted(NORM_KINDS)}, got {kind!r}")
    for name, v in (("n", n), ("c", c), ("hw", hw), ("groups", groups)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if c % groups:
        raise ValueError(f"groups must divide the channels c, got c={c} and groups={groups}")
    mask = np.zeros((n, c, hw), dtype=bool)
    if kind == "batch":
        mask[:, 0, :] = True  # every sample, one channel, every position
    elif kind == "layer":
        mask[0, :, :] = True  # one sample, every channel and position
    elif kind == "instance":
        mask[0, 0, :] = True  # one sample, one channel
    else:
        mask[0, : c // groups, :] = True  # one sample, the channels of the first group
    return mask


def show_norm_axes(
    kinds: Sequence[str] = ("batch", "layer", "instance", "group"),
    n: int = 4,
    c: int = 6,
    hw: int = 5,
    groups: int = 2,
    title: str | None = None,
):
    """The N/C/HW cube of each normalization layer, the elements of one mean and variance in colour.

    Each panel is a block of ``n x c x hw`` small cubes (batch N, channels C, the H·W positions
    flattened to one axis); the coloured cubes are normalized together, with one mean and one
    variance (``norm_axes_mask``); the grey ones get statistics of their own.

    Args:
        kinds: which layers to draw, from ``NORM_KINDS``. Default: all four.
        n, c, hw (int): sizes of the drawn block. groups (int): channel groups of GroupNorm.
        title (str, optional): a title over all panels.

    Returns:
        matplotlib.figure.Figure with one 3-D axes per kind.

    Introduced in: 07_normalization_comparison.ipynb
    """
    import numpy as np

    kinds = list(kinds)
    if not kinds:
        raise ValueError("kinds must name at least one layer, got an empty sequence")
    masks = [norm_axes_mask(k, n, c, hw, groups) for k in kinds]  # checks every argument
    plt = _plt()
    fig = plt.figure(figsize=(2.6 * len(kinds), 3.0), layout="constrained")
    for i, (kind, mask) in enumerate(zip(kinds, masks)):
        ax = fig.add_subplot(1, len(kinds), i + 1, projection="3d")
        block = mask.transpose(1, 0, 2)  # drawn as (C, N, H·W): channels across, the batch in depth
        colours = np.empty(block.shape, dtype=object)
        colours[block] = "#2b7bba"
        colours[~block] = "#e3e3e3"
        ax.voxels(np.ones(block.shape, dtype=bool), facecolors=colours, edgecolor="#555555", linewidth=0.4)
        ax.set_xlabel("C", fontsize=MIN_FONT_PT + 1, labelpad=-12)
        ax.set_ylabel("N", fontsize=MIN_FONT_PT + 1, labelpad=-12)
        ax.set_zlabel("H·W", fontsize=MIN_FONT_PT + 1, labelpad=-12)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_zticks([])
        ax.set_box_aspect(block.shape, zoom=0.9)
        ax.view_init(elev=22, azim=-58)
        name, over = NORM_KINDS[kind].split(": ")
        ax.set_title(f"{name}\n{over}", fontsize=MIN_FONT_PT + 1)
    if title:
        fig.suptitle(title, fontsize=max(MIN_FONT_PT, 11))
    return fig


def show_spectrograms(
    arrays,
    titles: Sequence[str] | None = None,
    *,
    sample_rate: float | None = None,
    hop: int | None = None,
    ncols: int = 4,
    cmap: str | None = None,
    symmetric: bool = False,
    size: tuple[float, float] = (2.4, 2.2),
    colorbar_label: str | None = None,
    suptitle: str | None = None,
):
    """Frequency x time arrays side by side: spectrograms, or the 1D filters that read them.

    Each panel is drawn with the lowest frequency at the bottom, stretched to fill its box
    (a 129 x 5 filter stays readable), on its own colour scale with a colour bar.

    Args:
        arrays: ``(N, F, L)`` (or a list of ``(F, L)``): F frequency bins, L frames (or taps).
        titles: one title per panel (optional).
        sample_rate (float, optional): Hz; the vertical axis is then labelled in Hz, from 0 to
            ``sample_rate / 2`` (the bins of a one-sided STFT). Default: bin numbers.
        hop (int, optional): samples between frames; with ``sample_rate`` the horizontal axis is
            labelled in milliseconds. Default: frame numbers.
        ncols (int): at most this many panels per row. Default: 4.
        cmap (str, optional): colour map. Default: "magma", or "RdBu_r" when ``symmetric``.
        symmetric (bool): a colour scale centred on 0 (for weights, whose sign matters).
        size: (width, height) in inches of one panel. Default: (2.4, 2.2).
        colorbar_label (str, optional): label of every colour bar.
        suptitle (str, optional): a title over the grid.

    Returns:
        matplotlib.figure.Figure

    Introduced in: 05_conv1d_conv3d.ipynb
    """
    import numpy as np

    panels = [a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a) for a in arrays]
    if not panels or any(p.ndim != 2 for p in panels):
        shapes = [tuple(p.shape) for p in panels]
        raise ValueError(f"arrays must be (N, F, L) or a list of (F, L) arrays, got shapes {shapes}")
    if titles is not None and len(titles) != len(panels):
        raise ValueError(f"titles must have one entry per panel ({len(panels)}), got {len(titles)}")
    plt = _plt()
    rows, cols = _grid(len(panels), ncols, size[0], MAX_WIDTH_IN)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), layout="constrained", squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= len(panels):
            ax.axis("off")
            continue
        p = panels[i]
        top = sample_rate / 2 if sample_rate else p.shape[0] - 1
        right = p.shape[1] * hop / sample_rate * 1000 if sample_rate and hop else p.shape[1]
        lim = float(np.abs(p).max()) or 1.0
        im = ax.imshow(
            p,
            origin="lower",
            aspect="auto",
            extent=(0, right, 0, top),
            cmap=cmap or ("RdBu_r" if symmetric else "magma"),
            vmin=-lim if symmetric else None,
            vmax=lim if symmetric else None,
        )
        ax.set_xlabel("time (ms)" if sample_rate and hop else "frame", fontsize=MIN_FONT_PT)
        ax.set_ylabel("frequency (Hz)" if sample_rate else "bin", fontsize=MIN_FONT_PT)
        ax.tick_params(labelsize=MIN_FONT_PT)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=MIN_FONT_PT + 1)
        _colorbar(fig, im, ax, label=colorbar_label)
    if suptitle:
        fig.suptitle(suptitle, fontsize=max(MIN_FONT_PT, 11))
    return fig
