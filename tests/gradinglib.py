"""Helpers for the grading-pipeline tests: a throw-away copy of the course, submissions, nbgrader.

Every test that grades works on a copy of the course in a temporary folder, never on the repo
itself (nbgrader writes a gradebook and folders wherever it runs). The usual flow:

    course = copy_course(tmp_path / "course")
    release = generate_assignment(course, "a1_convolution")        # registers it in the gradebook
    source = read_notebook(course / "solutions" / "a1_convolution" / "a1_convolution.ipynb")
    submit(course, "alice", "a1_convolution", source)
    submit(course, "bob", "a1_convolution", replace_solution(fill_solutions(release, source), "pad2d", WRONG))
    autograde(course, "a1_convolution")
    scores(course, "a1_convolution")         # {"alice": {"pad2d_visible": 1.0, ...}, "bob": {...}}

Notebooks are `nbformat.NotebookNode`s; nothing here knows about one assignment's content
(grade ids are read from the notebooks and the gradebook). Used by tests/test_release.py and
tests/test_grading.py.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]

# What a course copy leaves out: version control, caches, nbgrader's working folders and
# database, downloaded data, and the parts no grading step reads.
COPY_EXCLUDE = (
    ".git",
    ".ci",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    "__pycache__",
    "*.egg-info",
    "data",
    "lectures",
    "benchmarks",
    "tests",
    "submitted",
    "autograded",
    "feedback",
    "release",
    "source",
    "exchange",
    "downloaded",
    "gradebook.db",
    "gradebook.db-journal",
)

SOLUTION_BEGIN, SOLUTION_END = "### BEGIN SOLUTION", "### END SOLUTION"
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
GRADE_ID_SUFFIX = re.compile(r"_(visible|hidden)$")


# -- the course copy -------------------------------------------------------------------------


def copy_course(dest: Path, root: Path = REPO, exclude=COPY_EXCLUDE) -> Path:
    """Copy the course at ``root`` (default: this repo) into ``dest`` and return ``dest``.

    Keeps what nbgrader needs (``nbgrader_config.py``, ``solutions/``, ``assignments/``,
    ``utils/``, any package the config imports, ``pyproject.toml``...), leaves out
    ``exclude`` (glob patterns matched against every file and folder name).
    """
    dest = Path(dest)
    shutil.copytree(root, dest, ignore=shutil.ignore_patterns(*exclude), dirs_exist_ok=True)
    return dest


def nbgrader(course: Path, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``nbgrader *args`` with ``course`` as working directory (its own config and gradebook).

    Returns the finished process (``stdout`` and ``stderr`` as text). With ``check``, a
    non-zero exit raises ``RuntimeError`` carrying nbgrader's log. A run longer than
    ``timeout`` seconds raises ``subprocess.TimeoutExpired``.
    """
    exe = shutil.which("nbgrader")
    cmd = [exe] if exe else [sys.executable, "-m", "nbgrader"]
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    proc = subprocess.run(
        [*cmd, *args], cwd=course, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"nbgrader {' '.join(args)} exited with {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def generate_assignment(course: Path, aid: str, timeout: float = 120) -> Path:
    """``nbgrader generate_assignment <aid> --force`` in ``course``: writes the release and
    registers the assignment (its grade cells and points) in that course's gradebook.

    Returns the released notebook's path ``course/assignments/<aid>/<aid>.ipynb``.
    """
    nbgrader(course, "generate_assignment", aid, "--force", timeout=timeout)
    return release_path(course, aid)


def source_path(course: Path, aid: str) -> Path:
    """``course/solutions/<aid>/<aid>.ipynb``: the instructor version (nbgrader source)."""
    return Path(course) / "solutions" / aid / f"{aid}.ipynb"


def release_path(course: Path, aid: str) -> Path:
    """``course/assignments/<aid>/<aid>.ipynb``: the student version (nbgrader release)."""
    return Path(course) / "assignments" / aid / f"{aid}.ipynb"


# -- notebooks ---------------------------------------------------------------------------------


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook (nbformat 4)."""
    return nbformat.read(str(path), as_version=4)


def write_notebook(nb: nbformat.NotebookNode, path: Path) -> Path:
    """Write ``nb`` to ``path`` (parents created) and return ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict ({} for a cell nbgrader does not know)."""
    return dict(cell.get("metadata", {}).get("nbgrader", {}))


def find_cell(nb, grade_id: str):
    """The cell whose nbgrader ``grade_id`` is ``grade_id`` (KeyError if there is none)."""
    for cell in nb.cells:
        if nbgrader_meta(cell).get("grade_id") == grade_id:
            return cell
    raise KeyError(f"no cell with grade_id {grade_id!r}")


def solution_ids(nb) -> list[str]:
    """grade ids of the solution cells (the graded items), in notebook order."""
    return [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c).get("solution")]


def grade_points(nb) -> dict[str, float]:
    """{grade_id: points} of the notebook's grade (test) cells, in notebook order."""
    return {
        nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c).get("points", 0))
        for c in nb.cells
        if nbgrader_meta(c).get("grade")
    }


