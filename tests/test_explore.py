"""utils.explore: the explorers of lectures 02, 03 and 07, built headless and moved programmatically.

No widget front end runs here: a slider is moved by setting its ``value`` (what the front end
does), a button by ``click()``. The checks compare the explorers' text and figures with
PyTorch's own layers, never with numbers copied from an output.
"""

import base64
import itertools
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from utils import explore
from utils.viz import norm_axes_mask

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


def output_side_by_pytorch(n, f, s, p):
    """Side of the real output map, or 0 when PyTorch refuses the filter (larger than the padded input)."""
    try:
        return F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p).shape[-1]
    except RuntimeError:
        return 0


def unread_real_pixels(n, f, s, p):
    """Real pixels with a zero gradient of the sum of a ones-filter conv: no window reads them."""
    x = torch.ones(1, 1, n, n, requires_grad=True)
    F.conv2d(x, torch.ones(1, 1, f, f), stride=s, padding=p).sum().backward()
    return int((x.grad == 0).sum())


# ---------------------------------------------------------------- the convolution explorer (02)


def test_conv_explorer_has_the_five_sliders_named_as_in_the_lecture():
    e = explore.ConvArithmeticExplorer()
    assert [c.description for c in e.controls.values()] == ["N", "F", "S", "P", "K"]
    assert all(type(c).__name__ == "IntSlider" for c in e.controls.values())
    assert bytes(e.image.value).startswith(PNG) and "output" in e.text.value


def test_moving_f_changes_the_output_text_and_redraws_the_figure():
    e = explore.ConvArithmeticExplorer(N=7, F=3, S=2, P=1, K=4)
    text, png = e.text.value, bytes(e.image.value)
    e.controls["F"].value = 4
    assert e.text.value != text and bytes(e.image.value) != png
    side = output_side_by_pytorch(7, 4, 2, 1)
    assert f"output: {side} x {side} x 4" in e.text.value


def test_conv_explorer_output_size_and_lost_pixels_agree_with_pytorch_on_a_grid():
    e = explore.ConvArithmeticExplorer()
    for n, f, s, p in itertools.product((1, 5, 11), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2)):
        k = 1 + (n + f) % 5
        e.set(draw=False, N=n, F=f, S=s, P=p, K=k)
        side = output_side_by_pytorch(n, f, s, p)
        m = e.measure()
        assert m["out"] == side, (n, f, s, p)
        if side == 0:
            assert "output: none" in e.text.value
            continue
        assert f"output: {side} x {side} x {k}" in e.text.value
        assert m["unread_real"] == unread_real_pixels(n, f, s, p), (n, f, s, p)
        assert f"real pixels that no window reads: {m['unread_real']} of {n * n}" in e.text.value


def test_the_stride_does_not_fit_message_appears_exactly_when_the_windows_leave_a_tail():
    e = explore.ConvArithmeticExplorer()
    seen = set()
    for n, f, s, p in itertools.product(range(3, 10), (1, 3), (1, 2, 3, 4), (0, 1)):
        e.set(draw=False, N=n, F=f, S=s, P=p)
        side = output_side_by_pytorch(n, f, s, p)
        tail = n + 2 * p - ((side - 1) * s + f)  # padded cells after the last window, from PyTorch's size
        says_no_fit = "the stride does not fit" in e.text.value
        assert says_no_fit == (tail > 0), (n, f, s, p, e.text.value)
        if says_no_fit:
            assert f"the last {tail} row(s) and column(s)" in e.text.value
        seen.add(says_no_fit)
    assert seen == {True, False}


def test_gaps_between_windows_are_reported_when_the_stride_exceeds_the_filter():
    e = explore.ConvArithmeticExplorer(N=11, F=2, S=3, P=0)  # lecture 02's case: fits, yet 57 pixels lost
    assert "the stride fits" in e.text.value and "S > F: 1 row(s)" in e.text.value
    assert e.measure()["unread_real"] == unread_real_pixels(11, 2, 3, 0) == 11 * 11 - 8 * 8


