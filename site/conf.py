"""Sphinx configuration of the course website (myst-nb, sphinx-book-theme).

Build it from the repository root with

    python tools/build_site.py            # -> build/site/index.html

tools/build_site.py lays out a source folder with this folder's files, README.md (the front
page), CONTRIBUTING.md, docs/, the lectures and the released assignments (never solutions/),
then runs Sphinx with -W: any warning fails the build. Nothing is executed: every page shows the
outputs stored in the notebooks, and the page needs no network (MathJax and the theme are local).
"""

import importlib.metadata

project = "Convolutional Neural Networks"
author = "the course authors"
copyright = "the course authors; code under the MIT licence, notebook prose and figures under CC BY 4.0"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "README.md"]  # README.md: included by index.md
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}

# Notebooks: rendered from their stored outputs, never executed. A live ipywidget (tqdm's bar, the
# explorers) has no kernel on a static page: its text fallback is shown instead (tqdm's final bar,
# an explorer's one-line summary; the explorer's static figure follows it), and no widget
# JavaScript is loaded from a CDN.
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_mime_priority_overrides = [("*", "application/vnd.jupyter.widget-view+json", None)]
nb_merge_streams = True

myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# MathJax 3 from the sphinx-mathjax-offline package (one file, SVG output, fonts inside): formulas
# render without network, like the feedback files (grading/offline_math.py).
_MATHJAX = importlib.metadata.distribution("sphinx-mathjax-offline").locate_file(
    "sphinx-mathjax-offline/static/mathjax/tex-svg-full.js"
)
html_static_path = [str(_MATHJAX)]
mathjax_path = "tex-svg-full.js"

html_theme = "sphinx_book_theme"
html_title = "Convolutional Neural Networks"
html_theme_options = {
    "home_page_in_toc": True,
    "use_download_button": True,
    "show_toc_level": 2,
}
html_sourcelink_suffix = ""  # "download" gives the .ipynb itself
html_last_updated_fmt = None
html_copy_source = True


def setup(app):
    # README.md's class-list example is a ```csv block; this Pygments has no csv lexer
    from pygments.lexers.special import TextLexer

    app.add_lexer("csv", TextLexer)
