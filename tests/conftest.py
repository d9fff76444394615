"""Shared pytest settings.

- matplotlib draws off-screen in this process (``matplotlib.use("Agg")``), while the notebook
  kernels that nbval starts must keep Jupyter's inline backend: a ``MPLBACKEND`` inherited
  from the shell would make them draw nothing, and every figure cell would differ from its
  stored output. So it is removed from the environment the kernels inherit.
- a hypothesis profile sized for a 2-core CI machine.

How pytest-xdist shares the tests out among its workers is set in the repository's top-level
conftest.py (it must also apply when only notebooks are collected).
"""

import os

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")
os.environ.pop("MPLBACKEND", None)

settings.register_profile("course", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")

pytest.register_assert_rewrite("gradingsuite")  # its asserts explain themselves, as in a test module
