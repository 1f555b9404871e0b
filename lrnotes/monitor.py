"""What a training run records: :class:`History`, and TensorBoard written and read back.

A :class:`History` holds, for every optimizer update ``t = 0, 1, 2, ...``, the
learning rate of each param group, the training loss and the gradient norm; and for
every epoch the train and validation loss and metrics. During training the per-step
values are kept as tensors on the device and moved to the host in one go at a log
interval or an epoch end (:meth:`History.flush`), so recording costs no host
synchronisation per step.
"""

from __future__ import annotations

import html
import math
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from lrnotes.env import optional_import

STEP_TAGS = ("train/loss", "train/grad_norm")
"""TensorBoard tags of the per-step loss and gradient norm; the lr of a group goes to
``lr/<group name>``, another scheduled value to ``<name>/<group name>`` (``momentum/head``)
and an epoch value ``k`` of :attr:`History.epochs` to ``epoch/<k>``."""

Target = tuple[str, "int | None"]


def _to_float(value: float | Tensor) -> float:
    return float(value.item()) if isinstance(value, Tensor) else float(value)


def _label_targets(label: str, groups: Sequence[Mapping[str, Any]]
                   ) -> tuple[str, list[Target]] | None:
    """A scheduled label (``"momentum"``, ``"betas[1]"``, ``"weight_decay"``) as a record
    name and the ``(key, index)`` it drives in each group; None for the lr (always recorded)."""
    if label == "lr":
        return None
    if label == "momentum":  # attach's rule: momentum, else Adam's beta1
        return label, [("momentum", None) if "momentum" in g else ("betas", 0) for g in groups]
    if label.startswith("betas[") and label.endswith("]"):
        index = int(label[6:-1])
        return f"beta{index + 1}", [("betas", index)] * len(groups)
    return label, [(label, None)] * len(groups)


def scheduled_keys(scheduler: Any, optimizer: Any) -> dict[str, list[Target]]:
    """The param-group values besides the lr that ``scheduler`` drives: ``{name: [(key,
    index) per group]}``. lrnotes' :func:`~lrnotes.schedules.attach` schedulers name theirs
    (``momentum``, ``weight_decay``, ``beta2`` for ``betas[1]``, any key); torch's
    ``OneCycleLR`` and ``CyclicLR`` with ``cycle_momentum`` drive ``momentum`` (Adam's beta1);
    ``SequentialLR`` and ``ChainedScheduler`` those of their parts.

    Example::

        sched = attach(opt, {"lr": cosine(100), "weight_decay": linear(1.0, 0.1, 100)})
        scheduled_keys(sched, opt)        # {'weight_decay': [('weight_decay', None)]}
    """
    if scheduler is None or optimizer is None:
        return {}
    groups = optimizer.param_groups
    labels: list[str] = []
    parts = getattr(scheduler, "_schedulers", None)
    if isinstance(parts, (list, tuple)):
        found: dict[str, list[Target]] = {}
        for part in parts:
            found.update(scheduled_keys(part, optimizer))
        return found
    schedules = getattr(scheduler, "schedules", None)
    if isinstance(schedules, Mapping):
        labels = [str(label) for label in schedules]
    elif getattr(scheduler, "cycle_momentum", False):
        labels = ["momentum"]
    found = {}
    for label in labels:
        named = _label_targets(label, groups)
        if named is not None and all(key in g for g, (key, _) in zip(groups, named[1],
                                                                      strict=True)):
            found[named[0]] = named[1]
    return found


def read_scheduled(groups: Sequence[Mapping[str, Any]], scheduled: Mapping[str, list[Target]]
                   ) -> dict[str, list[float | Tensor]]:
    """The current values of ``scheduled`` (from :func:`scheduled_keys`) in each group; a
    tensor value is cloned, not read (no host sync)."""
    values = {}
    for name, targets in scheduled.items():
        row = []
        for group, (key, index) in zip(groups, targets, strict=True):
            value = group[key] if index is None else group[key][index]
            row.append(value.clone() if isinstance(value, Tensor) else value)
        values[name] = row
    return values