def test_set_moves_several_sliders_and_refuses_unknown_names():
    e = explore.ConvArithmeticExplorer()
    e.set(N=11, F=3, S=3, P=0)
    assert e.values() == {"N": 11, "F": 3, "S": 3, "P": 0, "K": 4}
    assert "the stride does not fit" in e.text.value and "the last 2 row(s)" in e.text.value  # lecture 02: 40 lost
    assert e.measure()["unread_real"] == unread_real_pixels(11, 3, 3, 0) == 40
    with pytest.raises(ValueError, match=r"no control named \['stride'\]"):
        e.set(stride=2)


def test_conv_explorer_figure_is_fresh_and_not_registered_with_pyplot():
    before = plt.get_fignums()
    e = explore.ConvArithmeticExplorer()
    fig = e.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 3  # input, output, colour bar
    assert plt.get_fignums() == before  # the inline backend will not draw it a second time
    e.set(draw=False, N=2, F=7, P=0)  # no output at all: still a figure, no error
    assert "output: none" in e.text.value and isinstance(e.figure(), Figure)


def test_bad_starting_values_are_refused_with_the_range():
    with pytest.raises(ValueError, match=r"F must be an int in 1\.\.7"):
        explore.ConvArithmeticExplorer(F=9)


# ---------------------------------------------------------------- what nbval sees


def test_the_text_fallback_of_the_widget_is_one_deterministic_line_without_the_model_id():
    a, b = explore.ConvArithmeticExplorer(), explore.ConvArithmeticExplorer()
    bundle_a, bundle_b = a._repr_mimebundle_(), b._repr_mimebundle_()
    ids = [d["application/vnd.jupyter.widget-view+json"]["model_id"] for d in (bundle_a, bundle_b)]
    assert ids[0] != ids[1]  # random, and nbval skips this key
    assert bundle_a["text/plain"] == bundle_b["text/plain"] == a.summary()
    assert "\n" not in a.summary() and ids[0] not in a.summary() and "<" not in a.summary()
    assert a.summary().startswith("convolution explorer: output: 4 x 4 x 4")


def test_a_closed_widget_still_has_its_text_fallback():
    e = explore.NormAxesExplorer()
    e.widget.close()
    assert e._repr_mimebundle_() == {"text/plain": e.summary()}


def sanitize(text):
    """Apply tests/sanitize.cfg the way nbval does (nbval.plugin.get_sanitize_patterns, then re.sub)."""
    cfg = (ROOT / "tests" / "sanitize.cfg").read_text()
    for regex, replace in re.findall("^regex: (.*)$\n^replace: (.*)$", cfg, flags=re.MULTILINE):
        text = re.sub(regex, replace, text)
    return text


def small_animation(n=3):
    return explore.conv_window_animation(torch.arange(n * n).reshape(n, n) % 4, torch.ones(3, 3), stride=2, padding=1)


def test_two_runs_of_one_animation_differ_raw_and_agree_once_sanitized():
    first, second = explore.animation_html(small_animation()), explore.animation_html(small_animation())
    assert first != second  # matplotlib gives every animation a random id
    assert sanitize(first) == sanitize(second)
    assert "data:image/png;base64,FRAME" in sanitize(first) and not re.search(r"[0-9a-f]{32}", sanitize(first))


def test_the_sanitized_animation_still_tells_the_frame_count_apart():
    assert sanitize(small_animation(3).to_jshtml()) != sanitize(small_animation(5).to_jshtml())  # 4 and 9 frames


# ---------------------------------------------------------------- the animation (02)


def test_animation_has_one_frame_per_output_cell_and_shows_pytorchs_values():
    x = torch.arange(25.0).reshape(5, 5) % 7
    w = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    anim = explore.conv_window_animation(x, w, stride=2, padding=1)
    out = F.conv2d(x[None, None], w[None, None], stride=2, padding=1)[0, 0]  # (3, 3)
    html = anim.to_jshtml()
    assert "new Array(9)" in html and len(re.findall(r"frames\[\d+\] = ", html)) == 9
    assert len(html) < 600_000  # the hygiene limit of one stored output
    fig = anim._fig
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {f"{v:g}" for v in out.flatten().tolist()} <= texts  # the last frame shows every output value
    assert fig._suptitle.get_text() == f"output[2, 2] = sum(window * kernel) = {out[2, 2].item():g}"
    frames = re.findall(r'frames\[\d+\] = "data:image/png;base64,([^"]+)"', html)
    assert all(base64.b64decode(f.replace("\\\n", "")).startswith(PNG) for f in frames)


