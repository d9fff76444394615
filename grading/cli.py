"""`python -m grading autograde ASSIGNMENT`: grade a whole class robustly and in parallel.

Run from the course root (where nbgrader_config.py is), after `nbgrader generate_assignment`
and after the submissions are in submitted/<student>/<assignment>/ (`nbgrader zip_collect`
or `nbgrader collect`). What it adds to a plain `nbgrader autograde ASSIGNMENT`:

1. It refuses to start, with one line, when student code cannot be sandboxed (bubblewrap
   missing) unless `--allow-unsandboxed` is given.
2. It reads every submitted notebook first. A file nbgrader cannot open (invalid JSON, an
   empty file, not a notebook) is not passed to nbgrader: the instructor gets one line naming
   the student, the file and the reason, the student gets 0 points in the gradebook, and the
   rest of the class is graded.
3. It grades students in `--jobs` worker processes (default: CPUs + 1, `default_jobs()`:
   a worker spends part of each submission waiting for its kernel to start). Each
   worker imports nbgrader once and calls its Autograde converter per student; SQLite writes
   wait up to 60 s for the gradebook lock and a student whose grading still hit
   "database is locked" is graded again, so the gradebook is never half-written.
4. It prints one line per student: score, maximum and seconds, and exits 1 when any
   submission could not be graded (0 otherwise). A submission folder without a file named
   like the released notebook (`a1_convolution.ipynb`) gets one NOT GRADED line that names
   the files it holds, and its grades are left as they were.
5. It reads each submission's own code outside the kernel (grading/review.py) and prints a
   REVIEW line for each line that monkeypatches, touches the test kit, digs into interpreter
   state or leaves the kernel: tests inside the student's kernel cannot resist code written
   against them, a human reading the flagged line can.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

JOBS_DEFAULT = "CPUs + 1"  # the README quotes this text; default_jobs() computes it


def default_jobs() -> int:
    """The default of `--jobs`: the number of CPUs plus one (JOBS_DEFAULT)."""
    return (os.cpu_count() or 1) + 1


# jsonschema imports the optional rfc3987-syntax (a lark grammar, ~2 s) to check "iri"
# string formats; the notebook schema has none, so the worker processes skip that import.
_SKIP_MODULES = ("rfc3987_syntax",)


def _block_slow_optional_imports() -> None:
    for name in _SKIP_MODULES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


def load_config(root: str, overrides: dict | None = None):
    """The course's nbgrader_config.py as a traitlets Config, plus `overrides` {"Section.key": value}."""
    from traitlets.config.loader import Config, PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=root).load_config()
    for dotted, value in (overrides or {}).items():
        section, key = dotted.rsplit(".", 1)
        config.merge(Config({section: {key: value}}))
    return config


def _db_url_with_timeout(url: str) -> str:
    if url.startswith("sqlite:") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + "timeout=60"
    return url


def read_problem(path: str) -> str | None:
    """None when nbformat can read the notebook, else a short reason."""
    import nbformat

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if not raw.strip():
        return "is an empty file"
    try:
        json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return "is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return f"is not valid JSON ({exc.msg}: line {exc.lineno} column {exc.colno})"
    try:
        nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # nbformat raises several types for non-notebooks
        return f"is not a Jupyter notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    if not isinstance(nb.get("cells"), list):
        return "is not a Jupyter notebook (no cells)"
    return None


# -- worker side ------------------------------------------------------------------
_WORKER: dict = {}


def _worker_init(root: str, overrides: dict) -> None:
    import warnings

    _block_slow_optional_imports()
    # nbgrader's gradebook code triggers harmless SQLAlchemy autoflush warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")
    os.chdir(root)
    from nbgrader.coursedir import CourseDirectory

    config = load_config(root, overrides)
    coursedir = CourseDirectory(config=config)
    coursedir.db_url = _db_url_with_timeout(coursedir.db_url)
    _WORKER.update(config=config, coursedir=coursedir)


