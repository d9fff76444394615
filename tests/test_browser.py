"""The course as a student and an instructor see it: JupyterLab and pages driven in headless Chromium.

One JupyterLab server (127.0.0.1, a free port, a token) per unit of work of pytest-xdist (the
lectures run in two units, 01/03/05/07 and the rest: the top-level conftest.py) runs in a temporary copy of the course,
with the environment's CNN_COURSE_DATA, and one Chromium (Debian's /usr/bin/chromium, driven by
Playwright; never a browser Playwright downloads) opens, one page at a time:

- every lecture: Run All, then the kernel idle, and no cell with an error output, every figure
  drawn as a loaded <img> (per cell, as many as the notebook has image outputs), tqdm's bars as
  live progress widgets where the stored notebook has them, no widget that failed to display;
- lecture 02's convolution-arithmetic explorer: moving its "F" slider changes its output text;
- a released assignment: nbgrader's Validate button is in the toolbar, and validating (which
  saves the notebook first) leaves the committed file byte for byte as it was;
- the formgrader (nbgrader's JupyterLab extension) lists the scores of a class graded with
  `python -m grading autograde`;
- a feedback file of that class, opened from disk with the network cut off: its formulas are
  typeset by MathJax (as many as the notebook has), no `$` is left in its text;
- two pages of the website (tools/build_site.py), offline: their images load.

Screenshots of every page land in a temporary folder (named when a lecture's test fails). With
CNN_COURSE_SCREENSHOT=docs/jupyterlab.png, lecture 02 in JupyterLab, run, is also saved there,
small (the picture in the README):

    CNN_COURSE_SCREENSHOT=docs/jupyterlab.png pytest -n 0 tests/test_browser.py -k 02_convolution

Skipped where Chromium or Playwright is missing, and failed instead when CI is set.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradinglib as gl
import nbformat
import pytest
import sitelib

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
LECTURES = sorted(p.name for p in (gl.REPO / "lectures").glob("0*.ipynb"))
EXPLORER_LECTURE = "02_convolution.ipynb"
EXPLORER_SLIDERS = ("N", "F", "S", "P", "K")
AID = "a1_convolution"
SCREENSHOT_ENV = "CNN_COURSE_SCREENSHOT"
SCREENSHOT_MAX_BYTES = 150_000
# what the course copy leaves out: gradinglib's list, but with the lectures (and no website build)
COPY_EXCLUDE = tuple(x for x in gl.COPY_EXCLUDE if x != "lectures") + ("build", "site")

KERNEL_START_S = 180  # a kernel that imports torch on a loaded 2-core machine
RUN_ALL_S = 600  # a lecture runs in under a minute alone; leave room for a busy machine
FORMULA = re.compile(r"\$\$.+?\$\$|\$[^$]+?\$", re.S)  # $$...$$ or $...$ in markdown (no \\$ in the course)
TQDM_TEXT = re.compile(r"\d+%\|")  # tqdm's text fallback, e.g. " 33%|███▎      | 1/3 [00:02<00:04, ...]"


def browser_problem() -> str | None:
    """None when Playwright and Chromium are there, else what is missing and how to get it."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is missing: pip install -r requirements.txt"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"Chromium is missing ({CHROMIUM}): apt-get install chromium"
    return None


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, start time) of every process below ``pid`` (Linux /proc; [] elsewhere).

    Kernels run in sessions of their own (jupyter_client starts them so), so killing the
    server's process group does not reach them: they are ended one by one, by id.
    """
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            start = _start_time(child)
            if start is not None:
                found.append((child, start))
            todo.append(child)
    return found


class Lab:
    """A JupyterLab server in ``course``: its address, its token, its REST API, its end."""

    def __init__(self, course: Path, home: Path):
        self.course, self.home = course, home
        self.port, self.token = free_port(), secrets.token_hex(16)
        settings = home / "lab-settings"
        # no windowing: every cell is in the page, so its outputs can be counted
        self._settings(settings, "notebook-extension", "tracker", {"windowingMode": "none"})
        # no "Would you like to get notified about official Jupyter news?" toast, no update check
        self._settings(settings, "apputils-extension", "notification", {"checkForUpdates": False, "fetchNews": "false"})
        env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # kernels keep the inline backend
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(home / "lab-workspaces"),
            JUPYTER_CONFIG_DIR=str(home / "jupyter-config"),  # no user configuration of this machine
            JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
            IPYTHONDIR=str(home / "ipython"),
        )
        cmd = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={course}",
            "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run commands, read cell models
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        self.log_path = home / "jupyterlab.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=course, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self._wait_until_up(timeout=180)

    @staticmethod
    def _settings(root: Path, plugin: str, name: str, values: dict) -> None:
        path = root / "@jupyterlab" / plugin / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                self.api("GET", "api/status")
                return
            time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_url(self, path: str) -> str:
        """The notebook ``path`` alone in a workspace of its own (no tab of an earlier page comes back)."""
        return self.url(f"lab/workspaces/{Path(path).stem.replace('_', '-')}/tree/{path}")

    def shutdown_kernels_of(self, path: str) -> None:
        """End the sessions (and kernels) of the notebook ``path``."""
        for session in self.api("GET", "api/sessions") or []:
            if session.get("path") == path:
                with contextlib.suppress(OSError):
                    self.api("DELETE", f"api/sessions/{session['id']}", timeout=30)

    def api(self, method: str, path: str, timeout: float = 10):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        for kernel in self.api("GET", "api/kernels") or []:
            with contextlib.suppress(OSError):
                self.api("DELETE", f"api/kernels/{kernel['id']}", timeout=30)

    def stop(self) -> None:
        """Kernels, then the server (politely, then its process group), then anything left below it."""
        below = descendants(self.proc.pid)
        with contextlib.suppress(Exception):
            self.shutdown_kernels()
        with contextlib.suppress(Exception):
            self.api("POST", "api/shutdown")
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=10)
                    break
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # whatever is left of its group
        for pid, start in below:
            if _start_time(pid) == start:  # still the process we saw, not a reused id
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._log.close()


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One headless Chromium (a fresh profile) for the module; closed at the end, always."""
    problem = browser_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"{problem} (CI is set: the browser test must run, not skip)")
        pytest.skip(problem)
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")  # Debian's Chromium, never a download
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        try:
            yield context
        finally:
            with contextlib.suppress(Exception):
                context.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    """Where the screenshots go."""
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    return gl.copy_course(tmp_path_factory.mktemp("lab") / "course", exclude=COPY_EXCLUDE)


