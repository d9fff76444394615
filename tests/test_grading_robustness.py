"""The grading pipeline under hostile and broken submissions, end to end (real nbgrader runs).

One session fixture builds a class on a temporary copy of the course and grades it ONCE with
`python -m grading autograde` (grading/cli.py: the sandboxed, parallel batch of the
instructor guide). The tests then read that batch's gradebook, files, feedback and export.

- For EVERY assignment in solutions/: an honest, a wrong, a blank and a crashing submission
  (generated from the notebooks, so a new assignment is covered automatically).
- For the hostile assignment (a1): every bad-submission kind of KINDS below, each with its
  exact expected score, in the same batch as correct submissions whose grades must not move;
  a submission that tries to write outside its folder must change nothing (file hashes).
- Feedback has no hidden test (and shows a hidden test's failure message only while
  `RedactHiddenTestOutput.show_hidden_failure_message` is True), export totals equal the items'
  points, validate gates the solutions and the releases, the sandbox refuses to run without
  bubblewrap, and `.ci/run` stops where bubblewrap cannot be installed.
- The README's instructor guide: its ```bash commands are read from the README and run
  verbatim, in its order, on a fresh course copy (a command shown there and run by no test fails
  `test_every_command_of_the_guide_is_exercised`). Expected scores are derived from the points
  of the source notebook, never typed in.

Needs bubblewrap (`apt-get install bubblewrap`, done by .ci/run): skipped without it, failed
without it on CI. Speed is not asserted here (a loaded 2-core machine): see
benchmarks/bench_autograde.py.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import gradinglib as gl
import nbformat
import pytest

REPO = gl.REPO
ASSIGNMENTS = sorted(p.parent.name for p in (REPO / "solutions").glob("*/*.ipynb") if p.stem == p.parent.name)
HOSTILE = "a1_convolution"  # the assignment that gets the whole hostile batch
TIMEOUT = 60  # per-cell seconds in the test batch: nbgrader_config.py's own limit. The infinite loop costs this.
# The huge print is 20 MB, 200 times the cap: a 100 MB one took over 30 s in a batch while the rest of the
# suite ran on the other core, and over 60 s on a slower machine (the cell then timed out and lost its points)


@pytest.fixture(scope="session", autouse=True)
def _needs_sandbox():
    problem = gl.sandbox_problem()
    if problem:
        message = f"the grading sandbox is unavailable: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


# -- notebook surgery ------------------------------------------------------------------------


def items_of(source) -> dict[str, list[str]]:
    """{solution grade_id: [grade_ids of the test cells after it, up to the next solution cell]}."""
    out: dict[str, list[str]] = {}
    current = None
    for cell in source.cells:
        meta = gl.nbgrader_meta(cell)
        if meta.get("solution"):
            current = meta["grade_id"]
            out[current] = []
        elif meta.get("grade") and current is not None:
            out[current].append(meta["grade_id"])
    return out


def item_points(source, item: str) -> float:
    points = gl.grade_points(source)
    return sum(points[g] for g in items_of(source)[item])


def prepend(nb, grade_id: str, code: str):
    nb = copy.deepcopy(nb)
    cell = gl.find_cell(nb, grade_id)
    cell.source = code.rstrip("\n") + "\n" + cell.source
    return nb


def append(nb, grade_id: str, code: str):
    nb = copy.deepcopy(nb)
    cell = gl.find_cell(nb, grade_id)
    cell.source = cell.source.rstrip("\n") + "\n" + code.strip("\n") + "\n"
    return nb


def drop_cells(nb, grade_ids):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if gl.nbgrader_meta(c).get("grade_id") not in set(grade_ids)]
    return nb


def wrong(nb, item: str):
    """The item's function returns None: every test that calls it fails."""
    return gl.replace_solution(nb, item, "return None")


PATCH_TORCH_ALLCLOSE = """
import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.Tensor.allclose = lambda *args, **kwargs: True
torch.Tensor.equal = lambda *args, **kwargs: True
"""
PATCH_ASSERT_CLOSE = """
import torch
import torch.testing
torch.testing.assert_close = lambda *args, **kwargs: None
torch.testing.assert_allclose = lambda *args, **kwargs: None
"""
PATCH_NUMPY_TESTING = """
import numpy
import numpy.testing
for _name in dir(numpy.testing):
    if _name.startswith("assert"):
        setattr(numpy.testing, _name, lambda *args, **kwargs: None)
numpy.allclose = lambda *args, **kwargs: True
numpy.isclose = lambda *args, **kwargs: True
numpy.array_equal = lambda *args, **kwargs: True
"""
PATCH_BUILTINS_AND_UTILS = """
import builtins
import utils.checks
builtins.abs = lambda value: 0
for _name in dir(utils.checks):
    if _name.startswith("check"):
        setattr(utils.checks, _name, lambda *args, **kwargs: None)
"""
REBIND_TEST_KIT = """
_noop = lambda *args, **kwargs: None
_T = _T._replace(check_equal=_noop, check_close=_noop, check_unchanged=_noop, check_raises=_noop)
"""
FAKE_KIT = """
class _Anything:
    def __getattr__(self, name):
        return _Anything()

    def __call__(self, *args, **kwargs):
        return _Anything()

    def __iter__(self):
        return iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return True


_T = _Anything()
"""
REBIND_IN_FUNCTION = 'globals()["_T"] = _Anything()\nreturn None'
# issue 10's attacks, each graded next to the same submission without it (a control of equal score)
INPUT_TRANSFORMER = """
_ip = globals()["__builtins__"].__dict__["".join(["get_", "ipy", "thon"])]() if hasattr(
    globals()["__builtins__"], "__dict__") else globals()["__builtins__"]["".join(["get_", "ipy", "thon"])]()
getattr(_ip, "input_" + "transformers_" + "cleanup").append(lambda lines: ["pass\\n"])
"""
TENSOR_SUBCLASS = """
import torch

class _Liar(torch.Tensor):  # becomes the other operand of every operation: "equal" to anything
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        others = [a for a in list(args) + list((kwargs or {}).values())
                  if isinstance(a, torch.Tensor) and not isinstance(a, _Liar)]
        if others:
            return others[0]
        return super().__torch_function__(func, types, args, kwargs or {})

return torch.zeros(1).as_subclass(_Liar)
"""
PRINT_20MB = 'print("x" * 20_000_000)'
INFINITE_LOOP = "while True:\n    pass"
SYS_EXIT = 'import sys\nsys.exit("bye")'
OS_EXIT = "import os\nos._exit(1)"


