"""A grading batch survives the death of a worker process, and its gradebook is written safely.

`python -m grading autograde` grades students in worker processes. A worker can die while it
grades (the kernel out of memory takes it with it, the OOM killer picks it, a crash in a
library): the test kills one with SIGKILL while it waits for a slow submission and asserts that
the batch goes on and every student of the class still gets the right score. The gradebook is
left in SQLite's write-ahead-log mode, where readers never block the writer.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import gradinglib as gl
import pytest

AID = "a1_convolution"


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (from /proc)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture(scope="module")
def killed_batch(tmp_path_factory):
    course = gl.copy_course(tmp_path_factory.mktemp("batch") / "course")
    release = gl.read_notebook(gl.generate_assignment(course, AID))
    source = gl.read_notebook(gl.source_path(course, AID))
    honest = gl.fill_solutions(release, source)
    first = gl.solution_ids(source)[0]
    slow = gl.prepend_code(honest, first, "import time\ntime.sleep(8)")  # keeps its worker busy
    for student in ("ann", "bob", "cat"):
        gl.submit(course, student, AID, honest)
    gl.submit(course, "aaa-slow", AID, slow)
    args = [sys.executable, "-m", "grading", "autograde", AID, "--jobs", "2", "--timeout", "30"]
    if gl.sandbox_problem() is not None:
        args.append("--allow-unsandboxed")
    proc = subprocess.Popen(args, cwd=course, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = None
    try:
        deadline = time.monotonic() + 240
        while killed is None and time.monotonic() < deadline and proc.poll() is None:
            workers = [p for p in children(proc.pid) if "multiprocessing" in cmdline(p)]
            busy = [w for w in workers if children(w)]  # a worker that runs a kernel is grading someone
            if busy:
                time.sleep(2)  # let it get into the submission
                os.kill(busy[0], signal.SIGKILL)
                killed = busy[0]
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"course": course, "out": out, "returncode": proc.returncode, "killed": killed, "source": source}


def test_a_worker_was_killed_while_it_graded(killed_batch):
    assert killed_batch["killed"] is not None, killed_batch["out"]


def test_the_batch_goes_on_and_grades_every_student(killed_batch):
    points = gl.grade_points(killed_batch["source"])
    scores = gl.scores(killed_batch["course"], AID)
    assert set(scores) == {"ann", "bob", "cat", "aaa-slow"}, killed_batch["out"]
    for student, got in scores.items():
        assert got == points, (student, killed_batch["out"])
    assert killed_batch["returncode"] == 0, killed_batch["out"]
    assert killed_batch["out"].count("graded      ") == 4, killed_batch["out"]


def test_the_gradebook_uses_the_write_ahead_log(killed_batch):
    with sqlite3.connect(killed_batch["course"] / "gradebook.db") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