@pytest.fixture(scope="module")
def lab(browser, course, tmp_path_factory):
    server = Lab(course, tmp_path_factory.mktemp("lab-home"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def graded_class(course):
    """a1 released in the course copy, alice's (the solutions) and bob's (the blank release)
    submissions graded with `python -m grading autograde`, feedback generated; their scores."""
    release = gl.read_notebook(gl.generate_assignment(course, AID))
    source = gl.read_notebook(gl.source_path(course, AID))
    gl.submit(course, "alice", AID, gl.fill_solutions(release, source))
    gl.submit(course, "bob", AID, release)
    proc = gl.grade_batch(course, AID)
    assert proc.returncode == 0, f"python -m grading autograde failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    gl.nbgrader(course, "generate_feedback", AID)
    return gl.scores(course, AID), gl.max_scores(course, AID)


@pytest.fixture(scope="module")
def lectures(lab, browser, shots):
    """Runs each lecture once (lazily, in its own page) and remembers what it found."""
    runner = LectureRunner(lab, browser, shots)
    try:
        yield runner
    finally:
        runner.close()


# -- JupyterLab in the page ----------------------------------------------------------------------

JS_NOTEBOOK_READY = """(path) => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!w || !w.context || w.context.path !== path || !w.sessionContext) return false;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && w.context.isReady;
}"""

JS_RUN_ALL = """() => {
  window.__courseRunAll = null;
  window.jupyterapp.commands.execute('notebook:run-all-cells').then(
    (ok) => { window.__courseRunAll = {ok: ok}; },
    (err) => { window.__courseRunAll = {error: String(err)}; });
}"""

JS_IMAGES_LOADED = """() => Array.from(document.querySelectorAll('.jp-OutputArea img')).every(i => i.complete)"""

# Per cell of the notebook in view: what its model holds and what the page shows.
JS_CELLS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  return w.content.widgets.map((cell, index) => {
    if (cell.model.type !== 'code') return {index, code: false};
    const outputs = cell.model.outputs.toJSON();
    const imgs = Array.from(cell.node.querySelectorAll('.jp-OutputArea .jp-RenderedImage img'));
    const area = cell.node.querySelector('.jp-OutputArea');
    return {
      index, code: true,
      execution_count: cell.model.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
      image_outputs: outputs.filter(o => Object.keys(o.data || {}).some(m => m.startsWith('image/'))).length,
      images_drawn: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
      progress_widgets: cell.node.querySelectorAll('.jp-OutputArea .widget-hprogress').length,
      widget_failures: area && area.textContent.includes('Error displaying widget') ? 1 : 0,
    };
  });
}"""


def close_page(page, lab: Lab | None = None, path: str | None = None) -> None:
    """Close the page; with ``lab`` and ``path``, end that notebook's kernel too (frees its memory)."""
    with contextlib.suppress(Exception):
        page.close()
    if lab is not None and path is not None:
        with contextlib.suppress(Exception):
            lab.shutdown_kernels_of(path)


class LectureRunner:
    """Opens lectures in JupyterLab, runs them and keeps what was found (and lecture 02's page)."""

    def __init__(self, lab: Lab, browser, shots: Path):
        self.lab, self.browser, self.shots = lab, browser, shots
        self.results: dict[str, dict] = {}
        self.pages: dict[str, object] = {}

    def run(self, name: str) -> dict:
        if name not in self.results:
            self.results[name] = self._run(name)
        return self.results[name]

    def _run(self, name: str) -> dict:
        path = f"lectures/{name}"
        stored = nbformat.read(self.lab.course / path, as_version=4)  # before JupyterLab can save it
        page = self.browser.new_page()
        page_errors: list[str] = []
        page.on("pageerror", lambda e: page_errors.append(str(e)))
        start = time.perf_counter()
        page.goto(self.lab.notebook_url(path))
        page.wait_for_function(JS_NOTEBOOK_READY, arg=path, timeout=KERNEL_START_S * 1000)
        opened = time.perf_counter()
        page.evaluate(JS_RUN_ALL)
        page.wait_for_function("() => window.__courseRunAll !== null", timeout=RUN_ALL_S * 1000, polling=500)
        outcome = page.evaluate("() => window.__courseRunAll")
        page.wait_for_function(JS_NOTEBOOK_READY, arg=path, timeout=KERNEL_START_S * 1000)
        with contextlib.suppress(Exception):
            page.wait_for_function(JS_IMAGES_LOADED, timeout=30_000)
        ran = time.perf_counter()
        cells = page.evaluate(JS_CELLS)
        shot = self.shots / f"{Path(name).stem}.png"
        page.screenshot(path=str(shot))
        if name == EXPLORER_LECTURE:
            if os.environ.get(SCREENSHOT_ENV):
                readme_screenshot(page, Path(os.environ[SCREENSHOT_ENV]))
            self.pages[name] = page  # kept (with its kernel) for the explorer test
        else:
            close_page(page, self.lab, path)
        return {
            "stored": stored,
            "cells": cells,
            "outcome": outcome,
            "page_errors": page_errors,
            "screenshot": shot,
            "open_s": opened - start,
            "run_s": ran - opened,
        }

    def close(self) -> None:
        for name, page in self.pages.items():
            close_page(page, self.lab, f"lectures/{name}")
        self.pages.clear()
        timings = {name: f"open {r['open_s']:.0f} s, run all {r['run_s']:.0f} s" for name, r in self.results.items()}
        if timings:
            print("\nJupyterLab lecture runs:", json.dumps(timings, indent=1))


def readme_screenshot(page, target: Path) -> Path:
    """The README's picture: the lecture in view at its explorer (live sliders and figure), else at
    its first figure; 3/4 size, 128 colours.

    A relative ``target`` is relative to the repository root (CNN_COURSE_SCREENSHOT=docs/jupyterlab.png).
    """
    from PIL import Image

    page.evaluate(
        """() => { const el = document.querySelector('.jp-OutputArea .widget-slider')
                             || document.querySelector('.jp-OutputArea .jp-RenderedImage img');
                   const cell = el.closest('.jp-Cell');
                   cell.scrollIntoView({block: 'start'}); }"""
    )
    page.wait_for_timeout(500)
    path = target if target.is_absolute() else gl.REPO / target
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    image = Image.open(path).convert("RGB")
    image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)
    image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    size = path.stat().st_size
    print(f"\n{path}: {image.width}x{image.height}, {size} bytes")
    if size > SCREENSHOT_MAX_BYTES:
        raise AssertionError(f"{path} is {size} bytes, more than {SCREENSHOT_MAX_BYTES}")
    return path


