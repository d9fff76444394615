"""How fast does the course autograde a class? Seconds per submission against the floor.

    python benchmarks/bench_autograde.py [--students 40] [--jobs 2] [--assignment a1_convolution]

On a temporary copy of the course it generates N submissions of the assignment (half correct,
a quarter wrong, an eighth raising, an eighth killing the kernel) and N submissions of a "floor" assignment
whose only code is `import torch`, grades each batch with `python -m grading autograde`
(sandboxed, `--jobs` worker processes) and prints a table: seconds per submission, the ratio
to the floor, and the projected time for a class of 200. The floor is what any notebook of
this course costs: a fresh sandboxed kernel, PyTorch's import, nbgrader's bookkeeping.

Goal (the course's issue): the assignment within 1.5x the floor per submission, and a class of
200 within 10 minutes on a 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
import gradinglib as gl  # noqa: E402

CLASS = 200
GOAL_RATIO, GOAL_CLASS_S = 1.5, 600.0


def floor_source():
    cell = new_code_cell("import torch")
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "import_torch",
        "locked": True,
        "points": 1,
        "solution": False,
        "schema_version": 3,
    }
    nb = new_notebook(cells=[cell])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def assignment_submissions(course: Path, aid: str, n: int) -> dict[str, object]:
    """Correct, wrong (the last item returns None), raising (an item raises) and kernel-killing answers."""
    release = gl.read_notebook(gl.release_path(course, aid))
    source = gl.read_notebook(gl.source_path(course, aid))
    honest = gl.fill_solutions(release, source)
    items = gl.solution_ids(source)
    kinds = {
        "correct": honest,
        "wrong": gl.replace_solution(honest, items[-1], "return None"),
        "raises": gl.replace_solution(honest, items[len(items) // 2], 'raise RuntimeError("bug")'),
        "kernel-dies": gl.set_cell_source(
            honest,
            items[len(items) // 2],
            "import os\nos._exit(1)\n" + gl.find_cell(honest, items[len(items) // 2]).source,
        ),
    }
    # half correct, a quarter wrong, a quarter crashing (raising or killing the kernel)
    cycle = ["correct", "wrong", "correct", "raises", "correct", "wrong", "correct", "kernel-dies"]
    return {f"s{i:03d}-{cycle[i % 8]}": kinds[cycle[i % 8]] for i in range(n)}


def grade(course: Path, aid: str, jobs: int) -> tuple[float, str]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "grading", "autograde", aid, "--jobs", str(jobs)],
        cwd=course,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"grading {aid} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=40, help="submissions per batch (default 40)")
    parser.add_argument("--jobs", type=int, default=(os.cpu_count() or 1) + 1, help="workers (default: CPUs + 1)")
    parser.add_argument("--assignment", default="a1_convolution")
    parser.add_argument("--keep", action="store_true", help="keep the temporary course (prints its path)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-autograde-"))
    course = gl.copy_course(tmp / "course")
    try:
        gl.write_notebook(floor_source(), gl.source_path(course, "floor"))
        for aid in ("floor", args.assignment):
            gl.generate_assignment(course, aid)
        floor_release = gl.read_notebook(gl.release_path(course, "floor"))
        for i in range(args.students):
            gl.submit(course, f"s{i:03d}", "floor", floor_release)
        for student, nb in assignment_submissions(course, args.assignment, args.students).items():
            gl.submit(course, student, args.assignment, nb)

        rows = []
        for aid in ("floor", args.assignment):
            wall, out = grade(course, aid, args.jobs)
            graded = len(re.findall(r"^graded ", out, re.M))
            rows.append((aid, graded, wall, wall / graded))
        load = os.getloadavg()
        floor_per = rows[0][3]
        print(
            f"autograde benchmark: {args.students} submissions per batch, {args.jobs} worker(s), "
            f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print(f"{'notebook':<18}{'graded':>7}{'wall s':>9}{'s/submission':>14}{'x floor':>9}{'class of 200':>15}")
        for aid, graded, wall, per in rows:
            name = "floor (import torch)" if aid == "floor" else aid
            print(f"{name:<18}{graded:>7}{wall:>9.1f}{per:>14.2f}{per / floor_per:>9.2f}{per * CLASS / 60:>12.1f} min")
        ratio, class_s = rows[1][3] / floor_per, rows[1][3] * CLASS
        print(
            f"goal: <= {GOAL_RATIO}x the floor: {'met' if ratio <= GOAL_RATIO else 'NOT met'} ({ratio:.2f}x); "
            f"class of {CLASS} <= {GOAL_CLASS_S / 60:.0f} min: {'met' if class_s <= GOAL_CLASS_S else 'NOT met'} "
            f"({class_s / 60:.1f} min)"
        )
    finally:
        if args.keep:
            print(f"course kept in {course}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