def item_of(grade_id: str) -> str:
    """The graded item a test cell belongs to: ``conv2d_forward_hidden`` -> ``conv2d_forward``.

    Test cells are named ``<item>_visible`` and ``<item>_hidden`` (STYLE.md item 10).
    """
    return GRADE_ID_SUFFIX.sub("", grade_id)


def region_lines(source: str, begin: str, end: str) -> list[str]:
    """The lines strictly between each ``begin`` and ``end`` marker line of ``source``."""
    lines, inside = [], False
    for line in source.splitlines():
        if line.strip() == begin:
            inside = True
        elif line.strip() == end:
            inside = False
        elif inside:
            lines.append(line)
    return lines


def secret_lines(nb) -> set[str]:
    """Stripped lines written only inside solution or hidden-test regions of ``nb``'s cells.

    A line that also occurs outside every region (``with _T.from_scratch():``, a blank line)
    is public and left out, and so are the marker lines themselves.
    """
    inside, outside = set(), set()
    for cell in nb.cells:
        depth = 0
        for line in cell.source.splitlines():
            s = line.strip()
            if s in (SOLUTION_BEGIN, HIDDEN_BEGIN):
                depth += 1
            elif s in (SOLUTION_END, HIDDEN_END):
                depth -= 1
            else:
                (inside if depth > 0 else outside).add(s)
    return inside - outside - {""}


def replace_solution(nb, grade_id: str, code: str):
    """A copy of ``nb`` in which the solution cell ``grade_id`` holds ``code``.

    When the cell has a ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region or the release
    stub (``# YOUR CODE HERE`` + ``raise NotImplementedError()``), only that part is replaced
    and ``code`` is indented like it (give the function *body*); otherwise the whole cell
    becomes ``code`` (give a complete cell, e.g. a whole ``def``). Outputs are cleared.
    """
    nb = copy.deepcopy(nb)
    cell = find_cell(nb, grade_id)
    if not nbgrader_meta(cell).get("solution"):
        raise ValueError(f"cell {grade_id!r} is not a solution cell")
    cell.source = _replace_body(cell.source, code)
    cell.outputs, cell.execution_count = [], None
    return nb


def set_cell_source(nb, grade_id: str, code: str):
    """A copy of ``nb`` whose cell ``grade_id`` (any kind: solution, test, locked) is ``code``."""
    nb = copy.deepcopy(nb)
    cell = find_cell(nb, grade_id)
    cell.source = code
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return nb


def delete_cell(nb, grade_id: str):
    """A copy of ``nb`` without the cell ``grade_id`` (a student who deleted it)."""
    nb = copy.deepcopy(nb)
    nb.cells.remove(find_cell(nb, grade_id))
    return nb


def _replace_body(source: str, code: str) -> str:
    lines = source.splitlines()
    marks = [i for i, line in enumerate(lines) if line.strip() in (SOLUTION_BEGIN, "# YOUR CODE HERE")]
    if not marks:
        return code
    start = marks[0]
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    end = start + 1
    stop_marks = (SOLUTION_END, "raise NotImplementedError()", "raise NotImplementedError")
    while end < len(lines) and lines[end].strip() not in stop_marks:
        end += 1
    body = [indent + line if line.strip() else "" for line in code.strip("\n").splitlines()]
    return "\n".join(lines[:start] + body + lines[end + 1 :])


def fill_solutions(release, source, only=None):
    """A copy of the released notebook ``release`` whose solution cells hold the source's code.

    That is what a student who solved everything like the instructor would submit: the
    release's cells and metadata, the source's answers. ``only``: the grade ids to fill
    (default: all solution cells).
    """
    nb = copy.deepcopy(release)
    for gid in solution_ids(source) if only is None else only:
        find_cell(nb, gid).source = find_cell(source, gid).source
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


# -- submissions, autograding, scores ----------------------------------------------------------


def submit(course: Path, student: str, aid: str, nb) -> Path:
    """Put ``nb`` where nbgrader looks for it: ``course/submitted/<student>/<aid>/<aid>.ipynb``."""
    return write_notebook(nb, Path(course) / "submitted" / student / aid / f"{aid}.ipynb")