def stored_tqdm_cells(nb) -> set[int]:
    """Indices of the code cells whose stored outputs hold a tqdm bar shown as a widget."""
    found = set()
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data and TQDM_TEXT.search(str(data.get("text/plain", ""))):
                found.add(i)
    return found


# -- lectures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", LECTURES)
def test_lecture_runs_all_in_jupyterlab_with_figures_and_progress_bars(lectures, name):
    r = lectures.run(name)
    where = f"{name} (screenshot {r['screenshot']})"
    assert "error" not in r["outcome"], f"{where}: Run All failed: {r['outcome']}"
    errors = {c["index"]: c["errors"] for c in r["cells"] if c["code"] and c["errors"]}
    assert errors == {}, f"{where}: cells with an error output"
    assert r["outcome"]["ok"] is True, f"{where}: Run All did not finish every cell"
    not_run = [c["index"] for c in r["cells"] if c["code"] and c["execution_count"] is None]
    assert not_run == [], f"{where}: cells that did not run"

    stored = sitelib.image_outputs(r["stored"])
    drawn = {c["index"]: c["images_drawn"] for c in r["cells"] if c["code"] and c["images_drawn"]}
    made = {c["index"]: c["image_outputs"] for c in r["cells"] if c["code"] and c["image_outputs"]}
    assert stored, f"{name} stores no figure"
    assert made == stored, f"{where}: image outputs per cell, this run vs the stored notebook"
    assert drawn == stored, f"{where}: figures drawn as loaded <img> per cell vs image outputs stored"

    bars = {c["index"] for c in r["cells"] if c["code"] and c["progress_widgets"]}
    assert stored_tqdm_cells(r["stored"]) - bars == set(), f"{where}: cells whose tqdm bar is not a progress widget"
    failed = [c["index"] for c in r["cells"] if c["code"] and c["widget_failures"]]
    assert failed == [], f"{where}: widgets that failed to display"


