"""A small training loop for in-memory tensors, with ``tqdm`` progress, sized for a CPU.

Introduced in: 01_history.ipynb
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
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    order = torch.randperm(len(x), generator=generator) if shuffle else None
    for i in range(0, len(x), batch_size):
        if order is None:
            yield x[i : i + batch_size], y[i : i + batch_size]
        else:
            idx = order[i : i + batch_size]
            yield x[idx], y[idx]


def evaluate(model, x, y, batch_size: int = 1000, loss_fn: Callable | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of ``model`` on ``(x, y)``, in eval mode, without gradients.

    Args:
        x: ``(N, ...)`` inputs.  y: ``(N,)`` labels.
        loss_fn: a mean-reduced ``loss_fn(logits, y)``. Default: cross-entropy.

    Returns:
        (loss, accuracy) as floats; accuracy in [0, 1].
    """
    import torch
    import torch.nn.functional as F

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total_loss, correct = 0.0, 0
    with torch.no_grad():
        for xb, yb in batches(x, y, batch_size):
            xb, yb = xb.to(device), yb.to(device)
            logits = model(xb)
            if loss_fn is None:
                total_loss += float(F.cross_entropy(logits, yb, reduction="sum"))
            else:  # a mean-reduced loss, weighted by the batch size
                total_loss += float(loss_fn(logits, yb)) * len(yb)
            correct += int((logits.argmax(dim=1) == yb).sum())
    model.train(was_training)
    return total_loss / len(x), correct / len(x)


def predict(model, x, batch_size: int = 1000):
    """Predicted classes ``(N,)`` of ``model`` on ``x`` (eval mode, no gradients)."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with torch.no_grad():
        out = torch.cat([model(xb.to(device)).argmax(dim=1).cpu() for xb in x.split(batch_size)])
    model.train(was_training)
    return out


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

    Returns:
        History with ``train_loss``, ``train_acc`` (running, over the epoch) and, with ``val``,
        ``val_loss`` and ``val_acc``.
    """
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    x, y = train
    device = next(model.parameters()).device
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
    return history
