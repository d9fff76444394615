"""Wall time of a fresh top-to-bottom run of every lecture and solution notebook.

    python benchmarks/time_notebooks.py [NOTEBOOK ...]

Each notebook runs in a new kernel, from its own folder, the way nbval runs it. The table
gives seconds per notebook, the budget it must meet (60 s for a lecture, 30 s for a
solution, on a 2-core CPU) and the machine load when it ran: timings taken while
something else keeps the CPU busy are not comparable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET = {"lectures": 60.0, "solutions": 30.0}


def run(path: Path) -> float:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or sorted(ROOT.glob("lectures/[0-9][0-9]_*.ipynb")) + sorted(
        ROOT.glob("solutions/*/*.ipynb")
    )
    print(f"{'notebook':48s} {'seconds':>8s} {'budget':>7s} {'load':>5s}")
    over = 0
    for path in paths:
        seconds = run(path)
        budget = BUDGET.get(path.relative_to(ROOT).parts[0], float("inf"))
        over += seconds > budget
        flag = "" if seconds <= budget else "  OVER"
        print(f"{path.relative_to(ROOT).as_posix():48s} {seconds:8.1f} {budget:7.0f} {os.getloadavg()[0]:5.1f}{flag}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
