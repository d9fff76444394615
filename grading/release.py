"""Releases that a student's JupyterLab saves without a change.

nbgrader's Validate button in JupyterLab saves the notebook before it validates it. On save,
JupyterLab writes the kernelspec of the kernel it runs, ``{"display_name": "Python 3
(ipykernel)", "language": "python", "name": "python3"}`` for the kernel that ``pip install
ipykernel`` installs. A release whose kernelspec says ``"Python 3"`` (what older tools and
hand-made notebooks write) is therefore rewritten the first time a student validates it, and
the student's checkout shows a diff in a file they did not touch.

`StudentKernelspec` runs first in ``nbgrader generate_assignment`` (see nbgrader_config.py): it
gives the release, and the gradebook's copy of the source's kernelspec (nbgrader's ``SaveCells``
stores it; ``OverwriteKernelspec`` puts it back into submissions), the kernelspec of ipykernel's
own ``python3`` kernel, the one ``pip install -r requirements.txt`` installs. It is taken from
ipykernel (``ipykernel.kernelspec``), not from the kernels installed on the instructor's machine,
so a custom kernel there changes nothing. The source notebook in ``solutions/`` is not changed.

``language_info`` is left as the source has it: JupyterLab writes the running Python's version
there too, so a student on another Python patch version still sees that one line change.
"""

from __future__ import annotations

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode


def ipykernel_kernelspec(name: str = "") -> dict[str, str]:
    """The kernelspec JupyterLab writes into a notebook that runs ipykernel's default kernel.

    Returns:
        dict with ``display_name`` (e.g. ``"Python 3 (ipykernel)"``), ``language`` (``"python"``)
        and ``name`` (``"python3"``, or ``name`` when given).
    """
    from ipykernel.kernelspec import KERNEL_NAME, get_kernel_dict

    spec = get_kernel_dict()
    return {"display_name": spec["display_name"], "language": spec["language"], "name": name or KERNEL_NAME}


class StudentKernelspec(NbGraderPreprocessor):
    """Set the notebook's kernelspec to the one JupyterLab writes for ipykernel's kernel."""

    kernel_name = Unicode("", help="Kernel name to write (default: ipykernel's, 'python3').").tag(config=True)
    display_name = Unicode("", help="Display name to write (default: ipykernel's, 'Python 3 (ipykernel)').").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        spec = ipykernel_kernelspec(self.kernel_name)
        if self.display_name:
            spec["display_name"] = self.display_name
        nb.metadata["kernelspec"] = spec
        return nb, resources
