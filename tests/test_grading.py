"""Grading a1_convolution end to end: nbgrader autograde on a temporary copy of the course.

One batch is graded once (module fixture, `python -m grading autograde`: the sandboxed, parallel
batch of the instructor guide) and each test reads its scores (tests/gradingsuite.py):
- the solution notebook scores full marks and the released notebook scores zero;
- for each graded item, a submission that is correct except for one plausible mistake in that
  item loses exactly the points of that item's test cells that the mistake breaks (all of the
  item's cells, or only its hidden cell when the visible example cannot show the mistake) and
  no other point;
- submissions written differently from the solution but correct score full marks.

Many more variants, one per sentence of each item's specification, run the same test cells
without nbgrader (gradinglib.run_cells: plain Python, one process): each wrong variant must fail
exactly the cells it is meant to fail, each correct one must pass every cell of its item.
Expected scores are derived from the points in the source notebook, never typed in.
"""

from __future__ import annotations

import gradingsuite as gs

AID = "a1_convolution"


edit = gs.edit


# -- correct answers, written differently from the solution ----------------------------------

# The rules of conv2d_forward (and of conv2d_backward), checked in another order and style than the solution.
CONV_ARGS = """
for t in (x, w):
    if not isinstance(t, torch.Tensor) or t.dim() != 4:
        raise ValueError("x and w must be 4-D tensors")
N, C, H, W = x.shape
K, C_w, f, f_w = w.shape
if f != f_w or C_w != C:
    raise ValueError("w must be (K, C, F, F) for an x of C channels")
if type(stride) is not int or stride < 1 or type(padding) is not int or padding < 0:
    raise ValueError(f"stride must be an int >= 1 and padding an int >= 0, got {stride!r}, {padding!r}")
if min(H, W) + 2 * padding < f or (H - f + 2 * padding) % stride or (W - f + 2 * padding) % stride:
    raise ValueError("the filter or the stride does not fit")
Ho, Wo = (H - f + 2 * padding) // stride + 1, (W - f + 2 * padding) // stride + 1
"""
DOUT_ARGS = """
if not isinstance(dout, torch.Tensor) or tuple(dout.shape) != (N, K, Ho, Wo):
    raise ValueError(f"dout must be of shape {(N, K, Ho, Wo)}")
"""

# conv2d_backward as the solution does it (scatter-add over the kernel offsets); the wrong variants edit it.
BACKWARD_SCATTER = (
    CONV_ARGS
    + DOUT_ARGS
    + """
xp = F.pad(x, (padding,) * 4)
cols = xp.unfold(2, f, stride).unfold(3, f, stride)  # (N, C, Ho, Wo, F, F)
db = dout.sum(dim=(0, 2, 3))
dw = torch.einsum("nkhw,nchwuv->kcuv", dout, cols)
back = torch.einsum("nkhw,kcuv->nchwuv", dout, w)
dxp = torch.zeros_like(xp)
for u in range(f):
    for v in range(f):
        dxp[:, :, u : u + stride * (Ho - 1) + 1 : stride, v : v + stride * (Wo - 1) + 1 : stride] += back[..., u, v]
dx = dxp[:, :, padding : padding + H, padding : padding + W]
return dx, dw, db
"""
)

# conv2d_backward as a full convolution: dout spread out with stride - 1 zeros, padded by F - 1,
# correlated with the flipped kernel.
BACKWARD_FLIPPED = (
    CONV_ARGS
    + DOUT_ARGS
    + """
xp = F.pad(x, (padding,) * 4)
cols = xp.unfold(2, f, stride).unfold(3, f, stride)  # (N, C, Ho, Wo, F, F)
dw = (dout[:, :, None, :, :, None, None] * cols[:, None]).sum(dim=(0, 3, 4))
spread = dout.new_zeros(N, K, (Ho - 1) * stride + 1, (Wo - 1) * stride + 1)
spread[:, :, ::stride, ::stride] = dout
full = F.pad(spread, (f - 1,) * 4).unfold(2, f, 1).unfold(3, f, 1)  # (N, K, H + 2P, W + 2P, F, F)
dxp = torch.einsum("nkhwuv,kcuv->nchw", full, w.flip(2, 3))
return dxp[:, :, padding : padding + H, padding : padding + W], dw, dout.sum(dim=(0, 2, 3))
"""
)

