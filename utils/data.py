"""Where the course's data lives, and loaders that read it.

The data root is found in this order:

1. the environment variable ``CNN_COURSE_DATA`` (CI points it at a shared read-only copy);
2. ``<repo>/data`` (a git-ignored folder next to ``lectures/``).

Loaders use ``torchvision.datasets`` unchanged. They download only when the files are
missing; offline and missing, they raise one ``FileNotFoundError`` that names the folder
searched and how to fill it. There is never a silent fallback to fake data.

Introduced in: 02_convolution.ipynb
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "CNN_COURSE_DATA"
REPO_ROOT = Path(__file__).resolve().parent.parent

_TORCHVISION_SETS = {"MNIST": "MNIST", "FashionMNIST": "FashionMNIST"}


def data_root() -> Path:
    """The folder that holds (or will hold) the data sets: ``$CNN_COURSE_DATA``, else ``<repo>/data``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return REPO_ROOT / "data"


def _missing_error(name: str, root: Path, cause: BaseException | None) -> FileNotFoundError:
    return FileNotFoundError(
        f"{name} was not found in {root / name / 'raw'} and could not be downloaded"
        + (f" ({type(cause).__name__}: {cause})" if cause else "")
        + f".\nFix: connect to the internet and run again (torchvision downloads it into {root}), "
        f"or copy the {name}/raw/ folder of the idx files there, or set {ENV_VAR} to a folder "
        f"that contains {name}/raw/."
    )


def _torchvision_set(name: str, train: bool, download: bool | None):
    import torchvision

    if not isinstance(train, bool):
        raise ValueError(f"train must be True or False, got {train!r}")
    cls = getattr(torchvision.datasets, _TORCHVISION_SETS[name])
    root = data_root()
    try:
        return cls(root=str(root), train=train, download=False)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True..."
        if download is False:
            raise _missing_error(name, root, None) from exc
    try:
        return cls(root=str(root), train=train, download=True)
    except Exception as exc:  # noqa: BLE001 - offline: URLError, OSError, RuntimeError...
        raise _missing_error(name, root, exc) from exc


def load_mnist(train: bool = True, download: bool | None = None):
    """The MNIST handwritten digits as a ``torchvision.datasets.MNIST`` (PIL images, int labels).

    Args:
        train (bool): the 60,000 training images (True) or the 10,000 test images (False).
        download (bool, optional): ``False`` never downloads; ``None`` (default) downloads
            only when the files are missing.
    """
    return _torchvision_set("MNIST", train, download)


def load_fashion_mnist(train: bool = True, download: bool | None = None):
    """Zalando's Fashion-MNIST as a ``torchvision.datasets.FashionMNIST``; see ``load_mnist``."""
    return _torchvision_set("FashionMNIST", train, download)


def as_tensors(dataset, normalize: bool = True):
    """All images and labels of an MNIST-like data set as two in-memory tensors.

    Whole-tensor batches are several times faster on a CPU than a ``DataLoader`` over PIL images.

    Args:
        dataset: a ``torchvision.datasets.MNIST`` or ``FashionMNIST``.
        normalize (bool): scale to [0, 1] and then standardize with the data set's own
            training mean and std (True, default), or only scale to [0, 1] (False).

    Returns:
        x (Tensor): ``(N, 1, 28, 28)`` float32.
        y (Tensor): ``(N,)`` int64 labels.
    """
    import torch

    data = getattr(dataset, "data", None)
    targets = getattr(dataset, "targets", None)
    if not isinstance(data, torch.Tensor) or data.dim() != 3:
        raise ValueError(f"expected an MNIST-like data set with a .data tensor (N, H, W), got {type(dataset).__name__}")
    x = data.unsqueeze(1).float().div(255.0)  # (N, 1, H, W)
    if normalize:
        mean, std = NORMALIZATION[type(dataset).__name__]
        x = (x - mean) / std
    return x, torch.as_tensor(targets, dtype=torch.long).clone()


#: (mean, std) of the training images scaled to [0, 1], measured on the real files
#: (``tests/test_data.py`` recomputes them).
NORMALIZATION = {"MNIST": (0.1307, 0.3081), "FashionMNIST": (0.2860, 0.3530)}
