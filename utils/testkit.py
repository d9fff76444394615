"""The test kit `_T` of the assignments: checks with friendly messages, seeded inputs, the rule
"written from scratch", each built on functions captured when the kit is made.

Each assignment's locked `test_kit` cell makes its kit once, before any answer cell runs (it binds
only private names, so the grader makes it once per process)::

    from utils import testkit as _testkit

    def _references(k):          # k: the kit's common helpers (below), for the references to use
        conv2d = torch.conv2d    # captured now: later changes to torch cannot reach it
        def ref_conv2d(x, w):
            k.refuse_inside("_T.ref_conv2d")
            return conv2d(x, w)
        return {"ref_conv2d": ref_conv2d}

    _T = _testkit.make_test_kit(_testkit.convolution_name, aten=("conv2d",), references=_references)

Test cells then call the graded names and compare with the kit: ``_T.check_close("conv2d_forward",
conv2d_forward(x, w), _T.ref_conv2d(x, w))``. When the grader runs the tests in its own process
(grading/bridge.py), the same cell makes the same kit there; only ``from_scratch`` and the helpers
that inspect a student's object (``param_count``, ``trace``...) run in the student's kernel.

Everything a check compares with is captured when ``make_test_kit`` runs: builtins, tensor
methods, PyTorch's functions. A student's later change to torch, numpy, builtins or utils cannot
change what the kit computes. Inside one kernel this is not a security boundary (student code
can reach the kit's closures); the grader's second process is (grading/THREATS.md).

The kit (a named tuple; every name below is an attribute of ``_T``):

- checks, each raising AssertionError with "name: expected ..., got ...", and a hint:
  ``check_equal``, ``check_shape``, ``check_close``, ``check_unchanged``, ``check_differs``,
  ``check_raises``; ``parts`` unpacks a tuple result; ``fail`` raises the kit's message.
- inputs from a seed, never from the global random state: ``generator``, ``randn``, ``images``,
  ``strided`` (the same values in a tensor that is not contiguous), ``tensor``, ``ones``,
  ``zeros``, ``full``; tensor helpers ``copy``, ``shape``, ``dtype``, ``tolist``, ``reshape``,
  ``getitem``, ``scaled``, ``as_dtype``, ``size``, ``range``, ``slice``.
- modules: ``is_module``, ``param_count``, ``trace`` (the calls of named sub-modules).
- ``from_scratch()``: a context manager inside which the banned functions raise.
- ``refuse_inside(label)`` and ``guard()``, for references: a reference refuses to run inside
  ``from_scratch`` (a student's function could call it), and nothing runs under a torch
  function or dispatch mode (such a mode can rewrite every tensor operation).

Introduced in: a1_convolution.ipynb (make_test_kit, convolution_name),
a2_pooling_receptive_fields.ipynb (make_test_kit, layer_name), a3_normalization.ipynb
(make_test_kit, layer_name), a4_dropout_conv1d_conv3d.ipynb (make_test_kit, layer_name).
"""

from __future__ import annotations

import builtins as _bi
import collections
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence

__all__ = ["convolution_name", "layer_name", "make_test_kit"]

IM2COL = ("unfold", "im2col", "fold", "col2im")
NORMS = ("batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm")


def convolution_name(low: str) -> bool:
    """A lower-cased torch name that computes a convolution (or im2col): banned in a1."""
    return ("conv" in low and not low.startswith("_convert")) or low in IM2COL


def layer_name(low: str) -> bool:
    """A lower-cased torch name of a convolution, pooling, dropout or normalization function or
    layer (``batch_norm``, ``nn.BatchNorm2d``...), or of im2col: banned in a2-a4."""
    if low.startswith("_convert") or low.startswith("_check"):
        return False
    return (
        "pool" in low
        or "conv" in low
        or "dropout" in low
        or low in (*IM2COL, "normalize")
        or any(k in low or k.replace("_", "") in low for k in NORMS)
    )