def autograde(course: Path, aid: str, *extra: str, timeout: float = 600, check: bool = True):
    """``nbgrader autograde <aid> --force`` in ``course``: grades every submitted notebook of
    ``aid`` (students are created in the gradebook as needed). ``extra``: more arguments,
    e.g. ``"--student=alice"``. Returns the finished process (see :func:`nbgrader`).
    """
    if sandbox_problem() is not None:  # no bubblewrap here: these are the tests' own, trusted notebooks
        extra = (*extra, "--SandboxedExecute.allow_unsandboxed=True")
    return nbgrader(course, "autograde", aid, "--force", *extra, timeout=timeout, check=check)


def sandbox_problem() -> str | None:
    """None when the autograder's sandbox (grading/sandbox.py, bubblewrap) works here, else why not."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from grading.sandbox import sandbox_problem as problem

    return problem()


def db_url(course: Path) -> str:
    """The course copy's gradebook URL (nbgrader_config.py puts it at the course root)."""
    return "sqlite:///" + str(Path(course) / "gradebook.db")


def scores(course: Path, aid: str, notebook: str | None = None) -> dict[str, dict[str, float]]:
    """{student: {grade_id: points scored}} for every autograded submission of ``aid``.

    Reads the gradebook (``nbgrader.api.Gradebook``); ``notebook`` defaults to ``aid`` (the
    course has one notebook per assignment). A student whose notebook was not graded is
    missing from the result.
    """
    from nbgrader.api import Gradebook, MissingEntry

    notebook = notebook or aid
    out: dict[str, dict[str, float]] = {}
    with Gradebook(db_url(course)) as gb:
        for student in gb.students:
            try:
                sub = gb.find_submission_notebook(notebook, aid, student.id)
            except MissingEntry:
                continue
            out[student.id] = {g.name: float(g.score) for g in sub.grades}
    return out


def max_scores(course: Path, aid: str, notebook: str | None = None) -> dict[str, float]:
    """{grade_id: max points} of ``aid`` as registered in the course copy's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url(course)) as gb:
        nb = gb.find_notebook(notebook or aid, aid)
        return {g.name: float(g.max_score) for g in nb.grade_cells}


def by_item(cell_scores: dict[str, float]) -> dict[str, float]:
    """Sum per-cell points into per-item points: {"pad2d_visible": 1, "pad2d_hidden": 2} -> {"pad2d": 3}."""
    items: dict[str, float] = {}
    for gid, pts in cell_scores.items():
        items[item_of(gid)] = items.get(item_of(gid), 0.0) + pts
    return items


def total(cell_scores: dict[str, float]) -> float:
    """Total points of one student's {grade_id: points}."""
    return float(sum(cell_scores.values()))


# -- cells run without nbgrader (fast checks of many variants) ---------------------------------

_RUN_CELLS = r"""
import contextlib, io, json, sys, traceback
jobs = json.load(open(sys.argv[1]))
results = []
for job in jobs:
    ns, outcome = {"__name__": "__main__"}, {}
    for gid, source in job:
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(source, f"<cell {gid}>", "exec"), ns)
            outcome[gid] = None
        except BaseException as e:  # noqa: BLE001 - every failure is a result
            outcome[gid] = f"{type(e).__name__}: {e}"[:500]
    results.append(outcome)
print(json.dumps(results))
"""


def cells_of(nb, items) -> list[str]:
    """grade ids of the cells that set up the tests (locked, no points) and of every solution and test
    cell that belongs to one of ``items`` (graded items), in notebook order."""
    out = []
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if cell.cell_type != "code" or gid is None:
            continue
        if (meta.get("locked") and not meta.get("grade")) or item_of(gid) in items:
            out.append(gid)
    return out


