"""The end-to-end grading tests that every assignment gets, given its variants.

A module tests/test_grading_<aid>.py defines answers and installs the tests::

    import gradingsuite as gs

    AID = "a2_pooling_receptive_fields"
    ANS = gs.Answers(AID)
    WRONG = {student: (item, lost, code)}        # graded by nbgrader, in one sandboxed batch
    MORE_WRONG = {name: (item, lost, code)}      # run without nbgrader, in one process
    ALTERNATIVES = {student: {item: code}}       # correct, written differently (batch)
    MORE_ALTERNATIVES = {name: (item, code)}     # correct variants (no nbgrader)
    globals().update(gs.suite(AID, wrong=WRONG, ...))

``lost`` is "item" (every test cell of the item fails) or "hidden" (only its hidden cells: the
visible example cannot show the mistake). ``code`` replaces the solution region of ``item`` (a
function body), or the whole cell for the names in ``whole_cell`` (classes).

What the tests assert, with every expected score derived from the source notebook's points:
- the batch (`python -m grading autograde`, sandboxed and parallel) grades every submission;
  the gradebook holds the source notebook's points and the heading's total is their sum;
- the solution scores full marks, the release 0;
- each wrong answer loses exactly the points of the cells its mistake breaks and no other;
- correct answers written differently score full marks;
- the hostile kinds of gradinglib.hostile_submissions (blank, raises, infinite loop, os._exit,
  deleted test cells, a patched torch.allclose) get their exact scores;
- without nbgrader, each of the many more variants fails exactly the cells it should, and each
  correct variant passes every cell.
"""

from __future__ import annotations

import textwrap
import types

import gradinglib as gl
import pytest

HOSTILE_KINDS = ("blank", "raises", "infinite-loop", "os-exit", "deleted-test", "patch-allclose")


def edit(body: str, old: str, new: str) -> str:
    """``body`` with the one occurrence of ``old`` replaced by ``new``."""
    assert body.count(old) == 1, f"{old!r} occurs {body.count(old)} times"
    return body.replace(old, new)


class Answers:
    """The solution cells of assignment ``aid``, to write variants of them."""

    def __init__(self, aid: str):
        self.aid = aid
        self.source = gl.read_notebook(gl.source_path(gl.REPO, aid))
        self.solution_of = {
            gl.nbgrader_meta(c)["grade_id"]: c.source for c in self.source.cells if gl.nbgrader_meta(c).get("solution")
        }

    def body(self, item: str) -> str:
        """The solution's (first) region of ``item``, dedented."""
        lines = gl.region_lines(self.solution_of[item], gl.SOLUTION_BEGIN, gl.SOLUTION_END)
        return textwrap.dedent("\n".join(lines))

    def variant(self, item: str, old: str, new: str) -> str:
        """The solution's body of ``item`` with one edit."""
        return edit(self.body(item), old, new)

    def cell(self, item: str, old: str | None = None, new: str | None = None) -> str:
        """The whole solution cell of ``item`` (markers included), with one edit if given."""
        source = self.solution_of[item]
        return source if old is None else edit(source, old, new)