# Marks the output area that holds IntSliders with all the given descriptions; returns their names.
JS_FIND_EXPLORER = """(letters) => {
  for (const area of document.querySelectorAll('.jp-OutputArea')) {
    const names = Array.from(area.querySelectorAll('.widget-slider'))
      .map(s => ((s.querySelector('.widget-label') || {}).textContent || '').trim());
    if (letters.every(l => names.includes(l))) {
      area.setAttribute('data-course-explorer', '1');
      return names;
    }
  }
  return null;
}"""

# The explorer's text without its sliders (whose read-outs change with any move).
JS_EXPLORER_TEXT = """() => {
  const area = document.querySelector('[data-course-explorer]').cloneNode(true);
  area.querySelectorAll('.widget-slider').forEach(s => s.remove());
  return area.textContent.replace(/\\s+/g, ' ').trim();
}"""


def test_convolution_explorer_output_follows_the_F_slider(lectures, shots):
    lectures.run(EXPLORER_LECTURE)
    page = lectures.pages[EXPLORER_LECTURE]
    names = page.evaluate(JS_FIND_EXPLORER, list(EXPLORER_SLIDERS))
    assert names, (
        f"{EXPLORER_LECTURE} shows no explorer with IntSliders {', '.join(EXPLORER_SLIDERS)} "
        "(the convolution-arithmetic explorer of utils/explore.py)"
    )
    explorer = page.locator("[data-course-explorer]")
    explorer.scroll_into_view_if_needed()
    before = page.evaluate(JS_EXPLORER_TEXT)
    assert "output" in before, f"the explorer's text says nothing about the output: {before!r}"
    slider = explorer.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text=re.compile(r"^F$")))
    handle = slider.locator(".noUi-handle").first
    value, top = (int(float(handle.get_attribute(a))) for a in ("aria-valuenow", "aria-valuemax"))
    handle.focus()
    handle.press("ArrowRight" if value < top else "ArrowLeft")
    page.wait_for_function(f"() => ({JS_EXPLORER_TEXT})() !== {json.dumps(before)}", timeout=60_000, polling=250)
    after = page.evaluate(JS_EXPLORER_TEXT)
    page.screenshot(path=str(shots / "explorer.png"))
    moved = int(float(handle.get_attribute("aria-valuenow")))
    assert moved != value, "the F slider did not move"
    assert "output" in after and after != before