def _grade_one(assignment_id: str, student_id: str, retries: int = 4) -> dict:
    from nbgrader.converters import Autograde
    from nbgrader.utils import capture_log, temp_attrs

    config, coursedir = _WORKER["config"], _WORKER["coursedir"]
    start = time.monotonic()
    result: dict = {}
    for attempt in range(retries + 1):
        with temp_attrs(coursedir, assignment_id=assignment_id, student_id=student_id):
            app = Autograde(coursedir=coursedir, config=config)
            app.force = True
            app.create_student = True
            result = capture_log(app)
        text = (result.get("log") or "") + (result.get("error") or "")
        if result.get("success") or "database is locked" not in text or attempt == retries:
            break
        time.sleep(0.5 + random.random() * 2)  # another worker holds the gradebook: try again
    return {
        "student": student_id,
        "success": bool(result.get("success")),
        "seconds": time.monotonic() - start,
        "log": result.get("log") or "",
        "error": result.get("error") or "",
    }


# -- instructor side ----------------------------------------------------------------
def _reason(res: dict) -> str:
    """The most telling line of a failed student's log: the innermost exception."""
    lines = (res["log"] + "\n" + res["error"]).splitlines()
    errors = [
        line.strip()
        for line in lines
        if re.match(r"^\s*[\w.]*(Error|Exception|Unavailable|Exit)\b.*:", line) and "NbGraderException" not in line
    ]
    if errors:
        return errors[-1][:300]
    return next((line.strip() for line in reversed(lines) if line.strip()), "no log")[:300]


