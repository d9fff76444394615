"""utils.testkit: the assignments' test kit `_T`, tested as code.

Every check must fail each wrong value it exists to catch and pass the right one; the rule
"from scratch" must block what it bans and give everything back on leaving; the kit must keep
working after the functions it captured are replaced."""

import builtins
import json
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from utils import checks, testkit

ROOT = Path(__file__).resolve().parent.parent
conv_alias = F.conv2d  # a notebook's own name for a banned function: from_scratch replaces it too


@pytest.fixture(scope="module")
def kit():
    return testkit.make_test_kit(testkit.convolution_name, aten=("conv2d",), autograd=True)


def _fails(fn, *args, match=None, **kwargs):
    with pytest.raises(AssertionError, match=match):
        fn(*args, **kwargs)


# -- checks --------------------------------------------------------------------------------------


def test_check_equal_wants_the_value_and_its_exact_type(kit):
    kit.check_equal("n", 3, 3)
    kit.check_equal("pair", (1, 2), (1, 2))
    _fails(kit.check_equal, "n", 4, 3, match=r"^n: expected 3")
    _fails(kit.check_equal, "n", True, 1)  # a bool is not an int
    _fails(kit.check_equal, "n", 1.0, 1)
    _fails(kit.check_equal, "pair", [1, 2], (1, 2))
    with pytest.raises(AssertionError, match="Hint: count again"):
        kit.check_equal("n", 2, 3, hint="count again")


def test_check_close_wants_a_plain_tensor_of_the_shape_dtype_and_values(kit):
    e = torch.tensor([1.0, -2.0, 3.0])
    kit.check_close("x", e.clone(), e)
    kit.check_close("x", e + 5e-6, e)  # within the default 1e-5 + 1e-5 |e|
    _fails(kit.check_close, "x", e + 1e-3, e, match="x")
    _fails(kit.check_close, "x", e.tolist(), e, match="a torch.Tensor")
    _fails(kit.check_close, "x", e.reshape(3, 1), e, match="shape")
    _fails(kit.check_close, "x", e.double(), e, match="dtype")
    _fails(kit.check_close, "x", torch.tensor([1.0, float("nan"), 3.0]), e)
    nan = torch.tensor([float("nan")])
    _fails(kit.check_close, "x", nan.clone(), nan)  # NaN is never close, not even to NaN
    _fails(kit.check_close, "x", torch.tensor([float("inf")]), torch.tensor([float("inf")]))
    kit.check_close("x", e + 0.05, e, atol=0.1, rtol=0.0)
    _fails(kit.check_close, "x", e + 0.05, e, atol=0.01, rtol=0.0)

    class Sneaky(torch.Tensor):  # compares equal to anything
        def __eq__(self, other):
            return True

    _fails(kit.check_close, "x", e.as_subclass(Sneaky), e, match="a torch.Tensor")


def test_check_close_uses_the_tolerance_of_the_expected_dtype():
    strict = testkit.make_test_kit(testkit.layer_name, tolerance={"float32": 1e-4, "float64": 1e-10})
    e32, e64 = torch.ones(4), torch.ones(4, dtype=torch.float64)
    strict.check_close("x", e32 + 5e-5, e32)
    strict.check_close("x", e64 + 1e-11, e64)
    _fails(strict.check_close, "x", e64 + 1e-6, e64)  # a float64 result computed in float32 fails
    _fails(strict.check_close, "x", e32 + 1e-3, e32)


def test_check_unchanged_and_check_differs(kit):
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    kit.check_unchanged("x after f", x, x.clone())
    _fails(kit.check_unchanged, "x after f", x + 1e-7, x, match="change no input in place")
    kit.check_differs("y", x + 1, x)
    _fails(kit.check_differs, "y", x.clone(), x, match="the same values")
    kit.check_differs("y", (x + 1).reshape(12), x)  # its values, read in order
    _fails(kit.check_differs, "y", x.reshape(2, 6).clone(), x, match="the same values")
    _fails(kit.check_differs, "y", torch.ones(5), x, match="12 values")
    _fails(kit.check_differs, "y", (x + 1).tolist(), x, match="a torch.Tensor")


def test_check_raises_wants_that_exception(kit):
    def raises(exc):
        def fn():
            raise exc("bad")

        return fn

    kit.check_raises("f(-1)", raises(ValueError))
    kit.check_raises("f(-1)", raises(TypeError), exc=TypeError)
    _fails(kit.check_raises, "f(-1)", lambda: None, match="no error")
    _fails(kit.check_raises, "f(-1)", raises(TypeError), match="TypeError: bad")