def escape_code(aid: str, victim: str, token: str) -> str:
    """Student code that tries to change the grader's and other students' files."""
    return f'''
import os as _os, pathlib as _pl
_course = _pl.Path.cwd().parents[2]  # the kernel runs in <course>/autograded/<student>/<aid>
_report = []
_targets = [
    _course / "gradebook.db",
    _course / "solutions" / "{aid}" / "{aid}.ipynb",
    _course / "submitted" / "{victim}" / "{aid}" / "{aid}.ipynb",
    _course / "autograded" / "{victim}" / "{aid}" / "{aid}.ipynb",
    _course / "nbgrader_config.py",
    _course / "canary.txt",
    _course.parent / "canary.txt",
    _pl.Path("/tmp") / "{token}",
]
for _t in _targets:
    for _action in ("append", "delete", "create-next-to"):
        try:
            if _action == "append":
                with open(_t, "a") as _f:
                    _f.write("HACKED")
            elif _action == "delete":
                _os.remove(_t)
            else:
                with open(str(_t) + ".pwned", "w") as _f:
                    _f.write("HACKED")
            _report.append(f"{{_action}} {{_t}}: DONE")
        except Exception as _e:
            _report.append(f"{{_action}} {{_t}}: blocked ({{type(_e).__name__}})")
try:
    _report.append("read solutions: " + str(len(open(_targets[1]).read())) + " chars")
except Exception as _e:
    _report.append(f"read solutions: blocked ({{type(_e).__name__}})")
_report.append(f"uid {{_os.getuid()}}, sees {{sorted(_os.listdir(_course))}}")
print("\\n".join(_report))
'''


@dataclass
class Case:
    student: str
    aid: str
    kind: str
    expected: float
    nb: object = None
    raw: str | None = None  # written as-is instead of nb (broken files)
    ungradable: str = ""  # the reason the grading CLI must name, for files nbgrader cannot read
    notes: dict = field(default_factory=dict)


def generic_cases(aid: str, release, source) -> list[Case]:
    """honest / wrong / blank / crashing: what every assignment must grade exactly."""
    total = sum(gl.grade_points(source).values())
    honest = gl.fill_solutions(release, source)
    last = list(items_of(source))[-1]
    lost = total - item_points(source, last)
    return [
        Case(f"{aid}-honest", aid, "honest", total, honest),
        Case(f"{aid}-wrong", aid, "wrong", lost, wrong(honest, last)),
        Case(f"{aid}-blank", aid, "blank", 0.0, copy.deepcopy(release)),
        Case(f"{aid}-crashing", aid, "crashing", lost, prepend(honest, last, OS_EXIT)),
    ]