# -- nbgrader in JupyterLab ----------------------------------------------------------------------


def test_validate_in_jupyterlab_leaves_the_released_notebook_unchanged(lab, browser, shots):
    path = f"assignments/{AID}/{AID}.ipynb"
    committed = gl.release_path(gl.REPO, AID).read_bytes()
    (lab.course / path).write_bytes(committed)
    page = browser.new_page()
    try:
        page.goto(lab.notebook_url(path))
        page.wait_for_function(JS_NOTEBOOK_READY, arg=path, timeout=KERNEL_START_S * 1000)
        button = page.locator(".jp-NotebookPanel-toolbar .validate-button")
        assert button.count() == 1, "nbgrader's Validate button is not in the notebook's toolbar"
        button.click()
        dialog = page.locator(".jp-Dialog")
        dialog.wait_for(timeout=KERNEL_START_S * 1000)
        text = dialog.inner_text()
        page.screenshot(path=str(shots / "validate.png"))
        assert "Validation Results" in text, text[:500]
        assert "failed" in text, f"the blank release passed validation?\n{text[:500]}"
    finally:
        close_page(page, lab, path)
    after = (lab.course / path).read_bytes()
    diff = "".join(
        difflib.unified_diff(
            committed.decode().splitlines(True), after.decode().splitlines(True), "committed", "after Validate", n=1
        )
    )
    assert after == committed, f"Validate rewrote the released notebook:\n{diff[:3000]}"


def test_formgrader_in_jupyterlab_lists_the_class_scores(lab, browser, graded_class, shots):
    scores, max_scores = graded_class
    full = sum(max_scores.values())
    totals = {student: gl.total(cells) for student, cells in scores.items()}
    assert totals == {"alice": full, "bob": 0.0}, "the solutions score full marks, the blank release zero"
    page = browser.new_page()
    try:
        page.goto(lab.url("lab"))
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand('nbgrader:open-formgrader')",
            timeout=120_000,
        )
        page.get_by_role("menuitem", name="Nbgrader").click()  # through the menu, as an instructor does
        page.get_by_role("menuitem", name="Formgrader").click()
        frame = page.frame_locator(".jp-MainAreaWidget iframe").first
        frame.get_by_role("link", name="Manage Students").click()
        rows = frame.locator("table tbody tr")
        deadline = time.monotonic() + 60  # the table is filled from the formgrader's API after the page loads
        while True:
            # columns: Name, Student ID, Email, Overall Score ("20 / 20"), Edit Student
            cells = [row.inner_text().split("\t") for row in rows.all()]
            listed = {cols[1].strip(): cols[3].strip() for cols in cells if len(cols) > 3}
            if set(totals) <= set(listed) or time.monotonic() > deadline:
                break
            page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "formgrader.png"))
    finally:
        page.close()
    assert listed == {s: f"{t:g} / {full:g}" for s, t in totals.items()}


def offline_page(browser):
    """A new page that may load only file:, data: and blob: URLs; every other request is aborted
    and its URL appended to the returned list."""
    page = browser.new_page()
    fetched: list[str] = []

    def offline(route):
        if route.request.url.startswith(("file:", "data:", "blob:")):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    return page, fetched


