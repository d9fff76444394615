"""Grading a3_normalization end to end, on a temporary copy of the course (tests/gradingsuite.py).

One batch is graded once with `python -m grading autograde` (sandboxed, parallel): the solution
scores full marks, the release zero, each wrong answer below loses exactly the points of the
cells its mistake breaks, the correct answers written differently score full marks, and the
hostile kinds of gradinglib.hostile_submissions get their exact scores. Many more variants, one
per sentence of each item's specification and per "Wrong:" answer of the issue, run the same
test cells without nbgrader (one process). Expected scores are derived from the points of the
source notebook, never typed in.
"""

from __future__ import annotations

import gradingsuite as gs

AID = "a3_normalization"
ANS = gs.Answers(AID)
variant = ANS.variant

# -- pieces of answers ---------------------------------------------------------------------------------

BN_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim not in (2, 4):
    raise ValueError("x must be (N, D) or (N, C, H, W)")
C = x.shape[1]
for t in (gamma, beta, running_mean, running_var):
    if not isinstance(t, torch.Tensor) or t.shape != (C,):
        raise ValueError("gamma, beta and the running statistics must be (C,)")
m = x.numel() // C
if training and m < 2:
    raise ValueError("one value per channel")
"""

BNB_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim not in (2, 4):
    raise ValueError("x must be (N, D) or (N, C, H, W)")
if not isinstance(dout, torch.Tensor) or dout.shape != x.shape:
    raise ValueError("dout must have the shape of x")
C = x.shape[1]
if not isinstance(gamma, torch.Tensor) or gamma.shape != (C,):
    raise ValueError("gamma must be (C,)")
"""

LN_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim < 2:
    raise ValueError("x needs a batch axis")
if not all(isinstance(t, torch.Tensor) and t.shape == x.shape[1:] for t in (gamma, beta)):
    raise ValueError("gamma and beta must be shaped like x.shape[1:]")
"""

IN_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim != 4:
    raise ValueError("x must be (N, C, H, W)")
N, C, H, W = x.shape
if H * W < 2:
    raise ValueError("one value per map")
"""

GN_ARGS = """
if not isinstance(x, torch.Tensor) or x.ndim != 4:
    raise ValueError("x must be (N, C, H, W)")
N, C, H, W = x.shape
if type(num_groups) is not int or num_groups < 1 or C % num_groups != 0:
    raise ValueError("num_groups must divide C")
if not all(isinstance(t, torch.Tensor) and t.shape == (C,) for t in (gamma, beta)):
    raise ValueError("gamma and beta must be (C,)")
G = num_groups
"""

BN_TRANSPOSED = (
    BN_ARGS
    + """
rows = x.transpose(0, 1).reshape(C, -1) if x.ndim == 2 else x.transpose(0, 1).reshape(C, -1)  # (C, m)
if training:
    var, mean = torch.var_mean(rows, dim=1, correction=0)
    new_mean = running_mean + momentum * (mean - running_mean)
    new_var = running_var + momentum * (rows.var(dim=1) - running_var)  # var(dim=1) is the unbiased one
else:
    mean, var, new_mean, new_var = running_mean, running_var, running_mean.clone(), running_var.clone()
view = (1, C) + (1,) * (x.ndim - 2)
out = (x - mean.view(view)) * torch.rsqrt(var.view(view) + eps)
return out * gamma.view(view) + beta.view(view), new_mean, new_var
"""
)

BN_MOMENTS = (
    BN_ARGS
    + """
dims = [0] + list(range(2, x.ndim))
if training:
    mean = x.mean(dim=dims)
    var = (x * x).mean(dim=dims) - mean**2  # E[x^2] - E[x]^2: the biased variance
    new = ((1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var * m / (m - 1))
else:
    mean, var = running_mean, running_var
    new = (running_mean + 0, running_var + 0)
shape = [1] * x.ndim
shape[1] = C
scale = gamma / torch.sqrt(var + eps)  # (C,): the whole affine map in one scale and one shift
return x * scale.reshape(shape) + (beta - mean * scale).reshape(shape), new[0], new[1]
"""
)

