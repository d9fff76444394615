"""Grading a2_pooling_receptive_fields end to end, on a temporary copy of the course.

One batch is graded once (module fixture) with `python -m grading autograde` (the sandboxed,
parallel batch of the instructor guide), and each test reads its scores:
- the solution notebook scores full marks and the released notebook scores zero;
- for each graded item, a submission that is correct except for one plausible mistake in that
  item (the "Wrong" list of the assignment's issue) loses exactly the points of that item's test
  cells that the mistake breaks (all of them, or only the hidden cell when the visible example
  cannot show the mistake) and no other point;
- submissions written differently from the solution but correct (loops, `as_strided`,
  `Tensor.unfold`, `scatter_add_` or loops over the windows, tanh and average pooling) score
  full marks;
- the hostile kinds of the a1 batch that apply here (blank, an answer that raises, an infinite
  loop, `os._exit`, deleted test cells, a patched `torch.allclose`) are graded without harm
  (gradinglib.hostile_submissions).

Many more variants, one per sentence of each item's specification, run the same test cells
without nbgrader (gradinglib.run_cells: plain Python, one process). Expected scores are derived
from the points in the source notebook, never typed in.
"""

from __future__ import annotations

import gradingsuite as gs

AID = "a2_pooling_receptive_fields"
ANS = gs.Answers(AID)
solution_variant = ANS.variant


# -- pieces of answers ------------------------------------------------------------------------------

RF_ARGS = """
if not isinstance(layers, list):
    raise ValueError("layers must be a list")
for layer in layers:
    if not isinstance(layer, tuple) or len(layer) != 2 or any(type(v) is not int or v < 1 for v in layer):
        raise ValueError(f"bad layer {layer!r}")
"""

POOL_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim != 4:
    raise ValueError("x must be (N, C, H, W)")
if type(f) is not int or type(s) is not int or f < 1 or s < 1:
    raise ValueError("f and s must be ints >= 1")
N, C, H, W = x.shape
if f > min(H, W) or (H - f) % s or (W - f) % s:
    raise ValueError("the window or the stride does not fit")
Ho, Wo = (H - f) // s + 1, (W - f) // s + 1
"""

DOUT_ARGS = """
if not isinstance(dout, torch.Tensor) or tuple(dout.shape) != (N, C, Ho, Wo):
    raise ValueError("dout must have the output's shape")
"""

MAXPOOL_LOOPS = (
    POOL_ARGS
    + """
out = torch.empty(N, C, Ho, Wo, dtype=x.dtype)
for i in range(Ho):
    for j in range(Wo):
        out[:, :, i, j] = x[:, :, i * s : i * s + f, j * s : j * s + f].amax(dim=(2, 3))
return out
"""
)

AVGPOOL_STRIDED = (
    POOL_ARGS
    + """
xc = x.contiguous()
sN, sC, sH, sW = xc.stride()
windows = xc.as_strided((N, C, Ho, Wo, f, f), (sN, sC, sH * s, sW * s, sH, sW))
return windows.sum(dim=(-1, -2)) / (f * f)
"""
)

BACKWARD_LOOPS = (
    POOL_ARGS
    + DOUT_ARGS
    + """
dx = torch.zeros_like(x, memory_format=torch.contiguous_format)
for i in range(Ho):
    for j in range(Wo):
        window = x[:, :, i * s : i * s + f, j * s : j * s + f].reshape(N, C, f * f)
        k = window.argmax(dim=2)  # (N, C)
        for n in range(N):
            for c in range(C):
                dx[n, c, i * s + k[n, c] // f, j * s + k[n, c] % f] += dout[n, c, i, j]
return dx
"""
)

BACKWARD_OFFSETS = (
    POOL_ARGS
    + DOUT_ARGS
    + """
windows = x.unfold(2, f, s).unfold(3, f, s)  # (N, C, Ho, Wo, f, f)
best = windows.amax(dim=(4, 5))
dx = torch.zeros(N, C, H, W, dtype=x.dtype)
for u in range(f):
    for v in range(f):
        won = (windows[..., u, v] == best).to(x.dtype)  # no ties: one winner per window
        dx[:, :, u : u + s * (Ho - 1) + 1 : s, v : v + s * (Wo - 1) + 1 : s] += won * dout
return dx
"""
)

LENET_TANH_AVG = """
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding="same")
        self.s2 = nn.AvgPool2d(2, 2)
        self.c3 = nn.Conv2d(6, 16, (5, 5))
        self.s4 = nn.AvgPool2d(kernel_size=2)
        self.c5 = nn.Linear(16 * 5 * 5, 120)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, 10)

    def forward(self, x):
        x = self.s2(torch.tanh(self.c1(x)))
        x = self.s4(torch.tanh(self.c3(x)))
        x = torch.tanh(self.c5(x.reshape(x.shape[0], -1)))
        return self.output(torch.tanh(self.f6(x)))