def run_cells(jobs, cwd: Path = REPO, timeout: float = 600) -> list[dict[str, str | None]]:
    """Run notebooks' code cells in plain Python, without nbgrader or a kernel: fast enough for
    dozens of variants of one answer.

    ``jobs``: a list of ``(notebook, grade_ids)``; each notebook's cells ``grade_ids`` run in
    that order in a fresh namespace, all jobs in ONE fresh Python process (started in ``cwd``)
    so that nothing a cell patches reaches the caller. Returns one ``{grade_id: None if the
    cell ran without an exception, else "ExceptionName: message"}`` per job. A cell that
    breaks the process (``os._exit``) breaks the whole run: use nbgrader for those.
    """
    import json
    import tempfile

    payload = [[(gid, find_cell(nb, gid).source) for gid in gids] for nb, gids in jobs]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(payload, f)
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _RUN_CELLS, f.name],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"},
        )
    finally:
        os.unlink(f.name)
    if proc.returncode != 0:
        raise RuntimeError(f"run_cells exited with {proc.returncode}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- the grading CLI and hostile submissions (added for tests/test_grading_a2.py) ----------------


def grade_batch(course: Path, aid: str, *extra: str, cell_timeout: int = 30, timeout: float = 900):
    """``python -m grading autograde <aid> --timeout <cell_timeout>`` in ``course``: the sandboxed,
    parallel batch of the instructor guide (``--allow-unsandboxed`` added where bubblewrap is
    missing: these are the tests' own notebooks). Returns the finished process; it does not raise
    on a non-zero exit (an ungradable file exits 1), read the gradebook with :func:`scores`.
    """
    args = [sys.executable, "-m", "grading", "autograde", aid, "--timeout", str(cell_timeout), *extra]
    if sandbox_problem() is not None:
        args.append("--allow-unsandboxed")
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "Agg")
    return subprocess.run(args, cwd=course, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def prepend_code(nb, grade_id: str, code: str):
    """A copy of ``nb`` whose cell ``grade_id`` starts with ``code`` (student code before an answer)."""
    nb = copy.deepcopy(nb)
    cell = find_cell(nb, grade_id)
    cell.source = code.rstrip("\n") + "\n" + cell.source
    return nb


def drop_cells(nb, grade_ids):
    """A copy of ``nb`` without the cells ``grade_ids`` (a student who deleted them)."""
    nb = copy.deepcopy(nb)
    gone = set(grade_ids)
    nb.cells = [c for c in nb.cells if nbgrader_meta(c).get("grade_id") not in gone]
    return nb


HOSTILE_CODE = {
    "infinite-loop": "while True:\n    pass",
    "os-exit": "import os\nos._exit(1)",
    "patch-allclose": (
        "import torch\n"
        "torch.allclose = lambda *args, **kwargs: True\n"
        "torch.equal = lambda *args, **kwargs: True\n"
        "torch.Tensor.allclose = lambda *args, **kwargs: True\n"
        "torch.Tensor.equal = lambda *args, **kwargs: True\n"
    ),
}


def hostile_submissions(release, source) -> dict[str, tuple]:
    """The hostile and broken kinds of tests/test_grading_robustness.py that any assignment must
    grade without harm, built from its release and source: ``{kind: (notebook, expected
    {grade_id: points})}``. ``mid`` and ``last`` are the middle and the last graded items:

    - ``blank``: the release as it is (0 everywhere);
    - ``raises``: the mid item's answer raises (its cells 0, the rest full);
    - ``infinite-loop`` / ``os-exit``: the mid item's cell loops forever / kills the kernel (its
      cells 0: the cell is interrupted or skipped on a re-run, the rest full);
    - ``deleted-test``: the last item's test cells deleted and its answer wrong (they come back
      from the source and fail: 0 for them);
    - ``patch-allclose``: patches torch.allclose/equal before the first answer, the last answer
      wrong (only the last item's cells lose).
    """
    points = grade_points(source)
    items = solution_ids(source)
    mid, last = items[len(items) // 2], items[-1]
    honest = fill_solutions(release, source)
    wrong_last = replace_solution(honest, last, "return None")

    def losing(*lost_items):
        return {gid: (0.0 if item_of(gid) in lost_items else pts) for gid, pts in points.items()}

    last_tests = [gid for gid in points if item_of(gid) == last]
    return {
        "blank": (copy.deepcopy(release), losing(*items)),
        "raises": (replace_solution(honest, mid, 'raise RuntimeError("my bug")'), losing(mid)),
        "infinite-loop": (prepend_code(honest, mid, HOSTILE_CODE["infinite-loop"]), losing(mid)),
        "os-exit": (prepend_code(honest, mid, HOSTILE_CODE["os-exit"]), losing(mid)),
        "deleted-test": (drop_cells(wrong_last, last_tests), losing(last)),
        "patch-allclose": (prepend_code(wrong_last, items[0], HOSTILE_CODE["patch-allclose"]), losing(last)),
    }


def load_sandbox_config(course: Path) -> dict:
    """The settings of grading.sandbox.SandboxKernelManager that ``course``'s nbgrader_config.py gives
    (its defaults where the file is silent): {trait name: value}."""
    from grading.cli import load_config
    from grading.sandbox import SandboxKernelManager

    manager = SandboxKernelManager(config=load_config(str(course)))
    return {name: getattr(manager, name) for name in manager.trait_names(config=True)}