def make_test_kit(
    ban: Callable[[str], bool],
    *,
    aten: Iterable[str] = (),
    autograd: bool = False,
    modules: Sequence[object] = (),
    lazy: dict[str, Sequence[str]] | None = None,
    targets: Sequence[tuple[object, str, str]] = (),
    tolerance: dict[str, float] | None = None,
    references: Callable[[tuple], dict] | None = None,
):
    """The kit `_T`: the common helpers (the module's docstring) and an assignment's references.

    Args:
        ban: which lower-cased names are banned inside ``from_scratch()``: among the attributes of
            torch, torch.nn.functional, torch._C._nn and ``modules``, and the forward of every
            torch.nn layer whose class name it bans.
        aten: names of torch.ops.aten operators banned too (those that exist).
        autograd: ban autograd as well (backward items are derived by hand).
        modules: more modules whose banned names are replaced.
        lazy: modules not to import when the kit is made (an import that costs time in every
            graded kernel), by name, each with the attributes banned whatever their names:
            ``{"torch.utils.flop_counter": ("FlopCounterMode",)}``. Inside ``from_scratch()`` such a
            module cannot be imported; if it already was, its banned names are replaced.
        targets: more ``(owner, attribute, label)`` to ban, whatever their names.
        tolerance: default ``atol`` = ``rtol`` of ``check_close`` per dtype name ("float32",
            "float64"); 1e-5 for both unless given.
        references: ``references(k) -> {name: function}``, given the common helpers ``k``.

    Returns:
        a named tuple ``TestKit``: the common helpers, then the references.
    """
    import torch
    import torch.nn as nn
    from torch.autograd.variable import Variable

    from utils import checks

    delattr, dir, getattr, hasattr, id, isinstance, issubclass, len, list, next, range, repr, setattr = (
        _bi.delattr, _bi.dir, _bi.getattr, _bi.hasattr, _bi.id, _bi.isinstance, _bi.issubclass, _bi.len, _bi.list,
        _bi.next, _bi.range, _bi.repr, _bi.setattr,
    )  # fmt: skip
    slice, sum, tuple, type, vars, zip = _bi.slice, _bi.sum, _bi.tuple, _bi.type, _bi.vars, _bi.zip
    AssertionError, BaseException, Exception, ValueError = (
        _bi.AssertionError, _bi.BaseException, _bi.Exception, _bi.ValueError,
    )  # fmt: skip
    Tensor, TB, Generator, Size = torch.Tensor, torch._C.TensorBase, torch.Generator, torch.Size
    torch_tensor, torch_ones, torch_zeros, torch_full, torch_randn = (
        torch.tensor, torch.ones, torch.zeros, torch.full, torch.randn,
    )  # fmt: skip
    (
        abs_, add, any_, clone, copy_, detach, getitem, gt, item, le, logical_not, mul, numel, permute, reshape,
        size, sub, sum_, to, tolist,
    ) = (
        TB.abs, TB.add, TB.any, TB.clone, TB.copy_, TB.detach, TB.__getitem__, TB.gt, TB.item, TB.le,
        TB.logical_not, TB.mul, TB.numel, TB.permute, TB.reshape, TB.size, TB.sub, TB.sum, TB.to, TB.tolist,
    )  # fmt: skip
    dtype_of = TB.__dict__["dtype"].__get__
    grad_enabled, set_grad_enabled = torch._C.is_grad_enabled, torch._C._set_grad_enabled
    n_modes = (torch._C._len_torch_function_stack, torch._C._len_torch_dispatch_stack)
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    float64 = torch.float64
    tolerances = {dtypes[k]: v for k, v in {"float32": 1e-5, "float64": 1e-5, **(tolerance or {})}.items()}
    Module = nn.Module
    module_parameters, module_hook, module_call = Module.parameters, Module.register_forward_hook, Module.__call__
    friendly_equal, friendly_close, getframe = checks.check_equal, checks.check_close, sys._getframe
    state = {"depth": 0, "used": []}
    if os.environ.get("NBGRADER_EXECUTION"):
        # nbgrader fails a test cell that prints to stderr: a harmless warning raised inside a
        # student's function must not cost points during validate or autograde
        warnings.simplefilter("ignore")

    # -- checks ---------------------------------------------------------------------------------
    def fail(name, expected, got, hint=None):
        """Raise AssertionError("name: expected ..., got ...", and the hint on a line of its own)."""
        raise AssertionError(f"{name}: expected {expected}, got {got}." + (f"\nHint: {hint}" if hint else ""))

    def guard():
        """Refuse to run under a torch function or dispatch mode: it could rewrite every operation."""
        if n_modes[0]() or n_modes[1]():
            raise AssertionError("a torch function or dispatch mode is active; leave it before the tests run")

    def check_equal(name, got, expected, hint=None):
        """got == expected and of exactly its type (an int must be an int, not a bool or a float);
        for ints, bools, strings, tuples and lists."""
        guard()
        if not (type(got) is type(expected) and got == expected):
            friendly_equal(name, got, expected, hint)
            fail(name, repr(expected), f"{type(got).__name__} {got!r}", hint)

    def check_shape(name, got, expected, hint=None):
        """got is a plain torch.Tensor (no subclass) of shape `expected`."""
        guard()
        if type(got) is not Tensor:
            fail(name, f"a torch.Tensor of shape {tuple(expected)}", type(got).__name__, hint)
        if tuple(size(got)) != tuple(expected):
            fail(name + " shape", tuple(expected), tuple(size(got)), hint)

    def check_close(name, got, expected, atol=None, rtol=None, hint=None):
        """got is a plain torch.Tensor of the shape AND dtype of `expected`, every value within
        atol + rtol * |expected| (NaN is never close); atol and rtol default to the kit's tolerance
        for the dtype."""
        check_shape(name, got, tuple(size(expected)), hint)
        if dtype_of(got) != dtype_of(expected):
            hint = "keep the dtype of the input (float64 stays float64)"
            fail(name + " dtype", dtype_of(expected), dtype_of(got), hint)
        default = tolerances.get(dtype_of(expected), 1e-5)
        atol, rtol = default if atol is None else atol, default if rtol is None else rtol
        g, e = to(detach(got), float64), to(detach(expected), float64)
        bad = logical_not(le(abs_(sub(g, e)), add(mul(abs_(e), rtol), atol)))
        if item(any_(bad)):
            friendly_close(name, got, expected, atol, rtol, hint)
            fail(name, f"every value within {atol:g} + {rtol:g} |expected|", f"{item(sum_(bad))} values off", hint)

    def check_unchanged(name, got, before):
        """got (an input after a call) still equals `before`, its copy from before the call."""
        check_close(name, got, before, 0.0, 0.0, "change no input in place: build a new tensor or work on a copy")

    def check_differs(name, got, other, hint=None):
        """got and other (plain tensors of as many values, in any shapes) differ somewhere by more than
        1e-6, their values read in order (an (N, 400) input of a layer against an (N, 16, 5, 5) map)."""
        guard()
        if type(got) is not Tensor:
            fail(name, "a torch.Tensor", type(got).__name__, hint)
        if numel(got) != numel(other):
            fail(name, f"{numel(other)} values", f"{numel(got)} values (shape {tuple(size(got))})", hint)
        g, o = reshape(to(detach(got), float64), (-1,)), reshape(to(detach(other), float64), (-1,))
        if not item(any_(gt(abs_(sub(g, o)), 1e-6))):
            fail(name, "different values", "the same values", hint)

    def check_raises(name, fn, exc=ValueError, hint=None):
        """Calling fn() raises exc (ValueError by default); another exception or none fails."""
        guard()
        try:
            fn()
        except exc:
            return
        except Exception as other:
            fail(name, f"{exc.__name__} to be raised", f"{type(other).__name__}: {other}", hint)
        fail(name, f"{exc.__name__} to be raised", "no error", hint)

    def parts(name, got, n=3, hint=None):
        """got is a tuple (or list) of n values; returns them as a tuple."""
        guard()
        if not (isinstance(got, (tuple, list)) and len(got) == n):
            what = f"{type(got).__name__} of {len(got)}" if isinstance(got, (tuple, list)) else type(got).__name__
            fail(name, f"a tuple of {n} values", what, hint or f"return all {n} results, in the order of the docstring")
        return tuple(got)

    # -- the "from scratch" rule ------------------------------------------------------------------
    # Inside `with _T.from_scratch():` every banned function (and any name in the notebook bound to
    # one of them) is replaced by an object that raises when called.
    banned_targets = []
    for owner in (torch, torch.nn.functional, torch._C._nn, *modules):
        label = owner.__name__
        banned_targets += [(owner, name, f"{label}.{name}") for name in dir(owner) if ban(name.lower())]
    layers = {}  # the class that defines each banned layer's forward (nn.BatchNorm2d's is _BatchNorm's): names
    for name in dir(nn):
        cls = getattr(nn, name)
        if isinstance(cls, type) and issubclass(cls, Module) and ban(name.lower()):
            owner = next((k for k in cls.__mro__ if "forward" in vars(k)), Module)
            if owner is not Module:
                layers.setdefault(owner, []).append(name)
    for owner, names in layers.items():
        more = " / ..." if len(names) > 3 else ""
        banned_targets.append((owner, "forward", "torch.nn." + " / ".join(names[:3]) + more))
    banned_targets += [(torch.ops.aten, n, f"torch.ops.aten.{n}") for n in aten if hasattr(torch.ops.aten, n)]
    if autograd:
        for owner, names in [
            (torch.Tensor, ("backward",)),
            (torch.autograd, ("backward", "grad")),
            (torch.autograd.functional, ("vjp", "jvp", "jacobian", "hessian", "vhp", "hvp")),
            (torch.autograd.forward_ad, ("make_dual",)),
            (torch.func, ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize")),
            (Variable, ("_execution_engine",)),  # where every backward pass runs
        ]:
            label = getattr(owner, "__name__", "torch")
            banned_targets += [(owner, name, f"{label}.{name} (autograd)") for name in names]
    banned_targets += list(targets)
    lazy_modules, sys_modules = list((lazy or {}).items()), sys.modules
    originals = [getattr(owner, name) for owner, name, _ in banned_targets]
    banned = {id(obj): label for obj, (_, _, label) in zip(originals, banned_targets)}

    class Blocked:  # stands for a banned function (or the autograd engine): calling it raises
        def __init__(self, label):
            self.label = label

        def refuse(self, *args, **kwargs):
            state["used"].append(self.label)
            raise AssertionError(f"{self.label} is not allowed here: write it from scratch with tensor operations")

        __call__ = refuse

        def __getattr__(self, name):  # the engine's methods; no dunder or private name (functools.wraps, copy...)
            if name.startswith("_"):
                raise AttributeError(name)
            return self.refuse

    class FromScratch:
        """`with _T.from_scratch():` the banned functions raise; leaving it restores them and fails
        if one was called (even if the student's code caught the error)."""

        def __enter__(self):
            guard()
            self.ns, self.saved, self.saved_ns, self.hidden = getframe(1).f_globals, [], [], []
            try:
                now, ids = list(banned_targets), dict(banned)
                for module_name, names in lazy_modules:
                    module = sys_modules.get(module_name)
                    if module is None:  # not imported (or hidden already): an import inside fails
                        if module_name not in sys_modules:
                            sys_modules[module_name] = None
                            self.hidden.append(module_name)
                        continue
                    for name in dir(module):
                        if ban(name.lower()) or name in names:
                            now.append((module, name, f"{module_name}.{name}"))
                            ids[id(getattr(module, name))] = f"{module_name}.{name}"
                for owner, name, label in now:
                    self.saved.append((owner, name, name in vars(owner), vars(owner).get(name)))
                    setattr(owner, name, Blocked(label))
                for key, value in list(self.ns.items()):
                    if id(value) in ids:
                        self.saved_ns.append((key, value))
                        self.ns[key] = Blocked(ids[id(value)])
            except BaseException:
                self.restore()
                raise
            state["depth"] += 1
            return self

        def restore(self):
            for owner, name, had, old in self.saved[::-1]:
                if had:
                    setattr(owner, name, old)
                else:
                    delattr(owner, name)
            for key, value in self.saved_ns:
                self.ns[key] = value
            for module_name in self.hidden:
                if sys_modules.get(module_name, 0) is None:
                    del sys_modules[module_name]

        def __exit__(self, *exc_info):
            state["depth"] -= 1
            self.restore()
            used, state["used"] = state["used"], []
            if used:
                raise AssertionError(f"{used[0]} was called: this function must be written from scratch")
            return False

    def refuse_inside(label):
        """For a reference: raise (and fail the enclosing from_scratch) when called inside it."""
        if state["depth"]:
            state["used"].append(label)
            raise AssertionError(f"{label} is not allowed here: write it from scratch")
        guard()

    # -- inputs -----------------------------------------------------------------------------------
    def generator(seed):
        """A torch.Generator seeded with `seed` (the global random state is never used)."""
        guard()
        g = Generator()
        g.manual_seed(seed)
        return g

    def randn(shape, seed, dtype="float32", scale=1.0):
        """Standard normal values of `shape` times `scale`, from `seed`."""
        return mul(torch_randn(shape, generator=generator(seed), dtype=dtypes[dtype]), scale)

    def images(shape, seed, dtype="float32"):
        """Random (N, C, H, W) images whose (n, c) channels have clearly different means."""
        return add(randn(shape, seed, dtype), randn((shape[0], shape[1], 1, 1), seed + 1, dtype))

    def strided(t):
        """The values of t in a tensor that is not contiguous in memory: every axis stored in reverse
        order (column-major), so that no two axes can be merged by a view; a vector every other value."""
        shape = tuple(size(t))
        if len(shape) == 1:
            view = getitem(torch_zeros((2 * shape[0],), dtype=dtype_of(t)), slice(None, None, 2))
        else:
            view = permute(torch_zeros(shape[::-1], dtype=dtype_of(t)), tuple(range(len(shape)))[::-1])
        copy_(view, t)
        return view

    # -- modules ----------------------------------------------------------------------------------
    def is_module(obj):
        return isinstance(obj, Module)

    def param_count(model):
        """The number of values in model's parameters (nn.Module.parameters, captured)."""
        guard()
        return sum(numel(p) for p in module_parameters(model))

    def trace(model, x, names):
        """model(x) without autograd, and the calls of its sub-modules `names` in order:
        (output, [(name, the sub-module's first input, its output), ...])."""
        guard()
        calls, handles = [], []
        for name in names:
            hook = lambda module, inputs, output, name=name: calls.append((name, inputs[0], output))  # noqa: E731
            handles.append(module_hook(getattr(model, name), hook))
        was_enabled = grad_enabled()
        set_grad_enabled(False)
        try:
            out = module_call(model, x)
        finally:
            set_grad_enabled(was_enabled)
            for handle in handles:
                handle.remove()
        return out, calls

    common = {
        "fail": fail,
        "guard": guard,
        "check_equal": check_equal,
        "check_shape": check_shape,
        "check_close": check_close,
        "check_unchanged": check_unchanged,
        "check_differs": check_differs,
        "check_raises": check_raises,
        "parts": parts,
        "from_scratch": FromScratch,
        "refuse_inside": refuse_inside,
        "generator": generator,
        "randn": randn,
        "images": images,
        "strided": strided,
        "tensor": lambda data, dtype="float32": torch_tensor(data, dtype=dtypes[dtype]),
        "ones": lambda *shape: torch_ones(shape),
        "zeros": lambda *shape: torch_zeros(shape),
        "full": lambda shape, value, dtype="float32": torch_full(shape, value, dtype=dtypes[dtype]),
        "copy": lambda t: clone(t),
        "shape": lambda t: tuple(size(t)),
        "dtype": lambda t: repr(dtype_of(t)).replace("torch.", ""),
        "tolist": lambda t: tolist(t),
        "reshape": lambda t, shape: reshape(t, shape),
        "getitem": lambda t, index: getitem(t, index),
        "scaled": lambda t, factor: mul(t, factor),
        "as_dtype": lambda t, dtype: to(t, dtypes[dtype]),
        "size": lambda *shape: Size(shape),
        "range": range,
        "slice": slice,
        "is_module": is_module,
        "param_count": param_count,
        "trace": trace,
    }
    k = collections.namedtuple("CommonKit", common)(**common)
    own = references(k) if references is not None else {}
    clash = sorted(set(own) & set(common))
    if clash:
        raise ValueError(f"the references redefine the kit's own helpers: {clash}")
    kit = {**common, **own}
    return collections.namedtuple("TestKit", kit)(**kit)
