"""Interactive explorers (ipywidgets) and one animation, each usable as a static figure too.

An explorer is a small object with

- ``controls``: the ipywidgets by name (sliders, toggle buttons, buttons);
- ``text``: an ``ipywidgets.HTML`` that states the result in words (CSS class ``explorer-text``);
- ``image``: an ``ipywidgets.Image`` holding the PNG of the current figure, redrawn on every change;
- ``widget``: all of them in one ``VBox``;
- ``figure()``: a fresh matplotlib figure of the current settings (not registered with pyplot,
  so nothing is drawn twice and nothing leaks when a slider moves);
- ``summary()``: the result as one line of plain text;
- ``set(**values)``: several controls at once, one update (what a notebook cell or a test uses);
- ``show()``: displays the live widget, then the static figure of the current settings.

Jupyter with a running kernel shows the live widget; where no widget front end runs (nbval, the
stored outputs, a static site, GitHub's viewer) the static figure below it shows the same
settings, and the widget's text fallback is ``summary()``, one deterministic line (the widget's
model id, random, sits in ``application/vnd.jupyter.widget-view+json``, which nbval never compares).

Every number is *measured*: output sizes with ``utils.measure.output_shape`` on a real
``nn.Conv2d``, receptive fields with ``utils.measure.receptive_field`` (autograd), the cells a
normalization layer averages with ``utils.viz.norm_axes_mask``. Nothing here is a closed-form
answer of an assignment.

Introduced in: 02_convolution.ipynb (ConvArithmeticExplorer, conv_window_animation, animation_html),
03_receptive_fields.ipynb (ReceptiveFieldExplorer), 07_normalization_comparison.ipynb (NormAxesExplorer).
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence

_WINDOW = "#e6550d"  # the window being read (and its output cell)
_NEXT = "#756bb1"  # the next window along the row: S pixels to the right


def _png(fig) -> bytes:
    """The PNG bytes of a figure at its own dpi."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi)
    return buf.getvalue()


def _new_figure(figsize, dpi: float | None = None, layout: str | None = "constrained"):
    """A matplotlib figure that pyplot does not know about (the inline backend never shows it by itself)."""
    import matplotlib
    from matplotlib.figure import Figure

    return Figure(figsize=figsize, dpi=dpi or matplotlib.rcParams["figure.dpi"], layout=layout)


def _int_in(name: str, value, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}, got {value!r}")
    return value


def _cell_grid(ax, size: int) -> None:
    """Thin lines between the cells of a size x size image drawn by imshow; no ticks."""
    edges = [i - 0.5 for i in range(size + 1)]
    ax.hlines(edges, -0.5, size - 0.5, colors="0.6", lw=0.6)
    ax.vlines(edges, -0.5, size - 0.5, colors="0.6", lw=0.6)
    ax.set_xticks([])
    ax.set_yticks([])


def _side(size: int | None) -> str:
    """'7 x 7', or 'more than 1024 x 1024' for a field too large to measure."""
    return f"{size} x {size}" if size is not None else "more than 1024 x 1024"


def _strip_tags(text: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text))


class _Explorer:
    """What every explorer shares: the text, the image, the box, the static fallback."""

    title = "explorer"

    def _build(self, rows) -> None:
        import ipywidgets as widgets

        self.text = widgets.HTML()
        self.text.add_class("explorer-text")
        self.image = widgets.Image(format="png")
        self.widget = widgets.VBox([*rows, self.text, self.image])
        self.refresh()

    def describe(self) -> str:  # pragma: no cover - every explorer defines it
        raise NotImplementedError

    def figure(self):  # pragma: no cover - every explorer defines it
        raise NotImplementedError

    _holding = False

    def refresh(self, *_, draw: bool = True) -> None:
        """Recompute the text and (``draw=True``) redraw the figure for the current control values."""
        if self._holding:
            return
        self.text.value = self.describe()
        if draw:
            self.image.value = _png(self.figure())

    def set(self, draw: bool = True, **values) -> None:
        """Set several controls at once, then update once (``draw=False``: the text only, no new figure).

        Example: ``explorer.set(N=11, F=3, S=3)``.
        """
        unknown = sorted(set(values) - set(self.controls))
        if unknown:
            raise ValueError(f"no control named {unknown}; the controls are {list(self.controls)}")
        self._holding = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._holding = False
        self.refresh(draw=draw)

    def summary(self) -> str:
        """The current result as one line of plain text (the widget's fallback where widgets do not run)."""
        lines = [line.strip() for line in _strip_tags(self.text.value.replace("<br>", "\n")).splitlines()]
        return f"{self.title}: " + "; ".join(line for line in lines if line)

    def _repr_mimebundle_(self, include=None, exclude=None):
        live = self.widget._repr_mimebundle_  # None once the widget is closed
        data = live() if live is not None else {}
        data["text/plain"] = self.summary()
        return data

    def show(self) -> None:
        """Display the live widget and, under it, the static figure of the current settings."""
        from IPython.display import display

        display(self)
        display(self.figure())


