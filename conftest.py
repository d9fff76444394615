"""How pytest-xdist shares the tests out among its workers (``--dist loadgroup`` in pyproject.toml).

Every notebook and every test module is one unit of work, run by one worker, as with
``--dist loadscope``: a notebook's cells share one kernel, a module's tests share its
fixtures. Two modules are split, because as one unit each would keep one worker busy long
after the other is done: each test of tests/test_portable_outputs.py (a whole notebook re-run
in a child process, sharing nothing) is a unit of its own, and the browser test runs its
lectures in two units (two JupyterLab servers and browsers, one per worker).

This file lives at the top of the repository, not in tests/, so that it also applies when only
notebooks are collected (``pytest lectures/02_convolution.ipynb``).
"""

import pytest

#: the lectures that the browser test runs in its second unit, with the tests of its other pages
BROWSER_SECOND_UNIT = ("02_", "04_", "06_", "08_")


def work_unit(nodeid: str, params: dict) -> str | None:
    """The xdist group of the test ``nodeid`` (with its parameters): its file; for the two split
    modules, None (a unit of its own) or a part of the file."""
    path = nodeid.split("::")[0]
    if path == "tests/test_portable_outputs.py":
        return None
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
            group = work_unit(item.nodeid, callspec.params if callspec else {})
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
