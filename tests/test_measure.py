"""utils.measure against hand-known cases and against what real torch.nn layers produce."""

import pytest
import torch
import torch.nn as nn
from hypothesis import assume, given
from hypothesis import strategies as st

from utils import measure


def conv_formula(n, f, s, p, d=1):
    """PyTorch's documented output size, written out here as the test's own oracle."""
    return (n + 2 * p - d * (f - 1) - 1) // s + 1


# -- hand-known cases from the lecture -------------------------------------------------


def test_one_5x5x3_filter_has_75_weights_and_one_bias():
    assert measure.param_count(nn.Conv2d(3, 1, 5, bias=False)) == 75
    assert measure.param_count(nn.Conv2d(3, 1, 5)) == 76


def test_fully_connected_32x32x3_to_10_has_30720_weights():
    assert measure.param_count(nn.Linear(32 * 32 * 3, 10, bias=False)) == 30_720


def test_trainable_only_skips_frozen_parameters():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 2, 1))
    net[0].requires_grad_(False)
    assert measure.param_count(net, trainable_only=True) == 4 * 2 + 2
    assert measure.param_count(net) == 3 * 4 * 9 + 4 + 10


def test_three_3x3_layers_see_7x7():
    net = nn.Sequential(*[m for _ in range(3) for m in (nn.Conv2d(2, 2, 3), nn.ReLU())])
    rf = measure.receptive_field(net, (1, 2, 32, 32))
    assert rf.size == (7, 7)
    assert rf.grad.shape == (32, 32)


def test_receptive_field_grows_with_stride_and_pooling():
    # 3x3 conv, 2x2 max-pool, 3x3 conv: 3 -> 4 -> 4 + 2*2 = 8
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3))
    assert measure.receptive_field(net, (1, 1, 32, 32)).size == (8, 8)


def test_receptive_field_of_dilated_conv():
    assert measure.receptive_field(nn.Conv2d(1, 1, 3, dilation=2), (1, 1, 16, 16)).size == (5, 5)


def test_receptive_field_in_1d_and_3d():
    assert measure.receptive_field(nn.Sequential(nn.Conv1d(1, 1, 5), nn.Conv1d(1, 1, 5)), (1, 1, 40)).size == (9,)
    assert measure.receptive_field(nn.Conv3d(1, 1, 3), (1, 1, 8, 8, 8)).size == (3, 3, 3)


def test_receptive_field_at_a_corner_is_clipped_by_the_border():
    net = nn.Conv2d(1, 1, 3, padding=1)
    rf = measure.receptive_field(net, (1, 1, 8, 8), position=(0, 0))
    assert rf.size == (2, 2) and rf.start == (0, 0)


def test_receptive_field_leaves_the_module_unchanged():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.train()
    measure.receptive_field(net, (1, 1, 10, 10))
    assert net.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_flops_of_a_conv_count_two_per_multiply_add():
    # output 6x6x8, each a 3*3*3 dot product: 2 * 8*6*6 * 27 FLOPs
    assert measure.flops(nn.Conv2d(3, 8, 3, bias=False), (1, 3, 8, 8)) == 2 * 8 * 36 * 27


def test_flops_of_3d_conv_exceed_2d_on_the_same_frames():
    f2 = measure.flops(nn.Conv2d(1, 4, 3), (1, 1, 16, 16))
    f3 = measure.flops(nn.Conv3d(1, 4, 3), (1, 1, 8, 16, 16))
    assert f3 == f2 * 6 * 3  # 6 output frames, each 3x the taps


def test_activation_memory_sums_leaf_outputs():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    # two (1, 2, 6, 6) float32 outputs
    assert measure.activation_memory(net, (1, 1, 8, 8)) == 2 * (2 * 36 * 4)