"""

LENET_SEQUENTIAL = """
class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.s2 = nn.Conv2d(1, 6, 5, padding=2), nn.MaxPool2d(2)
        self.c3, self.s4 = nn.Conv2d(6, 16, 5), nn.MaxPool2d(2)
        self.c5, self.f6, self.output = nn.Conv2d(16, 120, 5), nn.Linear(120, 84), nn.Linear(84, 10)
        self.net = nn.Sequential(
            self.c1, nn.ReLU(), self.s2, self.c3, nn.ReLU(), self.s4, self.c5, nn.ReLU(), nn.Flatten(),
            self.f6, nn.ReLU(), self.output,
        )

    def forward(self, x):
        return self.net(x)
"""


def lenet(old: str, new: str) -> str:
    """The whole solution cell of LeNet5 with one edit."""
    return ANS.cell("LeNet5", old, new)


# -- correct answers, written differently (nbgrader batch): student -> {item: body or whole cell} ------

ALTERNATIVES = {
    "loops_and_strided_views": {
        "receptive_field": RF_ARGS
        + """
size = 1
for k, s in reversed(layers):  # from the output down: r_(l-1) = (r_l - 1) * s_l + k_l
    size = (size - 1) * s + k
return size
""",
        "maxpool2d_forward": MAXPOOL_LOOPS,
        "avgpool2d_forward": AVGPOOL_STRIDED,
        "maxpool2d_backward": BACKWARD_LOOPS,
        "LeNet5": LENET_TANH_AVG,
    },
    "offsets_and_sequential": {
        "receptive_field": RF_ARGS
        + """
seen = {0}  # input offsets of the pixels that reach one output unit
for k, s in reversed(layers):
    seen = {p * s + u for p in seen for u in range(k)}
return max(seen) - min(seen) + 1
""",
        "maxpool2d_backward": BACKWARD_OFFSETS,
        "LeNet5": LENET_SEQUENTIAL,
    },
}

# More correct answers, run without nbgrader: name -> (item, body or whole LeNet5 cell).
MORE_ALTERNATIVES = {
    "rf_with_math_prod": (
        "receptive_field",
        RF_ARGS
        + """
import math
return 1 + sum((k - 1) * math.prod(s for _, s in layers[:i]) for i, (k, _) in enumerate(layers))
""",
    ),
    "maxpool_as_strided": (
        "maxpool2d_forward",
        POOL_ARGS
        + """
xc = x.contiguous()
sN, sC, sH, sW = xc.stride()
return xc.as_strided((N, C, Ho, Wo, f, f), (sN, sC, sH * s, sW * s, sH, sW)).amax(dim=(-1, -2))
""",
    ),
    "avgpool_loops": (
        "avgpool2d_forward",
        POOL_ARGS
        + """
out = x.new_zeros(N, C, Ho, Wo)
for u in range(f):
    for v in range(f):
        out += x[:, :, u : u + s * (Ho - 1) + 1 : s, v : v + s * (Wo - 1) + 1 : s]
return out / f**2
""",
    ),
    "backward_index_add": (
        "maxpool2d_backward",
        POOL_ARGS
        + DOUT_ARGS
        + """