BN_LOOP = (
    BN_ARGS
    + """
out = torch.empty_like(x, memory_format=torch.contiguous_format)
new_mean, new_var = running_mean.clone(), running_var.clone()
for c in range(C):
    values = x[:, c]  # (N,) or (N, H, W)
    if training:
        mu, var = values.mean(), ((values - values.mean()) ** 2).mean()
        new_mean[c] = (1 - momentum) * running_mean[c] + momentum * mu
        new_var[c] = (1 - momentum) * running_var[c] + momentum * values.var()
    else:
        mu, var = running_mean[c], running_var[c]
    out[:, c] = gamma[c] * (values - mu) / (var + eps).sqrt() + beta[c]
return out, new_mean, new_var
"""
)

BNB_STAGED = (
    BNB_ARGS
    + """
dims = (0,) if x.ndim == 2 else (0, 2, 3)
m = x.numel() // C
shape = (1, C) if x.ndim == 2 else (1, C, 1, 1)
mu = x.mean(dim=dims, keepdim=True)
var = ((x - mu) ** 2).mean(dim=dims, keepdim=True)
s = torch.sqrt(var + eps)
x_hat = (x - mu) / s
g = dout * gamma.reshape(shape)  # dL/dx_hat
dvar = (g * (x - mu)).sum(dim=dims, keepdim=True) * -0.5 * s**-3
dmu = -(g / s).sum(dim=dims, keepdim=True) + dvar * (-2.0 / m) * (x - mu).sum(dim=dims, keepdim=True)
dx = g / s + dvar * 2 * (x - mu) / m + dmu / m
return dx, (dout * x_hat).sum(dim=dims), dout.sum(dim=dims)
"""
)

BNB_MEANS = (
    BNB_ARGS
    + """
flat = x.transpose(0, 1).reshape(C, -1)  # (C, m)
d = dout.transpose(0, 1).reshape(C, -1)
var, mean = torch.var_mean(flat, dim=1, correction=0, keepdim=True)
inv = (var + eps).rsqrt()
x_hat = (flat - mean) * inv
dx = gamma[:, None] * inv * (d - d.mean(dim=1, keepdim=True) - x_hat * (d * x_hat).mean(dim=1, keepdim=True))
shape = (x.shape[1], x.shape[0]) + tuple(x.shape[2:])
return dx.reshape(shape).transpose(0, 1), (d * x_hat).sum(dim=1), d.sum(dim=1)
"""
)

LN_FLAT = (
    LN_ARGS
    + """
flat = x.reshape(x.shape[0], -1)  # (N, D): every value of one sample in a row
var, mean = torch.var_mean(flat, dim=1, correction=0, keepdim=True)
x_hat = ((flat - mean) / torch.sqrt(var + eps)).reshape(x.shape)
return x_hat * gamma + beta
"""
)

IN_FLAT = (
    IN_ARGS
    + """
maps = x.reshape(N, C, H * W)
var, mean = torch.var_mean(maps, dim=2, correction=0, keepdim=True)
return ((maps - mean) * torch.rsqrt(var + eps)).reshape(N, C, H, W)
"""
)

GN_FIVE_D = (
    GN_ARGS
    + """
groups = x.reshape(N, G, C // G, H, W)
mean = groups.mean(dim=(2, 3, 4), keepdim=True)
var = ((groups - mean) ** 2).mean(dim=(2, 3, 4), keepdim=True)
x_hat = ((groups - mean) / torch.sqrt(var + eps)).reshape(N, C, H, W)
return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
"""
)

GN_LOOP = (
    GN_ARGS
    + """
size = C // G
parts = []
for g in range(G):
    block = x[:, g * size : (g + 1) * size]  # (N, C/G, H, W): neighbouring channels
    mean = block.mean(dim=(1, 2, 3), keepdim=True)
    var = block.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    parts.append((block - mean) / (var + eps) ** 0.5)
return torch.cat(parts, dim=1) * gamma.view(1, C, 1, 1) + beta.view(1, C, 1, 1)
"""
)

# -- correct answers, written differently (nbgrader batch): student -> {item: body} ---------------------

ALTERNATIVES = {
    "var_mean_and_staged_gradients": {
        "batchnorm_forward": BN_TRANSPOSED,
        "batchnorm_backward": BNB_STAGED,
        "layernorm_forward": LN_FLAT,
        "instancenorm_forward": IN_FLAT,
        "groupnorm_forward": GN_FIVE_D,
    },
    "moments_and_loops": {
        "batchnorm_forward": BN_MOMENTS,
        "batchnorm_backward": BNB_MEANS,
        "groupnorm_forward": GN_LOOP,
    },
}