def test_parts_unpacks_n_results(kit):
    assert kit.parts("f", (1, 2, 3)) == (1, 2, 3)
    assert kit.parts("f", [1, 2], 2) == (1, 2)
    _fails(kit.parts, "f", (1, 2), match="a tuple of 3 values")
    _fails(kit.parts, "f", torch.ones(3), match="Tensor")


def test_checks_refuse_to_run_under_a_torch_function_mode(kit):
    class Liar(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Liar():
        _fails(kit.check_close, "x", torch.ones(2), torch.ones(2), match="mode is active")
        _fails(kit.check_equal, "n", 1, 1, match="mode is active")


def test_the_kit_keeps_what_it_captured(kit, monkeypatch):
    wrong, right = torch.tensor([2.0]), torch.tensor([1.0])
    monkeypatch.setattr(checks, "check_close", lambda *a, **k: None)
    monkeypatch.setattr(builtins, "abs", lambda v: 0.0)
    monkeypatch.setattr(torch.Tensor, "sub", lambda a, b: torch.zeros_like(a))
    monkeypatch.setattr(torch.Tensor, "__sub__", lambda a, b: torch.zeros_like(a))
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    _fails(kit.check_close, "x", wrong, right)
    _fails(kit.check_close, "x", [1.0], right, match="a torch.Tensor")


# -- the rule "from scratch" -----------------------------------------------------------------------


def test_from_scratch_blocks_every_banned_name_and_gives_it_back(kit):
    x, w = torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3)
    originals = (torch.conv2d, F.conv2d, nn.Conv2d.forward, torch.ops.aten.conv2d, conv_alias, F.unfold)
    callers = [
        lambda: torch.conv2d(x, w),
        lambda: F.conv2d(x, w),
        lambda: nn.Conv2d(1, 1, 3)(x),
        lambda: torch.ops.aten.conv2d(x, w),
        lambda: conv_alias(x, w),  # this module's own name for F.conv2d
        lambda: F.unfold(x, 3),
        lambda: x.requires_grad_().sum().backward(),
        lambda: torch.autograd.grad(x.sum(), x),
    ]
    for call in callers:
        with pytest.raises(AssertionError, match="from scratch"):
            with kit.from_scratch():
                call()
    assert (torch.conv2d, F.conv2d, nn.Conv2d.forward, torch.ops.aten.conv2d, conv_alias, F.unfold) == originals
    with kit.from_scratch():  # what is not banned works
        out = torch.einsum("ij,jk->ik", torch.ones(2, 3), torch.ones(3, 4)) + F.pad(x, (1, 1)).sum()
    assert out.shape == (2, 4)


def test_a_banned_call_fails_even_if_the_answer_catches_its_error(kit):
    def sneaky(x, w):
        try:
            return F.conv2d(x, w)
        except AssertionError:
            return torch.zeros(1)

    with pytest.raises(AssertionError, match="F.conv2d|functional.conv2d.*was called"):
        with kit.from_scratch():
            sneaky(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3))


def test_autograd_is_banned_only_when_asked():
    lenient = testkit.make_test_kit(testkit.layer_name)
    x = torch.ones(3, requires_grad=True)
    with lenient.from_scratch():
        (x * x).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]
    with pytest.raises(AssertionError):
        with lenient.from_scratch():
            F.max_pool2d(torch.ones(1, 1, 4, 4), 2)  # a pooling: a layer name


def test_references_refuse_to_run_inside_from_scratch():
    def references(k):
        conv2d = torch.conv2d

        def ref_conv2d(x, w):
            k.refuse_inside("_T.ref_conv2d")
            return conv2d(x, w)

        return {"ref_conv2d": ref_conv2d}

    kit = testkit.make_test_kit(testkit.convolution_name, references=references)
    x, w = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 3, 3)
    torch.testing.assert_close(kit.ref_conv2d(x, w), F.conv2d(x, w))
    with pytest.raises(AssertionError, match="_T.ref_conv2d"):
        with kit.from_scratch():
            kit.ref_conv2d(x, w)
    with pytest.raises(ValueError, match="check_close"):
        testkit.make_test_kit(testkit.convolution_name, references=lambda k: {"check_close": print})


