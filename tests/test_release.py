"""The released assignments are what nbgrader makes of the solutions, and give nothing away.

For every nbgrader source notebook solutions/<aid>/<aid>.ipynb: assignments/<aid>/<aid>.ipynb
equals a fresh `nbgrader generate_assignment <aid>` (run on a temporary copy of the course),
holds no solution code and no hidden test, carries no outputs, and the points add up.
"""

from __future__ import annotations

import re

import gradinglib as gl
import pytest

AIDS = sorted(p.name for p in (gl.REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists())
MARKERS = (gl.SOLUTION_BEGIN, gl.SOLUTION_END, gl.HIDDEN_BEGIN, gl.HIDDEN_END)
STABLE_CELL_METADATA = ("nbgrader", "editable", "deletable")  # ids, execution metadata etc. may vary
TOTAL = re.compile(r"\*\*Total:\s*(\d+)\s*points?\*\*")
PART = re.compile(r"^##\s.*\((\d+)\s*points?\)\s*$", re.MULTILINE)

pytestmark = pytest.mark.parametrize("aid", AIDS)


def source_of(aid):
    return gl.read_notebook(gl.source_path(gl.REPO, aid))


def committed_release(aid):
    return gl.read_notebook(gl.release_path(gl.REPO, aid))


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    """{aid: notebook} generated now by nbgrader from a copy of solutions/ (one copy for all)."""
    course = gl.copy_course(tmp_path_factory.mktemp("release") / "course")
    return {aid: gl.read_notebook(gl.generate_assignment(course, aid)) for aid in AIDS}


def cell_view(cell):
    meta = {k: cell.metadata[k] for k in STABLE_CELL_METADATA if k in cell.metadata}
    return {"cell_type": cell.cell_type, "source": cell.source, "metadata": meta}


def test_committed_release_equals_a_fresh_generate_assignment(aid, fresh_release):
    committed, fresh = committed_release(aid), fresh_release[aid]
    assert len(committed.cells) == len(fresh.cells), f"run: nbgrader generate_assignment {aid} --force"
    for i, (got, want) in enumerate(zip(committed.cells, fresh.cells)):
        assert cell_view(got) == cell_view(want), f"cell {i} differs; run: nbgrader generate_assignment {aid} --force"


def test_release_contains_no_solution_or_hidden_test_marker(aid):
    text = gl.release_path(gl.REPO, aid).read_text()
    assert [m for m in MARKERS if m in text] == []


def test_release_contains_no_line_of_a_solution_or_a_hidden_test(aid):
    secret = {line for line in gl.secret_lines(source_of(aid)) if len(line) > 3 and not line.startswith("#")}
    assert secret, "the source has no solution or hidden-test lines to look for"
    released = {line.strip() for cell in committed_release(aid).cells for line in cell.source.splitlines()}
    assert sorted(secret & released) == []


def test_release_solution_cells_are_stubs(aid):
    release = committed_release(aid)
    for gid in gl.solution_ids(source_of(aid)):
        assert "raise NotImplementedError()" in gl.find_cell(release, gid).source, gid


def test_release_cells_have_no_outputs(aid):
    code = [c for c in committed_release(aid).cells if c.cell_type == "code"]
    assert [i for i, c in enumerate(code) if c.outputs or c.execution_count is not None] == []


def test_every_test_cell_has_positive_integer_points(aid):
    points = gl.grade_points(source_of(aid))
    assert points and all(p > 0 and p == int(p) for p in points.values()), points


def test_every_graded_item_has_a_visible_and_a_hidden_test(aid):
    source = source_of(aid)
    items, tests = gl.solution_ids(source), set(gl.grade_points(source))
    assert items
    assert {gl.item_of(t) for t in tests} == set(items), "every test cell belongs to one graded item"
    assert [i for i in items if not {f"{i}_visible", f"{i}_hidden"} <= tests] == []


def test_test_cells_start_with_a_check_that_docstring(aid):
    source = source_of(aid)
    firsts = {gid: gl.find_cell(source, gid).source.lstrip().splitlines()[0] for gid in gl.grade_points(source)}
    assert {gid: line for gid, line in firsts.items() if not line.startswith('"""Check that')} == {}


def test_heading_total_equals_the_sum_of_the_points(aid):
    source = source_of(aid)
    heading = next(c.source for c in source.cells if c.cell_type == "markdown")
    match = TOTAL.search(heading)
    assert match, "the first markdown cell states **Total: N points**"
    assert int(match.group(1)) == sum(gl.grade_points(source).values())


def test_each_part_heading_states_the_points_of_its_item(aid):
    source = source_of(aid)
    per_item = gl.by_item(gl.grade_points(source))
    stated, heading = {}, None
    for cell in source.cells:
        if cell.cell_type == "markdown" and PART.search(cell.source):
            heading = int(PART.search(cell.source).group(1))
        elif gl.nbgrader_meta(cell).get("solution"):
            stated[gl.nbgrader_meta(cell)["grade_id"]] = heading
    assert stated == per_item
