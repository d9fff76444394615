"""Wall time of a fresh top-to-bottom run of every lecture and solution notebook.

    python benchmarks/time_notebooks.py [NOTEBOOK ...] [--floor-runs N] [--pytest]

Each notebook runs in a new kernel, from its own folder, the way nbval runs it (nbclient's
``NotebookClient``, kernel ``python3``; the time includes starting and stopping the kernel).
Without NOTEBOOK arguments it times every ``lectures/NN_*.ipynb`` and every
``solutions/*/*.ipynb``; with them, only those (e.g. ``lectures/02_*.ipynb``).

The first row is the floor: a notebook of one cell, ``import torch, torchvision, utils``, run
the same way (a fresh kernel through the same ``NotebookClient`` call, from ``lectures/``).
It is what any notebook of this course costs before its first line of its own; it is run
``--floor-runs`` times (default 2) and the fastest is kept, because the very first kernel of a
session also pays for a cold disk cache.

Columns:

- ``seconds``: wall time of the notebook (or the floor, or the test suite).
- ``x floor``: ``seconds`` divided by the floor's seconds.
- ``budget``: the time it must meet on a 2-core CPU: 60 s for a lecture, 30 s for a solution,
  600 s for the test suite (``--pytest``); ``-`` when none applies (the floor, a notebook
  outside ``lectures/`` and ``solutions/``).
- ``load``: the 1-minute load average when the row finished. Timings taken while something
  else keeps the CPU busy are not comparable.
- a trailing ``OVER`` marks a row over its budget, ``FAILED (rc N)`` a test suite that failed.

``--pytest`` adds a last row: the whole ``python -m pytest -q``, run as a subprocess from the
repository root (its output is not shown, only its exit code when it is not 0).

Exit status: 1 when a row is over its budget or the test suite failed, else 0.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"lectures": 60.0, "solutions": 30.0}
PYTEST_GOAL = 600.0
FLOOR_SOURCE = "import torch, torchvision, utils"
FLOOR_CWD = ROOT / "lectures"


def execute(nb, cwd: Path) -> float:
    """Seconds to run ``nb`` top to bottom in a fresh ``python3`` kernel started in ``cwd``."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def run(path: Path) -> float:
    """Seconds of a fresh top-to-bottom run of the notebook at ``path``, from its own folder."""
    import nbformat

    return execute(nbformat.read(path, as_version=4), path.parent)


def floor(runs: int) -> float:
    """The fastest of ``runs`` fresh kernels that only import torch, torchvision and utils."""
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(FLOOR_SOURCE)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return min(execute(nb, FLOOR_CWD) for _ in range(runs))


def time_pytest(command: list[str] | None = None) -> tuple[float, int]:
    """(seconds, exit code) of the test suite, run from the repository root."""
    command = command or [sys.executable, "-m", "pytest", "-q"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start, result.returncode


def budget_of(path: Path) -> float | None:
    """The budget of a notebook: by its top folder, ``lectures`` or ``solutions``; None otherwise."""
    try:
        top = path.relative_to(ROOT).parts[0]
    except ValueError:  # a notebook outside the repository
        return None
    return BUDGET.get(top)


def label(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def row(name: str, seconds: float, floor_s: float, budget: float | None, note: str = "") -> str:
    """One table line; appends OVER when ``seconds`` exceeds ``budget``."""
    over = budget is not None and seconds > budget
    budget_s = "-" if budget is None else f"{budget:.0f}"
    flags = " ".join(f for f in (note, "OVER" if over else "") if f)
    line = f"{name:48s} {seconds:8.1f} {seconds / floor_s:8.1f} {budget_s:>7s} {os.getloadavg()[0]:5.1f}"
    return f"{line}  {flags}" if flags else line


def default_notebooks() -> list[Path]:
    return sorted(ROOT.glob("lectures/[0-9][0-9]_*.ipynb")) + sorted(ROOT.glob("solutions/*/*.ipynb"))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: all of them)")
    parser.add_argument("--floor-runs", type=int, default=2, help="runs of the floor, the fastest kept (default 2)")
    parser.add_argument("--pytest", action="store_true", help="also time `python -m pytest -q` (600 s goal)")
    args = parser.parse_args(argv)
    if args.floor_runs < 1:
        parser.error(f"--floor-runs must be at least 1, got {args.floor_runs}")
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or default_notebooks()
    print(f"{'notebook':48s} {'seconds':>8s} {'x floor':>8s} {'budget':>7s} {'load':>5s}")
    floor_s = floor(args.floor_runs)
    print(row(f"floor: {FLOOR_SOURCE}", floor_s, floor_s, None), flush=True)
    failed = 0
    for path in paths:
        seconds, budget = run(path), budget_of(path)
        failed += budget is not None and seconds > budget
        print(row(label(path), seconds, floor_s, budget), flush=True)
    if args.pytest:
        seconds, rc = time_pytest()
        failed += seconds > PYTEST_GOAL or rc != 0
        print(row("python -m pytest -q", seconds, floor_s, PYTEST_GOAL, "" if rc == 0 else f"FAILED (rc {rc})"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
