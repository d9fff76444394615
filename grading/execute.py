"""The autograder's execute step: sandboxed, output-capped, and surviving kernel deaths.

`SandboxedExecute` replaces nbgrader's `Execute` in `Autograde.autograde_preprocessors`
(nbgrader_config.py). It keeps every `Execute` setting (`c.Execute.timeout`, ...) and adds:

- the kernel runs in the bubblewrap sandbox of `grading.sandbox` (refused when bubblewrap is
  missing unless `c.SandboxedExecute.allow_unsandboxed = True`);
- each cell's output is capped while it arrives (`max_output_chars`), so a cell that prints
  100 MB costs neither memory nor a giant autograded notebook; display updates (`display_id`)
  get the same cap, and no widget state is stored;
- a cell that kills the kernel (`os._exit`, a segfault, running out of memory) or leaves it
  unresponsive after the timeout's interrupt gets an error output and zero; the notebook is
  then run again from the top in a fresh kernel with that cell skipped, so the other items
  are graded on their own merit. Every code cell ends up executed or marked with an error:
  no test cell is ever left without outputs (nbgrader would give it full points).
"""

from __future__ import annotations

import ast
import os
import re
import secrets
import tempfile
import time

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient.client import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from .bridge import Bridge, run_trusted
from .sandbox import SandboxKernelManager, SandboxUnavailable, sandbox_problem

TEXT_KEYS = ("text", "evalue")


def _output_chars(out: NotebookNode) -> int:
    """Characters an output adds to the notebook (text, tracebacks and rich data)."""
    n = sum(len(out.get(k) or "") for k in TEXT_KEYS)
    n += sum(len(line) for line in out.get("traceback") or [])
    for value in (out.get("data") or {}).values():
        n += len(value) if isinstance(value, str) else len(str(value))
    return n


