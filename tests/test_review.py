"""The review scan (grading/review.py) reads the abstract syntax tree of the code that really ran.

Each kind of code written against the grader is flagged however it is spelled (aliases, line
breaks, strings that contain `#`, magics), honest code in the styles students write is not, and
only the instructor's restored cells (their grade_id and their exact text) are skipped: a
duplicate or an id-less copy of a test cell is scanned like any student cell.
"""

from __future__ import annotations

import copy

import gradinglib as gl
import nbformat
import pytest

from grading.review import (
    ATTRS,
    DYNAMIC,
    EXIT,
    FILES,
    INTERPRETER,
    IPYTHON,
    KIT,
    MONKEYPATCH,
    PRIVATE_TORCH,
    UNPARSABLE,
    review_flags,
    scan_code,
)

FLAGGED = {
    "exec of a string": ("s = 'x = 1  # not a comment'; exec(s)", DYNAMIC),
    "eval": ("y = eval('1 + 1')", DYNAMIC),
    "compile": ("code = compile('1', 'f', 'eval')", DYNAMIC),
    "__import__": ("m = __import__('o' + 's')", DYNAMIC),
    "getattr with a computed name": ("name = 'sy' + 's'\nm = getattr(mod, name)", ATTRS),
    "setattr": ("setattr(torch, 'allclose', f)", ATTRS),
    "builtins.getattr": ("import builtins\nbuiltins.getattr(x, 'a')", INTERPRETER),
    "get_ipython": ("ip = get_ipython()", IPYTHON),
    "get_ipython imported": ("from IPython import get_ipython", IPYTHON),
    "globals lookup": ("g = globals()['get_' + 'ipython']", INTERPRETER),
    "input transformers": ("shell.input_transformers_cleanup.append(lambda lines: ['pass'])", IPYTHON),
    "events": ("shell.events.register('pre_run_cell', f)", IPYTHON),
    "shell escape": ("!cat /etc/passwd", IPYTHON),
    "line magic": ("%env SECRET=1", IPYTHON),
    "sys.modules": ("import sys\nm = sys.modules['torch']", INTERPRETER),
    "frames": ("import sys\nf = sys._getframe(1)", INTERPRETER),
    "inspect": ("import inspect", INTERPRETER),
    "gc": ("import gc as g", INTERPRETER),
    "__builtins__": ("b = __builtins__", INTERPRETER),
    "function globals": ("g = f.__globals__", INTERPRETER),
    "subclasses walk": ("cs = object.__subclasses__()", INTERPRETER),
    "class swap": ("t.__class__ = Evil", INTERPRETER),
    "tensor subclass": ("class Evil(torch.Tensor):\n    pass", PRIVATE_TORCH + " (a torch.Tensor subclass)"),
    "__torch_function__": ("class A:\n    def __torch_function__(self, *a):\n        return 0", PRIVATE_TORCH),
    "torch._C": ("torch._C._set_grad_enabled(True)", PRIVATE_TORCH),
    "torch.ops.aten": ("y = torch.ops.aten.convolution(x, w, None, [1], [0], [1], False, [0], 1)", PRIVATE_TORCH),
    "torch private name": ("torch._foo()", PRIVATE_TORCH),
    "dispatch mode import": ("from torch.utils._python_dispatch import TorchDispatchMode", PRIVATE_TORCH),
    "torch.overrides": ("import torch.overrides", PRIVATE_TORCH),
    "monkeypatch an alias": ("import torch as tt\ntt.allclose = lambda *a, **k: True", MONKEYPATCH),
    "monkeypatch F": ("F.conv2d = my_conv", MONKEYPATCH),
    "monkeypatch a method": ("torch.Tensor.equal = lambda *a: True", MONKEYPATCH),
    "delete a module attribute": ("del torch.allclose", MONKEYPATCH),
    "test kit": ("_T.check_close = lambda *a, **k: None", KIT),
    "os._exit": ("import os\nos._exit(0)", EXIT),
    "sys.exit": ("import sys\nsys.exit()", EXIT),
    "exit()": ("exit()", EXIT),
    "open": ("text = open('/etc/passwd').read()", FILES),
    "subprocess": ("import subprocess", FILES),
    "os.system": ("import os\nos.system('ls')", FILES),
    "socket": ("from socket import create_connection", FILES),
    "pathlib write": ("p.write_text('x')", FILES),
    "split over lines": ("y = (\n    exec\n)(\n    'x = 1'\n)", DYNAMIC),
    "does not parse": ("def (:", UNPARSABLE),
}

