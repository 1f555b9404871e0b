"""Plots of schedules, training histories and LR range tests (matplotlib; each returns the Axes)."""

from __future__ import annotations

from typing import Any


def _axes(ax: Any = None) -> Any:
    """Return ``ax``, or a fresh Axes on a new figure when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


# --- schedules -------------------------------------------------------------


def plot_schedule(
    schedules: Any,
    steps: int,
    ax: Any = None,
    log: bool = False,
    base_lr: float | None = None,
) -> Any:
    """Draw one schedule, or a ``{label: schedule}`` dict of them, over updates ``t = 0..steps-1``.

    The y axis is the multiplier of the base lr, or the lr itself when ``base_lr`` is given
    (``lr = base_lr * schedule(t)``); ``log=True`` puts it on a log scale.

    Example::

        from lrnotes import schedules as S
        plot_schedule({"cosine": S.cosine(1000), "wsd": S.wsd(1000, 50, 200)}, steps=1000)
    """
    import numpy as np

    if steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if base_lr is not None and not base_lr > 0:
        raise ValueError(f"base_lr must be > 0 or None, got {base_lr!r}")
    text = repr(schedules)
    named = schedules if isinstance(schedules, dict) else {
        text if len(text) <= 60 else text[:57] + "...": schedules}
    ax = _axes(ax)
    t = np.arange(steps)
    scale = 1.0 if base_lr is None else base_lr
    for label, schedule in named.items():
        ax.plot(t, scale * schedule.values(steps), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("update t (optimizer steps)")
    ax.set_ylabel("multiplier of base lr" if base_lr is None else "learning rate")
    ax.set_title("Learning-rate schedule" + ("s" if len(named) > 1 else ""))
    ax.legend()
    return ax


# --- training history ------------------------------------------------------


def plot_history(history: Any, ax: Any = None, lr: bool = True, log_lr: bool = True) -> Any:
    """Plot a :class:`lrnotes.monitor.History`: loss against the update index ``t``; return
    the Axes.

    The per-update training loss is drawn faintly, each epoch's mean train and validation
    loss as markers at the update where the epoch ended, and with ``lr`` the lr of every
    param group on a twin right-hand axis (log scale with ``log_lr``).

    Example::

        >>> history = lrnotes.fit(model, loader, optimizer, loss_fn, epochs=3)
        >>> ax = plot_history(history)
        >>> ax.get_xlabel()
        'optimizer update t'
    """
    ax = _axes(ax)
    lines = ax.plot(history.step, history.loss, color="C0", alpha=0.35, linewidth=1,
                    label="train loss (per update)")
    epochs = history.epochs
    for key, color, marker in (("train_loss", "C0", "o"), ("val_loss", "C1", "s")):
        if key in epochs:
            lines += ax.plot(epochs["step"], epochs[key], color=color, marker=marker,
                             label=f"{key.replace('_', ' ')} (epoch mean)")
    ax.set_xlabel("optimizer update t")
    ax.set_ylabel("loss")
    ax.set_title("Training history")
    if lr and len(history.step):
        twin = ax.twinx()
        values = history.lr
        for i, name in enumerate(history.group_names):
            lines += twin.plot(history.step, values[:, i], color=f"C{2 + i}", linestyle="--",
                               linewidth=1.2, label=f"lr ({name})")
        if log_lr and (values > 0).all():
            twin.set_yscale("log")
        twin.set_ylabel("learning rate")
        twin.grid(False)
    ax.legend(lines, [line.get_label() for line in lines], loc="upper right")
    return ax


# --- LR range test ---------------------------------------------------------


_SUGGESTION_MARKERS = ("o", "v", "s", "D", "^")


def plot_lr_find(result: Any, ax: Any = None, suggestions: bool = True) -> Any:
    """Plot an LR range test (:class:`lrnotes.finder.LRFindResult`); return the Axes.

    The raw loss is drawn faintly and the smoothed loss on top, against the reference group's
    lr on a log axis; with ``suggestions`` each rule of ``result.suggestions()`` that has an
    answer is marked on the smoothed curve (interpolated in ``log10(lr)``) and named, with its
    lr, in the legend.

    Example::

        >>> result = lrnotes.lr_find(model, loader, optimizer, loss_fn)
        >>> ax = plot_lr_find(result)
        >>> ax.get_xscale()
        'log'
    """
    import numpy as np

    ax = _axes(ax)
    ax.plot(result.lrs, result.losses, color="C0", alpha=0.3, linewidth=1, label="raw")
    ax.plot(result.lrs, result.smoothed, color="C0", linewidth=2, label="smoothed (debiased EMA)")
    if suggestions:
        found = [(name, lr) for name, lr in result.suggestions().items() if lr is not None]
        for (name, lr), marker in zip(found, _SUGGESTION_MARKERS, strict=False):
            loss = np.interp(np.log10(lr), np.log10(result.lrs), result.smoothed)
            ax.plot([lr], [loss], marker=marker, linestyle="none", markersize=9,
                    label=f"{name}: {lr:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (reference param group)")
    ax.set_ylabel(result.loss_label)
    title = "LR range test"
    if result.stopped_early:
        title += f" (stopped at lr={result.stop_lr:.2e})"
    ax.set_title(title)
    ax.legend()
    return ax
