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
each epoch, as torch's per-epoch stepping does.

Example::

    sched = attach(optimizer, warmup(cosine(total_steps=9500), steps=500))
    for batch in loader:
        ...; optimizer.step(); sched.step()
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import operator
import weakref
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
    "epochs",
    "attach",
    "ScheduledLR",
]

_AFTER = ("hold", "cycle", "raise")


# --- argument checks -------------------------------------------------------------------------


def _int(name: str, value: Any, minimum: int) -> int:
    """``value`` as a Python int >= ``minimum``, or a ValueError naming ``name``."""
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {number}")
    return number


def _float(name: str, value: Any, minimum: float = 0.0) -> float:
    """``value`` as a finite Python float >= ``minimum``, or a ValueError naming ``name``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}") from None
    if not math.isfinite(number) or number < minimum:
        raise ValueError(f"{name} must be a finite number >= {minimum}, got {value!r}")
    return number


def _choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _set(obj: Any, **values: Any) -> None:
    """Store normalised field values on a frozen dataclass (only from ``__post_init__``)."""
    for name, value in values.items():
        object.__setattr__(obj, name, value)


def _schedule(name: str, value: Any) -> Schedule:
    if not isinstance(value, Schedule):
        raise ValueError(f"{name} must be a Schedule, got {value!r}")
    return value


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
        Schedule._registry[cls.__name__] = cls

    def __call__(self, t: int) -> float:
        """The multiplier for optimizer update ``t`` (an integer >= 0)."""
        times = np.array([_int("t", t, 0)], dtype=np.int64)
        return float(_checked(self, times, self._eval(times))[0])

    def values(self, n: int) -> np.ndarray:
        """The multipliers for updates ``t = 0, 1, ..., n - 1`` as a float64 array."""
        times = np.arange(_int("n", n, 0), dtype=np.int64)
        return _checked(self, times, self._eval(times))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        """Multipliers at the int64 times ``t >= 0``; NaN where ``after="raise"`` is exceeded."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """This schedule as plain data: ``{"schedule": name, "args": {...}}``, nested for parts."""
        return {
            "schedule": type(self).__name__,
            "args": {f.name: _to_data(getattr(self, f.name)) for f in dataclasses.fields(self)},
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Schedule:
        """Rebuild a schedule from :meth:`to_dict`'s output (validating it like the constructor)."""
        name = data.get("schedule") if isinstance(data, dict) else None
        if name not in Schedule._registry:
            raise ValueError(f"data must come from Schedule.to_dict(); unknown schedule {name!r}")
        args = {key: _from_data(value) for key, value in data["args"].items()}
        return Schedule._registry[name](**args)


def _to_data(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_to_data(item) for item in value]
    return value


def _from_data(value: Any) -> Any:
    if isinstance(value, dict):
        return Schedule.from_dict(value)
    if isinstance(value, list):
        return tuple(_from_data(item) for item in value)
    return value