class ConvArithmeticExplorer(_Explorer):
    """Sliders N, F, S, P, K and what they do to one conv layer: the padded input, its windows, the output.

    The left panel is the padded input, (N + 2P) x (N + 2P) cells (padding hatched), each
    coloured by the number of windows that read it (``F.unfold`` then ``F.fold`` on ones); a red
    x marks a real pixel that no window reads. The first window is outlined in orange, the next
    one along the row (S cells to the right) in purple. The right panel is the output map,
    W x W, whose size is measured by running ``nn.Conv2d(1, K, F, stride=S, padding=P)`` on an
    ``(1, 1, N, N)`` input (``utils.measure.output_shape``); its depth is K. When
    ``(N - F + 2P) mod S != 0`` the text says that the stride does not fit and how many rows and
    columns of the padded input are never read.

    Args:
        N, F, S, P, K (int): the starting values of the sliders (input side, kernel side,
            stride, padding, number of filters).

    Attributes:
        controls (dict[str, ipywidgets.IntSlider]): keys ``"N"``, ``"F"``, ``"S"``, ``"P"``, ``"K"``.

    Introduced in: 02_convolution.ipynb
    """

    title = "convolution explorer"
    RANGES = {"N": (1, 16), "F": (1, 7), "S": (1, 4), "P": (0, 3), "K": (1, 16)}

    def __init__(self, N: int = 7, F: int = 3, S: int = 2, P: int = 1, K: int = 4):
        import ipywidgets as widgets

        start = {"N": N, "F": F, "S": S, "P": P, "K": K}
        for name, (low, high) in self.RANGES.items():
            _int_in(name, start[name], low, high)
        self.controls = {
            name: widgets.IntSlider(value=start[name], min=low, max=high, description=name, continuous_update=False)
            for name, (low, high) in self.RANGES.items()
        }
        for slider in self.controls.values():
            slider.observe(self.refresh, names="value")
        self._build([widgets.HBox(list(self.controls.values()))])

    def values(self) -> dict[str, int]:
        """The current slider values, ``{"N": ..., "F": ..., "S": ..., "P": ..., "K": ...}``."""
        return {name: slider.value for name, slider in self.controls.items()}

    def measure(self) -> dict:
        """What the current settings give, measured.

        Returns:
            dict with ``out`` (int, side W of the output map, 0 when the filter is larger than the
            padded input), ``padded`` (int, N + 2P), ``coverage`` (``(N + 2P, N + 2P)`` int64
            tensor: windows that read each cell), ``unread_real`` (int, real pixels no window
            reads), ``tail`` (int, rows at the end of the padded input after the last window),
            ``fits`` (bool, ``(N - F + 2P) mod S == 0``).
        """
        import torch
        import torch.nn as nn
        import torch.nn.functional as tf

        from utils.measure import output_shape

        v = self.values()
        n, f, s, p, k = v["N"], v["F"], v["S"], v["P"], v["K"]
        padded = n + 2 * p
        if f > padded:
            coverage = torch.zeros(padded, padded, dtype=torch.int64)
            return dict(out=0, padded=padded, coverage=coverage, unread_real=n * n, tail=padded, fits=False)
        out = output_shape(nn.Conv2d(1, k, f, stride=s, padding=p), (1, 1, n, n))[-1]  # measured, floored
        cols = tf.unfold(torch.ones(1, 1, padded, padded), f, stride=s)  # (1, F*F, W*W): one column per window
        coverage = tf.fold(cols, (padded, padded), f, stride=s)[0, 0].round().to(torch.int64)  # (padded, padded)
        real = coverage[p : p + n, p : p + n]
        tail = padded - ((out - 1) * s + f)  # cells after the end of the last window
        return dict(
            out=out,
            padded=padded,
            coverage=coverage,
            unread_real=int((real == 0).sum()),
            tail=tail,
            fits=(n - f + 2 * p) % s == 0,
        )

    def describe(self) -> str:
        v, m = self.values(), self.measure()
        n, f, s, p, k = v["N"], v["F"], v["S"], v["P"], v["K"]
        if m["out"] == 0:
            return (
                f"<b>output: none</b>: the filter (F = {f}) is larger than the padded input "
                f"(N + 2P = {m['padded']}); PyTorch raises an error"
            )
        lines = [
            f"<b>output: {m['out']} x {m['out']} x {k}</b> (measured with nn.Conv2d(1, {k}, {f}, "
            f"stride={s}, padding={p}) on a {n} x {n} input)"
        ]
        if m["fits"]:
            lines.append(f"the stride fits: (N - F + 2P) = {n - f + 2 * p} is a multiple of S = {s}")
        else:
            lines.append(
                f"<b>the stride does not fit</b>: (N - F + 2P) = {n - f + 2 * p} is not a multiple of "
                f"S = {s}; the last {m['tail']} row(s) and column(s) of the padded input are never read"
            )
        if s > f:
            lines.append(f"S > F: {s - f} row(s) and column(s) are skipped between two windows")
        lines.append(f"real pixels that no window reads: {m['unread_real']} of {n * n}")
        return "<br>".join(lines)

    def figure(self):
        """The padded input with its windows (left) and the output map (right), for the current values.

        Returns:
            matplotlib.figure.Figure with 2 axes and a colour bar.
        """
        import numpy as np
        from matplotlib.patches import Rectangle

        v, m = self.values(), self.measure()
        n, f, s, p, k = v["N"], v["F"], v["S"], v["P"], v["K"]
        side, out = m["padded"], m["out"]
        fig = _new_figure((9.0, 4.4))
        ax_in, ax_out = fig.subplots(1, 2, width_ratios=[1.25, 1])
        cov = m["coverage"].numpy()
        im = ax_in.imshow(cov, cmap="Blues", vmin=0, vmax=max(1, int(cov.max())))  # counts: integer ticks
        for i, j in np.ndindex(side, side):
            is_pad = not (p <= i < p + n and p <= j < p + n)
            if is_pad:
                ax_in.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="///", ec="0.6", lw=0))
            elif cov[i, j] == 0:
                ax_in.text(j, i, "x", ha="center", va="center", color="red", fontsize=11, fontweight="bold")
        ax_in.add_patch(Rectangle((p - 0.5, p - 0.5), n, n, fill=False, ec="black", lw=1.5))  # the real image
        if out > 0:
            ax_in.add_patch(Rectangle((-0.5, -0.5), f, f, fill=False, ec=_WINDOW, lw=3))
            if out > 1:
                ax_in.add_patch(Rectangle((s - 0.5, -0.5), f, f, fill=False, ec=_NEXT, lw=2.5, ls="--"))
        ax_in.set_title(f"padded input {side} x {side} (N = {n}, P = {p})\nwindows F = {f}, stride S = {s}")
        top = max(1, int(cov.max()))
        fig.colorbar(im, ax=ax_in, fraction=0.046, pad=0.03, ticks=range(top + 1), label="windows that read the cell")
        if out > 0:
            ax_out.imshow(np.zeros((out, out)), cmap="Greys", vmin=0, vmax=1)
            ax_out.add_patch(Rectangle((-0.5, -0.5), 1, 1, fc=_WINDOW, ec=_WINDOW, alpha=0.8))
            if out > 1:
                ax_out.add_patch(Rectangle((0.5, -0.5), 1, 1, fc=_NEXT, ec=_NEXT, alpha=0.6))
            ax_out.set_title(f"output {out} x {out} x {k} (one map per filter)\norange: window 1, purple: window 2")
        else:
            ax_out.text(0.5, 0.5, "no output:\nF > N + 2P", ha="center", va="center", fontsize=12)
            ax_out.set_title("output: none")
        _cell_grid(ax_in, side)
        if out > 0:
            _cell_grid(ax_out, out)
        else:
            ax_out.axis("off")
        return fig