# The solution pads by slicing into a filled tensor and convolves with Tensor.unfold + einsum;
# these are graded by nbgrader: student id -> {item: function body}.
ALTERNATIVES = {
    "loops_and_strided_views": {
        "conv_output_size": """
if any(type(a) is not int for a in (n, f, s, p)) or min(n, f, s) < 1 or p < 0:
    raise ValueError("n, f, s must be positive ints and p a non-negative int")
steps, rest = divmod(n - f + 2 * p, s)
if steps < 0 or rest:
    raise ValueError("the filter or the stride does not fit")
return steps + 1
""",
        "conv_param_count": """
if any(type(a) is not int or a < 1 for a in (c_in, c_out, f)) or type(bias) is not bool:
    raise ValueError("c_in, c_out and f must be ints >= 1, bias True or False")
return c_in * c_out * f**2 + c_out * int(bias)
""",
        "pad2d": """
if not isinstance(x, torch.Tensor) or x.dim() != 4 or mode not in ("zero", "mean") or type(p) is not int or p < 0:
    raise ValueError(f"bad x, mode {mode!r} or p {p!r}")
N, C, H, W = x.shape
out = torch.empty(N, C, H + 2 * p, W + 2 * p, dtype=x.dtype)
for n in range(N):
    for c in range(C):
        out[n, c] = x[n, c].mean() if mode == "mean" else 0.0
        out[n, c, p : p + H, p : p + W] = x[n, c]
return out
""",
        "conv2d_forward": CONV_ARGS
        + """
if b is not None and (not isinstance(b, torch.Tensor) or b.shape != (K,)):
    raise ValueError("b must be None or of shape (K,)")
xp = F.pad(x, (padding,) * 4).contiguous()
sN, sC, sH, sW = xp.stride()
cols = xp.as_strided((N, Ho, Wo, C, f, f), (sN, sH * stride, sW * stride, sC, sH, sW))
out = cols.reshape(N, Ho * Wo, C * f * f) @ w.reshape(K, -1).T  # (N, Ho*Wo, K)
if b is not None:
    out = out + b
return out.reshape(N, Ho, Wo, K).permute(0, 3, 1, 2)  # not contiguous, and that is fine
""",
        "conv1x1": """
if not isinstance(x, torch.Tensor) or not isinstance(w, torch.Tensor) or x.dim() != 4 or w.dim() != 2:
    raise ValueError("x must be (N, C, H, W) and w (K, C)")
if w.shape[1] != x.shape[1]:
    raise ValueError("w must have one column per channel of x")
return (x.permute(0, 2, 3, 1) @ w.T).permute(0, 3, 1, 2)
""",
        "conv2d_backward": BACKWARD_FLIPPED,
    },
}

# More correct answers, run without nbgrader: name -> (item, function body).
MORE_ALTERNATIVES = {
    "size_by_counting_windows": (
        "conv_output_size",
        """
for v, low in ((n, 1), (f, 1), (s, 1), (p, 0)):
    if v.__class__ is not int or v < low:
        raise ValueError(f"{v!r} is not an int >= {low}")
starts = list(range(0, n + 2 * p - f + 1, s))
if not starts or starts[-1] != n + 2 * p - f:
    raise ValueError("the filter or the stride does not fit")
return len(starts)
""",
    ),
    "count_by_sum": (
        "conv_param_count",
        """
for v in (c_in, c_out, f):
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise ValueError(f"{v!r} is not a positive int")
if bias is not True and bias is not False:
    raise ValueError(f"bias must be a bool, got {bias!r}")
return sum(c_in * f * f + bias for _ in range(c_out))
""",
    ),
    "pad_with_functional_pad": (
        "pad2d",
        """
if type(p) is not int or p < 0 or mode not in ("zero", "mean") or not torch.is_tensor(x) or x.ndim != 4:
    raise ValueError("bad arguments")
m = x.mean(dim=(2, 3), keepdim=True) if mode == "mean" else torch.zeros((), dtype=x.dtype)
return F.pad(x - m, (p, p, p, p)) + m
""",
    ),
    "forward_over_kernel_offsets": (
        "conv2d_forward",
        CONV_ARGS
        + """
if b is not None and not (torch.is_tensor(b) and b.dim() == 1 and len(b) == K):
    raise ValueError("b must be None or of shape (K,)")
xp = F.pad(x, (padding,) * 4)
out = torch.zeros(N, K, Ho, Wo, dtype=x.dtype)
for u in range(f):
    for v in range(f):
        patch = xp[:, :, u : u + stride * (Ho - 1) + 1 : stride, v : v + stride * (Wo - 1) + 1 : stride]
        out += torch.einsum("nchw,kc->nkhw", patch, w[:, :, u, v])
return out if b is None else out + b[None, :, None, None]
""",
    ),
    "conv1x1_einsum": (
        "conv1x1",
        """
if not (torch.is_tensor(x) and torch.is_tensor(w)) or x.ndim != 4 or w.ndim != 2 or w.shape[1] != x.shape[1]:
    raise ValueError("x must be (N, C, H, W) and w (K, C)")
return torch.einsum("kc,nchw->nkhw", w, x)
""",
    ),
    "backward_scatter": ("conv2d_backward", BACKWARD_SCATTER),
    "backward_loops_over_outputs": (
        "conv2d_backward",
        CONV_ARGS
        + DOUT_ARGS
        + """
xp = F.pad(x, (padding,) * 4)
dxp, dw = torch.zeros_like(xp), torch.zeros(K, C, f, f, dtype=x.dtype)
for i in range(Ho):
    for j in range(Wo):
        rows, cols = slice(i * stride, i * stride + f), slice(j * stride, j * stride + f)
        dw += torch.einsum("nk,ncuv->kcuv", dout[:, :, i, j], xp[:, :, rows, cols])
        dxp[:, :, rows, cols] += torch.einsum("nk,kcuv->ncuv", dout[:, :, i, j], w)
return dxp[:, :, padding : padding + H, padding : padding + W].clone(), dw, dout.sum(dim=(0, 2, 3))
""",
    ),
}

# -- wrong answers ------------------------------------------------------------------------------