def _checked(schedule: Schedule, t: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Raise where an ``after="raise"`` schedule was evaluated past its end (marked NaN)."""
    if np.isnan(values).any():
        first = int(t[np.flatnonzero(np.isnan(values))[0]])
        raise ValueError(f"t={first} is past the end of a part built with after='raise' in "
                         f"{schedule!r}")
    return values


def _past_end(t: np.ndarray, length: int, after: str, formula: Any) -> np.ndarray:
    """Apply a finite schedule's ``after`` policy to ``formula``, which holds past ``length``."""
    if after == "cycle":
        return formula(t % length)
    values = formula(t)
    if after == "raise":
        values = np.where(t >= length, np.nan, values)
    return values


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


@dataclass(frozen=True)
class linear(Schedule):
    """Linear ramp ``s(t) = start + (end - start) * min(t, steps) / steps`` at update t = 0, 1, ...

    ``s(0) = start`` drives the first update and ``s(steps) = end``; it equals torch's
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
             steps=_int("steps", self.steps, 1), after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        def formula(t: np.ndarray) -> np.ndarray:
            return self.start + (self.end - self.start) * np.minimum(t, self.steps) / self.steps

        return _past_end(t, self.steps, self.after, formula)


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
        _set(self, step_size=_int("step_size", self.step_size, 1),
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
        if isinstance(self.milestones, (str, bytes)) or not hasattr(self.milestones, "__iter__"):
            raise ValueError(f"milestones must be a sequence of integers, got {self.milestones!r}")
        milestones = tuple(_int("milestones", m, 0) for m in self.milestones)
        if any(b <= a for a, b in itertools.pairwise(milestones)):
            raise ValueError(f"milestones must be strictly increasing, got {list(milestones)}")
        _set(self, milestones=milestones, gamma=_float("gamma", self.gamma))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        passed = np.searchsorted(np.asarray(self.milestones, dtype=np.int64), t, side="right")
        return np.power(self.gamma, passed.astype(np.float64))


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
        _set(self, total_steps=_int("total_steps", self.total_steps, 1),
             power=_float("power", self.power), final=_float("final", self.final),
             after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = self.total_steps

        def formula(t: np.ndarray) -> np.ndarray:
            return self.final + (1.0 - self.final) * (1.0 - np.minimum(t, n) / n) ** self.power

        return _past_end(t, n, self.after, formula)


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
        _set(self, total_steps=_int("total_steps", self.total_steps, 1),
             final=_float("final", self.final), after=_choice("after", self.after, _AFTER))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = self.total_steps

        def formula(t: np.ndarray) -> np.ndarray:
            return self.final + (1.0 - self.final) * (1 + np.cos(np.pi * np.minimum(t, n) / n)) / 2

        return _past_end(t, n, self.after, formula)


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
        _set(self, period=_int("period", self.period, 1),
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
             half_cycle=_int("half_cycle", self.half_cycle, 1),
             mode=_choice("mode", self.mode, ("triangular", "triangular2", "exp_range")),
             gamma=_float("gamma", self.gamma))
        if self.half_cycle_down is not None:
            _set(self, half_cycle_down=_int("half_cycle_down", self.half_cycle_down, 1))

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
        n = _int("total_steps", self.total_steps, 2)
        p = _float("peak_at", self.peak_at)
        if not 0.0 < p < 1.0:
            raise ValueError(f"peak_at must be in (0, 1), got {p}")
        if p * n - 1 <= 0:
            raise ValueError(f"peak_at * total_steps must be > 1 so the rise has a step, got "
                             f"peak_at={p}, total_steps={n}")
        if self.three_phase and 2 * p * n - 2 >= n - 1:
            raise ValueError(f"peak_at must be < (total_steps + 1) / (2 * total_steps) with "
                             f"three_phase=True, got peak_at={p}, total_steps={n}")
        _set(self, total_steps=n, peak_at=p, start=_float("start", self.start),
             final=_float("final", self.final),
             anneal=_choice("anneal", self.anneal, ("cos", "linear")),
             three_phase=bool(self.three_phase), after=_choice("after", self.after, _AFTER))

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
            raise ValueError(f"cycle must be a one_cycle schedule, got {self.cycle!r}")
        _set(self, high=_float("high", self.high), low=_float("low", self.low))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        levels = [(self.high, self.low), (self.low, self.high), (self.high, self.high)]
        return _past_end(t, self.cycle.total_steps, self.cycle.after,
                         lambda t: _one_cycle_curve(t, self.cycle, levels))


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
        n = _int("total_steps", self.total_steps, 1)
        w = _int("warmup_steps", self.warmup_steps, 0)
        d = _int("decay_steps", self.decay_steps, 1)
        if w + d > n:
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
        _set(self, warmup_steps=_int("warmup_steps", self.warmup_steps, 1))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        n = (t + 1).astype(np.float64)
        return np.minimum(n / self.warmup_steps, np.sqrt(self.warmup_steps / n))


@dataclass(frozen=True)
class warmup(Schedule):
    """Linear warmup for ``steps`` updates before ``schedule``, which then sees local time.

    With ``peak = schedule(0)``: ``s(t) = start + (peak - start) * t / steps`` for ``t < steps``
    and ``s(t) = schedule(t - steps)`` from ``t = steps`` on (t = 0, 1, 2, ...). By default
    (``start=None``) the ramp is ``peak * (t + 1) / (steps + 1)``: the same straight line, but
    the first update already gets ``peak / (steps + 1)`` rather than a wasted lr of 0. Pass
    ``start=0.0`` for the classic ``t / steps`` ramp. ``start`` is a multiplier of the base lr.

    Example::

        s = warmup(cosine(total_steps=9500), steps=500)
        s(0), s(499), s(500)         # 1/501, 500/501, 1.0
    """

    schedule: Schedule
    steps: int
    start: float | None = None

    def __post_init__(self) -> None:
        _schedule("schedule", self.schedule)
        _set(self, steps=_int("steps", self.steps, 1))
        if self.start is not None:
            _set(self, start=_float("start", self.start))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        inside = t >= self.steps
        values = np.empty(t.shape)
        values[inside] = self.schedule._eval(t[inside] - self.steps)
        peak = self.schedule._eval(np.zeros(1, dtype=np.int64))[0]
        ramp = t[~inside].astype(np.float64)
        if self.start is None:
            values[~inside] = peak * (ramp + 1) / (self.steps + 1)
        else:
            values[~inside] = self.start + (peak - self.start) * ramp / self.steps
        return values


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
        parts = tuple(_schedule("parts", part) for part in self.parts)
        boundaries = tuple(_int("boundaries", b, 1) for b in self.boundaries)
        if len(parts) != len(boundaries) + 1:
            raise ValueError(f"boundaries must have len(parts) - 1 = {len(parts) - 1} entries, "
                             f"got {len(boundaries)}")
        if any(b <= a for a, b in itertools.pairwise(boundaries)):
            raise ValueError(f"boundaries must be strictly increasing, got {list(boundaries)}")
        _set(self, parts=parts, boundaries=boundaries)

    def _eval(self, t: np.ndarray) -> np.ndarray:
        offsets = np.asarray((0, *self.boundaries), dtype=np.int64)
        which = np.searchsorted(offsets, t, side="right") - 1
        values = np.empty(t.shape)
        for i, part in enumerate(self.parts):
            mine = which == i
            if mine.any():
                values[mine] = part._eval(t[mine] - offsets[i])
        return values


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
        _set(self, steps_per_epoch=_int("steps_per_epoch", self.steps_per_epoch, 1))

    def _eval(self, t: np.ndarray) -> np.ndarray:
        return self.schedule._eval(t // self.steps_per_epoch)


def epochs(n: float, steps_per_epoch: int) -> int:
    """Convert ``n`` epochs into a number of updates: ``n * steps_per_epoch`` (must be whole).

    Example::

        cosine(total_steps=epochs(90, steps_per_epoch=391))     # 35190 updates
        epochs(0.5, steps_per_epoch=100)                        # 50
    """
    spe = _int("steps_per_epoch", steps_per_epoch, 1)
    count = _float("n (epochs)", n) * spe
    if abs(count - round(count)) > 1e-9 * max(1.0, count):
        raise ValueError(f"epochs * steps_per_epoch must be a whole number of updates, got "
                         f"epochs={n}, steps_per_epoch={spe}")
    return round(count)


# --- attaching a schedule to an optimizer ----------------------------------------------------

_CHUNK = 512


class _Lookup:
    """Values of a schedule around the current update, computed ``_CHUNK`` at a time."""

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self.first = 0
        self.values: list[float] = []

    def __call__(self, t: int) -> float:
        i = t - self.first
        if not 0 <= i < len(self.values):
            self.first, i = t, 0
            self.values = self.schedule._eval(np.arange(t, t + _CHUNK, dtype=np.int64)).tolist()
        value = self.values[i]
        if value != value:
            self.schedule(t)  # raises the ValueError that explains the after="raise" end
        return value


class ScheduledLR(LRScheduler):
    """A torch ``LRScheduler`` that runs a :class:`Schedule` (use :func:`attach` to build one).

    Update ``t`` (t = 0, 1, 2, ...) runs with ``group["lr"] = base_lr * schedule(t)`` for every
    param group, where ``base_lr`` is the group's ``"initial_lr"`` (set from its ``"lr"`` when the
    scheduler is created, as torch does). With a ``momentum`` schedule (absolute values) it also
    writes ``group["momentum"]`` (SGD, RMSprop) or ``group["betas"][0]`` (Adam-like).

    ``count="updates"`` (default): ``t`` is the number of optimizer updates so far, counted with an
    ``optimizer.register_step_post_hook``; ``step()`` reads it. An update a ``GradScaler`` skipped
    never calls ``optimizer.step``, so it does not advance ``t``; call ``step()`` after every
    optimizer step call without special code, in any order, without warnings. (A fused optimizer,
    ``fused=True``, is called by the scaler even on a skipped update; then the scaler's
    ``found_inf`` flag is read, one device-to-host copy per update.) ``count="calls"``:
    ``t`` is the number of ``step()`` calls, for stepping with no optimizer (e.g. to draw the lr).

    ``state_dict()`` holds ``t``, the update count, the base lrs and both schedules as plain data
    (loadable with ``torch.load(weights_only=True)``); ``load_state_dict`` restores them, so the
    saved schedule replaces the one given here, and rewrites the lrs for ``t``.

    Example::

        sched = ScheduledLR(optimizer, cosine(total_steps=1000))
        loss.backward(); optimizer.step(); sched.step()
        sched.last_epoch, sched.get_last_lr()      # 1, [base_lr * cosine(1000)(1)]
    """

    def __init__(self, optimizer: Optimizer, schedule: Schedule,
                 momentum: Schedule | None = None, *, count: str = "updates") -> None:
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
        self.schedule = _schedule("schedule", schedule)
        self.momentum = None if momentum is None else _schedule("momentum", momentum)
        self.count = _choice("count", count, ("updates", "calls"))
        if momentum is not None:
            for i, group in enumerate(optimizer.param_groups):
                if "momentum" not in group and "betas" not in group:
                    raise ValueError(f"momentum: param_groups[{i}] has neither 'momentum' nor "
                                     "'betas'; pass momentum=None for this optimizer")
        self._updates = 0
        self._lr_at = _Lookup(self.schedule)
        self._momentum_at = None if self.momentum is None else _Lookup(self.momentum)
        if self.count == "updates":
            this = weakref.ref(self)

            def count_update(opt: Optimizer, *_: Any) -> None:
                scheduler = this()
                # A fused optimizer under a GradScaler is called even when the scaler found an
                # inf; it skips the update itself and flags it in `found_inf` (read here, once).
                found_inf = getattr(opt, "found_inf", None)
                skipped = isinstance(found_inf, torch.Tensor) and bool(found_inf.item())
                if scheduler is not None and not skipped:
                    scheduler._updates += 1

            count_update.counts_updates_for = this  # lets lr_find set it aside for its trials
            self._hook = optimizer.register_step_post_hook(count_update)
        super().__init__(optimizer)

    def step(self, epoch: int | None = None) -> None:
        """Move to the current update (``count="updates"``) or to the next one (``"calls"``)."""
        if epoch is not None:
            raise ValueError("epoch must be None: ScheduledLR counts optimizer updates itself")
        self._step_count += 1
        self.last_epoch = self._updates if self.count == "updates" else self.last_epoch + 1
        self._apply()

    def get_lr(self) -> list[float | torch.Tensor]:
        """The lrs of update ``last_epoch``: ``base_lr * schedule(last_epoch)`` per group."""
        multiplier = self._lr_at(self.last_epoch)
        return [base_lr * multiplier for base_lr in self.base_lrs]

    def _apply(self) -> None:
        groups = self.optimizer.param_groups
        for group, lr in zip(groups, self.get_lr(), strict=True):
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
        if self._momentum_at is not None:
            value = self._momentum_at(self.last_epoch)
            for group in self.optimizer.param_groups:
                if "betas" in group:
                    betas = group["betas"]
                    if isinstance(betas[0], torch.Tensor):
                        betas[0].fill_(value)
                    else:
                        group["betas"] = (value, *betas[1:])
                elif isinstance(group["momentum"], torch.Tensor):
                    group["momentum"].fill_(value)
                else:
                    group["momentum"] = value
        self._last_lr = [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"]
                         for g in groups]

    def state_dict(self) -> dict[str, Any]:
        """``t`` (``last_epoch``), the update count, base lrs and schedules, as plain data."""
        return {
            "last_epoch": self.last_epoch,
            "updates": self._updates,
            "step_count": self._step_count,
            "base_lrs": list(self.base_lrs),
            "count": self.count,
            "schedule": self.schedule.to_dict(),
            "momentum": None if self.momentum is None else self.momentum.to_dict(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and write the lrs (and momentum) of its ``t``."""
        self.schedule = Schedule.from_dict(state_dict["schedule"])
        momentum = state_dict["momentum"]
        self.momentum = None if momentum is None else Schedule.from_dict(momentum)
        self._lr_at = _Lookup(self.schedule)
        self._momentum_at = None if self.momentum is None else _Lookup(self.momentum)
        self.count = state_dict["count"]
        self.last_epoch = state_dict["last_epoch"]
        self._updates = state_dict["updates"]
        self._step_count = state_dict["step_count"]
        self.base_lrs = list(state_dict["base_lrs"])
        self._apply()


def attach(optimizer: Optimizer, schedule: Schedule, momentum: Schedule | None = None, *,
           count: str = "updates") -> ScheduledLR:
    """Drive ``optimizer``'s lrs (and momentum) with ``schedule``: a torch ``LRScheduler``.

    Update ``t`` (t = 0, 1, 2, ...) runs with ``lr = base_lr * schedule(t)`` per param group, the
    base lr being each group's own lr at attach time (never ``optimizer.defaults``). ``momentum``
    is an absolute momentum / beta1 schedule (e.g. ``one_cycle(...).momentum()``). See
    :class:`ScheduledLR` for ``count`` and resuming.

    Example::

        sched = attach(optimizer, warmup(cosine(total_steps=9500), steps=500))
        for x, y in loader:
            loss_fn(model(x), y).backward(); optimizer.step(); optimizer.zero_grad(); sched.step()
    """
    return ScheduledLR(optimizer, schedule, momentum, count=count)
