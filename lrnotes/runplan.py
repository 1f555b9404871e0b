"""What the learning rate of a run will be, decided before its first update: how ``fit``
steps the scheduler, the run lengths of its schedules, and what it says or refuses.

``fit`` knows, before it starts, how many optimizer updates its run makes per process
(``updates_per_epoch = ceil(batches per epoch / accumulation_steps)``, the batches of this
process's share of the data under ``torchrun``; ``T = epochs * updates_per_epoch``).
:func:`plan` uses that count to

- choose the unit in which a scheduler is stepped (the table in :func:`stepping`), or
  refuse, naming ``step_scheduler``, where lrnotes cannot know what was meant;
- resolve an lrnotes schedule's lengths given relative to the run
  (:func:`lrnotes.schedules.of_run`, :func:`~lrnotes.schedules.rest`,
  :func:`~lrnotes.schedules.epochs`) against ``T``;
- warn (:class:`ScheduleLengthWarning`) when a schedule ends before the run's last update
  and then holds a decayed value, or ends after the run (the decay never happens), naming
  both lengths.

:func:`check_resume` compares a checkpoint's schedule with the one passed to ``fit``
before anything is restored. Nothing here changes a model, an optimizer or a scheduler
except :func:`apply`, which ``fit`` calls after every check.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch.optim import lr_scheduler as L

from lrnotes.schedules import (
    Schedule,
    ScheduledLR,
    cosine,
    extended,
    join,
    linear,
    one_cycle,
    per_epoch,
    polynomial,
    warmup,
    wsd,
)

STEP_SCHEDULER = ("auto", "batch", "epoch")
RESCHEDULE = (None, "extend", "replace")

# torch schedulers whose length says the unit they are stepped in: (class, attribute)
_LENGTHS = ((L.OneCycleLR, "total_steps"), (L.CosineAnnealingLR, "T_max"),
            (L.LinearLR, "total_iters"), (L.ConstantLR, "total_iters"),
            (L.PolynomialLR, "total_iters"), (L.CosineAnnealingWarmRestarts, "T_0"))
_PER_EPOCH = (L.StepLR, L.MultiStepLR, L.ExponentialLR)  # torch's documented idiom
_PER_UPDATE = (L.CyclicLR,)
# counters, caches and running state in a torch scheduler's state_dict: not its settings
_COUNTERS = {"last_epoch", "_step_count", "_last_lr", "_get_lr_called_within_step",
             "_is_initial", "verbose", "base_lrs", "_initial_step", "T_cur", "T_i", "best",
             "num_bad_epochs", "cooldown_counter"}


class ScheduleLengthWarning(UserWarning):
    """A schedule ends before the run's last update and then holds a decayed value, or
    ends after the run so its decay never happens. The message names both lengths."""


class CompletedRunWarning(UserWarning):
    """``fit(resume=...)`` found a checkpoint that already holds every epoch of the run:
    the model, optimizer and scheduler are restored and nothing is trained."""


@dataclass
class Plan:
    """What :func:`plan` decided: ``stepping`` is ``"batch"`` (after every update),
    ``"epoch"``, ``"plateau"`` (per epoch with the metric) or None (no scheduler);
    ``schedules`` the resolved schedules of a :class:`ScheduledLR` (None otherwise);
    ``warnings`` the messages to give before training; ``total`` the run's length in the
    stepping unit (None when unknown)."""

    stepping: str | None
    schedules: dict[str, Schedule] | None = None
    warnings: list[str] = field(default_factory=list)
    total: int | None = None
    updates_per_epoch: int | None = None


def updates_per_epoch(batches: int | None, accumulation_steps: int) -> int | None:
    """Optimizer updates in one epoch of ``batches`` batches: ``ceil(batches / k)`` (a short
    last group is an update of its own); None for a loader without ``len()``."""
    return None if batches is None else -(-batches // accumulation_steps)


def stepping(scheduler: Any, step_scheduler: str, per_epoch_updates: int | None,
             epochs: int) -> str | None:
    """The unit ``fit`` steps ``scheduler`` in, or a ValueError naming what to pass.

    =========================================  ============================================
    scheduler                                  ``step_scheduler="auto"`` (the default)
    =========================================  ============================================
    ``ReduceLROnPlateau``                      per epoch, with the validation loss (the
                                               training loss without ``val_loader``)
    lrnotes ``ScheduledLR`` (``S.attach``)     per update (its schedule counts updates)
    ``CyclicLR``                               per update
    ``OneCycleLR``                             per update, unless ``total_steps`` equals
                                               ``epochs`` (then per epoch)
    ``CosineAnnealingLR`` (``T_max``),         in the unit its length equals: the run's
    ``LinearLR``, ``ConstantLR``,              ``epochs`` or its updates; refused when it
    ``PolynomialLR`` (``total_iters``),        equals neither (with one update per epoch
    ``CosineAnnealingWarmRestarts`` (``T_0``)  the two units are the same)
    ``StepLR``, ``MultiStepLR``,               per epoch (torch's documented idiom)
    ``ExponentialLR``
    ``LambdaLR``, ``MultiplicativeLR``,        refused: pass ``step_scheduler`` (a lambda
    ``SequentialLR``, ``ChainedScheduler``,    does not say its unit)
    any other scheduler
    =========================================  ============================================

    ``"batch"`` or ``"epoch"`` steps any torch scheduler so (``ReduceLROnPlateau`` is always
    per epoch). A ``ScheduledLR`` counting updates (``attach``'s default) is refused with
    ``"epoch"``: it would still read the update count, so ``cosine(4)`` would end inside
    the first epoch; give its lengths with ``S.epochs(n)``, or hold it per epoch with
    ``S.per_epoch(s, S.epochs(1))``, or attach it with ``count="calls"`` to count epochs.
    """
    if step_scheduler not in STEP_SCHEDULER:
        raise ValueError(f"step_scheduler must be one of {STEP_SCHEDULER}, got "
                         f"{step_scheduler!r}")
    if scheduler is None:
        return None
    if isinstance(scheduler, L.ReduceLROnPlateau):
        return "plateau"
    name = type(scheduler).__name__
    if isinstance(scheduler, ScheduledLR):
        if step_scheduler == "epoch" and scheduler.count == "updates":
            raise ValueError(
                "step_scheduler='epoch' with a ScheduledLR that counts optimizer updates "
                "(attach's count='updates'): its schedule is in updates whenever it is "
                "stepped, so e.g. S.cosine(4) would end inside the first epoch. Pass "
                "step_scheduler='auto' and give lengths in epochs with S.epochs(n) (or "
                "S.per_epoch(schedule, S.epochs(1)) to hold the lr within each epoch), or "
                "attach with count='calls' for a schedule counted in epochs")
        return "epoch" if step_scheduler == "epoch" else "batch"
    if step_scheduler != "auto":
        return step_scheduler
    if isinstance(scheduler, _PER_UPDATE):
        return "batch"
    if isinstance(scheduler, _PER_EPOCH):
        return "epoch"
    length = _torch_length(scheduler)
    if length is None:
        raise ValueError(
            f"scheduler: lrnotes cannot tell whether {name} is meant to be stepped per "
            "update or per epoch (its code does not say, and both idioms exist); pass "
            "step_scheduler='batch' (after every optimizer update) or 'epoch'")
    attribute, value = length
    total = None if per_epoch_updates is None else epochs * per_epoch_updates
    # both can hold only with one update per epoch, where the two units are the same
    if value == epochs:
        return "epoch"
    if value == total or isinstance(scheduler, L.OneCycleLR):
        return "batch"
    updates = "an unknown number of" if total is None else str(total)
    raise ValueError(
        f"scheduler: {name}({attribute}={value}) equals neither the run's {epochs} epochs "
        f"nor its {updates} optimizer updates per process, so lrnotes cannot tell which "
        f"unit it counts; pass step_scheduler='epoch' or 'batch'")


def _steps_taken(scheduler: Any) -> int:
    """How many times a torch scheduler has been stepped since it was made."""
    return max(0, int(getattr(scheduler, "last_epoch", 0)))


def _torch_length(scheduler: Any) -> tuple[str, int] | None:
    for cls, attribute in _LENGTHS:
        if isinstance(scheduler, cls):
            return attribute, int(getattr(scheduler, attribute))
    return None


def check_reschedule(reschedule: Any) -> None:
    """``fit``'s ``reschedule`` argument: None, ``"extend"`` or ``"replace"``."""
    if reschedule not in RESCHEDULE:
        raise ValueError(f"reschedule must be one of {RESCHEDULE}, got {reschedule!r}")


def plan(scheduler: Any, step_scheduler: str, per_epoch_updates: int | None,
         epochs: int) -> Plan:
    """Decide the stepping, resolve the schedules and collect the warnings; change nothing.

    Raises ValueError (naming what to pass) where the run would otherwise proceed on an lr
    nobody asked for: an ambiguous stepping unit (:func:`stepping`), run lengths that cannot
    be resolved (a loader without ``len()``, a warmup longer than the run), a torch
    ``OneCycleLR`` shorter than the run (torch would raise in the middle of it).

    Example::

        p = plan(sched, "auto", updates_per_epoch(len(loader), 1), epochs=10)
        p.stepping, p.warnings
    """
    unit = stepping(scheduler, step_scheduler, per_epoch_updates, epochs)
    if unit is None or unit == "plateau":
        return Plan(unit, updates_per_epoch=per_epoch_updates)
    if unit == "epoch":
        total, spe = epochs, 1
    else:
        total = None if per_epoch_updates is None else epochs * per_epoch_updates
        spe = per_epoch_updates
    result = Plan(unit, total=total, updates_per_epoch=per_epoch_updates)
    where = "epochs" if unit == "epoch" else "updates"
    if isinstance(scheduler, ScheduledLR):
        if scheduler.unresolved and total is None:
            raise ValueError(
                f"scheduler: {scheduler.schedule!r} has lengths relative to the run, but "
                "train_loader has no len(), so fit cannot count the run's updates; give the "
                "lengths in updates, or use a loader with a len()")
        result.schedules = {label: schedule.resolve(total, spe) if total is not None
                            else schedule for label, schedule in scheduler.schedules.items()}
        if total is not None:
            message = _schedule_length(result.schedules["lr"], scheduler.last_epoch, total,
                                       where)
            if message:
                result.warnings.append(message)
    elif total is not None:
        # steps an earlier fit call already took count against the scheduler's length
        message = _torch_schedule_length(scheduler, total + _steps_taken(scheduler), where)
        if message:
            result.warnings.append(message)
    return result


def _length_end(schedule: Schedule) -> int | None:
    """The update where ``schedule`` ends, if a part with a length (an anneal) ends it."""
    if isinstance(schedule, (linear, polynomial, cosine, one_cycle, wsd, extended)):
        return schedule._end()
    if isinstance(schedule, warmup):
        end = _length_end(schedule.schedule)
        if end is None:
            return None
        return schedule.steps + end if schedule.prefix else max(schedule.steps, end)
    if isinstance(schedule, join):
        end = _length_end(schedule.parts[-1])
        return None if end is None else (schedule.boundaries[-1] if schedule.boundaries
                                         else 0) + end
    if isinstance(schedule, per_epoch):
        end = _length_end(schedule.schedule)
        return None if end is None else end * schedule.steps_per_epoch
    return None


_PEEK = 10**6  # longest schedule whose peak is read to tell a decay from a ramp


def _schedule_length(schedule: Schedule, start: int, total: int, where: str) -> str | None:
    """The warning for an lrnotes schedule at ``t = start`` whose length does not fit the
    ``total`` steps of this run (``start > 0``: a scheduler already stepped by an earlier
    call), or None."""
    last = start + total  # the schedule's t once this run is done
    run = (f"the run's {total} {where}" if start == 0 else
           f"this run's end at {where[:-1]} {last} (it starts at {start})")
    end = schedule._end()
    if end is not None and end > last:
        return (f"the lr schedule {schedule!r} ends at {where[:-1]} {end}, after {run}: it "
                f"never reaches its final value (at the last {where[:-1]} it is at "
                f"{schedule(last - 1):.3g} x the base lr); make it {last} {where} long "
                "(S.rest() or S.of_run(...) resolve against the run), or train longer")
    end = _length_end(schedule)
    if end is None or last - end <= 1 or end > _PEEK:
        return None
    final, peak = schedule(end), float(np.max(schedule.values(end + 1)))
    if not final < peak * (1 - 1e-9):
        return None  # a ramp that holds its top (a warmup alone) is not a decay cut short
    held = min(last - end, total)
    return (f"the lr schedule {schedule!r} ends at {where[:-1]} {end}, before {run}: the "
            f"last {held} {where} hold {final:.3g} x the base lr; make it {last} {where} long "
            "(S.rest() or S.of_run(...) resolve against the run), or pass fewer epochs")


def _torch_schedule_length(scheduler: Any, total: int, where: str) -> str | None:
    """The warning for a torch scheduler whose length does not fit ``total`` steps (each
    step one ``where``), or None; a OneCycleLR too short for the run is refused."""
    name = type(scheduler).__name__
    if isinstance(scheduler, L.OneCycleLR):
        if scheduler.total_steps < total:
            raise ValueError(
                f"scheduler: OneCycleLR(total_steps={scheduler.total_steps}) is stepped "
                f"{total} times in this run (once per {where[:-1]}) and torch raises past "
                f"its total_steps; create it with total_steps={total}")
        length, holds = scheduler.total_steps, False
    elif isinstance(scheduler, L.CosineAnnealingLR):
        length, holds = scheduler.T_max, True
    elif isinstance(scheduler, L.PolynomialLR):
        length, holds = scheduler.total_iters, True
    elif isinstance(scheduler, L.LinearLR):
        length, holds = scheduler.total_iters, scheduler.end_factor < scheduler.start_factor
    elif isinstance(scheduler, L.ConstantLR):
        length, holds = scheduler.total_iters, False
    elif isinstance(scheduler, L.StepLR):
        length, holds = scheduler.step_size, False
        if length >= total:
            return (f"StepLR(step_size={length}) never decays in a run of {total} {where} "
                    "stepped once per " + where[:-1])
        return None
    elif isinstance(scheduler, L.MultiStepLR):
        late = sorted(m for m in scheduler.milestones if m >= total)
        if late:
            return (f"MultiStepLR milestones {late} lie past the run's {total} {where}: those "
                    "decays never happen")
        return None
    else:
        return None
    if length > total:
        return (f"{name} has a length of {length} {where}, longer than the run's {total} "
                f"{where}: its decay is cut off before the end")
    if holds and length < total:
        after = ("climbs back up (torch's cosine is periodic)"
                 if isinstance(scheduler, L.CosineAnnealingLR) else "holds its final value")
        return (f"{name} has a length of {length} {where}, shorter than the run's {total} "
                f"{where}: for the last {total - length} {where} it {after}")
    return None


def _saved_schedules(saved: Mapping[str, Any]) -> dict[str, Schedule]:
    found = {"lr": Schedule.from_dict(saved["schedule"])}
    if saved.get("momentum") is not None:
        found["momentum"] = Schedule.from_dict(saved["momentum"])
    for label, entry in (saved.get("params") or {}).items():
        found[label] = Schedule.from_dict(entry["schedule"])
    return found


def _settings(value: Any) -> Any:
    """A torch scheduler's state without its counters (nested ones too: SequentialLR)."""
    if isinstance(value, Mapping):
        return {k: _settings(v) for k, v in value.items() if k not in _COUNTERS}
    if isinstance(value, (list, tuple)):
        return [_settings(v) for v in value]
    return value


def check_resume(state: Mapping[str, Any], path: Any, scheduler: Any, planned: Plan,
                 reschedule: str | None, epochs: int) -> None:
    """Before anything is restored: a checkpoint whose schedule differs from the one passed
    is refused unless ``reschedule`` says what to do, and a ``reschedule`` that cannot be
    done is refused; a finished checkpoint gives a :class:`CompletedRunWarning`.

    ``reschedule="extend"`` re-times the saved schedule to end at this run's last update
    (:meth:`ScheduledLR.extend`: the lr continuous); ``"replace"`` continues on the passed
    schedule from the saved update (the lr moves to the new schedule's value there).
    """
    check_reschedule(reschedule)
    if state["epoch"] >= epochs and state["batch"] == 0:
        warnings.warn(f"{path}: the checkpoint already holds all {epochs} epochs of this run, "
                      "so nothing is trained (the model, optimizer and scheduler are restored); "
                      "pass a larger epochs to train on", CompletedRunWarning, stacklevel=4)
    saved = state["scheduler"]
    if scheduler is None or saved is None:
        return
    if not isinstance(scheduler, ScheduledLR):
        if reschedule is not None:
            raise ValueError(f"reschedule={reschedule!r} needs an lrnotes ScheduledLR "
                             f"(S.attach); {type(scheduler).__name__} cannot be re-timed")
        own = scheduler.state_dict()
        changed = sorted(k for k in own if k not in _COUNTERS and k in saved
                         and repr(_settings(own[k])) != repr(_settings(saved[k])))
        if changed:
            values = ", ".join(f"{k}: {saved[k]!r} -> {own[k]!r}" for k in changed)
            raise ValueError(f"{path}: the checkpoint's {type(scheduler).__name__} was made "
                             f"with other settings ({values}); fit does not replace them "
                             "silently: resume with the checkpoint's settings, or use an "
                             "lrnotes schedule (S.attach) and fit(reschedule='extend')")
        return
    old = _saved_schedules(saved)
    new = planned.schedules or scheduler.schedules
    if {k: v.to_dict() for k, v in old.items()} == {k: v.to_dict() for k, v in new.items()}:
        return
    t = int(saved["last_epoch"])
    total = planned.total
    if reschedule is None:
        raise ValueError(
            f"{path}: the checkpoint's lr schedule {old['lr']!r} differs from the one passed, "
            f"{new['lr']!r}; fit never replaces it silently. Pass reschedule='extend' to "
            f"re-time the saved schedule to end at this run's last update ({total}; the lr "
            f"stays continuous at update {t}), reschedule='replace' to continue on the "
            f"schedule passed from update {t}, or the checkpoint's own schedule")
    if reschedule == "extend":
        end = old["lr"]._end()
        if end is None or end <= t or total is None or total <= t:
            why = ("has no end to re-time" if end is None else
                   f"ended at update {end}" if end <= t else
                   f"would have to end at update {total}, not after the saved update {t}")
            raise ValueError(f"{path}: reschedule='extend': the saved lr schedule "
                             f"{old['lr']!r} {why}; pass reschedule='replace' to continue on "
                             f"the schedule passed from update {t}")
        return
    if set(old) != set(new):
        raise ValueError(f"{path}: reschedule='replace': the checkpoint drives {sorted(old)}, "
                         f"the scheduler passed drives {sorted(new)}")


def apply(scheduler: Any, planned: Plan, resumed: bool, reschedule: str | None) -> None:
    """After every check and the restore: resolve a fresh run's schedules, or re-time
    (``"extend"``) or switch (``"replace"``) a resumed one. Only a ScheduledLR changes."""
    if not isinstance(scheduler, ScheduledLR) or planned.schedules is None:
        return
    if not resumed:
        if scheduler.unresolved:
            scheduler._switch(planned.schedules)
        return
    current = {k: v.to_dict() for k, v in scheduler.schedules.items()}
    if current == {k: v.to_dict() for k, v in planned.schedules.items()}:
        return
    if reschedule == "extend":
        scheduler.extend(planned.total)
    elif reschedule == "replace":
        scheduler._switch(planned.schedules)


def warn(planned: Plan) -> None:
    """Give :func:`plan`'s warnings (``fit`` calls it just before the first update)."""
    for message in planned.warnings:
        warnings.warn(message, ScheduleLengthWarning, stacklevel=4)  # the caller of fit

