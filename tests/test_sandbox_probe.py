"""What student code can see and reach from inside the grading sandbox, asked from inside.

Two probe submissions of a1 are graded in parallel by `python -m grading autograde`. Their
first answer cell reports, as one JSON line in its output, what it finds: the files of its
working folder, the course root, a port that listens on the grading machine's loopback, its
user id, its limits and the size of the folders it can write, its threads, whether it can write
into the folder of its kernel's sockets, and what happens when it allocates 3 GB or fills
/tmp. A third submission floods its output through display updates. The tests assert each
answer against nbgrader_config.py's settings, and that the rest of each submission is still
graded to full marks.
"""

from __future__ import annotations

import json
import os
import socket

import gradinglib as gl
import pytest

AID = "a1_convolution"
MARK = "PROBE-REPORT "
#: the third submission's student: sorted after the probes, so that the two workers of
#: `--jobs 2` take probe-1 and probe-2 first and grade them at the same time
FLOOD = "zz-display-flood"
HOLD_SECONDS = 4  # each probe's cell lasts at least this long, its kernel longer
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the sandbox's per-kernel users need root")

PROBE = r"""
import json as _json, os as _os, resource as _resource, socket as _socket, time as _time
_t0 = _time.time()
_r = {"cwd": sorted(_os.listdir(".")), "uid": _os.getuid()}
_course = __COURSE__
_r["course"] = sorted(_os.listdir(_course)) if _os.path.isdir(_course) else None
_r["solutions"] = _os.path.exists(_os.path.join(_course, "solutions"))
_r["gradebook"] = _os.path.exists(_os.path.join(_course, "gradebook.db"))
try:
    _socket.create_connection(("127.0.0.1", __PORT__), timeout=3).close()
    _r["port"] = "connected"
except OSError as _e:
    _r["port"] = type(_e).__name__
_r["limits"] = {_n: _resource.getrlimit(getattr(_resource, "RLIMIT_" + _n.upper()))[0]
                for _n in ("data", "nproc", "nofile", "fsize", "cpu")}
_r["tmp_bytes"] = _os.statvfs("/tmp").f_blocks * _os.statvfs("/tmp").f_frsize
_r["cwd_bytes"] = _os.statvfs(".").f_blocks * _os.statvfs(".").f_frsize
import torch as _torch
_r["threads"] = _torch.get_num_threads()
import ipykernel as _ipk
_ip = _json.load(open(_ipk.get_connection_file()))["ip"]
try:
    open(_ip + "-probe", "w").close()
    _r["socket_folder"] = "written"
except OSError as _e:
    _r["socket_folder"] = type(_e).__name__
try:
    _big = _torch.empty(3 << 30, dtype=_torch.uint8)
    _big.fill_(1)
    _r["alloc_3gb"] = "allocated"
    del _big
except (RuntimeError, MemoryError) as _e:
    _r["alloc_3gb"] = type(_e).__name__
try:
    with open("/tmp/fill", "wb") as _f:
        for _ in range(300):
            _f.write(b"x" * (1 << 20))
    _r["fill_tmp"] = "wrote 300 MB"
except OSError as _e:
    _r["fill_tmp"] = _os.strerror(_e.errno)
_os.remove("/tmp/fill") if _os.path.exists("/tmp/fill") else None
for _w in ("/var/tmp/probe", "/probe", _os.path.join(_course, "probe"), _os.path.join(_course, "utils", "probe")):
    try:
        open(_w, "w").close()
        _r.setdefault("wrote", []).append(_w)
    except OSError:
        pass
_time.sleep(max(0.0, __HOLD__ - (_time.time() - _t0)))  # so that the two probes' kernels overlap
_r["window"] = [_t0, _time.time()]
print("PROBE-REPORT " + _json.dumps(_r))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    course = gl.copy_course(tmp_path_factory.mktemp("probe") / "course")
    release = gl.read_notebook(gl.generate_assignment(course, AID))
    source = gl.read_notebook(gl.source_path(course, AID))
    honest = gl.fill_solutions(release, source)
    first = gl.solution_ids(source)[0]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    code = PROBE.replace("__COURSE__", repr(str(course))).replace("__PORT__", str(port))
    code = code.replace("__HOLD__", str(HOLD_SECONDS))
    for student in ("probe-1", "probe-2"):
        folder = gl.submit(course, student, AID, gl.prepend_code(honest, first, code)).parent
        (folder / "my_notes.txt").write_text("a student's own file\n")
    flood = (
        "from IPython.display import display\n"
        '_h = display("start", display_id=True)\n'
        "for _ in range(5):\n"
        '    _h.update("y" * 2_000_000)'
    )
    gl.submit(course, FLOOD, AID, gl.prepend_code(honest, first, flood))
    try:
        proc = gl.grade_batch(course, AID, "--jobs", "2", cell_timeout=120)
    finally:
        listener.close()
    reports = {}
    for student in ("probe-1", "probe-2"):
        nb = gl.read_notebook(course / "autograded" / student / AID / f"{AID}.ipynb")
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        line = next((ln for ln in text.splitlines() if ln.startswith(MARK)), None)
        assert line, (student, proc.stdout[-3000:], text[-3000:])
        reports[student] = json.loads(line[len(MARK) :])
    config = gl.load_sandbox_config(course)
    flooded = (course / "autograded" / FLOOD / AID / f"{AID}.ipynb").read_text()
    return {
        "flooded": flooded,
        "reports": reports,
        "points": gl.grade_points(source),
        "scores": gl.scores(course, AID),
        "config": config,
    }


def test_the_working_folder_holds_the_students_files_and_no_notebook(probe):
    for report in probe["reports"].values():
        assert "my_notes.txt" in report["cwd"], report["cwd"]
        assert not [f for f in report["cwd"] if f.endswith(".ipynb")], report["cwd"]


def test_the_course_root_is_empty_inside(probe):
    for report in probe["reports"].values():
        assert not report["solutions"] and not report["gradebook"], report
        assert "solutions" not in (report["course"] or []) and "gradebook.db" not in (report["course"] or [])


def test_a_port_listening_on_the_hosts_loopback_cannot_be_reached(probe):
    for report in probe["reports"].values():
        assert report["port"] != "connected", report["port"]


def test_each_parallel_kernel_runs_as_a_user_of_its_own(probe):
    (start1, end1), (start2, end2) = (r["window"] for r in probe["reports"].values())
    # the claim is about kernels alive at once: one that ends before the next starts may reuse its id
    assert start1 < end2 and start2 < end1, ("the two probes did not run at the same time", start1, end1, start2, end2)
    uids = [r["uid"] for r in probe["reports"].values()]
    base, slots = probe["config"]["uid_base"], probe["config"]["uid_slots"]
    assert len(set(uids)) == 2 and all(base <= uid < base + slots for uid in uids), uids


def test_the_limits_are_those_of_the_configuration(probe):
    cfg = probe["config"]
    expected = {
        "data": cfg["memory_bytes"],
        "nproc": cfg["max_processes"],
        "nofile": cfg["max_open_files"],
        "fsize": cfg["max_file_bytes"],
        "cpu": cfg["cpu_seconds"],
    }
    for report in probe["reports"].values():
        assert report["limits"] == expected
        assert report["tmp_bytes"] <= cfg["tmp_bytes"] and report["cwd_bytes"] <= cfg["disk_bytes"], report
        assert report["threads"] == cfg["threads"]


def test_memory_and_disk_run_out_inside_the_sandbox_only(probe):
    for report in probe["reports"].values():
        assert report["alloc_3gb"] in ("RuntimeError", "MemoryError"), report["alloc_3gb"]
        assert report["fill_tmp"] == os.strerror(28), report["fill_tmp"]  # ENOSPC: /tmp is full at its size
        assert report.get("wrote") is None, report["wrote"]
        assert report["socket_folder"] != "written", "the kernel's socket folder must be sealed"


def test_the_rest_of_a_probing_submission_is_graded_normally(probe):
    for student in [*probe["reports"], FLOOD]:
        assert probe["scores"][student] == probe["points"]


def test_display_updates_are_capped_like_any_output(probe):
    """10 MB sent through `display_id` updates (which nbclient writes in place, bypassing the
    output hook) do not reach the autograded notebook."""
    assert "y" * 200_000 not in probe["flooded"]
    assert "display update dropped by the autograder" in probe["flooded"]
