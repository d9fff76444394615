"""Friendly self-checks for the visible tests of the assignments.

Each check raises ``AssertionError`` with what was checked, what was expected, what came,
and a hint, instead of a bare ``assert``. They check answers; they never compute one.

Used by the test kit (utils/testkit.py), whose checks call them first for the friendly message;
no notebook imports them itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _fail(name: str, expected: Any, got: Any, hint: str | None) -> None:
    msg = f"{name}: expected {expected}, got {got}."
    if hint:
        msg += f"\nHint: {hint}"
    raise AssertionError(msg)


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _mismatch(got: Any, expected: Any, where: str) -> tuple[str, str] | None:
    """(expected, got) descriptions of the first difference between got and expected, or None.

    The type rules apply at every depth of a tuple or list: an int must be an int, a bool a
    bool, a tuple a tuple (a ``torch.Size`` is one) and a list a list, of the same length.
    """
    at = f" at {where}" if where else ""
    if isinstance(expected, bool):
        if not isinstance(got, bool):
            return f"a bool ({expected!r}){at}", _describe(got)
    elif isinstance(expected, int):
        if isinstance(got, bool) or not isinstance(got, int):
            return f"an int ({expected!r}){at}", _describe(got)
    elif isinstance(expected, (tuple, list)):
        kind = "tuple" if isinstance(expected, tuple) else "list"
        if not isinstance(got, tuple if kind == "tuple" else list):
            return f"a {kind} of {len(expected)} ({expected!r}){at}", _describe(got)
        if len(got) != len(expected):
            return f"a {kind} of length {len(expected)} ({expected!r}){at}", f"length {len(got)}: {got!r}"
        for i, (g, e) in enumerate(zip(got, expected)):
            found = _mismatch(g, e, f"{where}[{i}]")
            if found:
                return found
        return None
    if got != expected:
        return f"{expected!r}{at}", repr(got)
    return None


def check_equal(name: str, got: Any, expected: Any, hint: str | None = None) -> None:
    """Check ``got == expected``; when ``expected`` is an int, ``got`` must be an int too.

    (``4.0 == 4`` and ``True == 1`` in Python, but a size of ``4.0`` is a wrong answer.) The
    same holds inside tuples and lists, at any depth: for an expected ``(4, 4)``, ``got`` must
    be a tuple (``torch.Size`` is one) of two ints; ``[4, 4]`` and ``(4.0, 4.0)`` fail. An
    expected bool needs a bool.

    Raises:
        AssertionError: naming ``name``, the expected value (and where in a tuple it differs),
            what came, and the hint.
    """
    found = _mismatch(got, expected, "")
    if found:
        _fail(name, found[0], found[1], hint)


def check_shape(name: str, got, expected: tuple, hint: str | None = None) -> None:
    """Check that tensor ``got`` has shape ``expected`` (a tuple of ints, e.g. ``(2, 3, 4, 4)``)."""
    if not isinstance(expected, (tuple, list)) or not all(isinstance(s, int) for s in expected):
        raise ValueError(f"expected must be a shape, a tuple of ints like (2, 3), got {expected!r}")
    shape = getattr(got, "shape", None)
    if shape is None:
        _fail(name, f"a tensor of shape {tuple(expected)}", f"{type(got).__name__} (no .shape)", hint)
    if tuple(shape) != tuple(expected):
        _fail(name + " shape", tuple(expected), tuple(shape), hint)


def check_close(name: str, got, expected, atol: float = 1e-5, rtol: float = 1e-5, hint: str | None = None) -> None:
    """Check that tensor ``got`` matches ``expected`` in shape and within ``atol + rtol*|expected|``."""
    import torch

    if not (atol >= 0 and rtol >= 0):
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol!r}, rtol={rtol!r}")
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
    """Check that calling ``fn()`` raises ``exc`` (an exception class, or a tuple of them)."""
    if not callable(fn):
        raise ValueError(f"fn must be a function to call, got {type(fn).__name__}; wrap the call: lambda: f(x)")
    try:
        fn()
    except exc:
        return
    except Exception as other:  # noqa: BLE001 - report what came instead
        _fail(name, f"{exc.__name__} to be raised", f"{type(other).__name__}: {other}", hint)
    _fail(name, f"{exc.__name__} to be raised", "no error", hint)
