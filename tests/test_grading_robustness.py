"""The grading pipeline under hostile and broken submissions, end to end (real nbgrader runs).

One session fixture builds a class on a temporary copy of the course and grades it ONCE with
`python -m grading autograde` (grading/cli.py: the sandboxed, parallel batch of the
instructor guide). The tests then read that batch's gradebook, files, feedback and export.

- For EVERY assignment in solutions/: an honest, a wrong, a blank and a crashing submission
  (generated from the notebooks, so a new assignment is covered automatically).
- For the hostile assignment (a1): every bad-submission kind of KINDS below, each with its
  exact expected score, in the same batch as correct submissions whose grades must not move;
  a submission that tries to write outside its folder must change nothing (file hashes).
- Feedback has no hidden test, export totals equal the items' points, validate gates the
  solutions and the releases, the sandbox refuses to run without bubblewrap.

Needs bubblewrap (`apt-get install bubblewrap`, done by .ci/run): skipped without it, failed
without it on CI.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import os
import re
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
TIMEOUT = 15  # per-cell seconds in the test batch (nbgrader_config.py: 60); the infinite loop costs this


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
PRINT_100MB = 'print("x" * 100_000_000)'
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
        Case(s + "print-100mb", aid, "prints 100 MB", total, append(honest, first, PRINT_100MB)),
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
    return Batch(course, cases, scores, output, codes, before, after, token, time.monotonic() - start, sources)


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
                "print-100mb", "deleted-test", "edited-test", "edited-points", "duplicated", "renamed-id",
                "invalid-json", "empty-file", "old-nbformat", "stripped", "patch-allclose",
                "patch-assert-close", "patch-numpy", "patch-builtins", "rebind-kit", "cell-above-setup",
                "deleted-kit", "escape",
            )
        ]  # fmt: skip
        ids.append(s + "rebind-in-function")
    return ids


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
}  # fmt: skip
NOT_REVIEWED = {"correct-1", "correct-2", "partial", "raises", "infinite-loop", "print-100mb", "edited-points",
                "duplicated", "old-nbformat", "stripped", "honest", "wrong", "blank"}  # fmt: skip


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


def test_a_100mb_print_is_capped_while_it_arrives(batch):
    path = batch.course / "autograded" / f"{HOSTILE}-print-100mb" / HOSTILE / f"{HOSTILE}.ipynb"
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
    assert "uid 65534" in report or os.geteuid() != 0


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
    now = {}
    for aid in ASSIGNMENTS:
        now.update(gl.scores(batch.course, aid))
    seen = set()
    for row in rows:
        student, aid = row["student_id"], row["assignment"]
        seen.add(student)
        assert float(row["raw_score"]) == gl.total(now[student]), student
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
    assert "refusing" not in run.stdout or "bubblewrap" in run.stdout
    assert "apt-get install bubblewrap" in run.stdout and "--allow-unsandboxed" in run.stdout


def test_unsandboxed_opt_out_and_sandbox_identity(tmp_path, monkeypatch):
    """In-process: the kernel runs as nobody in the sandbox; without bwrap, only an explicit opt-out runs it."""
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
        assert inside.split()[0] == "65534"
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sandbox, "_PROBE_CACHE", {})
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run(Config())
    config = Config()
    config.SandboxedExecute.allow_unsandboxed = True
    assert run(config).split()[0] == str(os.getuid())


def test_batch_summary_and_time_budget(batch):
    """The batch fits the test-time budget; its summary (kind, expected, score) is left next to it."""
    summary = {
        s: {"kind": c.kind, "expected": c.expected, "score": gl.total(batch.scores.get(s, {}))}
        for s, c in batch.cases.items()
    }
    (batch.course.parent / "summary.json").write_text(json.dumps(summary, indent=1))
    assert batch.seconds < 400, f"the batch took {batch.seconds:.0f} s"


# -- the instructor guide, command by command --------------------------------------------------

GUIDE_FILES = [REPO / "README.md"]
# Every nbgrader / grading / jupyter command the guide shows, as the test below runs it.
EXERCISED = {
    "nbgrader generate_assignment a1_convolution --force",
    "nbgrader validate solutions/a1_convolution/a1_convolution.ipynb",
    "nbgrader validate --invert assignments/a1_convolution/a1_convolution.ipynb",
    "nbgrader zip_collect a1_convolution",
    "python -m grading check",
    "python -m grading autograde a1_convolution",
    "python -m grading autograde a1_convolution --student bob",
    "nbgrader autograde a1_convolution --student bob --force",
    "nbgrader autograde a1_convolution",  # README's short list; run as `... --force` by the batch of test_grading.py
    "jupyter lab",
    "nbgrader generate_feedback a1_convolution",
    "nbgrader generate_feedback a1_convolution --student bob --force",
    "nbgrader export",
}


def guide_commands() -> set[str]:
    """Command lines in the fenced code blocks of the README (its instructor guide)."""
    commands = set()
    for path in GUIDE_FILES:
        if not path.exists():
            continue
        for block in re.findall(r"```(?:bash|sh|shell|console)?\n(.*?)```", path.read_text(), re.S):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ").split("  #")[0].strip()
                if line.startswith(("nbgrader ", "python -m grading", "jupyter lab")):
                    commands.add(line)
    return commands


def test_every_command_of_the_guide_is_exercised():
    commands = guide_commands()
    assert commands, "no instructor guide found"
    assert commands <= EXERCISED, f"commands shown but not tested: {sorted(commands - EXERCISED)}"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _formgrader_put_manual_score(course: Path, student: str, grade_id: str, points: float) -> None:
    """`jupyter lab` from the course root, then the formgrader's manual grading (its REST API)."""
    import urllib.request

    port, token = _free_port(), uuid.uuid4().hex
    cmd = ["jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.ip=127.0.0.1", f"--ServerApp.token={token}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    base = f"http://127.0.0.1:{port}/formgrader/api"
    server = subprocess.Popen(cmd, cwd=course, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(240):
            try:
                with urllib.request.urlopen(f"{base}/assignments?token={token}", timeout=5) as r:
                    assert HOSTILE in [a["name"] for a in json.loads(r.read())]
                break
            except OSError:
                time.sleep(0.25)
        else:
            raise AssertionError("the formgrader did not start")
        with urllib.request.urlopen(f"{base}/submitted_notebooks/{HOSTILE}/{HOSTILE}?token={token}", timeout=30) as r:
            submission = next(s for s in json.loads(r.read()) if s["student"] == student)
        with urllib.request.urlopen(f"{base}/grades?submission_id={submission['id']}&token={token}", timeout=30) as r:
            grade = next(g for g in json.loads(r.read()) if g["name"] == grade_id)
        body = json.dumps({"manual_score": points}).encode()
        request = urllib.request.Request(f"{base}/grade/{grade['id']}?token={token}", data=body, method="PUT")
        with urllib.request.urlopen(request, timeout=30) as r:
            assert json.loads(r.read())["manual_score"] == points
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.skipif(HOSTILE not in ASSIGNMENTS, reason="the guide's example assignment is a1")
def test_instructor_guide_flow_collect_autograde_regrade_manual_feedback_export(batch, tmp_path):
    """The guide's commands after a release, on a fresh course sharing the batch's gradebook:
    LMS zip -> submitted/, grade the class, fix and re-grade one student, grade a late one with
    plain nbgrader, grade by hand in the formgrader, feedback and export."""
    import shutil
    import zipfile

    aid = HOSTILE
    course = gl.copy_course(tmp_path / "course", root=batch.course)
    shutil.copy(batch.course / "gradebook.db", course / "gradebook.db")  # the release is registered there
    assert grading_cli(course, "check").stdout.strip() == "sandbox: OK (bubblewrap)"
    source = gl.read_notebook(gl.source_path(course, aid))
    honest = nbformat.writes(gl.fill_solutions(gl.read_notebook(gl.release_path(course, aid)), source))
    archive = course / "downloaded" / aid / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms_download.zip", "w") as z:  # names as Canvas writes them
        z.writestr(f"alice_1001_2001_{aid}.ipynb", honest)
        z.writestr(f"bob_LATE_1002_2002_{aid}-1.ipynb", honest[: len(honest) // 2])  # a broken upload
    gl.nbgrader(course, "zip_collect", aid)
    for student in ("alice", "bob"):
        assert (course / "submitted" / student / aid / f"{aid}.ipynb").exists()

    first = grading_cli(course, "autograde", aid)
    assert first.returncode == 1, first.stdout
    assert re.search(r"^NOT GRADED  bob: .*is not valid JSON", first.stdout, re.M), first.stdout
    assert re.search(r"^graded +alice: 15 / 15", first.stdout, re.M), first.stdout

    # bob sends his notebook again: re-grade only him
    (course / "submitted" / "bob" / aid / f"{aid}.ipynb").write_text(honest)
    again = grading_cli(course, "autograde", aid, "--student", "bob")
    assert again.returncode == 0 and re.search(r"^graded +bob: 15 / 15", again.stdout, re.M), again.stdout
    before = gl.scores(course, aid)
    gl.nbgrader(course, "autograde", aid, "--student", "bob", "--force")  # plain nbgrader, same sandbox
    assert gl.scores(course, aid) == before  # same score, nobody else touched

    # manual grading: the instructor overrides one test of alice in the formgrader
    gid = next(iter(gl.grade_points(source)))
    _formgrader_put_manual_score(course, "alice", gid, 0.5)

    gl.nbgrader(course, "generate_feedback", aid, "--student", "bob", "--force")
    assert (course / "feedback" / "bob" / aid / f"{aid}.html").exists()
    gl.nbgrader(course, "export")
    with open(course / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f) if r["assignment"] == aid}
    assert float(rows["bob"]["score"]) == 15.0
    assert float(rows["alice"]["score"]) == 15.0 - gl.grade_points(source)[gid] + 0.5
