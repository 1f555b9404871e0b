"""Learning-rate schedules as pure, closed-form, picklable objects, and ``attach`` to run them.

A schedule is a multiplier of each param group's own base lr. The step convention, used by every
schedule here: ``schedule(t)`` is the multiplier for the ``t``-th optimizer update, ``t = 0, 1, 2,
...``; update ``t`` runs with ``lr = base_lr * schedule(t)``. ``schedule.values(n)`` gives the first
``n`` multipliers (``t = 0 .. n-1``) as a float64 array, computed in one vectorised pass.

Schedules with a length (``linear``, ``polynomial``, ``cosine``, ``one_cycle``, ``wsd``) take
``after``: ``"hold"`` (default) keeps the final value past the end, ``"cycle"`` starts again from
``t = 0`` every ``total_steps`` (``steps`` for ``linear``) updates, ``"raise"`` makes any evaluation
at ``t >= total_steps`` a ``ValueError``.

Units: every count (``steps``, ``total_steps``, ``warmup_steps``, ``decay_steps``, ``period``,
``half_cycle``, ``step_size``, ``milestones``, ``boundaries``) is in optimizer updates; every level
(``value``, ``start``, ``end``, ``final``, ``low``, ``high``) is a multiplier of the base lr, except
in momentum schedules, whose values are absolute momenta (or Adam beta1).

Arguments counted in epochs convert to updates with :func:`epochs`
(``step(epochs(30, steps_per_epoch))``), and :class:`per_epoch` holds a schedule constant within
each epoch, as torch's per-epoch stepping does. Any count may also be given relative to the run
(:class:`RunLength`): :func:`of_run` (a fraction of the run's updates), :func:`rest` (to the
end of the run) and :func:`epochs` without ``steps_per_epoch``; ``lrnotes.fit`` resolves them
against its own updates per process (:meth:`Schedule.resolve` does it by hand), so
``warmup(cosine(rest()), steps=of_run(0.05))`` is right on any run length, under ``torchrun``
and with gradient accumulation.

Warmup: :class:`warmup` comes *before* its schedule by default (the schedule sees local time),
so ``warmup(cosine(T - W), steps=W)`` and ``warmup(cosine(rest()), steps=W)`` are HF's
``get_cosine_schedule_with_warmup(W, T)``; ``prefix=False`` lays it over the schedule's first
``W`` updates instead (timm's default), keeping milestones where they are.

:func:`attach` runs schedules on an optimizer: the lr, and any other numeric param-group value
(``{"lr": ..., "weight_decay": ..., "betas": (..., None)}``), written in place where the value is
a tensor so a compiled optimizer step never recompiles. A :class:`plateau` part reduces its level
when a metric reported with :meth:`ScheduledLR.report` stalls (torch's ReduceLROnPlateau, inside a
composition); :meth:`ScheduledLR.extend` (or :class:`extended`) grows a resumed run to more total
updates with a continuous lr.

Example::

    sched = attach(optimizer, warmup(cosine(total_steps=9500), steps=500))
    for batch in loader:
        ...; optimizer.step(); sched.step()
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import itertools
import math
import numbers
import operator
import sys
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

__all__ = [
    "Schedule",
    "constant",
    "linear",
    "step",
    "multistep",
    "exponential",
    "polynomial",
    "cosine",
    "warm_restarts",
    "cyclic",
    "one_cycle",
    "one_cycle_momentum",
    "wsd",
    "inverse_sqrt",
    "warmup",
    "join",
    "per_epoch",
    "plateau",
    "extended",
    "epochs",
    "of_run",
    "rest",
    "RunLength",
    "attach",
    "ScheduledLR",
    "DetachedError",
]

_AFTER = ("hold", "cycle", "raise")


# --- argument checks -------------------------------------------------------------------------


def _is_real(value: Any) -> bool:
    """A real number that is not a bool (``True`` is not a learning rate)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


_T_MAX = 2**63 - 1  # update indices are int64


def _int(name: str, value: Any, minimum: int, maximum: int | None = _T_MAX) -> int:
    """``value`` as a Python int in ``[minimum, maximum]``; TypeError/ValueError naming ``name``.

    A bool, a string or any non-number is a TypeError; a number that is not a whole int (10.5,
    10.0) or is out of range is a ValueError. The default ``maximum`` is the largest int64:
    every count of updates meets the int64 update indices in numpy, where a larger Python int
    would overflow (numpy 2) or turn the arithmetic into object arrays (numpy 1.x).
    """
    if not _is_real(value):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__} "
                        f"{value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum or (maximum is not None and number > maximum):
        upper = "" if maximum is None else f" and <= {maximum}"
        raise ValueError(f"{name} must be an integer >= {minimum}{upper}, got {number}")
    return number


