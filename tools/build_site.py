"""Build the course website: the README as front page, the lectures, the released assignments.

    python tools/build_site.py                 # -> build/site/index.html (open it in a browser)
    python tools/build_site.py --out DIR       # somewhere else

Sphinx (myst-nb, sphinx-book-theme; configuration in site/conf.py) renders each notebook from
its stored outputs: nothing is executed, so it takes seconds and needs no data. The build is
strict (-W): a warning, such as a broken link in README.md, fails it.

Sphinx reads one source folder, and the pages live in several places of the repository, so the
source is laid out first in a temporary folder, with the repository's own relative paths (so the
links of README.md work as they do on GitHub):

    site/*                          conf.py, index.md (includes README.md), assignments.md
    README.md, CONTRIBUTING.md      front page, contributors' guide
    docs/*.png                      pictures the README refers to
    lectures/0*.ipynb               the lectures, in syllabus order
    assignments/<aid>/<aid>.ipynb   the student versions only: solutions/ is never copied
    any other file README.md or CONTRIBUTING.md links to (grading/THREATS.md, ...): a Markdown
                                    file becomes a page of its own (outside the navigation), any
                                    other file a download; a link into solutions/ is not followed
                                    (and fails the build as a broken link)
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")  # [text](target "title"), ![alt](target)
NEVER = ("solutions",)  # top-level folders whose files never go into the website

# (glob pattern relative to the repository root, folder in the source relative to its root)
SOURCES = (
    ("site/*", "."),
    ("README.md", "."),
    ("CONTRIBUTING.md", "."),
    ("docs/*.png", "docs"),
    ("lectures/0*.ipynb", "lectures"),
    ("assignments/*/*.ipynb", None),  # None: the same relative path
)


def lay_out(dest: Path, repo: Path = REPO) -> list[Path]:
    """Copy the website's sources from ``repo`` into ``dest``; returns the copied files (in ``dest``)."""
    copied = []
    for pattern, folder in SOURCES:
        for src in sorted(repo.glob(pattern)):
            if src.is_file():
                rel = src.relative_to(repo) if folder is None else Path(folder) / src.name
                copied.append(_copy(src, dest / rel))
    todo = [repo / "README.md", repo / "CONTRIBUTING.md"]
    while todo:  # the files the Markdown pages link to, and the files those link to
        page = todo.pop()
        for target in linked_files(page, repo):
            rel = target.relative_to(repo)
            if (dest / rel).exists():
                continue
            copied.append(_copy(target, dest / rel, orphan=target.suffix == ".md"))
            if target.suffix == ".md":
                todo.append(target)
    return copied


def linked_files(page: Path, repo: Path = REPO) -> list[Path]:
    """The files of ``repo`` that the Markdown file ``page`` links to by a relative path (not into solutions/)."""
    found = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        target = target.split("#")[0]
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("/"):
            continue  # an anchor on the same page, an address (https:, mailto:), an absolute path
        path = (page.parent / target).resolve()
        try:
            rel = path.relative_to(repo.resolve())
        except ValueError:
            continue  # outside the repository
        if path.is_file() and rel.parts[0] not in NEVER:
            found.append(repo / rel)
    return found


def _copy(src: Path, target: Path, orphan: bool = False) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if orphan and not src.read_text(encoding="utf-8").startswith("---"):
        # a page that is linked to but not in the navigation: tell Sphinx so (no "not in any toctree")
        target.write_text("---\norphan: true\n---\n\n" + src.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        shutil.copy2(src, target)
    return target


def build(out: Path, repo: Path = REPO, extra_args: list[str] | None = None) -> int:
    """Lay out the sources in a temporary folder, run ``sphinx-build -W -b html`` there and, when
    it succeeds, put the website in ``out`` (replacing what was there).

    The build happens in the temporary folder because myst-nb writes the notebooks' images
    beside the output folder (``<out>/../jupyter_execute``); ``out`` gets only the website.
    Returns Sphinx's exit status (0: built without a warning).
    """
    from sphinx.cmd.build import build_main

    with tempfile.TemporaryDirectory(prefix="cnn-course-site-") as tmp:
        src, html = Path(tmp) / "src", Path(tmp) / "build" / "html"
        lay_out(src, repo)
        args = ["-W", "--keep-going", "-b", "html", "-d", str(Path(tmp) / "build" / "doctrees"), *(extra_args or [])]
        status = build_main([*args, str(src), str(html)])
        if status == 0:
            if out.exists():
                shutil.rmtree(out)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(html, out)
        return status


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build" / "site", help="output folder (default: build/site)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only warnings and errors")
    args = parser.parse_args(argv)
    status = build(args.out.resolve(), extra_args=["-q"] if args.quiet else None)
    if status == 0:
        print(f"website: {args.out / 'index.html'}")
    return status


if __name__ == "__main__":
    sys.exit(main())