def suite(
    aid: str,
    *,
    wrong: dict,
    more_wrong: dict,
    alternatives: dict,
    more_alternatives: dict,
    whole_cell=frozenset(),
    hostile: bool = True,
    batch_timeout: float = 1200,
) -> dict:
    """The fixtures and tests of assignment ``aid`` (a dict to put in a test module's globals)."""
    source_nb = gl.read_notebook(gl.source_path(gl.REPO, aid))
    all_wrong = {**wrong, **more_wrong}
    clash = set(wrong) & set(more_wrong) | set(alternatives) & set(more_alternatives)
    assert not clash, f"a variant name is used twice: {clash}"

    def with_answer(nb, item: str, code: str):
        return gl.set_cell_source(nb, item, code) if item in whole_cell else gl.replace_solution(nb, item, code)

    def with_answers(nb, answers: dict):
        for item, code in answers.items():
            nb = with_answer(nb, item, code)
        return nb

    def item_test_cells(item: str) -> list[str]:
        return [gid for gid in gl.grade_points(source_nb) if gl.item_of(gid) == item]

    def lost_cells(item: str, lost: str) -> set[str]:
        assert lost in ("item", "hidden"), lost
        cells = item_test_cells(item)
        return set(cells) if lost == "item" else {gid for gid in cells if gid.endswith("_hidden")}

    @pytest.fixture(scope="module")
    def batch(tmp_path_factory):
        """Grade every submission of the module in one `python -m grading autograde` run."""
        course = gl.copy_course(tmp_path_factory.mktemp(f"grading_{aid}") / "course")
        release = gl.read_notebook(gl.generate_assignment(course, aid))
        source = gl.read_notebook(gl.source_path(course, aid))
        correct = gl.fill_solutions(release, source)
        gl.submit(course, "solution", aid, source)
        gl.submit(course, "release", aid, release)
        for student, (item, _, code) in wrong.items():
            gl.submit(course, student, aid, with_answer(correct, item, code))
        for student, answers in alternatives.items():
            gl.submit(course, student, aid, with_answers(correct, answers))
        kinds = gl.hostile_submissions(release, source) if hostile else {}
        for kind, (nb, _) in kinds.items():
            gl.submit(course, f"hostile-{kind}", aid, nb)
        proc = gl.grade_batch(course, aid, timeout=batch_timeout)
        return types.SimpleNamespace(
            scores=gl.scores(course, aid),
            max=gl.max_scores(course, aid),
            points=gl.grade_points(source),
            items=gl.solution_ids(source),
            hostile={f"hostile-{kind}": expected for kind, (_, expected) in kinds.items()},
            log=proc.stdout + proc.stderr,
            returncode=proc.returncode,
        )

    def test_every_submission_of_the_batch_is_graded(batch):
        expected = {"solution", "release", *wrong, *alternatives, *batch.hostile}
        assert set(batch.scores) == expected, batch.log[-3000:]
        assert batch.returncode == 0, batch.log[-3000:]

    def test_gradebook_registers_the_points_of_the_source_notebook(batch):
        assert batch.max == batch.points

    def test_the_heading_total_is_the_sum_of_the_points(batch):
        assert f"**Total: {sum(batch.points.values()):g} points**" in source_nb.cells[0].source

    def test_solution_notebook_scores_full_marks(batch):
        assert batch.scores["solution"] == batch.points

    def test_released_notebook_scores_zero(batch):
        assert gl.total(batch.scores["release"]) == 0.0, batch.scores["release"]

    def test_every_graded_item_has_a_wrong_answer_in_the_batch(batch):
        assert {item for item, _, _ in wrong.values()} == set(batch.items)
        assert {item for item, lost, _ in wrong.values() if lost == "item"} == set(batch.items)

    @pytest.mark.parametrize("student", sorted(wrong))
    def test_wrong_answer_loses_exactly_the_points_of_its_item(batch, student):
        item, lost, _ = wrong[student]
        failed = lost_cells(item, lost)
        expected = {gid: (0.0 if gid in failed else pts) for gid, pts in batch.points.items()}
        assert batch.scores[student] == expected

    @pytest.mark.parametrize("student", sorted(alternatives))
    def test_alternative_correct_answers_score_full_marks(batch, student):
        assert batch.scores[student] == batch.points

    @pytest.mark.parametrize("kind", HOSTILE_KINDS)
    def test_hostile_submission_gets_its_exact_score(batch, kind):
        student = f"hostile-{kind}"
        assert batch.scores[student] == batch.hostile[student], batch.log[-3000:]

    @pytest.fixture(scope="module")
    def outcomes():
        """{variant: {grade_id: None (passed) or the error}} for every variant, run in one process."""
        jobs, names = [], []
        for name, (item, _, code) in all_wrong.items():
            jobs.append((with_answer(source_nb, item, code), gl.cells_of(source_nb, {item})))
            names.append(name)
        for name, (item, code) in more_alternatives.items():
            jobs.append((with_answer(source_nb, item, code), gl.cells_of(source_nb, {item})))
            names.append(name)
        for student, answers in alternatives.items():
            jobs.append((with_answers(source_nb, answers), gl.cells_of(source_nb, set(answers))))
            names.append(student)
        jobs.append((source_nb, gl.cells_of(source_nb, set(gl.solution_ids(source_nb)))))
        names.append("solution")
        return dict(zip(names, gl.run_cells(jobs), strict=True))

    def test_the_solution_passes_every_cell_without_nbgrader(outcomes):
        assert {gid: err for gid, err in outcomes["solution"].items() if err} == {}
        assert set(gl.grade_points(source_nb)) <= set(outcomes["solution"])

    def test_every_item_has_more_wrong_and_correct_variants():
        items = set(gl.solution_ids(source_nb))
        assert {item for item, _, _ in more_wrong.values()} == items
        assert {item for item, _ in more_alternatives.values()} == items

    @pytest.mark.parametrize("name", sorted(all_wrong))
    def test_wrong_variant_fails_exactly_the_cells_it_should(outcomes, name):
        item, lost, _ = all_wrong[name]
        got = outcomes[name]
        setup = [gid for gid in got if gl.item_of(gid) != item]
        assert {gid: got[gid] for gid in setup if got[gid]} == {}, "the setup cells must run"
        assert got[item] is None, f"the solution cell must define the function: {got[item]}"
        failed = {gid for gid in item_test_cells(item) if got[gid]}
        assert failed == lost_cells(item, lost), {gid: got[gid] for gid in item_test_cells(item)}

    @pytest.mark.parametrize("name", sorted(more_alternatives) + sorted(alternatives))
    def test_alternative_variant_passes_every_cell(outcomes, name):
        assert {gid: err for gid, err in outcomes[name].items() if err} == {}

    tests = {
        name: value for name, value in locals().items() if name in ("batch", "outcomes") or name.startswith("test_")
    }
    if not hostile:
        del tests["test_hostile_submission_gets_its_exact_score"]
    return tests