# More correct answers, run without nbgrader: name -> (item, body).
MORE_ALTERNATIVES = {
    "bn_loop_over_channels": ("batchnorm_forward", BN_LOOP),
    "bn_eval_returns_the_same_tensors": (
        "batchnorm_forward",
        variant(
            "batchnorm_forward",
            "new_mean, new_var = running_mean.clone(), running_var.clone()",
            "new_mean, new_var = running_mean, running_var",
        ),
    ),
    "bnb_einsum_for_2d_and_4d": (
        "batchnorm_backward",
        BNB_ARGS
        + """
x3 = x.reshape(x.shape[0], C, -1)  # (N, C, H*W), H*W = 1 for (N, D)
d3 = dout.reshape(x3.shape)
m = x3.shape[0] * x3.shape[2]
mean = torch.einsum("ncl->c", x3) / m
xc = x3 - mean[None, :, None]
inv = 1 / torch.sqrt(torch.einsum("ncl,ncl->c", xc, xc) / m + eps)
x_hat = xc * inv[None, :, None]
dbeta, dgamma = torch.einsum("ncl->c", d3), torch.einsum("ncl,ncl->c", d3, x_hat)
dx = (gamma * inv / m)[None, :, None] * (m * d3 - dbeta[None, :, None] - x_hat * dgamma[None, :, None])
return dx.reshape(x.shape), dgamma, dbeta
""",
    ),
    "ln_std_and_axes": (
        "layernorm_forward",
        LN_ARGS
        + """
axes = list(range(1, x.ndim))
centred = x - x.mean(dim=axes, keepdim=True)
return gamma * centred / torch.sqrt((centred**2).mean(dim=axes, keepdim=True) + eps) + beta
""",
    ),
    "in_flat": ("instancenorm_forward", IN_FLAT),
    "in_permuted": (
        "instancenorm_forward",
        IN_ARGS
        + """
t = x.permute(2, 3, 0, 1)  # (H, W, N, C)
var, mean = torch.var_mean(t, dim=(0, 1), unbiased=False)
return ((t - mean) / torch.sqrt(var + eps)).permute(2, 3, 0, 1)
""",
    ),
    "gn_unflatten": (
        "groupnorm_forward",
        GN_ARGS
        + """
groups = x.unflatten(1, (G, C // G)).flatten(2)  # (N, G, C/G * H * W)
var, mean = torch.var_mean(groups, dim=-1, correction=0, keepdim=True)
return ((groups - mean) * (var + eps).rsqrt()).reshape(x.shape) * gamma[:, None, None] + beta[:, None, None]
""",
    ),
    "gn_loop": ("groupnorm_forward", GN_LOOP),
}

# -- wrong answers ----------------------------------------------------------------------------------------

BNF_XHAT = "x_hat = (x - mean.reshape(as_x)) / torch.sqrt(var.reshape(as_x) + eps)"
BNF_UPDATE = (
    "new_mean = (1 - momentum) * running_mean + momentum * mean\n"
    "    new_var = (1 - momentum) * running_var + momentum * var * (m / (m - 1))"
)
BNB_DX = "dx = gamma.reshape(mean.shape) * inv_s / m * (m * dout - dbeta - x_hat * dgamma)"
LN_OUT = "return gamma * (x - mean) / torch.sqrt(var + eps) + beta"
IN_OUT = "return (x - mean) / torch.sqrt(var + eps)"
GN_XHAT = "x_hat = ((groups - mean) / torch.sqrt(var + eps)).reshape(N, C, H, W)"

