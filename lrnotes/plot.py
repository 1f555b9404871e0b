"""Plots of schedules, training histories and LR range tests (matplotlib; each returns the Axes).

None of them changes matplotlib's global settings; :func:`use_book_style` does, when asked.
"""

from __future__ import annotations

import numbers
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
    (``lr = base_lr * schedule(t)``); ``log=True`` puts it on a log scale. A single schedule is
    named by its kind in the title (``"Learning-rate schedule: cosine"``), without a legend.

    Example::

        from lrnotes import schedules as S
        plot_schedule({"cosine": S.cosine(1000), "wsd": S.wsd(1000, 50, 200)}, steps=1000)
    """
    import numpy as np

    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
    if base_lr is not None and (isinstance(base_lr, bool)
                                or not isinstance(base_lr, numbers.Real)):
        raise TypeError(f"base_lr must be a number > 0 or None, got {base_lr!r}")
    if base_lr is not None and not base_lr > 0:
        raise ValueError(f"base_lr must be > 0 or None, got {base_lr!r}")
    named = schedules if isinstance(schedules, dict) else {type(schedules).__name__: schedules}
    from lrnotes.schedules import Schedule

    if not isinstance(log, bool):
        raise TypeError(f"log must be True or False, got {log!r}")
    for label, schedule in named.items():
        if not isinstance(schedule, Schedule):
            raise TypeError(f"schedules must be a schedule or a {{label: schedule}} dict of "
                            f"lrnotes schedules, got {type(schedule).__name__} for {label!r}")
    ax = _axes(ax)
    t = np.arange(steps)
    scale = 1.0 if base_lr is None else base_lr
    for label, schedule in named.items():
        ax.plot(t, scale * schedule.values(steps), label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("update t (optimizer steps)")
    ax.set_ylabel("multiplier of base lr" if base_lr is None else "learning rate")
    if isinstance(schedules, dict):
        ax.set_title("Learning-rate schedule" + ("s" if len(named) > 1 else ""))
        ax.legend()
    else:
        ax.set_title(f"Learning-rate schedule: {type(schedules).__name__}")
    return ax


# --- training history ------------------------------------------------------


_DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (8, 2)))


def plot_history(history: Any, ax: Any = None, lr: bool = True, log_lr: bool = True,
                 show: str = "lr") -> Any:
    """Plot a :class:`lrnotes.monitor.History`: loss against the update index ``t``; return
    the Axes.

    The per-update training loss is drawn faintly, each epoch's mean train and validation
    loss as markers at the update where the epoch ended, and with ``lr`` a scheduled value
    of every param group on a twin right-hand axis: ``show="lr"`` (log scale with
    ``log_lr``), or any other name in ``history.scheduled`` (``"momentum"``,
    ``"weight_decay"``, ...). Groups get distinct dash patterns; groups whose curves are
    equal share one line, labelled with all their names. The legend sits below the axes,
    off the data.

    Example::

        >>> history = lrnotes.fit(model, loader, optimizer, loss_fn, epochs=3)
        >>> ax = plot_history(history)
        >>> ax.get_xlabel()
        'optimizer update t'
    """
    import numpy as np

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
    scheduled = history.scheduled if lr else {}
    if lr and show not in scheduled:
        raise ValueError(f"show must be one of the scheduled values {sorted(scheduled)}, "
                         f"got {show!r}")
    if lr and len(history.step):
        twin = ax.twinx()
        values = scheduled[show]
        shared: list[list[int]] = []  # groups with equal curves, drawn once
        for i in range(values.shape[1]):
            same = next((g for g in shared if np.array_equal(values[:, g[0]], values[:, i],
                                                              equal_nan=True)), None)
            if same is None:
                shared.append([i])
            else:
                same.append(i)
        for k, members in enumerate(shared):
            names = " = ".join(history.group_names[i] for i in members)
            lines += twin.plot(history.step, values[:, members[0]], color=f"C{2 + k}",
                               linestyle=_DASHES[k % len(_DASHES)], linewidth=1.2,
                               label=f"{show} ({names})")
        if show == "lr" and log_lr and (values > 0).all():
            twin.set_yscale("log")
        twin.set_ylabel("learning rate" if show == "lr" else show.replace("_", " "))
        twin.grid(False)
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center",
              bbox_to_anchor=(0.5, -0.16), ncol=min(3, len(lines)), fontsize="small",
              frameon=False)
    return ax


def use_book_style() -> None:
    """Set the book's matplotlib defaults (7x4 in figures, a light grid, no top and right
    spines, legends on an opaque background) in ``matplotlib.rcParams``, for the whole
    session. In a notebook, inline figures then carry :func:`describe` in their PNG's
    ``Description`` chunk, which the book uses as the figure's alt text.

    :func:`lrnotes.setup` calls it only with ``plots=True``; nothing else in lrnotes changes
    matplotlib's global settings. Undo with ``matplotlib.rcdefaults()``.

    Example::

        import lrnotes.plot
        lrnotes.plot.use_book_style()
    """
    import matplotlib as mpl

    mpl.rcParams.update({
        "figure.figsize": (7.0, 4.0),
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        # a legend that sits on lines or markers stays readable: an opaque background
        "legend.frameon": True,
        "legend.framealpha": 0.9,
        "legend.facecolor": "white",
        "legend.edgecolor": "0.85",
    })
    _describe_inline_figures()


def _describe_inline_figures() -> None:
    """In a notebook, inline figures carry :func:`describe` in the PNG's ``Description``
    chunk, where the book reads a figure's alt text (scripts/lrnotes_sphinx.py)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    import matplotlib.pyplot as plt  # noqa: F401 (activates the inline backend's formatters)
    from IPython.core.pylabtools import print_figure
    from matplotlib.figure import Figure

    try:
        from matplotlib_inline.config import InlineBackend

        options = dict(InlineBackend.instance().print_figure_kwargs)
    except ImportError:
        options = {"bbox_inches": "tight"}

    def png(fig: Figure) -> str | None:
        return print_figure(fig, "png", base64=True, **options,
                            metadata={"Description": describe(fig)})

    shell.display_formatter.formatters["image/png"].for_type(Figure, png)