class ReceptiveFieldExplorer(_Explorer):
    """Conv layers added one by one; the receptive field of the centre unit drawn on a real image.

    Each layer is a 1-channel ``nn.Conv2d`` with the kernel, stride and dilation of the sliders
    and "same" padding ``dilation * (kernel - 1) // 2``, followed by a ReLU. After every layer
    the receptive field of the unit nearest the image centre is measured with autograd
    (``utils.measure.receptive_field``) on the image and drawn as a square. The side printed
    is the full field, measured on the same chain without padding (where every unit reads real
    pixels only) on a blank input just large enough to hold it; when the field is larger than
    what the image holds around the unit, the square is cut at the border (or by the padding)
    and the text says so. The right panel is the gradient of the last layer's unit on the image
    (holes show up there with dilations).

    Args:
        image: ``(H, W)`` or ``(1, H, W)`` tensor or array (e.g. an MNIST digit).
        layers: the starting chain, ``[(kernel, stride, dilation), ...]``. Default: three 3x3
            layers with stride 1.
        max_layers (int): the "add layer" button stops there. Default: 8.

    Attributes:
        controls (dict): ``"kernel"``, ``"stride"``, ``"dilation"`` (IntSliders) and the buttons
            ``"add layer"``, ``"remove last layer"``, ``"reset"``.
        layers (list[tuple[int, int, int]]): the current chain.

    Introduced in: 03_receptive_fields.ipynb
    """

    title = "receptive-field explorer"
    MAX_CANVAS = 1024  # the largest blank input a field is measured on

    def __init__(self, image, layers: Sequence[tuple[int, int, int]] = ((3, 1, 1),) * 3, max_layers: int = 8):
        import ipywidgets as widgets
        import numpy as np

        a = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
        if a.ndim == 3 and a.shape[0] == 1:
            a = a[0]
        if a.ndim != 2:
            raise ValueError(f"image must be (H, W) or (1, H, W), got shape {a.shape}; pass one channel")
        self.img = a.astype(np.float64)
        self.max_layers = _int_in("max_layers", max_layers, 1, 16)
        self.start = [self._check_layer(layer) for layer in layers]
        if not 1 <= len(self.start) <= self.max_layers:
            raise ValueError(f"layers must hold 1..{self.max_layers} layers, got {len(self.start)}")
        self.layers = list(self.start)
        self._cache: dict[tuple, dict] = {}
        sliders = {
            "kernel": widgets.IntSlider(value=3, min=1, max=7, step=2, description="kernel", continuous_update=False),
            "stride": widgets.IntSlider(value=1, min=1, max=3, description="stride", continuous_update=False),
            "dilation": widgets.IntSlider(value=1, min=1, max=4, description="dilation", continuous_update=False),
        }
        buttons = {
            "add layer": widgets.Button(description="add layer", icon="plus"),
            "remove last layer": widgets.Button(description="remove last layer", icon="minus"),
            "reset": widgets.Button(description="reset"),
        }
        buttons["add layer"].on_click(lambda _: self.add_layer())
        buttons["remove last layer"].on_click(lambda _: self.remove_layer())
        buttons["reset"].on_click(lambda _: self.reset())
        self.controls = {**sliders, **buttons}
        self._build([widgets.HBox(list(sliders.values())), widgets.HBox(list(buttons.values()))])

    @staticmethod
    def _check_layer(layer) -> tuple[int, int, int]:
        try:
            k, s, d = layer
        except (TypeError, ValueError):
            raise ValueError(f"a layer is (kernel, stride, dilation), got {layer!r}") from None
        k = _int_in("kernel", k, 1, 15)
        if k % 2 == 0:
            raise ValueError(f"kernel must be odd (so that 'same' padding is symmetric), got {k}")
        return k, _int_in("stride", s, 1, 4), _int_in("dilation", d, 1, 8)

    def add_layer(self) -> None:
        """Append a layer with the sliders' kernel, stride and dilation (up to ``max_layers``)."""
        if len(self.layers) < self.max_layers:
            c = self.controls
            self.layers.append((c["kernel"].value, c["stride"].value, c["dilation"].value))
        self.refresh()

    def remove_layer(self) -> None:
        """Remove the last layer (one layer always stays)."""
        if len(self.layers) > 1:
            self.layers.pop()
        self.refresh()

    def reset(self) -> None:
        """Back to the starting chain."""
        self.layers = list(self.start)
        self.refresh()

    def refresh(self, *_, draw: bool = True) -> None:
        if "add layer" in getattr(self, "controls", {}):
            self.controls["add layer"].disabled = len(self.layers) >= self.max_layers
            self.controls["remove last layer"].disabled = len(self.layers) <= 1
        super().refresh(draw=draw)

    @staticmethod
    def _net(layers, pad: bool = True):
        """1-channel convs with "same" padding (``pad=False``: none), each followed by a ReLU."""
        import torch.nn as nn

        mods = []
        for k, s, d in layers:
            p = d * (k - 1) // 2 if pad else 0
            mods += [nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d), nn.ReLU()]
        return nn.Sequential(*mods)

    def fields(self) -> list[dict]:
        """The measured receptive field after each layer of the chain.

        Returns:
            list, one dict per layer: ``layer`` ((kernel, stride, dilation)); ``size`` (int, the
            full side; None above ``MAX_CANVAS``); ``start`` ((row, col) of the field on the
            image); ``size_on_image`` ((rows, cols) of the part inside the image); ``clipped``
            (bool: the square on the image is smaller than the field); ``grad`` (``(H, W)``
            tensor, the input gradient of the unit on the image).
        """
        return [self._measure(tuple(self.layers[: i + 1])) for i in range(len(self.layers))]

    def _measure(self, layers: tuple) -> dict:
        """One prefix of the chain, measured (and remembered: adding a layer measures one new prefix)."""
        if layers in self._cache:
            return self._cache[layers]
        from utils.measure import output_shape, receptive_field

        h, w = self.img.shape
        net = self._net(layers)
        # the unit nearest the image centre: its field is drawn on the image. Positive weights and
        # ReLUs of positive inputs make the measured copy linear, so one random input is enough.
        mh, mw = output_shape(net, (1, 1, h, w))[-2:]
        best = None
        for d in (0, -1, 1):  # on a tie the middle unit wins: the squares of successive layers stay nested
            pos = (min(max(mh // 2 + d, 0), mh - 1), min(max(mw // 2 + d, 0), mw - 1))
            rf = receptive_field(net, (1, 1, h, w), position=pos, samples=1)
            off = [abs(st + sz / 2 - full / 2) for st, sz, full in zip(rf.start, rf.size, (h, w))]
            if best is None or sum(off) < best[0]:
                best = (sum(off), rf)
        rf = best[1]
        # the full side: the same chain without padding (every unit reads real pixels only), on
        # the smallest blank input, doubled from the image size, that it accepts
        size, side, valid = None, max(h, w), self._net(layers, pad=False)
        while side <= self.MAX_CANVAS:
            try:
                size = receptive_field(valid, (1, 1, side, side), position=(0, 0), samples=1).size[0]
                break
            except ValueError:  # the input is smaller than the field: no output at all
                side *= 2
        clipped = size is None or tuple(rf.size) != (size, size)
        field = dict(layer=layers[-1], size=size, start=rf.start, size_on_image=rf.size, clipped=clipped)
        self._cache[layers] = {**field, "grad": rf.grad}
        return self._cache[layers]

    def describe(self) -> str:
        fields = self.fields()
        h, w = self.img.shape
        last = fields[-1]
        head = (
            f"<b>receptive field: {_side(last['size'])} pixels</b> after {len(fields)} layer(s) "
            "(measured with autograd, utils.measure.receptive_field)"
        )
        if last["clipped"]:
            head += f"; larger than what fits in the {h} x {w} image around this unit: the square is cut at the border"
        rows = []
        for i, f in enumerate(fields):
            k, s, d = f["layer"]
            rows.append(f"layer {i + 1} (kernel {k}, stride {s}, dilation {d}): {_side(f['size'])}")
        return head + "<br>" + "<br>".join(rows)

    def figure(self):
        """The image with one square per layer (left) and the last layer's input gradient (right).

        Returns:
            matplotlib.figure.Figure with 2 axes and a colour bar.
        """
        import matplotlib
        from matplotlib.patches import Rectangle

        fields = self.fields()
        fig = _new_figure((9.5, 4.4))
        ax_img, ax_grad = fig.subplots(1, 2)
        ax_img.imshow(self.img, cmap="gray")
        colours = matplotlib.colormaps["autumn"].resampled(max(2, len(fields)))
        for i, f in enumerate(fields):
            (y0, x0), (fh, fw) = f["start"], f["size_on_image"]
            k, s, d = f["layer"]
            label = f"layer {i + 1} (k{k} s{s} d{d}): {_side(f['size'])}"
            ax_img.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), fw, fh, fill=False, ec=colours(i), lw=2, label=label))
        ax_img.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9, frameon=False)
        ax_img.set_title("the centre unit's field,\nafter each layer")
        g = fields[-1]["grad"].numpy()
        im = ax_grad.imshow(g / g.max(), cmap="magma", vmin=0, vmax=1)
        ax_grad.set_title(f"after layer {len(fields)}:\n|d unit / d input| on the image")
        fig.colorbar(im, ax=ax_grad, fraction=0.046, pad=0.03, label="|gradient| / its max")
        for ax in (ax_img, ax_grad):
            ax.set_xticks([])
            ax.set_yticks([])
        return fig


