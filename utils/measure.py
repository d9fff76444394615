"""The lecture's numbers, *measured* on real PyTorch modules.

Nothing here is a closed-form formula: every function runs (or inspects) the module it is
given. Students derive the formulas in the assignments and check them against these.

Introduced in: 01_history.ipynb (output_shape, param_count, flops),
03_receptive_fields.ipynb (receptive_field), 05_conv1d_conv3d.ipynb (activation_memory).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import NamedTuple


def _check_shape(input_shape) -> tuple[int, ...]:
    import operator

    try:
        if isinstance(input_shape, str) or any(isinstance(s, bool) for s in input_shape):
            raise TypeError
        shape = tuple(operator.index(s) for s in input_shape)  # ints only: 32.0 or "32" is refused
    except TypeError:
        raise ValueError(f"input_shape must be a sequence of ints like (1, 3, 32, 32), got {input_shape!r}") from None
    if len(shape) < 2 or any(s < 1 for s in shape):
        raise ValueError(f"input_shape must be (N, C, ...) with positive sizes, got {shape}")
    return shape


class _EvalMode:
    """Run a module in eval mode (no BN statistic updates, no dropout), then restore its flags."""

    def __init__(self, module):
        self.module = module

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        return self.module

    def __exit__(self, *exc):
        for m, flag in self.flags:
            m.training = flag


def _dtype_device(module):
    """dtype and device of the module's first parameter (else its first floating buffer; else float32, CPU)."""
    import torch

    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float32, torch.device("cpu")


def _check_module(module, fn: str):
    import torch

    if not isinstance(module, torch.nn.Module):
        raise ValueError(f"{fn} needs an nn.Module, got {type(module).__name__}; wrap a function in a module first")


def _forward(module, x, shape):
    """module(x), with PyTorch's RuntimeError (a shape mismatch) turned into a ValueError naming the shape."""
    try:
        return module(x)
    except RuntimeError as exc:
        raise ValueError(
            f"{type(module).__name__} cannot take an input of shape {shape}: {exc}\n"
            "Fix: pass the input_shape the module expects, (N, C, H, W) with the C of its first layer"
        ) from exc


