"""Flag submissions whose own code reaches for the tests, the interpreter or the machine.

The tests run in the grader's process (grading/bridge.py), but what the student's own code does
in its kernel (switching off the "from scratch" rule, lying about a network's layers) and, with
`SandboxedExecute.two_process = False`, code written against tests that run in its kernel, are
for a human to judge. The sandbox protects the files; this scan, run *outside* the kernel, points
at the code: every construct of
student-written code that monkeypatches a module, touches the test kit, runs dynamic code,
digs into interpreter or IPython state, reaches for private torch APIs or leaves the kernel is
reported for a human to read. A flag is not a verdict and costs no points;
`python -m grading autograde` prints one REVIEW line each.

The scan reads the code that really ran: the autograded notebook (after nbgrader's sanitize
step, when it exists; else the submission). Cells are parsed into Python's abstract syntax
tree after IPython's own transformation (so `!cmd` and `%magic` lines are seen as the
`get_ipython()` calls they become), and the tree is walked: names, attributes, calls,
imports, assignments and class definitions, whatever the spacing, aliases or line breaks.
Text tricks (a `#` inside a string, a call split over lines) change nothing.

"Student-written" means every code cell except the instructor's restored cells: a test or
locked cell is skipped only where it sits under its own grade_id and its text is, verbatim,
the source notebook's (gradebook's) version. A copy of a test cell without its id, or an
earlier duplicate, is scanned like any other student cell.
"""

from __future__ import annotations

import ast

# what a name, attribute or call is flagged for: (reason, names)
KIT = "uses the test kit `_T`"
DYNAMIC = "runs dynamic code"
INTERPRETER = "reaches into interpreter state"
IPYTHON = "reaches into IPython"
PRIVATE_TORCH = "uses private torch APIs or switches torch's modes"
MONKEYPATCH = "assigns to a module attribute (monkeypatch)"
ATTRS = "calls setattr/delattr or getattr with a computed name"
EXIT = "leaves or kills the kernel"
FILES = "runs programs or touches files"
UNPARSABLE = "does not parse (hidden from the scan)"

DYNAMIC_CALLS = {"exec", "eval", "compile", "__import__", "breakpoint"}
INTERPRETER_CALLS = {"globals", "locals", "vars"}
INTERPRETER_ATTRS = {
    "__dict__", "__code__", "__globals__", "__builtins__", "__closure__", "__subclasses__", "__bases__",
    "__mro__", "__getattribute__", "__setattr__", "__delattr__", "__reduce__", "__reduce_ex__",
    "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame", "_getframe", "settrace", "setprofile",
    "meta_path", "path_hooks", "excepthook", "addaudithook", "__class__",
}  # fmt: skip
SYS_ATTRS = {"modules", "displayhook", "audit", "path", "_getframe", "settrace", "setprofile", "meta_path"}
INTERPRETER_NAMES = {"__builtins__", "__import__", "__loader__", "__spec__"}
INTERPRETER_MODULES = {
    "builtins", "gc", "inspect", "ctypes", "importlib", "types", "dis", "marshal", "pickle", "code", "codeop",
    "threading", "_thread", "signal", "atexit", "weakref", "copyreg", "sysconfig", "faulthandler", "tracemalloc",
}  # fmt: skip
IPYTHON_NAMES = {"get_ipython", "In", "Out", "_ih", "_oh", "_ii", "_iii", "_i", "__IPYTHON__"}
IPYTHON_ATTRS = {
    "input_transformers_cleanup", "input_transformers_post", "input_transformer_manager", "ast_transformers",
    "events", "run_cell", "run_cell_async", "run_code", "run_ast_nodes", "user_ns", "user_global_ns",
    "register_magic_function", "display_pub", "showtraceback", "_showtraceback", "getoutput",
    "run_line_magic", "run_cell_magic", "set_custom_exc", "register_post_execute",
}  # fmt: skip
IPYTHON_MODULES = {"IPython", "ipykernel", "jupyter_client", "zmq", "traitlets", "nbgrader", "nbformat", "nbclient"}
PRIVATE_TORCH_ATTRS = {  # flagged on any object; and on a torch.* chain: any private name, ops, overrides
    "_C", "_ops", "_dynamo", "_inductor", "_functorch", "_subclasses", "_python_dispatch",
    "_prims", "_refs", "_decomp", "_higher_order_ops", "_library", "_jit_internal", "__torch_function__",
    "__torch_dispatch__", "TorchDispatchMode", "TorchFunctionMode",
    "DisableTorchFunction", "DisableTorchFunctionSubclass", "_disabled_torch_function_impl",
}  # fmt: skip
EXIT_CALLS = {
    ("os", "_exit"),
    ("sys", "exit"),
    ("os", "kill"),
    ("os", "abort"),
    ("os", "killpg"),
    ("signal", "raise_signal"),
}
EXIT_NAMES = {"exit", "quit"}
FILE_MODULES = {"subprocess", "shutil", "socket", "multiprocessing", "pty", "tempfile", "pathlib", "urllib",
                "http", "requests", "ftplib", "telnetlib", "asyncio", "select", "mmap", "resource"}  # fmt: skip
