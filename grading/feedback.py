"""Feedback without hidden tests.

nbgrader's `ClearHiddenTests` removes the hidden test *source* from the feedback. In autograde
the test cells run in the grader's process and their outputs are written by it (grading/bridge.py:
what the test printed, or `Type: message`); with `SandboxedExecute.two_process = False` they run
in the student's kernel, and their text could come back in *outputs*: a traceback that quotes the
failing line, or a submission that prints its caller's source. Either way, as a second line of
defence:
`RedactHiddenTestOutput` runs before `ClearHiddenTests` (see nbgrader_config.py), collects
every line between the hidden-test delimiters of the notebook and deletes each output line
that contains one of them, in every cell. Tracebacks are minimal at autograde time
(`--InteractiveShell.xmode=Minimal`), so what is left of a failed test cell is one line,
the error's type and message: for a1, the failing case as the instructor wrote it, e.g.
`AssertionError: conv_param_count(1, 1, 1, bias=False): expected 1, got 2.`

Whether that message of a *hidden*-test cell is shown is a setting,
`RedactHiddenTestOutput.show_hidden_failure_message` (nbgrader_config.py; default True:
the message is the instructor's own words, written to be read). Set to False, every output
of a cell that holds a hidden test is replaced by one line, `<ErrorType>: HIDDEN_NOTICE`
when the cell failed (nothing when it passed): the student sees only the cell's score.
Visible-test cells are never touched.
"""

from __future__ import annotations

from nbformat.v4 import new_output
from nbgrader.preprocessors import ClearHiddenTests as _ClearHiddenTests
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode

NOTICE = "[line removed: it quotes a hidden test]"
HIDDEN_NOTICE = "a hidden test failed (its message is not shown)"

# nbgrader's preprocessors declare `display_data_priority` without config=True, so the HTML
# exporter's setting of it makes traitlets warn "Config option `display_data_priority` not
# recognized" once per preprocessor. Declaring it configurable (same default) silences that.
_DISPLAY_DATA_PRIORITY = List(
    ["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png", "image/jpeg", "text/plain"]
).tag(config=True)


class ClearHiddenTests(_ClearHiddenTests):
    """nbgrader's ClearHiddenTests, without the `display_data_priority` config warning."""

    display_data_priority = _DISPLAY_DATA_PRIORITY


class RedactHiddenTestOutput(NbGraderPreprocessor):
    """Delete output lines that quote a hidden test (run before ClearHiddenTests)."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    min_line_chars = Integer(
        10, help="Hidden-test lines shorter than this (after stripping) are too generic to redact."
    ).tag(config=True)
    show_hidden_failure_message = Bool(
        True,
        help="Show the error message of a failed hidden-test cell (e.g. the failing case and the "
        "expected value). False: the cell's outputs become one line, '<ErrorType>: " + HIDDEN_NOTICE + "'.",
    ).tag(config=True)
    display_data_priority = _DISPLAY_DATA_PRIORITY

    def _hidden_lines(self, nb) -> set[str]:
        hidden: set[str] = set()
        visible: set[str] = set()  # a line the student can read in the notebook is no secret
        for cell in nb.cells:
            inside = False
            for line in cell.source.splitlines():
                if self.begin_test_delimeter in line:
                    inside = True
                elif self.end_test_delimeter in line:
                    inside = False
                elif inside and len(line.strip()) >= self.min_line_chars:
                    hidden.add(line.strip())
                else:
                    visible.add(line.strip())
        return hidden - visible

    def _clean(self, text: str, hidden: set[str]) -> str:
        kept = []
        for line in text.splitlines(keepends=True):
            if any(h in line for h in hidden):
                kept.append(NOTICE + ("\n" if line.endswith("\n") else ""))
            else:
                kept.append(line)
        return "".join(kept)

    def _withhold(self, cell) -> None:
        """Replace the outputs of a hidden-test cell by the error type and HIDDEN_NOTICE."""
        errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
        cell.outputs = []
        if errors:
            ename = errors[0].get("ename", "Error")
            cell.outputs.append(
                new_output("error", ename=ename, evalue=HIDDEN_NOTICE, traceback=[f"{ename}: {HIDDEN_NOTICE}"])
            )

    def preprocess(self, nb, resources):
        if not self.show_hidden_failure_message:
            for cell in nb.cells:
                if cell.cell_type == "code" and self.begin_test_delimeter in cell.source:
                    self._withhold(cell)
        hidden = self._hidden_lines(nb)
        if not hidden:
            return nb, resources
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                if "text" in out:
                    out["text"] = self._clean(out["text"], hidden)
                if "evalue" in out:
                    out["evalue"] = self._clean(out["evalue"], hidden)
                if "traceback" in out:
                    out["traceback"] = [self._clean(t, hidden) for t in out["traceback"]]
                for mime, value in (out.get("data") or {}).items():
                    if isinstance(value, str) and (mime.startswith("text/") or mime.endswith("json")):
                        out["data"][mime] = self._clean(value, hidden)
        return nb, resources
