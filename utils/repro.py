"""Reproducibility: one call seeds everything a notebook uses.

Introduced in: 01_history.ipynb (seed_everything, get_device, make_generator, cpu_threads)
"""

from __future__ import annotations

import os
import random

THREADS_ENV_VAR = "CNN_COURSE_THREADS"
WORKERS_ENV_VAR = "PYTEST_XDIST_WORKER_COUNT"  # set by pytest-xdist in its workers, inherited by nbval's kernels


def cpu_threads() -> int:
    """The CPU threads one notebook should use: the cores this process may run on, shared out
    among the notebooks that run at the same time.

    On a laptop that is every core. Under ``pytest -n N`` (pytest-xdist, whose workers set
    ``PYTEST_XDIST_WORKER_COUNT``, which nbval's kernels inherit), N notebooks run at once, so
    each gets ``cores // N`` threads (at least 1): more threads than cores make PyTorch's
    threads wait for each other and run slower than one thread each.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = os.environ.get(WORKERS_ENV_VAR, "").strip()
    share = int(workers) if workers.isdigit() and int(workers) > 0 else 1
    return max(1, cores // share)


def seed_everything(seed: int = 0, *, deterministic: bool = True, threads: int | None = None) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and set PyTorch's determinism switch.

    Args:
        seed (int): the seed for every generator. Default: 0.
        deterministic (bool): ask PyTorch for deterministic algorithms (warn-only, so an
            operation without a deterministic version still runs) when True; switch that
            request off again (an earlier call may have made it) when False. Default: True.
        threads (int, optional): the number of CPU threads PyTorch uses. The environment
            variable ``CNN_COURSE_THREADS`` (a positive int), when set, wins over this
            argument: the tests run every notebook again with another thread count to prove
            that its stored outputs do not depend on it.

    Seeds make a run repeatable on one machine only: results of training and of long float
    reductions still change with the CPU's vector instructions and the thread count.
    """
    import numpy as np
    import torch

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if not isinstance(deterministic, bool):
        raise ValueError(f"deterministic must be True or False, got {deterministic!r}")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError(f"threads must be a positive int, got {threads!r}")
    env = os.environ.get(THREADS_ENV_VAR, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"{THREADS_ENV_VAR} must be a positive int, got {env!r}")
        threads = int(env)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    elif torch.are_deterministic_algorithms_enabled():
        torch.use_deterministic_algorithms(False)
    if threads is not None:
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

    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    g = torch.Generator()
    g.manual_seed(seed)
    return g
