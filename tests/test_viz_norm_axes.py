"""utils.viz.norm_axes_mask and show_norm_axes: the N/C/HW cube of lecture 07."""

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn as nn

from utils import viz

matplotlib.use("Agg")


def shares_statistics(layer, x, n, c, p):
    """Which elements of x (N, C, P) move when element (n, c, p) of x moves, through a normalization layer."""
    x = x.clone().requires_grad_(True)
    out = layer(x[..., None])  # (N, C, P, 1): a 2-D map of P x 1 positions
    out[n, c, p, 0].backward()
    return (x.grad.abs() > 1e-7).numpy()


@pytest.mark.parametrize(
    ("kind", "layer"),
    [
        ("batch", nn.BatchNorm2d(6, affine=False)),
        ("layer", nn.GroupNorm(1, 6, affine=False)),
        ("instance", nn.InstanceNorm2d(6)),
        ("group", nn.GroupNorm(2, 6, affine=False)),
    ],
)
def test_mask_is_the_set_that_pytorchs_layer_averages_together(kind, layer):
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5)
    layer.train()
    assert np.array_equal(viz.norm_axes_mask(kind, n=4, c=6, hw=5, groups=2), shares_statistics(layer, x, 0, 0, 0))


def test_mask_sizes_of_each_kind():
    sizes = {k: int(viz.norm_axes_mask(k, n=4, c=6, hw=5, groups=3).sum()) for k in viz.NORM_KINDS}
    assert sizes == {"batch": 4 * 5, "layer": 6 * 5, "instance": 5, "group": 2 * 5}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"kind": "weight"}, "kind must be one of"), ({"c": 6, "groups": 4}, "groups must divide"), ({"n": 0}, "n must")],
)
def test_mask_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        viz.norm_axes_mask(**{"kind": "group", **kwargs})


def test_show_norm_axes_draws_one_titled_3d_panel_per_kind():
    fig = viz.show_norm_axes(("batch", "group"), title="axes")
    assert len(fig.axes) == 2 and all(ax.name == "3d" for ax in fig.axes)
    assert fig.axes[0].get_title().startswith("BatchNorm") and fig.axes[1].get_title().startswith("GroupNorm")
    assert all(t.get_fontsize() >= viz.MIN_FONT_PT for ax in fig.axes for t in (ax.title, ax.xaxis.label))
    matplotlib.pyplot.close(fig)


def test_show_norm_axes_rejects_an_unknown_kind_and_an_empty_list():
    with pytest.raises(ValueError, match="kind must be one of"):
        viz.show_norm_axes(("batch", "dropout"))
    with pytest.raises(ValueError, match="at least one"):
        viz.show_norm_axes(())