def test_output_shape_keeps_train_mode_and_running_stats():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Dropout(0.5))
    stats = net[1].running_mean.clone()
    assert measure.output_shape(net, (1, 1, 5, 5)) == (1, 2, 3, 3)
    assert net.training and torch.equal(net[1].running_mean, stats)


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [(3, 32, 32, "x"), (0, 3, 8, 8), 5, (1,), (1, 3, 8.0, 8), (True, 3, 8, 8), "1388"])
def test_bad_input_shape_gives_a_clear_error(bad):
    with pytest.raises(ValueError, match="input_shape"):
        measure.output_shape(nn.Conv2d(3, 1, 3), bad)


def test_input_too_small_for_the_kernel_names_the_shape():
    with pytest.raises(ValueError, match=r"\(1, 3, 2, 2\)"):
        measure.output_shape(nn.Conv2d(3, 1, 5), (1, 3, 2, 2))


def test_receptive_field_position_outside_the_output_is_rejected():
    with pytest.raises(ValueError, match="position"):
        measure.receptive_field(nn.Conv2d(1, 1, 3), (1, 1, 8, 8), position=(6, 0))


@pytest.mark.parametrize("channel", [3, 5, -1, -3])
def test_receptive_field_channel_outside_the_output_is_a_value_error(channel):
    with pytest.raises(ValueError, match=r"channel must be in 0\.\.2 .*K = 3.*got " + str(channel)):
        measure.receptive_field(nn.Conv2d(1, 3, 3), (1, 1, 8, 8), channel=channel)


def test_receptive_field_follows_one_channel():
    net = nn.Conv2d(1, 3, 3)
    assert measure.receptive_field(net, (1, 1, 8, 8), channel=2).size == (3, 3)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"channel": 1.0}, "channel"),
        ({"samples": 0}, "samples"),
        ({"seed": -1}, "seed"),
        ({"position": ("a", 1)}, "position"),
    ],
)
def test_receptive_field_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        measure.receptive_field(nn.Conv2d(1, 3, 3), (1, 1, 8, 8), **kwargs)


def test_receptive_field_needs_a_spatial_output():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 36, 3))
    with pytest.raises(ValueError, match="before any flatten"):
        measure.receptive_field(net, (1, 1, 8, 8))


def test_receptive_field_of_a_float64_module():
    assert measure.receptive_field(nn.Conv2d(1, 1, 3).double(), (1, 1, 8, 8)).size == (3, 3)


# -- flops and activation_memory: the module's dtype, PyTorch's errors, in-place layers ------


def test_flops_and_activation_memory_use_the_modules_dtype():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU()).double()
    assert measure.flops(net, (1, 3, 8, 8)) == 2 * 8 * 36 * 27
    assert measure.output_shape(net, (1, 3, 8, 8)) == (1, 8, 6, 6)
    assert measure.activation_memory(net, (1, 3, 8, 8)) == 2 * (8 * 36 * 8)  # float64: 8 bytes each


@pytest.mark.parametrize("fn", [measure.flops, measure.activation_memory, measure.output_shape])
def test_a_shape_mismatch_is_a_value_error_with_pytorchs_message(fn):
    with pytest.raises(ValueError, match=r"cannot take an input of shape \(1, 4, 8, 8\).*3 channels") as err:
        fn(nn.Conv2d(3, 8, 3), (1, 4, 8, 8))
    assert isinstance(err.value.__cause__, RuntimeError)


@pytest.mark.parametrize("fn", [measure.flops, measure.activation_memory, measure.output_shape, measure.param_count])
def test_measuring_something_that_is_not_a_module_is_a_value_error(fn):
    with pytest.raises(ValueError, match="nn.Module"):
        fn(lambda x: x, (1, 1, 4, 4)) if fn is not measure.param_count else fn(lambda x: x)


def test_activation_memory_counts_an_inplace_relu_once():
    conv_out = 2 * 36 * 4  # one (1, 2, 6, 6) float32 output
    inplace = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(inplace=True))
    separate = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    assert measure.activation_memory(inplace, (1, 1, 8, 8)) == conv_out
    assert measure.activation_memory(separate, (1, 1, 8, 8)) == 2 * conv_out


def test_activation_memory_skips_views_and_the_input():
    net = nn.Sequential(nn.Identity(), nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 5))
    assert measure.activation_memory(net, (1, 1, 8, 8)) == (72 + 5) * 4


