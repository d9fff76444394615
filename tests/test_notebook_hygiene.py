"""Hygiene of the stored notebooks: what students read on the web must be clean and true.

nbval (run by `pytest` on lectures/ and solutions/) proves the stored outputs; these tests
check everything else: template, execution order, no errors, no machine paths, sizes.
"""

import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
LECTURES = sorted((ROOT / "lectures").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.ipynb"))
STORED = LECTURES + SOLUTIONS
ABSOLUTE_PATH = re.compile(r"(/work/|/tmp/|/root/|/home/\w+/|/Users/\w+/|[A-Z]:\\\\Users)")


def ids(paths):
    return [p.relative_to(ROOT).as_posix() for p in paths]


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]


def test_the_course_has_lectures_and_solutions():
    assert LECTURES, "no lecture notebooks found in lectures/"
    assert SOLUTIONS, "no solution notebooks found in solutions/"


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_notebook_is_valid_nbformat_4_with_a_python3_kernel(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_every_code_cell_was_run_once_top_to_bottom(path):
    counts = [c.execution_count for c in code_cells(nbformat.read(path, as_version=4))]
    assert None not in counts, "some code cells were never executed: store the outputs of a full run"
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts}: re-run in a fresh kernel"


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_cells_carry_no_execution_timestamps(path):
    stamped = [i for i, c in enumerate(nbformat.read(path, as_version=4).cells) if "execution" in c.metadata]
    assert not stamped, f"cells {stamped} keep nbconvert's timestamps: every re-run would change the file"


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_no_stored_output_is_an_error(path):
    for cell in code_cells(nbformat.read(path, as_version=4)):
        errors = [o.get("ename") for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"stored error {errors} in cell:\n{cell.source[:200]}"
        stderr = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
        assert "Traceback" not in stderr and "Warning:" not in stderr, f"stderr in cell:\n{stderr[:500]}"


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_outputs_hold_no_machine_paths_and_stay_small(path):
    nb = nbformat.read(path, as_version=4)
    text = json.dumps([c.outputs for c in code_cells(nb)])
    assert not ABSOLUTE_PATH.search(text), f"absolute path in outputs: {ABSOLUTE_PATH.search(text).group(0)}"
    assert path.stat().st_size < 3_000_000, f"{path.name} is {path.stat().st_size // 1000} kB"
    for cell in code_cells(nb):
        for out in cell.outputs:
            assert len(json.dumps(out)) < 600_000, f"an output of {len(json.dumps(out)) // 1000} kB"


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_lecture_follows_the_template(path):
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "first cell: '# NN · Title'"
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("Learning objectives", "Setup", "Summary", "References", "Exercises"):
        assert heading.lower() in markdown.lower(), f"missing section: {heading}"
    setup = code_cells(nb)[0].source
    seeded = re.search(r"^seed_everything\(0\b", setup, re.M)
    assert seeded, "the first code cell is the setup cell and seeds everything"
    asserts = sum("assert " in c.source for c in code_cells(nb))
    assert asserts >= 5, f"only {asserts} cells check a claim with assert"


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_lecture_is_listed_in_the_readme(path):
    assert f"lectures/{path.name}" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize("path", STORED, ids=ids(STORED))
def test_ignored_output_cells_are_followed_by_an_assert(path):
    cells = code_cells(nbformat.read(path, as_version=4))
    for i, cell in enumerate(cells):
        if cell.source.lstrip().startswith("# NBVAL_IGNORE_OUTPUT"):
            nxt = cells[i + 1].source if i + 1 < len(cells) else ""
            assert "assert" in cell.source or "assert" in nxt, (
                f"an NBVAL_IGNORE_OUTPUT cell must be checked by an assert in the next cell:\n{cell.source[:200]}"
            )
