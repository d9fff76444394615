"""Grading a1_convolution end to end: nbgrader autograde on a temporary copy of the course.

One batch is graded once (module fixture) and each test reads its scores:
- the solution notebook scores full marks and the released notebook scores zero;
- for each graded item, a submission that is correct except for one plausible mistake in that
  item loses exactly that item's points (visible and hidden tests) and no other;
- submissions written differently from the solution but correct score full marks.
"""

from __future__ import annotations

import types

import gradinglib as gl
import pytest

AID = "a1_convolution"

# One plausible mistake per graded item: student id -> (item, function body).
WRONG = {
    "off_by_one_size": (
        "conv_output_size",
        """
for value, low in ((n, 1), (f, 1), (s, 1), (p, 0)):
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"bad argument {value!r}")
if f > n + 2 * p or (n - f + 2 * p) % s != 0:
    raise ValueError("the filter or the stride does not fit")
return (n - f + 2 * p) // s  # forgets the first window
""",
    ),
    "bias_forgotten_in_count": ("conv_param_count", "return c_out * c_in * f * f\n"),
    "padding_on_one_side": (
        "pad2d",
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
        """
N, C, H, W = x.shape
return (x.reshape(N, H * W, C) @ w.T).reshape(N, w.shape[0], H, W)  # reshape is not a transpose
""",
    ),
}

# Correct answers written differently from the solution (which pads by slicing into a filled
# tensor and convolves with Tensor.unfold + einsum): student id -> {item: function body}.
# More variants (six nested loops, sums over kernel offsets, tensordot...) are cheaper to
# check without nbgrader; one autograded submission proves the pipeline accepts them.
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
        "conv_param_count": "return c_in * c_out * f**2 + c_out * int(bias)\n",
        "pad2d": """
if mode not in ("zero", "mean") or p < 0:
    raise ValueError(f"bad mode {mode!r} or p {p!r}")
N, C, H, W = x.shape
out = torch.empty(N, C, H + 2 * p, W + 2 * p, dtype=x.dtype)
for n in range(N):
    for c in range(C):
        out[n, c] = x[n, c].mean() if mode == "mean" else 0.0
        out[n, c, p : p + H, p : p + W] = x[n, c]
return out
""",
        "conv2d_forward": """
N, C, H, W = x.shape
K, C_w, f, _ = w.shape
if C_w != C or (H - f + 2 * padding) % stride or (W - f + 2 * padding) % stride:
    raise ValueError("depth mismatch or stride does not fit")
xp = F.pad(x, (padding,) * 4).contiguous()
Ho, Wo = (xp.shape[2] - f) // stride + 1, (xp.shape[3] - f) // stride + 1
sN, sC, sH, sW = xp.stride()
cols = xp.as_strided((N, Ho, Wo, C, f, f), (sN, sH * stride, sW * stride, sC, sH, sW))
out = cols.reshape(N, Ho * Wo, C * f * f) @ w.reshape(K, -1).T  # (N, Ho*Wo, K)
if b is not None:
    out = out + b
return out.reshape(N, Ho, Wo, K).permute(0, 3, 1, 2)  # not contiguous, and that is fine
""",
        "conv1x1": "return (x.permute(0, 2, 3, 1) @ w.T).permute(0, 3, 1, 2)\n",
    },
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade every submission of this file in one `nbgrader autograde` run."""
    course = gl.copy_course(tmp_path_factory.mktemp("grading") / "course")
    release = gl.read_notebook(gl.generate_assignment(course, AID))
    source = gl.read_notebook(gl.source_path(course, AID))
    correct = gl.fill_solutions(release, source)
    gl.submit(course, "solution", AID, source)
    gl.submit(course, "release", AID, release)
    for student, (item, body) in WRONG.items():
        gl.submit(course, student, AID, gl.replace_solution(correct, item, body))
    for student, bodies in ALTERNATIVES.items():
        nb = correct
        for item, body in bodies.items():
            nb = gl.replace_solution(nb, item, body)
        gl.submit(course, student, AID, nb)
    proc = gl.autograde(course, AID, timeout=900)
    return types.SimpleNamespace(
        scores=gl.scores(course, AID), max=gl.max_scores(course, AID), items=gl.solution_ids(source), log=proc.stderr
    )


def test_every_submission_of_the_batch_is_graded(batch):
    expected = {"solution", "release", *WRONG, *ALTERNATIVES}
    assert set(batch.scores) == expected, batch.log[-3000:]


def test_solution_notebook_scores_full_marks(batch):
    assert batch.scores["solution"] == batch.max


def test_released_notebook_scores_zero(batch):
    assert gl.total(batch.scores["release"]) == 0.0, batch.scores["release"]


def test_every_graded_item_has_a_wrong_answer_in_the_batch(batch):
    assert sorted(item for item, _ in WRONG.values()) == sorted(batch.items)


@pytest.mark.parametrize("student", sorted(WRONG))
def test_wrong_answer_loses_exactly_the_points_of_its_item(batch, student):
    item = WRONG[student][0]
    expected = {gid: (0.0 if gl.item_of(gid) == item else pts) for gid, pts in batch.max.items()}
    assert batch.scores[student] == expected


@pytest.mark.parametrize("student", sorted(ALTERNATIVES))
def test_alternative_correct_answers_score_full_marks(batch, student):
    assert batch.scores[student] == batch.max
