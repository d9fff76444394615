"""Feedback whose formulas render offline: MathJax 3 inside the HTML file.

nbgrader's feedback template loads MathJax 2 from a CDN (``<script src="https://cdnjs...">``):
a student who opens the feedback file offline, or behind a firewall, sees raw ``$...$``. The
course's feedback template (``grading/templates/feedback_offline``, selected in
nbgrader_config.py) is nbgrader's own with one change: its ``mathjax`` macro calls the Jinja
filter ``course_mathjax`` defined here, which writes MathJax 3.2.2 into the page itself:

- ``tex-svg-full.js``, one file with every TeX extension and the SVG output (its fonts are
  inside the script, so no font file and nothing else is fetched; about 2.2 MB per feedback file);
- MathJax 3's ``ui/safe`` extension, the counterpart of MathJax 2's ``Safe`` configuration
  that nbconvert asks for (no ``javascript:`` links or styles from ``\\href``, ``\\style`` in a
  student's formulas): its code runs in ``startup.ready``, when the core is there and before the
  page is typeset (a component can only be loaded from a URL, and an inline page has none);
- the delimiters of nbconvert's configuration (``$...$`` and ``\\(...\\)`` inline,
  ``$$...$$`` and ``\\[...\\]`` displayed, ``\\$`` for a dollar sign).

The files come from the ``sphinx-mathjax-offline`` package (MathJax's own build, Apache 2.0),
pinned in requirements.txt; the course website uses the same file.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
from pathlib import Path

MATHJAX_DIST = "sphinx-mathjax-offline"
MATHJAX_DIR = "sphinx-mathjax-offline/static/mathjax"
MATHJAX_FILE = "tex-svg-full.js"

# The delimiters and options of nbconvert's MathJax 2 configuration (nbconvert/templates/base/
# mathjax.html.j2), in MathJax 3's terms.
CONFIG = {
    "tex": {
        "inlineMath": [["$", "$"], ["\\(", "\\)"]],
        "displayMath": [["$$", "$$"], ["\\[", "\\]"]],
        "processEscapes": True,
        "processEnvironments": True,
        "tags": "ams",
    },
    "svg": {"fontCache": "global"},
}


def mathjax_path(name: str = MATHJAX_FILE) -> Path:
    """The file ``name`` of the installed MathJax 3 (``tex-svg-full.js`` by default).

    Raises:
        FileNotFoundError: naming the package to install when it is missing.
    """
    try:
        dist = importlib.metadata.distribution(MATHJAX_DIST)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"MathJax for offline feedback comes from the package {MATHJAX_DIST!r}, which is not "
            "installed: pip install -r requirements.txt"
        ) from None
    path = Path(str(dist.locate_file(f"{MATHJAX_DIR}/{name}")))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall {MATHJAX_DIST} (pip install -r requirements.txt)")
    return path


def _inline(js: str) -> str:
    # a script element ends at the first "</script" whatever the JavaScript around it means
    return js.replace("</script", "<\\/script")


@functools.lru_cache(maxsize=1)
def mathjax_html(_url=None) -> str:
    """Jinja filter ``course_mathjax``: the ``<script>`` elements that typeset the page offline.

    The argument (the CDN address nbconvert's macro would load) is ignored.
    """
    safe = mathjax_path("ui/safe.js").read_text(encoding="utf-8")
    config = (
        f"window.MathJax = Object.assign({json.dumps(CONFIG)}, {{startup: {{ready: function () {{\n"
        f"{safe}\n;MathJax.startup.defaultReady();\n}}}}}});"
    )
    return (
        "<!-- MathJax 3.2.2 (Apache License 2.0), embedded so that the formulas render offline -->\n"
        f"<script>{_inline(config)}</script>\n"
        f"<script>{_inline(mathjax_path().read_text(encoding='utf-8'))}</script>"
    )
