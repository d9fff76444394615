"""Grading a4_dropout_conv1d_conv3d end to end, on a temporary copy of the course (tests/gradingsuite.py).

One batch is graded once with `python -m grading autograde` (sandboxed, parallel): the solution
scores full marks, the release zero, each wrong answer below loses exactly the points of the
cells its mistake breaks, the correct answers written differently score full marks, and the
hostile kinds of gradinglib.hostile_submissions get their exact scores. Many more variants, one
per sentence of each item's specification and per "Wrong:" answer of the issue, run the same
test cells without nbgrader (one process). Expected scores are derived from the points of the
source notebook, never typed in.

The dropout tests are statistical (6 standard deviations of a binomial count): a correct variant
fails one with a probability below 1e-7, and each wrong variant below is off by far more than the
tolerance in the cells it is listed to fail, whatever random numbers it draws.
"""

from __future__ import annotations

import gradingsuite as gs

AID = "a4_dropout_conv1d_conv3d"
ANS = gs.Answers(AID)
variant = ANS.variant

# -- pieces of answers ---------------------------------------------------------------------------------

P_CHECK = """
if not 0 <= p < 1:
    raise ValueError("p must be in [0, 1)")
"""

X4_CHECK = """
if not isinstance(x, torch.Tensor) or x.ndim != 4:
    raise ValueError("x must be (N, C, H, W)")
"""

CONV1D_ARGS = """
if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor) or x.ndim != 3 or w.ndim != 3:
    raise ValueError("x and w must be 3-D tensors")
N, C, L = x.shape
K, Cw, f = w.shape
if Cw != C:
    raise ValueError("w.shape[1] must equal C")
if b is not None and (not isinstance(b, torch.Tensor) or b.shape != (K,)):
    raise ValueError("b must be None or (K,)")
if type(stride) is not int or type(padding) is not int or stride < 1 or padding < 0:
    raise ValueError("stride >= 1 and padding >= 0 must be ints")
if f > L + 2 * padding:
    raise ValueError("the filter does not fit")
Lo = (L + 2 * padding - f) // stride + 1
"""

MACS_ARGS = """
def ok(shape):
    return isinstance(shape, (tuple, list)) and 3 <= len(shape) <= 5 and all(type(v) is int and v > 0 for v in shape)
if not (ok(input_shape) and ok(weight_shape)) or len(input_shape) != len(weight_shape):
    raise ValueError("bad shapes")
if input_shape[1] != weight_shape[1]:
    raise ValueError("C differs")
if type(stride) is not int or type(padding) is not int or stride < 1 or padding < 0:
    raise ValueError("bad stride or padding")
sizes = [n + 2 * padding - f for n, f in zip(input_shape[2:], weight_shape[2:])]
if min(sizes) < 0:
    raise ValueError("the kernel does not fit")
"""

VIDEO_LECTURE05 = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv3d(1, 8, 3, padding=1, padding_mode="circular"), nn.ReLU(), nn.MaxPool3d((1, 4, 4)),
            nn.Conv3d(8, 16, 3, padding=1, padding_mode="circular"), nn.ReLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(16, 10),
        )

    def forward(self, x):
        return self.net(x)
"""

VIDEO_2PLUS1D = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.space = nn.Conv3d(1, 12, (1, 4, 4), stride=(1, 4, 4))  # (N, 12, 10, 8, 8)
        self.time = nn.Conv3d(12, 24, (3, 1, 1), stride=(2, 1, 1))  # (N, 24, 4, 8, 8)
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(24 * 4 * 8 * 8, 10)

    def forward(self, x):
        h = torch.relu(self.time(torch.relu(self.space(x))))
        return self.head(self.drop(torch.flatten(h, 1)))
"""

VIDEO_FRAMES_AS_CHANNELS = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(10, 16, 3, padding=1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x.flatten(1, 2)))  # (N, 10 frames as channels, 32, 32)
        return self.head(h.amax(dim=(2, 3)))
"""

VIDEO_AVERAGES_FRAMES = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 16, 3, padding=1)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = torch.relu(self.conv(x.mean(dim=2, keepdim=True)))  # one average frame: (N, 16, 1, 32, 32)
        return self.head(h.amax(dim=(2, 3, 4)))
"""

VIDEO_PER_FRAME = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 16, (1, 5, 5), stride=(1, 2, 2))  # a 2-D filter on each frame
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))
"""

VIDEO_UNUSED_TEMPORAL = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 16, (1, 5, 5), stride=(1, 2, 2))
        self.temporal = nn.Conv3d(16, 16, (3, 1, 1))  # created, never called
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))
"""

VIDEO_FUNCTIONAL = """
class VideoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(1, 16, 3, stride=2)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        h = F.conv3d(x, self.conv.weight, self.conv.bias, stride=2)  # the layer's weights, not the layer
        return self.head(torch.relu(h).amax(dim=(2, 3, 4)))
"""


def video(old: str, new: str) -> str:
    """The whole solution cell of VideoNet with one edit."""
    return ANS.cell("VideoNet", old, new)


# -- correct answers, written differently (nbgrader batch): student -> {item: body or whole cell} ------

ALTERNATIVES = {
    "bernoulli_and_loops": {
        "dropout_forward": P_CHECK
        + """
if not training:
    return x.clone()
mask = torch.bernoulli(torch.full(x.shape, 1 - p), generator=generator)  # 1 = kept
return x * mask.to(x.dtype) / (1 - p)
""",
        "dropout2d_forward": X4_CHECK
        + P_CHECK
        + """
if not training:
    return x
coins = dropout_forward(torch.ones(x.shape[0], x.shape[1], 1, 1, dtype=x.dtype), p, True, generator)  # 0 or 1/(1-p)
return x * coins
""",
        "conv1d_forward": CONV1D_ARGS
        + """
xp = torch.zeros(N, C, L + 2 * padding, dtype=x.dtype)
xp[:, :, padding : padding + L] = x
out = torch.zeros(N, K, Lo, dtype=x.dtype)
for i in range(Lo):
    window = xp[:, :, i * stride : i * stride + f]  # (N, C, F)
    out[:, :, i] = (window[:, None] * w[None]).sum(dim=(2, 3))
if b is not None:
    out += b[None, :, None]
return out
""",
        "conv_macs": MACS_ARGS
        + """
total = input_shape[0] * weight_shape[0] * input_shape[1]
for size, f in zip(sizes, weight_shape[2:]):
    total *= (size // stride + 1) * f
return total
""",
        "VideoNet": VIDEO_LECTURE05,
    },
    "where_and_strided": {
        "dropout_forward": """
if p < 0 or p >= 1:
    raise ValueError(f"bad p {p}")
if training and p > 0:
    u = torch.empty(x.shape).uniform_(0, 1, generator=generator)
    return torch.where(u < p, torch.zeros_like(x), x / (1 - p))
return x
""",
        "conv1d_forward": CONV1D_ARGS
        + """
xp = F.pad(x, (padding, padding)).contiguous()
sN, sC, sL = xp.stride()
windows = xp.as_strided((N, Lo, C, f), (sN, stride * sL, sC, sL))  # (N, L', C, F)
out = (windows.reshape(N, Lo, C * f) @ w.reshape(K, C * f).T).transpose(1, 2)  # (N, K, L')
return out if b is None else out + b.reshape(K, 1)
""",
        "VideoNet": VIDEO_2PLUS1D,
    },
}

# More correct answers, run without nbgrader: name -> (item, body or whole VideoNet cell).
MORE_ALTERNATIVES = {
    "dropout_bernoulli_in_place_on_a_new_tensor": (
        "dropout_forward",
        P_CHECK
        + """
if not training:
    return x
keep = torch.empty(x.shape, dtype=x.dtype).bernoulli_(1 - p, generator=generator)
return keep.mul_(x).div_(1 - p)  # in place on the new mask, not on x
""",
    ),
    "dropout_scale_then_mask": (
        "dropout_forward",
        variant("dropout_forward", "return x * keep / (1 - p)", "return (x * (1.0 / (1 - p))).masked_fill(~keep, 0)"),
    ),
    "dropout2d_bernoulli_expand": (
        "dropout2d_forward",
        X4_CHECK
        + P_CHECK
        + """
if not training:
    return x
N, C, H, W = x.shape
keep = torch.bernoulli(torch.full((N, C), 1 - p, dtype=torch.float64), generator=generator)
return x * keep.to(x.dtype)[:, :, None, None].expand(N, C, H, W) / (1 - p)
""",
    ),
    "conv1d_unfold_matmul": (
        "conv1d_forward",
        CONV1D_ARGS
        + """
cols = F.pad(x, (padding, padding)).unfold(2, f, stride)  # (N, C, L', F)
cols = cols.permute(0, 2, 1, 3).reshape(N, Lo, C * f)
out = torch.matmul(cols, w.reshape(K, C * f).t()).permute(0, 2, 1)
return out + b[:, None] if b is not None else out
""",
    ),
    "conv1d_loop_over_offsets": (
        "conv1d_forward",
        CONV1D_ARGS
        + """
xp = F.pad(x, (padding, padding))
out = x.new_zeros(N, K, Lo)
for u in range(f):  # the u-th tap of every window: a strided slice
    out += torch.einsum("ncl,kc->nkl", xp[:, :, u : u + stride * (Lo - 1) + 1 : stride], w[:, :, u])
return out if b is None else out + b[None, :, None]
""",
    ),
    "macs_functools_reduce": (
        "conv_macs",
        MACS_ARGS
        + """
import functools
import operator
outs = [s // stride + 1 for s in sizes]
return functools.reduce(operator.mul, [*outs, *weight_shape], input_shape[0])
""",
    ),
    "video_lecture05": ("VideoNet", VIDEO_LECTURE05),
    "video_with_functional_dropout": (
        "VideoNet",
        video(
            "return self.classify(maps.amax(dim=(2, 3, 4)))",
            "return self.classify(nn.functional.dropout(maps, 0.2, self.training).amax(dim=(2, 3, 4)))",
        ),
    ),
}

# -- wrong answers ------------------------------------------------------------------------------------

# Graded by the batch: student -> (item, cells lost ("item": all its cells; "hidden": its hidden cell),
# body, or a whole cell for VideoNet).
WRONG = {
    "dropout_without_the_scale": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "return x * keep / (1 - p)", "return x * keep"),
    ),
    "dropout2d_per_value": (
        "dropout2d_forward",
        "item",
        variant(
            "dropout2d_forward",
            "torch.rand(x.shape[0], x.shape[1], 1, 1, generator=generator)",
            "torch.rand(x.shape, generator=generator)",
        ),
    ),
    "conv1d_flips_the_filter": (
        "conv1d_forward",
        "item",
        variant(
            "conv1d_forward",
            'torch.einsum("ncif,kcf->nki", windows, w)',
            'torch.einsum("ncif,kcf->nki", windows, w.flip(2))',
        ),
    ),
    "macs_forgets_the_batch": (
        "conv_macs",
        "item",
        variant("conv_macs", "return N * K * positions", "return K * positions"),
    ),
    "video_frames_as_channels": ("VideoNet", "item", VIDEO_FRAMES_AS_CHANNELS),
    "video_averages_the_frames": ("VideoNet", "hidden", VIDEO_AVERAGES_FRAMES),
}

