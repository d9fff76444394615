"""The lecture's numbers, *measured* on real PyTorch modules.

Nothing here is a closed-form formula: every function runs (or inspects) the module it is
given. Students derive the formulas in the assignments and check them against these.

Introduced in: 02_convolution.ipynb (output_shape, param_count),
03_receptive_fields.ipynb (receptive_field), 05_conv1d_3d.ipynb (flops, activation_memory).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import NamedTuple


def _check_shape(input_shape) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
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


def output_shape(module, input_shape: Sequence[int]) -> tuple[int, ...]:
    """The shape of ``module(x)`` for an ``x`` of ``input_shape``, found by running it.

    Args:
        module (nn.Module): any module; it is run in eval mode on zeros, without gradients,
            and left as it was.
        input_shape: e.g. ``(N, C, H, W)``.

    Returns:
        tuple of ints, e.g. ``(N, K, H', W')``.

    Raises:
        ValueError: the module cannot take that shape (PyTorch's message is included).
    """
    import torch

    shape = _check_shape(input_shape)
    param = next(module.parameters(), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else "cpu"
    with _EvalMode(module), torch.no_grad():
        try:
            out = module(torch.zeros(shape, dtype=dtype, device=device))
        except RuntimeError as exc:
            raise ValueError(f"{type(module).__name__} cannot take an input of shape {shape}: {exc}") from exc
    return tuple(out.shape)


def param_count(module, trainable_only: bool = False) -> int:
    """Number of parameters (weights and biases) of ``module``.

    Args:
        module (nn.Module): the module to count.
        trainable_only (bool): count only parameters with ``requires_grad``. Default: False.
    """
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
    random inputs; several samples let every position of a max-pool window win once.

    Args:
        module (nn.Module): a network mapping ``(N, C, *spatial)`` to ``(N, K, *spatial')``;
            it is not changed.
        input_shape: ``(N, C, *spatial)``; N is ignored (``samples`` inputs are used).
        position: output index along each spatial axis (default: the centre).
        channel: output channel to follow (default: the sum of all channels).
        samples (int): random inputs whose gradients are combined. Default: 8.
        seed (int): seed of those inputs. Default: 0.

    Returns:
        ReceptiveField(size, start, grad) with ``grad`` of shape ``(*spatial)``.
    """
    import torch

    shape = _check_shape(input_shape)
    if len(shape) < 3:
        raise ValueError(f"input_shape needs at least one spatial axis (N, C, L...), got {shape}")
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
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=gen) + 0.1).requires_grad_(True)
    out = net(x)
    spatial_out = tuple(out.shape[2:])
    if position is None:
        position = tuple(s // 2 for s in spatial_out)
    position = tuple(int(p) for p in position)
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
    convolutions are counted; element-wise operations (ReLU, pooling, BN) are not.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    shape = _check_shape(input_shape)
    with _EvalMode(module), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(torch.zeros(shape))
    return int(counter.get_total_flops())


def activation_memory(module, input_shape: Sequence[int]) -> int:
    """Bytes of the outputs of every leaf module in one forward pass (the activations kept for backward).

    Args:
        module (nn.Module): the network.
        input_shape: e.g. ``(N, C, H, W)`` or ``(N, C, D, H, W)``.
    """
    import torch

    shape = _check_shape(input_shape)
    total = 0

    def hook(_m, _inp, out):
        nonlocal total
        if isinstance(out, torch.Tensor):
            total += out.numel() * out.element_size()

    leaves = [m for m in module.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with _EvalMode(module), torch.no_grad():
            module(torch.zeros(shape))
    finally:
        for h in handles:
            h.remove()
    return total