class NormAxesExplorer(_Explorer):
    """Pick BatchNorm, LayerNorm, InstanceNorm or GroupNorm and see which cells share one mean and variance.

    The cube is an ``(N, C, H·W)`` block (``utils.viz.show_norm_axes``); the blue cells are
    averaged together with the cell (sample 0, channel 0, position 0)
    (``utils.viz.norm_axes_mask``). The text counts them and counts how many separate means the
    layer computes for the whole block. Changing the batch size N shows that only BatchNorm's
    group grows with the batch.

    Args:
        kind (str): ``"batch"``, ``"layer"``, ``"instance"`` or ``"group"``. Default ``"batch"``.
        n (int): batch size, 1..6. Default 4. c (int): channels (fixed), default 6.
        hw (int): positions H·W (fixed), default 5. groups (int): GroupNorm's groups, a divisor of c.

    Attributes:
        controls (dict): ``"layer"`` (ToggleButtons), ``"groups"`` (SelectionSlider over the
            divisors of c, active for GroupNorm), ``"N"`` (IntSlider).

    Introduced in: 07_normalization_comparison.ipynb
    """

    title = "normalization explorer"
    NAMES = {"batch": "BatchNorm", "layer": "LayerNorm", "instance": "InstanceNorm", "group": "GroupNorm"}

    def __init__(self, kind: str = "batch", n: int = 4, c: int = 6, hw: int = 5, groups: int = 2):
        import ipywidgets as widgets

        if kind not in self.NAMES:
            raise ValueError(f"kind must be one of {sorted(self.NAMES)}, got {kind!r}")
        self.c, self.hw = _int_in("c", c, 1, 12), _int_in("hw", hw, 1, 10)
        divisors = [g for g in range(1, self.c + 1) if self.c % g == 0]
        if groups not in divisors:
            raise ValueError(f"groups must divide c = {self.c} (one of {divisors}), got {groups!r}")
        self.controls = {
            "layer": widgets.ToggleButtons(
                options=[(name, key) for key, name in self.NAMES.items()], value=kind, description="layer"
            ),
            "groups": widgets.SelectionSlider(
                options=divisors, value=groups, description="groups", continuous_update=False
            ),
            "N": widgets.IntSlider(value=_int_in("n", n, 1, 6), min=1, max=6, description="N", continuous_update=False),
        }
        for control in self.controls.values():
            control.observe(self.refresh, names="value")
        self._build([self.controls["layer"], widgets.HBox([self.controls["N"], self.controls["groups"]])])

    def mask(self):
        """``(N, C, H·W)`` bool array: the cells averaged together with cell (0, 0, 0), from ``norm_axes_mask``."""
        from utils.viz import norm_axes_mask

        c = self.controls
        return norm_axes_mask(c["layer"].value, n=c["N"].value, c=self.c, hw=self.hw, groups=c["groups"].value)

    def refresh(self, *_, draw: bool = True) -> None:
        if "groups" in getattr(self, "controls", {}):
            self.controls["groups"].disabled = self.controls["layer"].value != "group"
        super().refresh(draw=draw)

    def describe(self) -> str:
        mask = self.mask()
        kind, n, g = self.controls["layer"].value, self.controls["N"].value, self.controls["groups"].value
        shared = int(mask.sum())
        means = mask.size // shared  # every group of a layer has the same size
        name = self.NAMES[kind] + (f" ({g} groups)" if kind == "group" else "")
        samples = int(mask.any(axis=(1, 2)).sum())
        channels = int(mask.any(axis=(0, 2)).sum())
        return (
            f"<b>{name}: {shared} cells share one mean and variance</b> "
            f"({samples} sample(s) x {channels} channel(s) x {self.hw} positions)<br>"
            f"a block of N = {n}, C = {self.c}, H·W = {self.hw}: {mask.size} cells, {means} separate means"
        )

    def figure(self):
        """The cube of the chosen layer (``utils.viz.show_norm_axes``), closed in pyplot so it is shown only when asked.

        Returns:
            matplotlib.figure.Figure with one 3-D axes.
        """
        import matplotlib.pyplot as plt

        from utils.viz import show_norm_axes

        c = self.controls
        fig = show_norm_axes(kinds=[c["layer"].value], n=c["N"].value, c=self.c, hw=self.hw, groups=c["groups"].value)
        fig.set_size_inches(4.2, 4.0)
        plt.close(fig)  # built by pyplot: closed, so the inline backend does not draw it a second time
        return fig


