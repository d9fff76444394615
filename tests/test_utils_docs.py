"""The "Introduced in:" lines of utils name notebooks that exist and really use what they name.

Each module's docstring has one line (it may wrap) of the form

    Introduced in: 01_history.ipynb (fit, evaluate), 03_receptive_fields.ipynb (receptive_field).

naming each notebook by its file name (``lectures/NN_*.ipynb``, ``solutions/<aid>/<aid>.ipynb``
or ``assignments/<aid>/<aid>.ipynb``). Functions meant for a lecture that is not written yet go on
a ``Planned for:`` line, which must name a notebook that does not exist yet: once it does, the
function moves to ``Introduced in:``. A function's own docstring, if it has an "Introduced in:"
line, must name the same notebook as the module's line.
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = ["data", "explore", "measure", "repro", "testkit", "train", "viz"]
INTERNAL = {"checks": "testkit"}  # modules no notebook imports: only the module named here uses them
ENTRY = re.compile(r"([\w.-]+\.ipynb)(?:\s*\(([^)]*)\))?")


def _paragraph(doc: str, label: str) -> str | None:
    """The text after ``label`` up to the next blank line, joined into one line."""
    m = re.search(rf"^\s*{label}:(.*?)(?:\n\s*\n|\Z)", doc, flags=re.M | re.S)
    return " ".join(m.group(1).split()) if m else None


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """[(notebook file name, [function names])] of an "Introduced in:" or "Planned for:" text."""
    out = []
    for name, names in ENTRY.findall(text):
        out.append((name, [n.strip() for n in names.split(",") if n.strip()]))
    return out


def _module_doc(mod: str) -> tuple[str, ast.Module]:
    tree = ast.parse((ROOT / "utils" / f"{mod}.py").read_text())
    return ast.get_docstring(tree) or "", tree


def _notebooks(name: str) -> list[Path]:
    """Every notebook of the course with exactly this file name."""
    return sorted(
        p
        for pattern in ("lectures/" + name, "solutions/*/" + name, "assignments/*/" + name)
        for p in ROOT.glob(pattern)
        if p.name == name
    )


def _code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _imports_module(code: str, mod: str) -> bool:
    return bool(
        re.search(rf"^\s*from\s+utils\.{mod}\s+import\b", code, flags=re.M)
        or re.search(rf"^\s*import\s+utils\.{mod}\b", code, flags=re.M)
        or re.search(rf"^\s*from\s+utils\s+import\s+\(?[^)\n]*\b{mod}\b", code, flags=re.M)
    )


def _uses(code: str, name: str) -> bool:
    """``name`` appears in code outside the import statements (a call, an attribute, a reference)."""
    body = re.sub(r"^\s*(from\s+\S+\s+)?import\s+(\([^)]*\)|.*)$", "", code, flags=re.M)
    return re.search(rf"\b{name}\b", body) is not None


def _lecture_number(path: Path) -> int | None:
    m = re.match(r"(\d+)_", path.name)
    return int(m.group(1)) if path.parent.name == "lectures" and m else None


def _module_entries():
    for mod in MODULES:
        doc, _ = _module_doc(mod)
        for label in ("Introduced in", "Planned for"):
            text = _paragraph(doc, label)
            for name, names in _entries(text or ""):
                yield pytest.param(mod, label, name, names, id=f"{mod}-{label.split()[0].lower()}-{name}")


def test_every_module_has_an_introduced_in_line():
    for mod in MODULES:
        text = _paragraph(_module_doc(mod)[0], "Introduced in")
        assert text and _entries(text), f"utils/{mod}.py: no 'Introduced in: NN_name.ipynb (...)' line"


@pytest.mark.parametrize("mod", sorted(INTERNAL))
def test_an_internal_module_is_used_by_its_module_and_by_no_notebook(mod):
    user = (ROOT / "utils" / f"{INTERNAL[mod]}.py").read_text()
    assert _imports_module(user, mod), f"utils/{INTERNAL[mod]}.py does not import utils.{mod}"
    for path in sorted(ROOT.glob("lectures/*.ipynb")) + sorted(ROOT.glob("*/*/*.ipynb")):
        assert not _imports_module("\n".join(_code(path)), mod), f"{path.relative_to(ROOT)} imports utils.{mod}"


@pytest.mark.parametrize(("mod", "label", "name", "names"), list(_module_entries()))
def test_named_notebook_exists_imports_the_module_and_uses_the_names(mod, label, name, names):
    module = __import__(f"utils.{mod}", fromlist=["_"])
    for fn in names:
        assert hasattr(module, fn), f"utils/{mod}.py names {fn!r}, which utils.{mod} does not define"
    found = _notebooks(name)
    if label == "Planned for":
        assert not found, f"{name} exists now: move {names} of utils/{mod}.py from 'Planned for' to 'Introduced in'"
        return
    assert found, f"utils/{mod}.py: 'Introduced in' names {name}, but no lectures/, solutions/ or assignments/ has it"
    for path in found:
        code = "\n".join(_code(path))
        assert _imports_module(code, mod), f"{path.relative_to(ROOT)} does not import utils.{mod}"
        missing = [fn for fn in names if not _uses(code, fn)]
        assert not missing, f"{path.relative_to(ROOT)} does not use {missing} of utils.{mod}"


@pytest.mark.parametrize(("mod", "label", "name", "names"), list(_module_entries()))
def test_no_earlier_lecture_uses_what_a_lecture_introduces(mod, label, name, names):
    if label != "Introduced in":
        pytest.skip("planned, not written yet")
    number = next((_lecture_number(p) for p in _notebooks(name) if _lecture_number(p) is not None), None)
    if number is None:
        pytest.skip(f"{name} is not a lecture")
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        earlier = _lecture_number(path)
        if earlier is None or earlier >= number:
            continue
        code = "\n".join(_code(path))
        if names:
            used = [fn for fn in names if _imports_module(code, mod) and _uses(code, fn)]
            assert not used, f"{path.name} already uses {used} of utils.{mod}: it introduces them, not {name}"
        else:
            assert not _imports_module(code, mod), f"{path.name} already imports utils.{mod}, before {name}"


@pytest.mark.parametrize("mod", MODULES)
def test_a_functions_own_introduced_in_line_agrees_with_its_module(mod):
    doc, tree = _module_doc(mod)
    where = {}
    for label in ("Introduced in", "Planned for"):
        for name, names in _entries(_paragraph(doc, label) or ""):
            for fn in names:
                where.setdefault(fn, set()).add(name)
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.ClassDef):
            continue
        text = _paragraph(ast.get_docstring(node) or "", "Introduced in")
        if text is None:
            continue
        named = {name for name, _ in _entries(text)}
        assert named, f"utils/{mod}.py: {node.name}'s 'Introduced in' names no notebook file: {text!r}"
        assert node.name in where, f"utils/{mod}.py: {node.name} has an 'Introduced in' line; list it in the module's"
        assert named <= where[node.name], (
            f"utils/{mod}.py: {node.name} says {sorted(named)}, the module says {sorted(where[node.name])}"
        )


def test_the_parser_reads_a_wrapped_line_with_names():
    doc = "Summary.\n\nIntroduced in: 01_a.ipynb (f, g),\n02_b.ipynb (h), a1_x.ipynb.\n\nMore text."
    assert _entries(_paragraph(doc, "Introduced in")) == [
        ("01_a.ipynb", ["f", "g"]),
        ("02_b.ipynb", ["h"]),
        ("a1_x.ipynb", []),
    ]
    assert _imports_module("from utils import checks\n", "checks")
    assert _imports_module("from utils.viz import (\n    set_style,\n)\n", "viz")
    assert not _imports_module("from utils.vizzy import x\n", "viz")
    assert _uses("from utils.viz import set_style\nset_style()\n", "set_style")
    assert not _uses("from utils.viz import set_style, show_maps\nset_style()\n", "show_maps")
