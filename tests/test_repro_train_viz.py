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


@pytest.fixture
def torch_state():
    """Give back torch's thread count and determinism switch after a test that changes them."""
    threads = torch.get_num_threads()
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(det, warn_only=warn_only)


def test_seed_everything_false_switches_determinism_off_again(torch_state, monkeypatch):
    monkeypatch.delenv(repro.THREADS_ENV_VAR, raising=False)
    repro.seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()
    repro.seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    repro.seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()


def test_threads_argument_sets_the_thread_count(torch_state, monkeypatch):
    monkeypatch.delenv(repro.THREADS_ENV_VAR, raising=False)
    repro.seed_everything(0, threads=1)
    assert torch.get_num_threads() == 1


def test_environment_variable_wins_over_the_threads_argument(torch_state, monkeypatch):
    monkeypatch.setenv(repro.THREADS_ENV_VAR, "2")
    repro.seed_everything(0, threads=1)
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    repro.seed_everything(0)  # no threads argument: the variable still applies
    assert torch.get_num_threads() == 2


def test_empty_environment_variable_is_ignored(torch_state, monkeypatch):
    monkeypatch.setenv(repro.THREADS_ENV_VAR, "  ")
    repro.seed_everything(0, threads=1)
    assert torch.get_num_threads() == 1


@pytest.mark.parametrize("bad", ["0", "-2", "two", "1.5"])
def test_bad_environment_variable_is_a_value_error_naming_it(torch_state, monkeypatch, bad):
    monkeypatch.setenv(repro.THREADS_ENV_VAR, bad)
    with pytest.raises(ValueError, match=f"{repro.THREADS_ENV_VAR} must be a positive int, got '{bad}'"):
        repro.seed_everything(0, threads=1)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"threads": 0}, "threads"), ({"threads": True}, "threads"), ({"deterministic": 1}, "deterministic")],
)
def test_seed_everything_rejects_bad_switches(torch_state, kwargs, word):
    with pytest.raises(ValueError, match=word):
        repro.seed_everything(0, **kwargs)


@pytest.mark.parametrize("bad", [-1, 1.5, None])
def test_make_generator_rejects_bad_seeds(bad):
    with pytest.raises(ValueError, match="seed"):
        repro.make_generator(bad)


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


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.1)


def test_fit_on_a_model_without_parameters_is_a_value_error():
    x, y = torch.randn(8, 2), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train.fit(nn.Identity(), (x, y), torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), progress=False)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="requires_grad_"):
        train.fit(frozen, (x, y), torch.optim.SGD(frozen.parameters(), lr=0.1), progress=False)


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"epochs": 0}, "epochs"),
        ({"val": (torch.zeros(3, 2),)}, "val"),
    ],
)
def test_fit_checks_its_arguments_before_any_step(kwargs, word):
    model = nn.Linear(2, 2)
    before = model.weight.detach().clone()
    with pytest.raises(ValueError, match=word):
        train.fit(model, (torch.randn(8, 2), torch.zeros(8, dtype=torch.long)), _sgd(model), progress=False, **kwargs)
    assert torch.equal(model.weight, before)  # nothing ran


@pytest.mark.parametrize(
    ("data", "msg"),
    [
        ((torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)), "at least one"),
        ((torch.zeros(4, 2), torch.zeros(3, dtype=torch.long)), "same length"),
        (([[0.0, 1.0]], [0]), "torch.Tensor"),
    ],
)
def test_fit_and_evaluate_reject_empty_or_mismatched_data(data, msg):
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=msg):
        train.fit(model, data, _sgd(model), progress=False)
    with pytest.raises(ValueError, match=msg):
        train.evaluate(model, *data)


def test_evaluate_and_predict_run_a_parameterless_model_on_the_inputs_device():
    x = torch.tensor([[0.0, 2.0], [3.0, 1.0]])
    y = torch.tensor([1, 0])
    loss, acc = train.evaluate(nn.Identity(), x, y)
    assert acc == 1.0 and loss > 0
    assert train.predict(nn.Identity(), x).tolist() == [1, 0]


def test_evaluate_and_predict_reject_a_bad_batch_size():
    with pytest.raises(ValueError, match="batch_size"):
        train.evaluate(nn.Linear(2, 2), torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), batch_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        train.predict(nn.Linear(2, 2), torch.zeros(4, 2), batch_size=0)


def test_evaluate_gives_each_submodule_its_own_mode_back():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    model.train()
    model[1].eval()  # e.g. a frozen part
    train.evaluate(model, torch.zeros(4, 2), torch.zeros(4, dtype=torch.long))
    train.predict(model, torch.zeros(4, 2))
    assert model.training and model[0].training and not model[1].training


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


# ---------------------------------------------------------------- figures (utils.viz)

import subprocess  # noqa: E402
import sys  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.text import Text  # noqa: E402


@pytest.fixture
def style():
    """Every figure test runs inside its own rc_context, so set_style() leaks into no other test."""
    with matplotlib.rc_context():
        yield
    plt.close("all")


