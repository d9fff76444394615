"""Reproducibility: one call seeds everything a notebook uses.

Introduced in: 02_convolution.ipynb
"""

from __future__ import annotations

import os
import random


def seed_everything(seed: int = 0, *, deterministic: bool = True, threads: int | None = None) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and make PyTorch deterministic.

    Args:
        seed (int): the seed for every generator. Default: 0.
        deterministic (bool): ask PyTorch for deterministic algorithms (warn-only, so an
            operation without a deterministic version still runs). Default: True.
        threads (int, optional): if given, the number of CPU threads PyTorch uses.
    """
    import numpy as np
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    if threads is not None:
        if not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        torch.set_num_threads(threads)


def get_device(prefer_cuda: bool = True):
    """Return ``torch.device('cuda')`` when a GPU exists (and ``prefer_cuda``), else CPU."""
    import torch

    if prefer_cuda and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def make_generator(seed: int = 0):
    """A private ``torch.Generator`` seeded with ``seed``: randomness that no other cell shifts."""
    import torch

    g = torch.Generator()
    g.manual_seed(seed)
    return g