class SandboxedExecute(Execute):
    """nbgrader's Execute with a sandboxed kernel, an output cap and kernel-death recovery."""

    sandbox = Bool(True, help="Run student code in the bubblewrap sandbox (grading.sandbox).").tag(config=True)
    allow_unsandboxed = Bool(
        False,
        help="When bubblewrap is unavailable, grade without isolation (with a warning) instead of "
        "refusing. Only for trusted submissions.",
    ).tag(config=True)
    max_output_chars = Integer(
        100_000, help="Output characters kept per cell; the rest is replaced by one notice."
    ).tag(config=True)
    freeze_test_names = Bool(
        True,
        help="Before each test cell, bind again the private names (`_T`, `_ref`...) that the locked "
        "cells above the first answer bound, so that a student cannot swap the tests' references.",
    ).tag(config=True)
    max_kernel_restarts = Integer(
        3, help="Fresh kernels started for one notebook after cells that crash or hang the kernel."
    ).tag(config=True)
    two_process = Bool(
        True,
        help="Run test cells in the grader's own process, on its own references, with the graded names "
        "as proxies to the student's kernel that exchange only typed data (grading/bridge.py). False: "
        "every cell runs in the student's kernel (nbgrader's own way).",
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("kernel_manager_class", AsyncKernelManager)
        super().__init__(*args, **kwargs)

    # -- kernel choice -------------------------------------------------------------
    def _choose_kernel_manager(self) -> None:
        if not self.sandbox:
            self.kernel_manager_class = AsyncKernelManager
            return
        problem = sandbox_problem()
        if problem is None:
            self.kernel_manager_class = SandboxKernelManager
        elif self.allow_unsandboxed:
            self.log.warning("Grading WITHOUT a sandbox (allow_unsandboxed=True): %s", problem)
            self.kernel_manager_class = AsyncKernelManager
        else:
            raise SandboxUnavailable(
                f"refusing to run student code unsandboxed: {problem}. To grade anyway (trusted "
                "submissions only) pass --SandboxedExecute.allow_unsandboxed=True"
            )

    # -- output cap ----------------------------------------------------------------
    def output(self, outs, msg, display_id, cell_index):
        used = self._chars_used.get(cell_index, 0)
        if used > self.max_output_chars:  # already truncated: drop silently
            return None
        out = super().output(outs, msg, display_id, cell_index)
        if out is None:
            return None
        size = _output_chars(out)
        self._chars_used[cell_index] = used + size
        if used + size > self.max_output_chars:
            if out in outs:
                outs.remove(out)
            if out.get("output_type") == "stream" and used < self.max_output_chars:
                outs.append(new_output("stream", name=out["name"], text=out["text"][: self.max_output_chars - used]))
            note = (
                f"\n[output truncated by the autograder: this cell printed more than "
                f"{self.max_output_chars} characters]\n"
            )
            outs.append(new_output("stream", name="stdout", text=note))
            self._chars_used[cell_index] = self.max_output_chars + 1
        return out

    def _update_display_id(self, display_id, msg):
        """A display update (`display(..., display_id=...)`, then `.update(...)`) rewrites an earlier
        output in place, never through `output()`: it gets the same cap, one update at a time."""
        data = (msg.get("content") or {}).get("data") or {}
        size = sum(len(v) if isinstance(v, str) else len(str(v)) for v in data.values())
        if size > self.max_output_chars:
            note = f"[display update dropped by the autograder: more than {self.max_output_chars} characters]"
            msg["content"]["data"] = {"text/plain": note}
            msg["content"]["metadata"] = {}
        return super()._update_display_id(display_id, msg)

    # -- names the tests rely on --------------------------------------------------------
    def _preamble(self) -> tuple[int, list[str]]:
        """Index of the first answer cell, and the private names (`_T`) the locked cells above it bind."""
        first = next(
            (i for i, c in enumerate(self.nb.cells) if c.metadata.get("nbgrader", {}).get("solution")),
            len(self.nb.cells),
        )
        names: list[str] = []
        for cell in self.nb.cells[:first]:
            if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("locked"):
                continue
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                continue
            for node in tree.body:
                targets: list = []
                if isinstance(node, ast.Assign):
                    targets = node.targets
                elif isinstance(node, ast.AnnAssign | ast.AugAssign):
                    targets = [node.target]
                found = [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                if isinstance(node, ast.FunctionDef | ast.ClassDef):
                    found.append(node.name)
                if isinstance(node, ast.Import | ast.ImportFrom):
                    found += [(a.asname or a.name).split(".")[0] for a in node.names]
                names += [n for n in found if re.fullmatch(r"_[A-Za-z][A-Za-z0-9_]*", n) and n not in names]
        return first, names

    def _graded_names(self, resources) -> list[str]:
        """The functions and classes (and other top-level names) that the answer cells of the
        assignment's source define, read from the gradebook (the released stubs' definitions)."""
        from nbgrader.api import Gradebook

        info = (resources or {}).get("nbgrader") or {}
        names: list[str] = []
        if "db_url" in info:
            with Gradebook(info["db_url"]) as gb:
                notebook = gb.find_notebook(info["notebook"], info["assignment"])
                answers = {cell.name for cell in notebook.solution_cells}
                sources = [c.source for c in notebook.source_cells if c.name in answers and c.cell_type == "code"]
        else:  # run outside nbgrader (no gradebook): the notebook's own answer cells
            sources = [
                c.source
                for c in self.nb.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")
            ]
        for source in sources:
            try:
                tree = ast.parse(source)
            except SyntaxError:
                continue
            for node in tree.body:
                found = []
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    found = [node.name]
                elif isinstance(node, ast.Assign):
                    found = [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
                names += [n for n in found if n not in names]
        return names

    def _run_trusted_cell(self, cell, index: int) -> None:
        """A test cell, run in this process with the graded names as proxies (grading/bridge.py)."""
        from .bridge import Remote, TrustedKit

        bridge, ns = self._bridge, self._trusted_ns
        if self._agent_ready is None:
            self._agent_ready = bridge.install(self.timeout or 60)
        kit = ns.get("_T")
        if kit is not None and not isinstance(kit, TrustedKit):
            ns["_T"] = TrustedKit(kit, bridge)
        for name in self._graded:
            ns[name] = Remote(bridge, name=name)
        bridge.scratch, bridge.expired = 0, False
        bridge.deadline = time.monotonic() + (self.timeout or 60)
        bridge.timeout_text = f"the time limit of {self.timeout or 60} s"
        self._count += 1
        cell.execution_count = self._count
        t0, n0 = time.monotonic(), bridge.calls
        try:
            cell.outputs = [new_output(**o) for o in run_trusted(cell.source, ns, f"test cell {index}")]
        finally:
            bridge.end_cell()
        self.log.debug("test cell %d: %.2f s, %d calls", index, time.monotonic() - t0, bridge.calls - n0)
        self._drain_iopub()
        if bridge.dead:
            raise DeadKernelError("the kernel died while a test called the student's code")

    # a locked setup cell that binds only private names (the test kit `_T`) gives the same objects
    # for every submission: built once per grading process (its source is the gradebook's)
    _kit_cache: dict = {}

    def _run_trusted_setup(self, source: str, index: int) -> None:
        ns = self._trusted_ns
        if source in self._kit_cache:
            ns.update(self._kit_cache[source])
            return
        before = dict(ns)
        outputs = run_trusted(source, ns, f"setup cell {index}")
        for out in outputs:
            if out["output_type"] == "error":
                self.log.warning("Setup cell %d failed in the grader: %s", index, out["evalue"])
        bound = {k: v for k, v in ns.items() if k not in before or before[k] is not v}
        if not outputs and bound and all(k.startswith("_") and not k.startswith("__") for k in bound):
            self._kit_cache[source] = bound

    def _drain_iopub(self) -> None:
        """Read away what the student's kernel published during the proxied calls (their status
        messages, what the student's code printed): unread, they would fill the queue of our own
        client (ZeroMQ's high-water mark) and the next cell's output would be dropped."""
        kc = self.kc

        async def drain():
            while True:
                try:
                    await kc.iopub_channel.get_msg(timeout=0)
                except Exception:  # queue.Empty: nothing left
                    return

        run_sync(drain)()

    def _run_silently(self, code: str) -> bool:
        assert self.kc is not None
        reply = self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
        return bool(reply) and reply["content"].get("status") == "ok"

    def _freeze(self, names: list[str]) -> None:
        """Remember the objects bound to `names` right after the locked setup cells ran."""
        self._restorer = f"__grader_restore_{secrets.token_hex(8)}"
        self._checker = f"__grader_check_{secrets.token_hex(8)}"
        self._frozen = bool(names) and self._run_silently(
            f"{self._restorer} = (lambda ns, saved, update: (lambda: update(ns, saved)))("
            f"globals(), {{n: globals()[n] for n in {names!r} if n in globals()}}, dict.update)\n"
            f"{self._checker} = (lambda ns, saved, get: (lambda: [1 for n in saved if get(ns, n) is not saved[n]] "
            f"and 1 / 0))(globals(), {{n: globals()[n] for n in {names!r} if n in globals()}}, dict.get)"
        )

    def _unchanged(self) -> bool:
        """After a test cell: False when the cell ended with a test name (`_T`) bound to another object,
        i.e. code run by the test (the student's) swapped the test kit while the test ran."""
        return not self._frozen or self._run_silently(f"{self._checker}()")

    def _thaw(self) -> bool:
        """Bind the remembered objects again before a test cell; False when that failed (tampering)."""
        return not self._frozen or self._run_silently(f"{self._restorer}()")

    def _error_output(self, ename: str, evalue: str) -> NotebookNode:
        return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])

    # -- execution with recovery ---------------------------------------------------
    def on_cell_executed(self, **kwargs):
        super().on_cell_executed(**kwargs)
        reply = kwargs.get("execute_reply") or {}
        for payload in reply.get("content", {}).get("payload") or []:
            if payload.get("source") == "ask_exit":  # exit() / quit(): the kernel stops after this cell
                self._asked_exit = True

    def preprocess(self, nb, resources=None, km=None):
        self._choose_kernel_manager()
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        skipped: dict[int, NotebookNode] = {}  # cell index -> error output explaining the skip
        graded = self._graded_names(resources) if self.two_process else []
        for _attempt in range(self.max_kernel_restarts + 1):
            self._chars_used: dict[int, int] = {}
            # the kernel's state is thrown away: kill it instead of a polite (1-2 s) shutdown
            self.shutdown_kernel = "immediate"
            failed = None
            for cell in self.nb.cells:
                if cell.cell_type == "code":
                    cell.outputs = []
                    cell.execution_count = None
            with self.setup_kernel():
                assert self.kc is not None
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                if hasattr(self.km, "seal"):
                    self.km.seal()  # the kernel's sockets exist: nothing inside may write outside now
                first_answer, frozen_names = self._preamble()
                self._frozen = False
                two = self.two_process
                if two:
                    self._graded = graded
                    self._trusted_ns = {"__name__": "__grader_tests__"}
                    if hasattr(self.km, "grader_socket_dir"):
                        socket_dir, owner = self.km.grader_socket_dir()
                    else:  # unsandboxed (allow_unsandboxed): a private folder of ours
                        socket_dir, owner = tempfile.mkdtemp(prefix="nbgrader-bridge-"), None
                        os.chmod(socket_dir, 0o755)
                    self._bridge = Bridge(
                        self.km.get_connection_info(),
                        is_alive=run_sync(self.km.is_alive),
                        interrupt=run_sync(self.km.interrupt_kernel),
                        socket_dir=socket_dir,
                        uid=owner,
                    )
                    self._agent_ready = None  # not tried yet; then True or False (tried once only)
                    self._count = 1000  # trusted cells' execution counts (display only)
                for index, cell in enumerate(self.nb.cells):
                    meta = cell.metadata.get("nbgrader", {})
                    if index == first_answer and self.freeze_test_names and not two:
                        self._freeze(frozen_names)
                    if index == first_answer and two and self._agent_ready is None:
                        self._agent_ready = self._bridge.install(self.timeout or 60)
                    if index in skipped:
                        cell.outputs = [skipped[index]]
                        continue
                    self._asked_exit = False
                    is_test = cell.cell_type == "code" and meta.get("grade") and not meta.get("solution")
                    try:
                        if two and is_test:
                            self._run_trusted_cell(cell, index)
                        elif two:
                            self.preprocess_cell(cell, resources, index)
                            if index < first_answer and meta.get("locked") and cell.cell_type == "code":
                                # the setup and the kit run here too: the tests' references are ours
                                self._run_trusted_setup(cell.source, index)
                        elif meta.get("grade") and not self._thaw():
                            cell.outputs = [
                                self._error_output("GraderStateTampered", "the test's references were removed")
                            ]
                        else:
                            self.preprocess_cell(cell, resources, index)
                            if meta.get("grade") and not self._unchanged():
                                cell.outputs.append(
                                    self._error_output(
                                        "GraderStateTampered", "the test's references were replaced while it ran"
                                    )
                                )
                    except (DeadKernelError, CellTimeoutError) as exc:
                        failed = (index, exc)
                        break
                    if self._asked_exit:
                        failed = (index, DeadKernelError("the cell called exit()"))
                        break
            if two:
                self._bridge.close()
            self.km = None
            self.kc = None
            if failed is None:
                break
            index, exc = failed
            if isinstance(exc, DeadKernelError) and "exit()" in str(exc):
                error = self._error_output(
                    "KernelDied", "this cell called exit(), which stops the kernel (it was skipped on a re-run)"
                )
            elif isinstance(exc, DeadKernelError):
                error = self._error_output(
                    "KernelDied", "the kernel died while running this cell (it was skipped on a re-run)"
                )
            else:
                error = self._error_output(
                    "CellTimeoutError", "this cell did not stop when interrupted (it was skipped on a re-run)"
                )
            self.log.warning("Cell %d: %s; re-running the notebook without it", index, error.evalue)
            skipped[index] = error
        else:
            # too many crashing cells: everything not yet run fails explicitly
            for index, error in skipped.items():
                self.nb.cells[index].outputs = [error]
            for cell in self.nb.cells:
                if (
                    cell.cell_type == "code"
                    and cell.source.strip()
                    and cell.execution_count is None
                    and not cell.outputs
                ):
                    cell.outputs = [self._error_output("KernelDied", "not run: the kernel kept dying")]
        # no widget state is written into the graded notebook: a submission could make it any size
        return self.nb, self.resources


def check_sandbox_or_explain() -> str | None:
    """One line for the instructor when autograding would be refused here, else None."""
    problem = sandbox_problem()
    if problem is None:
        return None
    return f"cannot sandbox student code: {problem}"