FILE_OS_ATTRS = {
    "system", "popen", "remove", "unlink", "rename", "replace", "chmod", "chown", "symlink", "link", "mkdir",
    "makedirs", "rmdir", "removedirs", "fork", "forkpty", "execv", "execve", "execvp", "execl", "spawnv",
    "spawnl", "posix_spawn", "open", "write", "truncate", "chdir", "environ", "putenv", "setuid", "utime",
}  # fmt: skip
FILE_CALLS = {"open"}
FILE_METHODS = {"write_text", "write_bytes", "unlink", "touch", "rmdir", "chmod", "symlink_to", "rename",
                "hardlink_to", "mkdir", "open"}  # fmt: skip
SETATTR_CALLS = {"setattr", "delattr"}


def review_flags(ran, source) -> list[str]:
    """Constructs of student-written code in notebook ``ran`` that a human should read.

    Args:
        ran: the notebook as it ran (nbformat NotebookNode): the autograded notebook, or the
            submission when there is none.
        source: the assignment's source notebook (the gradebook's version of every test and
            locked cell) or its release; a cell of ``ran`` is skipped only when it carries a
            test or locked cell's grade_id and that cell's exact text.

    Returns:
        One string per flagged line: ``"cell 7 line 3: <reason>: <code>"``; empty when clean.
    """
    instructor = {}
    for cell in source.cells:
        meta = _meta(cell)
        if cell.cell_type == "code" and meta.get("grade_id") and not meta.get("solution"):
            instructor[meta["grade_id"]] = cell.source.strip()
    flags = []
    for index, cell in enumerate(ran.cells):
        if cell.cell_type != "code":
            continue
        gid = _meta(cell).get("grade_id")
        if gid in instructor and not _meta(cell).get("solution") and cell.source.strip() == instructor[gid]:
            continue  # the instructor's cell, put back by autograde
        lines = cell.source.splitlines()
        for number, reason in scan_code(cell.source):
            text = lines[number - 1].strip() if 0 < number <= len(lines) else ""
            flags.append(f"cell {index} line {number}: {reason}: {text[:80]}")
    return flags


def scan_code(code: str) -> list[tuple[int, str]]:
    """(line, reason) for each flagged construct of one cell, one flag per line, in line order."""
    tree = _parse(code)
    if tree is None:
        return [(1, UNPARSABLE)]
    visitor = _Visitor()
    visitor.visit(tree)
    first = {}
    for line, reason in visitor.found:
        first.setdefault(line, reason)
    return sorted(first.items())


def _parse(code: str):
    """The cell's AST after IPython's transformation (magics and shell escapes become calls)."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        python = TransformerManager().transform_cell(code)
    except Exception:  # noqa: BLE001 - IPython missing or the transformation failed: parse as is
        python = code
    try:
        return ast.parse(python)
    except (SyntaxError, ValueError):
        return None


def _dotted(node) -> list[str]:
    """['torch', '_C', 'foo'] for torch._C.foo; [] when the chain does not start at a name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return []