HONEST = {
    "loops and views": (
        "import torch\nimport torch.nn.functional as F\n"
        "def conv(x, w, b=None, stride=1, padding=0):\n"
        "    xp = F.pad(x, (padding,) * 4)\n"
        "    win = xp.unfold(2, w.shape[2], stride).unfold(3, w.shape[3], stride)\n"
        "    out = torch.einsum('nchwij,kcij->nkhw', win, w)\n"
        "    return out if b is None else out + b.view(1, -1, 1, 1)\n"
    ),
    "a module": (
        "import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.conv = nn.Conv3d(1, 8, 3)\n        self.kernel = 3\n"
        "    def forward(self, x):\n        for m in self.modules():\n            pass\n"
        "        return self.conv(x).flatten(1)\n"
    ),
    "names of classes and constant getattr": "print(type(x).__name__, x.__class__.__name__, getattr(x, 'shape'))",
    "a string that looks like code": "msg = 'exec(open(x)) # torch._C'\nprint(msg)",
    "a comment": "# exec(open('x')), get_ipython(), torch._C\ny = 1",
    "plotting": "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.imshow(img)\nplt.show()",
    "attributes of own objects": "model.fc = nn.Linear(3, 4)\nstats.mean = x.mean()\nx.requires_grad_(True)",
}


@pytest.mark.parametrize("case", sorted(FLAGGED))
def test_code_written_against_the_grader_is_flagged_with_its_reason(case):
    code, reason = FLAGGED[case]
    assert reason in [r for _, r in scan_code(code)], scan_code(code)


@pytest.mark.parametrize("case", sorted(HONEST))
def test_honest_code_is_not_flagged(case):
    assert scan_code(HONEST[case]) == []


def test_a_flag_names_the_cell_the_line_and_the_code():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\ny = eval('2')")])
    assert review_flags(nb, nbformat.v4.new_notebook()) == [f"cell 0 line 2: {DYNAMIC}: y = eval('2')"]


@pytest.fixture(scope="module")
def source():
    return gl.read_notebook(gl.source_path(gl.REPO, "a1_convolution"))


def test_the_solution_and_the_release_of_every_assignment_are_clean():
    for aid in sorted(p.name for p in (gl.REPO / "solutions").iterdir() if (p / f"{p.name}.ipynb").exists()):
        source = gl.read_notebook(gl.source_path(gl.REPO, aid))
        assert review_flags(source, source) == [], aid
        assert review_flags(gl.read_notebook(gl.release_path(gl.REPO, aid)), source) == [], aid


def test_only_the_instructors_restored_cells_are_skipped(source):
    """A test cell under its own id and text is skipped; the same text without the id, or with the
    id but other text, is scanned."""
    test_cell = next(c for c in source.cells if gl.nbgrader_meta(c).get("grade") and "_T." in c.source)
    ran = copy.deepcopy(source)
    copy_without_id = nbformat.v4.new_code_cell(test_cell.source)
    ran.cells.insert(0, copy_without_id)  # an earlier duplicate that DeduplicateIds left without an id
    flags = review_flags(ran, source)
    assert flags and all(f.startswith("cell 0 ") for f in flags), flags
    assert KIT in flags[0]
    changed = copy.deepcopy(source)
    cell = next(
        c for c in changed.cells if gl.nbgrader_meta(c).get("grade_id") == gl.nbgrader_meta(test_cell)["grade_id"]
    )
    cell.source += "\nexec('1')"
    assert any(DYNAMIC in f for f in review_flags(changed, source))


def test_a_solution_cell_is_scanned_even_when_it_holds_the_solution_text(source):
    ran = copy.deepcopy(source)
    answer = next(c for c in ran.cells if gl.nbgrader_meta(c).get("solution"))
    answer.source = "import builtins\n" + answer.source
    assert any(INTERPRETER in f for f in review_flags(ran, source))