def _every_figure():
    """One figure of each helper, with titles, several rows and a colour bar where it applies."""
    y_true = torch.arange(100) % 10
    y_pred = torch.where(torch.arange(100) % 7 == 0, (y_true + 1) % 10, y_true)
    return {
        "show_images": viz.show_images(
            torch.rand(16, 1, 28, 28), titles=[f"true 7\nas {i}" for i in range(16)], size=1.1, suptitle="two rows"
        ),
        "show_images_colorbar": viz.show_images(torch.rand(5, 8, 8), titles=list("abcde"), ncols=3, colorbar=True),
        "show_filters_rgb": viz.show_filters(torch.randn(6, 3, 5, 5), ncols=3, title="colour filters"),
        "show_filters_grey": viz.show_filters(torch.randn(6, 1, 5, 5), title="grey filters"),
        "show_maps": viz.show_maps(torch.rand(1, 6, 28, 28), ncols=3, title="six maps"),
        "plot_history": viz.plot_history({"train_loss": [1.0, 0.5], "val_acc": [0.5, 0.9]}, title="curves"),
        "plot_confusion": viz.plot_confusion(y_true, y_pred, title="confusion"),
        "show_receptive_field": viz.show_receptive_field(torch.rand(28, 28), torch.rand(28, 28), title="field"),
    }


def _texts(fig):
    """The texts a reader sees: visible, not empty, not the tick labels of an axes drawn with axis("off")."""
    hidden = {id(t) for ax in fig.axes if not ax.axison for axis in (ax.xaxis, ax.yaxis) for t in axis.findobj(Text)}
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in hidden]


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def test_importing_utils_sets_no_rcparams():
    code = (
        "import matplotlib; matplotlib.use('Agg'); before = dict(matplotlib.rcParams); "
        "import utils, utils.viz, utils.measure, utils.train, utils.repro, utils.checks, utils.data; "
        "changed = [k for k, v in matplotlib.rcParams.items() if before[k] != v]; "
        "assert not changed, changed"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_set_style_sets_readable_defaults_and_returns_them(style):
    applied = viz.set_style()
    assert isinstance(applied, dict) and applied
    assert all(matplotlib.rcParams[k] == v for k, v in applied.items())
    assert 120 <= matplotlib.rcParams["figure.dpi"] <= 130
    assert matplotlib.rcParams["font.size"] == 10
    for key in ("axes.titlesize", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize"):
        assert FontProperties(size=matplotlib.rcParams[key]).get_size_in_points() >= 9, key


def test_set_style_leaves_the_layout_engine_alone(style):
    viz.set_style()
    fig = plt.figure()
    assert fig.get_layout_engine() is None  # a notebook's own fig.tight_layout() raises no warning


@pytest.mark.parametrize("styled", [False, True], ids=["matplotlib-defaults", "set_style"])
def test_every_text_in_every_figure_is_at_least_9_pt(style, styled):
    if styled:
        viz.set_style()
    for name, fig in _every_figure().items():
        fig.canvas.draw()
        small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < 9]
        assert not small, f"{name}: texts under 9 pt: {small}"


def test_heat_maps_have_colour_bars(style):
    figs = _every_figure()
    for name in ("show_images_colorbar", "show_filters_grey", "show_maps", "plot_confusion"):
        images = [im for ax in _image_axes(figs[name]) for im in ax.images]
        assert images and all(im.colorbar is not None for im in images), name
    rf = figs["show_receptive_field"]
    assert rf.axes[1].images[0].colorbar is not None  # the gradient panel
    rgb = figs["show_filters_rgb"]
    assert all(im.colorbar is None for ax in _image_axes(rgb) for im in ax.images)  # colour has no scale


def test_no_title_overlaps_an_image_or_another_title(style):
    viz.set_style()
    for name, fig in _every_figure().items():
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        images = _image_axes(fig)
        titles = [ax.title for ax in fig.axes if ax.title.get_text()]
        if fig._suptitle is not None:
            titles.append(fig._suptitle)
        for t in titles:
            box = t.get_window_extent(renderer)
            for ax in images:
                assert not box.overlaps(ax.get_window_extent(renderer)), f"{name}: {t.get_text()!r} overlaps an image"
            for other in titles:
                if other is not t:
                    assert not box.overlaps(other.get_window_extent(renderer)), f"{name}: {t.get_text()!r}"


def test_nothing_drawn_falls_outside_its_figure(style):
    viz.set_style()
    for name, fig in _every_figure().items():
        fig.canvas.draw()
        drawn = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, every drawn artist
        slack = 0.02
        assert drawn.x0 >= -slack and drawn.y0 >= -slack, (name, drawn)
        assert drawn.x1 <= fig.get_figwidth() + slack and drawn.y1 <= fig.get_figheight() + slack, (name, drawn)


def test_activation_maps_are_large_enough_to_see(style):
    viz.set_style()
    fig = viz.show_maps(torch.rand(16, 28, 28), ncols=8)  # more columns than fit: the grid wraps
    fig.canvas.draw()
    widths = [ax.get_window_extent().width for ax in _image_axes(fig)]
    assert len(widths) == 16 and min(widths) >= 200  # pixels: about 7 px per pixel of a 28x28 map
    assert fig.get_figwidth() <= viz.MAX_WIDTH_IN


def test_show_images_rows_are_balanced_and_ncols_is_a_maximum(style):
    fig = viz.show_images(torch.rand(6, 8, 8), ncols=4)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 3)
    fig = viz.show_images(torch.rand(16, 8, 8), ncols=8, size=1.0)
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 8)


