"""utils.checks: each check passes right answers and fails wrong ones with a helpful message."""

import pytest
import torch

from utils import checks


def test_check_equal_accepts_the_same_int():
    checks.check_equal("size", 4, 4)


@pytest.mark.parametrize("got", [4.0, True, "4", 5, None])
def test_check_equal_rejects_a_wrong_value_or_type(got):
    with pytest.raises(AssertionError, match="size"):
        checks.check_equal("size", got, 4)


def test_check_equal_gives_expected_got_and_hint():
    with pytest.raises(AssertionError) as err:
        checks.check_equal("size", 5, 4, hint="use floor division")
    assert "expected 4" in str(err.value) and "got 5" in str(err.value) and "use floor division" in str(err.value)


def test_check_close_accepts_small_errors_and_rejects_large_ones():
    a = torch.ones(2, 3)
    checks.check_close("out", a + 1e-7, a)
    with pytest.raises(AssertionError, match=r"index \(1, 2\)"):
        b = a.clone()
        b[1, 2] = 2
        checks.check_close("out", b, a)


@pytest.mark.parametrize(
    ("got", "msg"),
    [(torch.ones(3, 2), "shape"), ([1.0] * 6, "torch.Tensor"), (torch.full((2, 3), float("nan")), "NaN")],
)
def test_check_close_rejects_wrong_shape_type_or_nan(got, msg):
    with pytest.raises(AssertionError, match=msg):
        checks.check_close("out", got, torch.ones(2, 3))


def test_check_shape_names_both_shapes():
    with pytest.raises(AssertionError, match=r"expected \(1, 2\), got \(2, 1\)"):
        checks.check_shape("x", torch.zeros(2, 1), (1, 2))


def test_check_raises_passes_only_for_the_right_exception():
    checks.check_raises("bad p", lambda: int("x"), ValueError)
    with pytest.raises(AssertionError, match="no error"):
        checks.check_raises("bad p", lambda: 1, ValueError)
    with pytest.raises(AssertionError, match="TypeError"):
        checks.check_raises("bad p", lambda: len(3), ValueError)


@pytest.mark.parametrize(
    ("got", "msg"),
    [
        ((4.0, 4.0), r"an int \(4\) at \[0\], got float 4\.0"),
        ((4, 4.0), r"an int \(4\) at \[1\]"),
        ([4, 4], r"a tuple of 2 .*got list"),
        ((4,), "length 2"),
        ((4, 4, 1), "length 2"),
        ((True, 4), r"an int \(4\) at \[0\], got bool"),
        ((4, 5), r"expected 4 at \[1\], got 5"),
        ("(4, 4)", "got str"),
    ],
)
def test_check_equal_applies_the_int_and_tuple_rules_inside_a_tuple(got, msg):
    with pytest.raises(AssertionError, match=msg):
        checks.check_equal("shape", got, (4, 4))


def test_check_equal_accepts_a_tuple_of_ints_and_a_torch_size():
    checks.check_equal("shape", (4, 4), (4, 4))
    checks.check_equal("shape", torch.zeros(4, 4).shape, (4, 4))  # torch.Size is a tuple


def test_check_equal_applies_the_rules_at_every_depth_and_to_lists():
    checks.check_equal("nested", [(1, 2), [3]], [(1, 2), [3]])
    with pytest.raises(AssertionError, match=r"at \[0\]\[1\]"):
        checks.check_equal("nested", [(1, 2.0), [3]], [(1, 2), [3]])
    with pytest.raises(AssertionError, match="a list of 2"):
        checks.check_equal("nested", ((1, 2), [3]), [(1, 2), [3]])


def test_check_equal_wants_a_bool_for_a_bool():
    checks.check_equal("flag", True, True)
    with pytest.raises(AssertionError, match="a bool"):
        checks.check_equal("flag", 1, True)


def test_check_equal_compares_other_values_with_equality():
    checks.check_equal("name", "same", "same")
    checks.check_equal("ratio", 0.5, 0.5)
    with pytest.raises(AssertionError, match="'zero'"):
        checks.check_equal("mode", "reflect", "zero")


def test_checks_reject_a_bad_specification_with_a_value_error():
    with pytest.raises(ValueError, match="tuple of ints"):
        checks.check_shape("x", torch.zeros(2), 2)
    with pytest.raises(ValueError, match="atol"):
        checks.check_close("x", torch.zeros(2), torch.zeros(2), atol=-1)
    with pytest.raises(ValueError, match="lambda"):
        checks.check_raises("x", 3)
