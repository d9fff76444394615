"""How pytest-xdist shares the tests out among its workers (``--dist loadgroup`` in pyproject.toml).

Every notebook and every test module is one unit of work, run by one worker, as with
``--dist loadscope``: a notebook's cells share one kernel, a module's tests share its
fixtures. The browser test is split: it runs its lectures in two units (two JupyterLab
servers and browsers, one per worker), because as one unit it would keep one worker busy
long after the other is done. tests/test_portable_outputs.py stays one unit although each of
its tests re-runs a whole notebook in a child process: the child runs with 2 threads (another
thread count than the notebooks' own), and when they ran as units of their own, two such
children at once on a 2-core machine (4 threads on 2 cores) coincided with failures of
lectures 01 and 05 in a fresh-clone run.

This file lives at the top of the repository, not in tests/, so that it also applies when only
notebooks are collected (``pytest lectures/02_convolution.ipynb``).
"""

import pytest

#: the lectures that the browser test runs in its second unit, with the tests of its other pages
BROWSER_SECOND_UNIT = ("02_", "04_", "06_", "08_")


def work_unit(nodeid: str, params: dict) -> str:
    """The xdist group of the test ``nodeid`` (with its parameters): its file, or for the
    browser test a part of it."""
    path = nodeid.split("::")[0]
    if path == "tests/test_browser.py":
        name = params.get("name")
        first = isinstance(name, str) and not name.startswith(BROWSER_SECOND_UNIT)
        return f"{path}:lab-{1 if first else 2}"
    return path


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which appends the group to each test's id
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            callspec = getattr(item, "callspec", None)
            item.add_marker(pytest.mark.xdist_group(work_unit(item.nodeid, callspec.params if callspec else {})))
