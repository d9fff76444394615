"""Friendly self-checks for the visible tests of the assignments.

Each check raises ``AssertionError`` with what was checked, what was expected, what came,
and a hint, instead of a bare ``assert``. They check answers; they never compute one.

Introduced in: assignments/a1_convolution
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _fail(name: str, expected: Any, got: Any, hint: str | None) -> None:
    msg = f"{name}: expected {expected}, got {got}."
    if hint:
        msg += f"\nHint: {hint}"
    raise AssertionError(msg)


def check_equal(name: str, got: Any, expected: Any, hint: str | None = None) -> None:
    """Check ``got == expected``; when ``expected`` is an int, ``got`` must be an int too.

    (``4.0 == 4`` and ``True == 1`` in Python, but a size of ``4.0`` is a wrong answer.)
    """
    if isinstance(expected, int) and not isinstance(expected, bool):
        if isinstance(got, bool) or not isinstance(got, int):
            _fail(name, f"an int ({expected!r})", f"{type(got).__name__} {got!r}", hint)
    if got != expected:
        _fail(name, repr(expected), repr(got), hint)


def check_shape(name: str, got, expected: tuple, hint: str | None = None) -> None:
    """Check that tensor ``got`` has shape ``expected``."""
    shape = getattr(got, "shape", None)
    if shape is None:
        _fail(name, f"a tensor of shape {tuple(expected)}", f"{type(got).__name__} (no .shape)", hint)
    if tuple(shape) != tuple(expected):
        _fail(name + " shape", tuple(expected), tuple(shape), hint)


def check_close(name: str, got, expected, atol: float = 1e-5, rtol: float = 1e-5, hint: str | None = None) -> None:
    """Check that tensor ``got`` matches ``expected`` in shape and within ``atol + rtol*|expected|``."""
    import torch

    if not isinstance(got, torch.Tensor):
        _fail(name, "a torch.Tensor", type(got).__name__, hint)
    expected = torch.as_tensor(expected)
    check_shape(name, got, tuple(expected.shape), hint)
    got_f, exp_f = got.detach().double().cpu(), expected.detach().double().cpu()
    if not torch.isfinite(got_f).all():
        _fail(name, "finite values", "NaN or inf", hint)
    err = (got_f - exp_f).abs()
    bad = err > atol + rtol * exp_f.abs()
    if bad.any():
        idx = tuple(int(i) for i in bad.nonzero()[0])
        _fail(
            name,
            f"values within {atol:g} (first mismatch at index {idx}: expected {exp_f[idx].item():.6g})",
            f"{got_f[idx].item():.6g}, max error {err.max().item():.3g}",
            hint,
        )


def check_raises(
    name: str, fn: Callable[[], Any], exc: type[BaseException] = ValueError, hint: str | None = None
) -> None:
    """Check that calling ``fn()`` raises ``exc``."""
    try:
        fn()
    except exc:
        return
    except Exception as other:  # noqa: BLE001 - report what came instead
        _fail(name, f"{exc.__name__} to be raised", f"{type(other).__name__}: {other}", hint)
    _fail(name, f"{exc.__name__} to be raised", "no error", hint)