# Graded by the batch: student -> (item, cells lost ("item": all of the item's cells; "hidden": its hidden
# cell), body).
WRONG = {
    "bn_momentum_the_wrong_way_round": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            BNF_UPDATE,
            "new_mean = momentum * running_mean + (1 - momentum) * mean\n"
            "    new_var = momentum * running_var + (1 - momentum) * var * (m / (m - 1))",
        ),
    ),
    "bn_changes_x_in_place": (
        "batchnorm_forward",
        "hidden",
        variant(
            "batchnorm_forward",
            BNF_XHAT,
            "x_hat = x.sub_(mean.reshape(as_x)).div_(torch.sqrt(var.reshape(as_x) + eps))",
        ),
    ),
    "bnb_drops_the_mean_and_variance_terms": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", BNB_DX, "dx = gamma.reshape(mean.shape) * inv_s * dout"),
    ),
    "ln_over_the_last_axis_only": (
        "layernorm_forward",
        "item",
        variant("layernorm_forward", "axes = tuple(range(1, x.dim()))", "axes = (-1,)"),
    ),
    "in_statistics_over_the_batch": (
        "instancenorm_forward",
        "item",
        variant(
            "instancenorm_forward",
            "mean = x.mean(dim=(2, 3), keepdim=True)",
            "mean = x.mean(dim=(0, 2, 3), keepdim=True)",
        ).replace(
            "var = x.var(dim=(2, 3), correction=0, keepdim=True)",
            "var = x.var(dim=(0, 2, 3), correction=0, keepdim=True)",
        ),
    ),
    "gn_interleaved_groups": (
        "groupnorm_forward",
        "item",
        GN_ARGS
        + """
cards = x.reshape(N, C // G, G, H * W)  # channel c in group c % G
mean = cards.mean(dim=(1, 3), keepdim=True)
var = cards.var(dim=(1, 3), correction=0, keepdim=True)
x_hat = ((cards - mean) / torch.sqrt(var + eps)).reshape(N, C, H, W)
return gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)
""",
    ),
    "gn_statistics_across_the_batch": (
        "groupnorm_forward",
        "hidden",
        variant(
            "groupnorm_forward",
            "mean = groups.mean(dim=2, keepdim=True)",
            "mean = groups.mean(dim=(0, 2), keepdim=True)",
        ).replace(
            "var = groups.var(dim=2, correction=0, keepdim=True)",
            "var = groups.var(dim=(0, 2), correction=0, keepdim=True)",
        ),
    ),
}