class History:
    """The record of a training run, per optimizer update and per epoch.

    Per step (one entry per optimizer update ``t``; arrays, read-only views):

    - ``step``: the update index ``t`` (int64, shape ``(n,)``);
    - ``lr``: the lr each param group used for update ``t``, shape ``(n, groups)``,
      columns named by ``group_names`` (a group's ``"name"`` key, else ``group_<i>``);
    - ``loss``: the training loss of the update (the mean over its accumulated
      micro-batches; under DDP the mean over ranks);
    - ``grad_norm``: the total 2-norm of the true (unscaled) gradient before clipping;
    - ``scheduled``: ``{name: array (n, groups)}`` of every value the scheduler drives, each
      as update ``t`` used it: ``"lr"`` always, and ``"momentum"``, ``"weight_decay"``,
      ``"beta2"``, ... when the scheduler drives them (see :func:`scheduled_keys`).

    Per epoch, ``epochs`` is a dict of equal-length lists: ``"epoch"`` (1, 2, ...),
    ``"step"`` (updates done at the epoch's end), ``"train_loss"``, ``"val_loss"``,
    ``"train_<metric>"``, ``"val_<metric>"``, ``"lr/<group name>"`` (the lr the next
    update will use) and ``"seconds"``; ``num_epochs`` counts them. ``skipped`` lists the
    update indices whose non-finite loss was skipped (``fit(on_nan="skip")``).

    Example::

        history = fit(model, loader, optimizer, loss_fn, epochs=3)
        plt.plot(history.step, history.loss); history.plot()
        df = history.to_dataframe()          # pandas, one row per update
        history.scheduled["momentum"][:, 0]  # the first group's momentum per update

    In a notebook a History shows as a table of its epochs.
    """

    def __init__(self) -> None:
        self.group_names: list[str] = []
        self.epochs: dict[str, list[float]] = {}
        self.skipped: list[int] = []
        self._step: list[int] = []
        self._lr: list[list[float]] = []
        self._loss: list[float] = []
        self._grad_norm: list[float] = []
        self._values: dict[str, list[list[float]]] = {}
        self._pending: list[tuple[int, list[float | Tensor], Tensor, Tensor,
                                  Mapping[str, Sequence[float | Tensor]]]] = []

    # -- recording (used by the training loop) ---------------------------------------------

    def record_step(self, step: int, lrs: Sequence[float | Tensor], loss: Tensor,
                    grad_norm: Tensor,
                    values: Mapping[str, Sequence[float | Tensor]] | None = None) -> None:
        """Append update ``step``'s lrs (one per group), loss and grad norm (0-d tensors,
        kept on their device until :meth:`flush`), and ``values``, other scheduled values
        ``{name: one per group}`` (e.g. ``{"momentum": [0.9, 0.9]}``). A row with another
        number of entries than there are groups is a ValueError."""
        _check_lrs(lrs)
        for name, value in (("loss", loss), ("grad_norm", grad_norm)):
            if not isinstance(value, Tensor) or value.numel() != 1:
                raise TypeError(f"{name} must be a one-element tensor, got "
                                f"{type(value).__name__} {value!r:.40}")
        values = dict(values or {})
        groups = len(self.group_names) if self.group_names else len(lrs)
        for name, row in {"lrs": lrs, **values}.items():
            if len(row) != groups:
                raise ValueError(f"{name}: {len(row)} values for {groups} param groups "
                                 f"{self.group_names or ''}; give one per group")
            if name == "lr":
                raise ValueError("values: 'lr' is recorded from lrs; name the other values")
        if not self.group_names:
            self.group_names = [f"group_{i}" for i in range(len(lrs))]
        self._pending.append((step, list(lrs), loss.detach(), grad_norm.detach(),
                              {k: list(v) for k, v in values.items()}))

    def flush(self, reduce: Callable[[Tensor], Tensor] | None = None) -> int:
        """Move pending per-step values to the host (one synchronisation) and return the
        index of the first record moved. ``reduce`` maps the stacked pending losses to
        their cross-rank mean under DDP."""
        first = len(self._step)
        if not self._pending:
            return first
        steps, lrs, losses, norms, values = zip(*self._pending, strict=True)
        self._pending = []
        loss = torch.stack([x.float() for x in losses])
        if reduce is not None:
            loss = reduce(loss)
        norm = torch.stack([x.float().to(loss.device) for x in norms])
        loss_host, norm_host = torch.stack([loss, norm]).cpu().tolist()
        self._step += steps
        self._lr += [[_to_float(v) for v in row] for row in lrs]
        self._append_values(first, values)
        self._loss += loss_host
        self._grad_norm += norm_host
        return first

    def _append_values(self, first: int, records: Sequence[Mapping[str, Sequence[Any]]]) -> None:
        """Append each record's scheduled values; a name new now gets NaN rows before, one
        missing from a record a NaN row, so every column has one row per update."""
        nan_row = [math.nan] * len(self.group_names)
        for name in {name for record in records for name in record}:
            column = self._values.setdefault(name, [])
            column += [list(nan_row) for _ in range(first - len(column))]
        for name, column in self._values.items():
            column += [[_to_float(v) for v in record[name]] if name in record else list(nan_row)
                       for record in records]

    def record_epoch(self, **values: float) -> None:
        """Append one epoch's values; a key seen before but missing now gets NaN, a new key
        gets NaN for the earlier epochs, so every list has one entry per epoch (whether or
        not ``epoch`` is passed).

        Example::

            history.record_epoch(train_loss=0.5); history.record_epoch(val_loss=0.4)
            history.epochs  # {'train_loss': [0.5, nan], 'val_loss': [nan, 0.4]}
        """
        values = _epoch_numbers(values)  # all checked before any column grows
        done = self.num_epochs
        for key in values:
            self.epochs.setdefault(key, [math.nan] * done)
        for key, column in self.epochs.items():
            column.append(values.get(key, math.nan))

    def first_nonfinite(self, start: int = 0) -> tuple[int, float] | None:
        """``(step, loss)`` of the first flushed record at index >= ``start`` whose loss is
        nan or inf, or None."""
        for i in range(start, len(self._loss)):
            if not math.isfinite(self._loss[i]):
                return self._step[i], self._loss[i]
        return None

    def latest(self) -> dict[str, float]:
        """The last flushed record: ``{"step", "loss", "grad_norm", "lr"}`` (lr of the first
        group), or an empty dict before the first flush."""
        if not self._step:
            return {}
        return {"step": self._step[-1], "loss": self._loss[-1],
                "grad_norm": self._grad_norm[-1], "lr": self._lr[-1][0]}

    @property
    def num_epochs(self) -> int:
        """Number of epochs recorded (every column of :attr:`epochs` has this length)."""
        return max((len(column) for column in self.epochs.values()), default=0)

    @property
    def num_steps(self) -> int:
        """Number of updates recorded, including those not yet flushed (no sync)."""
        return len(self._step) + len(self._pending)

    # -- reading ---------------------------------------------------------------------------

    @property
    def step(self) -> np.ndarray:
        self.flush()
        return np.asarray(self._step, dtype=np.int64)

    @property
    def lr(self) -> np.ndarray:
        self.flush()
        return np.asarray(self._lr, dtype=np.float64).reshape(len(self._lr), len(self.group_names))

    @property
    def scheduled(self) -> dict[str, np.ndarray]:
        """``{name: array (n, groups)}``: ``"lr"`` and every other value the scheduler drove
        (``"momentum"``, ``"weight_decay"``, ``"beta2"``, ...), per update and group."""
        self.flush()
        shape = (len(self._step), len(self.group_names))
        return {"lr": self.lr, **{name: np.asarray(rows, dtype=np.float64).reshape(shape)
                                  for name, rows in self._values.items()}}

    @property
    def loss(self) -> np.ndarray:
        self.flush()
        return np.asarray(self._loss, dtype=np.float64)

    @property
    def grad_norm(self) -> np.ndarray:
        self.flush()
        return np.asarray(self._grad_norm, dtype=np.float64)

    def __len__(self) -> int:
        return self.num_steps

    def __repr__(self) -> str:
        last = ""  # the last epoch's validation loss, else its training loss
        key = next((k for k in ("val_loss", "train_loss") if k in self.epochs), None)
        if key is not None:
            last = f", {key}={self.epochs[key][-1]:.4g}"
        return (f"History({self.num_steps} steps, {self.num_epochs} epochs, "
                f"groups={self.group_names}{last})")

    def _repr_html_(self) -> str:
        """A notebook's display: a table with one row per epoch (the last ``max_rows``
        when there are more) and the run's size in its caption."""
        max_rows = 20
        keys = [k for k in self.epochs if k != "step"]
        rows = range(max(0, self.num_epochs - max_rows), self.num_epochs)
        caption = (f"History: {self.num_steps} updates, {self.num_epochs} epochs, "
                   f"groups {', '.join(self.group_names) or '-'}"
                   + (f" (last {max_rows} epochs)" if self.num_epochs > max_rows else ""))

        def cell(key: str, value: float) -> str:
            if key == "epoch":
                return str(int(value))
            return "" if math.isnan(value) else f"{value:.4g}"

        head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
        body = "".join("<tr>" + "".join(f"<td>{cell(k, self.epochs[k][i])}</td>" for k in keys)
                       + "</tr>" for i in rows)
        return (f"<table class=\"lrnotes-history\"><caption>{html.escape(caption)}</caption>"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def to_dataframe(self, kind: str = "step") -> Any:
        """A pandas DataFrame: one row per update (``kind="step"``: columns ``step``,
        ``lr/<group>``, ``<name>/<group>`` for every other scheduled value, ``loss``,
        ``grad_norm``) or per epoch (``kind="epoch"``)."""
        if kind not in ("step", "epoch"):
            raise ValueError(f"kind must be 'step' or 'epoch', got {kind!r}")
        pd = optional_import("pandas", "History.to_dataframe()")
        if kind == "epoch":
            return pd.DataFrame(self.epochs)
        columns: dict[str, Any] = {"step": self.step}
        for key, values in self.scheduled.items():
            for i, name in enumerate(self.group_names):
                columns[f"{key}/{name}"] = values[:, i]
        columns["loss"] = self.loss
        columns["grad_norm"] = self.grad_norm
        return pd.DataFrame(columns)

    def plot(self, ax: Any = None, **kwargs: Any) -> Any:
        """Plot loss and lr against the update index; see :func:`lrnotes.plot.plot_history`."""
        from lrnotes.plot import plot_history

        return plot_history(self, ax=ax, **kwargs)

    # -- TensorBoard -----------------------------------------------------------------------

    def to_tensorboard(self, writer: Any, steps_from: int = 0, epochs_from: int = 0) -> None:
        """Write the records from index ``steps_from`` (per step) and ``epochs_from`` (per
        epoch) to a ``SummaryWriter``, with global step = the update index ``t``. Tags:
        ``lr/<group>``, ``<name>/<group>`` (momentum, weight_decay, ...), ``train/loss``,
        ``train/grad_norm``, ``epoch/<key>``."""
        self.flush()
        for i in range(steps_from, len(self._step)):
            t = self._step[i]
            for name, value in zip(self.group_names, self._lr[i], strict=True):
                writer.add_scalar(f"lr/{name}", value, t)
            for key, rows in self._values.items():
                for name, value in zip(self.group_names, rows[i], strict=True):
                    if not math.isnan(value):
                        writer.add_scalar(f"{key}/{name}", value, t)
            writer.add_scalar(STEP_TAGS[0], self._loss[i], t)
            writer.add_scalar(STEP_TAGS[1], self._grad_norm[i], t)
        steps = self.epochs.get("step", [])
        for key, column in self.epochs.items():
            if key in ("epoch", "step"):
                continue
            for i in range(epochs_from, len(column)):
                if not math.isnan(column[i]):
                    writer.add_scalar(f"epoch/{key}", column[i], int(steps[i]))

    # -- checkpoints and pickling ----------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """Plain Python lists and dicts (flushes first), for ``torch.save`` or JSON."""
        self.flush()
        return {"group_names": list(self.group_names), "step": list(self._step),
                "lr": [list(row) for row in self._lr], "loss": list(self._loss),
                "grad_norm": list(self._grad_norm), "skipped": list(self.skipped),
                "epochs": {k: list(v) for k, v in self.epochs.items()},
                "values": {k: [list(row) for row in v] for k, v in self._values.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Replace this history's contents with ``state`` (from :meth:`state_dict`). The
        state is checked first (keys, equal lengths); a bad one raises ``ValueError`` naming
        ``state`` and leaves this history unchanged. A state without ``"values"`` (written
        before other scheduled values were recorded) loads with none."""
        _check_state(state)
        self.group_names = list(state["group_names"])
        self._step = list(state["step"])
        self._lr = [list(row) for row in state["lr"]]
        self._loss = list(state["loss"])
        self._grad_norm = list(state["grad_norm"])
        self.skipped = list(state["skipped"])
        self.epochs = {k: list(v) for k, v in state["epochs"].items()}
        self._values = {k: [list(row) for row in v] for k, v in state.get("values", {}).items()}
        self._pending = []

    def __getstate__(self) -> dict[str, Any]:
        return self.state_dict()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.load_state_dict(state)


_STATE_KEYS = ("group_names", "step", "lr", "loss", "grad_norm", "skipped", "epochs")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_lrs(lrs: Any) -> None:
    """``record_step``'s lrs: a sequence of numbers (their count is checked against the
    groups in ``record_step``)."""
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Sequence):
        raise TypeError(f"lrs must be a sequence of one lr per param group, got "
                        f"{type(lrs).__name__}")
    for lr in lrs:
        if not (isinstance(lr, Tensor) and lr.numel() == 1) and not _is_number(lr):
            raise TypeError(f"lrs must hold numbers or one-element tensors, got "
                            f"{type(lr).__name__} {lr!r:.40}")


def _epoch_numbers(values: dict[str, Any]) -> dict[str, float]:
    """``record_epoch``'s values as floats: numbers or one-element tensors, else TypeError."""
    found = {}
    for key, value in values.items():
        if isinstance(value, Tensor) and value.numel() == 1 and value.dtype != torch.bool:
            found[key] = float(value.item())
        elif _is_number(value):
            found[key] = float(value)
        else:
            raise TypeError(f"record_epoch: {key} must be a number, got "
                            f"{type(value).__name__} {value!r:.40}")
    return found


def _check_numbers(state: dict[str, Any]) -> None:
    """The per-step and per-epoch entries of a state are numbers (steps integers)."""
    if not all(isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in state["step"]):
        raise ValueError("state: 'step' must hold integers")
    for key in ("loss", "grad_norm"):
        if not all(_is_number(v) for v in state[key]):
            raise ValueError(f"state: {key!r} must hold numbers")
    if not all(isinstance(row, (list, tuple)) and all(_is_number(v) for v in row)
               for row in state["lr"]):
        raise ValueError("state: 'lr' must hold rows of numbers")
    for key, column in state["epochs"].items():
        if not isinstance(column, (list, tuple)) or not all(_is_number(v) for v in column):
            raise ValueError(f"state: the 'epochs' column {key!r} must be a list of numbers")


def _check_state(state: Any) -> None:
    """Raise ValueError unless ``state`` looks like :meth:`History.state_dict`'s output."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict from History.state_dict(), "
                        f"got {type(state).__name__}")
    missing = [k for k in _STATE_KEYS if k not in state]
    if missing:
        raise ValueError(f"state: missing keys {missing}; expected History.state_dict()'s "
                         f"output with keys {list(_STATE_KEYS)}")
    if not all(isinstance(state[k], (list, tuple)) for k in _STATE_KEYS if k != "epochs") \
            or not isinstance(state["epochs"], dict):
        raise ValueError("state: 'epochs' must be a dict of lists and the other entries lists")
    n = len(state["step"])
    lengths = {k: len(state[k]) for k in ("lr", "loss", "grad_norm")}
    if any(length != n for length in lengths.values()):
        raise ValueError(f"state: 'step' has {n} entries but {lengths}; the per-step lists "
                         "must have one entry per update")
    groups = len(state["group_names"])
    if any(not isinstance(row, (list, tuple)) or len(row) != groups for row in state["lr"]):
        raise ValueError(f"state: every 'lr' row must have one entry per group ({groups})")
    _check_numbers(state)
    values = state.get("values", {})
    if not isinstance(values, dict) or any(
            not isinstance(rows, (list, tuple)) or len(rows) != n
            or any(len(row) != groups for row in rows) for rows in values.values()):
        raise ValueError(f"state: 'values' must map names to {n} rows of {groups} values "
                         "(one row per update, one value per group)")
    columns = {len(v) for v in state["epochs"].values()}
    if len(columns) > 1:
        raise ValueError(f"state: the 'epochs' columns differ in length {sorted(columns)}")


def open_writer(writer: Any) -> tuple[Any, bool]:
    """Return ``(summary_writer, owned)``: ``writer`` itself when it has ``add_scalar``, or a
    new ``torch.utils.tensorboard.SummaryWriter`` on the directory ``writer`` names
    (``owned`` True: the caller closes it)."""
    if hasattr(writer, "add_scalar"):
        return writer, False
    if not isinstance(writer, (str, os.PathLike)):
        raise ValueError("writer must be a SummaryWriter or a directory path, "
                         f"got {type(writer).__name__}")
    optional_import("tensorboard", "writing TensorBoard logs (fit(writer=...))")
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=os.fspath(writer)), True


def read_tensorboard(logdir: str | os.PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read every scalar in the event files of ``logdir``: ``{tag: (steps, values)}``.

    ``steps`` is int64 and ``values`` float64 (TensorBoard stores float32), both sorted
    as written. Lets a notebook plot a run without a TensorBoard server.

    Example::

        fit(model, loader, optimizer, loss_fn, epochs=2, writer="runs/a")
        steps, lrs = read_tensorboard("runs/a")["lr/group_0"]
        plt.plot(steps, lrs)
    """
    if not os.path.isdir(logdir):
        raise ValueError(f"logdir must be an existing directory, got {os.fspath(logdir)!r}")
    accumulator = optional_import("tensorboard.backend.event_processing.event_accumulator",
                                  "read_tensorboard()")
    EventAccumulator = accumulator.EventAccumulator  # noqa: N806
    events = EventAccumulator(os.fspath(logdir), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {}
    for tag in events.Tags()["scalars"]:
        records = events.Scalars(tag)
        scalars[tag] = (np.array([r.step for r in records], dtype=np.int64),
                        np.array([r.value for r in records], dtype=np.float64))
    return scalars
