"""A small training loop for in-memory tensors, with ``tqdm`` progress, sized for a CPU.

Introduced in: 01_history.ipynb (fit, evaluate, predict)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator


class History(defaultdict):
    """Per-epoch metrics: ``history["train_loss"]`` is a list with one float per epoch."""

    def __init__(self):
        super().__init__(list)

    def plot(self, title: str | None = None):
        """Loss and accuracy curves; returns the figure (see ``utils.viz.plot_history``)."""
        from .viz import plot_history

        return plot_history(self, title=title)


def _check_batch_size(batch_size) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _check_data(name: str, x, y=None) -> None:
    """x (and y): tensors of N >= 1 samples, the same N."""
    import torch

    for what, t in (("x", x), ("y", y)):
        if t is not None and not isinstance(t, torch.Tensor):
            raise ValueError(f"{name}: {what} must be a torch.Tensor, got {type(t).__name__}; use torch.as_tensor")
    if x.dim() == 0 or len(x) == 0:
        raise ValueError(f"{name}: x must hold at least one sample (N >= 1), got shape {tuple(x.shape)}")
    if y is not None and (y.dim() == 0 or len(x) != len(y)):
        raise ValueError(f"{name}: x and y must have the same length N, got {len(x)} and {tuple(y.shape)}")


def _device_of(model, x):
    """Where to run: the device of the model's first parameter (or buffer); a model with neither runs on x's."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return x.device


class _EvalMode:
    """Run a model in eval mode, then give every submodule back its own train/eval flag (even on an error)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc):
        for m, flag in self.flags:
            m.training = flag


def batches(x, y, batch_size: int, shuffle: bool = False, generator=None) -> Iterator[tuple]:
    """Mini-batches ``(x[i:i+B], y[i:i+B])`` of two in-memory tensors, optionally shuffled.

    Args:
        x: ``(N, ...)`` inputs.  y: ``(N,)`` labels.
        batch_size (int): B; the last batch may be smaller.
        shuffle (bool): draw a new permutation (from ``generator``) first.
    """
    import torch

    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    _check_batch_size(batch_size)
    order = torch.randperm(len(x), generator=generator) if shuffle else None
    for i in range(0, len(x), batch_size):
        if order is None:
            yield x[i : i + batch_size], y[i : i + batch_size]
        else:
            idx = order[i : i + batch_size]
            yield x[idx], y[idx]


def evaluate(model, x, y, batch_size: int = 1000, loss_fn: Callable | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)``, in eval mode, without gradients.

    Every submodule gets its own train/eval flag back afterwards.

    Args:
        x: ``(N, ...)`` inputs.  y: ``(N,)`` labels.
        loss_fn: a mean-reduced ``loss_fn(logits, y)``. Default: cross-entropy.

    The model runs on the device of its first parameter (a model without parameters or
    buffers, e.g. a fixed ``nn.Flatten`` pipeline, runs on the device of ``x``); each batch is
    moved there.

    Returns:
        (loss, accuracy) as floats; accuracy in [0, 1].

    Raises:
        ValueError: x empty, x and y of different lengths, or a batch_size that is not a positive int.
    """
    import torch
    import torch.nn.functional as F

    _check_data("evaluate", x, y)
    _check_batch_size(batch_size)
    device = _device_of(model, x)
    total_loss, correct = 0.0, 0
    with _EvalMode(model), torch.no_grad():
        for xb, yb in batches(x, y, batch_size):
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            if loss_fn is None:
                total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            else:  # a mean-reduced loss, weighted by the batch size
                total_loss += float(loss_fn(logits, yb)) * len(yb)
            correct += int((logits.argmax(dim=1) == yb).sum())
    return total_loss / len(x), correct / len(x)


def predict(model, x, batch_size: int = 1000):
    """Predicted classes ``(N,)`` int64 on the CPU of ``model`` on ``x`` ``(N, ...)`` (eval mode, no gradients).

    Runs where ``evaluate`` runs (the model's device; a model without parameters: x's device).
    """
    import torch

    _check_data("predict", x)
    _check_batch_size(batch_size)
    device = _device_of(model, x)
    with _EvalMode(model), torch.no_grad():
        return torch.cat([model(xb.to(device)).argmax(dim=1).cpu() for xb in x.split(batch_size)])


def fit(
    model,
    train: tuple,
    optimizer,
    epochs: int = 1,
    batch_size: int = 128,
    val: tuple | None = None,
    scheduler=None,
    loss_fn: Callable | None = None,
    seed: int = 0,
    progress: bool = True,
    on_epoch_end: Callable | None = None,
) -> History:
    """Train ``model`` on in-memory tensors; evaluate on ``val`` after every epoch.

    Args:
        model (nn.Module): the network; it is left in train mode.
        train: ``(x, y)`` with x ``(N, ...)`` and y ``(N,)`` class labels.
        optimizer: a ``torch.optim`` optimizer over ``model.parameters()``.
        epochs (int): passes over ``train``. Default: 1.
        batch_size (int): Default: 128.
        val: ``(x, y)`` evaluated after each epoch (optional).
        scheduler: a learning-rate scheduler stepped after every batch (e.g. ``OneCycleLR``).
        loss_fn: ``loss_fn(logits, y)``. Default: cross-entropy.
        seed (int): seed of the shuffling generator. Default: 0.
        progress (bool): show a tqdm bar per epoch. Default: True.
        on_epoch_end: called as ``on_epoch_end(epoch, model, history)`` after each epoch (numbered
            from 1) and its validation, e.g. to log, to save the model or to measure the test
            accuracy off the clock. Default: None.

    Returns:
        History with ``train_loss``, ``train_acc`` (running, over the epoch) and, with ``val``,
        ``val_loss`` and ``val_acc``.

    Raises:
        ValueError: before any step, for a model without trainable parameters, a batch_size or
            epochs that is not a positive int, ``train`` / ``val`` that are not ``(x, y)``
            tensors of the same, non-zero length, or an ``on_epoch_end`` that is not callable.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters: there is nothing to fit; "
            "use evaluate() or predict() for a fixed model, or unfreeze a layer with requires_grad_(True)"
        )
    _check_batch_size(batch_size)
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise ValueError(f"on_epoch_end must be callable (epoch, model, history), got {type(on_epoch_end).__name__}")
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    for name, pair in (("train", train), ("val", val)):
        if pair is None and name == "val":
            continue
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"{name} must be a pair (x, y) of tensors, got {type(pair).__name__}")
        _check_data(f"fit: {name}", *pair)
    x, y = train
    device = params[0].device
    gen = torch.Generator().manual_seed(seed)
    history = History()
    n_batches = -(-len(x) // batch_size)
    for epoch in range(1, epochs + 1):
        model.train()
        total_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(
            batches(x, y, batch_size, shuffle=True, generator=gen),
            total=n_batches,
            desc=f"epoch {epoch}/{epochs}",
            disable=not progress,
            leave=True,
        )
        for xb, yb in bar:
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            loss = F.cross_entropy(logits, yb) if loss_fn is None else loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total_loss += loss.item() * len(xb)
            correct += int((logits.argmax(dim=1) == yb).sum())
            seen += len(xb)
            bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.4f}", refresh=False)
        history["train_loss"].append(total_loss / seen)
        history["train_acc"].append(correct / seen)
        if val is not None:
            vl, va = evaluate(model, *val, loss_fn=loss_fn)
            history["val_loss"].append(vl)
            history["val_acc"].append(va)
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, history)
    return history