MORE_WRONG = {
    # batchnorm_forward
    "bn_unbiased_variance_in_the_normalization": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            BNF_XHAT,
            "used = var * m / (m - 1) if training else var\n" + BNF_XHAT.replace("var.reshape", "used.reshape"),
        ),
    ),
    "bn_biased_variance_in_the_running_average": (
        "batchnorm_forward",
        "item",
        variant("batchnorm_forward", "momentum * var * (m / (m - 1))", "momentum * var"),
    ),
    "bn_momentum_weighs_only_the_mean_the_right_way": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            "new_var = (1 - momentum) * running_var + momentum * var * (m / (m - 1))",
            "new_var = momentum * running_var + (1 - momentum) * var * (m / (m - 1))",
        ),
    ),
    "bn_maps_per_position_over_n_only": (
        "batchnorm_forward",
        "item",
        BN_ARGS
        + """
mean = x.mean(dim=0, keepdim=True)  # (1, C) or (1, C, H, W): one mean per position, not per channel
var = x.var(dim=0, correction=0, keepdim=True)
per_channel = [0] + list(range(2, x.ndim))
if training:
    new = (
        (1 - momentum) * running_mean + momentum * x.mean(dim=per_channel),
        (1 - momentum) * running_var + momentum * x.var(dim=per_channel),
    )
    centre, spread = mean, var
else:
    new = (running_mean.clone(), running_var.clone())
    shape = [1, C] + [1] * (x.ndim - 2)
    centre, spread = running_mean.reshape(shape), running_var.reshape(shape)
shape = [1, C] + [1] * (x.ndim - 2)
return gamma.reshape(shape) * (x - centre) / torch.sqrt(spread + eps) + beta.reshape(shape), new[0], new[1]
""",
    ),
    "bn_unbiased_factor_from_n_for_maps": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward", "momentum * var * (m / (m - 1))", "momentum * var * (x.shape[0] / (x.shape[0] - 1))"
        ),
    ),
    "bn_maps_over_h_and_w_only": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward", "axes = (0,) if x.dim() == 2 else (0, 2, 3)", "axes = (0,) if x.dim() == 2 else (2, 3)"
        )
        .replace("mean = x.mean(dim=axes)  # (C,)", "mean = x.mean(dim=axes, keepdim=True)  # per image")
        .replace("var = x.var(dim=axes, correction=0)", "var = x.var(dim=axes, correction=0, keepdim=True)")
        .replace(
            "new_mean = (1 - momentum) * running_mean + momentum * mean",
            "new_mean = (1 - momentum) * running_mean + momentum * mean.mean(dim=0).reshape(C)",
        )
        .replace("momentum * var * (m / (m - 1))", "momentum * var.mean(dim=0).reshape(C) * (m / (m - 1))")
        .replace("mean.reshape(as_x)", "(mean.reshape(as_x) if not training or x.dim() == 2 else mean)")
        .replace("var.reshape(as_x)", "(var.reshape(as_x) if not training or x.dim() == 2 else var)"),
    ),
    "bn_over_every_axis": (
        "batchnorm_forward",
        "item",
        variant("batchnorm_forward", "mean = x.mean(dim=axes)  # (C,)", "mean = x.mean().expand(C)").replace(
            "var = x.var(dim=axes, correction=0)", "var = x.var(correction=0).expand(C)"
        ),
    ),
    "bn_batch_statistics_in_eval_mode": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            "mean, var = running_mean, running_var\n",
            "mean, var = x.mean(dim=axes), x.var(dim=axes, correction=0)\n",
        ),
    ),
    "bn_eval_mode_updates_the_running_statistics": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            "new_mean, new_var = running_mean.clone(), running_var.clone()",
            "new_mean = (1 - momentum) * running_mean + momentum * x.mean(dim=axes)\n"
            "    new_var = (1 - momentum) * running_var + momentum * x.var(dim=axes)",
        ),
    ),
    "bn_eps_outside_the_square_root": (
        "batchnorm_forward",
        "item",
        variant("batchnorm_forward", "torch.sqrt(var.reshape(as_x) + eps)", "(torch.sqrt(var.reshape(as_x)) + eps)"),
    ),
    "bn_updates_the_running_statistics_in_place": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            BNF_UPDATE,
            "new_mean = running_mean.mul_(1 - momentum).add_(momentum * mean)\n"
            "    new_var = running_var.mul_(1 - momentum).add_(momentum * var * (m / (m - 1)))",
        ),
    ),
    "bn_without_the_single_value_check": (
        "batchnorm_forward",
        "item",
        variant("batchnorm_forward", "if m == 1:", "if False:").replace("(m / (m - 1))", "(m / max(m - 1, 1))"),
    ),
    "bn_checks_only_gamma_and_beta": (
        "batchnorm_forward",
        "hidden",
        variant(
            "batchnorm_forward",
            '(("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var))',
            '(("gamma", gamma), ("beta", beta))',
        ),
    ),
    "bn_accepts_any_number_of_dimensions": (
        "batchnorm_forward",
        "hidden",
        variant("batchnorm_forward", "x.dim() not in (2, 4)", "x.dim() < 2")
        .replace("axes = (0,) if x.dim() == 2 else (0, 2, 3)", "axes = (0, *range(2, x.dim()))")
        .replace("as_x = (1, C) if x.dim() == 2 else (1, C, 1, 1)", "as_x = (1, C) + (1,) * (x.dim() - 2)"),
    ),
    "bn_loses_float64": (
        "batchnorm_forward",
        "hidden",
        variant("batchnorm_forward", BNF_XHAT, BNF_XHAT + ".float()"),
    ),
    "bn_float32_statistics": (
        "batchnorm_forward",
        "hidden",
        variant(
            "batchnorm_forward",
            "var = x.var(dim=axes, correction=0)",
            "var = x.float().var(dim=axes, correction=0).to(x.dtype)",
        ),
    ),
    "bn_needs_contiguous_input": (
        "batchnorm_forward",
        "hidden",
        variant("batchnorm_forward", "m = x.numel() // C  # values per channel", "m = x.view(-1).numel() // C"),
    ),
    "bn_ignores_eps": (
        "batchnorm_forward",
        "item",
        variant("batchnorm_forward", "torch.sqrt(var.reshape(as_x) + eps)", "torch.sqrt(var.reshape(as_x) + 1e-5)"),
    ),
    "bn_default_eps_1e-3": (
        "batchnorm_forward",
        "item",
        variant(
            "batchnorm_forward",
            "torch.sqrt(var.reshape(as_x) + eps)",
            "torch.sqrt(var.reshape(as_x) + (1e-3 if eps == 1e-5 else eps))",
        ),
    ),
    "bn_uses_torch_batch_norm": (
        "batchnorm_forward",
        "item",
        BN_ARGS
        + """
mean, var = running_mean.clone(), running_var.clone()
return F.batch_norm(x, mean, var, gamma, beta, training, momentum, eps), mean, var
""",
    ),
    # batchnorm_backward
    "bnb_drops_the_variance_term": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", BNB_DX, "dx = gamma.reshape(mean.shape) * inv_s / m * (m * dout - dbeta)"),
    ),
    "bnb_drops_the_mean_term": (
        "batchnorm_backward",
        "item",
        variant(
            "batchnorm_backward", BNB_DX, "dx = gamma.reshape(mean.shape) * inv_s / m * (m * dout - x_hat * dgamma)"
        ),
    ),
    "bnb_unbiased_variance": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", "x.var(dim=axes, correction=0, keepdim=True)", "x.var(dim=axes, keepdim=True)"),
    ),
    "bnb_dgamma_of_x_not_x_hat": (
        "batchnorm_backward",
        "item",
        variant(
            "batchnorm_backward",
            "dgamma = (dout * x_hat).sum(dim=axes, keepdim=True)",
            "dgamma = (dout * x).sum(dim=axes, keepdim=True)",
        ),
    ),
    "bnb_m_is_n_for_maps": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", "m = x.numel() // C", "m = x.shape[0]"),
    ),
    "bnb_forgets_gamma": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", "dx = gamma.reshape(mean.shape) * inv_s", "dx = inv_s"),
    ),
    "bnb_by_autograd": (
        "batchnorm_backward",
        "item",
        BNB_ARGS
        + """
dims = (0,) if x.ndim == 2 else (0, 2, 3)
leaves = [t.detach().clone().requires_grad_() for t in (x, gamma, torch.zeros_like(gamma))]
with torch.enable_grad():
    shape = (1, C) if x.ndim == 2 else (1, C, 1, 1)
    mu, var = leaves[0].mean(dim=dims, keepdim=True), leaves[0].var(dim=dims, correction=0, keepdim=True)
    out = leaves[1].reshape(shape) * (leaves[0] - mu) / torch.sqrt(var + eps) + leaves[2].reshape(shape)
    return torch.autograd.grad(out, leaves, dout)
""",
    ),
    "bnb_eps_outside_the_square_root": (
        "batchnorm_backward",
        "hidden",
        variant(
            "batchnorm_backward",
            "torch.rsqrt(x.var(dim=axes, correction=0, keepdim=True) + eps)",
            "1 / (x.std(dim=axes, correction=0, keepdim=True) + eps)",
        ),
    ),
    "bnb_without_the_dout_check": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", "dout.shape != x.shape", "False"),
    ),
    "bnb_checks_only_the_size_of_dout": (
        "batchnorm_backward",
        "item",
        variant("batchnorm_backward", "dout.shape != x.shape", "dout.numel() != x.numel()").replace(
            "axes = (0,) if x.dim() == 2 else (0, 2, 3)",
            "dout = dout.reshape(x.shape)\naxes = (0,) if x.dim() == 2 else (0, 2, 3)",
        ),
    ),
    "bnb_accepts_broadcastable_gamma": (
        "batchnorm_backward",
        "hidden",
        variant("batchnorm_backward", "tuple(gamma.shape) != (C,)", "gamma.numel() != C").replace(
            "gamma.reshape(mean.shape)", "gamma.reshape(C).reshape(mean.shape)"
        ),
    ),
    "bnb_changes_dout_in_place": (
        "batchnorm_backward",
        "hidden",
        variant("batchnorm_backward", "(m * dout - dbeta", "(dout.mul_(m) - dbeta"),
    ),
    "bnb_loses_float64": (
        "batchnorm_backward",
        "hidden",
        variant(
            "batchnorm_backward",
            "return dx, dgamma.reshape(C), dbeta.reshape(C)",
            "return dx.float(), dgamma.reshape(C).float(), dbeta.reshape(C).float()",
        ),
    ),
    "bnb_needs_contiguous_input": (
        "batchnorm_backward",
        "hidden",
        variant("batchnorm_backward", "m = x.numel() // C", "m = x.view(-1).numel() // C\ndout = dout.view(x.shape)"),
    ),
    "bnb_ignores_eps": (
        "batchnorm_backward",
        "hidden",
        variant("batchnorm_backward", "keepdim=True) + eps)", "keepdim=True) + 1e-5)"),
    ),
    # layernorm_forward
    "ln_over_the_batch": (
        "layernorm_forward",
        "item",
        variant("layernorm_forward", "axes = tuple(range(1, x.dim()))", "axes = (0,)"),
    ),
    "ln_unbiased_variance": (
        "layernorm_forward",
        "item",
        variant(
            "layernorm_forward",
            "var = x.var(dim=axes, correction=0, keepdim=True)",
            "var = x.var(dim=axes, keepdim=True)",
        ),
    ),
    "ln_eps_outside_the_square_root": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", LN_OUT, "return gamma * (x - mean) / (torch.sqrt(var) + eps) + beta"),
    ),
    "ln_accepts_gamma_of_the_right_size": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", "t.shape != x.shape[1:]", "t.numel() != x[0].numel()").replace(
            LN_OUT, "return gamma.reshape(x.shape[1:]) * (x - mean) / torch.sqrt(var + eps) + beta.reshape(x.shape[1:])"
        ),
    ),
    "ln_accepts_a_missing_batch_axis": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", "x.dim() < 2", "x.dim() < 1").replace(
            "axes = tuple(range(1, x.dim()))", "axes = tuple(range(1, x.dim())) or (0,)"
        ),
    ),
    "ln_only_up_to_four_dimensions": (
        "layernorm_forward",
        "hidden",
        variant(
            "layernorm_forward", "axes = tuple(range(1, x.dim()))", "axes = {2: (1,), 3: (1, 2), 4: (1, 2, 3)}[x.dim()]"
        ),
    ),
    "ln_loses_float64": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", LN_OUT, LN_OUT.replace("return gamma", "return gamma.float()")),
    ),
    "ln_needs_contiguous_input": (
        "layernorm_forward",
        "hidden",
        variant(
            "layernorm_forward",
            "mean = x.mean(dim=axes, keepdim=True)",
            "mean = x.view(x.shape[0], -1).mean(dim=1).view(-1, *[1] * (x.dim() - 1))",
        ),
    ),
    "ln_changes_x_in_place": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", LN_OUT, "return gamma * x.sub_(mean).div_(torch.sqrt(var + eps)) + beta"),
    ),
    "ln_ignores_eps": (
        "layernorm_forward",
        "hidden",
        variant("layernorm_forward", LN_OUT, LN_OUT.replace("var + eps", "var + 1e-5")),
    ),
    "ln_uses_torch_layer_norm": (
        "layernorm_forward",
        "item",
        LN_ARGS + "return F.layer_norm(x, x.shape[1:], gamma, beta, eps)\n",
    ),
    # instancenorm_forward
    "in_statistics_over_the_channels_too": (
        "instancenorm_forward",
        "item",
        variant(
            "instancenorm_forward",
            "mean = x.mean(dim=(2, 3), keepdim=True)",
            "mean = x.mean(dim=(1, 2, 3), keepdim=True)",
        ).replace(
            "var = x.var(dim=(2, 3), correction=0, keepdim=True)",
            "var = x.var(dim=(1, 2, 3), correction=0, keepdim=True)",
        ),
    ),
    "in_unbiased_variance": (
        "instancenorm_forward",
        "item",
        variant(
            "instancenorm_forward",
            "var = x.var(dim=(2, 3), correction=0, keepdim=True)",
            "var = x.var(dim=(2, 3), keepdim=True)",
        ),
    ),
    "in_without_the_single_value_check": (
        "instancenorm_forward",
        "item",
        variant("instancenorm_forward", "if x.shape[2] * x.shape[3] == 1:", "if False:"),
    ),
    "in_eps_outside_the_square_root": (
        "instancenorm_forward",
        "hidden",
        variant("instancenorm_forward", IN_OUT, "return (x - mean) / (torch.sqrt(var) + eps)"),
    ),
    "in_accepts_a_single_image": (
        "instancenorm_forward",
        "hidden",
        variant("instancenorm_forward", "x.dim() != 4", "x.dim() not in (3, 4)").replace(
            "if x.shape[2] * x.shape[3] == 1:",
            "if x.dim() == 3:\n    return instancenorm_forward(x[None], eps)[0]\nif x.shape[2] * x.shape[3] == 1:",
        ),
    ),
    "in_loses_float64": (
        "instancenorm_forward",
        "hidden",
        variant("instancenorm_forward", IN_OUT, IN_OUT + ".float()"),
    ),
    "in_needs_contiguous_input": (
        "instancenorm_forward",
        "hidden",
        IN_ARGS
        + """
maps = x.view(N, C, H * W)
var, mean = torch.var_mean(maps, dim=2, correction=0, keepdim=True)
return ((maps - mean) / torch.sqrt(var + eps)).view(N, C, H, W)
""",
    ),
    "in_changes_x_in_place": (
        "instancenorm_forward",
        "hidden",
        variant("instancenorm_forward", IN_OUT, "return x.sub_(mean).div_(torch.sqrt(var + eps))"),
    ),
    "in_ignores_eps": (
        "instancenorm_forward",
        "hidden",
        variant("instancenorm_forward", IN_OUT, "return (x - mean) / torch.sqrt(var + 1e-5)"),
    ),
    "in_uses_torch_instance_norm": ("instancenorm_forward", "item", IN_ARGS + "return F.instance_norm(x, eps=eps)\n"),
    # groupnorm_forward
    "gn_num_groups_taken_as_the_group_size": (
        "groupnorm_forward",
        "item",
        variant(
            "groupnorm_forward",
            "groups = x.reshape(N, num_groups, C // num_groups * H * W)",
            "groups = x.reshape(N, C // num_groups, -1)",
        ),
    ),
    "gn_unbiased_variance": (
        "groupnorm_forward",
        "item",
        variant(
            "groupnorm_forward",
            "var = groups.var(dim=2, correction=0, keepdim=True)",
            "var = groups.var(dim=2, keepdim=True)",
        ),
    ),
    "gn_one_gamma_per_group": (
        "groupnorm_forward",
        "item",
        GN_ARGS.replace("t.shape == (C,)", "t.shape == (G,)").replace("G = num_groups\n", "")
        + """
G = num_groups
groups = x.reshape(N, G, -1)
var, mean = torch.var_mean(groups, dim=2, correction=0, keepdim=True)
return (gamma[None, :, None] * (groups - mean) / torch.sqrt(var + eps) + beta[None, :, None]).reshape(x.shape)
""",
    ),
    "gn_without_the_divisibility_check": (
        "groupnorm_forward",
        "item",
        variant("groupnorm_forward", " or C % num_groups:", ":"),
    ),
    "gn_eps_outside_the_square_root": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", GN_XHAT, GN_XHAT.replace("torch.sqrt(var + eps)", "(torch.sqrt(var) + eps)")),
    ),
    "gn_accepts_bools": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", "isinstance(num_groups, bool) or ", ""),
    ),
    "gn_accepts_whole_floats": (
        "groupnorm_forward",
        "hidden",
        variant(
            "groupnorm_forward",
            "if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 or C % num_groups:",
            "if isinstance(num_groups, float) and num_groups.is_integer():\n"
            "    num_groups = int(num_groups)\n"
            "if isinstance(num_groups, bool) or not isinstance(num_groups, int) or num_groups < 1 or C % num_groups:",
        ),
    ),
    "gn_accepts_broadcastable_gamma": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", "tuple(t.shape) != (C,)", "t.numel() != C").replace(
            "gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)",
            "gamma.reshape(1, C, 1, 1) * x_hat + beta.reshape(1, C, 1, 1)",
        ),
    ),
    "gn_loses_float64": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", GN_XHAT, GN_XHAT + ".float()"),
    ),
    "gn_needs_contiguous_input": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", "groups = x.reshape(", "groups = x.view("),
    ),
    "gn_changes_x_in_place": (
        "groupnorm_forward",
        "hidden",
        variant(
            "groupnorm_forward",
            "groups = x.reshape(N, num_groups, C // num_groups * H * W)",
            "groups = x.view(N, num_groups, -1) if x.is_contiguous() else x.reshape(N, num_groups, -1)",
        ).replace(GN_XHAT, "x_hat = groups.sub_(mean).div_(torch.sqrt(var + eps)).reshape(N, C, H, W)"),
    ),
    "gn_ignores_eps": (
        "groupnorm_forward",
        "hidden",
        variant("groupnorm_forward", GN_XHAT, GN_XHAT.replace("var + eps", "var + 1e-5")),
    ),
    "gn_uses_torch_group_norm": (
        "groupnorm_forward",
        "item",
        GN_ARGS + "return F.group_norm(x, G, gamma, beta, eps)\n",
    ),
}

globals().update(
    gs.suite(
        AID,
        wrong=WRONG,
        more_wrong=MORE_WRONG,
        alternatives=ALTERNATIVES,
        more_alternatives=MORE_ALTERNATIVES,
    )
)