def test_activation_memory_counts_equal_sized_outputs_that_could_reuse_memory():
    # six same-sized outputs in a row: a freed one must not hide a later one allocated at its address
    net = nn.Sequential(*[nn.Conv2d(2, 2, 3, padding=1) for _ in range(6)])
    assert measure.activation_memory(net, (1, 2, 32, 32)) == 6 * 2 * 32 * 32 * 4


# -- property tests: measure.output_shape equals what real layers produce ------------

sizes = st.integers(1, 40)


@given(n=sizes, f=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 2))
def test_conv2d_output_shape_matches_formula_and_layer(n, f, s, p, d):
    assume(d * (f - 1) + 1 <= n + 2 * p)  # the dilated kernel fits the padded input
    layer = nn.Conv2d(2, 3, f, stride=s, padding=p, dilation=d)
    got = measure.output_shape(layer, (1, 2, n, n + 1))
    assert got == tuple(layer(torch.zeros(1, 2, n, n + 1)).shape)
    assert got == (1, 3, conv_formula(n, f, s, p, d), conv_formula(n + 1, f, s, p, d))


@given(n=sizes, f=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3))
def test_conv1d_output_shape_matches_formula(n, f, s, p):
    assume(f <= n + 2 * p)
    assert measure.output_shape(nn.Conv1d(1, 4, f, s, p), (2, 1, n)) == (2, 4, conv_formula(n, f, s, p))


@given(n=st.integers(1, 12), f=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2))
def test_conv3d_output_shape_matches_formula(n, f, s, p):
    assume(f <= n + 2 * p)
    o = conv_formula(n, f, s, p)
    assert measure.output_shape(nn.Conv3d(1, 2, f, s, p), (1, 1, n, n, n)) == (1, 2, o, o, o)


@given(n=sizes, k=st.integers(1, 5), s=st.integers(1, 5), p=st.integers(0, 2), ceil=st.booleans())
def test_pooling_output_shape_matches_layer(n, k, s, p, ceil):
    assume(p <= k // 2 and k <= n + 2 * p)  # PyTorch's rules for a pooling window
    for layer in (nn.MaxPool2d(k, s, p, ceil_mode=ceil), nn.AvgPool2d(k, s, p, ceil_mode=ceil)):
        got = measure.output_shape(layer, (1, 3, n, n))
        assert got == tuple(layer(torch.zeros(1, 3, n, n)).shape)
        assert got[:2] == (1, 3)  # pooling keeps the depth
        if not ceil:
            assert got[2] == conv_formula(n, k, s, p)


@given(c_in=st.integers(1, 8), c_out=st.integers(1, 8), f=st.integers(1, 7), bias=st.booleans())
def test_param_count_matches_closed_form(c_in, c_out, f, bias):
    assert measure.param_count(nn.Conv2d(c_in, c_out, f, bias=bias)) == c_out * c_in * f * f + (c_out if bias else 0)


@given(layers=st.integers(1, 5), k=st.sampled_from([3, 5]))
def test_receptive_field_of_stacked_convs_grows_by_k_minus_1(layers, k):
    net = nn.Sequential(*[nn.Conv2d(1, 1, k) for _ in range(layers)])
    size = 1 + layers * (k - 1)
    assert measure.receptive_field(net, (1, 1, size + 4, size + 4)).size == (size, size)


def test_flops_count_the_matrix_products_of_a_transformer_layer():
    # PyTorch's fused fast path and attention kernels have no FLOP formula: without the plain
    # path a TransformerEncoderLayer would count almost nothing.
    layer = nn.TransformerEncoderLayer(d_model=64, nhead=4, dim_feedforward=128, batch_first=True)
    n, t, d, ff = 2, 16, 64, 128
    macs = 3 * t * d * d + 2 * t * t * d + t * d * d + 2 * t * d * ff  # q, k, v; QK^T and AV; out; feed-forward
    assert measure.flops(layer, (n, t, d)) == 2 * n * macs
    assert torch.backends.mha.get_fastpath_enabled()  # the switch is put back