# Graded by nbgrader. student id -> (item, cells lost, function body); cells lost: "item" (every
# test cell of the item: the visible example shows the mistake) or "hidden" (only the hidden cell).
WRONG = {
    "off_by_one_size": (
        "conv_output_size",
        "item",
        """
for value, low in ((n, 1), (f, 1), (s, 1), (p, 0)):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"bad argument {value!r}")
if f > n + 2 * p or (n - f + 2 * p) % s != 0:
    raise ValueError("the filter or the stride does not fit")
return (n - f + 2 * p) // s  # forgets the first window
""",
    ),
    "bias_forgotten_in_count": ("conv_param_count", "item", "return c_out * c_in * f * f\n"),
    "padding_on_one_side": (
        "pad2d",
        "item",
        """
if mode not in ("zero", "mean") or p < 0:
    raise ValueError(f"bad mode {mode!r} or p {p!r}")
fill = x.mean(dim=(2, 3), keepdim=True) if mode == "mean" else torch.zeros_like(x[:, :, :1, :1])
N, C, H, W = x.shape
out = fill.expand(N, C, H + 2 * p, W + 2 * p).clone()
out[:, :, 2 * p :, 2 * p :] = x  # the whole border on the top and left
return out
""",
    ),
    "flipped_kernel": (
        "conv2d_forward",
        "item",
        """
N, C, H, W = x.shape
K, C_w, f, _ = w.shape
if C_w != C:
    raise ValueError("depth mismatch")
for size in (H, W):
    if size - f + 2 * padding < 0 or (size - f + 2 * padding) % stride:
        raise ValueError("stride does not fit")
w = w.flip(2, 3)  # the convolution of signal processing, not PyTorch's cross-correlation
windows = F.pad(x, (padding,) * 4).unfold(2, f, stride).unfold(3, f, stride)
out = torch.einsum("nchwuv,kcuv->nkhw", windows, w)
return out if b is None else out + b[:, None, None]
""",
    ),
    "conv1x1_over_wrong_axis": (
        "conv1x1",
        "item",
        """
N, C, H, W = x.shape
return (x.reshape(N, H * W, C) @ w.T).reshape(N, w.shape[0], H, W)  # reshape is not a transpose
""",
    ),
    "backward_kernel_not_flipped": (
        "conv2d_backward",
        "item",
        edit(BACKWARD_FLIPPED, "w.flip(2, 3))", "w)  # forgets to flip the kernel"),
    ),
    "backward_dw_averaged_over_batch": (
        "conv2d_backward",
        "hidden",
        edit(
            BACKWARD_FLIPPED,
            ".sum(dim=(0, 3, 4))",
            ".sum(dim=(3, 4)).mean(dim=0)  # the batch averaged, not summed",
        ),
    ),
    "backward_db_over_wrong_axes": (
        "conv2d_backward",
        "hidden",
        edit(BACKWARD_SCATTER, "db = dout.sum(dim=(0, 2, 3))", "db = dout.sum(dim=(1, 2, 3))  # one value per image"),
    ),
    "backward_ignores_stride": (
        "conv2d_backward",
        "item",
        edit(
            BACKWARD_SCATTER,
            "dxp[:, :, u : u + stride * (Ho - 1) + 1 : stride, v : v + stride * (Wo - 1) + 1 : stride]",
            "dxp[:, :, u : u + Ho, v : v + Wo]",
        ),
    ),
    "backward_does_not_crop_padding": (
        "conv2d_backward",
        "item",
        edit(BACKWARD_SCATTER, "dx = dxp[:, :, padding : padding + H, padding : padding + W]", "dx = dxp"),
    ),
    "backward_mutates_dout": (
        "conv2d_backward",
        "hidden",
        edit(
            edit(
                edit(
                    BACKWARD_SCATTER,
                    "db = dout.sum(dim=(0, 2, 3))",
                    "d = dout.transpose_(0, 1)  # (K, N, Ho, Wo); transpose_ works in place\ndb = d.sum(dim=(1, 2, 3))",
                ),
                '"nkhw,nchwuv->kcuv", dout',
                '"knhw,nchwuv->kcuv", d',
            ),
            '"nkhw,kcuv->nchwuv", dout',
            '"knhw,kcuv->nchwuv", d',
        ),
    ),
}

# Run without nbgrader: one mistake per sentence of the specification that the batch above does
# not already show. name -> (item, cells lost, function body).
solution_variant = gs.Answers(AID).variant


