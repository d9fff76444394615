"""The autograder's sanitize step, hardened: `SafeOverwriteCells` replaces nbgrader's OverwriteCells.

nbgrader's OverwriteCells puts back the source of locked and test cells and re-adds deleted
test cells (`OverwriteCells.add_missing_cells`). On its own it (nbgrader 0.9.6) also:

- crashes with `KeyError: 'grade_id'` on a notebook with duplicated cells or a changed
  `grade_id` (DeduplicateIds and OverwriteCells leave nbgrader metadata without a grade_id),
  so the student is not graded at all;
- does not put back a deleted *locked* cell that is not a test (the setup cell that captures
  the tests' references), so a student can delete it and define the references himself;
- runs cells a student inserted *above* the locked setup cells before them, so those cells
  could change what the setup captures.

`SafeOverwriteCells` fixes the three: cells that lost their grade_id become plain cells, missing
locked cells come back from the gradebook at their place, the cells are put back in the order of
the assignment's source (a test-kit cell moved below the answers, an answer moved above the
setup), and code cells a student added before the first answer cell are moved after the
instructor's setup cells.

It also keeps nbgrader's log meaningful: OverwriteCells warns "Attribute 'checksum' for cell X
has changed!" for every hidden-test cell of every submission, because the released cell lacks
the hidden tests that the gradebook's copy has. A cell that is exactly the released version
(the gradebook's source with its hidden-test regions cut, as `generate_assignment` cut them) is
put back silently (logged at debug level); a test cell the student changed still warns.
"""

from __future__ import annotations

import copy

from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _drop_idless(nb) -> None:
    """nbgrader metadata without a grade_id (a duplicate or an unknown id) -> a plain cell."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not meta.get("grade_id"):
            del cell.metadata["nbgrader"]


class SafeOverwriteCells(OverwriteCells):
    """OverwriteCells that survives duplicated/renamed cells and protects the locked setup cells."""

    def preprocess(self, nb, resources):
        _drop_idless(nb)
        nb, resources = super().preprocess(nb, resources)
        _drop_idless(nb)
        with Gradebook(resources["nbgrader"]["db_url"]) as gb:
            source_nb = gb.find_notebook(resources["nbgrader"]["notebook"], resources["nbgrader"]["assignment"])
            order = [cell.name for cell in source_nb.source_cells]
            locked = {cell.name: cell for cell in source_nb.source_cells if cell.locked}
            solutions = {cell.name for cell in source_nb.solution_cells}
            grades = {cell.name for cell in source_nb.grade_cells}
            self._restore_locked(nb, order, {k: v for k, v in locked.items() if k not in grades})
            self._source_order(nb, order)
            self._protect_preamble(nb, order, solutions)
        return nb, resources

    def preprocess_cell(self, cell, resources, cell_index):
        self._released_version = self._is_released_version(cell)
        try:
            return super().preprocess_cell(cell, resources, cell_index)
        finally:
            self._released_version = False

    def report_change(self, name, attr, old, new) -> None:
        if attr == "checksum" and getattr(self, "_released_version", False):
            self.log.debug("Cell %s is the released version: its hidden tests are put back", name)
            return
        super().report_change(name, attr, old, new)

    def _is_released_version(self, cell) -> bool:
        """True when ``cell`` is the gradebook's cell with its hidden tests cut, and nothing else changed."""
        grade_id = _grade_id(cell)
        if grade_id is None:
            return False
        try:
            source = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return False
        clear = ClearHiddenTests(parent=self)
        if clear.begin_test_delimeter not in source.source:
            return False
        released = copy.deepcopy(cell)
        released.source = source.source
        clear._remove_hidden_test_region(released)
        return released.source == cell.source

    def add_missing_grade_cells(self, nb, resources):
        _drop_idless(nb)  # nbgrader's version reads grade_id of every nbgrader cell
        return super().add_missing_grade_cells(nb, resources)

    def add_missing_task_cells(self, nb, resources):
        _drop_idless(nb)  # nbgrader's version reads grade_id of every nbgrader cell
        return super().add_missing_task_cells(nb, resources)

    def _restore_locked(self, nb, order, locked) -> None:
        present = {_grade_id(c) for c in nb.cells}
        for name in order:
            if name not in locked or name in present:
                continue
            source = locked[name]
            self.log.warning("Missing locked cell %s encountered, adding it back", name)
            make = new_code_cell if source.cell_type == "code" else new_markdown_cell
            cell = make(source.source)
            cell.metadata["nbgrader"] = {
                "grade": False,
                "solution": False,
                "locked": True,
                "grade_id": name,
                "checksum": source.checksum,
                "schema_version": 3,
            }
            cell.metadata["editable"] = False
            cell.metadata["deletable"] = False
            before = order[: order.index(name)]
            index = 0
            for i, c in enumerate(nb.cells):
                if _grade_id(c) in before:
                    index = i + 1
            nb.cells.insert(index, cell)
            present.add(name)

    def _source_order(self, nb, order) -> None:
        """Cells with a grade_id in the order of the assignment's source (the gradebook), whatever
        order the submission has; a cell without an id (added by the student, or markdown) stays
        right after the cell it followed."""
        rank = {name: i for i, name in enumerate(order)}
        leading, groups = [], []
        for cell in nb.cells:
            gid = _grade_id(cell)
            if gid in rank:
                groups.append((rank[gid], [cell]))
            elif groups:
                groups[-1][1].append(cell)
            else:
                leading.append(cell)
        ordered = leading + [c for _, cells in sorted(groups, key=lambda g: g[0]) for c in cells]
        if [id(c) for c in ordered] != [id(c) for c in nb.cells]:
            self.log.warning("Cells put back in the order of the assignment's source")
            nb.cells = ordered

    def _protect_preamble(self, nb, order, solutions) -> None:
        """Code cells the student put above the first answer cell run after the locked setup."""
        first = next((i for i, c in enumerate(nb.cells) if _grade_id(c) in solutions), None)
        if first is None:
            return
        preamble = nb.cells[:first]
        foreign = [c for c in preamble if c.cell_type == "code" and not utils.is_locked(c)]
        if not foreign:
            return
        self.log.warning("Moving %d cell(s) added above the setup cells after them", len(foreign))
        kept = [c for c in preamble if not (c.cell_type == "code" and not utils.is_locked(c))]
        nb.cells = kept + foreign + nb.cells[first:]