class _Visitor(ast.NodeVisitor):
    def __init__(self):
        self.found: list[tuple[int, str]] = []
        self.modules = {"torch", "np", "numpy", "F", "nn", "utils", "math", "builtins", "sys", "os", "checks"}

    def flag(self, node, reason):
        self.found.append((getattr(node, "lineno", 1), reason))

    # imports: flagged modules, and every imported name becomes a module alias for monkeypatching
    def visit_Import(self, node):
        for alias in node.names:
            self.modules.add((alias.asname or alias.name).split(".")[0])
            self._module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        self._module(node, module)
        for alias in node.names:
            self.modules.add(alias.asname or alias.name)
            self._module(node, f"{module}.{alias.name}")
            if alias.name in IPYTHON_NAMES or alias.name in DYNAMIC_CALLS:
                self.flag(node, IPYTHON if alias.name in IPYTHON_NAMES else DYNAMIC)
        self.generic_visit(node)

    def _module(self, node, dotted: str):
        parts = dotted.split(".")
        top = parts[0]
        if top in INTERPRETER_MODULES:
            self.flag(node, INTERPRETER)
        elif top in IPYTHON_MODULES:
            self.flag(node, IPYTHON)
        elif top in FILE_MODULES:
            self.flag(node, FILES)
        elif top == "torch" and any(p in PRIVATE_TORCH_ATTRS or p.startswith("_") for p in parts[1:]):
            self.flag(node, PRIVATE_TORCH)
        elif top == "torch" and any(p in ("ops", "overrides", "library") for p in parts[1:]):
            self.flag(node, PRIVATE_TORCH)
        elif top == "sys" and len(parts) > 1 and parts[1] in SYS_ATTRS | INTERPRETER_ATTRS:
            self.flag(node, INTERPRETER)

    def visit_Name(self, node):
        if node.id == "_T":
            self.flag(node, KIT)
        elif node.id in IPYTHON_NAMES:
            self.flag(node, IPYTHON)
        elif node.id in INTERPRETER_NAMES:
            self.flag(node, INTERPRETER)
        elif node.id in ("__torch_function__", "__torch_dispatch__"):
            self.flag(node, PRIVATE_TORCH)

    def visit_Attribute(self, node):
        attr = node.attr
        chain = _dotted(node)
        if chain[:1] == ["os"] and attr in FILE_OS_ATTRS:
            self.flag(node, FILES)
        elif chain[:1] == ["sys"] and attr in SYS_ATTRS:
            self.flag(node, INTERPRETER)
        elif attr == "__class__" and isinstance(node.ctx, ast.Load):
            pass  # reading a class is honest (type(x) is the same); assigning one is not
        elif attr in INTERPRETER_ATTRS:
            self.flag(node, INTERPRETER)
        elif attr in IPYTHON_ATTRS and chain[:1] != ["self"]:
            self.flag(node, IPYTHON)
        elif attr in PRIVATE_TORCH_ATTRS:
            self.flag(node, PRIVATE_TORCH)
        elif chain[:1] == ["torch"] and (
            attr in ("ops", "overrides", "library") or any(p.startswith("_") for p in chain[1:])
        ):
            self.flag(node, PRIVATE_TORCH)
        elif attr in FILE_METHODS and isinstance(node.ctx, ast.Load) and chain[:1] != ["torch"]:
            self.flag(node, FILES)
        self.generic_visit(node)

    def visit_Call(self, node):
        func = node.func
        chain = _dotted(func)
        name = chain[-1] if chain else None
        if isinstance(func, ast.Name):
            if name in DYNAMIC_CALLS:
                self.flag(node, DYNAMIC)
            elif name in INTERPRETER_CALLS:
                self.flag(node, INTERPRETER)
            elif name in SETATTR_CALLS:
                self.flag(node, ATTRS)
            elif name == "getattr" and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
                self.flag(node, ATTRS)
            elif name in EXIT_NAMES:
                self.flag(node, EXIT)
            elif name in FILE_CALLS:
                self.flag(node, FILES)
        elif len(chain) >= 2 and tuple(chain[-2:]) in EXIT_CALLS:
            self.flag(node, EXIT)
        elif name in ("getattr", "setattr", "delattr") and chain[:1] == ["builtins"]:
            self.flag(node, ATTRS)
        self.generic_visit(node)

    def _targets(self, node, targets):
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, (ast.Store, ast.Del)):
                    chain = _dotted(sub)
                    if chain and chain[0] in self.modules:
                        self.flag(node, MONKEYPATCH)

    def visit_Assign(self, node):
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        self._targets(node, [node.target])
        self.generic_visit(node)

    def visit_Delete(self, node):
        self._targets(node, node.targets)
        self.generic_visit(node)

    def visit_ClassDef(self, node):
        for base in node.bases:
            chain = _dotted(base)
            if chain[-1:] == ["Tensor"] or chain[-1:] == ["TensorBase"]:
                self.flag(node, PRIVATE_TORCH + " (a torch.Tensor subclass)")
        for item in node.body:
            if isinstance(item, ast.FunctionDef) and item.name in ("__torch_function__", "__torch_dispatch__"):
                self.flag(item, PRIVATE_TORCH)
        self.generic_visit(node)

    def visit_FunctionDef(self, node):
        if node.name in ("__torch_function__", "__torch_dispatch__"):
            self.flag(node, PRIVATE_TORCH)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef


def _meta(cell) -> dict:
    return dict(cell.get("metadata", {}).get("nbgrader", {}) or {})