def _scores(db_url: str, assignment_id: str) -> dict[str, tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        assignment = gb.find_assignment(assignment_id)
        return {s.student.id: (s.score, assignment.max_score) for s in assignment.submissions}


def record_zero(db_url: str, assignment_id: str, student_id: str) -> None:
    """Give every item of the submission 0 automatic points (nothing could be graded)."""
    import warnings

    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb, warnings.catch_warnings():
        # nbgrader's own API triggers harmless SQLAlchemy autoflush warnings here
        warnings.simplefilter("ignore")
        gb.update_or_create_student(student_id)
        submission = gb.update_or_create_submission(assignment_id, student_id)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
        gb.db.commit()


def _review(coursedir, aid: str, sid: str, name: str) -> list[str]:
    """grading.review flags of one submitted notebook (read outside the student's kernel)."""
    import nbformat

    from .review import review_flags

    path = os.path.join(coursedir.format_path(coursedir.submitted_directory, sid, aid), name)
    if not os.path.exists(path):
        return []
    release = nbformat.read(os.path.join(coursedir.format_path(coursedir.release_directory, ".", aid), name), 4)
    return review_flags(nbformat.read(path, 4), release)


def autograde(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading autograde", description=__doc__.split("\n\n")[0])
    parser.add_argument("assignment")
    parser.add_argument("--student", action="append", help="grade only this student (repeatable)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help=f"parallel workers (default: {JOBS_DEFAULT}, here {default_jobs()})",
    )
    parser.add_argument("--timeout", type=int, help="per-cell time limit in seconds (default: nbgrader_config.py)")
    parser.add_argument(
        "--allow-unsandboxed", action="store_true", help="grade even where bubblewrap is missing (trusted code only)"
    )
    parser.add_argument("--verbose", action="store_true", help="print nbgrader's log of every student")
    args = parser.parse_args(argv)

    root = os.getcwd()
    if not os.path.exists(os.path.join(root, "nbgrader_config.py")):
        print("error: run this from the course root (the folder with nbgrader_config.py)", file=sys.stderr)
        return 2
    _block_slow_optional_imports()
    from nbgrader.coursedir import CourseDirectory

    from .execute import check_sandbox_or_explain

    overrides: dict = {}
    if args.timeout:
        overrides["Execute.timeout"] = args.timeout
    if args.allow_unsandboxed:
        overrides["SandboxedExecute.allow_unsandboxed"] = True
    config = load_config(root, overrides)
    sandbox_cfg = config.get("SandboxedExecute", {})
    problem = check_sandbox_or_explain() if sandbox_cfg.get("sandbox", True) else None
    if problem and not sandbox_cfg.get("allow_unsandboxed", False):
        print(f"error: {problem}. Or pass --allow-unsandboxed to grade trusted code without isolation.")
        return 2
    if problem:
        print(f"warning: grading WITHOUT a sandbox: {problem}")

    coursedir = CourseDirectory(config=config)
    db_url = _db_url_with_timeout(coursedir.db_url)
    aid = args.assignment
    release = coursedir.format_path(coursedir.release_directory, ".", aid)
    notebooks = sorted(os.path.basename(p) for p in glob.glob(os.path.join(release, "*.ipynb")))
    if not notebooks:
        print(f"error: no released notebook in {os.path.relpath(release)}; run `nbgrader generate_assignment {aid}`")
        return 2
    pattern = coursedir.format_path(coursedir.submitted_directory, "*", aid)
    students = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(pattern) if os.path.isdir(p))
    if args.student:
        missing = sorted(set(args.student) - set(students))
        for sid in missing:
            folder = os.path.relpath(coursedir.format_path(coursedir.submitted_directory, sid, aid))
            print(f"NOT GRADED  {sid}: no folder {folder}")
        students = [s for s in students if s in set(args.student)]
    if not students:
        print(f"nothing to grade: no submissions in {os.path.relpath(os.path.dirname(os.path.dirname(pattern)))}")
        return 1 if args.student else 0

    readable, unreadable, misnamed = [], {}, {}
    for sid in students:
        folder = coursedir.format_path(coursedir.submitted_directory, sid, aid)
        if not any(os.path.exists(os.path.join(folder, name)) for name in notebooks):
            found = sorted(os.path.basename(p) for p in glob.glob(os.path.join(folder, "*.ipynb")))
            misnamed[sid] = f"no {', '.join(notebooks)} in {os.path.relpath(folder)}" + (
                f" (it holds {', '.join(found)}): the file must be named {notebooks[0]}" if found else ""
            )
            continue
        reasons = []
        for name in notebooks:
            path = os.path.join(folder, name)
            if os.path.exists(path):
                why = read_problem(path)
                if why:
                    reasons.append(f"{name} {why}")
        if reasons:
            unreadable[sid] = "; ".join(reasons)
        else:
            readable.append(sid)

    from nbgrader.api import Gradebook, MissingEntry

    try:
        with Gradebook(db_url) as gb:
            gb.find_assignment(aid)
    except MissingEntry:
        print(f"error: {aid} is not in the gradebook; run `nbgrader generate_assignment {aid}` first")
        return 2

    for sid, why in unreadable.items():
        record_zero(db_url, aid, sid)
        stale = coursedir.format_path(coursedir.autograded_directory, sid, aid)
        if os.path.isdir(stale):
            import shutil

            shutil.rmtree(stale)
        print(f"NOT GRADED  {sid}: {why} -> 0 points recorded; fix the file, then re-grade with --student {sid}")

    for sid, why in misnamed.items():
        print(f"NOT GRADED  {sid}: {why}; the gradebook is unchanged")

    t0 = time.monotonic()
    results = []
    jobs = max(1, min(args.jobs, len(readable)))
    if readable:
        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(root, overrides)
        ) as pool:
            futures = [pool.submit(_grade_one, aid, sid) for sid in readable]
            for fut in futures:
                res = fut.result()
                results.append(res)
                if args.verbose:
                    print(res["log"])
    wall = time.monotonic() - t0

    scores = _scores(db_url, aid)
    failed = 0
    for res in results:
        sid = res["student"]
        score, max_score = scores.get(sid, (None, None))
        if res["success"]:
            print(f"graded      {sid}: {score:g} / {max_score:g}  ({res['seconds']:.1f} s)")
        else:
            failed += 1
            print(f"NOT GRADED  {sid}: nbgrader failed ({_reason(res)}); see --verbose")
    for sid in readable:
        for name in notebooks:
            for flag in _review(coursedir, aid, sid, name):
                print(f"REVIEW      {sid}: {name} {flag}")
    n = len(results)
    if n:
        print(f"{n} submission(s) graded in {wall:.1f} s with {jobs} worker(s): {wall / n:.2f} s per submission")
    return 1 if (failed or unreadable or misnamed) else 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["autograde"]:
        return autograde(argv[1:])
    if argv[:1] == ["check"]:
        from .execute import check_sandbox_or_explain

        problem = check_sandbox_or_explain()
        print("sandbox: OK (bubblewrap)" if problem is None else f"sandbox: UNAVAILABLE: {problem}")
        return 0 if problem is None else 1
    print(
        "usage: python -m grading autograde ASSIGNMENT [--student ID] [--jobs N] [--timeout S]\n"
        "       python -m grading check"
    )
    return 2