def _float(name: str, value: Any, minimum: float = 0.0) -> float:
    """``value`` as a finite Python float >= ``minimum``; TypeError/ValueError naming ``name``."""
    if not _is_real(value):
        raise TypeError(f"{name} must be a finite number >= {minimum}, got "
                        f"{type(value).__name__} {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return number


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {options}, got {type(value).__name__} {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _sequence(name: str, value: Any) -> tuple[Any, ...]:
    """``value`` (a list, tuple or other iterable, not a string) as a tuple; TypeError naming it."""
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a sequence, got {type(value).__name__} {value!r}")
    return tuple(value)


def _set(obj: Any, **values: Any) -> None:
    """Store normalised field values on a frozen dataclass (only from ``__post_init__``)."""
    for name, value in values.items():
        object.__setattr__(obj, name, value)


def _schedule(name: str, value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise TypeError(f"{name} must be a Schedule, got {type(value).__name__} {value!r}")
    return value


# --- lengths relative to the run ----------------------------------------------------------


@dataclass(frozen=True)
class RunLength:
    """A count of updates given relative to the run, resolved when the run's length is known.

    Three kinds, made by :func:`of_run`, :func:`rest` and :func:`epochs` (without
    ``steps_per_epoch``): ``of_run(f)`` is ``round(f * T)`` updates (Python's round, at
    least 1 for ``f > 0``), ``T`` the run's updates (per process, after accumulation: what ``fit``
    counts); ``epochs(n)`` is ``n * steps_per_epoch`` updates; ``rest()`` is every update
    from where its part starts to the end of the run (inside ``warmup(s, steps=W)``:
    ``T - W``; in the last part of a ``join``: ``T`` minus its boundary). Any count argument
    of a schedule (``total_steps``, ``steps``, ``warmup_steps``, ``boundaries``, ...) takes
    one. A schedule holding one is *unresolved*: it cannot be evaluated until
    :meth:`Schedule.resolve` (or ``fit``) gives it the run.

    Example::

        s = warmup(cosine(rest()), steps=of_run(0.05))       # HF's cosine-with-warmup
        s.resolve(total_steps=1000)                           # warmup(cosine(950), steps=50)
    """

    kind: str
    value: float = 1.0

    def __post_init__(self) -> None:
        _choice("kind", self.kind, ("fraction", "epochs", "rest"))
        _set(self, value=_float("value", self.value))

    def __repr__(self) -> str:
        if self.kind == "rest":
            return "rest()"
        return f"of_run({self.value!r})" if self.kind == "fraction" else f"epochs({self.value!r})"

    def updates(self, remaining: int, total: int, steps_per_epoch: int | None) -> int:
        """The number of updates this length stands for in a run of ``total`` updates, in a
        part that has ``remaining`` updates left to the run's end."""
        if self.kind == "rest":
            return remaining
        if self.kind == "fraction":  # a part of the run is at least one update
            return max(1, round(self.value * total)) if self.value > 0 else 0
        if steps_per_epoch is None:
            raise ValueError(f"{self!r}: the updates per epoch are not known (a loader without "
                             "len()); give this length in updates")
        return epochs(self.value, steps_per_epoch)


def of_run(fraction: float) -> RunLength:
    """A length of ``round(fraction * T)`` updates (at least 1 for a fraction > 0), ``T`` the
    updates of the run (see :class:`RunLength`).

    Example::

        warmup(cosine(rest()), steps=of_run(0.05))   # 5 % of the run warms up
    """
    return RunLength("fraction", fraction)


def rest() -> RunLength:
    """The updates from where this part starts to the end of the run (see :class:`RunLength`).

    Example::

        join([constant(1.0), cosine(rest())], boundaries=[epochs(2)])   # cosine after epoch 2
    """
    return RunLength("rest")


def _count(name: str, value: Any, minimum: int) -> int | RunLength:
    """A count argument of a schedule: an int (see :func:`_int`) or a :class:`RunLength`."""
    return value if isinstance(value, RunLength) else _int(name, value, minimum)


def _known_pairs(values: tuple[Any, ...]) -> list[tuple[int, int]]:
    """Consecutive pairs of ints (pairs with a :class:`RunLength` are checked on resolution)."""
    return [(a, b) for a, b in itertools.pairwise(values)
            if not isinstance(a, RunLength) and not isinstance(b, RunLength)]


def _run_lengths(schedule: Schedule) -> list[RunLength]:
    """Every :class:`RunLength` in ``schedule`` and its parts."""
    found = []
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, RunLength):
                found.append(item)
            elif isinstance(item, Schedule):
                found.extend(_run_lengths(item))
    return found


def _resolve(schedule: Schedule, remaining: int, total: int, spe: int | None) -> Schedule:
    """``schedule`` with its run lengths as counts, for a part with ``remaining`` updates."""
    if not _run_lengths(schedule):
        return schedule

    def count(value: Any, left: int = remaining) -> Any:
        return value.updates(left, total, spe) if isinstance(value, RunLength) else value

    if isinstance(schedule, warmup):
        steps = count(schedule.steps)
        left = remaining - steps if schedule.prefix else remaining
        return warmup(_resolve(schedule.schedule, left, total, spe), steps, schedule.start,
                      schedule.prefix)
    if isinstance(schedule, join):
        bounds = tuple(count(b) for b in schedule.boundaries)
        ends = (*bounds, None)
        offsets = (0, *bounds)
        parts = tuple(_resolve(part, (remaining if end is None else end) - start, total, spe)
                      for part, start, end in zip(schedule.parts, offsets, ends, strict=True))
        return join(parts, bounds)
    if isinstance(schedule, per_epoch):
        size = count(schedule.steps_per_epoch)
        if not isinstance(size, int) or size < 1:
            return per_epoch(schedule.schedule, size)  # its own check names the value
        inner = _resolve(schedule.schedule, -(-remaining // size), -(-total // size), 1)
        return per_epoch(inner, size)
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        if isinstance(value, RunLength):
            changes[field.name] = count(value)
        elif isinstance(value, Schedule):
            changes[field.name] = _resolve(value, remaining, total, spe)
        elif isinstance(value, tuple):
            changes[field.name] = tuple(
                count(v) if isinstance(v, RunLength) else
                _resolve(v, remaining, total, spe) if isinstance(v, Schedule) else v
                for v in value)
    return dataclasses.replace(schedule, **changes)


def _unresolved_error(schedule: Schedule) -> ValueError:
    return ValueError(f"{schedule!r} has lengths relative to the run "
                      f"({', '.join(sorted({repr(r) for r in _run_lengths(schedule)}))}): "
                      "resolve it with .resolve(total_steps, steps_per_epoch), or pass its "
                      "scheduler to lrnotes.fit, which resolves it against the run")


_MAX_DEPTH = 300  # wrappers in wrappers: far more than any real schedule, far below recursion


def _nested(schedule: Schedule) -> None:
    """Record how deeply ``schedule`` nests (1 + its deepest part); refuse more than
    ``_MAX_DEPTH`` levels with a ValueError instead of a RecursionError later."""
    depth = 1 + max((getattr(child, "_depth", 0) for _, child in _children(schedule)),
                    default=0)
    if depth > _MAX_DEPTH:
        raise ValueError(f"schedule is nested too deeply: {depth} levels of warmup, join, "
                         f"per_epoch or extended (at most {_MAX_DEPTH})")
    object.__setattr__(schedule, "_depth", depth)


def _data_depth(data: Any) -> int:
    """How deeply :meth:`Schedule.to_dict` data nests schedules (iteratively: no recursion)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            if "schedule" in item and "args" in item:
                depth += 1
                deepest = max(deepest, depth)
            if depth > _MAX_DEPTH + 1:
                break
            stack.extend((value, depth) for value in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((value, depth) for value in item)
    return deepest


# --- the base class --------------------------------------------------------------------------


class Schedule:
    """Base class: an immutable multiplier of each group's base lr as a function of the update t.

    ``s(t)`` is the multiplier for optimizer update ``t`` (``t = 0, 1, 2, ...``) and
    ``s.values(n)`` the array ``[s(0), ..., s(n-1)]`` (float64, vectorised). Subclasses are frozen
    dataclasses, so schedules compare by value, hash, pickle, and their repr shows their arguments.
    ``s.to_dict()`` and ``Schedule.from_dict(d)`` convert to and from plain data (dicts, lists,
    numbers, strings), which is what :class:`ScheduledLR` stores in its ``state_dict``.

    Example::

        s = cosine(total_steps=100)
        s(0), s(50), s(100)          # 1.0, 0.5, 0.0
        s.values(101).shape          # (101,)
    """

    _registry: ClassVar[dict[str, type[Schedule]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Schedule._registry[_registry_name(cls)] = cls

    def __call__(self, t: int) -> float:
        """The multiplier for optimizer update ``t`` (an integer >= 0)."""
        if _run_lengths(self):
            raise _unresolved_error(self)
        times = np.array([_int("t", t, 0, _T_MAX)], dtype=np.int64)
        return float(_checked(self, times, _evaluate(self, times))[0])

    def values(self, n: int) -> np.ndarray:
        """The multipliers for updates ``t = 0, 1, ..., n - 1`` as a float64 array."""
        if _run_lengths(self):
            raise _unresolved_error(self)
        times = np.arange(_int("n", n, 0, _T_MAX), dtype=np.int64)
        return _checked(self, times, _evaluate(self, times))

    def resolve(self, total_steps: int, steps_per_epoch: int | None = None) -> Schedule:
        """This schedule for a run of ``total_steps`` updates: every :class:`RunLength`
        (``of_run``, ``rest``, ``epochs``) replaced by its count; itself if it has none.

        The counts are checked as the constructors check them, naming the run's length.

        Example::

            warmup(cosine(rest()), steps=of_run(0.1)).resolve(100)   # warmup(cosine(90), 10)
            cosine(epochs(3)).resolve(300, steps_per_epoch=50)       # cosine(150)
        """
        total = _int("total_steps", total_steps, 1)
        spe = None if steps_per_epoch is None else _int("steps_per_epoch", steps_per_epoch, 1)
        try:
            return _resolve(self, total, total, spe)
        except (TypeError, ValueError) as error:
            per = "" if spe is None else f", {spe} per epoch"
            raise ValueError(f"{self!r} for a run of {total} updates{per}: {error}") from None

    def __deepcopy__(self, memo: dict[int, Any]) -> Schedule:
        """A schedule is immutable: a copy is itself (and a deep one costs no recursion)."""
        return self

    def _eval(self, t: np.ndarray) -> np.ndarray:
        """Multipliers at the times ``t >= 0``; NaN where ``after="raise"`` is exceeded.

        ``t`` is an int64 array, or a float64 array of whole and fractional times inside
        :class:`extended` (every formula here is written for both).
        """
        raise NotImplementedError

    def _end(self) -> int | None:
        """The first update from which this schedule holds its last value; None if it never does."""
        return None

    def to_dict(self) -> dict[str, Any]:
        """This schedule as plain data: ``{"schedule": name, "args": {...}}``, nested for parts."""
        return {
            "schedule": _registry_name(type(self)),
            "args": {f.name: _to_data(getattr(self, f.name)) for f in dataclasses.fields(self)},
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Schedule:
        """Rebuild a schedule from :meth:`to_dict`'s output (validating it like the constructor).

        Built-in schedules are found by name (``"cosine"``); a user's subclass by its module and
        name (``"mymodule.cosine"``), so it never replaces a built-in, and only a class already
        defined in this process is used: nothing is imported.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"data must be a dict from Schedule.to_dict(), got "
                            f"{type(data).__name__} {data!r}")
        if _data_depth(data) > _MAX_DEPTH + 1:  # the innermost, a plain schedule, counts too
            raise ValueError(f"data: the schedule is nested too deeply (more than {_MAX_DEPTH} "
                             "levels)")
        name = data.get("schedule")
        if not isinstance(name, str) or name not in Schedule._registry:
            raise ValueError(f"data must come from Schedule.to_dict(); unknown schedule {name!r}")
        args = data.get("args")
        if not isinstance(args, Mapping):
            raise ValueError(f"data['args'] must be the dict of {name}'s arguments from "
                             f"Schedule.to_dict(), got {args!r}")
        cls = Schedule._registry[name]
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(args) - fields)
        if unknown:
            raise ValueError(f"data['args'] has arguments {unknown} that {name} does not take "
                             f"(it takes {sorted(fields)})")
        return cls(**{key: _from_data(value) for key, value in args.items()})


def _evaluate(schedule: Schedule, t: np.ndarray) -> np.ndarray:
    """``schedule._eval(t)``; an overflow gives inf quietly, for :func:`_checked` to report."""
    if _run_lengths(schedule):
        raise _unresolved_error(schedule)
    with np.errstate(over="ignore", invalid="ignore"):
        return schedule._eval(t)


def _registry_name(cls: type) -> str:
    """A built-in schedule's class name; a user subclass's ``module.qualname``."""
    if cls.__module__ == __name__:
        return cls.__name__
    return f"{cls.__module__}.{cls.__qualname__}"


def _to_data(value: Any) -> Any:
    if isinstance(value, RunLength):
        return {"run_length": value.kind, "value": value.value}
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_data(item) for item in value]
    return value


def _from_data(value: Any) -> Any:
    if isinstance(value, Mapping) and set(value) == {"run_length", "value"}:
        return RunLength(value["run_length"], value["value"])
    if isinstance(value, Mapping):
        return Schedule.from_dict(value)
    if isinstance(value, list):
        return tuple(_from_data(item) for item in value)
    return value


def _children(schedule: Schedule) -> list[tuple[tuple[str, int | None], Schedule]]:
    """The schedules a schedule is built from, each with its place: ``(field, index or None)``."""
    found = []
    for field in dataclasses.fields(schedule):
        value = getattr(schedule, field.name)
        if isinstance(value, Schedule):
            found.append(((field.name, None), value))
        elif isinstance(value, tuple):
            found.extend(((field.name, i), item) for i, item in enumerate(value)
                         if isinstance(item, Schedule))
    return found


def _raises_past_end(schedule: Schedule) -> bool:
    return getattr(schedule, "after", None) == "raise" or any(
        _raises_past_end(child) for _, child in _children(schedule))


def _checked(schedule: Schedule, t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Raise where a schedule is not finite: past an ``after="raise"`` end (NaN), or overflowed."""
    bad = ~np.isfinite(values)
    if bad.any():
        first = np.flatnonzero(bad)[0]
        value, at = values[first], int(t[first])
        if np.isnan(value) and _raises_past_end(schedule):
            raise ValueError(f"t={at} is past the end of a part built with after='raise' in "
                             f"{schedule!r}")
        raise ValueError(f"{schedule!r} is {value} at t={at}: a schedule's multipliers must be "
                         f"finite (check its arguments, e.g. a gamma > 1 overflows)")
    return values


def _past_end(t: np.ndarray, length: int, after: str, formula: Any) -> np.ndarray:
    """Apply a finite schedule's ``after`` policy to ``formula``, which holds past ``length``."""
    if after == "cycle":
        return formula(t % length)
    values = formula(t)
    if after == "raise":
        values = np.where(t >= length, np.nan, values)
    return values


def _hold_end(length: int, after: str) -> int | None:
    """Where a finite schedule starts holding its last value (never, if it cycles)."""
    return None if after == "cycle" else length


# --- the schedules ---------------------------------------------------------------------------


@dataclass(frozen=True)
class constant(Schedule):
    """A constant multiplier: ``s(t) = value`` for every update ``t = 0, 1, 2, ...``.

    Example::

        s = constant(0.5)
        s(0), s(10**9)               # 0.5, 0.5
        s.values(3)                  # array([0.5, 0.5, 0.5])
    """

    value: float = 1.0

    def __post_init__(self) -> None:
        _set(self, value=_float("value", self.value))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, self.value)

    def _end(self) -> int | None:
        return 0


@dataclass(frozen=True)
class linear(Schedule):
    """Linear ramp ``s(t) = start + (end - start) * min(t, steps) / steps`` at update t = 0, 1, ...

    ``s(0) = start`` drives the first update and ``s(steps) = end`` exactly (never a value
    past ``end``, so never a negative lr); it equals torch's
    ``LinearLR(start_factor=start, end_factor=end, total_iters=steps)``. As a warmup, note that
    ``start=0`` spends the first update at lr 0; :class:`warmup` avoids that by default.

    Example::

        s = linear(start=0.1, end=1.0, steps=9)
        s(0), s(3), s(9), s(100)     # 0.1, 0.4, 1.0, 1.0
    """

    start: float
    end: float
    steps: int
    after: str = "hold"

    def __post_init__(self) -> None:
        _set(self, start=_float("start", self.start), end=_float("end", self.end),
             steps=_count("steps", self.steps, 1), after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        def formula(t: np.ndarray) -> np.ndarray:
            # start * (1 - f) + end * f, not start + (end - start) * f: the same line, but
            # exactly `end` at f = 1 (the other form can round to -4e-16 for end = 0)
            fraction = np.minimum(t, self.steps) / self.steps
            return self.start * (1.0 - fraction) + self.end * fraction

        return _past_end(t, self.steps, self.after, formula)

    def _end(self) -> int | None:
        return _hold_end(self.steps, self.after)


@dataclass(frozen=True)
class step(Schedule):
    """Step decay ``s(t) = gamma ** floor(t / step_size)`` at update t = 0, 1, 2, ...

    Equals torch's ``StepLR(step_size, gamma)`` (stepped once per update). For a step size in
    epochs use ``step(epochs(30, steps_per_epoch), gamma)``.

    Example::

        s = step(step_size=30, gamma=0.1)
        s(29), s(30), s(60)          # 1.0, 0.1, 0.01 (up to rounding)
    """

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        _set(self, step_size=_count("step_size", self.step_size, 1),
             gamma=_float("gamma", self.gamma))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return np.power(self.gamma, (t // self.step_size).astype(np.float64))


@dataclass(frozen=True)
class multistep(Schedule):
    """Decay at milestones: ``s(t) = gamma ** (number of milestones <= t)``, update t = 0, 1, ...

    ``milestones`` are strictly increasing update indices >= 0; equals torch's
    ``MultiStepLR(milestones, gamma)``.

    Example::

        s = multistep(milestones=[30, 80], gamma=0.1)
        s(29), s(30), s(80)          # 1.0, 0.1, 0.01 (up to rounding)
    """

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        milestones = tuple(_count("milestones", m, 0) for m in _sequence("milestones",
                                                                        self.milestones))
        if any(b <= a for a, b in _known_pairs(milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {list(milestones)}")
        _set(self, milestones=milestones, gamma=_float("gamma", self.gamma))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        passed = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return np.power(self.gamma, passed.astype(np.float64))

    def _end(self) -> int | None:
        return self.milestones[-1] if self.milestones else 0


@dataclass(frozen=True)
class exponential(Schedule):
    """Exponential decay ``s(t) = gamma ** t`` at update t = 0, 1, 2, ... (= torch's ExponentialLR).

    Example::

        s = exponential(gamma=0.5)
        s(0), s(1), s(3)             # 1.0, 0.5, 0.125
    """

    gamma: float

    def __post_init__(self) -> None:
        _set(self, gamma=_float("gamma", self.gamma))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return np.power(self.gamma, t.astype(np.float64))


@dataclass(frozen=True)
class polynomial(Schedule):
    """Polynomial decay to ``final`` at update t = 0, 1, 2, ...

    ``s(t) = final + (1 - final) * (1 - min(t, total_steps) / total_steps) ** power``, so
    ``s(total_steps) = final``. With ``final=0`` it equals torch's
    ``PolynomialLR(total_iters=total_steps, power)``.

    Example::

        s = polynomial(total_steps=4, power=2.0)
        s(0), s(2), s(4)             # 1.0, 0.25, 0.0
    """

    total_steps: int
    power: float = 1.0
    final: float = 0.0
    after: str = "hold"

    def __post_init__(self) -> None:
        _set(self, total_steps=_count("total_steps", self.total_steps, 1),
             power=_float("power", self.power), final=_float("final", self.final),
             after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = self.total_steps

        def formula(t: np.ndarray) -> np.ndarray:
            return self.final + (1.0 - self.final) * (1.0 - np.minimum(t, n) / n) ** self.power

        return _past_end(t, n, self.after, formula)

    def _end(self) -> int | None:
        return _hold_end(self.total_steps, self.after)


@dataclass(frozen=True)
class cosine(Schedule):
    """Cosine annealing from 1 to ``final`` over ``total_steps`` updates (t = 0, 1, 2, ...).

    ``s(t) = final + (1 - final) * (1 + cos(pi * min(t, total_steps) / total_steps)) / 2``
    (SGDR, Loshchilov & Hutter 2017, eq. 5, one cycle), so ``s(0) = 1`` and
    ``s(total_steps) = final``. Equals torch's ``CosineAnnealingLR(T_max=total_steps,
    eta_min=final * base_lr)`` in its closed form up to ``total_steps``; past it torch's cosine
    climbs back up, this one holds ``final`` (or cycles / raises, see ``after``).

    Example::

        s = cosine(total_steps=100, final=0.1)
        s(0), s(50), s(100), s(500)  # 1.0, 0.55, 0.1, 0.1
    """

    total_steps: int
    final: float = 0.0
    after: str = "hold"

    def __post_init__(self) -> None:
        _set(self, total_steps=_count("total_steps", self.total_steps, 1),
             final=_float("final", self.final), after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = self.total_steps

        def formula(t: np.ndarray) -> np.ndarray:
            return self.final + (1.0 - self.final) * (1 + np.cos(np.pi * np.minimum(t, n) / n)) / 2

        return _past_end(t, n, self.after, formula)

    def _end(self) -> int | None:
        return _hold_end(self.total_steps, self.after)


@dataclass(frozen=True)
class warm_restarts(Schedule):
    """SGDR: cosine annealing with warm restarts (Loshchilov & Hutter 2017, eq. 5), t = 0, 1, ...

    Cycle ``i`` lasts ``T_i = period * period_mult ** i`` updates and starts at
    ``S_i = T_0 + ... + T_{i-1}``; with ``T_cur = t - S_i`` for the cycle holding t,
    ``s(t) = final + (1 - final) * decay ** i * (1 + cos(pi * T_cur / T_i)) / 2``. A non-integer
    ``period_mult`` is allowed: cycles then start between updates and ``T_cur`` is fractional.
    ``decay`` scales each new cycle's height above ``final``, so every cycle still anneals down
    towards ``final`` (the paper's eta_max^i = final + (1 - final) * decay ** i). With an integer
    ``period_mult`` and ``decay=1`` it equals torch's ``CosineAnnealingWarmRestarts(T_0=period,
    T_mult=period_mult, eta_min=final * base_lr)``.

    Example::

        s = warm_restarts(period=10, period_mult=2.0)
        s(0), s(5), s(10), s(20)     # 1.0, 0.5, 1.0, 0.5
    """

    period: int
    period_mult: float = 1.0
    decay: float = 1.0
    final: float = 0.0

    def __post_init__(self) -> None:
        _set(self, period=_count("period", self.period, 1),
             period_mult=_float("period_mult", self.period_mult, 1.0),
             decay=_float("decay", self.decay), final=_float("final", self.final))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        p, m = float(self.period), self.period_mult
        if m == 1.0:
            cycle = (t // self.period).astype(np.float64)
            start = cycle * p
            length = np.full(t.shape, p)
        else:
            def cycle_start(i: np.ndarray) -> np.ndarray:
                return p * (m**i - 1.0) / (m - 1.0)

            # The log gives the cycle up to rounding; one correction each way makes it exact.
            cycle = np.floor(np.log1p(t * (m - 1.0) / p) / math.log(m))
            cycle -= cycle_start(cycle) > t
            cycle += cycle_start(cycle + 1.0) <= t
            start = cycle_start(cycle)
            length = p * m**cycle
        height = (1.0 - self.final) * np.power(self.decay, cycle)
        return self.final + height * (1 + np.cos(np.pi * (t - start) / length)) / 2


@dataclass(frozen=True)
class cyclic(Schedule):
    """Cyclical learning rates (CLR, Smith 2017) at update t = 0, 1, 2, ...

    Each cycle rises linearly from ``low`` (its start) to ``high`` in ``half_cycle`` updates, then
    falls back in ``half_cycle_down`` updates (default: ``half_cycle``). With
    ``L = half_cycle + half_cycle_down``, ``cycle = floor(1 + t / L)``, ``x = 1 + t / L - cycle``
    and ``scale = x / r`` if ``x <= r`` else ``(x - 1) / (r - 1)`` where ``r = half_cycle / L``:
    ``s(t) = low + (high - low) * scale * f`` with ``f = 1`` ("triangular"),
    ``1 / 2 ** (cycle - 1)`` ("triangular2") or ``gamma ** t`` ("exp_range"). Equals torch's
    ``CyclicLR(base_lr=low * base_lr, max_lr=high * base_lr, step_size_up=half_cycle, ...)``.
    ``high`` may be below ``low``; :meth:`momentum` uses that for the matching momentum.

    Example::

        s = cyclic(low=0.1, high=1.0, half_cycle=4)
        s(0), s(2), s(4), s(8)       # 0.1, 0.55, 1.0, 0.1
    """

    low: float
    high: float
    half_cycle: int
    mode: str = "triangular"
    gamma: float = 1.0
    half_cycle_down: int | None = None

    def __post_init__(self) -> None:
        _set(self, low=_float("low", self.low), high=_float("high", self.high),
             half_cycle=_count("half_cycle", self.half_cycle, 1),
             mode=_choice("mode", self.mode, ("triangular", "triangular2", "exp_range")),
             gamma=_float("gamma", self.gamma))
        if self.half_cycle_down is not None:
            _set(self, half_cycle_down=_count("half_cycle_down", self.half_cycle_down, 1))

    def momentum(self, high: float = 0.9, low: float = 0.8) -> cyclic:
        """The matching momentum (or Adam beta1) schedule, in absolute values, not multipliers.

        It is ``high`` where the lr is at ``low`` and dips to ``low`` where the lr peaks, as
        torch's ``CyclicLR(cycle_momentum=True, base_momentum=low, max_momentum=high)``.

        Example::

            lr = cyclic(low=0.1, high=1.0, half_cycle=4)
            m = lr.momentum(high=0.9, low=0.8)
            m(0), m(4)               # 0.9, 0.8
        """
        return dataclasses.replace(self, low=high, high=low)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        up = float(self.half_cycle)
        down = float(self.half_cycle if self.half_cycle_down is None else self.half_cycle_down)
        total = up + down
        ratio = up / total
        # Written as torch's CyclicLR writes it, so the two agree to the last bit of the scale.
        cycle = np.floor(1 + t / total)
        x = 1.0 + t / total - cycle
        scale = np.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
        if self.mode == "triangular":
            factor = np.ones(t.shape)
        elif self.mode == "triangular2":
            factor = np.power(0.5, cycle - 1)
        else:
            factor = np.power(self.gamma, t.astype(np.float64))
        return self.low + (self.high - self.low) * scale * factor


def _one_cycle_curve(t: np.ndarray, cycle: one_cycle,
                     levels: list[tuple[float, float]]) -> np.ndarray:
    """Anneal between ``levels[k] = (from, to)`` over the phases of ``cycle`` (torch's phases)."""
    n, p = cycle.total_steps, cycle.peak_at
    ends = [p * n - 1, n - 1.0]
    if cycle.three_phase:
        ends = [p * n - 1, 2 * p * n - 2, n - 1.0]
    starts = [0.0, *ends[:-1]]
    t = np.minimum(t, n - 1)
    phase = np.minimum(np.searchsorted(np.asarray(ends, dtype=np.float64), t, side="left"),
                       len(ends) - 1)
    begin = np.asarray(starts)[phase]
    pct = (t - begin) / (np.asarray(ends)[phase] - begin)
    a = np.asarray([level[0] for level in levels])[phase]
    b = np.asarray([level[1] for level in levels])[phase]
    if cycle.anneal == "cos":
        values = b + (a - b) / 2.0 * (np.cos(np.pi * pct) + 1)
    else:
        values = (b - a) * pct + a
    return values


@dataclass(frozen=True)
class one_cycle(Schedule):
    """The 1cycle policy (Smith 2018) over ``total_steps`` updates t = 0, 1, ..., total_steps - 1.

    Phase ends (torch's OneCycleLR): ``e1 = peak_at * total_steps - 1`` and
    ``e_last = total_steps - 1`` (three phases: ``e2 = 2 * peak_at * total_steps - 2`` between).
    Two phases anneal ``start -> 1`` on ``[0, e1]`` and ``1 -> final`` on ``[e1, e_last]``; three
    phases anneal ``start -> 1``, ``1 -> start``, ``start -> final``. Within a phase from ``a`` to
    ``b`` with progress ``pct``: ``"cos"`` gives ``b + (a - b) * (1 + cos(pi * pct)) / 2``,
    ``"linear"`` gives ``a + (b - a) * pct``. ``s(total_steps - 1) = final``. The base lr is the
    peak (torch's ``max_lr``); ``start = 1 / div_factor``, ``final = start / final_div_factor``.
    Equals ``OneCycleLR(max_lr=base_lr, total_steps, pct_start=peak_at, ...)`` for t <
    total_steps; torch extrapolates one step further and then raises, this holds ``final``.

    Example::

        s = one_cycle(total_steps=10, peak_at=0.3, start=0.1, final=0.001, anneal="linear")
        s(0), s(2), s(9)             # 0.1, 1.0, 0.001
        m = s.momentum()             # 0.95 -> 0.85 -> 0.95 (absolute)
    """

    total_steps: int
    peak_at: float = 0.3
    start: float = 1 / 25
    final: float = 1 / 25e4
    anneal: str = "cos"
    three_phase: bool = False
    after: str = "hold"

    def __post_init__(self) -> None:
        n = _count("total_steps", self.total_steps, 2)
        p = _float("peak_at", self.peak_at)
        if not 0.0 < p < 1.0:
            raise ValueError(f"peak_at must be in (0, 1), got {p}")
        if not isinstance(n, RunLength) and p * n - 1 <= 0:
            raise ValueError(f"peak_at * total_steps must be > 1 so the rise has a step, got "
                             f"peak_at={p}, total_steps={n}")
        if _bool("three_phase", self.three_phase) and not isinstance(n, RunLength) \
                and 2 * p * n - 2 >= n - 1:
            raise ValueError(f"peak_at must be < (total_steps + 1) / (2 * total_steps) with "
                             f"three_phase=True, got peak_at={p}, total_steps={n}")
        _set(self, total_steps=n, peak_at=p, start=_float("start", self.start),
             final=_float("final", self.final),
             anneal=_choice("anneal", self.anneal, ("cos", "linear")),
             three_phase=_bool("three_phase", self.three_phase),
             after=_choice("after", self.after, _AFTER))

    def momentum(self, high: float = 0.95, low: float = 0.85) -> one_cycle_momentum:
        """The matching momentum (or Adam beta1) schedule, as torch's ``cycle_momentum``.

        Absolute values: ``high`` at the start, ``low`` at the lr peak, back to ``high``
        (``max_momentum`` / ``base_momentum`` in torch).

        Example::

            m = one_cycle(total_steps=100).momentum(high=0.95, low=0.85)
            m(0), m(29), m(99)       # 0.95, 0.85, 0.95
        """
        return one_cycle_momentum(cycle=self, high=high, low=low)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        levels = [(self.start, 1.0), (1.0, self.start), (self.start, self.final)]
        if not self.three_phase:
            levels = [(self.start, 1.0), (1.0, self.final)]
        return _past_end(t, self.total_steps, self.after,
                         lambda t: _one_cycle_curve(t, self, levels))

    def _end(self) -> int | None:
        return _hold_end(self.total_steps - 1, self.after)


@dataclass(frozen=True)
class one_cycle_momentum(Schedule):
    """Momentum (or beta1) for a :class:`one_cycle`, in absolute values, at update t = 0, 1, ...

    Anneals ``high -> low -> high`` over the two phases of ``cycle`` (three phases:
    ``high -> low``, ``low -> high``, then ``high``), with its annealing and ``after``.

    Example::

        m = one_cycle_momentum(one_cycle(total_steps=100), high=0.95, low=0.85)
        m(0), m(29)                  # 0.95, 0.85
    """

    cycle: one_cycle
    high: float = 0.95
    low: float = 0.85

    def __post_init__(self) -> None:
        if not isinstance(self.cycle, one_cycle):
            steps = self.cycle if isinstance(self.cycle, numbers.Integral) \
                and not isinstance(self.cycle, bool) else "total_steps"
            hint = f"; for a one-cycle of {steps} updates write one_cycle({steps}).momentum()"
            raise ValueError(f"cycle must be a one_cycle schedule, got {self.cycle!r}{hint}")
        _set(self, high=_float("high", self.high), low=_float("low", self.low))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        levels = [(self.high, self.low), (self.low, self.high), (self.high, self.high)]
        return _past_end(t, self.cycle.total_steps, self.cycle.after,
                         lambda t: _one_cycle_curve(t, self.cycle, levels))

    def _end(self) -> int | None:
        return self.cycle._end()


@dataclass(frozen=True)
class wsd(Schedule):
    """Warmup-stable-decay (Hu et al. 2024, MiniCPM) at update t = 0, 1, 2, ...

    With ``W = warmup_steps``, ``D = decay_steps``, ``T = total_steps`` and
    ``p = (t - (T - D)) / D``: ``s(t) = (t + 1) / (W + 1)`` for ``t < W`` (no zero-lr step),
    ``1`` for ``W <= t < T - D``, and ``final + (1 - final) * f(p)`` for ``T - D <= t <= T`` with
    ``f(p) = 1 - p`` ("linear"), ``(1 + cos(pi p)) / 2`` ("cosine") or ``1 - sqrt(p)``
    ("1-sqrt", Hägele et al. 2024). ``s(T) = final``, as :class:`cosine`.

    Example::

        s = wsd(total_steps=10, warmup_steps=2, decay_steps=4, decay="linear")
        s(0), s(2), s(8), s(10)      # 1/3, 1.0, 0.5, 0.0
    """

    total_steps: int
    warmup_steps: int
    decay_steps: int
    decay: str = "1-sqrt"
    final: float = 0.0
    after: str = "hold"

    def __post_init__(self) -> None:
        n = _count("total_steps", self.total_steps, 1)
        w = _count("warmup_steps", self.warmup_steps, 0)
        d = _count("decay_steps", self.decay_steps, 1)
        if not any(isinstance(v, RunLength) for v in (n, w, d)) and w + d > n:
            raise ValueError(f"warmup_steps + decay_steps must be <= total_steps, got "
                             f"warmup_steps={w}, decay_steps={d}, total_steps={n}")
        _set(self, total_steps=n, warmup_steps=w, decay_steps=d,
             decay=_choice("decay", self.decay, ("linear", "cosine", "1-sqrt")),
             final=_float("final", self.final), after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n, w, d = self.total_steps, self.warmup_steps, self.decay_steps

        def formula(t: np.ndarray) -> np.ndarray:
            t = np.minimum(t, n)
            p = np.clip((t - (n - d)) / d, 0.0, 1.0)
            if self.decay == "linear":
                cooldown = 1.0 - p
            elif self.decay == "cosine":
                cooldown = (1 + np.cos(np.pi * p)) / 2
            else:
                cooldown = 1.0 - np.sqrt(p)
            decayed = self.final + (1.0 - self.final) * cooldown
            return np.where(t < w, (t + 1) / (w + 1), np.where(t < n - d, 1.0, decayed))

        return _past_end(t, n, self.after, formula)

    def _end(self) -> int | None:
        return _hold_end(self.total_steps, self.after)


@dataclass(frozen=True)
class inverse_sqrt(Schedule):
    """Inverse square root with linear warmup (Vaswani et al. 2017, eq. 3), t = 0, 1, 2, ...

    With the paper's step number ``n = t + 1``, normalised to peak 1:
    ``s(t) = min(n / warmup_steps, sqrt(warmup_steps / n))``. It rises ``1/W, 2/W, ...`` to
    ``s(W - 1) = 1`` and then decays as ``1 / sqrt(n)``; ``warmup_steps=1`` has no warmup.

    Example::

        s = inverse_sqrt(warmup_steps=4)
        s(0), s(3), s(15)            # 0.25, 1.0, 0.5
    """

    warmup_steps: int

    def __post_init__(self) -> None:
        _set(self, warmup_steps=_count("warmup_steps", self.warmup_steps, 1))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = t.astype(np.float64) + 1.0  # t + 1 in int64 would overflow at t = 2**63 - 1
        return np.minimum(n / self.warmup_steps, np.sqrt(self.warmup_steps / n))


@dataclass(frozen=True)
class warmup(Schedule):
    """Linear warmup for ``steps`` updates, then ``schedule``: before it (the default) or over
    its first updates (``prefix=False``).

    ``prefix=True`` (default): the warmup comes *before* ``schedule``, which then sees local
    time: ``s(t) = schedule(t - steps)`` from ``t = steps`` on, so the run lasts ``steps +
    schedule's length``. This is HF's ``get_cosine_schedule_with_warmup(num_warmup_steps=W,
    num_training_steps=T)`` when written ``warmup(cosine(T - W), steps=W)``, or, with the
    total ``T`` inside, ``warmup(cosine(rest()), steps=W)`` resolved by ``fit``.
    ``prefix=False``: the warmup *replaces* the first ``steps`` updates of ``schedule``, which
    sees the run's own time: ``s(t) = schedule(t)`` from ``t = steps`` on (timm's default,
    ``warmup_prefix=False``), so milestones keep their place (``warmup(step(epochs(2)),
    steps=10, prefix=False)`` drops at the epoch-2 boundary, not 10 updates after it).

    The ramp, for ``t < steps``, rises to ``peak = schedule(0)`` (``prefix=True``) or
    ``schedule(steps)`` (``prefix=False``, so the lr is continuous at ``steps``):
    ``s(t) = start + (peak - start) * t / steps``. By default (``start=None``) the ramp is
    ``peak * (t + 1) / (steps + 1)``: the same straight line, but the first update already gets
    ``peak / (steps + 1)`` rather than a wasted lr of 0. Pass ``start=0.0`` for the classic
    ``t / steps`` ramp (HF's). ``start`` is a multiplier of the base lr.

    Example::

        s = warmup(cosine(total_steps=9500), steps=500)
        s(0), s(499), s(500)         # 1/501, 500/501, 1.0
        warmup(cosine(10_000), steps=500, prefix=False)(500) == cosine(10_000)(500)   # True
    """

    schedule: Schedule
    steps: int
    start: float | None = None
    prefix: bool = True

    def __post_init__(self) -> None:
        _schedule("schedule", self.schedule)
        _set(self, steps=_count("steps", self.steps, 1), prefix=_bool("prefix", self.prefix))
        if self.start is not None:
            _set(self, start=_float("start", self.start))
        _nested(self)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        inside = t >= self.steps
        values = np.empty(t.shape)
        shift = self.steps if self.prefix else 0
        # one evaluation of the inner schedule (its peak and its values), so nesting is linear
        top = np.full(1, 0 if self.prefix else self.steps, dtype=t.dtype)
        inner = self.schedule._eval(np.concatenate([top, t[inside] - shift]))
        peak = inner[0]
        values[inside] = inner[1:]
        ramp = t[~inside].astype(np.float64)
        if self.start is None:
            values[~inside] = peak * (ramp + 1) / (self.steps + 1)
        else:
            values[~inside] = self.start + (peak - self.start) * ramp / self.steps
        return values

    def _end(self) -> int | None:
        end = self.schedule._end()
        if end is None:
            return None
        return self.steps + end if self.prefix else max(self.steps, end)


@dataclass(frozen=True)
class join(Schedule):
    """Schedules one after another, each seeing its own local time, at update t = 0, 1, 2, ...

    ``parts[0]`` runs for ``t < boundaries[0]``; ``parts[i]`` runs for
    ``boundaries[i-1] <= t < boundaries[i]`` as ``parts[i](t - boundaries[i-1])``; the last part
    runs from the last boundary on. ``boundaries`` are strictly increasing integers >= 1, one
    fewer than ``parts``. Joins nest (a part may be a join).

    Example::

        s = join([linear(0.1, 1.0, 9), cosine(90)], boundaries=[9])
        s(0), s(9), s(99)            # 0.1, 1.0, 0.0
    """

    parts: tuple[Schedule, ...]
    boundaries: tuple[int, ...]

    def __post_init__(self) -> None:
        parts = tuple(_schedule("parts", part) for part in _sequence("parts", self.parts))
        boundaries = tuple(_count("boundaries", b, 1)
                           for b in _sequence("boundaries", self.boundaries))
        if len(parts) != len(boundaries) + 1:
            raise ValueError(f"boundaries must have len(parts) - 1 = {len(parts) - 1} entries, "
                             f"got {len(boundaries)}")
        if any(b <= a for a, b in _known_pairs(boundaries)):
            raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")
        _set(self, parts=parts, boundaries=boundaries)
        _nested(self)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        offsets = np.asarray((0, *self.boundaries), dtype=np.int64)
        which = np.searchsorted(offsets, t, side="right") - 1
        values = np.empty(t.shape)
        for i, part in enumerate(self.parts):
            mine = which == i
            if mine.any():
                values[mine] = part._eval(t[mine] - offsets[i])
        return values

    def _end(self) -> int | None:
        end = self.parts[-1]._end()
        return None if end is None else (self.boundaries[-1] if self.boundaries else 0) + end


@dataclass(frozen=True)
class per_epoch(Schedule):
    """Hold ``schedule`` constant within each epoch: ``s(t) = schedule(t // steps_per_epoch)``.

    For t = 0, 1, 2, ... updates; ``schedule`` is then written in epochs, and the result equals a
    torch scheduler stepped once per epoch. For smooth per-update schedules with arguments given
    in epochs, convert the arguments instead: ``cosine(epochs(90, steps_per_epoch))``.

    Example::

        s = per_epoch(step(step_size=30, gamma=0.1), steps_per_epoch=100)
        s(2999), s(3000)             # 1.0, 0.1
    """

    schedule: Schedule
    steps_per_epoch: int

    def __post_init__(self) -> None:
        _schedule("schedule", self.schedule)
        _set(self, steps_per_epoch=_count("steps_per_epoch", self.steps_per_epoch, 1))
        _nested(self)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return self.schedule._eval(t // self.steps_per_epoch)

    def _end(self) -> int | None:
        end = self.schedule._end()
        return None if end is None else self.steps_per_epoch * end


@dataclass(frozen=True)
class plateau(Schedule):
    """Reduce on plateau, as a part of a schedule: a level that drops when a metric stalls.

    The multiplier is a level ``L`` that starts at ``start``. Each metric reported to the
    attached scheduler (:meth:`ScheduledLR.report`, e.g. once per epoch) while this part drives
    the next update is compared with the best so far; after more than ``patience`` reports
    without improvement, ``L <- max(L * factor, final)`` (applied only if it drops by more than
    ``eps``), then ``cooldown`` reports are ignored. Improvement (torch's rule): in ``mode="min"``
    ``metric < best * (1 - threshold)`` (``threshold_mode="rel"``) or ``metric < best -
    threshold`` (``"abs"``); ``"max"`` mirrors it. Alone it equals torch's
    ``ReduceLROnPlateau(mode, factor, patience, threshold, threshold_mode, cooldown,
    min_lr=final * base_lr, eps=eps * base_lr)``; inside :class:`join` it reads only the metrics
    reported while it runs, and its state is saved and restored with the scheduler's.

    Without a scheduler (``s(t)``, ``values``, plots) no metric is known: ``s(t) = start``, the
    curve of a run whose metric improves at every report.

    Example::

        sched = attach(opt, join([linear(0.1, 1.0, 500), plateau(patience=2, factor=0.5)], [500]))
        for epoch in range(epochs):
            train_one_epoch(...); sched.report(val_loss)    # lr halves after 3 stalled reports
    """

    patience: int = 10
    factor: float = 0.1
    threshold: float = 1e-4
    threshold_mode: str = "rel"
    mode: str = "min"
    cooldown: int = 0
    final: float = 0.0
    eps: float = 1e-8
    start: float = 1.0

    def __post_init__(self) -> None:
        factor = _float("factor", self.factor)
        if not factor < 1.0:
            raise ValueError(f"factor must be in [0, 1), got {factor}")
        _set(self, patience=_int("patience", self.patience, 0), factor=factor,
             threshold=_float("threshold", self.threshold),
             threshold_mode=_choice("threshold_mode", self.threshold_mode, ("rel", "abs")),
             mode=_choice("mode", self.mode, ("min", "max")),
             cooldown=_int("cooldown", self.cooldown, 0), final=_float("final", self.final),
             eps=_float("eps", self.eps), start=_float("start", self.start))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return np.full(t.shape, self.start)


class _PlateauState:
    """The counters of one :class:`plateau` part, updated by reports (torch's ReduceLROnPlateau)."""

    FIELDS = ("level", "best", "num_bad_epochs", "cooldown_counter", "reports")

    def __init__(self, part: plateau) -> None:
        self.part = part
        self.level = part.start
        self.best = math.inf if part.mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.reports = 0

    def _is_better(self, metric: float) -> bool:
        p = self.part
        if p.mode == "min":
            bar = self.best * (1.0 - p.threshold) if p.threshold_mode == "rel" else (
                self.best - p.threshold)
            return metric < bar
        bar = self.best * (p.threshold + 1.0) if p.threshold_mode == "rel" else (
            self.best + p.threshold)
        return metric > bar

    def report(self, metric: float) -> bool:
        """Count one report; True if the level dropped."""
        self.reports += 1
        if math.isfinite(metric) and self._is_better(metric):
            self.best, self.num_bad_epochs = metric, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        dropped = False
        if self.num_bad_epochs > self.part.patience:
            new = max(self.level * self.part.factor, self.part.final)
            if self.level - new > self.part.eps:
                self.level, dropped = new, True
            self.cooldown_counter, self.num_bad_epochs = self.part.cooldown, 0
        return dropped

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def load(self, data: Any, where: str) -> None:
        """Validate a :meth:`to_dict` output (naming ``where``) and take it."""
        if not isinstance(data, Mapping) or set(data) != set(self.FIELDS):
            raise ValueError(f"{where} must be a dict with keys {list(self.FIELDS)}, got {data!r}")
        level = _float(f"{where}['level']", data["level"])
        best = data["best"]
        if not _is_real(best) or math.isnan(best):
            raise ValueError(f"{where}['best'] must be a number, got {best!r}")
        counts = {name: _int(f"{where}[{name!r}]", data[name], 0)
                  for name in ("num_bad_epochs", "cooldown_counter", "reports")}
        self.level, self.best = level, float(best)
        for name, value in counts.items():
            setattr(self, name, value)


def _plateaus(schedule: Schedule, path: tuple = ()) -> list[tuple[tuple, plateau]]:
    """Every :class:`plateau` part of ``schedule``, each with its path (a tuple of places)."""
    if isinstance(schedule, plateau):
        return [(path, schedule)]
    return [found for place, child in _children(schedule)
            for found in _plateaus(child, (*path, place))]


def _active_plateaus(schedule: Schedule, t: float, path: tuple = ()) -> list[tuple]:
    """The paths of the plateau parts that drive update ``t`` (through joins and wrappers)."""
    if isinstance(schedule, plateau):
        return [path]
    if isinstance(schedule, join):
        offsets = (0, *schedule.boundaries)
        i = bisect.bisect_right(offsets, t) - 1
        return _active_plateaus(schedule.parts[i], t - offsets[i], (*path, ("parts", i)))
    if isinstance(schedule, warmup):
        if t < schedule.steps:
            return []
        local = t - schedule.steps if schedule.prefix else t
        return _active_plateaus(schedule.schedule, local, (*path, ("schedule", None)))
    if isinstance(schedule, per_epoch):
        return _active_plateaus(schedule.schedule, t // schedule.steps_per_epoch,
                                (*path, ("schedule", None)))
    if isinstance(schedule, extended):
        return _active_plateaus(schedule.schedule, float(schedule._time(np.array([t]))[0]),
                                (*path, ("schedule", None)))
    return []


def _with_levels(schedule: Schedule, levels: dict[tuple, float], path: tuple = ()) -> Schedule:
    """``schedule`` with each plateau part at ``levels[path]`` (its current level)."""
    if isinstance(schedule, plateau):
        return dataclasses.replace(schedule, start=levels[path])
    changes: dict[str, Any] = {}
    for (name, index), child in _children(schedule):
        new = _with_levels(child, levels, (*path, (name, index)))
        if index is None:
            changes[name] = new
        else:
            items = list(changes.get(name, getattr(schedule, name)))
            items[index] = new
            changes[name] = tuple(items)
    return dataclasses.replace(schedule, **changes) if changes else schedule


@dataclass(frozen=True)
class extended(Schedule):
    """A finite schedule re-timed after update ``at`` to end at ``total_steps``: a run that grows.

    With ``E = schedule``'s end (the update from which it holds its last value, e.g.
    ``cosine(n)``: n, ``one_cycle(n)``: n - 1) and ``a = at``:
    ``s(t) = schedule(t)`` for ``t < a`` and ``s(t) = schedule(a + (min(t, N) - a) * (E - a) /
    (N - a))`` for ``t >= a`` (``N = total_steps``). The part already run is unchanged, the lr is
    continuous at ``a`` (``s(a) = schedule(a)``), and the rest of the curve (decay, milestones,
    cooldown) is stretched, so it reaches the schedule's final value at ``N`` and holds it.
    ``N`` may also be smaller than ``E`` (a run cut short). Use it through
    :meth:`ScheduledLR.extend` when resuming a checkpoint with more total updates. For a
    :class:`wsd` still in its stable phase, ``dataclasses.replace(s, total_steps=N)`` is the
    other continuous choice: it keeps the cooldown's length and lengthens the stable phase.

    Example::

        s = extended(cosine(total_steps=100), at=60, total_steps=200)
        s(59) == cosine(100)(59), s(60) == cosine(100)(60)   # True, True
        s(130), s(200)                                       # cosine(100)(80), 0.0
    """

    schedule: Schedule
    at: int
    total_steps: int

    def __post_init__(self) -> None:
        _schedule("schedule", self.schedule)
        at = _int("at", self.at, 0)
        total = _int("total_steps", self.total_steps, 1)
        if total <= at:
            raise ValueError(f"total_steps must be > at, got total_steps={total}, at={at}")
        end = self.schedule._end()
        if end is None:
            raise ValueError(f"schedule has no end to re-time (it never settles on a last value): "
                             f"{self.schedule!r}")
        if end <= at:
            raise ValueError(f"at must be before the schedule's end ({end}), got at={at}: the "
                             f"schedule already holds its last value there")
        _set(self, at=at, total_steps=total)
        _nested(self)

    def _time(self, t: np.ndarray) -> np.ndarray:
        """The schedule's own time for update ``t``: ``t`` before ``at``, stretched after it."""
        a, n, end = self.at, self.total_steps, self.schedule._end()
        stretched = a + (np.minimum(t, n) - a) * float(end - a) / float(n - a)
        return np.where(t < a, t, stretched)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        before = t < self.at
        values = np.empty(t.shape)
        # each part is evaluated only when it has times: an empty call per level would make
        # extended(extended(...)) cost 2**depth calls
        if before.any():
            values[before] = self.schedule._eval(t[before])
        if not before.all():
            values[~before] = self.schedule._eval(self._time(t[~before].astype(np.float64)))
        return values

    def _end(self) -> int | None:
        return self.total_steps


def epochs(n: float, steps_per_epoch: int | None = None) -> Any:
    """Convert ``n`` epochs into a number of updates: ``n * steps_per_epoch`` (must be whole).

    Without ``steps_per_epoch``: a :class:`RunLength` that ``fit`` (or
    :meth:`Schedule.resolve`) converts with the run's own updates per epoch (per process,
    after accumulation), so it stays right under ``torchrun`` and with accumulation.

    Example::

        cosine(total_steps=epochs(90, steps_per_epoch=391))     # 35190 updates
        epochs(0.5, steps_per_epoch=100)                        # 50
        step(step_size=epochs(30))                              # resolved by fit
    """
    if steps_per_epoch is None:
        return RunLength("epochs", n)
    spe = _int("steps_per_epoch", steps_per_epoch, 1)
    count = _float("n (epochs)", n) * spe
    if abs(count - round(count)) > 1e-9 * max(1.0, count):
        raise ValueError(f"epochs * steps_per_epoch must be a whole number of updates, got "
                         f"epochs={n}, steps_per_epoch={spe}")
    return round(count)


# --- attaching a schedule to an optimizer ----------------------------------------------------

_CHUNK = 512
_AHEAD = 10**6  # finite schedules up to this length are range-checked whole when attached

# The valid values of the param-group keys lrnotes knows: (low, high, high included). Any other
# numeric key is only required to stay finite.
_RANGES: dict[str, tuple[float, float, bool]] = {
    "lr": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, False),
    "eps": (0.0, math.inf, False),
    "lr_decay": (0.0, math.inf, False),
    "trust_coefficient": (0.0, math.inf, False),
    "momentum": (0.0, 1.0, True),
    "dampening": (0.0, 1.0, True),
    "alpha": (0.0, 1.0, True),
    "rho": (0.0, 1.0, True),
    "betas": (0.0, 1.0, False),
}
_ANY = (-sys.float_info.max, sys.float_info.max, True)  # any other key: finite
# Keys whose schedules give the value itself (momentum's convention); the others multiply the
# group's own value at attach time.
_ABSOLUTE = ("momentum", "betas")


def _out_of_range(key: str, value: float) -> str | None:
    """Why ``value`` is not a valid ``group[key]``, or None if it is."""
    if not math.isfinite(value):
        return "it must be finite"
    low, high, closed = _RANGES.get(key, _ANY)
    if value < low or value > high or (value == high and not closed):
        return f"it must be in [{low}, {high}{']' if closed else ')'}"
    return None


def _place(key: str, index: int | None) -> str:
    return key if index is None else f"{key}[{index}]"


class _Lookup:
    """Values of a schedule around the current update, computed ``_CHUNK`` at a time."""

    def __init__(self, schedule: Schedule, label: str) -> None:
        self.schedule, self.label = schedule, label
        self.first = 0
        self.values: list[float] = []

    def __call__(self, t: int) -> float:
        i = t - self.first
        if not 0 <= i < len(self.values):
            self.first, i = t, 0
            times = np.arange(t, t + _CHUNK, dtype=np.int64)
            self.values = _evaluate(self.schedule, times).tolist()
        value = self.values[i]
        if not math.isfinite(value):
            try:
                _checked(self.schedule, np.array([t]), np.array([value]))
            except ValueError as error:
                raise ValueError(f"the {self.label} schedule at update t={t}: {error}") from None
        return value


class _Drive:
    """One scheduled param-group value, e.g. ``"lr"``, ``"weight_decay"``, ``"betas[1]"``.

    ``targets[i]`` is ``(key, index)`` in ``param_groups[i]`` (index: a tuple component);
    ``bases[i]`` the group's value at attach time, which the schedule multiplies, or ``bases``
    is None for absolute schedules (momentum, betas). ``states`` holds the plateau parts' state.
    """

    def __init__(self, label: str, schedule: Schedule, targets: list[tuple[str, int | None]],
                 bases: list[float] | None, states: dict[tuple, _PlateauState] | None = None):
        self.label, self.schedule, self.targets, self.bases = label, schedule, targets, bases
        self.ranges = [_RANGES.get(key, _ANY) for key, _ in targets]
        self.states = states if states is not None else {
            path: _PlateauState(part) for path, part in _plateaus(schedule)}
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the lookup from the plateau parts' current levels."""
        levels = {path: state.level for path, state in self.states.items()}
        self.effective = _with_levels(self.schedule, levels) if levels else self.schedule
        self.lookup = _Lookup(self.effective, self.label)

    def _fail(self, i: int, t: int, value: float, why: str) -> ValueError:
        key, index = self.targets[i]
        return ValueError(f"the {self.label} schedule {self.schedule!r} gives param_groups[{i}]"
                          f"[{_place(key, index)!r}] = {value!r} at update t={t}: {why}")

    def plan(self, t: int, groups: list[dict[str, Any]]) -> list[tuple[dict, str, Any, float]]:
        """The writes of update ``t``, checked against each key's range (nothing written)."""
        value = self.lookup(t)
        bases = self.bases
        writes = []
        for i, (low, high, closed) in enumerate(self.ranges):
            v = value if bases is None else bases[i] * value
            # NaN and +-inf fail both comparisons (high is inf only where it is excluded)
            if not (low <= v < high or (closed and v == high)):
                raise self._fail(i, t, v, _out_of_range(self.targets[i][0], v) or "")
            writes.append((groups[i], *self.targets[i], v))
        return writes

    def check_ahead(self, t: int) -> None:
        """Range-check a finite schedule's remaining values at once, so a bad one fails now."""
        end = self.effective._end()
        if end is None or end > _AHEAD or end < t:
            return
        times = np.arange(t, end + 1, dtype=np.int64)
        values = _evaluate(self.effective, times)
        kept = ~np.isnan(values)  # NaN marks an after="raise" end, not a value
        times, values = times[kept], values[kept]
        for i, (key, _) in enumerate(self.targets):
            scaled = values if self.bases is None else self.bases[i] * values
            low, high, closed = _RANGES.get(key, _ANY)
            bad = ~np.isfinite(scaled) | (scaled < low) | (scaled > high)
            if not closed:
                bad |= scaled == high
            if bad.any():
                j = np.flatnonzero(bad)[0]
                value = float(scaled[j])
                raise self._fail(i, int(times[j]), value, _out_of_range(key, value) or "")

    def to_dict(self) -> dict[str, Any]:
        return {"schedule": self.schedule.to_dict(),
                "bases": None if self.bases is None else list(self.bases)}

    def plateau_states(self) -> list[dict[str, Any]]:
        return [{"path": [list(place) for place in path], **state.to_dict()}
                for path, state in self.states.items()]


def _put(group: dict[str, Any], key: str, index: int | None, value: float) -> None:
    """Write ``value`` into ``group[key]`` (or its component): in place where it is a tensor."""
    current = group[key]
    if index is None:
        if isinstance(current, torch.Tensor):
            current.fill_(value)
        else:
            group[key] = value
        return
    if isinstance(current[index], torch.Tensor):
        current[index].fill_(value)
    else:
        items = list(current)
        items[index] = value
        group[key] = type(current)(items) if isinstance(current, (tuple, list)) else tuple(items)


def _number(where: str, value: Any) -> float:
    """A param group's current value as a float (a one-element float tensor is read once)."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.is_floating_point():
        return float(value)
    if not _is_real(value):
        raise TypeError(f"{where} is {type(value).__name__} {value!r}, not a number a schedule "
                        "can drive")
    return float(value)


def _parse(schedule: Any, momentum: Any) -> list[tuple[str, str, int | None, Schedule]]:
    """``attach``'s arguments as ``(label, key, index, schedule)``, the lr first."""
    if isinstance(schedule, Mapping):
        if momentum is not None:
            raise ValueError("momentum: give the momentum schedule in the dict (key 'momentum'), "
                             "not as well as a dict")
        items = dict(schedule)
    else:
        items = {"lr": _schedule("schedule", schedule)}
        if momentum is not None:
            items["momentum"] = _schedule("momentum", momentum)
    items = {"lr": items.pop("lr", constant(1.0)), **items}
    parsed = []
    for key, value in items.items():
        if not isinstance(key, str):
            raise TypeError(f"schedule: the dict's keys must be param-group keys (str), got "
                            f"{key!r}")
        if isinstance(value, (tuple, list)):
            if key in ("lr", "momentum"):
                raise TypeError(f"schedule[{key!r}] must be a Schedule, got {value!r}")
            for i, part in enumerate(value):
                if part is not None:
                    parsed.append((f"{key}[{i}]", key, i, _schedule(f"schedule[{key!r}][{i}]",
                                                                    part)))
        else:
            name = "schedule" if key == "lr" and not isinstance(schedule, Mapping) else (
                "momentum" if key == "momentum" and momentum is not None else f"schedule[{key!r}]")
            parsed.append((key, key, None, _schedule(name, value)))
    return parsed


def _drives(groups: list[dict[str, Any]], parsed: list[tuple[str, str, int | None, Schedule]]
            ) -> list[_Drive]:
    """Resolve each scheduled key in every param group and read its base value (validated)."""
    drives, claimed = [], {}
    for label, key, index, schedule in parsed:
        targets, bases = [], []
        for i, group in enumerate(groups):
            if key == "momentum":
                if "momentum" in group:
                    target = ("momentum", None)
                elif "betas" in group:
                    target = ("betas", 0)
                else:
                    raise ValueError(f"momentum: param_groups[{i}] has neither 'momentum' nor "
                                     "'betas'; pass momentum=None for this optimizer")
            else:
                if key not in group:
                    keys = sorted(k for k in group if k != "params")
                    raise ValueError(f"schedule[{key!r}]: param_groups[{i}] has no {key!r} "
                                     f"(it has {keys})")
                current = group[key]
                is_tuple = isinstance(current, (tuple, list))
                if index is None and is_tuple:
                    raise TypeError(f"schedule[{key!r}]: param_groups[{i}][{key!r}] is a "
                                    f"{len(current)}-tuple; give a tuple with a Schedule or None "
                                    "per component")
                if index is not None and (not is_tuple or index >= len(current)):
                    raise ValueError(f"schedule[{key!r}] has a component {index}, but "
                                     f"param_groups[{i}][{key!r}] is {current!r}")
                target = (key, index)
            other = claimed.setdefault((i, target), label)
            if other != label:
                raise ValueError(f"schedule: {label!r} and {other!r} both drive "
                                 f"param_groups[{i}][{_place(*target)!r}]")
            where = f"param_groups[{i}][{_place(*target)!r}]"
            value = _number(where, group[target[0]] if target[1] is None else
                            group[target[0]][target[1]])
            why = _out_of_range(target[0], value)
            if why is not None:
                raise ValueError(f"schedule[{key!r}]: {where} is {value!r}: {why}")
            targets.append(target)
            bases.append(value)
        drives.append(_Drive(label, schedule, targets,
                             None if key in _ABSOLUTE else bases))
    return drives


# optimizer -> the ScheduledLR that drives it (one at a time; see attach's ``replace``)
_DRIVERS: weakref.WeakKeyDictionary[Optimizer, weakref.ref] = weakref.WeakKeyDictionary()


def _driver(optimizer: Optimizer) -> ScheduledLR | None:
    ref = _DRIVERS.get(optimizer)
    scheduler = None if ref is None else ref()
    return None if scheduler is None or scheduler._detached else scheduler


def _nobody() -> None:
    return None


class _UpdateCounter:
    """The optimizer step hook that counts a :class:`ScheduledLR`'s updates.

    ``counts_updates_for()`` gives the scheduler (or None once it is gone), which lets
    ``lr_find`` set the hook aside for its trial updates. (An optimizer pickles and deep-copies
    without its hooks; :class:`ScheduledLR` registers a new counter on its copy.)
    """

    def __init__(self, scheduler: ScheduledLR | None) -> None:
        self.counts_updates_for = _nobody if scheduler is None else weakref.ref(scheduler)

    def __call__(self, opt: Optimizer, *_: Any) -> None:
        owner = self.counts_updates_for()
        # A fused optimizer under a GradScaler is called even when the scaler found an inf; it
        # skips the update itself and flags it in `found_inf` (read here, once).
        found_inf = getattr(opt, "found_inf", None)
        skipped = isinstance(found_inf, torch.Tensor) and bool(found_inf.item())
        if owner is not None and not skipped:
            owner._updates += 1


def _count_updates(scheduler: ScheduledLR, optimizer: Optimizer) -> Any:
    """Register the optimizer step hook that counts ``scheduler``'s updates; its handle."""
    return optimizer.register_step_post_hook(_UpdateCounter(scheduler))


class DetachedError(ValueError, RuntimeError):
    """A call that would write through a :class:`ScheduledLR` after :meth:`ScheduledLR.detach`
    (``step``, ``report``, ``extend``, ``load_state_dict``). A ``ValueError`` and, as before,
    a ``RuntimeError``."""


class ScheduledLR(LRScheduler):
    """A torch ``LRScheduler`` that runs :class:`Schedule` objects (use :func:`attach`).

    Update ``t`` (t = 0, 1, 2, ...) runs with ``group["lr"] = base_lr * schedule(t)`` for every
    param group, where ``base_lr`` is the group's ``"lr"`` when the scheduler was created (kept
    as a float of its own and written to ``group["initial_lr"]``; a stale ``initial_lr`` from an
    earlier scheduler is not read). Other param-group keys may be driven too (see :func:`attach`):
    multipliers of the group's own value, or absolute values for ``momentum`` and ``betas``.
    Every value is checked against its key's range before anything is written.

    ``count="updates"`` (default): ``t`` is the number of optimizer updates so far, counted with an
    ``optimizer.register_step_post_hook``; ``step()`` reads it. An update a ``GradScaler`` skipped
    never calls ``optimizer.step``, so it does not advance ``t``; call ``step()`` after every
    optimizer step call without special code, in any order, without warnings. (A fused optimizer,
    ``fused=True``, is called by the scaler even on a skipped update; then the scaler's
    ``found_inf`` flag is read, one device-to-host copy per update.) ``count="calls"``:
    ``t`` is the number of ``step()`` calls, for stepping with no optimizer (e.g. to draw the lr).

    ``state_dict()`` holds ``t``, the update count, the base values, every schedule and the state
    of its :class:`plateau` parts as plain data (loadable with ``torch.load(weights_only=True)``);
    ``load_state_dict`` checks all of it first, then restores it (the saved schedules replace the
    ones given here) and rewrites the values for ``t``. ``copy.deepcopy`` gives an independent
    scheduler driving the copied optimizer.

    Example::

        sched = ScheduledLR(optimizer, cosine(total_steps=1000))
        loss.backward(); optimizer.step(); sched.step()
        sched.last_epoch, sched.get_last_lr()      # 1, [base_lr * cosine(1000)(1)]
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule | Mapping[str, Any],
                 momentum: Schedule | None = None, *, count: str = "updates",
                 replace: bool = False) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                            f"{type(optimizer).__name__} {optimizer!r}")
        count = _choice("count", count, ("updates", "calls"))
        replace = _bool("replace", replace)
        drives = _drives(optimizer.param_groups, _parse(schedule, momentum))
        for drive in drives:
            if not _run_lengths(drive.schedule):  # else checked when resolved
                drive.check_ahead(0)
                drive.plan(0, optimizer.param_groups)
        current = _driver(optimizer)
        if current is not None and not replace:
            raise ValueError(f"optimizer is already driven by a ScheduledLR ({current!r}); two "
                             "would overwrite each other's values. Call its .detach() first, or "
                             "pass replace=True")
        # every check is done: from here on the optimizer changes
        if current is not None:
            current.detach()
        self._drives = drives
        self.count = count
        self._updates = 0
        self._detached = False
        self._hook = _count_updates(self, optimizer) if count == "updates" else None
        self._finalizer = weakref.finalize(self, self._hook.remove) if self._hook else None
        super().__init__(optimizer)
        self.base_lrs = list(drives[0].bases)
        for group, base in zip(optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        _DRIVERS[optimizer] = weakref.ref(self)

    # -- what it drives --

    @property
    def schedule(self) -> Schedule:
        """The lr schedule (multipliers of each group's base lr)."""
        return self._drives[0].schedule

    @property
    def momentum(self) -> Schedule | None:
        """The momentum / beta1 schedule (absolute values), or None."""
        return self.schedules.get("momentum")

    @property
    def schedules(self) -> dict[str, Schedule]:
        """Every driven value's schedule, by label: ``"lr"``, ``"weight_decay"``, ``"betas[1]"``."""
        return {drive.label: drive.schedule for drive in self._drives}

    @property
    def unresolved(self) -> bool:
        """True while a schedule has lengths relative to the run (:class:`RunLength`): the
        lrs are left as they are and ``step()`` raises until :meth:`resolve` (``fit`` calls it)."""
        return any(_run_lengths(drive.schedule) for drive in self._drives)

    def resolved(self, total_steps: int, steps_per_epoch: int | None = None
                 ) -> dict[str, Schedule]:
        """Every driven value's schedule resolved for a run of ``total_steps`` updates
        (:meth:`Schedule.resolve`); nothing changes.

        Example::

            sched = attach(opt, warmup(cosine(rest()), steps=of_run(0.05)))
            sched.resolved(1000)["lr"]                  # warmup(cosine(950), steps=50)
        """
        return {drive.label: drive.schedule.resolve(total_steps, steps_per_epoch)
                for drive in self._drives}

    def resolve(self, total_steps: int, steps_per_epoch: int | None = None) -> None:
        """Resolve the run lengths of every schedule for a run of ``total_steps`` updates
        (``steps_per_epoch`` per epoch, for :func:`epochs` lengths) and write the values of
        the current update. ``fit`` calls it with the run's own per-process update count;
        call it yourself in a loop of your own.

        Example::

            sched = attach(opt, warmup(cosine(rest()), steps=of_run(0.05)))
            sched.resolve(total_steps=epochs * len(loader))
        """
        self._switch(self.resolved(total_steps, steps_per_epoch))

    def _switch(self, schedules: Mapping[str, Schedule]) -> None:
        """Drive every value with ``schedules[label]`` from the current update on (same base
        values); everything is checked before anything is written."""
        t = self.last_epoch
        drives = []
        for drive in self._drives:
            new = schedules[drive.label]
            same = new == drive.schedule
            drives.append(drive if same else _Drive(drive.label, new, drive.targets,
                                                    drive.bases))
        self._install(drives, t)

    def rebase(self, factor: float) -> None:
        """Multiply every group's base lr by ``factor`` (> 0) and rewrite the lr of the current
        update: the schedule's shape and the ratios between groups stay. See
        :meth:`lrnotes.finder.LRFindResult.apply`.

        Example::

            sched.rebase(2.0)          # the whole schedule at twice the lr
        """
        factor = _float("factor", factor)
        if not factor > 0:
            raise ValueError(f"factor must be > 0, got {factor}")
        lr = self._drives[0]
        new = _Drive(lr.label, lr.schedule, lr.targets, [b * factor for b in lr.bases],
                     lr.states)
        writes = [] if self.unresolved else new.plan(self.last_epoch, self.optimizer.param_groups)
        self._drives[0] = new
        self.base_lrs = list(new.bases)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
            if not writes:  # unresolved: the lr stays the base lr until resolved
                _put(group, "lr", None, base)
        if writes:
            self._write(writes)

    @property
    def reads_metric(self) -> bool:
        """True if a :class:`plateau` part waits for :meth:`report`."""
        return any(drive.states for drive in self._drives)

    # -- stepping --

    def step(self, epoch: int | None = None) -> None:
        """Move to the current update (``count="updates"``) or to the next one (``"calls"``)."""
        if epoch is not None:
            raise ValueError("epoch must be None: ScheduledLR counts optimizer updates itself")
        self._check_attached("step")
        if self.unresolved:
            if self._step_count == 0:  # LRScheduler.__init__'s first step: the lrs stay
                self._step_count, self.last_epoch = 1, 0
                self._last_lr = [g["lr"] for g in self.optimizer.param_groups]
                return
            raise _unresolved_error(self.schedule)
        t = self._updates if self.count == "updates" else self.last_epoch + 1
        writes = self._plan(t)  # checked before anything changes
        self._step_count += 1
        self.last_epoch = t
        self._write(writes)

    def _check_attached(self, what: str) -> None:
        """Refuse a call that would write to the optimizer once this scheduler is detached."""
        if self._detached:
            raise DetachedError(f"{what}: this ScheduledLR was detached from its optimizer "
                                "(another may drive it now); attach a new one")

    def get_lr(self) -> list[float | torch.Tensor]:
        """The lrs of update ``last_epoch``: ``base_lr * schedule(last_epoch)`` per group."""
        lr = self._drives[0]
        multiplier = lr.lookup(self.last_epoch)
        return [base_lr * multiplier for base_lr in lr.bases]

    def _plan(self, t: int) -> list[tuple[dict, str, Any, float]]:
        groups = self.optimizer.param_groups
        if len(groups) != len(self._drives[0].targets):
            raise ValueError(f"optimizer has {len(groups)} param groups, but the scheduler was "
                             f"attached to {len(self._drives[0].targets)}; attach after adding "
                             "param groups")
        return [write for drive in self._drives for write in drive.plan(t, groups)]

    def _install(self, drives: list[_Drive], t: int) -> None:
        """Check the new drives at ``t`` and ahead, then make them current and write update
        ``t``'s values (nothing changes if a check fails)."""
        for drive in drives:
            drive.check_ahead(t)
        writes = [write for drive in drives
                  for write in drive.plan(t, self.optimizer.param_groups)]
        self._drives = drives
        self._write(writes)

    def _write(self, writes: list[tuple[dict, str, Any, float]]) -> None:
        for group, key, index, value in writes:
            _put(group, key, index, value)
        self._last_lr = [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
                         for g in self.optimizer.param_groups]

    def report(self, metric: float | torch.Tensor) -> None:
        """Report a metric (e.g. the validation loss, once per epoch) to the plateau parts.

        Only the :class:`plateau` parts that drive the next update (``t = last_epoch``) count
        it; a reduction is written at once, as torch's ``ReduceLROnPlateau.step(metric)`` does.
        A tensor metric is read once (one device-to-host copy per report). A bool is refused. A
        non-finite metric (NaN, an infinity) counts as a report without improvement: it never
        becomes the best, so a run whose loss diverges has its lr reduced after ``patience``
        such reports, and one ``-inf`` cannot block every later improvement.

        Example::

            sched = attach(opt, join([warmup(constant(1.0), 100), plateau(patience=3)], [100]))
            sched.report(val_loss)
        """
        self._check_attached("report")
        if not self.reads_metric:
            raise ValueError(f"report: no plateau part in {self.schedules}; nothing reads a metric")
        if isinstance(metric, torch.Tensor) and metric.numel() == 1 and metric.dtype != torch.bool:
            value = float(metric)
        elif _is_real(metric):
            value = float(metric)
        else:
            raise TypeError(f"metric must be a number or a one-element tensor (not a bool), got "
                            f"{type(metric).__name__} {metric!r}")
        t = self.last_epoch
        self._plan(t)  # the param groups still fit: checked before any plateau state moves
        dropped = [drive for drive in self._drives
                   if any([drive.states[path].report(value)
                           for path in _active_plateaus(drive.schedule, t)])]
        for drive in dropped:
            drive.refresh()
        if dropped:
            self._write(self._plan(t))

    def extend(self, total_steps: int) -> None:
        """Grow (or shrink) the run from the current update: every schedule ends at ``total_steps``.

        Each schedule that has not ended yet becomes ``extended(schedule, at=t, total_steps)``
        with ``t = last_epoch`` (see :class:`extended`): the values up to now are unchanged,
        the lr is continuous, and the rest of each curve is stretched to end at
        ``total_steps``. The new schedules are what :meth:`state_dict` saves from then on.

        Example::

            sched.load_state_dict(checkpoint["scheduler"])     # a cosine(10_000) run at t=6000
            sched.extend(total_steps=20_000)                  # same lr now, decays until 20_000
        """
        self._check_attached("extend")
        t = self.last_epoch
        n = _int("total_steps", total_steps, t + 1)
        if self.unresolved:
            raise _unresolved_error(self.schedule)
        end = self.schedule._end()
        if end is None or end <= t:
            state = "has no end" if end is None else f"ended at update {end}"
            raise ValueError(f"total_steps: the lr schedule {self.schedule!r} {state}, so there is "
                             f"nothing to re-time at t={t}; join a new schedule instead")
        drives = []
        for drive in self._drives:
            end = drive.schedule._end()
            if end is None or end <= t:
                drives.append(drive)
                continue
            states = {(("schedule", None), *path): state for path, state in drive.states.items()}
            drives.append(_Drive(drive.label, extended(drive.schedule, t, n), drive.targets,
                                 drive.bases, states))
        self._install(drives, t)

    def detach(self) -> None:
        """Stop driving the optimizer (its update counter is removed); ``step()`` then raises.

        The optimizer keeps its current values; another schedule may then be attached.

        Example::

            sched.detach()
            sched = attach(optimizer, constant(1.0))     # base lr: the lr at this moment
        """
        if self._hook is not None:
            self._hook.remove()
            self._finalizer.detach()
        self._detached = True

    # -- saving and copying --

    def state_dict(self) -> dict[str, Any]:
        """``t`` (``last_epoch``), the update count, base values, schedules, plateau states."""
        momentum = self.momentum
        return {
            "last_epoch": self.last_epoch,
            "updates": self._updates,
            "step_count": self._step_count,
            "base_lrs": list(self._drives[0].bases),
            "count": self.count,
            "schedule": self.schedule.to_dict(),
            "momentum": None if momentum is None else momentum.to_dict(),
            "params": {drive.label: drive.to_dict() for drive in self._drives[1:]
                       if drive.label != "momentum"},
            "plateaus": {drive.label: drive.plateau_states() for drive in self._drives
                         if drive.states},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check :meth:`state_dict`'s output against this scheduler, then restore it.

        Nothing changes unless all of it is valid: the count mode, the number of param groups,
        the driven keys, every schedule, base value and plateau state, and the values of ``t``
        (see :meth:`check_state_dict`).
        """
        self._check_attached("load_state_dict")
        drives, last_epoch, updates, step_count, writes = self._loaded(state_dict)
        self._drives = drives
        self.last_epoch, self._updates, self._step_count = last_epoch, updates, step_count
        self.base_lrs = list(drives[0].bases)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["initial_lr"] = base
        self._write(writes)

    def check_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Raise the ValueError/TypeError :meth:`load_state_dict` would raise; change nothing.

        For a checkpoint that verifies every object it will load into before touching any.

        Example::

            sched.check_state_dict(checkpoint["scheduler"])   # raises naming what is wrong
        """
        self._loaded(state_dict)

    def _loaded(self, state_dict: dict[str, Any]) -> tuple[list[_Drive], int, int, int, list]:
        """Everything ``state_dict`` restores, validated, without changing anything."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a dict from ScheduledLR.state_dict(), got "
                            f"{type(state_dict).__name__}")
        required = ("last_epoch", "updates", "step_count", "base_lrs", "count", "schedule",
                    "momentum")
        missing = [key for key in required if key not in state_dict]
        if missing:
            raise ValueError(f"state_dict lacks {missing}: not a ScheduledLR.state_dict()")
        count = state_dict["count"]
        if count not in ("updates", "calls"):
            raise ValueError(f"state_dict['count'] must be 'updates' or 'calls', got {count!r}")
        if count != self.count:
            raise ValueError(f"state_dict['count'] is {count!r} but this scheduler counts "
                             f"{self.count!r}; attach with count={count!r} to load it")
        last_epoch = _int("state_dict['last_epoch']", state_dict["last_epoch"], 0)
        updates = _int("state_dict['updates']", state_dict["updates"], 0)
        step_count = _int("state_dict['step_count']", state_dict["step_count"], 0)
        groups = self.optimizer.param_groups

        def schedule(where: str, data: Any) -> Schedule:
            try:
                return Schedule.from_dict(data)
            except (TypeError, ValueError) as error:
                raise ValueError(f"state_dict{where}: {error}") from None

        def bases(where: str, values: Any, key: str) -> list[float]:
            if not isinstance(values, (list, tuple)) or len(values) != len(groups):
                raise ValueError(f"state_dict{where} must hold one value per param group "
                                 f"({len(groups)}), got {values!r}")
            found = [_float(f"state_dict{where}[{i}]", v, -math.inf) for i, v in enumerate(values)]
            for i, v in enumerate(found):
                why = _out_of_range(key, v)
                if why is not None:
                    raise ValueError(f"state_dict{where}[{i}] = {v!r}: {why}")
            return found

        saved = {"lr": (schedule("['schedule']", state_dict["schedule"]),
                        bases("['base_lrs']", state_dict["base_lrs"], "lr"))}
        if state_dict["momentum"] is not None:
            saved["momentum"] = (schedule("['momentum']", state_dict["momentum"]), None)
        params = state_dict.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError(f"state_dict['params'] must be a dict, got {params!r}")
        current = {drive.label: drive for drive in self._drives}
        for label, entry in params.items():
            if not isinstance(entry, Mapping) or set(entry) != {"schedule", "bases"}:
                raise ValueError(f"state_dict['params'][{label!r}] must be a dict with "
                                 f"'schedule' and 'bases', got {entry!r}")
            key = current[label].targets[0][0] if label in current else label
            saved[label] = (schedule(f"['params'][{label!r}]['schedule']", entry["schedule"]),
                            None if entry["bases"] is None else
                            bases(f"['params'][{label!r}]['bases']", entry["bases"], key))
        if set(saved) != set(current):
            raise ValueError(f"state_dict drives {sorted(saved)} but this scheduler drives "
                             f"{sorted(current)}; attach the same keys to load it")
        plateaus = state_dict.get("plateaus", {})
        if not isinstance(plateaus, Mapping) or not set(plateaus) <= set(saved):
            raise ValueError(f"state_dict['plateaus'] must map driven keys to plateau states, "
                             f"got {plateaus!r}")
        drives = []
        for label, old in current.items():
            sched, base = saved[label]
            if (base is None) != (old.bases is None):
                raise ValueError(f"state_dict: {label!r} is saved as "
                                 f"{'absolute values' if base is None else 'multipliers'}, "
                                 "which this scheduler does not drive that way")
            drive = _Drive(label, sched, old.targets, base)
            found = plateaus.get(label, [])
            paths = [[list(place) for place in path] for path in drive.states]
            if not isinstance(found, list) or [
                    item.get("path") if isinstance(item, Mapping) else None
                    for item in found] != paths:
                raise ValueError(f"state_dict['plateaus'][{label!r}] must hold the states of the "
                                 f"plateau parts at {paths}, got {found!r}")
            for (path, state), item in zip(drive.states.items(), found, strict=True):
                state.load({k: v for k, v in item.items() if k != "path"},
                           f"state_dict['plateaus'][{label!r}][{list(drive.states).index(path)}]")
            drive.refresh()
            drives.append(drive)
        order = [drive.label for drive in self._drives]
        drives.sort(key=lambda drive: order.index(drive.label))
        writes = [write for drive in drives for write in drive.plan(last_epoch, groups)]
        return drives, last_epoch, updates, step_count, writes

    def __deepcopy__(self, memo: dict[int, Any]) -> ScheduledLR:
        """An independent scheduler on the copied optimizer, with its own update counter."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key not in ("_hook", "_finalizer"):
                new.__dict__[key] = copy.deepcopy(value, memo)
        if new.optimizer is self.optimizer and not self._detached:
            raise ValueError("copy.deepcopy: the copy would drive the same optimizer as this "
                             "scheduler; copy the optimizer with it (or detach() this one)")
        hooks = new.optimizer._optimizer_step_post_hooks
        for key in [k for k, hook in hooks.items() if isinstance(hook, _UpdateCounter)
                    and hook.counts_updates_for() in (self, new, None)]:
            del hooks[key]
        new._hook = new._finalizer = None
        if not new._detached:
            if new.count == "updates":
                new._hook = _count_updates(new, new.optimizer)
                new._finalizer = weakref.finalize(new, new._hook.remove)
            _DRIVERS[new.optimizer] = weakref.ref(new)
        return new

    def __getstate__(self) -> dict[str, Any]:
        """Pickling, as torch's schedulers pickle: everything but the step hook's handle and
        its finalizer (a pickled optimizer has no hooks; :meth:`__setstate__` registers the
        update counter on the unpickled one)."""
        return {key: value for key, value in self.__dict__.items()
                if key not in ("_hook", "_finalizer")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._hook = self._finalizer = None
        if not self._detached:
            if self.count == "updates":
                self._hook = _count_updates(self, self.optimizer)
                self._finalizer = weakref.finalize(self, self._hook.remove)
            _DRIVERS[self.optimizer] = weakref.ref(self)

    def __repr__(self) -> str:
        return f"ScheduledLR({self.schedules}, t={getattr(self, 'last_epoch', None)})"


def attach(optimizer: Optimizer, schedule: Schedule | Mapping[str, Any],
           momentum: Schedule | None = None, *, count: str = "updates",
           replace: bool = False) -> ScheduledLR:
    """Drive ``optimizer``'s lrs (and any other numeric param-group value) with schedules.

    Update ``t`` (t = 0, 1, 2, ...) runs with ``lr = base_lr * schedule(t)`` per param group, the
    base lr being each group's own lr at attach time (never ``optimizer.defaults``, never a stale
    ``initial_lr``). ``momentum`` is an absolute momentum / beta1 schedule (e.g.
    ``one_cycle(...).momentum()``). ``schedule`` may instead be a dict from param-group keys to
    schedules: ``{"lr": s1, "weight_decay": s2, "betas": (s3, None), "trust_coefficient": s4}``.
    For every key but ``momentum`` and ``betas``, ``group[key] = value_at_attach * s(t)`` (a
    multiplier of the group's own value, so per-group values keep their ratios); ``momentum``
    and ``betas`` schedules give the value itself, ``group[key] = s(t)``. A tuple-valued key takes
    a tuple with a schedule or None (left alone) per component. Values are range-checked per key
    (lr, weight_decay, eps >= 0; momentum in [0, 1]; betas in [0, 1); any key finite) before
    anything is written; finite schedules are checked whole when attached. Tensor values are
    written in place (``fill_``), so a compiled optimizer step does not recompile.

    A schedule with lengths relative to the run (:func:`of_run`, :func:`rest`, :func:`epochs`
    without ``steps_per_epoch``) leaves the lrs as they are until :meth:`ScheduledLR.resolve`
    (``lrnotes.fit`` calls it with the run's updates per process); ``step()`` refuses before.

    One scheduler drives an optimizer at a time: attaching a second raises, unless
    ``replace=True`` (the first is detached). See :class:`ScheduledLR` for ``count``,
    :meth:`ScheduledLR.report` for :class:`plateau` parts, :meth:`ScheduledLR.extend` to grow a
    run, and resuming.

    Example::

        sched = attach(optimizer, warmup(cosine(total_steps=9500), steps=500))
        for x, y in loader:
            loss_fn(model(x), y).backward(); optimizer.step(); optimizer.zero_grad(); sched.step()
        sched = attach(adamw, {"lr": cosine(1000), "weight_decay": linear(1.0, 0.1, 1000),
                               "betas": (None, constant(0.95))}, replace=True)
    """
    return ScheduledLR(optimizer, schedule, momentum, count=count, replace=replace)