def test_feedback_formulas_render_offline(browser, graded_class, course, shots):
    html = course / "feedback" / "alice" / AID / f"{AID}.html"
    assert html.is_file(), f"no feedback file {html}"
    autograded = gl.read_notebook(course / "autograded" / "alice" / AID / f"{AID}.ipynb")
    formulas = sum(len(FORMULA.findall(c.source)) for c in autograded.cells if c.cell_type == "markdown")
    assert formulas, "the notebook has no formula to render"
    page, fetched = offline_page(browser)
    try:
        page.goto(html.as_uri())
        with contextlib.suppress(Exception):  # MathJax 3 says when it is done; a page without it never does
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise "
                "&& MathJax.startup.promise.then(() => true)",
                timeout=60_000,
            )
        page.screenshot(path=str(shots / "feedback.png"))
        rendered = page.locator("mjx-container").count()
        broken = page.locator("mjx-merror").count()
        safe = page.evaluate("() => !!(window.MathJax && MathJax.startup && MathJax.startup.document.safe)")
        text = page.evaluate(
            "() => Array.from(document.querySelectorAll('.text_cell_render')).map(e => e.innerText).join('\\n')"
        )
    finally:
        page.close()
    assert fetched == [], "the feedback page asked the network for something"
    assert rendered == formulas, f"{formulas} formulas in the notebook, {rendered} typeset by MathJax"
    assert broken == 0, "MathJax could not typeset some formulas"
    assert [line for line in text.splitlines() if "$" in line] == [], "raw $...$ left in the feedback"
    assert safe, "MathJax's safe extension (no javascript: links from formulas) is not active"


# -- the website -------------------------------------------------------------------------------


WEBSITE_PAGES = {  # page: the notebook whose figures it shows (None: the README's pictures)
    "index.html": None,
    "lectures/02_convolution.html": gl.REPO / "lectures" / EXPLORER_LECTURE,
}


@pytest.mark.parametrize("page_path", list(WEBSITE_PAGES))
def test_website_page_renders_offline_with_its_images(browser, tmp_path_factory, shots, page_path):
    site = sitelib.built_site(tmp_path_factory)
    notebook = WEBSITE_PAGES[page_path]
    if notebook is None:
        expected = len(re.findall(r"!\[", (gl.REPO / "README.md").read_text(encoding="utf-8")))
    else:
        expected = sum(sitelib.image_outputs(nbformat.read(notebook, as_version=4)).values())
    page, fetched = offline_page(browser)
    try:
        page.goto((site / page_path).as_uri())
        page.wait_for_load_state("load")
        page.wait_for_function("() => Array.from(document.images).every(i => i.complete)", timeout=30_000)
        if notebook is not None:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
            page.evaluate("() => MathJax.startup.promise.then(() => true)")
        images = page.evaluate(
            """() => Array.from(document.querySelectorAll('article img')).filter(i => i.getAttribute('src'))
                 .map(i => ({src: i.getAttribute('src'), ok: i.naturalWidth > 0}))"""
        )
        formulas = page.locator("article mjx-container").count()
        broken = page.locator("article mjx-merror").count()
        nav = page.evaluate("() => Array.from(document.querySelectorAll('nav.bd-links a')).map(a => a.href)")
        page.screenshot(path=str(shots / f"site-{page_path.replace('/', '-')}.png"))
    finally:
        page.close()
    assert [i["src"] for i in images if not i["ok"]] == [], f"{page_path}: images that did not load"
    assert len(images) >= expected, f"{page_path}: {expected} pictures expected, {len(images)} shown"
    unlisted = [n for n in LECTURES if not any(h.split("#")[0].endswith(f"/lectures/{Path(n).stem}.html") for h in nav)]
    assert unlisted == [], f"{page_path}: lectures missing from the navigation"
    if notebook is not None:
        assert formulas > 0 and broken == 0, f"{page_path}: {formulas} formulas typeset, {broken} broken"
    assert fetched == [], f"{page_path} asked the network for something"