def conv_window_animation(x, w, stride: int = 2, padding: int = 1, dpi: int = 80, interval: int = 800):
    """An animation of one convolution: the window slides over the padded input and fills the output.

    One frame per output cell, in reading order: the padded input (padding in grey), the window
    in orange, the kernel, and the output map with the cells computed so far; the frame's title
    gives the sum for the current cell. The output values are ``F.conv2d`` of the zero-padded
    input. Display it with ``IPython.display.HTML(anim.to_jshtml())``; keep it small (few frames,
    low ``dpi``): every frame is stored in the notebook as a PNG.

    Args:
        x: ``(N, N)`` tensor, the input (small integers read best).
        w: ``(F, F)`` tensor, the kernel.
        stride (int): S. Default 2. padding (int): P, zeros. Default 1.
        dpi (int): resolution of the frames. Default 80. interval (int): ms between frames.

    Returns:
        matplotlib.animation.FuncAnimation with W·W frames, W the output side.

    Introduced in: 02_convolution.ipynb
    """
    import numpy as np
    import torch
    import torch.nn.functional as tf
    from matplotlib.animation import FuncAnimation
    from matplotlib.patches import Rectangle

    x, w = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(w, dtype=torch.float64)
    if x.dim() != 2 or x.shape[0] != x.shape[1]:
        raise ValueError(f"x must be a square (N, N) tensor, got shape {tuple(x.shape)}")
    if w.dim() != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"w must be a square (F, F) tensor, got shape {tuple(w.shape)}")
    _int_in("stride", stride, 1, 8)
    _int_in("padding", padding, 0, 8)
    f = w.shape[0]
    xp = tf.pad(x, (padding,) * 4)  # (N + 2P, N + 2P)
    if f > xp.shape[0]:
        raise ValueError(f"the kernel ({f}x{f}) is larger than the padded input ({xp.shape[0]}x{xp.shape[0]})")
    out = tf.conv2d(xp[None, None], w[None, None], stride=stride)[0, 0]  # (W, W)
    side, n_out = xp.shape[0], out.shape[0]

    fig = _new_figure((7.6, 3.0), dpi=dpi, layout=None)  # a fixed layout: nothing to solve again per frame
    ax_in, ax_w, ax_out = fig.subplots(1, 3, width_ratios=[side, f + 1, n_out + 1])
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.8, wspace=0.15)
    ax_in.imshow(np.ones((side, side)), cmap="gray", vmin=0, vmax=1)
    n = x.shape[0]
    for i, j in np.ndindex(side, side):
        is_pad = not (padding <= i < padding + n and padding <= j < padding + n)
        if is_pad:
            ax_in.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fc="0.85", ec="none"))
        ax_in.text(j, i, f"{xp[i, j].item():g}", ha="center", va="center", fontsize=9, color="0.4" if is_pad else "k")
    window = Rectangle((-0.5, -0.5), f, f, fill=False, ec=_WINDOW, lw=3)
    ax_in.add_patch(window)
    ax_in.set_title(f"padded input (P = {padding}), stride {stride}", fontsize=10)
    ax_w.imshow(np.ones((f, f)), cmap="gray", vmin=0, vmax=1)
    for i, j in np.ndindex(f, f):
        ax_w.text(j, i, f"{w[i, j].item():g}", ha="center", va="center", fontsize=10, color=_WINDOW)
    ax_w.set_title("kernel", fontsize=10)
    ax_out.imshow(np.ones((n_out, n_out)), cmap="gray", vmin=0, vmax=1)
    cell = Rectangle((-0.5, -0.5), 1, 1, fc=_WINDOW, ec=_WINDOW, alpha=0.35)
    ax_out.add_patch(cell)
    values = [ax_out.text(j, i, "", ha="center", va="center", fontsize=10) for i, j in np.ndindex(n_out, n_out)]
    ax_out.set_title("output", fontsize=10)
    for ax, size in ((ax_in, side), (ax_w, f), (ax_out, n_out)):
        _cell_grid(ax, size)
    title = fig.suptitle("", fontsize=10)

    def draw(t):
        i, j = divmod(t, n_out)
        window.set_xy((j * stride - 0.5, i * stride - 0.5))
        cell.set_xy((j - 0.5, i - 0.5))
        for u, text in enumerate(values):
            text.set_text(f"{out.flatten()[u].item():g}" if u <= t else "")
        title.set_text(f"output[{i}, {j}] = sum(window * kernel) = {out[i, j].item():g}")
        return [window, cell, title, *values]

    draw(0)
    return FuncAnimation(fig, draw, frames=n_out * n_out, interval=interval, blit=False)