w = x.unfold(2, f, s).unfold(3, f, s).reshape(N * C, Ho, Wo, f * f)
k = w.argmax(dim=-1)
rows = torch.arange(Ho)[:, None] * s + k // f
cols = torch.arange(Wo)[None, :] * s + k % f
flat = (torch.arange(N * C)[:, None, None] * H * W + rows * W + cols).reshape(-1)
dx = torch.zeros(N * C * H * W, dtype=x.dtype).index_add_(0, flat, dout.reshape(-1).to(x.dtype))
return dx.reshape(N, C, H, W)
""",
    ),
    "backward_offsets": ("maxpool2d_backward", BACKWARD_OFFSETS),
    "lenet_functional_relu_linear_c5": (
        "LeNet5",
        lenet("self.c5 = nn.Conv2d(16, 120, kernel_size=5)", "self.c5 = nn.Linear(400, 120)").replace(
            "x = torch.relu(self.c5(x)).flatten(1)", "x = F.relu(self.c5(x.flatten(1)))"
        ),
    ),
}

# -- wrong answers ------------------------------------------------------------------------------------

# Graded by the batch: student -> (item, cells lost ("item": all its cells; "hidden": its hidden cell),
# body, or a whole cell for LeNet5).
WRONG = {
    "rf_sums_kernels": ("receptive_field", "item", RF_ARGS + "return sum(k for k, _ in layers)\n"),
    "maxpool_across_channels": (
        "maxpool2d_forward",
        "item",
        solution_variant(
            "maxpool2d_forward",
            "return windows.amax(dim=(4, 5))",
            "return windows.amax(dim=(1, 4, 5), keepdim=True)[..., 0, 0].expand(-1, x.shape[1], -1, -1)",
        ),
    ),
    "avgpool_divides_by_f": (
        "avgpool2d_forward",
        "item",
        solution_variant("avgpool2d_forward", "return windows.mean(dim=(4, 5))", "return windows.sum(dim=(4, 5)) / f"),
    ),
    "backward_spreads_over_window": (
        "maxpool2d_backward",
        "item",
        BACKWARD_OFFSETS.replace("won = (windows[..., u, v] == best).to(x.dtype)", "won = 1.0 / (f * f)"),
    ),
    "backward_overwrites_overlaps": (
        "maxpool2d_backward",
        "item",
        solution_variant("maxpool2d_backward", "dx.scatter_add_(", "dx.scatter_("),
    ),
    "lenet_without_activations": (
        "LeNet5",
        "hidden",
        lenet(
            "x = self.s2(torch.relu(self.c1(x)))  # (N, 6, 14, 14)\n"
            "        x = self.s4(torch.relu(self.c3(x)))  # (N, 16, 5, 5)\n"
            "        x = torch.relu(self.c5(x)).flatten(1)  # (N, 120)\n"
            "        x = torch.relu(self.f6(x))  # (N, 84)",
            "x = self.s4(self.c3(self.s2(self.c1(x))))  # no activation anywhere\n"
            "        x = self.f6(self.c5(x).flatten(1))",
        ),
    ),
    "lenet_c1_unpadded": (
        "LeNet5",
        "item",
        lenet("self.c1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)", "self.c1 = nn.Conv2d(1, 6, kernel_size=5)")
        .replace("self.c5 = nn.Conv2d(16, 120, kernel_size=5)", "self.c5 = nn.Linear(16 * 4 * 4, 120)")
        .replace("x = torch.relu(self.c5(x)).flatten(1)", "x = torch.relu(self.c5(x.flatten(1)))"),
    ),
}

MORE_WRONG = {
    # receptive_field
    "rf_ignores_strides": ("receptive_field", "item", RF_ARGS + "return 1 + sum(k - 1 for k, _ in layers)\n"),
    "rf_uses_the_current_stride": (
        "receptive_field",
        "item",
        RF_ARGS + "return 1 + sum((k - 1) * s for k, s in layers)\n",
    ),
    "rf_product_includes_the_current_stride": (
        "receptive_field",
        "item",
        solution_variant(
            "receptive_field",
            "size += (kernel - 1) * jump\n    jump *= stride",
            "jump *= stride\n    size += (kernel - 1) * jump",
        ),
    ),
    "rf_counts_the_pixels_that_influence": (
        "receptive_field",
        "item",
        RF_ARGS
        + """
seen = {0}
for k, s in reversed(layers):
    seen = {p * s + u for p in seen for u in range(k)}
return len(seen)  # the pixels that influence, not the extent
""",
    ),
    "rf_reverses_its_input": (
        "receptive_field",
        "hidden",
        RF_ARGS
        + """
