"""Helpers shared by the course notebooks: one concern per module.

- ``utils.data``     where the data lives and how to load it
- ``utils.measure``  numbers measured on real PyTorch modules (shapes, parameters, receptive
  fields, FLOPs, memory)
- ``utils.viz``      figures (every function returns the figure)
- ``utils.train``    a small ``fit`` / ``evaluate`` loop with tqdm progress
- ``utils.repro``    seeding, determinism, device
- ``utils.testkit``  the assignments' test kit ``_T`` (checks, seeded inputs, "from scratch")
- ``utils.checks``   the friendly messages of the kit's checks
- ``utils.explore``  interactive explorers (ipywidgets) and the convolution animation of
  lectures 02, 03 and 07

Importing ``utils`` is cheap and has no side effects: import the module you need,
e.g. ``from utils.measure import param_count``.
"""

__all__ = ["checks", "data", "explore", "measure", "repro", "train", "viz"]