#: matplotlib's player buttons (font-awesome icons) and the plain characters that replace them
_BUTTONS = {
    "fa fa-minus": "\u2212",  # slower
    "fa fa-fast-backward": "|\u25c0",  # first frame
    "fa fa-step-backward": "\u25c2",  # previous frame
    "fa fa-play fa-flip-horizontal": "\u25c0",  # play backwards
    "fa fa-pause": "||",
    "fa fa-play": "\u25b6",
    "fa fa-step-forward": "\u25b8",  # next frame
    "fa fa-fast-forward": "\u25b6|",  # last frame
    "fa fa-plus": "+",  # faster
}


def animation_html(anim) -> str:
    """``anim.to_jshtml()``, self-contained: the player asks the network for nothing.

    matplotlib's player loads the font-awesome stylesheet from a CDN for its button icons; offline
    (or on a site that must not call out) the buttons would be blank. Here the stylesheet link
    goes and each icon becomes a plain character (the buttons keep their titles, e.g. "Play").

    Args:
        anim: a ``matplotlib.animation.Animation``, e.g. from ``conv_window_animation``.

    Returns:
        str: the HTML of the player with every frame embedded (a random id per call, as
        matplotlib makes it).

    Raises:
        ValueError: matplotlib's player has a stylesheet or icon this function does not know.

    Introduced in: 02_convolution.ipynb
    """
    import re

    page = re.sub(r'<link rel="stylesheet"\s+href="https://[^"]*font-awesome[^"]*">\s*', "", anim.to_jshtml())
    for icon, label in _BUTTONS.items():
        page = page.replace(f'<i class="{icon}"></i>', label)
    if re.search(r'https?://|class="fa[ "]', page):
        raise ValueError("matplotlib's animation player changed: it still loads or uses font-awesome icons")
    return page