@pytest.mark.parametrize(
    "name, conv, layer",
    [
        ("conv2d", True, True),
        ("conv_transpose3d", True, True),
        ("convtranspose2d", True, True),
        ("_convert_indices", False, False),
        ("unfold", True, True),
        ("max_pool2d", False, True),
        ("batchnorm2d", False, True),
        ("group_norm", False, True),
        ("dropout2d", False, True),
        ("_check_inputs", False, False),
        ("matmul", False, False),
        ("pad", False, False),
        ("einsum", False, False),
    ],
)
def test_which_names_are_banned(name, conv, layer):
    assert testkit.convolution_name(name) is conv
    assert testkit.layer_name(name) is layer


# -- inputs and modules ----------------------------------------------------------------------------


def test_inputs_come_from_their_seed_only(kit):
    state = torch.get_rng_state()
    a, b = kit.randn((3, 4), 7), kit.randn((3, 4), 7)
    assert torch.equal(a, b) and not torch.equal(a, kit.randn((3, 4), 8))
    assert torch.equal(torch.get_rng_state(), state)  # the global generator is left alone
    assert kit.randn((2,), 1, "float64").dtype == torch.float64
    assert torch.allclose(kit.randn((5,), 3, scale=2.0), 2 * kit.randn((5,), 3))
    im = kit.images((2, 3, 8, 8), 4)
    means = im.mean((2, 3)).flatten()
    assert im.shape == (2, 3, 8, 8) and (means.max() - means.min()) > 0.5


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 4, 5)])
def test_strided_gives_the_same_values_in_memory_that_is_not_contiguous(kit, shape):
    t = kit.randn(shape, 0, "float64")
    s = kit.strided(t)
    assert not s.is_contiguous() and torch.equal(s, t) and s.dtype == t.dtype
    if len(shape) > 2:  # no two axes can be merged into one by a view
        assert all(s.stride(i) < s.stride(i + 1) for i in range(len(shape) - 1))


def test_module_helpers(kit):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert kit.is_module(net) and not kit.is_module(torch.ones(1))
    assert kit.param_count(net) == 4 * 3 + 3 + 3 * 2 + 2
    x = torch.randn(5, 4)
    out, calls = kit.trace(net, x, ["0", "2"])
    assert [name for name, _, _ in calls] == ["0", "2"] and calls[0][1] is x and not out.requires_grad
    torch.testing.assert_close(calls[1][2], out)


# -- the assignments' kit cells -------------------------------------------------------------------

COMMON = re.compile(
    r"^\s*(def|class) (fail|guard|check_equal|check_shape|check_close|check_unchanged|check_differs|check_raises|"
    r"parts|generator|randn|images|strided|Blocked|FromScratch|refuse_inside|param_count|trace)\b",
    re.M,
)


@pytest.mark.parametrize("source", sorted(ROOT.glob("solutions/*/*.ipynb")), ids=lambda p: p.parent.name)
def test_each_assignment_makes_its_kit_with_the_module_and_adds_only_its_own(source):
    cells = [
        "".join(c["source"])
        for c in json.loads(source.read_text())["cells"]
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "test_kit"
    ]
    assert len(cells) == 1, "one locked test_kit cell"
    cell = cells[0]
    assert "from utils import testkit as _testkit" in cell, cell[:500]
    assert re.search(r"^_T = _testkit\.make_test_kit\(", cell, re.M), cell[-800:]
    assert not COMMON.findall(cell), f"the cell redefines what utils.testkit provides: {COMMON.findall(cell)}"


def test_a_lazy_module_cannot_be_imported_inside_from_scratch_and_is_blocked_once_imported(tmp_path, monkeypatch):
    (tmp_path / "course_fake_flops.py").write_text("def conv_flop_count():\n    return 1\n\nclass Counter:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "course_fake_flops", raising=False)
    kit = testkit.make_test_kit(testkit.layer_name, lazy={"course_fake_flops": ("Counter",)})
    assert "course_fake_flops" not in sys.modules  # making the kit does not import it
    with pytest.raises(ImportError):
        with kit.from_scratch():
            import course_fake_flops  # noqa: F401
    assert "course_fake_flops" not in sys.modules  # and leaving it lets it be imported again
    import course_fake_flops

    alias = course_fake_flops.conv_flop_count
    monkeypatch.setitem(globals(), "fake_alias", alias)  # a name in the caller's globals, bound after the kit was made
    calls = (
        lambda: course_fake_flops.conv_flop_count(),
        lambda: course_fake_flops.Counter(),
        lambda: globals()["fake_alias"](),
    )
    for call in calls:
        with pytest.raises(AssertionError, match="from scratch"):
            with kit.from_scratch():
                call()
    assert course_fake_flops.conv_flop_count is alias and globals()["fake_alias"] is alias
