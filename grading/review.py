"""Flag submissions whose own code reaches for the tests, the interpreter or the machine.

Tests that run in the student's kernel cannot resist code written deliberately against them
(a function that swaps the test kit `_T` while a test runs, say). The sandbox protects the
files; this scan, run *outside* the kernel on the submitted file, protects the scores: every
line of student-written code that monkeypatches a module, touches the test kit, digs into
interpreter state or leaves the kernel is reported for a human to read. A flag is not a
verdict and costs no points; `python -m grading autograde` prints one REVIEW line each.

"Student-written" means the code cells that autograde runs as the student wrote them: answer
cells and added cells whose source is not, verbatim, a cell of the released notebook (test
and locked cells are replaced by the instructor's version before they run, so their text
is not scanned).
"""

from __future__ import annotations

import re

# (reason, pattern) pairs, matched line by line against student-written code
SUSPICIOUS = [
    ("uses the test kit `_T`", re.compile(r"(?<![\w.])_T\b")),
    ("assigns to a module attribute (monkeypatch)",
     re.compile(r"^\s*(torch|np|numpy|F|nn|utils|math|builtins|sys|os|checks)(\.\w+)+\s*=(?!=)")),
    ("calls setattr/delattr", re.compile(r"\b(setattr|delattr)\s*\(")),
    ("reaches into interpreter state",
     re.compile(r"\bglobals\s*\(|sys\.modules|sys\._getframe|__builtins__|\bimport\s+(builtins|gc|inspect|ctypes)\b"
                r"|\bfrom\s+(builtins|gc|inspect|ctypes)\s+import|\bget_ipython\s*\(|__dict__|__code__|__globals__")),
    ("leaves or kills the kernel", re.compile(r"\bos\._exit\s*\(|\bsys\.exit\s*\(|\bos\.kill\s*\(|\bexit\s*\(\)")),
    ("runs programs or touches files",
     re.compile(r"\bsubprocess\b|\bos\.(system|popen|remove|unlink|rename|chmod|symlink)\b|\bshutil\.|\bopen\s*\("
                r"|\.(write_text|write_bytes|unlink|touch|rmdir|chmod|symlink_to)\s*\(")),
]  # fmt: skip


def review_flags(submitted, release) -> list[str]:
    """Lines of student-written code in notebook ``submitted`` that a human should read.

    Args:
        submitted: the student's notebook (nbformat NotebookNode).
        release: the released notebook of the same assignment.

    Returns:
        One string per flagged line: ``"cell 7 line 3: <reason>: <code>"``; empty when clean.
    """
    released = {c.source.strip() for c in release.cells if c.cell_type == "code"}
    restored = {_meta(c).get("grade_id") for c in release.cells if _meta(c) and not _meta(c).get("solution")}
    flags = []
    for index, cell in enumerate(submitted.cells):
        if cell.cell_type != "code" or cell.source.strip() in released:
            continue
        meta = _meta(cell)
        if meta.get("grade_id") in restored and not meta.get("solution"):
            continue  # a test or locked cell: autograde runs the source's version, not this text
        for number, line in enumerate(cell.source.splitlines(), 1):
            code = line.split("#", 1)[0] if "#" in line and '"' not in line and "'" not in line else line
            for reason, pattern in SUSPICIOUS:
                if pattern.search(code):
                    flags.append(f"cell {index} line {number}: {reason}: {line.strip()[:80]}")
                    break
    return flags


def _meta(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})