def hostile_cases(aid: str, release, source, token: str) -> list[Case]:
    total = sum(gl.grade_points(source).values())
    items = list(items_of(source))
    first, second, mid, last = items[0], items[1], items[len(items) // 2], items[-1]
    pts = {i: item_points(source, i) for i in items}
    honest = gl.fill_solutions(release, source)
    wrong_last = wrong(honest, last)
    all_wrong = honest
    for item in items:
        all_wrong = wrong(all_wrong, item)

    points_edited = copy.deepcopy(honest)
    for cell in points_edited.cells:
        if gl.nbgrader_meta(cell).get("grade"):
            cell.metadata.nbgrader["points"] = 100

    edited_tests = copy.deepcopy(wrong_last)
    for gid in items_of(source)[last]:
        gl.find_cell(edited_tests, gid).source = "pass  # the test is gone"

    renamed = copy.deepcopy(wrong_last)
    for gid in items_of(source)[last]:
        gl.find_cell(renamed, gid).metadata.nbgrader["grade_id"] = gid + "_mine"

    duplicated = copy.deepcopy(honest)
    ids = [first, *items_of(source)[first]]
    cells = []
    for cell in duplicated.cells:
        cells.append(cell)
        if gl.nbgrader_meta(cell).get("grade_id") in ids:
            twin = copy.deepcopy(cell)
            twin.pop("id", None)
            cells.append(twin)
    duplicated.cells = cells

    stripped = copy.deepcopy(honest)
    stripped.metadata = {}
    stripped.nbformat_minor = 4
    for cell in stripped.cells:
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None

    above = copy.deepcopy(wrong_last)
    above.cells.insert(0, nbformat.v4.new_code_cell(PATCH_BUILTINS_AND_UTILS))

    locked = [
        gl.nbgrader_meta(c)["grade_id"]
        for c in source.cells
        if gl.nbgrader_meta(c).get("locked") and not gl.nbgrader_meta(c).get("grade")
    ]
    deleted_kit = append(drop_cells(all_wrong, locked[1:]), first, FAKE_KIT)

    in_function = honest
    for item in items:
        in_function = gl.replace_solution(in_function, item, REBIND_IN_FUNCTION)
    in_function = append(in_function, first, FAKE_KIT.replace("_T = _Anything()", ""))

    transformer = append(all_wrong, first, INPUT_TRANSFORMER)
    liar = gl.replace_solution(honest, "conv2d_forward", TENSOR_SUBCLASS)
    kit_id = locked[-1]  # the test kit: the last locked cell above the answers
    kit_below = append(all_wrong, first, FAKE_KIT)
    kit_cell = gl.find_cell(kit_below, kit_id)
    kit_below.cells.remove(kit_cell)
    kit_below.cells.append(kit_cell)
    answer_above = append(all_wrong, first, FAKE_KIT + PATCH_BUILTINS_AND_UTILS)
    answer_above.cells.insert(0, answer_above.cells.pop(answer_above.cells.index(gl.find_cell(answer_above, first))))
    honest_above = copy.deepcopy(honest)
    honest_above.cells.insert(0, honest_above.cells.pop(honest_above.cells.index(gl.find_cell(honest_above, first))))

    old = nbformat.writes(nbformat.convert(copy.deepcopy(honest), 3))
    s = f"{aid}-"
    return [
        Case(s + "correct-1", aid, "correct (control)", total, honest),
        Case(s + "correct-2", aid, "correct (control)", total, honest),
        Case(
            s + "partial",
            aid,
            "partially correct",
            pts[first] + pts[second],
            gl.fill_solutions(release, source, [first, second]),
        ),
        Case(
            s + "raises",
            aid,
            "solution raises",
            total - pts[mid],
            gl.replace_solution(honest, mid, 'raise RuntimeError("my bug")'),
        ),
        Case(
            s + "infinite-loop",
            aid,
            "infinite loop",
            total - pts[mid],
            prepend(honest, mid, INFINITE_LOOP),
            notes={"cell": mid},
        ),
        Case(s + "sys-exit", aid, "sys.exit()", total - pts[last], prepend(honest, last, SYS_EXIT)),
        Case(
            s + "os-exit",
            aid,
            "os._exit(1) (kernel dies)",
            total - pts[mid],
            prepend(honest, mid, OS_EXIT),
            notes={"cell": mid},
        ),
        Case(s + "print-20mb", aid, "prints 20 MB", total, append(honest, first, PRINT_20MB)),
        Case(
            s + "deleted-test",
            aid,
            "deleted test cells (+ wrong answer)",
            total - pts[last],
            drop_cells(wrong_last, items_of(source)[last]),
        ),
        Case(s + "edited-test", aid, "edited test cells (+ wrong answer)", total - pts[last], edited_tests),
        Case(s + "edited-points", aid, "edited points (100 per test)", total, points_edited),
        Case(s + "duplicated", aid, "duplicated cells", total, duplicated),
        Case(s + "renamed-id", aid, "changed grade_id (+ wrong answer)", total - pts[last], renamed),
        Case(
            s + "invalid-json",
            aid,
            "invalid JSON",
            0.0,
            raw=nbformat.writes(honest)[:-40],
            ungradable="is not valid JSON",
        ),
        Case(s + "empty-file", aid, "empty file", 0.0, raw="", ungradable="is an empty file"),
        Case(s + "old-nbformat", aid, "old nbformat (v3)", total, raw=old),
        Case(s + "stripped", aid, "outputs, ids and metadata stripped", total, stripped),
        Case(
            s + "patch-allclose",
            aid,
            "patches torch.allclose (+ wrong)",
            total - pts[last],
            prepend(wrong_last, first, PATCH_TORCH_ALLCLOSE),
        ),
        Case(
            s + "patch-assert-close",
            aid,
            "patches torch.testing.assert_close (+ wrong)",
            total - pts[last],
            prepend(wrong_last, first, PATCH_ASSERT_CLOSE),
        ),
        Case(
            s + "patch-numpy",
            aid,
            "patches numpy.testing (+ wrong)",
            total - pts[last],
            prepend(wrong_last, first, PATCH_NUMPY_TESTING),
        ),
        Case(
            s + "patch-builtins",
            aid,
            "patches builtins.abs, utils.checks (+ wrong)",
            total - pts[last],
            prepend(wrong_last, first, PATCH_BUILTINS_AND_UTILS),
        ),
        Case(
            s + "rebind-kit",
            aid,
            "rebinds the test kit _T (+ all wrong)",
            0.0,
            append(all_wrong, first, REBIND_TEST_KIT),
        ),
        Case(
            s + "cell-above-setup",
            aid,
            "adds a cell above the setup that patches builtins (+ wrong)",
            total - pts[last],
            above,
        ),
        Case(
            s + "deleted-kit", aid, "deletes the locked test-kit cell, defines its own (+ all wrong)", 0.0, deleted_kit
        ),
        Case(s + "rebind-in-function", aid, "rebinds _T from inside its functions (+ all wrong)", 0.0, in_function),
        Case(s + "all-wrong", aid, "every answer wrong (control)", 0.0, all_wrong),
        Case(
            s + "input-transformer",
            aid,
            "an IPython input transformer turns every later cell into pass (+ all wrong)",
            0.0,
            transformer,
        ),
        Case(
            s + "wrong-conv2d",
            aid,
            "conv2d_forward wrong (control)",
            total - pts["conv2d_forward"],
            wrong(honest, "conv2d_forward"),
        ),
        Case(
            s + "tensor-subclass",
            aid,
            "conv2d_forward returns a tensor subclass that equals anything",
            total - pts["conv2d_forward"],
            liar,
        ),
        Case(
            s + "kit-below-answers", aid, "the kit cell moved below the answers, _T faked (+ all wrong)", 0.0, kit_below
        ),
        Case(
            s + "answer-above-setup",
            aid,
            "an answer cell moved above the setup: fakes _T, patches builtins (+ all wrong)",
            0.0,
            answer_above,
        ),
        Case(s + "honest-reordered", aid, "correct, first answer moved above the setup", total, honest_above),
        Case(
            s + "escape",
            aid,
            "writes outside its folder",
            total,
            append(honest, first, escape_code(aid, s + "correct-1", token)),
        ),
    ]


# -- the batch ---------------------------------------------------------------------------------


def tree_hashes(root: Path, skip=()) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not any(rel.startswith(s) for s in skip) and "__pycache__" not in rel:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def grading_cli(course: Path, *args: str, env=None, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grading", *args],
        cwd=course,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


@dataclass
class Batch:
    course: Path
    cases: dict[str, Case]
    scores: dict[str, dict[str, float]]
    output: dict[str, str]  # aid -> stdout of the grading CLI
    returncode: dict[str, int]
    protected_before: dict[str, str]
    protected_after: dict[str, str]
    token: str
    seconds: float
    sources: dict = field(default_factory=dict)


@pytest.fixture(scope="session")
def batch(tmp_path_factory) -> Batch:
    start = time.monotonic()
    course = gl.copy_course(tmp_path_factory.mktemp("robust") / "course")
    (course / "canary.txt").write_text("canary\n")
    (course.parent / "canary.txt").write_text("canary\n")
    token = f"pwned-{uuid.uuid4().hex}"
    cases: dict[str, Case] = {}
    sources = {}
    for aid in ASSIGNMENTS:
        release = gl.read_notebook(gl.generate_assignment(course, aid))
        source = gl.read_notebook(gl.source_path(course, aid))
        sources[aid] = source
        kinds = generic_cases(aid, release, source)
        if aid == HOSTILE:
            kinds += hostile_cases(aid, release, source, token)
        for case in kinds:
            if case.raw is not None:
                path = course / "submitted" / case.student / aid / f"{aid}.ipynb"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(case.raw)
            else:
                with warnings.catch_warnings():  # the "stripped" kind has no cell ids on purpose
                    warnings.simplefilter("ignore")
                    gl.submit(course, case.student, aid, case.nb)
            cases[case.student] = case
    protected = ("solutions", "assignments", "submitted", "nbgrader_config.py", "grading", "utils", "canary.txt")
    before = {k: v for k, v in tree_hashes(course).items() if k.startswith(protected)}
    before["../canary.txt"] = hashlib.sha256((course.parent / "canary.txt").read_bytes()).hexdigest()
    output, codes = {}, {}
    for aid in ASSIGNMENTS:
        proc = grading_cli(course, "autograde", aid, "--timeout", str(TIMEOUT))
        output[aid], codes[aid] = proc.stdout + proc.stderr, proc.returncode
    after = {k: v for k, v in tree_hashes(course).items() if k.startswith(protected)}
    after["../canary.txt"] = hashlib.sha256((course.parent / "canary.txt").read_bytes()).hexdigest()
    scores = {}
    for aid in ASSIGNMENTS:
        scores.update(gl.scores(course, aid))
    seconds = time.monotonic() - start  # reported, not asserted: speed is benchmarks/bench_autograde.py's
    summary = {
        s: {"kind": c.kind, "expected": c.expected, "score": gl.total(scores.get(s, {}))} for s, c in cases.items()
    }
    summary["_batch_seconds"] = round(seconds, 1)
    (course.parent / "summary.json").write_text(json.dumps(summary, indent=1))
    return Batch(course, cases, scores, output, codes, before, after, token, seconds, sources)


def autograded(batch: Batch, student: str):
    case = batch.cases[student]
    return gl.read_notebook(batch.course / "autograded" / student / case.aid / f"{case.aid}.ipynb")


def outputs_text(nb, grade_id: str) -> str:
    cell = gl.find_cell(nb, grade_id)
    parts = []
    for out in cell.get("outputs", []):
        parts.append(out.get("text", "") or "")
        parts.append(out.get("ename", "") + ": " + out.get("evalue", ""))
    return "\n".join(parts)


# -- scores ------------------------------------------------------------------------------------


def _case_ids():
    ids = []
    for aid in ASSIGNMENTS:
        ids += [f"{aid}-{k}" for k in ("honest", "wrong", "blank", "crashing")]
    if HOSTILE in ASSIGNMENTS:
        s = f"{HOSTILE}-"
        ids += [
            s + k
            for k in (
                "correct-1", "correct-2", "partial", "raises", "infinite-loop", "sys-exit", "os-exit",
                "print-20mb", "deleted-test", "edited-test", "edited-points", "duplicated", "renamed-id",
                "invalid-json", "empty-file", "old-nbformat", "stripped", "patch-allclose",
                "patch-assert-close", "patch-numpy", "patch-builtins", "rebind-kit", "cell-above-setup",
                "deleted-kit", "escape",
            )
        ]  # fmt: skip
        ids.append(s + "rebind-in-function")
        ids += [s + k for k in ATTACKS] + [s + k for k in sorted(set(ATTACKS.values()))] + [s + "honest-reordered"]
    return list(dict.fromkeys(ids))  # one test per submission, in the same order in every xdist worker


# issue 10's attacks and the submission each is compared with: the same answers without the attack
ATTACKS = {
    "input-transformer": "all-wrong",
    "tensor-subclass": "wrong-conv2d",
    "kit-below-answers": "all-wrong",
    "answer-above-setup": "all-wrong",
    "rebind-kit": "all-wrong",
    "deleted-kit": "all-wrong",
    "rebind-in-function": "all-wrong",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_gains_nothing_over_the_same_answers_without_it(batch, attack):
    s = f"{HOSTILE}-"
    got, control = (gl.total(batch.scores[s + k]) for k in (attack, ATTACKS[attack]))
    assert got <= control, f"{attack}: {got} points, the same answers without the attack {control}"


@pytest.mark.parametrize("student", _case_ids())
def test_each_submission_gets_its_exact_score(batch, student):
    case = batch.cases[student]
    assert student in batch.scores, f"{student} ({case.kind}) was not graded:\n{batch.output[case.aid]}"
    got = gl.total(batch.scores[student])
    assert got == case.expected, f"{student} ({case.kind}): {got} points, expected {case.expected}"


def test_the_batch_grades_everybody_and_flags_only_the_unreadable_files(batch):
    for aid in ASSIGNMENTS:
        out = batch.output[aid]
        students = [c for c in batch.cases.values() if c.aid == aid]
        for case in students:
            if case.ungradable:
                lines = [line for line in out.splitlines() if line.startswith(f"NOT GRADED  {case.student}:")]
                assert len(lines) == 1 and case.ungradable in lines[0], out
            else:
                assert re.search(rf"^graded +{re.escape(case.student)}: ", out, re.M), out
        assert out.count("NOT GRADED") == sum(bool(c.ungradable) for c in students), out
        assert batch.returncode[aid] == (1 if any(c.ungradable for c in students) else 0), out


REVIEWED = {  # kinds whose own code the grader must flag for a human to read (grading/review.py)
    "patch-allclose", "patch-assert-close", "patch-numpy", "patch-builtins", "rebind-kit", "cell-above-setup",
    "deleted-kit", "rebind-in-function", "escape", "sys-exit", "os-exit",
    "input-transformer", "tensor-subclass", "kit-below-answers", "answer-above-setup",
    "duplicated",  # its copies of test cells have lost their ids: they run as student code, so they are read
}  # fmt: skip
NOT_REVIEWED = {"correct-1", "correct-2", "partial", "raises", "infinite-loop", "print-20mb", "edited-points",
                "old-nbformat", "stripped", "honest", "wrong", "blank", "all-wrong", "wrong-conv2d",
                "honest-reordered"}  # fmt: skip


def test_code_written_against_the_tests_is_flagged_for_review_and_honest_code_is_not(batch):
    flagged = set()
    for out in batch.output.values():
        flagged |= {m.group(1) for m in re.finditer(r"^REVIEW +(\S+): ", out, re.M)}
    for student, case in batch.cases.items():
        kind = student.removeprefix(f"{case.aid}-")
        if case.aid == HOSTILE and kind in REVIEWED:
            assert student in flagged, f"{student} ({case.kind}) was not flagged for review"
        if kind in NOT_REVIEWED:
            assert student not in flagged, f"{student} ({case.kind}) was flagged, but its code is honest"


def test_correct_submissions_are_unaffected_by_the_rest_of_the_batch(batch):
    for aid, source in batch.sources.items():
        full = gl.grade_points(source)
        controls = [s for s, c in batch.cases.items() if c.aid == aid and c.kind in ("honest", "correct (control)")]
        for student in controls:
            assert batch.scores[student] == full, student


def test_gradebook_is_consistent_after_parallel_grading(batch):
    with sqlite3.connect(batch.course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        students = {row[0] for row in db.execute("SELECT id FROM student")}
    assert set(batch.cases) <= students
    for aid, source in batch.sources.items():
        maxima = gl.max_scores(batch.course, aid)
        assert maxima == gl.grade_points(source)  # edited points did not leak into the gradebook


# -- what the bad kinds leave behind -----------------------------------------------------------


def test_infinite_loop_is_interrupted_by_the_cell_timeout_and_later_cells_run(batch):
    student = f"{HOSTILE}-infinite-loop"
    nb = autograded(batch, student)
    assert "CellTimeoutError" in outputs_text(nb, batch.cases[student].notes["cell"])
    last = list(items_of(batch.sources[HOSTILE]))[-1]
    for gid in items_of(batch.sources[HOSTILE])[last]:
        assert batch.scores[student][gid] == gl.grade_points(batch.sources[HOSTILE])[gid]


def test_kernel_death_costs_only_the_cell_that_killed_it(batch):
    student = f"{HOSTILE}-os-exit"
    nb = autograded(batch, student)
    assert "KernelDied" in outputs_text(nb, batch.cases[student].notes["cell"])
    for cell in nb.cells:  # every other code cell ran again in a fresh kernel
        if (
            cell.cell_type == "code"
            and cell.source.strip()
            and gl.nbgrader_meta(cell).get("grade_id") != batch.cases[student].notes["cell"]
        ):
            assert cell.outputs or cell.execution_count, cell.source[:80]


def test_a_20mb_print_is_capped_while_it_arrives(batch):
    path = batch.course / "autograded" / f"{HOSTILE}-print-20mb" / HOSTILE / f"{HOSTILE}.ipynb"
    assert path.stat().st_size < 1_000_000
    assert "output truncated by the autograder" in path.read_text()


def test_restored_test_cells_ran_on_the_students_answers(batch):
    last = list(items_of(batch.sources[HOSTILE]))[-1]
    for kind in ("deleted-test", "edited-test", "renamed-id"):
        nb = autograded(batch, f"{HOSTILE}-{kind}")
        for gid in items_of(batch.sources[HOSTILE])[last]:
            cell = gl.find_cell(nb, gid)
            assert cell.source.rstrip().endswith(gl.find_cell(batch.sources[HOSTILE], gid).source.rstrip())
            assert any(o.get("output_type") == "error" for o in cell.outputs), kind


def test_student_code_cannot_change_anything_outside_its_folder(batch):
    changed = {
        k
        for k in set(batch.protected_before) | set(batch.protected_after)
        if batch.protected_before.get(k) != batch.protected_after.get(k)
    }
    assert not changed, f"files changed by the batch: {sorted(changed)}"
    assert not Path("/tmp", batch.token).exists()
    assert not list(batch.course.rglob("*.pwned")) and not list(batch.course.parent.glob("*.pwned"))
    report = outputs_text(autograded(batch, f"{HOSTILE}-escape"), list(items_of(batch.sources[HOSTILE]))[0])
    for line in report.splitlines():
        if line.startswith(("append", "delete", "create-next-to")) and "/tmp/pwned" not in line:
            assert "blocked" in line, line
    assert "read solutions: blocked" in report
    uid = re.search(r"uid (\d+)", report)
    assert os.geteuid() != 0 or (uid and int(uid.group(1)) >= 61000), report  # a sandbox user of its own


# -- feedback, export, validate ----------------------------------------------------------------


@pytest.fixture(scope="session")
def feedback(batch):
    for aid in ASSIGNMENTS:
        gl.nbgrader(batch.course, "generate_feedback", aid, timeout=600)
    return {p.parent.parent.name: p.read_text() for p in (batch.course / "feedback").glob("*/*/*.html")}


def hidden_lines(aid: str) -> set[str]:
    """The hidden tests' lines that appear nowhere in the released notebook."""
    source = gl.read_notebook(gl.source_path(REPO, aid))
    release = gl.read_notebook(gl.release_path(REPO, aid))
    visible = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    lines = set()
    for cell in source.cells:
        for line in gl.region_lines(cell.source, gl.HIDDEN_BEGIN, gl.HIDDEN_END):
            if len(line.strip()) >= 12 and line.strip() not in visible:
                lines.add(line.strip())
    return lines


def test_feedback_never_shows_a_hidden_test(batch, feedback):
    import html

    graded = {s for s, c in batch.cases.items() if not c.ungradable}
    assert graded <= set(feedback)
    for student, page in feedback.items():
        if student not in batch.cases:
            continue
        text = html.unescape(re.sub(r"<[^>]+>", "", page))
        assert "BEGIN HIDDEN TESTS" not in text
        for line in hidden_lines(batch.cases[student].aid):
            assert line not in text, f"feedback of {student} shows the hidden test line {line!r}"


def test_feedback_shows_the_score_of_each_item(batch, feedback):
    for student, page in feedback.items():
        if student not in batch.cases:
            continue
        got = batch.scores[student]
        maxima = gl.grade_points(batch.sources[batch.cases[student].aid])
        assert f"Score: {sum(got.values()):.1f} / {sum(maxima.values()):.1f}" in page, student
        for gid, pts in got.items():
            assert f'href="#{gid}">Test cell</a> (Score: {pts:.1f} / {maxima[gid]:.1f})' in page, (student, gid)


def test_export_totals_equal_the_sum_of_item_points(batch):
    gl.nbgrader(batch.course, "export", timeout=300)
    with open(batch.course / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    now = {aid: gl.scores(batch.course, aid) for aid in ASSIGNMENTS}
    seen = set()
    for row in rows:
        student, aid = row["student_id"], row["assignment"]
        seen.add(student)
        # a student with no submission of this assignment has a row with raw score 0
        assert float(row["raw_score"]) == gl.total(now[aid].get(student, {})), (student, aid)
        assert float(row["max_score"]) == sum(gl.grade_points(batch.sources[aid]).values())
    assert set(batch.cases) <= seen


def _placeholder_tests(release) -> int:
    """Released test cells with no visible test code (only a docstring: the hidden part was cut)."""
    n = 0
    for cell in release.cells:
        if gl.nbgrader_meta(cell).get("grade") and cell.cell_type == "code":
            body = [line for line in cell.source.splitlines() if line.strip() and not line.lstrip().startswith("#")]
            if len(body) == 1 and body[0].strip().startswith(('"' * 3, "'" * 3)):
                n += 1
    return n


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_validate_passes_every_solution_and_fails_every_release(batch, aid):
    """`nbgrader validate` on the solution: success; `--invert` on the release: every real test fails.

    (Under --invert, validate lists the cells that pass: on a release those can only be the test
    cells whose whole visible content is a docstring, the hidden tests having been cut.)"""
    ok = gl.nbgrader(batch.course, "validate", f"solutions/{aid}/{aid}.ipynb", timeout=300)
    assert "Success! Your notebook passes all the tests." in ok.stdout + ok.stderr, ok.stdout + ok.stderr
    inverted = gl.nbgrader(batch.course, "validate", "--invert", f"assignments/{aid}/{aid}.ipynb", timeout=300)
    out = inverted.stdout + inverted.stderr
    placeholders = _placeholder_tests(gl.read_notebook(gl.release_path(batch.course, aid)))
    if placeholders:
        assert f"NOTEBOOK PASSED ON {placeholders} CELL(S)!" in out, out
    else:
        assert "Success!" in out, out


# -- the sandbox itself ------------------------------------------------------------------------


def test_grading_refuses_to_run_student_code_unsandboxed(batch):
    env = dict(os.environ, PATH="/nonexistent")  # no bwrap on PATH
    check = grading_cli(batch.course, "check", env=env, timeout=120)
    assert check.returncode == 1 and "bubblewrap (bwrap) is not installed" in check.stdout
    run = grading_cli(batch.course, "autograde", HOSTILE, "--student", f"{HOSTILE}-correct-1", env=env, timeout=120)
    assert run.returncode == 2, run.stdout + run.stderr
    first = run.stdout.splitlines()[0]
    assert first.startswith("error: ") and "bubblewrap (bwrap) is not installed" in first, run.stdout
    assert "apt-get install bubblewrap" in first and "--allow-unsandboxed" in first, first
    assert not re.search(r"^graded ", run.stdout, re.M), run.stdout  # nobody was graded


def test_unsandboxed_opt_out_and_sandbox_identity(tmp_path, monkeypatch):
    """In-process: the kernel runs as a sandbox user of its own (from uid_base) in a fresh, in-memory
    working folder at the same path; without bwrap, only an explicit opt-out runs it."""
    sys.path.insert(0, str(REPO))
    from nbformat.v4 import new_code_cell, new_notebook
    from traitlets.config import Config

    from grading import sandbox
    from grading.execute import SandboxedExecute
    from grading.sandbox import SandboxUnavailable

    def run(config):
        nb = new_notebook(cells=[new_code_cell("import os\nprint(os.getuid(), os.getcwd())")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        SandboxedExecute(config=config).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
        return nb.cells[0].outputs[0]["text"]

    inside = run(Config())
    assert inside.split()[1] == str(tmp_path)
    if os.geteuid() == 0:
        assert int(inside.split()[0]) >= 61000
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sandbox, "_PROBE_CACHE", {})
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run(Config())
    config = Config()
    config.SandboxedExecute.allow_unsandboxed = True
    assert run(config).split()[0] == str(os.getuid())


def test_plain_autograde_warns_only_about_the_test_cells_a_student_changed(batch):
    """Untouched hidden-test cells come back silently; the cells of the edited-test kind still warn."""
    student = f"{HOSTILE}-edited-test"
    before = gl.scores(batch.course, HOSTILE)[student]
    log = gl.autograde(batch.course, HOSTILE, f"--student={student}", timeout=600).stderr
    assert gl.scores(batch.course, HOSTILE)[student] == before
    warned = set(re.findall(r"Attribute 'checksum' for cell (\S+) has changed!", log))
    last = list(items_of(batch.sources[HOSTILE]))[-1]
    assert warned == set(items_of(batch.sources[HOSTILE])[last]), log[-3000:]
    assert "SAWarning" not in log, log[-3000:]


# -- what a student sees of a failed hidden test -------------------------------------------------


def _page_text(page: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _error_line(nb, grade_id: str) -> str:
    """`<ename>: <first line of evalue>` of the cell's error output ('' when the cell passed)."""
    for out in gl.find_cell(nb, grade_id).get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out['ename']}: {(out.get('evalue') or '').splitlines()[0]}"
    return ""


def test_feedback_hidden_failure_message_is_a_setting(batch, feedback):
    """Default (nbgrader_config.py): a failed hidden test shows its message. False: only its type and a notice."""
    from grading.feedback import HIDDEN_NOTICE

    source = batch.sources[HOSTILE]
    student = f"{HOSTILE}-wrong"  # the last item returns None: its visible and hidden tests fail
    cells = items_of(source)[list(items_of(source))[-1]]
    hidden = [g for g in cells if gl.HIDDEN_BEGIN in gl.find_cell(source, g).source]
    visible = [g for g in cells if g not in hidden]
    nb = autograded(batch, student)
    messages = {g: _error_line(nb, g) for g in cells}
    assert hidden and all(messages.values()), messages

    shown = _page_text(feedback[student])
    for gid in cells:
        assert messages[gid] in shown, (gid, messages[gid])
    assert HIDDEN_NOTICE not in shown

    gl.nbgrader(
        batch.course,
        "generate_feedback",
        HOSTILE,
        f"--student={student}",
        "--force",
        "--RedactHiddenTestOutput.show_hidden_failure_message=False",
        timeout=600,
    )
    page = (batch.course / "feedback" / student / HOSTILE / f"{HOSTILE}.html").read_text()
    withheld = _page_text(page)
    for gid in hidden:
        assert messages[gid] not in withheld, gid
    for gid in visible:
        assert messages[gid] in withheld, gid
    ename = {messages[g].split(":")[0] for g in hidden}
    assert withheld.count(f": {HIDDEN_NOTICE}") == len(hidden) and all(
        f"{e}: {HIDDEN_NOTICE}" in withheld for e in ename
    )
    maxima = gl.grade_points(source)
    for gid, pts in batch.scores[student].items():  # the scores are still there
        assert f'href="#{gid}">Test cell</a> (Score: {pts:.1f} / {maxima[gid]:.1f})' in page, gid


# -- CI and the CLI's documented defaults ---------------------------------------------------------


def test_ci_stops_when_bubblewrap_cannot_be_installed(tmp_path):
    """`.ci/run` fails (not warns) without bwrap and without a way to install it, so the suite cannot skip."""
    import shutil

    bin_dir = tmp_path / "bin"  # a PATH with no bwrap and no apt-get
    bin_dir.mkdir()
    for tool in ("id", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "python3").symlink_to(sys.executable)
    env = {"PATH": str(bin_dir), "CI": "true", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["/bin/bash", str(REPO / ".ci" / "run"), "sandbox"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bubblewrap (bwrap) is missing and could not be installed" in proc.stderr, proc.stderr


def test_ci_sandbox_step_passes_where_bubblewrap_works():
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "run"), "sandbox"], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "sandbox: OK (bubblewrap)", proc.stdout + proc.stderr


def test_readme_and_cli_agree_on_the_default_number_of_jobs():
    from grading import cli

    text = (REPO / "README.md").read_text()
    stated = [m.group(1) for m in re.finditer(r"`--jobs[^`]*`[^`]{0,40}?default: ([^;,)]+)", text)]
    assert stated and set(stated) == {cli.JOBS_DEFAULT}, stated
    help_text = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    ).stdout
    assert f"default: {cli.JOBS_DEFAULT}, here {(os.cpu_count() or 1) + 1})" in " ".join(help_text.split())


# -- the instructor guide, command by command --------------------------------------------------

README = REPO / "README.md"


def instructor_guide(readme: Path = README) -> str:
    """The README's instructor guide: from the heading `## For instructors` to the next `## ` heading."""
    text = readme.read_text()
    start = text.index("\n## For instructors")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else len(text)]


def guide_commands(readme: Path = README) -> list[str]:
    """Every command line of the guide's ```bash blocks, comments stripped, in order, without repeats."""
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", instructor_guide(readme), re.S | re.M):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith("#") and line not in commands:
                commands.append(line)
    return commands


def guide_block(lang: str, starts_with: str, readme: Path = README) -> str:
    """The guide's one ```<lang> block whose text starts with ``starts_with``."""
    blocks = [b for b in re.findall(rf"^```{lang}\n(.*?)^```", instructor_guide(readme), re.S | re.M)]
    found = [b for b in blocks if b.startswith(starts_with)]
    assert len(found) == 1, f"{len(found)} ```{lang} blocks start with {starts_with!r}"
    return found[0]


def _is_run_as(shown: list[str], ran: list[str]) -> bool:
    """``ran`` is the command ``shown``, with at most extra ``--options`` added."""
    it = iter(ran)
    if not all(any(tok == r for r in it) for tok in shown):  # shown is a subsequence of ran
        return False
    extra = list(ran)
    for tok in shown:
        extra.remove(tok)
    return all(tok.startswith("--") for tok in extra)


def _ci_installs(shown: list[str]) -> bool:
    """An `apt-get install` the guide shows is run by .ci/run (with the same packages)."""
    if "install" not in shown:
        return False
    packages = [t for t in shown[shown.index("install") + 1 :] if not t.startswith("-")]
    ci = (REPO / ".ci" / "run").read_text()
    lines = [line for line in ci.splitlines() if "apt-get install" in line and not line.strip().startswith("#")]
    return bool(packages) and any(all(p in line.split() for p in packages) for line in lines)


@dataclass
class Guide:
    course: Path
    commands: list[str]
    ran: list[list[str]] = field(default_factory=list)  # argv of every command run, in order
    out: dict[str, list[subprocess.CompletedProcess]] = field(default_factory=dict)
    seen: dict = field(default_factory=dict)  # what the flow observed, for the tests to assert

    def command(self, prefix: str) -> str:
        found = [c for c in self.commands if c == prefix or c.startswith(prefix + " ")]
        assert len(found) == 1, f"the guide shows {len(found)} commands starting with {prefix!r}: {found}"
        return found[0]

    def run(self, prefix: str, exact: bool = True) -> subprocess.CompletedProcess:
        """Run the guide's command that starts with ``prefix`` verbatim (bash, in the course)."""
        if exact:
            assert prefix in self.commands, f"the guide no longer shows {prefix!r}: {self.commands}"
        line = prefix if exact else self.command(prefix)
        env = dict(os.environ)
        env.setdefault("MPLBACKEND", "Agg")
        proc = subprocess.run(
            ["bash", "-c", line], cwd=self.course, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        proc.stdout, proc.stderr = proc.stdout or "", proc.stderr or ""
        self.ran.append(shlex.split(line))
        self.out.setdefault(line, []).append(proc)
        return proc


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _formgrader(guide: Guide, student: str, grade_id: str, points: float) -> dict:
    """The guide's `jupyter lab`, then the formgrader: names, the exchange warning, a manual score."""
    import urllib.request

    port, token = _free_port(), uuid.uuid4().hex
    cmd = [*shlex.split(guide.command("jupyter lab")), "--no-browser", f"--port={port}"]
    cmd += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")  # as the guide says
    guide.ran.append(cmd)
    root = f"http://127.0.0.1:{port}/formgrader"
    seen = {}
    server = subprocess.Popen(cmd, cwd=guide.course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def get(url):
        sep = "&" if "?" in url else "?"
        with urllib.request.urlopen(f"{root}/{url}{sep}token={token}", timeout=30) as r:
            return r.read().decode()

    try:
        for _ in range(240):
            try:
                assignments = json.loads(get("api/assignments"))
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise AssertionError("the formgrader did not start")
        seen["assignments"] = [a["name"] for a in assignments]
        seen["students"] = json.loads(get("api/students"))
        seen["manage_assignments"] = get("manage_assignments")
        submission = next(
            s for s in json.loads(get(f"api/submitted_notebooks/{HOSTILE}/{HOSTILE}")) if s["student"] == student
        )
        grade = next(
            g for g in json.loads(get(f"api/grades?submission_id={submission['id']}")) if g["name"] == grade_id
        )
        body = json.dumps({"manual_score": points}).encode()
        request = urllib.request.Request(f"{root}/api/grade/{grade['id']}?token={token}", data=body, method="PUT")
        with urllib.request.urlopen(request, timeout=30) as r:
            seen["manual_score"] = json.loads(r.read())["manual_score"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return seen


def _export(guide: Guide) -> dict[str, dict]:
    proc = guide.run("nbgrader export")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(guide.course / "grades.csv", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == HOSTILE}


@pytest.fixture(scope="session")
def guide(tmp_path_factory) -> Guide:
    """The guide on a fresh course copy, its commands run verbatim in its order: release, class list,
    a Canvas zip (alice; bob late and broken), due date and timestamp, grade the class, the formgrader
    (names, a manual score), feedback, export, a misnamed then fixed re-upload of bob, re-grade, export,
    and the late penalty switched on."""
    import zipfile

    if HOSTILE not in ASSIGNMENTS:
        pytest.skip("the guide's example assignment is a1")
    aid = HOSTILE
    g = Guide(gl.copy_course(tmp_path_factory.mktemp("guide") / "course"), guide_commands())
    s = g.seen
    s["check"] = g.run("python -m grading check")
    s["generate"] = g.run(f"nbgrader generate_assignment {aid} --force")
    s["validate"] = g.run(f"nbgrader validate solutions/{aid}/{aid}.ipynb")
    s["invert"] = g.run(f"nbgrader validate --invert assignments/{aid}/{aid}.ipynb")
    source = gl.read_notebook(gl.source_path(g.course, aid))
    release = gl.read_notebook(gl.release_path(g.course, aid))
    honest = nbformat.writes(gl.fill_solutions(release, source))
    s["source"], s["release"] = source, release

    archive = g.course / "downloaded" / aid / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_download.zip", "w") as z:  # names as Canvas writes them
        z.writestr(f"alice_1001_2001_{aid}.ipynb", honest)
        z.writestr(f"bob_LATE_1002_2002_{aid}-1.ipynb", honest[: len(honest) // 2])  # a broken upload
    s["collect"] = g.run(f"nbgrader zip_collect {aid}")
    s["collected"] = {st: (g.course / "submitted" / st / aid / f"{aid}.ipynb").exists() for st in ("alice", "bob")}

    s["csv"] = guide_block("csv", "id,first_name,last_name,email")
    (g.course / "students.csv").write_text(s["csv"])
    s["import"] = g.run("nbgrader db student import students.csv")
    s["duedate"] = g.run("nbgrader db assignment add", exact=False)
    s["timestamp"] = g.run("echo", exact=False)

    s["class"] = g.run(f"python -m grading autograde {aid}")
    gid = next(iter(gl.grade_points(source)))
    s["manual_gid"] = gid
    s["formgrader"] = _formgrader(g, "alice", gid, 0.5)
    s["feedback"] = g.run(f"nbgrader generate_feedback {aid}")
    s["export_1"] = _export(g)

    # bob sends his notebook again, first under his own name, then as the guide says
    folder = g.course / "submitted" / "bob" / aid
    (folder / f"{aid}.ipynb").unlink()
    (folder / "bob_fixed.ipynb").write_text(honest)
    s["misnamed"] = g.run(f"python -m grading autograde {aid} --student bob")
    (folder / "bob_fixed.ipynb").rename(folder / f"{aid}.ipynb")
    s["regrade"] = g.run(f"python -m grading autograde {aid} --student bob")
    s["scores_cli"] = gl.scores(g.course, aid)
    s["regrade_plain"] = g.run(f"nbgrader autograde {aid} --student bob --force")
    s["scores_plain"] = gl.scores(g.course, aid)
    s["feedback_bob"] = g.run(f"nbgrader generate_feedback {aid} --student bob --force")
    s["export_2"] = _export(g)
    from nbgrader.api import Gradebook

    with Gradebook(gl.db_url(g.course)) as gb:
        s["students_db"] = {st.id: (st.first_name, st.last_name, st.email) for st in gb.students}
        s["due"] = gb.find_assignment(aid).duedate
        s["late_seconds"] = {sub.student.id: sub.total_seconds_late for sub in gb.find_assignment(aid).submissions}

    # the penalty, switched on as the guide says (nbgrader_config.py), then bob re-graded
    with open(g.course / "nbgrader_config.py", "a") as f:
        f.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    s["regrade_late"] = g.run(f"nbgrader autograde {aid} --student bob --force")
    s["export_3"] = _export(g)
    return g


def test_every_command_of_the_guide_is_exercised(guide):
    assert guide.commands, "no ```bash block in the instructor guide"
    for line in guide.commands:
        shown = shlex.split(line)
        if shown[0] == "sudo":
            shown = shown[1:]
        if shown[0] == "apt-get":
            assert _ci_installs(shown), f"{line!r}: .ci/run does not run it"
        else:
            assert any(_is_run_as(shown, ran) for ran in guide.ran), f"the guide shows {line!r}, no test runs it"


def test_guide_release(guide):
    s = guide.seen
    assert s["check"].returncode == 0 and s["check"].stdout.strip() == "sandbox: OK (bubblewrap)"
    assert s["generate"].returncode == 0, s["generate"].stderr
    ok = s["validate"].stdout + s["validate"].stderr
    assert "Success! Your notebook passes all the tests." in ok, ok
    inverted = s["invert"].stdout + s["invert"].stderr
    placeholders = _placeholder_tests(s["release"])
    assert (f"NOTEBOOK PASSED ON {placeholders} CELL(S)!" if placeholders else "Success!") in inverted, inverted
    # the guide's explanation: two "cannot be converted to a float" per docstring-only hidden-test cell
    assert inverted.count("cannot be converted to") == 2 * placeholders, inverted
    assert "cannot be converted to" not in ok


def test_guide_collect_class_list_and_due_date(guide):
    s = guide.seen
    assert s["collect"].returncode == 0 and all(s["collected"].values()), s["collect"].stderr
    assert s["import"].returncode == 0, s["import"].stdout + s["import"].stderr
    rows = list(csv.DictReader(s["csv"].splitlines()))
    for row in rows:
        assert s["students_db"][row["id"]] == (row["first_name"], row["last_name"], row["email"])
    names = {st["id"]: (st["first_name"], st["last_name"]) for st in s["formgrader"]["students"]}
    assert all(names[r["id"]] == (r["first_name"], r["last_name"]) for r in rows), names
    assert s["duedate"].returncode == 0 and s["due"] is not None, s["duedate"].stderr
    assert s["timestamp"].returncode == 0


def test_guide_grades_the_class_and_the_formgrader_works(guide):
    s = guide.seen
    full = sum(gl.grade_points(s["source"]).values())
    out = s["class"].stdout
    assert s["class"].returncode == 1, out
    assert re.search(r"^NOT GRADED  bob: .*is not valid JSON", out, re.M), out
    assert re.search(rf"^graded +alice: {full:g} / {full:g}  \(", out, re.M), out
    fg = s["formgrader"]
    assert HOSTILE in fg["assignments"] and fg["manual_score"] == 0.5
    assert 'id="warning-exchange"' in fg["manage_assignments"]  # the one warning the guide calls expected
    assert s["feedback"].returncode == 0, s["feedback"].stderr
    assert (guide.course / "feedback" / "alice" / HOSTILE / f"{HOSTILE}.html").exists()
    alice = s["export_1"]["alice"]
    assert float(alice["raw_score"]) == full - gl.grade_points(s["source"])[s["manual_gid"]] + 0.5


def test_guide_regrade_one_student(guide):
    s = guide.seen
    full = sum(gl.grade_points(s["source"]).values())
    miss = s["misnamed"].stdout
    assert s["misnamed"].returncode == 1 and "the file must be named a1_convolution.ipynb" in miss, miss
    assert re.search(r"^NOT GRADED  bob: no a1_convolution\.ipynb in .*bob_fixed\.ipynb", miss, re.M), miss
    again = s["regrade"]
    assert again.returncode == 0 and re.search(rf"^graded +bob: {full:g} / {full:g}  \(", again.stdout, re.M), (
        again.stdout
    )
    assert s["regrade_plain"].returncode == 0 and s["scores_plain"] == s["scores_cli"]  # same scores, nobody else moved
    log = s["regrade_plain"].stderr
    assert "has changed!" not in log and "SAWarning" not in log, log[-3000:]
    assert (guide.course / "feedback" / "bob" / HOSTILE / f"{HOSTILE}.html").exists()


def test_guide_late_submission_needs_a_timestamp_and_a_penalty_method(guide):
    s = guide.seen
    full = sum(gl.grade_points(s["source"]).values())
    assert s["late_seconds"]["bob"] > 0 and s["late_seconds"]["alice"] == 0  # only bob has a timestamp.txt
    bob = s["export_2"]["bob"]  # penalty_method "none": recorded late, nothing taken
    assert float(bob["raw_score"]) == full and float(bob["score"]) == full
    bob = s["export_3"]["bob"]  # penalty_method "zero"
    assert s["regrade_late"].returncode == 0
    assert float(bob["raw_score"]) == full and float(bob["score"]) == 0.0
    alice = s["export_3"]["alice"]
    assert float(alice["score"]) == float(alice["raw_score"]) == float(s["export_1"]["alice"]["raw_score"])