def test_animation_html_asks_the_network_for_nothing_and_keeps_its_nine_buttons():
    html = explore.animation_html(small_animation())
    assert "http" not in html and 'class="fa' not in html
    assert len(re.findall(r"<button title=", html)) == 9
    assert re.search(r'title="Play" aria-label="Play" onclick="anim\w+\.play_animation\(\)">\s*\u25b6</button>', html)
    assert "new Array(4)" in html  # 2 x 2 output cells: four frames


def test_animation_refuses_a_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input"):
        explore.conv_window_animation(torch.ones(2, 2), torch.ones(5, 5), padding=1)
    with pytest.raises(ValueError, match=r"x must be a square \(N, N\)"):
        explore.conv_window_animation(torch.ones(2, 3), torch.ones(1, 1))


# ---------------------------------------------------------------- the receptive-field explorer (03)


def digit():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 28, 28, generator=g)


def field_by_autograd(layers, size=64):
    """Side of the field of the centre unit of a valid (unpadded) conv chain with ones weights."""
    x = torch.ones(1, 1, size, size, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k), stride=s, dilation=d)
    y[0, 0, y.shape[-2] // 2, y.shape[-1] // 2].backward()
    rows = (x.grad[0, 0] != 0).any(dim=1).nonzero().flatten()
    return int(rows.max() - rows.min() + 1)


def test_three_3x3_layers_give_7_and_each_added_layer_is_measured():
    e = explore.ReceptiveFieldExplorer(digit())
    assert [f["size"] for f in e.fields()] == [3, 5, 7]  # lecture 03, section 1
    assert "receptive field: 7 x 7 pixels" in e.text.value
    png = bytes(e.image.value)
    e.set(draw=False, kernel=3, stride=2, dilation=1)
    e.controls["add layer"].click()
    e.set(draw=False, kernel=5, stride=1, dilation=2)
    e.controls["add layer"].click()
    assert e.layers == [(3, 1, 1)] * 3 + [(3, 2, 1), (5, 1, 2)]
    expected = field_by_autograd(e.layers)
    assert e.fields()[-1]["size"] == expected and f"receptive field: {expected} x {expected} pixels" in e.text.value
    assert bytes(e.image.value) != png


def test_fields_agree_with_an_independent_autograd_measurement():
    chains = [[(3, 2, 1), (3, 1, 1), (3, 1, 1)], [(3, 1, 1), (3, 1, 2), (3, 1, 4)], [(5, 2, 1), (3, 2, 1), (7, 1, 1)]]
    for chain in chains:
        e = explore.ReceptiveFieldExplorer(digit(), layers=chain)
        sizes = [f["size"] for f in e.fields()]
        assert sizes == [field_by_autograd(chain[: i + 1]) for i in range(len(chain))], chain


def test_a_field_larger_than_the_image_is_measured_in_full_and_said_to_be_cut():
    e = explore.ReceptiveFieldExplorer(torch.rand(9, 9), layers=[(3, 1, 1)] * 5)  # 11 > 9
    last = e.fields()[-1]
    assert last["size"] == field_by_autograd([(3, 1, 1)] * 5) and last["clipped"]
    assert max(last["size_on_image"]) <= 9
    assert "the square is cut at the border" in e.text.value


def test_remove_reset_and_the_layer_limit():
    e = explore.ReceptiveFieldExplorer(digit(), layers=[(3, 1, 1)], max_layers=2)
    assert e.controls["remove last layer"].disabled
    e.controls["add layer"].click()
    assert len(e.layers) == 2 and e.controls["add layer"].disabled
    e.controls["add layer"].click()  # at the limit: nothing happens
    assert len(e.layers) == 2
    e.controls["remove last layer"].click()
    assert e.layers == [(3, 1, 1)]
    e.controls["add layer"].click()
    e.controls["reset"].click()
    assert e.layers == [(3, 1, 1)] and "receptive field: 3 x 3 pixels" in e.text.value


def test_the_drawn_square_is_where_the_gradient_is():
    e = explore.ReceptiveFieldExplorer(digit(), layers=[(3, 1, 1), (5, 2, 1)])
    last = e.fields()[-1]
    (y0, x0), (h, w) = last["start"], last["size_on_image"]
    nz = last["grad"].nonzero()
    assert (int(nz[:, 0].min()), int(nz[:, 1].min())) == (y0, x0)
    assert (int(nz[:, 0].max()) - y0 + 1, int(nz[:, 1].max()) - x0 + 1) == (h, w)
    squares = [p for p in e.figure().axes[0].patches]
    assert len(squares) == 2 and squares[-1].get_width() == w and squares[-1].get_height() == h


def test_rf_explorer_refuses_bad_images_and_layers():
    with pytest.raises(ValueError, match=r"image must be \(H, W\) or \(1, H, W\)"):
        explore.ReceptiveFieldExplorer(torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match="kernel must be odd"):
        explore.ReceptiveFieldExplorer(digit(), layers=[(4, 1, 1)])


# ---------------------------------------------------------------- the normalization explorer (07)


def test_norm_explorer_counts_the_cells_of_norm_axes_mask_for_every_layer():
    e = explore.NormAxesExplorer()
    for kind, n, groups in itertools.product(("batch", "layer", "instance", "group"), (1, 4, 6), (1, 2, 3, 6)):
        e.set(draw=False, layer=kind, N=n, groups=groups)
        mask = norm_axes_mask(kind, n=n, c=6, hw=5, groups=groups)
        assert np.array_equal(e.mask(), mask)
        assert f"{int(mask.sum())} cells share one mean and variance" in e.text.value
        assert f"{mask.size // int(mask.sum())} separate means" in e.text.value
        assert e.controls["groups"].disabled == (kind != "group")


def test_only_batchnorm_groups_grow_with_the_batch_and_the_figure_follows():
    e = explore.NormAxesExplorer(kind="batch", n=2)
    png = bytes(e.image.value)
    e.controls["N"].value = 5
    assert int(e.mask().sum()) == 5 * 5 and bytes(e.image.value) != png  # N x H·W cells
    for kind in ("layer", "instance", "group"):
        e.set(draw=False, layer=kind, N=5)
        shared = int(e.mask().sum())
        e.set(draw=False, N=1)
        assert int(e.mask().sum()) == shared, kind


@pytest.mark.parametrize("kind", ["batch", "layer", "instance", "group"])
def test_norm_explorer_counts_as_many_means_as_pytorchs_kernel_returns(kind):
    n, c, h, w, groups = 3, 6, 5, 1, 3
    e = explore.NormAxesExplorer(kind=kind, n=n, groups=groups)
    x = torch.randn(n, c, h, w)
    if kind == "batch":
        mean = torch.native_batch_norm(x, None, None, None, None, True, 0.1, 1e-5)[1]  # (C,)
    elif kind == "layer":
        mean = torch.native_layer_norm(x, [c, h, w], None, None, 1e-5)[1]  # (N, 1, 1, 1)
    else:  # InstanceNorm is GroupNorm with one channel per group (lecture 07)
        g = c if kind == "instance" else groups
        mean = torch.native_group_norm(x, None, None, n, c, h * w, g, 1e-5)[1]  # (N, G)
    assert f"{mean.numel()} separate means" in e.text.value, (kind, tuple(mean.shape))


def test_norm_explorer_figure_is_closed_in_pyplot():
    before = plt.get_fignums()
    fig = explore.NormAxesExplorer(kind="instance").figure()
    assert isinstance(fig, Figure) and plt.get_fignums() == before
    with pytest.raises(ValueError, match="groups must divide c = 6"):
        explore.NormAxesExplorer(groups=4)


def test_importing_explore_imports_no_widget_library():
    import subprocess
    import sys

    code = "import sys, utils.explore; print('ipywidgets' in sys.modules, 'torch' in sys.modules)"
    got = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert got.stdout.split() == ["False", "False"]
