"""Import time of ``utils`` and of each ``utils.<module>``, and what each import pulls in.

    python benchmarks/bench_imports.py [--repeats N]

Each import runs in a fresh interpreter (``python -c``, from the repository root, the same
Python as this script), timed inside it with ``time.perf_counter`` around the import alone,
so the interpreter's own start-up is not counted; the table gives the best of ``--repeats``
(default 5) interpreters. The modules are ``utils`` and every ``utils/<module>.py``.

Columns:

- ``module``: what ``import`` is given. Importing ``utils.<module>`` imports the package
  ``utils`` first, so its seconds include the package's.
- ``seconds``: the best import time.
- ``torch?``, ``torchvision?``, ``matplotlib?``: whether that package is in ``sys.modules``
  after the import (``yes``/``no``), i.e. whether the import pulled it in.

The course's goal: ``import utils`` is cheap, it imports neither torchvision nor matplotlib
(each module imports what it needs). The last line says whether that is met; a module that
fails to import is shown as ``ERROR`` with the last line of its traceback. The exit status is
0 always: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "utils"
HEAVY = ("torch", "torchvision", "matplotlib")
PROBE = """
import json, sys, time
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "loaded": {{m: m in sys.modules for m in {heavy!r}}}}}))
"""


def modules() -> list[str]:
    """``utils`` and its modules, ``utils.<name>`` for every ``utils/<name>.py``, sorted."""
    names = sorted(p.stem for p in (ROOT / PACKAGE).glob("*.py") if p.stem != "__init__")
    return [PACKAGE] + [f"{PACKAGE}.{name}" for name in names]


def probe(module: str) -> dict:
    """Import ``module`` in a fresh interpreter: its import seconds and which heavy packages it loaded."""
    code = PROBE.format(module=module, heavy=HEAVY)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines() or [f"exit code {result.returncode}"]
        raise RuntimeError(lines[-1])
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(module: str, repeats: int) -> dict:
    """The fastest of ``repeats`` probes (what is loaded does not change from one to the next)."""
    runs = [probe(module) for _ in range(repeats)]
    return min(runs, key=lambda r: r["seconds"])


def yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh interpreters per module, best kept (default 5)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")

    print(f"{'module':18s} {'seconds':>8s} {'torch?':>7s} {'torchvision?':>13s} {'matplotlib?':>12s}")
    package = None
    for module in modules():
        try:
            result = measure(module, args.repeats)
        except RuntimeError as error:
            print(f"{module:18s} {'ERROR':>8s}  {error}")
            continue
        loaded = result["loaded"]
        print(
            f"{module:18s} {result['seconds']:8.4f} {yes_no(loaded['torch']):>7s} "
            f"{yes_no(loaded['torchvision']):>13s} {yes_no(loaded['matplotlib']):>12s}",
            flush=True,
        )
        if module == PACKAGE:
            package = loaded
    if package is None:
        verdict = "NOT met (import utils failed)"
    elif package["torchvision"] or package["matplotlib"]:
        pulled = " and ".join(m for m in ("torchvision", "matplotlib") if package[m])
        verdict = f"NOT met (it imports {pulled})"
    else:
        verdict = "met"
    print(f"goal: `import utils` imports neither torchvision nor matplotlib: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
