"""utils.repro, utils.train and utils.viz: determinism, a tiny training run, figures."""

import matplotlib
import pytest
import torch
import torch.nn as nn

from utils import repro, train, viz

matplotlib.use("Agg")


def test_seed_everything_makes_torch_repeatable():
    repro.seed_everything(3)
    a = torch.randn(5)
    repro.seed_everything(3)
    assert torch.equal(a, torch.randn(5))


@pytest.mark.parametrize("bad", [-1, 1.5, "0", True])
def test_seed_everything_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        repro.seed_everything(bad)


def test_get_device_is_cpu_without_cuda():
    dev = repro.get_device()
    assert dev.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert repro.get_device(prefer_cuda=False).type == "cpu"


def test_batches_cover_every_sample_once():
    x, y = torch.arange(10).float()[:, None], torch.arange(10)
    seen = torch.cat([yb for _, yb in train.batches(x, y, 3, shuffle=True, generator=repro.make_generator(0))])
    assert sorted(seen.tolist()) == list(range(10))
    assert [len(yb) for _, yb in train.batches(x, y, 4)] == [4, 4, 2]


def test_batches_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        list(train.batches(torch.zeros(3, 1), torch.zeros(4), 2))


def test_fit_learns_a_separable_problem_and_records_history():
    repro.seed_everything(0)
    x = torch.randn(400, 2)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(2, 2)
    hist = train.fit(
        model, (x, y), torch.optim.SGD(model.parameters(), lr=0.5), epochs=3, batch_size=32, val=(x, y), progress=False
    )
    assert set(hist) == {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert len(hist["val_acc"]) == 3 and hist["val_acc"][-1] > 0.95
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    loss, acc = train.evaluate(model, x, y)
    assert acc == hist["val_acc"][-1] and train.predict(model, x).shape == (400,)


def test_evaluate_restores_train_mode():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    train.evaluate(model, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    assert model.training


def test_plot_helpers_return_figures():
    from matplotlib.figure import Figure

    figs = [
        viz.show_images(torch.rand(5, 1, 8, 8), titles=list("abcde"), ncols=3),
        viz.show_filters(torch.randn(4, 3, 5, 5)),
        viz.show_maps(torch.rand(1, 6, 8, 8)),
        viz.plot_history({"train_loss": [1.0, 0.5], "val_acc": [0.5, 0.9]}),
        viz.plot_confusion(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 2, 2, 2])),
        viz.show_receptive_field(torch.rand(8, 8), torch.rand(8, 8)),
    ]
    assert all(isinstance(f, Figure) for f in figs)
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plot_helpers_reject_bad_shapes():
    with pytest.raises(ValueError, match="4-D"):
        viz.show_filters(torch.randn(3, 5, 5))
    with pytest.raises(ValueError, match="same shape"):
        viz.plot_confusion(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="at least one"):
        viz.show_images([])
