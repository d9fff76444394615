"""Feedback without hidden tests.

nbgrader's `ClearHiddenTests` removes the hidden test *source* from the feedback. The hidden
tests still ran in the student's kernel, so their text can come back in *outputs*: a
traceback that quotes the failing line, or a submission that prints its caller's source.
`RedactHiddenTestOutput` runs before `ClearHiddenTests` (see nbgrader_config.py), collects
every line between the hidden-test delimiters of the notebook and deletes each output line
that contains one of them, in every cell. The student still sees the error's type and
message (tracebacks are minimal at autograde time: `--InteractiveShell.xmode=Minimal`).
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer, Unicode

NOTICE = "[line removed: it quotes a hidden test]"


class RedactHiddenTestOutput(NbGraderPreprocessor):
    """Delete output lines that quote a hidden test (run before ClearHiddenTests)."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)
    min_line_chars = Integer(
        10, help="Hidden-test lines shorter than this (after stripping) are too generic to redact."
    ).tag(config=True)

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

    def preprocess(self, nb, resources):
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
