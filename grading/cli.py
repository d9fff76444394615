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
   worker imports nbgrader once and calls its Autograde converter per student. The gradebook
   is switched to SQLite's write-ahead log, writes wait up to 60 s for the lock, and a student
   whose grading still raised SQLite's "database is locked" (the exception, caught where
   nbgrader raises it) is graded again, so the gradebook is never half-written. A worker
   process that dies costs only the student it was grading (`grade_all`): the others are
   graded again in a fresh pool, and the one whose grading kills a worker gets a NOT GRADED line.
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
from concurrent.futures.process import BrokenProcessPool
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
    # the tests run in this process (grading/bridge.py): one thread each, as the kernels have, so
    # that `--jobs` workers computing references do not oversubscribe the cores
    import torch

    torch.set_num_threads(1)
    from nbgrader.coursedir import CourseDirectory

    config = load_config(root, overrides)
    coursedir = CourseDirectory(config=config)
    coursedir.db_url = _db_url_with_timeout(coursedir.db_url)
    _WORKER.update(config=config, coursedir=coursedir)


def _is_locked(exc: BaseException) -> bool:
    """The gradebook was locked by another writer: SQLite's OperationalError "database is locked"."""
    from sqlalchemy.exc import OperationalError

    while exc is not None:
        if isinstance(exc, OperationalError) and "database is locked" in str(getattr(exc, "orig", exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _autograde_class():
    """nbgrader's Autograde, remembering whether a step failed because the gradebook was locked
    (the exception itself, seen where it is raised: nbgrader logs it and raises another)."""
    from nbgrader.converters import Autograde

    class RecordingAutograde(Autograde):
        gradebook_locked = False

        def init_assignment(self, *args, **kwargs):
            try:
                return super().init_assignment(*args, **kwargs)
            except Exception as exc:
                self.gradebook_locked |= _is_locked(exc)
                raise

        def convert_single_notebook(self, *args, **kwargs):
            try:
                return super().convert_single_notebook(*args, **kwargs)
            except Exception as exc:
                self.gradebook_locked |= _is_locked(exc)
                raise

    return RecordingAutograde


def _grade_one(assignment_id: str, student_id: str, retries: int = 4) -> dict:
    from nbgrader.utils import capture_log, temp_attrs

    config, coursedir = _WORKER["config"], _WORKER["coursedir"]
    autograde_class = _autograde_class()
    start = time.monotonic()
    result: dict = {}
    for attempt in range(retries + 1):
        with temp_attrs(coursedir, assignment_id=assignment_id, student_id=student_id):
            app = autograde_class(coursedir=coursedir, config=config)
            app.force = True
            app.create_student = True
            result = capture_log(app)
        if result.get("success") or not app.gradebook_locked or attempt == retries:
            break
        time.sleep(0.5 + random.random() * 2)  # another worker held the gradebook too long: try again
    return {
        "student": student_id,
        "success": bool(result.get("success")),
        "seconds": time.monotonic() - start,
        "log": result.get("log") or "",
        "error": result.get("error") or "",
    }


def use_wal(db_url: str) -> None:
    """Switch an SQLite gradebook to write-ahead logging (it persists in the file): readers never
    block the one writer, and parallel workers wait for each other (the 60 s busy timeout)."""
    if not db_url.startswith("sqlite:///"):
        return
    import sqlite3

    path = db_url.removeprefix("sqlite:///").split("?", 1)[0]
    if os.path.exists(path):
        with sqlite3.connect(path, timeout=60) as con:
            con.execute("PRAGMA journal_mode=WAL")


def grade_all(students: list[str], aid: str, jobs: int, root: str, overrides: dict, verbose: bool = False):
    """{student: result of _grade_one} for every student, whatever happens to a worker process.

    A worker that dies (killed for memory, a crash in nbgrader or the kernel client) breaks the
    pool and every student it had not finished. Those are graded again in a fresh pool; whoever is
    still unfinished then is graded alone, one pool each, so the one whose grading kills its
    worker is named and the batch goes on."""
    results: dict = {}

    def run_pool(batch: list[str], workers: int) -> list[str]:
        unfinished = []
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(root, overrides)
        ) as pool:
            futures = {sid: pool.submit(_grade_one, aid, sid) for sid in batch}
            for sid, fut in futures.items():
                try:
                    results[sid] = fut.result()
                    if verbose:
                        print(results[sid]["log"])
                except BrokenProcessPool:
                    unfinished.append(sid)
                except Exception as exc:  # noqa: BLE001 - one student's failure, recorded
                    results[sid] = _failure(sid, f"the grader failed: {type(exc).__name__}: {exc}")
        return unfinished

    pending = run_pool(students, max(1, min(jobs, len(students)))) if students else []
    if pending:
        pending = run_pool(pending, max(1, min(jobs, len(pending))))
    for sid in pending:
        if run_pool([sid], 1):
            results[sid] = _failure(sid, "the grading process died (killed for memory, or crashed)")
    return [results[sid] for sid in students]


def _failure(sid: str, why: str) -> dict:
    return {"student": sid, "success": False, "seconds": 0.0, "log": "", "error": f"GraderError: {why}"}


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
    """grading.review flags of the code that ran for one student (read outside the student's kernel):
    the autograded notebook, or the submission when autograde left none."""
    import nbformat

    from .review import review_flags

    ran = os.path.join(coursedir.format_path(coursedir.autograded_directory, sid, aid), name)
    submitted = os.path.join(coursedir.format_path(coursedir.submitted_directory, sid, aid), name)
    path = ran if os.path.exists(ran) else submitted
    if not os.path.exists(path):
        return []
    source = nbformat.read(os.path.join(coursedir.format_path(coursedir.source_directory, ".", aid), name), 4)
    return review_flags(nbformat.read(path, 4), source)


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
    use_wal(db_url)
    results = grade_all(readable, aid, args.jobs, root, overrides, args.verbose)
    jobs = max(1, min(args.jobs, len(readable)))
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
        from .sandbox import limit_problems

        problem = check_sandbox_or_explain()
        print("sandbox: OK (bubblewrap)" if problem is None else f"sandbox: UNAVAILABLE: {problem}")
        for line in limit_problems() if problem is None else []:
            print(f"sandbox: WEAKER HERE: {line}")
        return 0 if problem is None else 1
    print(
        "usage: python -m grading autograde ASSIGNMENT [--student ID] [--jobs N] [--timeout S]\n"
        "       python -m grading check"
    )
    return 2
