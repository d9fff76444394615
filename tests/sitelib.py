"""Helpers for the website tests (tests/test_site.py, tests/test_browser.py): one build per process.

``built_site(tmp_path_factory)`` runs the documented command, ``python tools/build_site.py``
(Sphinx with -W: a warning fails it), into a temporary folder once, and returns that folder;
both test modules read the same build. ``page_images(html)`` parses a page.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import gradinglib as gl

BUILD_SCRIPT = gl.REPO / "tools" / "build_site.py"
LECTURES = sorted((gl.REPO / "lectures").glob("0*.ipynb"))
RELEASES = sorted(gl.REPO.glob("assignments/*/*.ipynb"))
IMAGE_MIMES = re.compile(r"^image/(png|jpeg|gif|svg\+xml)$")

_BUILT: dict[str, Path] = {}


def built_site(tmp_path_factory, timeout: float = 600) -> Path:
    """The website built once in this process by ``tools/build_site.py`` (its output folder)."""
    if "out" not in _BUILT:
        out = tmp_path_factory.mktemp("website") / "site"
        proc = subprocess.run(
            [sys.executable, str(BUILD_SCRIPT), "--out", str(out), "-q"],
            cwd=gl.REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(
                f"python tools/build_site.py exited with {proc.returncode} (warnings fail the build)\n"
                f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
            )
        _BUILT["out"] = out
    return _BUILT["out"]


def page_of(site: Path, notebook: Path) -> Path:
    """The HTML page of a notebook of the repository: lectures/02_x.ipynb -> <site>/lectures/02_x.html."""
    return site / notebook.relative_to(gl.REPO).with_suffix(".html")


def image_outputs(nb) -> dict[int, int]:
    """{code-cell index in the notebook: number of outputs that are images} (cells with at least one).

    An output with several image types (png and jpeg) is one picture.
    """
    counts = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        n = sum(1 for out in cell.get("outputs", []) if any(IMAGE_MIMES.match(m) for m in out.get("data", {})))
        if n:
            counts[i] = n
    return counts


class _Images(HTMLParser):
    """Collects the <img> elements of a page (all_src) and the images of notebook outputs among them
    (output_src: in myst-nb's ``<div class="cell_output ...">``); an <img> that is part of an HTML
    output (a text/html output's own markup, e.g. an animation player) is in neither. Also the
    page's script and style sheet addresses."""

    def __init__(self):
        super().__init__()
        # for each open element: 0 outside every cell output, 1 in a cell output, 2 in an HTML
        # output (text/html, e.g. a matplotlib animation: its <img> is a player, not a stored image)
        self.stack: list[int] = []
        self.all_src: list[str] = []
        self.output_src: list[str] = []
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        state = self.stack[-1] if self.stack else 0
        if state == 0 and "cell_output" in classes:
            state = 1
        elif state == 1 and "text_html" in classes:
            state = 2
        if tag == "img" and state != 2:
            self.all_src.append(attrs.get("src", ""))
            if state == 1:
                self.output_src.append(attrs.get("src", ""))
        elif tag == "script" and attrs.get("src"):
            self.scripts.append(attrs["src"])
        elif tag == "link" and "stylesheet" in (attrs.get("rel") or ""):
            self.stylesheets.append(attrs.get("href", ""))
        if tag not in _VOID:
            self.stack.append(state)

    def handle_endtag(self, tag):
        if tag not in _VOID and self.stack:
            self.stack.pop()


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def parse_page(path: Path) -> _Images:
    """The images, scripts and style sheets of the HTML page ``path``."""
    parser = _Images()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser
