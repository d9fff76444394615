"""The course website: `python tools/build_site.py` builds it without a warning, offline, complete.

The build (Sphinx with -W, myst-nb, notebooks not executed) runs once into a temporary folder
(tests/sitelib.py; tests/test_browser.py opens two of its pages in Chromium). Checked here:
- every lecture and every released assignment has a page, in syllabus order in the navigation,
  and the front page is the README (its course map links every lecture);
- every figure stored in a notebook is on its page (images in the cell outputs vs image outputs
  in the notebook), and every image a page shows is in the build;
- no page loads a script or style sheet from the network (MathJax is local);
- nothing of solutions/ is in the build: no file from it, no solution or hidden-test marker in
  any file, and no line that only a solution or a hidden test holds on an assignment's page or in
  its downloadable notebook (lectures may share generic lines such as ``continue``).
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import gradinglib as gl
import nbformat
import pytest
import sitelib

NOTEBOOKS = sitelib.LECTURES + sitelib.RELEASES
MARKERS = (gl.SOLUTION_BEGIN, gl.SOLUTION_END, gl.HIDDEN_BEGIN, gl.HIDDEN_END)
TEXT_SUFFIXES = {".html", ".txt", ".ipynb", ".js", ".md", ".json"}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return sitelib.built_site(tmp_path_factory)


def rel(path: Path) -> str:
    return str(path.relative_to(gl.REPO))


def test_every_lecture_and_released_assignment_has_a_page(site):
    assert (site / "index.html").is_file()
    assert [rel(nb) for nb in NOTEBOOKS if not sitelib.page_of(site, nb).is_file()] == []


def test_navigation_lists_the_lectures_in_syllabus_order_then_the_assignments(site):
    html = (site / "index.html").read_text(encoding="utf-8")
    nav = html[html.index('class="bd-sidebar-primary') :]
    links = [m.group(1) for m in re.finditer(r'href="((?:lectures|assignments)[^"#]*\.html)"', nav)]
    expected = [f"lectures/{nb.stem}.html" for nb in sitelib.LECTURES] + ["assignments.html"]
    assert [page for page in dict.fromkeys(links) if page in expected] == expected


def test_assignments_page_links_every_release(site):
    html = (site / "assignments.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"#]+\.html)"', html))
    assert [rel(nb) for nb in sitelib.RELEASES if str(nb.relative_to(gl.REPO).with_suffix(".html")) not in links] == []


def test_front_page_is_the_readme_with_its_course_map(site):
    readme = (gl.REPO / "README.md").read_text(encoding="utf-8")
    title = readme.splitlines()[0].lstrip("# ").strip()
    html = (site / "index.html").read_text(encoding="utf-8")
    main = html[html.index("<main") :]
    assert title.split(":")[0] in main
    assert [nb.name for nb in sitelib.LECTURES if f'href="lectures/{nb.stem}.html"' not in main] == []


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_every_stored_figure_is_on_the_page(site, notebook):
    stored = sum(sitelib.image_outputs(nbformat.read(notebook, as_version=4)).values())
    page = sitelib.page_of(site, notebook)
    shown = sitelib.parse_page(page).output_src
    assert len(shown) == stored, f"{rel(notebook)}: {stored} image outputs stored, {len(shown)} on {page.name}"


def test_every_image_on_every_page_is_in_the_build(site):
    missing = []
    for page in site.rglob("*.html"):
        for src in sitelib.parse_page(page).all_src:
            if src.startswith("data:"):
                continue
            if "://" in src or not (page.parent / src.split("#")[0].split("?")[0]).is_file():
                missing.append(f"{page.relative_to(site)}: {src}")
    assert missing == []


def test_no_page_loads_a_script_or_style_sheet_from_the_network(site):
    remote = []
    for page in site.rglob("*.html"):
        parsed = sitelib.parse_page(page)
        remote += [f"{page.relative_to(site)}: {u}" for u in parsed.scripts + parsed.stylesheets if "//" in u]
    assert remote == []
    assert (site / "_static" / "tex-svg-full.js").is_file(), "MathJax is not in the build"


def test_site_holds_no_solution_and_no_hidden_test(site):
    secret = {}  # assignment id -> lines only its solutions or hidden tests hold (as test_release.py)
    for source in sorted(gl.REPO.glob("solutions/*/*.ipynb")):
        lines = gl.secret_lines(gl.read_notebook(source))
        secret[source.parent.name] = {line for line in lines if len(line) > 3 and not line.startswith("#")}
    assert secret and all(secret.values()), "the sources have no solution or hidden-test lines to look for"
    assert [str(p.relative_to(site)) for p in site.rglob("*") if "solutions" in p.parts] == []
    leaks = []
    for path in site.rglob("*"):
        if path.suffix not in TEXT_SUFFIXES or not path.is_file() or path.name == "tex-svg-full.js":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        leaks += [f"{path.relative_to(site)}: {m}" for m in MARKERS if m in text]
        parts = path.relative_to(site).parts
        if "assignments" in parts[:-1]:  # an assignment's page or its downloadable notebook
            aid = parts[parts.index("assignments") + 1]
            shown = secret.get(aid, set()) & text_lines(path, text)
            leaks += [f"{path.relative_to(site)}: {line}" for line in sorted(shown)]
    assert leaks == []


def text_lines(path: Path, text: str) -> set[str]:
    """The stripped lines a reader sees in ``path``: a notebook's cell sources, a page's text without
    tags (code is highlighted token by token), any other file as it is."""
    if path.suffix == ".ipynb":
        nb = nbformat.reads(text, as_version=4)
        return {line.strip() for cell in nb.cells for line in cell.source.splitlines()}
    if path.suffix == ".html":
        return {html.unescape(re.sub(r"<[^>]+>", "", line)).strip() for line in text.splitlines()}
    return {line.strip() for line in text.splitlines()}