MORE_WRONG = {
    # dropout_forward
    "dropout_scales_by_p": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "return x * keep / (1 - p)", "return x * keep * p"),
    ),
    "dropout_p_is_the_keep_probability": (
        "dropout_forward",
        "item",
        variant("dropout_forward", ">= p  # (x.shape)", "< p  # (x.shape)").replace("/ (1 - p)", "/ p"),
    ),
    "dropout_keeps_with_p_scales_right": (
        "dropout_forward",
        "item",
        variant("dropout_forward", ">= p  # (x.shape)", "< p  # (x.shape)"),
    ),
    "dropout_also_in_eval": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "if not training:\n    return x\n", ""),
    ),
    "dropout_scales_down_in_eval": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "if not training:\n    return x\n", "if not training:\n    return x * (1 - p)\n"),
    ),
    "dropout_fixed_number_dropped": (
        "dropout_forward",
        "hidden",
        P_CHECK
        + """
if not training:
    return x
n = x.numel()
drop = torch.randperm(n, generator=generator)[: round(p * n)]  # exactly round(p n) values
keep = torch.ones(n, dtype=x.dtype)
keep[drop] = 0
return x * keep.reshape(x.shape) / (1 - p)
""",
    ),
    "dropout_one_mask_for_the_batch": (
        "dropout_forward",
        "item",
        variant(
            "dropout_forward",
            "torch.rand(x.shape, generator=generator)",
            "torch.rand(x.shape[1:], generator=generator)",
        ),
    ),
    "dropout_ignores_the_generator": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "torch.rand(x.shape, generator=generator)", "torch.rand(x.shape)"),
    ),
    "dropout_in_place": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "return x * keep / (1 - p)", "return x.mul_(keep).div_(1 - p)"),
    ),
    "dropout_checks_p_only_in_training": (
        "dropout_forward",
        "hidden",
        P_CHECK.replace("if not 0", "if training and not 0")
        + """
if not training:
    return x
return x * (torch.rand(x.shape, generator=generator) >= p) / (1 - p)
""",
    ),
    "dropout_accepts_p_one": (
        "dropout_forward",
        "item",
        variant("dropout_forward", "if not 0 <= p < 1:", "if not 0 <= p <= 1:").replace(
            "return x * keep / (1 - p)", "return x * keep / max(1 - p, 1e-12)"
        ),
    ),
    "dropout_loses_float64": (
        "dropout_forward",
        "hidden",
        variant("dropout_forward", "return x * keep / (1 - p)", "return (x * keep / (1 - p)).float()"),
    ),
    "dropout_needs_contiguous_input": (
        "dropout_forward",
        "hidden",
        variant(
            "dropout_forward",
            "return x * keep / (1 - p)",
            "return (x.view(-1) * keep.view(-1) / (1 - p)).view(x.shape)",
        ),
    ),
    "dropout_by_torch": (
        "dropout_forward",
        "item",
        P_CHECK + "return F.dropout(x, p, training)\n",
    ),
    # dropout2d_forward
    "dropout2d_one_coin_per_sample": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", "torch.rand(x.shape[0], x.shape[1], 1, 1,", "torch.rand(x.shape[0], 1, 1, 1,"),
    ),
    "dropout2d_one_coin_per_channel": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", "torch.rand(x.shape[0], x.shape[1], 1, 1,", "torch.rand(1, x.shape[1], 1, 1,"),
    ),
    "dropout2d_p_is_the_keep_probability": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", ">= p  # (N, C, 1, 1)", "< p  # (N, C, 1, 1)").replace("/ (1 - p)", "/ p"),
    ),
    "dropout2d_without_the_scale": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", "return x * keep / (1 - p)", "return x * keep"),
    ),
    "dropout2d_also_in_eval": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", "if not training:\n    return x\n", ""),
    ),
    "dropout2d_accepts_3d_input": (
        "dropout2d_forward",
        "item",
        variant("dropout2d_forward", "x.dim() != 4", "x.dim() < 3"),
    ),
    "dropout2d_fixed_number_dropped": (
        "dropout2d_forward",
        "hidden",
        X4_CHECK
        + P_CHECK
        + """
if not training:
    return x
N, C = x.shape[:2]
keep = torch.ones(N * C, dtype=x.dtype)
keep[torch.randperm(N * C, generator=generator)[: round(p * N * C)]] = 0  # exactly round(p N C) maps
return x * keep.reshape(N, C, 1, 1) / (1 - p)
""",
    ),
    "dropout2d_ignores_the_generator": (
        "dropout2d_forward",
        "hidden",
        variant("dropout2d_forward", "1, 1, generator=generator)", "1, 1)"),
    ),
    "dropout2d_checks_p_only_in_training": (
        "dropout2d_forward",
        "hidden",
        variant("dropout2d_forward", "if not 0 <= p < 1:", "if training and not 0 <= p < 1:"),
    ),
    "dropout2d_loses_float64": (
        "dropout2d_forward",
        "hidden",
        variant("dropout2d_forward", "return x * keep / (1 - p)", "return x.float() * keep / (1 - p)"),
    ),
    "dropout2d_by_torch": (
        "dropout2d_forward",
        "item",
        X4_CHECK + P_CHECK + "return F.dropout2d(x, p, training)\n",
    ),
    # conv1d_forward
    "conv1d_ignores_the_stride": (
        "conv1d_forward",
        "item",
        variant("conv1d_forward", "xp.unfold(2, f, stride)", "xp.unfold(2, f, 1)"),
    ),
    "conv1d_pads_one_end": (
        "conv1d_forward",
        "item",
        variant("conv1d_forward", "F.pad(x, (padding, padding))", "F.pad(x, (padding, 0))").replace(
            "if f > L + 2 * padding:", "if f > L + padding:"
        ),
    ),
    "conv1d_needs_a_stride_that_fits": (
        "conv1d_forward",
        "item",
        variant(
            "conv1d_forward",
            "if f > L + 2 * padding:",
            "if (L + 2 * padding - f) % stride:\n    raise ValueError('no fit')\nif f > L + 2 * padding:",
        ),
    ),
    "conv1d_without_the_bias": (
        "conv1d_forward",
        "item",
        variant("conv1d_forward", "out = out + b.reshape(1, K, 1)", "pass"),
    ),
    "conv1d_first_channel_only": (
        "conv1d_forward",
        "item",
        variant(
            "conv1d_forward",
            'torch.einsum("ncif,kcf->nki", windows, w)',
            'torch.einsum("nif,kf->nki", windows[:, 0], w[:, 0])',
        ),
    ),
    "conv1d_without_the_depth_check": (
        "conv1d_forward",
        "item",
        variant("conv1d_forward", "if C_w != C:", "if False:"),
    ),
    "conv1d_loses_float64": (
        "conv1d_forward",
        "hidden",
        variant(
            "conv1d_forward",
            'torch.einsum("ncif,kcf->nki", windows, w)',
            'torch.einsum("ncif,kcf->nki", windows.float(), w.float())',
        ).replace("b.reshape(1, K, 1)", "b.float().reshape(1, K, 1)"),
    ),
    "conv1d_assumes_contiguous_input": (
        "conv1d_forward",
        "hidden",
        CONV1D_ARGS
        + """
xp = F.pad(x.view(N * C, L), (padding, padding)).view(N, C, L + 2 * padding)  # view: contiguous x only
cols = xp.unfold(2, f, stride).permute(0, 2, 1, 3).reshape(N, Lo, C * f)
out = (cols @ w.view(K, C * f).T).transpose(1, 2)
return out if b is None else out + b[None, :, None]
""",
    ),
    "conv1d_accepts_bools": (
        "conv1d_forward",
        "hidden",
        variant(
            "conv1d_forward", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    "conv1d_broadcasts_any_bias": (
        "conv1d_forward",
        "hidden",
        variant("conv1d_forward", "tuple(b.shape) == (K,)", "b.numel() == K"),
    ),
    "conv1d_without_the_fit_check": (
        "conv1d_forward",
        "hidden",
        variant("conv1d_forward", "if f > L + 2 * padding:", "if False:"),
    ),
    "conv1d_by_torch": (
        "conv1d_forward",
        "item",
        CONV1D_ARGS + "return F.conv1d(x, w, b, stride, padding)\n",
    ),
    # conv_macs
    "macs_forgets_the_input_channels": (
        "conv_macs",
        "item",
        variant(
            "conv_macs",
            "return N * K * positions * C * math.prod(kernel)",
            "return N * K * positions * math.prod(kernel)",
        ),
    ),
    "macs_counts_input_positions": (
        "conv_macs",
        "item",
        variant("conv_macs", "positions *= (n + 2 * padding - f) // stride + 1", "positions *= n"),
    ),
    "macs_true_division": (
        "conv_macs",
        "item",
        variant(
            "conv_macs",
            "positions *= (n + 2 * padding - f) // stride + 1",
            "positions *= (n + 2 * padding - f) / stride + 1",
        ),
    ),
    "macs_rounds_up": (
        "conv_macs",
        "item",
        variant(
            "conv_macs",
            "positions *= (n + 2 * padding - f) // stride + 1",
            "positions *= -(-(n + 2 * padding - f) // stride) + 1",
        ),
    ),
    "macs_ignores_the_padding": (
        "conv_macs",
        "item",
        variant("conv_macs", "positions *= (n + 2 * padding - f) // stride + 1", "positions *= (n - f) // stride + 1"),
    ),
    "macs_counts_flops": (
        "conv_macs",
        "item",
        variant("conv_macs", "return N * K * positions", "return 2 * N * K * positions"),
    ),
    "macs_returns_a_tensor": (
        "conv_macs",
        "item",
        variant(
            "conv_macs",
            "return N * K * positions * C * math.prod(kernel)",
            "return torch.tensor(N * K * positions * C * math.prod(kernel))",
        ),
    ),
    "macs_by_the_flop_counter": (
        "conv_macs",
        "item",
        """
from torch.utils.flop_counter import FlopCounterMode
conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(input_shape)]
with FlopCounterMode(display=False) as counter:
    x, w = torch.empty(tuple(input_shape), device="meta"), torch.empty(tuple(weight_shape), device="meta")
    conv(x, w, None, stride, padding)
return counter.get_total_flops() // 2
""",
    ),
    "macs_by_conv_flop_count": (  # the formula FlopCounterMode uses for convolutions, called directly
        "conv_macs",
        "item",
        """
from torch.utils import flop_counter
N, C, *spatial = input_shape
K, _, *kernel = weight_shape
out = [(n + 2 * padding - k) // stride + 1 for n, k in zip(spatial, kernel)]
return flop_counter.conv_flop_count(list(input_shape), list(weight_shape), [N, K, *out]) // 2
""",
    ),
    "macs_tuples_only": (
        "conv_macs",
        "hidden",
        variant("conv_macs", "not isinstance(shape, (tuple, list))", "type(shape) is not tuple"),
    ),
    "macs_without_the_depth_check": (
        "conv_macs",
        "item",
        variant("conv_macs", "if C_w != C:", "if False:"),
    ),
    "macs_without_the_fit_check": (
        "conv_macs",
        "hidden",
        variant("conv_macs", "if f > n + 2 * padding:", "if False:"),
    ),
    "macs_accepts_bools": (
        "conv_macs",
        "hidden",
        variant(
            "conv_macs",
            "isinstance(value, bool) or not isinstance(value, int) or value < low",
            "not isinstance(value, int) or value < low",
        ),
    ),
    # VideoNet
    "video_per_frame_filters": ("VideoNet", "item", VIDEO_PER_FRAME),
    "video_temporal_layer_never_called": ("VideoNet", "hidden", VIDEO_UNUSED_TEMPORAL),
    "video_calls_conv3d_as_a_function": ("VideoNet", "item", VIDEO_FUNCTIONAL),
    "video_returns_probabilities": (
        "VideoNet",
        "hidden",
        video(
            "return self.classify(maps.amax(dim=(2, 3, 4)))",
            "return self.classify(maps.amax(dim=(2, 3, 4))).softmax(dim=1)",
        ),
    ),
    "video_squeeze_drops_a_batch_of_one": (
        "VideoNet",
        "hidden",
        video(
            "return self.classify(maps.amax(dim=(2, 3, 4)))", "return self.classify(maps.squeeze().amax(dim=(-1, -2)))"
        ),
    ),
    "video_normalizes_the_input_in_place": (
        "VideoNet",
        "hidden",
        video("maps = self.features(x)", "x -= 0.5\n        maps = self.features(x)"),
    ),
    "video_mixes_the_batch": (
        "VideoNet",
        "hidden",
        video("maps = self.features(x)", "maps = self.features(x - x.mean())"),
    ),
    "video_logits_of_the_wrong_shape": (
        "VideoNet",
        "item",
        video(
            "return self.classify(maps.amax(dim=(2, 3, 4)))", "return self.classify(maps.amax(dim=(2, 3, 4)))[:, None]"
        ),
    ),
}

globals().update(
    gs.suite(
        AID,
        wrong=WRONG,
        more_wrong=MORE_WRONG,
        alternatives=ALTERNATIVES,
        more_alternatives=MORE_ALTERNATIVES,
        whole_cell={"VideoNet"},
    )
)
