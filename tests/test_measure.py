"""utils.measure against hand-known cases and against what real torch.nn layers produce."""

import pytest
import torch
import torch.nn as nn
from hypothesis import given
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


@pytest.mark.parametrize("bad", [(3, 32, 32, "x"), (0, 3, 8, 8), 5, (1,)])
def test_bad_input_shape_gives_a_clear_error(bad):
    with pytest.raises(ValueError, match="input_shape"):
        measure.output_shape(nn.Conv2d(3, 1, 3), bad)


def test_input_too_small_for_the_kernel_names_the_shape():
    with pytest.raises(ValueError, match=r"\(1, 3, 2, 2\)"):
        measure.output_shape(nn.Conv2d(3, 1, 5), (1, 3, 2, 2))


def test_receptive_field_position_outside_the_output_is_rejected():
    with pytest.raises(ValueError, match="position"):
        measure.receptive_field(nn.Conv2d(1, 1, 3), (1, 1, 8, 8), position=(6, 0))


# -- property tests: measure.output_shape equals what real layers produce ------------

sizes = st.integers(1, 40)


@given(n=sizes, f=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 2))
def test_conv2d_output_shape_matches_formula_and_layer(n, f, s, p, d):
    if d * (f - 1) + 1 > n + 2 * p:
        return
    layer = nn.Conv2d(2, 3, f, stride=s, padding=p, dilation=d)
    got = measure.output_shape(layer, (1, 2, n, n + 1))
    assert got == tuple(layer(torch.zeros(1, 2, n, n + 1)).shape)
    assert got == (1, 3, conv_formula(n, f, s, p, d), conv_formula(n + 1, f, s, p, d))


@given(n=sizes, f=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3))
def test_conv1d_output_shape_matches_formula(n, f, s, p):
    if f > n + 2 * p:
        return
    assert measure.output_shape(nn.Conv1d(1, 4, f, s, p), (2, 1, n)) == (2, 4, conv_formula(n, f, s, p))


@given(n=st.integers(1, 12), f=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2))
def test_conv3d_output_shape_matches_formula(n, f, s, p):
    if f > n + 2 * p:
        return
    o = conv_formula(n, f, s, p)
    assert measure.output_shape(nn.Conv3d(1, 2, f, s, p), (1, 1, n, n, n)) == (1, 2, o, o, o)


@given(n=sizes, k=st.integers(1, 5), s=st.integers(1, 5), p=st.integers(0, 2), ceil=st.booleans())
def test_pooling_output_shape_matches_layer(n, k, s, p, ceil):
    if p > k // 2 or k > n + 2 * p:
        return
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
