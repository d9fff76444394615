"""utils.data on the real files: counts, shapes, dtypes, classes; and its errors."""

import pytest
import torch

from utils import data


@pytest.fixture(scope="module")
def mnist_train():
    return data.load_mnist(train=True)


def test_data_root_follows_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    assert data.data_root() == tmp_path


def test_data_root_defaults_to_the_repo_data_folder(monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    assert data.data_root() == data.REPO_ROOT / "data"


def test_mnist_has_60000_train_and_10000_test_images(mnist_train):
    assert len(mnist_train) == 60_000
    assert len(data.load_mnist(train=False)) == 10_000


@pytest.mark.parametrize("loader", [data.load_mnist, data.load_fashion_mnist])
def test_tensors_are_28x28_float_with_ten_int64_classes(loader):
    x, y = data.as_tensors(loader(train=False))
    assert x.shape == (10_000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10_000,) and y.dtype == torch.int64
    assert sorted(y.unique().tolist()) == list(range(10))


@pytest.mark.parametrize(("loader", "name"), [(data.load_mnist, "MNIST"), (data.load_fashion_mnist, "FashionMNIST")])
def test_normalization_constants_are_the_training_sets_own(loader, name):
    x, _ = data.as_tensors(loader(train=True), normalize=False)
    mean, std = data.NORMALIZATION[name]
    assert abs(x.mean().item() - mean) < 5e-4 and abs(x.std().item() - std) < 5e-4
    z, _ = data.as_tensors(loader(train=True))
    assert abs(z.mean().item()) < 2e-3 and abs(z.std().item() - 1) < 2e-3


def test_as_tensors_does_not_change_the_data_set(mnist_train):
    before = mnist_train.data[:5].clone()
    x, y = data.as_tensors(mnist_train)
    y[0] = 99
    assert torch.equal(mnist_train.data[:5], before) and mnist_train.targets[0] != 99


def test_missing_data_offline_names_the_folder_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        data.load_mnist(train=False, download=False)
    msg = str(err.value)
    assert str(tmp_path) in msg and data.ENV_VAR in msg and "MNIST/raw" in msg


def test_download_failure_is_reported_not_hidden(monkeypatch, tmp_path):
    import torchvision

    def offline(self, *a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    monkeypatch.setattr(torchvision.datasets.MNIST, "download", offline)
    with pytest.raises(FileNotFoundError, match="network is unreachable"):
        data.load_mnist(train=False)


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="train"):
        data.load_mnist(train="yes")
    with pytest.raises(ValueError, match="MNIST-like"):
        data.as_tensors([1, 2, 3])


def test_as_tensors_refuses_to_normalize_an_unknown_data_set():
    class Digits:  # MNIST-like, but with no known training statistics
        data = torch.zeros(2, 28, 28, dtype=torch.uint8)
        targets = torch.tensor([0, 1])

    with pytest.raises(ValueError, match="normalize=False"):
        data.as_tensors(Digits())
    x, y = data.as_tensors(Digits(), normalize=False)
    assert x.shape == (2, 1, 28, 28) and y.tolist() == [0, 1]
    with pytest.raises(ValueError, match="normalize"):
        data.as_tensors(Digits(), normalize="yes")


def test_load_mnist_rejects_a_download_that_is_not_a_bool(monkeypatch, tmp_path):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    with pytest.raises(ValueError, match="download"):
        data.load_mnist(train=False, download="no")
