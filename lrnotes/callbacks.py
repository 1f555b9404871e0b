"""The one extension point of :func:`lrnotes.fit`: callbacks, and lrnotes' own
:class:`EarlyStopping`, :class:`KeepBest` and :class:`PrintEpochs`.

A callback is an object with any of four methods, called by ``fit`` with one
:class:`RunState` (the same object for the whole run)::

    on_fit_start(state)            # once, after every argument and checkpoint was checked,
                                   # before anything is restored or trained: raise to refuse
    on_update(state)               # after each optimizer update (state.step updates done)
    on_epoch_end(state) -> bool    # after an epoch's validation; state.values holds its
                                   # values; return True to stop the run after this epoch
    on_fit_end(state)              # once, when the run ends normally (also after a stop);
                                   # not on an exception or KeyboardInterrupt

and ``state_dict()`` / ``load_state_dict(state)``: what ``state_dict`` returns is saved in
``fit``'s checkpoints and given back to ``load_state_dict`` on resume (before
``on_fit_start``'s run continues), so a resumed run decides exactly as an uninterrupted one.
``load_state_dict`` must check the whole state before changing anything. A callback whose
``state_dict()`` is ``{}`` is stateless and not saved. Subclass :class:`Callback` (its methods
do nothing), or pass any object with at least one of the four methods.

Why ``writer``, ``log_every`` and ``on_nan`` stay arguments of ``fit``: ``on_nan="skip"``
decides inside an update, before the optimizer steps, which no hook after the update can do;
``log_every`` sets when the recorded values reach the host (the loop's only host syncs), which
every hook then reads; ``writer`` writes those records at each flush with rank-0-only and
ownership rules that a second spelling would have to repeat.

What the package prints goes through the standard ``logging`` module, to the logger
``"lrnotes"`` (level INFO, written to the ``sys.stdout`` of the moment, not propagated to the
root logger): the per-epoch line to ``"lrnotes.epochs"``, what EarlyStopping and KeepBest did
to ``"lrnotes.callbacks"``. ``logging.getLogger("lrnotes.epochs").setLevel(logging.WARNING)``
silences the per-epoch lines everywhere, ``logging.getLogger("lrnotes")`` all of it, and
``fit(..., callbacks=[PrintEpochs(every=0)])`` the lines of one run.

Example::

    stop, best = EarlyStopping("val_loss", patience=3), KeepBest("val_loss")
    history = fit(model, loader, opt, loss_fn, epochs=50, val_loader=val, callbacks=[stop, best])
    stop.stopped_epoch, best.best_epoch, best.best
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

HOOKS = ("on_fit_start", "on_update", "on_epoch_end", "on_fit_end")
MODES = ("min", "max")


class _Stdout(logging.StreamHandler):
    """A handler that writes to the ``sys.stdout`` of the moment (a notebook's, pytest's)."""

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


_root = logging.getLogger("lrnotes")
if not _root.handlers:
    _handler = _Stdout()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _root.addHandler(_handler)
    _root.setLevel(logging.INFO)
    _root.propagate = False  # one line, not a second copy through a root handler
epoch_log = logging.getLogger("lrnotes.epochs")
logger = logging.getLogger("lrnotes.callbacks")


@dataclass
class RunState:
    """What a callback sees of a run.

    ``model`` is the model being trained (unwrapped from ``DistributedDataParallel``),
    ``epoch`` the 0-based index of the epoch in progress (or just ended), ``epochs`` the
    run's total, ``values`` the epoch's values at its end (``train_loss``, ``val_loss``,
    ``train_<metric>``, ``val_<metric>``, ``lr/<group>``; empty before), ``epoch_keys`` the
    keys ``values`` will have, ``rank`` this process's rank, ``live_bar`` whether a progress
    bar is drawn (then the epoch's values are in its postfix).

    Example::

        class Log(Callback):
            def on_epoch_end(self, state):
                wandb.log(state.values, step=state.step)
    """

    model: nn.Module
    optimizer: Any
    scheduler: Any
    history: Any
    epochs: int
    epoch: int = 0
    values: dict[str, float] = field(default_factory=dict)
    epoch_keys: tuple[str, ...] = ()
    rank: int = 0
    live_bar: bool = False

    @property
    def step(self) -> int:
        """Optimizer updates recorded so far (the next update's index ``t``)."""
        return self.history.num_steps


class Callback:
    """Base class of fit's callbacks: every hook does nothing, the state is empty.

    Override the moments you need (see the module docstring for when each is called).

    Example::

        class StopAt(Callback):
            def on_epoch_end(self, state):
                return state.values["val_acc"] >= 0.99
    """

    def on_fit_start(self, state: RunState) -> None:
        """Once, before anything is restored or trained; raise to refuse the run. It runs
        before ``fit`` acts: the model is still where the caller left it (not yet moved to
        ``device``, nor wrapped in DDP), so a refusal leaves it untouched."""

    def on_update(self, state: RunState) -> None:
        """After each optimizer update that was not skipped."""

    def on_epoch_end(self, state: RunState) -> bool | None:
        """After an epoch's validation; return True to stop the run after this epoch."""
        return None

    def on_fit_end(self, state: RunState) -> None:
        """When the run ends normally (its epochs done, or stopped by a callback)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps of this callback (``{}``: nothing)."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; check all of it before changing anything."""
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, got keys {sorted(state)}")


def _qualname(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def check_callbacks(callbacks: Iterable[Any] | None) -> list[Any]:
    """The run's callbacks, checked: a list or tuple of :class:`Callback`\\ s or objects with
    at least one hook method; a :class:`PrintEpochs` is put first unless one is given.

    Example::

        check_callbacks([EarlyStopping()])     # [PrintEpochs(every=1), EarlyStopping(...)]
    """
    if callbacks is None:
        callbacks = []
    if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks must be a list of Callback objects, got "
                        f"{type(callbacks).__name__} {callbacks!r}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback) and not any(
                callable(getattr(cb, name, None)) for name in HOOKS):
            raise TypeError(f"callbacks[{i}] is {type(cb).__name__} {cb!r}: not a "
                            f"lrnotes.callbacks.Callback and has none of {list(HOOKS)}")
    found = list(callbacks)
    if not any(isinstance(cb, PrintEpochs) for cb in found):
        found.insert(0, PrintEpochs())  # first: the epoch's line before what others say of it
    return found


class Hooks:
    """Calls a run's callbacks at fit's moments and keeps their joint state (used by fit).

    ``stopped`` is True once a callback asked to stop; it is part of :meth:`state_dict`, so
    resuming a stopped run trains no further epoch.
    """

    def __init__(self, callbacks: list[Any], state: RunState) -> None:
        self.callbacks, self.state = callbacks, state
        self.stopped = False

    def _each(self, name: str) -> list[Any]:
        return [getattr(cb, name)(self.state) for cb in self.callbacks
                if callable(getattr(cb, name, None))]

    def fit_start(self) -> None:
        self._each("on_fit_start")

    def update(self) -> None:
        self._each("on_update")

    def epoch_end(self, epoch: int, values: Mapping[str, float]) -> bool:
        """Every callback's ``on_epoch_end`` (all of them, even after one says stop)."""
        self.state.epoch, self.state.values = epoch, dict(values)
        self.stopped = any([bool(answer) for answer in self._each("on_epoch_end")])
        return self.stopped

    def fit_end(self) -> None:
        self._each("on_fit_end")

    # -- checkpoints --

    def _keyed(self) -> dict[str, Any]:
        """``{"<class qualname>#<k>": callback}``, k counting callbacks of the same class."""
        keyed: dict[str, Any] = {}
        for cb in self.callbacks:
            name = _qualname(cb)
            k = sum(key.rsplit("#", 1)[0] == name for key in keyed)
            keyed[f"{name}#{k}"] = cb
        return keyed

    def state_dict(self) -> dict[str, Any]:
        """``{"stopped": bool, "states": {key: state}}`` of the stateful callbacks."""
        states = {}
        for key, cb in self._keyed().items():
            state = cb.state_dict() if callable(getattr(cb, "state_dict", None)) else {}
            if state:
                states[key] = state
        return {"stopped": self.stopped, "states": states}

    def check_state_dict(self, saved: Mapping[str, Any] | None) -> None:
        """Raise ValueError unless ``saved`` can be loaded: every saved state has a callback of
        its class to take it (a callback without a saved state starts fresh)."""
        if saved is None:
            return
        if not isinstance(saved, Mapping) or set(saved) != {"stopped", "states"} \
                or not isinstance(saved["states"], Mapping):
            raise ValueError(f"the callbacks' state must be Hooks.state_dict()'s output, got "
                             f"{saved!r}")
        keyed = self._keyed()
        orphans = sorted(key for key in saved["states"] if key not in keyed)
        if orphans:
            raise ValueError(f"it holds the state of callbacks {orphans} that this run does not "
                             "have; pass the same callbacks to resume")
        for key, state in saved["states"].items():
            cb = keyed[key]
            check = getattr(cb, "check_state_dict", None)
            if callable(check):
                check(state)
            elif not callable(getattr(cb, "load_state_dict", None)):
                raise ValueError(f"{key} has a saved state but no load_state_dict")

    def load_state_dict(self, saved: Mapping[str, Any] | None) -> None:
        """Load a state checked by :meth:`check_state_dict` (None: an older checkpoint)."""
        if saved is None:
            return
        keyed = self._keyed()
        for key, state in saved["states"].items():
            keyed[key].load_state_dict(state)
        self.stopped = bool(saved["stopped"])


# --- the per-epoch line ------------------------------------------------------------------------


def _short(key: str, groups: int) -> str:
    return "lr" if groups == 1 and key.startswith("lr/") else key


def format_values(values: Mapping[str, float]) -> dict[str, str]:
    """The epoch's values as ``{name: text}`` (4 significant digits), train values first, then
    validation, then the lr (``lr`` for one param group, ``lr/<group>`` for several).

    Example::

        format_values({"train_loss": 0.41234, "lr/group_0": 0.01})
        # {'train_loss': '0.4123', 'lr': '0.01'}
    """
    groups = sum(key.startswith("lr/") for key in values)
    order = sorted(values, key=lambda k: (not k.startswith("train_"), not k.startswith("val_"),
                                          not k.startswith("lr/")))
    return {_short(k, groups): f"{values[k]:.4g}" for k in order
            if k not in ("epoch", "step", "seconds")}


class PrintEpochs(Callback):
    """One line per epoch with every value of the epoch, when no progress bar is drawn.

    ``epoch 3/10: train_loss=0.4123 train_acc=0.8812 val_loss=0.5011 val_acc=0.85 lr=0.01
    (1.23 s)``, through the logger ``"lrnotes.epochs"`` (INFO, to ``sys.stdout``; see the
    module docstring to silence it), on rank 0, every
    ``every`` epochs and at the last; ``every=0``: never. ``fit`` adds one unless its
    ``callbacks`` hold a PrintEpochs; with a live bar the values are in the bar's postfix.

    Example::

        fit(..., progress=False)                            # a line per epoch
        fit(..., callbacks=[PrintEpochs(every=10)])         # every 10th epoch
        fit(..., callbacks=[PrintEpochs(every=0)])          # silent
    """

    def __init__(self, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ValueError(f"every must be an integer >= 0 (0: never print), got {every!r}")
        self.every = every

    def __repr__(self) -> str:
        return f"PrintEpochs(every={self.every})"

    def on_epoch_end(self, state: RunState) -> None:
        done = state.epoch + 1
        if self.every == 0 or state.live_bar or state.rank != 0 or not (
                done % self.every == 0 or done == state.epochs):
            return
        text = " ".join(f"{k}={v}" for k, v in format_values(state.values).items())
        seconds = state.values.get("seconds")
        tail = "" if seconds is None else f" ({seconds:.3g} s)"
        epoch_log.info("epoch %d/%d: %s%s", done, state.epochs, text, tail)


# --- monitoring a value ------------------------------------------------------------------------


class _Monitor(Callback):
    """The shared part of EarlyStopping and KeepBest: which value, which way is better."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of an epoch value such as 'val_loss', "
                            f"got {type(monitor).__name__} {monitor!r}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, (int, float)) \
                or not min_delta >= 0 or not math.isfinite(min_delta):
            raise ValueError(f"min_delta must be a finite number >= 0, got {min_delta!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best: float | None = None
        self.best_epoch: int | None = None

    def on_fit_start(self, state: RunState) -> None:
        if self.monitor not in state.epoch_keys:
            raise ValueError(f"{type(self).__name__}: monitor={self.monitor!r} is not a value "
                             f"of this run's epochs; they have {list(state.epoch_keys)}")

    def _improved(self, state: RunState) -> bool:
        """Read the monitored value; True (and remember it) when it beats the best by more
        than ``min_delta``. NaN never improves."""
        value = float(state.values[self.monitor])
        if not math.isfinite(value):
            return False
        better = self.best is None or (value < self.best - self.min_delta if self.mode == "min"
                                       else value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch = value, state.epoch + 1
        return better

    def _base_state(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "mode": self.mode, "best": self.best,
                "best_epoch": self.best_epoch}

    def _check(self, state: Any, keys: tuple[str, ...]) -> None:
        name = type(self).__name__
        if not isinstance(state, Mapping) or set(state) != {"monitor", "mode", "best",
                                                            "best_epoch", *keys}:
            raise ValueError(f"{name}: state must be {name}.state_dict()'s output, got "
                             f"{state!r}")
        if (state["monitor"], state["mode"]) != (self.monitor, self.mode):
            raise ValueError(f"{name}: the state monitors {state['monitor']!r} ({state['mode']}),"
                             f" this one {self.monitor!r} ({self.mode})")


class EarlyStopping(_Monitor):
    """Stop the run when ``monitor`` has not improved for ``patience`` epochs.

    An epoch improves when its value is below the best so far by more than ``min_delta``
    (``mode="min"``; above it with ``"max"``); NaN never improves. After ``patience`` epochs
    in a row without improvement the run stops after that epoch (its checkpoint is written,
    and resuming it trains no further epoch): with the best at epoch 4 and ``patience=3`` the
    last epoch is 7. ``stopped_epoch`` is then that epoch (1-based), ``best`` and
    ``best_epoch`` the best value and its epoch. Same as Keras' and Lightning's
    ``EarlyStopping(monitor, min_delta, patience, mode)``. Each ``fit`` call starts counting
    afresh (``on_fit_start``), unless it resumes from a checkpoint, which holds the count.

    Example::

        stop = EarlyStopping("val_loss", patience=5)
        fit(model, loader, opt, loss_fn, epochs=100, val_loader=val, callbacks=[stop])
        stop.stopped_epoch
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 3, min_delta: float = 0.0,
                 mode: str = "min") -> None:
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        self.patience = patience
        self.wait = 0
        self.stopped_epoch: int | None = None

    def __repr__(self) -> str:
        return (f"EarlyStopping(monitor={self.monitor!r}, patience={self.patience}, "
                f"min_delta={self.min_delta}, mode={self.mode!r})")

    def on_fit_start(self, state: RunState) -> None:
        super().on_fit_start(state)
        self.best = self.best_epoch = self.stopped_epoch = None
        self.wait = 0

    def on_epoch_end(self, state: RunState) -> bool:
        if self._improved(state):
            self.wait = 0
            return False
        self.wait += 1
        if self.wait < self.patience:
            return False
        self.stopped_epoch = state.epoch + 1
        return True

    def on_fit_end(self, state: RunState) -> None:
        if self.stopped_epoch is not None and state.rank == 0:
            logger.info("EarlyStopping: stopped after epoch %d; best %s %.4g at epoch %s",
                        self.stopped_epoch, self.monitor,
                        math.nan if self.best is None else self.best, self.best_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {**self._base_state(), "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def check_state_dict(self, state: Any) -> None:
        """Raise ValueError unless ``state`` is a state of this EarlyStopping's monitor."""
        self._check(state, ("wait", "stopped_epoch"))

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_state_dict(state)
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = int(state["wait"]), state["stopped_epoch"]


class KeepBest(_Monitor):
    """Keep the model's weights of the epoch with the best ``monitor``, and (``restore``) load
    them into the model when the run ends.

    After an epoch whose value beats the best by more than ``min_delta`` (``mode="min"``:
    lower; ``"max"``: higher; NaN never), a copy of ``model.state_dict()`` is kept on the CPU
    in ``weights`` (``best``, ``best_epoch``: the value and its 1-based epoch). With
    ``restore=True`` the model gets them back when ``fit`` returns normally (not on an
    exception). The copy is part of ``fit``'s checkpoints (so a checkpoint holds the model
    twice), and a resumed run keeps the best of the whole run; a new ``fit`` call without
    ``resume`` starts afresh. To write the best model to a file:
    ``torch.save(keep.weights, path)``.

    Example::

        keep = KeepBest("val_acc", mode="max")
        fit(model, loader, opt, loss_fn, epochs=30, val_loader=val, metrics={"acc": accuracy},
            callbacks=[keep])                           # the model now has epoch keep.best_epoch
    """

    def __init__(self, monitor: str = "val_loss", mode: str = "min", restore: bool = True,
                 min_delta: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta)
        if not isinstance(restore, bool):
            raise TypeError(f"restore must be True or False, got {restore!r}")
        self.restore = restore
        self.weights: dict[str, Tensor] | None = None

    def __repr__(self) -> str:
        return f"KeepBest(monitor={self.monitor!r}, mode={self.mode!r}, restore={self.restore})"

    def on_fit_start(self, state: RunState) -> None:
        super().on_fit_start(state)
        self.best = self.best_epoch = self.weights = None

    def on_epoch_end(self, state: RunState) -> None:
        if self._improved(state):
            self.weights = {k: v.detach().to("cpu", copy=True)
                            for k, v in state.model.state_dict().items()}

    def on_fit_end(self, state: RunState) -> None:
        if self.restore and self.weights is not None:
            state.model.load_state_dict(self.weights)
            if state.rank == 0:
                logger.info("KeepBest: the model has the weights of epoch %d (%s %.4g)",
                            self.best_epoch, self.monitor, self.best)

    def state_dict(self) -> dict[str, Any]:
        return {**self._base_state(), "weights": self.weights}

    def check_state_dict(self, state: Any) -> None:
        """Raise ValueError unless ``state`` is a state of this KeepBest's monitor."""
        self._check(state, ("weights",))
        if state["weights"] is not None and not isinstance(state["weights"], Mapping):
            raise ValueError(f"KeepBest: state['weights'] must be a state dict or None, got "
                             f"{type(state['weights']).__name__}")

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.check_state_dict(state)
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.weights = None if state["weights"] is None else dict(state["weights"])