def test_constant_image_is_drawn_as_mid_grey_not_black(style):
    blur = torch.full((3, 3), 1 / 9)  # a 3x3 blur filter: one value, no range to stretch
    fig = viz.show_images([blur, torch.rand(3, 3)], colorbar=True)
    im = fig.axes[0].images[0]
    assert im.norm(1 / 9) == pytest.approx(0.5)
    assert im.cmap(im.norm(1 / 9))[:3] == pytest.approx((0.5, 0.5, 0.5), abs=0.01)
    lo, hi = im.colorbar.mappable.get_clim()
    assert lo < 1 / 9 < hi  # the colour bar shows the value
    rgb = viz.show_filters(torch.ones(1, 3, 5, 5)).axes[0].images[0].get_array()
    assert float(rgb.min()) == float(rgb.max()) == pytest.approx(0.5)


def test_normalize_stretches_each_image_and_colour_bar_shows_real_values(style):
    a = torch.tensor([[-2.0, 0.0], [1.0, 2.0]])
    im = viz.show_images([a], colorbar=True).axes[0].images[0]
    assert im.get_clim() == (-2.0, 2.0)
    im = viz.show_images([a], normalize=False).axes[0].images[0]
    assert im.get_clim() == (0.0, 1.0)
    im = viz.show_images([a], vmin=-5, vmax=5).axes[0].images[0]
    assert im.get_clim() == (-5.0, 5.0)


def test_normalize_false_clips_rgb_without_a_warning(style, recwarn, caplog):
    rgb = torch.full((3, 4, 4), 1.5)
    arr = viz.show_images([rgb], normalize=False).axes[0].images[0].get_array()
    assert float(arr.max()) == 1.0
    assert not caplog.records and not recwarn.list


def test_show_images_rejects_bad_arguments(style):
    with pytest.raises(ValueError, match="one entry per image"):
        viz.show_images(torch.rand(3, 4, 4), titles=["a"])
    with pytest.raises(ValueError, match="ncols"):
        viz.show_images(torch.rand(3, 4, 4), ncols=0)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        viz.show_images(torch.rand(2, 5, 4, 4))
    with pytest.raises(ValueError, match="size"):
        viz.show_images(torch.rand(2, 4, 4), size=0)


def test_plot_confusion_rejects_labels_beyond_the_class_names(style):
    with pytest.raises(ValueError, match="one name per class"):
        viz.plot_confusion(torch.tensor([0, 3]), torch.tensor([0, 1]), classes=["a", "b"])
    with pytest.raises(ValueError, match="negative"):
        viz.plot_confusion(torch.tensor([0, -1]), torch.tensor([0, 1]))


def test_plot_helpers_never_call_show(style, monkeypatch):
    def no_show(*args, **kwargs):
        raise AssertionError("a utils.viz helper called plt.show()")

    monkeypatch.setattr(plt, "show", no_show)
    assert len(_every_figure()) == 8


def test_fit_calls_on_epoch_end_after_each_epoch_and_its_validation():
    repro.seed_everything(0)
    x, y = torch.randn(64, 2), torch.randint(0, 2, (64,))
    model = nn.Linear(2, 2)
    calls = []

    def record(epoch, seen_model, history):
        calls.append((epoch, seen_model is model, len(history["train_loss"]), len(history["val_acc"])))

    train.fit(model, (x, y), _sgd(model), epochs=3, batch_size=16, val=(x, y), progress=False, on_epoch_end=record)
    assert calls == [(1, True, 1, 1), (2, True, 2, 2), (3, True, 3, 3)]
    with pytest.raises(ValueError, match="on_epoch_end must be callable"):
        train.fit(model, (x, y), _sgd(model), progress=False, on_epoch_end="print")


def test_cpu_threads_shares_the_cores_among_parallel_test_workers(monkeypatch):
    import os

    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv(repro.WORKERS_ENV_VAR, raising=False)
    assert repro.cpu_threads() == cores
    monkeypatch.setenv(repro.WORKERS_ENV_VAR, "2")
    assert repro.cpu_threads() == max(1, cores // 2)
    monkeypatch.setenv(repro.WORKERS_ENV_VAR, str(4 * cores))
    assert repro.cpu_threads() == 1  # more workers than cores: one thread each, never 0
    monkeypatch.setenv(repro.WORKERS_ENV_VAR, "many")
    assert repro.cpu_threads() == cores  # not a count: as on a laptop