layers.reverse()  # in place: the caller's list
size = 1
for k, s in layers:
    size = (size - 1) * s + k
return size
""",
    ),
    "rf_accepts_bools": (
        "receptive_field",
        "hidden",
        solution_variant(
            "receptive_field", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    "rf_accepts_whole_floats": (
        "receptive_field",
        "hidden",
        solution_variant(
            "receptive_field",
            "isinstance(value, bool) or not isinstance(value, int) or value < 1",
            "not isinstance(value, (int, float)) or value != int(value) or value < 1",
        ).replace("return size", "return int(size)"),
    ),
    "rf_accepts_any_iterable": (
        "receptive_field",
        "hidden",
        solution_variant("receptive_field", "if not isinstance(layers, list):", "if layers is None:").replace(
            "for i, layer in enumerate(layers):", "for i, layer in enumerate(list(layers)):"
        ),
    ),
    # maxpool2d_forward
    "maxpool_forgets_the_last_window": (
        "maxpool2d_forward",
        "item",
        MAXPOOL_LOOPS.replace("+ 1, (W - f) // s + 1", ", (W - f) // s"),
    ),
    "maxpool_ignores_the_stride": (
        "maxpool2d_forward",
        "item",
        solution_variant("maxpool2d_forward", "x.unfold(2, f, s).unfold(3, f, s)", "x.unfold(2, f, f).unfold(3, f, f)"),
    ),
    "maxpool_assumes_contiguous_input": (
        "maxpool2d_forward",
        "hidden",
        POOL_ARGS
        + """
windows = x.as_strided((N, C, Ho, Wo, f, f), (C * H * W, H * W, s * W, s, W, 1))
return windows.amax(dim=(-1, -2))
""",
    ),
    "maxpool_loses_float64": (
        "maxpool2d_forward",
        "hidden",
        MAXPOOL_LOOPS.replace("torch.empty(N, C, Ho, Wo, dtype=x.dtype)", "torch.empty(N, C, Ho, Wo)"),
    ),
    "maxpool_accepts_bools": (
        "maxpool2d_forward",
        "hidden",
        solution_variant(
            "maxpool2d_forward", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    "maxpool_checks_only_the_height": (
        "maxpool2d_forward",
        "hidden",
        solution_variant(
            "maxpool2d_forward", '(("height", x.shape[2]), ("width", x.shape[3]))', '(("height", x.shape[2]),)'
        ),
    ),
    "maxpool_uses_torch_pooling": (
        "maxpool2d_forward",
        "item",
        solution_variant(
            "maxpool2d_forward",
            "windows = x.unfold(2, f, s).unfold(3, f, s)  # (N, C, H', W', F, F), a view of x\n"
            "return windows.amax(dim=(4, 5))",
            "return F.max_pool2d(x, f, s)",
        ),
    ),
    # avgpool2d_forward
    "avgpool_across_channels": (
        "avgpool2d_forward",
        "item",
        solution_variant(
            "avgpool2d_forward",
            "return windows.mean(dim=(4, 5))",
            "return windows.mean(dim=(1, 4, 5), keepdim=True)[..., 0, 0].expand(-1, x.shape[1], -1, -1)",
        ),
    ),
    "avgpool_as_a_convolution": (
        "avgpool2d_forward",
        "item",
        POOL_ARGS + "return F.conv2d(x, torch.full((C, 1, f, f), 1 / f**2, dtype=x.dtype), stride=s, groups=C)\n",
    ),
    "avgpool_loses_float64": (
        "avgpool2d_forward",
        "hidden",
        solution_variant(
            "avgpool2d_forward", "return windows.mean(dim=(4, 5))", "return windows.float().mean(dim=(4, 5))"
        ),
    ),
    "avgpool_needs_contiguous_input": (
        "avgpool2d_forward",
        "hidden",
        POOL_ARGS
        + """
windows = x.view(N * C, H, W).unfold(1, f, s).unfold(2, f, s)
return windows.mean(dim=(-1, -2)).view(N, C, Ho, Wo)
""",
    ),
    "avgpool_without_the_stride_check": (
        "avgpool2d_forward",
        "item",
        solution_variant("avgpool2d_forward", "if (size - f) % s != 0:", "if False:"),
    ),
    # maxpool2d_backward
    "backward_to_the_first_pixel_of_each_window": (
        "maxpool2d_backward",
        "item",
        solution_variant(
            "maxpool2d_backward",
            "best = windows.argmax(dim=4)",
            "best = torch.zeros_like(windows[..., 0], dtype=torch.long)",
        ),
    ),
    "backward_by_autograd": (
        "maxpool2d_backward",
        "item",
        POOL_ARGS
        + DOUT_ARGS
        + """