# --- LR range test ---------------------------------------------------------


# hollow markers of decreasing size: two suggestions at the same lr stay visible, nested
_SUGGESTION_MARKERS = (("o", 15), ("s", 10), ("D", 6), ("v", 12), ("^", 12))


def lr_find_ylim(result: Any) -> tuple[float, float] | None:
    """The y range of the part of a range-test curve a reader needs, or None (autoscale).

    torch-lr-finder and fastai cut the divergent tail off the plot (``skip_end``); here the
    whole curve is drawn and the y axis is bounded instead: from the lowest loss (smoothed, or
    raw up to the smoothed minimum) to the highest smoothed loss before that minimum (where
    the curve starts), with 10% of that span below and 25% above. The tail that runs off to
    a diverged loss leaves the top of the plot instead of flattening the valley. None when
    the smoothed loss never falls (no valley to show).

    Example::

        >>> lr_find_ylim(lrnotes.finder.LRFindResult([1, 2, 3], [2.0, 1.0, 60.0], [2.0, 1.0, 60.0]))
        (0.9, 2.25)
    """
    import numpy as np

    smoothed = np.asarray(result.smoothed, dtype=np.float64)
    raw = np.asarray(result.losses, dtype=np.float64)
    lowest = int(np.argmin(smoothed))
    top = float(np.max(smoothed[: lowest + 1]))
    head = raw[: lowest + 1]
    bottom = float(min(smoothed[lowest], np.min(head[np.isfinite(head)], initial=np.inf)))
    span = top - bottom
    if lowest == 0 or not (np.isfinite(span) and span > 0):
        return None
    return bottom - 0.1 * span, top + 0.25 * span


def plot_lr_find(result: Any, ax: Any = None, suggestions: bool = True) -> Any:
    """Plot an LR range test (:class:`lrnotes.finder.LRFindResult`); return the Axes.

    The raw loss is drawn faintly and the smoothed loss on top, against the reference group's
    lr on a log axis; with ``suggestions`` each rule of ``result.suggestions()`` that has an
    answer is marked on the smoothed curve (interpolated in ``log10(lr)``) with a hollow marker
    of its own size (so two rules at one lr stay visible) and named, with its lr, in the
    legend. The y axis is bounded by :func:`lr_find_ylim`.

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
        for k, ((name, lr), (marker, size)) in enumerate(
                zip(found, _SUGGESTION_MARKERS, strict=False)):
            loss = np.interp(np.log10(lr), np.log10(result.lrs), result.smoothed)
            ax.plot([lr], [loss], marker=marker, linestyle="none", markersize=size,
                    markerfacecolor="none", markeredgewidth=2, color=f"C{k + 1}", zorder=3 + k,
                    label=f"{name}: {lr:.2e}")
    ylim = lr_find_ylim(result)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (reference param group)")
    ax.set_ylabel(result.loss_label)
    title = "LR range test"
    if result.stopped_early:
        title += f" (stopped at lr={result.stop_lr:.2e})"
    ax.set_title(title)
    ax.legend()
    return ax


# --- alt text -----------------------------------------------------------------


def describe(fig: Any) -> str:
    """What a figure shows, in words, from its titles and axis labels (a figure's alt text).

    ``"<suptitle>. <title>: <y label> against <x label>; <next panel> ..."``, each part only
    when the figure has it; ``"A figure"`` when it has no text at all. ``lrnotes.setup``
    writes it into each inline PNG (its ``Description`` chunk); the book's HTML uses it as
    the image's ``alt``.

    Example::

        fig, ax = plt.subplots(); ax.set(title="Loss", xlabel="epoch", ylabel="loss")
        describe(fig)   # 'Loss: loss against epoch'
    """
    parts = []
    suptitle = getattr(fig, "_suptitle", None)
    if suptitle is not None and suptitle.get_text().strip():
        parts.append(suptitle.get_text().strip())
    panels = []
    for ax in fig.get_axes():
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        title = " ".join(t.strip() for t in (ax.get_title("left"), ax.get_title(),
                                             ax.get_title("right")) if t.strip())
        x, y = ax.get_xlabel().strip(), ax.get_ylabel().strip()
        axes = f"{y} against {x}" if x and y else (y or x)
        text = f"{title}: {axes}" if title and axes else (title or axes)
        if text:
            panels.append(text)
    if panels:
        parts.append("; ".join(panels))
    return ". ".join(parts) if parts else "A figure"