MORE_WRONG = {
    # conv_output_size
    "size_accepts_bools": (
        "conv_output_size",
        "hidden",
        solution_variant(
            "conv_output_size", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    "size_accepts_whole_floats": (
        "conv_output_size",
        "hidden",
        solution_variant(
            "conv_output_size",
            "isinstance(value, bool) or not isinstance(value, int) or value < low",
            "not isinstance(value, (int, float)) or value != int(value) or value < low",
        ).replace("return span // s + 1", "return int(span // s + 1)"),
    ),
    "size_without_fit_check": (
        "conv_output_size",
        "hidden",
        solution_variant("conv_output_size", "if span < 0:", "if False:  # only the stride is checked"),
    ),
    "size_as_float": (
        "conv_output_size",
        "item",
        solution_variant("conv_output_size", "return span // s + 1", "return span / s + 1"),
    ),
    # conv_param_count
    "count_without_validation": (
        "conv_param_count",
        "hidden",
        "return c_out * (c_in * f * f + (1 if bias else 0))\n",
    ),
    "count_bias_compared_with_equality": (
        "conv_param_count",
        "hidden",
        solution_variant(
            "conv_param_count", "if not isinstance(bias, bool):", "if bias not in (True, False):  # 1 == True"
        ),
    ),
    "count_accepts_bools": (
        "conv_param_count",
        "hidden",
        solution_variant(
            "conv_param_count", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    # pad2d
    "pad_checks_only_p_sign": (
        "pad2d",
        "hidden",
        solution_variant("pad2d", "isinstance(p, bool) or not isinstance(p, int) or p < 0", "p < 0"),
    ),
    "pad_loses_float64": (
        "pad2d",
        "hidden",
        solution_variant(
            "pad2d",
            "out = fill.expand(N, C, H + 2 * p, W + 2 * p).clone()",
            "out = torch.zeros(N, C, H + 2 * p, W + 2 * p)  # float32\nout[:] = fill",
        ),
    ),
    "pad_subtracts_mean_in_place": (
        "pad2d",
        "hidden",
        solution_variant(
            "pad2d",
            "    fill = x.mean(dim=(2, 3), keepdim=True)  # (N, C, 1, 1)",
            "    m = x.mean(dim=(2, 3), keepdim=True)\n    x -= m  # changes the caller's x\n"
            "    return F.pad(x, (p, p, p, p)) + m",
        ),
    ),
    "pad_mean_over_whole_batch": (
        "pad2d",
        "hidden",
        solution_variant("pad2d", "fill = x.mean(dim=(2, 3), keepdim=True)", "fill = x.mean().expand(N, C, 1, 1)"),
    ),
    "pad_needs_contiguous_input": (
        "pad2d",
        "hidden",
        solution_variant(
            "pad2d",
            "fill = x.mean(dim=(2, 3), keepdim=True)",
            "fill = x.view(N, C, H * W).mean(dim=2)[:, :, None, None]",
        ),
    ),
    "pad_mode_case_insensitive": (
        "pad2d",
        "hidden",
        solution_variant(
            "pad2d",
            'if mode not in ("zero", "mean"):',
            'mode = str(mode).lower()\nif mode not in ("zero", "mean"):',
        ),
    ),
    "pad_without_rank_check": (
        "pad2d",
        "hidden",
        solution_variant("pad2d", "if not isinstance(x, torch.Tensor) or x.dim() != 4:", "if False:"),
    ),
    # conv2d_forward
    "forward_reshapes_b_in_place": (
        "conv2d_forward",
        "hidden",
        solution_variant(
            "conv2d_forward", "out = out + b.reshape(1, K, 1, 1)", "out = out + b.unsqueeze_(-1).unsqueeze_(-1)"
        ),
    ),
    "forward_loses_float64": (
        "conv2d_forward",
        "hidden",
        solution_variant("conv2d_forward", "\nreturn out", "\nreturn out.float()  # float32, whatever came in"),
    ),
    "forward_accepts_bool_stride": (
        "conv2d_forward",
        "hidden",
        solution_variant(
            "conv2d_forward", "isinstance(value, bool) or not isinstance(value, int)", "not isinstance(value, int)"
        ),
    ),
    "forward_without_bias_shape_check": (
        "conv2d_forward",
        "hidden",
        solution_variant(
            "conv2d_forward", "out = out + b.reshape(1, K, 1, 1)", "out = out + b.reshape(1, -1, 1, 1)"
        ).replace("if b is not None and not", "if False and not"),
    ),
    "forward_without_square_check": (
        "conv2d_forward",
        "hidden",
        solution_variant("conv2d_forward", "if f != f2:", "if False:"),
    ),
    "forward_needs_contiguous_filters": (
        "conv2d_forward",
        "hidden",
        solution_variant(
            "conv2d_forward",
            'out = torch.einsum("nchwuv,kcuv->nkhw", windows, w)',
            "rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(N, -1, C * f * f)  # (N, H'W', C F F)\n"
            "out = (rows @ w.view(K, -1).T).transpose(1, 2).reshape(N, K, *windows.shape[2:4])",
        ),
    ),
    "forward_uses_conv2d": (
        "conv2d_forward",
        "item",
        solution_variant(
            "conv2d_forward",
            'out = torch.einsum("nchwuv,kcuv->nkhw", windows, w)',
            "out = F.conv2d(xp, w, stride=stride)",
        ),
    ),
    # conv1x1
    "conv1x1_needs_contiguous_input": (
        "conv1x1",
        "hidden",
        solution_variant("conv1x1", "x.reshape(N, C, H * W)", "x.view(N, C, H * W)"),
    ),
    "conv1x1_without_validation": (
        "conv1x1",
        "hidden",
        "N, C, H, W = x.shape\nreturn (w @ x.reshape(N, C, H * W)).reshape(N, -1, H, W)\n",
    ),
    "conv1x1_uses_conv2d": ("conv1x1", "item", "return F.conv2d(x, w[:, :, None, None])\n"),
    # conv2d_backward
    "backward_loses_float64": (
        "conv2d_backward",
        "hidden",
        edit(BACKWARD_SCATTER, "dxp = torch.zeros_like(xp)", "dxp = torch.zeros(xp.shape)  # float32"),
    ),
    "backward_without_dout_check": ("conv2d_backward", "hidden", edit(BACKWARD_SCATTER, DOUT_ARGS, "\n")),
    "backward_accepts_bool_stride": (
        "conv2d_backward",
        "hidden",
        edit(BACKWARD_SCATTER, "type(stride) is not int", "not isinstance(stride, int)"),
    ),
    "backward_without_square_check": (
        "conv2d_backward",
        "hidden",
        edit(BACKWARD_SCATTER, "if f != f_w or C_w != C:", "if C_w != C:"),
    ),
    "backward_needs_contiguous_dout": (
        "conv2d_backward",
        "hidden",
        edit(BACKWARD_SCATTER, "db = dout.sum(dim=(0, 2, 3))", "db = dout.view(N, K, Ho * Wo).sum(dim=(0, 2))"),
    ),
    "backward_by_autograd": (
        "conv2d_backward",
        "item",
        CONV_ARGS
        + """
leaves = [t.detach().clone().requires_grad_() for t in (x, w, torch.zeros(K, dtype=x.dtype))]
with torch.enable_grad():
    cols = F.pad(leaves[0], (padding,) * 4).unfold(2, f, stride).unfold(3, f, stride)
    out = torch.einsum("nchwuv,kcuv->nkhw", cols, leaves[1]) + leaves[2][:, None, None]
    return torch.autograd.grad(out, leaves, dout)
""",
    ),
    "backward_by_tensor_backward": (
        "conv2d_backward",
        "item",
        CONV_ARGS
        + """
leaves = [t.detach().clone().requires_grad_() for t in (x, w, torch.zeros(K, dtype=x.dtype))]
with torch.enable_grad():
    cols = F.pad(leaves[0], (padding,) * 4).unfold(2, f, stride).unfold(3, f, stride)
    out = torch.einsum("nchwuv,kcuv->nkhw", cols, leaves[1]) + leaves[2][:, None, None]
    (out * dout).sum().backward()
return tuple(t.grad for t in leaves)
""",
    ),
    "backward_by_conv_transpose": (
        "conv2d_backward",
        "item",
        edit(
            BACKWARD_SCATTER,
            "dx = dxp[:, :, padding : padding + H, padding : padding + W]",
            "dx = F.conv_transpose2d(dout, w, stride=stride, padding=padding)",
        ),
    ),
    "backward_by_fold": (
        "conv2d_backward",
        "item",
        edit(
            BACKWARD_SCATTER,
            "dx = dxp[:, :, padding : padding + H, padding : padding + W]",
            "cols_back = back.permute(0, 1, 4, 5, 2, 3).reshape(N, C * f * f, Ho * Wo)\n"
            "dx = F.fold(cols_back, (H + 2 * padding, W + 2 * padding), f, stride=stride)"
            "[:, :, padding : padding + H, padding : padding + W]",
        ),
    ),
}

# the hostile kinds are graded in tests/test_grading_robustness.py's batch, with more
globals().update(
    gs.suite(
        AID,
        wrong=WRONG,
        more_wrong=MORE_WRONG,
        alternatives=ALTERNATIVES,
        more_alternatives=MORE_ALTERNATIVES,
        hostile=False,
    )
)