leaf = x.detach().clone().requires_grad_()
with torch.enable_grad():
    out = leaf.unfold(2, f, s).unfold(3, f, s).amax(dim=(4, 5))
    return torch.autograd.grad(out, leaf, dout)[0]
""",
    ),
    "backward_by_torch_pooling": (
        "maxpool2d_backward",
        "item",
        POOL_ARGS
        + DOUT_ARGS
        + """
_, idx = F.max_pool2d(x, f, s, return_indices=True)
return torch.zeros(N, C, H * W, dtype=x.dtype).scatter_add_(2, idx.flatten(2), dout.flatten(2)).reshape(x.shape)
""",
    ),
    "backward_without_the_dout_check": ("maxpool2d_backward", "item", BACKWARD_OFFSETS.replace(DOUT_ARGS, "\n")),
    "backward_checks_only_the_size_of_dout": (
        "maxpool2d_backward",
        "hidden",
        BACKWARD_LOOPS.replace("tuple(dout.shape) != (N, C, Ho, Wo)", "dout.numel() != N * C * Ho * Wo").replace(
            "dout[n, c, i, j]", "dout.reshape(N, C, Ho, Wo)[n, c, i, j]"
        ),
    ),
    "backward_loses_float64": (
        "maxpool2d_backward",
        "hidden",
        BACKWARD_OFFSETS.replace("torch.zeros(N, C, H, W, dtype=x.dtype)", "torch.zeros(N, C, H, W)"),
    ),
    "backward_zeroes_x_for_dx": (
        "maxpool2d_backward",
        "item",
        BACKWARD_OFFSETS.replace(
            "torch.zeros(N, C, H, W, dtype=x.dtype)", "x.detach().zero_()  # detach shares x's memory"
        ),
    ),
    # LeNet5
    "lenet_softmax_output": (
        "LeNet5",
        "hidden",
        lenet("return self.output(x)  # (N, 10)", "return torch.softmax(self.output(x), dim=1)"),
    ),
    "lenet_squeeze_drops_a_batch_of_one": (
        "LeNet5",
        "hidden",
        lenet("x = torch.relu(self.c5(x)).flatten(1)", "x = torch.relu(self.c5(x)).squeeze()"),
    ),
    "lenet_casts_to_float32": (
        "LeNet5",
        "hidden",
        lenet("x = self.s2(torch.relu(self.c1(x)))", "x = self.s2(torch.relu(self.c1(x.float())))"),
    ),
    "lenet_normalizes_the_input_in_place": (
        "LeNet5",
        "hidden",
        lenet("x = self.s2(torch.relu(self.c1(x)))", "x -= 0.1307\n        x = self.s2(torch.relu(self.c1(x)))"),
    ),
    "lenet_pools_with_a_function": (
        "LeNet5",
        "hidden",
        lenet("x = self.s4(torch.relu(self.c3(x)))", "x = F.max_pool2d(torch.relu(self.c3(x)), 2)"),
    ),
    "lenet_unpadded_c1_with_external_padding": (
        "LeNet5",
        "hidden",
        lenet("nn.Conv2d(1, 6, kernel_size=5, padding=2)", "nn.Conv2d(1, 6, kernel_size=5)").replace(
            "self.c1(x)", "self.c1(F.pad(x, (2, 2, 2, 2)))"
        ),
    ),
    "lenet_f6_of_100_units": (
        "LeNet5",
        "item",
        lenet("nn.Linear(120, 84)", "nn.Linear(120, 100)").replace("nn.Linear(84, 10)", "nn.Linear(100, 10)"),
    ),
}

globals().update(
    gs.suite(
        AID,
        wrong=WRONG,
        more_wrong=MORE_WRONG,
        alternatives=ALTERNATIVES,
        more_alternatives=MORE_ALTERNATIVES,
        whole_cell={"LeNet5"},
    )
)
