"""Re-run notebooks top to bottom in a fresh kernel and store their outputs in place.

    python tools/store_outputs.py lectures/01_history.ipynb [NOTEBOOK ...]

This is how every committed output is made: one kernel per notebook, started in the
notebook's own folder (as nbval and JupyterLab run it), the course's pinned environment,
no nbconvert timestamps in the cell metadata (a re-run would change the file for
nothing). A cell that raises stops the run and leaves the file as it was.

Set ``CNN_COURSE_DATA`` first when the data lives outside ``<repo>/data``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path


def store(path: Path, timeout: int = 600) -> float:
    """Execute ``path`` in a fresh ``python3`` kernel and write it back; returns the seconds taken."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    os.environ.pop("MPLBACKEND", None)  # an inherited Agg backend would drop every figure
    for arg in argv:
        path = Path(arg).resolve()
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"not a notebook: {arg}", file=sys.stderr)
            return 2
        print(f"{arg}: {store(path):.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