def output_shape(module, input_shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``module(x)`` for an ``x`` of ``input_shape``, found by running it.

    Args:
        module (nn.Module): any module; it is run in eval mode on zeros, without gradients,
            and left as it was.
        input_shape: e.g. ``(N, C, H, W)``; the zeros have the dtype and device of the
            module's first parameter.

    Returns:
        tuple of ints, e.g. ``(N, K, H', W')``.

    Raises:
        ValueError: the module cannot take that shape (PyTorch's message is included).
    """
    import torch

    _check_module(module, "output_shape")
    shape = _check_shape(input_shape)
    dtype, device = _dtype_device(module)
    with _EvalMode(module), torch.no_grad():
        out = _forward(module, torch.zeros(shape, dtype=dtype, device=device), shape)
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{type(module).__name__} returned {type(out).__name__}, not a tensor: it has no one shape")
    return tuple(out.shape)


def param_count(module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``module``.

    Args:
        module (nn.Module): the module to count.
        trainable_only (bool): count only parameters with ``requires_grad``. Default: False.

    Returns:
        int: the number of scalars in every parameter (a shared parameter counts once).
    """
    _check_module(module, "param_count")
    if not isinstance(trainable_only, bool):
        raise ValueError(f"trainable_only must be True or False, got {trainable_only!r}")
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


class ReceptiveField(NamedTuple):
    """Result of :func:`receptive_field`.

    size: extent of the receptive field along each spatial axis, e.g. ``(7, 7)``.
    start: first input index it covers along each axis (it may be clipped by the border).
    grad: ``(*spatial)`` absolute input gradient summed over samples and channels; its
        non-zero entries are the receptive field.
    """

    size: tuple[int, ...]
    start: tuple[int, ...]
    grad: object


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def receptive_field(
    module,
    input_shape: Sequence[int],
    position: Sequence[int] | None = None,
    channel: int | None = None,
    samples: int = 8,
    seed: int = 0,
) -> ReceptiveField:
    """Receptive field of one output unit, measured with autograd.

    The gradient of the output unit at ``position`` with respect to the input is non-zero
    exactly on the input values that unit depends on. To keep a ReLU or a negative weight
    from hiding part of it, the module is measured on a copy whose weights are made
    positive (``|w|``), biases zero and BatchNorm statistics neutral, fed with positive
    random inputs (of the dtype and device of its first parameter); several samples let every
    position of a max-pool window win once.

    Args:
        module (nn.Module): a network mapping ``(N, C, *spatial)`` to ``(N, K, *spatial')``;
            it is not changed.
        input_shape: ``(N, C, *spatial)``; N is ignored (``samples`` inputs are used).
        position: output index along each spatial axis (default: the centre).
        channel (int, optional): output channel to follow, ``0 <= channel < K`` (default: the
            sum of all channels).
        samples (int): random inputs whose gradients are combined, at least 1. Default: 8.
        seed (int): seed of those inputs. Default: 0.

    Returns:
        ReceptiveField(size, start, grad) with ``grad`` of shape ``(*spatial)``.

    Raises:
        ValueError: a bad argument, a module that cannot take ``input_shape``, an output that
            is not ``(N, K, *spatial')``, or a unit that depends on no input.
    """
    import torch

    _check_module(module, "receptive_field")
    shape = _check_shape(input_shape)
    if len(shape) < 3:
        raise ValueError(f"input_shape needs at least one spatial axis (N, C, L...), got {shape}")
    if not _is_int(samples) or samples < 1:
        raise ValueError(f"samples must be a positive int, got {samples!r}")
    if not _is_int(seed) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if channel is not None and not _is_int(channel):
        raise ValueError(f"channel must be None or an int, got {channel!r}")
    shape = (samples,) + shape[1:]
    net = copy.deepcopy(module).eval().requires_grad_(False)  # only the input's gradient is needed
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.copy_(torch.zeros_like(p) if name.endswith("bias") else p.abs() + 1e-3)
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.zero_()
            elif name.endswith("running_var"):
                b.fill_(1.0)
    dtype, device = _dtype_device(net)
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=gen, dtype=dtype) + 0.1).to(device).requires_grad_(True)
    out = _forward(net, x, shape)
    if not isinstance(out, torch.Tensor) or out.dim() != len(shape):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"receptive_field needs an output (N, K, *spatial) with {len(shape) - 2} spatial axes, got {got}; "
            "measure the convolutional part only (e.g. net.features), before any flatten or linear layer"
        )
    n_channels, spatial_out = out.shape[1], tuple(out.shape[2:])
    if channel is not None and not 0 <= channel < n_channels:
        raise ValueError(
            f"channel must be in 0..{n_channels - 1} (the output has K = {n_channels} channels), got {channel}; "
            "leave it None to follow the sum of all channels"
        )
    if position is None:
        position = tuple(s // 2 for s in spatial_out)
    try:
        position = tuple(int(p) for p in position)
    except (TypeError, ValueError):
        raise ValueError(f"position must be a sequence of ints like (3, 3), got {position!r}") from None
    if len(position) != len(spatial_out) or any(not 0 <= p < s for p, s in zip(position, spatial_out)):
        raise ValueError(f"position must index the output's spatial shape {spatial_out}, got {position}")
    picked = out[(slice(None), slice(None) if channel is None else channel) + position]
    picked.sum().backward()
    grad = x.grad.abs().sum(dim=(0, 1))  # (*spatial)
    nz = grad.nonzero()
    if nz.numel() == 0:
        raise ValueError("the chosen output unit does not depend on the input (zero gradient everywhere)")
    lo, hi = nz.min(dim=0).values, nz.max(dim=0).values
    size = tuple(int(h - l + 1) for l, h in zip(lo, hi))
    return ReceptiveField(size=size, start=tuple(int(v) for v in lo), grad=grad.detach())


def flops(module, input_shape: Sequence[int]) -> int:
    """Floating-point operations of one forward pass, counted by ``torch.utils.flop_counter``.

    A multiply-add counts as 2 FLOPs (PyTorch's convention). Only matrix products and
    convolutions are counted; element-wise operations (ReLU, pooling, BN) are not. While
    counting, Transformer layers run their plain path (PyTorch's fused "fast path" and the
    fused attention kernels have no FLOP formula and would count as 0), so attention's
    matrix products are counted too.

    Args:
        module (nn.Module): run once in eval mode, without gradients, on zeros of the dtype and
            device of its first parameter; left as it was.
        input_shape: e.g. ``(N, C, H, W)``; the count grows linearly with N.

    Returns:
        int: FLOPs of the whole batch.

    Raises:
        ValueError: the module cannot take that shape (PyTorch's message is included).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    _check_module(module, "flops")
    shape = _check_shape(input_shape)
    dtype, device = _dtype_device(module)
    x = torch.zeros(shape, dtype=dtype, device=device)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # no fused Transformer block while counting
    try:
        with _EvalMode(module), torch.no_grad(), sdpa_kernel(SDPBackend.MATH):
            with FlopCounterMode(display=False) as counter:
                _forward(module, x, shape)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    return int(counter.get_total_flops())


def _tensors(value):
    """The tensors in a module's output: a tensor, or a tuple/list/dict of them (nested)."""
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v)


def activation_memory(module, input_shape: Sequence[int]) -> int:
    """Bytes of the outputs of every leaf module in one forward pass (the activations kept for backward).

    An output that shares its storage with a tensor already seen is not counted again: an
    in-place operation (``nn.ReLU(inplace=True)``) writes into its input, and a view
    (``nn.Flatten``, ``nn.Identity``) allocates nothing. The input itself is not counted.

    Args:
        module (nn.Module): the network; run once in eval mode, without gradients, on zeros of
            the dtype and device of its first parameter, and left as it was.
        input_shape: e.g. ``(N, C, H, W)`` or ``(N, C, D, H, W)``.

    Returns:
        int: bytes (``numel * element_size`` of each newly allocated output).

    Raises:
        ValueError: the module cannot take that shape (PyTorch's message is included).
    """
    import torch

    _check_module(module, "activation_memory")
    shape = _check_shape(input_shape)
    dtype, device = _dtype_device(module)
    x = torch.zeros(shape, dtype=dtype, device=device)
    seen = {x.untyped_storage().data_ptr()}
    kept = []  # the counted outputs stay alive, so no later output can reuse their memory (and address)
    total = 0

    def hook(_m, _inp, out):
        nonlocal total
        for t in _tensors(out):
            ptr = t.untyped_storage().data_ptr()
            if ptr not in seen:
                seen.add(ptr)
                kept.append(t)
                total += t.numel() * t.element_size()

    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with _EvalMode(module), torch.no_grad():
            _forward(module, x, shape)
    finally:
        for h in handles:
            h.remove()
    return total
