"""What a training checkpoint is: capture, atomic write, checksum, verification, restore.

:func:`lrnotes.train.fit` writes one after every epoch (and on Ctrl-C) and reads it back
with ``resume``. A checkpoint guarantees:

- **atomic**: written to a temporary file in the same folder, flushed and fsync'ed,
  moved over the target with ``os.replace``, then the folder is fsync'ed; a crash at any
  moment leaves the previous checkpoint or the new one, never half of one. Each writer's
  temporary carries its pid and host; a write removes only temporaries whose writer is dead.
- **one writer per path**: :func:`hold` takes an advisory lock on ``PATH.lock`` for a whole
  run; a second run on the same path is refused at once (:class:`CheckpointInUse`).
- **verified**: the file starts with a format marker and version, and holds the SHA-256
  of its payload; :func:`load` checks both, so a truncated, empty, foreign or corrupt file
  (one flipped byte) fails with ``CheckpointError: not an lrnotes checkpoint: PATH (why)``.
- **checked before it touches anything**: :func:`verify` compares the checkpoint with the
  model (keys, shapes), optimizer (class, groups, state shapes), scheduler (class, keys, and
  a ScheduledLR's whole state), GradScaler, a learnable loss, the loader's generators,
  length and batch size, and the counters' ranges; :func:`restore` calls it before loading.
- **finite**: :func:`nonfinite` lists NaN/inf tensors of a captured state; ``fit`` writes
  only a finite one, so the last good file is never replaced by a diverged state.
- **refuses to clobber**: :func:`check_target` refuses an existing file unless the caller
  resumes from it or asks to overwrite it, and a path that cannot be written is reported
  before any training.

The file is ``MAGIC``, one JSON header line ``{"format", "version", "sha256", "bytes"}``,
then the payload: a ``torch.save`` of the dict :func:`capture` returns. The payload is a
pickle: load only checkpoints you wrote.

Example::

    state = capture(model, optimizer, scheduler, None, history, epoch=3)
    save(state, "runs/ck.pt")
    state = load("runs/ck.pt")
    verify(state, "runs/ck.pt", model=model, optimizer=optimizer, scheduler=scheduler)
    restore(state, "runs/ck.pt", model=model, optimizer=optimizer, scheduler=scheduler)
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import json
import os
import random
import socket
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from lrnotes.env import give_default_mode

MAGIC = b"LRNOTES-CHECKPOINT\n"
FORMAT = "lrnotes.checkpoint"
VERSION = 2
PAYLOAD_KEYS = ("model", "optimizer", "optimizer_class", "scheduler", "scheduler_class",
                "scaler", "history", "epoch", "batch", "batches_per_epoch", "sums", "count",
                "rng", "epoch_rng")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not fit the objects it would be
    loaded into. The message names the file."""


class CheckpointInUse(CheckpointError):
    """Another live run holds the checkpoint path (see :func:`hold`); the message names the
    path and the holder's pid and host."""


# --- RNG states ----------------------------------------------------------------------------


def rng_state(generators: Sequence[torch.Generator] = ()) -> dict[str, Any]:
    """The states of every RNG a training step may draw from: torch (CPU, and CUDA once
    initialised), numpy, python's ``random``, and ``generators`` (a loader's own)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate(), "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any], generators: Sequence[torch.Generator] = ()) -> None:
    """Put back what :func:`rng_state` returned (the same number of ``generators``)."""
    if len(state["generators"]) != len(generators):
        raise ValueError(f"generators: the state holds {len(state['generators'])} generator "
                         f"states, got {len(generators)} generators")
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for g, g_state in zip(generators, state["generators"], strict=True):
        g.set_state(g_state)


# --- capture and restore -------------------------------------------------------------------


def _qualname(obj: Any) -> str | None:
    return None if obj is None else f"{type(obj).__module__}.{type(obj).__qualname__}"


def capture(model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
            scaler: torch.amp.GradScaler | None, history: Any, *, epoch: int, batch: int = 0,
            batches_per_epoch: int | None = None, sums: Tensor | None = None, count: int = 0,
            rng: list[dict[str, Any]] | None = None,
            epoch_rng: list[dict[str, Any]] | None = None, batch_size: int | None = None,
            loss_fn: Any = None, callbacks: Mapping[str, Any] | None = None,
            buffers: Mapping[str, Tensor] | None = None) -> dict[str, Any]:
    """The payload of a checkpoint taken after ``batch`` batches of epoch ``epoch``
    (0-based; ``batch=0`` and ``epoch=e`` is "epochs ``0..e-1`` done").

    ``sums`` and ``count`` are the epoch's running sums of loss and metrics; ``rng`` the
    RNG states at this point (one per rank) and ``epoch_rng`` those at the epoch's start,
    from which the loader's order is re-created on resume. ``batch_size`` is the loader's
    (a mid-epoch position is only valid for the same one); ``loss_fn``, when it is an
    ``nn.Module`` with parameters or buffers (a learnable loss), has its state saved too.
    ``callbacks`` is the state of fit's callbacks
    (:meth:`lrnotes.callbacks.Hooks.state_dict`); a checkpoint without it (an older one)
    resumes with fresh callbacks. ``buffers`` (from :meth:`Position.where`) replace the
    model's buffers of those names: their values at the resume point.
    """
    model_state = model.state_dict()
    model_state.update(buffers or {})
    return {"model": model_state, "optimizer": optimizer.state_dict(),
            "optimizer_class": _qualname(optimizer),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "scheduler_class": _qualname(scheduler),
            "scaler": None if scaler is None else scaler.state_dict(),
            "history": history.state_dict(), "epoch": epoch, "batch": batch,
            "batches_per_epoch": batches_per_epoch,
            "sums": None if sums is None else sums.detach().cpu(), "count": count,
            "rng": rng or [], "epoch_rng": epoch_rng or [], "batch_size": batch_size,
            "loss_fn": _module_state(loss_fn),
            "callbacks": None if callbacks is None else dict(callbacks)}


def _module_state(module: Any) -> dict[str, Any] | None:
    """A loss module's state when it has any (a learnable loss), else None."""
    if isinstance(module, nn.Module) and module.state_dict():
        return module.state_dict()
    return None


def restore(state: Mapping[str, Any], path: str | os.PathLike = "<checkpoint>", *,
            model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any = None,
            scaler: torch.amp.GradScaler | None = None, history: Any = None,
            loss_fn: Any = None, callbacks: Any = None) -> None:
    """Check ``state`` against every object with :func:`verify` (a misfit raises
    :class:`CheckpointError` naming ``path`` and changes nothing), then load it into them.
    ``callbacks`` (fit's :class:`~lrnotes.callbacks.Hooks`) are loaded first.

    Example::

        restore(load("runs/ck.pt"), "runs/ck.pt", model=model, optimizer=optimizer)
    """
    verify(state, path, model=model, optimizer=optimizer, scheduler=scheduler, scaler=scaler,
           history=history, loss_fn=loss_fn, callbacks=callbacks)
    # every object was checked: from here on they change
    if callbacks is not None:
        callbacks.load_state_dict(state.get("callbacks"))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if scaler is not None:
        scaler.load_state_dict(state["scaler"])
    if history is not None:
        history.load_state_dict(state["history"])
    if _module_state(loss_fn) is not None:
        loss_fn.load_state_dict(state["loss_fn"])


def nonfinite(state: Mapping[str, Any], limit: int = 5) -> list[str]:
    """The names of up to ``limit`` model, loss or optimizer-state tensors in ``state``
    (from :func:`capture`) holding a NaN or an infinity; empty when all are finite.

    ``fit`` writes a checkpoint only when this is empty, so a good file is never replaced
    by a diverged state. One host synchronisation.

    Example::

        bad = nonfinite(capture(model, optimizer, None, None, history, epoch=1))
    """
    named: list[tuple[str, Tensor]] = []
    for key in ("model", "loss_fn"):
        for name, value in (state.get(key) or {}).items():
            named.append((f"{key}[{name!r}]", value))
    for index, buffers in (state.get("optimizer") or {}).get("state", {}).items():
        for name, value in buffers.items():
            named.append((f"optimizer state {name!r} of parameter {index}", value))
    named = [(n, v) for n, v in named if isinstance(v, Tensor) and v.is_floating_point()
             and v.numel()]
    if not named:
        return []
    finite: dict[str, bool] = {}
    for device in {v.device for _, v in named}:  # one host sync per device
        here = [(n, v) for n, v in named if v.device == device]
        flags = torch.stack([torch.isfinite(v).all() for _, v in here]).cpu().tolist()
        finite.update({n: ok for (n, _), ok in zip(here, flags, strict=True)})
    return [n for n, _ in named if not finite[n]][:limit]


# --- verification --------------------------------------------------------------------------


def _mismatch(path: Any, what: str, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {os.fspath(path)!r} does not fit the {what}: {why}")


def _verify_model(state: Mapping[str, Any], path: Any, model: nn.Module) -> None:
    saved, own = state["model"], model.state_dict()
    if not isinstance(saved, Mapping):
        raise _mismatch(path, "model", f"its model state is a {type(saved).__name__}")
    missing, unexpected = sorted(set(own) - set(saved)), sorted(set(saved) - set(own))
    if missing or unexpected:
        raise _mismatch(path, "model", f"keys missing from the checkpoint {missing[:5]}, "
                                       f"keys the model lacks {unexpected[:5]}")
    for key, value in own.items():
        other = saved[key]
        if isinstance(value, Tensor) and (not isinstance(other, Tensor)
                                          or other.shape != value.shape):
            shape = tuple(other.shape) if isinstance(other, Tensor) else type(other).__name__
            raise _mismatch(path, "model", f"{key} has shape {shape} in the checkpoint, "
                                           f"{tuple(value.shape)} in the model")


def _verify_optimizer(state: Mapping[str, Any], path: Any,
                      optimizer: torch.optim.Optimizer) -> None:
    if state["optimizer_class"] != _qualname(optimizer):
        raise _mismatch(path, "optimizer", f"it holds {state['optimizer_class']} state, the "
                                           f"optimizer is {_qualname(optimizer)}")
    saved = state["optimizer"]
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list) \
            or not isinstance(saved.get("state", {}), Mapping):
        raise _mismatch(path, "optimizer", "its optimizer state is not an optimizer.state_dict()")
    groups = saved["param_groups"]
    if len(groups) != len(optimizer.param_groups):
        raise _mismatch(path, "optimizer", f"{len(groups)} param groups in the checkpoint, "
                                           f"{len(optimizer.param_groups)} in the optimizer")
    params: dict[Any, Tensor] = {}
    for i, (group, own) in enumerate(zip(groups, optimizer.param_groups, strict=True)):
        if len(group["params"]) != len(own["params"]):
            raise _mismatch(path, "optimizer", f"param group {i} has {len(group['params'])} "
                                               f"parameters in the checkpoint, "
                                               f"{len(own['params'])} in the optimizer")
        params.update(zip(group["params"], own["params"], strict=True))
    for key, buffers in saved.get("state", {}).items():
        param = params.get(key)
        if param is None:
            raise _mismatch(path, "optimizer", f"state for an unknown parameter {key!r}")
        for name, value in buffers.items():
            if isinstance(value, Tensor) and not _fits_parameter(value.shape, param.shape):
                raise _mismatch(path, "optimizer", f"state {name!r} of parameter {key} has shape "
                                                   f"{tuple(value.shape)}, the parameter "
                                                   f"{tuple(param.shape)}")


def _fits_parameter(shape: torch.Size, param: torch.Size) -> bool:
    """Whether an optimizer state of ``shape`` can belong to a parameter of shape ``param``:
    the parameter's own shape (Adam's moments), one that broadcasts to it (a scalar step,
    Adafactor's row and column statistics) or a flat copy of at most its elements (Prodigy's
    ``s`` and ``p0``, ``p.flatten()[::slice_p]``). Optimizers derive their state from the
    parameter in these ways, so a larger or unrelated shape is another parameter's state."""
    if shape == param:
        return True
    if len(shape) == 1 and shape[0] <= param.numel():
        return True
    try:
        return torch.broadcast_shapes(shape, param) == param
    except RuntimeError:
        return False


def _verify_scheduler(state: Mapping[str, Any], path: Any, scheduler: Any) -> None:
    if (state["scheduler"] is None) != (scheduler is None):
        have = "no scheduler" if scheduler is None else _qualname(scheduler)
        saved = state["scheduler_class"] or "no scheduler"
        raise _mismatch(path, "scheduler", f"it was written with {saved}, resumed with {have}; "
                                           "pass the run's scheduler")
    if scheduler is None:
        return
    if state["scheduler_class"] != _qualname(scheduler):
        raise _mismatch(path, "scheduler", f"it holds {state['scheduler_class']} state, the "
                                           f"scheduler is {_qualname(scheduler)}")
    saved, own = state["scheduler"], scheduler.state_dict()
    if not isinstance(saved, Mapping) or set(saved) != set(own):
        keys = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
        raise _mismatch(path, "scheduler", f"state keys {keys}, expected {sorted(own)}")
    base = own.get("base_lrs")
    if isinstance(base, list) and len(saved.get("base_lrs") or []) != len(base):
        raise _mismatch(path, "scheduler", f"{len(saved['base_lrs'] or [])} base lrs in the "
                                           f"checkpoint, {len(base)} param groups now")
    check = getattr(scheduler, "check_state_dict", None)
    if callable(check):  # lrnotes' ScheduledLR: count mode, keys, every schedule, plateaus
        try:
            check(saved)
        except (ValueError, TypeError) as err:
            raise _mismatch(path, "scheduler", str(err)) from err


def _verify_loss_fn(state: Mapping[str, Any], path: Any, loss_fn: Any) -> None:
    saved, own = state.get("loss_fn"), _module_state(loss_fn)
    if saved is None and own is None:
        return
    if saved is None or own is None:
        had = "a loss_fn with state (a learnable loss)" if saved is not None else "no loss state"
        now = "one with state" if own is not None else "one without"
        raise _mismatch(path, "loss_fn", f"it holds {had}, resumed with {now}; pass the run's "
                                         "loss_fn")
    if not isinstance(saved, Mapping) or set(saved) != set(own):
        keys = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
        raise _mismatch(path, "loss_fn", f"state keys {keys}, expected {sorted(own)}")
    for key, value in own.items():
        other = saved[key]
        if isinstance(value, Tensor) and (not isinstance(other, Tensor)
                                          or other.shape != value.shape):
            raise _mismatch(path, "loss_fn", f"{key} does not have the shape "
                                             f"{tuple(value.shape)} in the checkpoint")


def _count(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _verify_payload(state: Any, path: Any) -> None:
    """The payload's own shape and counters: a dict with every key, counters in range."""
    if not isinstance(state, Mapping):
        raise _not_ours(os.fspath(path), f"the payload is a {type(state).__name__}, not a dict")
    missing = [k for k in PAYLOAD_KEYS if k not in state]
    if missing:
        raise _not_ours(os.fspath(path), f"the payload lacks {missing}")
    for key, minimum in (("epoch", 0), ("batch", 0), ("count", 0)):
        if not _count(state[key], minimum):
            raise _not_ours(os.fspath(path), f"{key}={state[key]!r} is not an integer >= "
                                             f"{minimum}")
    saved_batches = state["batches_per_epoch"]
    if saved_batches is not None and not _count(saved_batches, 1):
        raise _not_ours(os.fspath(path), f"batches_per_epoch={saved_batches!r} is not an "
                                         "integer >= 1 or None")
    if saved_batches is not None and state["batch"] > saved_batches:
        raise _not_ours(os.fspath(path), f"batch={state['batch']} is past the "
                                         f"{saved_batches} batches of an epoch")
    for key in ("rng", "epoch_rng"):
        rngs = state[key]
        if not isinstance(rngs, list) or not all(
                isinstance(r, Mapping) and isinstance(r.get("generators"), list) for r in rngs):
            raise _not_ours(os.fspath(path), f"{key} is not a list of RNG states")
    if state["batch"] > 0 and not state["epoch_rng"] and state["rng"]:
        raise _not_ours(os.fspath(path), "a mid-epoch position without the epoch's RNG states")


def _verify_position(state: Mapping[str, Any], path: Any,
                     generators: Sequence[torch.Generator] | None,
                     batches_per_epoch: int | None, epochs: int | None,
                     batch_size: int | None) -> None:
    for rng in [*state["rng"], *state["epoch_rng"]] if generators is not None else []:
        if len(rng["generators"]) != len(generators):
            raise _mismatch(path, "train_loader", f"{len(rng['generators'])} loader generator "
                                                  f"states saved, the loader has "
                                                  f"{len(generators)}")
    epoch, batch, saved_batches = state["epoch"], state["batch"], state["batches_per_epoch"]
    if batch > 0 and batches_per_epoch is not None and saved_batches is not None \
            and saved_batches != batches_per_epoch:
        raise _mismatch(path, "train_loader", f"it stopped after batch {batch} of "
                                              f"{saved_batches} in epoch {epoch + 1}; the "
                                              f"loader now has {batches_per_epoch} batches, so "
                                              "the same batches cannot be resumed")
    if batches_per_epoch is not None and batch > batches_per_epoch:
        raise _mismatch(path, "train_loader", f"it stopped after batch {batch} of epoch "
                                              f"{epoch + 1}, past the {batches_per_epoch} "
                                              "batches of the loader")
    saved_size = state.get("batch_size")
    if batch > 0 and saved_size is not None and batch_size is not None \
            and saved_size != batch_size:
        raise _mismatch(path, "train_loader", f"it stopped after batch {batch} of epoch "
                                              f"{epoch + 1} with batches of {saved_size}; the "
                                              f"loader's batch_size is {batch_size}, so the same "
                                              "samples cannot be resumed")
    if epochs is not None and (epoch > epochs or (epoch == epochs and batch > 0)):
        raise _mismatch(path, "epochs", f"it is at epoch {epoch} (batch {batch}), past "
                                        f"epochs={epochs}")


def verify(state: Mapping[str, Any], path: str | os.PathLike, *, model: nn.Module,
           optimizer: torch.optim.Optimizer, scheduler: Any = None,
           scaler: torch.amp.GradScaler | None = None, history: Any = None,
           generators: Sequence[torch.Generator] | None = None,
           batches_per_epoch: int | None = None,
           epochs: int | None = None, batch_size: int | None = None,
           loss_fn: Any = None, callbacks: Any = None) -> None:
    """Raise :class:`CheckpointError` unless ``state`` (from :func:`load`) fits every object
    it will be loaded into; changes nothing. :func:`restore` calls it first.

    Checks, one function per object: the payload (every key, ``epoch``, ``batch`` and
    ``count`` integers >= 0, the position inside its epoch); the model's keys and shapes;
    the optimizer's class, param groups, parameter counts and state shapes (each state
    tensor has its parameter's shape, one that broadcasts to it, e.g. Adafactor's row and
    column statistics, or is a flat copy of at most its elements, e.g. Prodigy's); the
    scheduler's presence, class, keys and number of base lrs, and for an lrnotes
    ``ScheduledLR`` its whole state (``check_state_dict``: count mode, driven keys,
    momentum, every schedule and plateau state); a GradScaler on both sides or neither
    (the same ``amp``); the history's state; a learnable ``loss_fn``'s state; the number
    of the loader's ``generators`` (unless None); a mid-epoch position inside a loader of
    the same length (``batches_per_epoch``) and ``batch_size``; an epoch not past
    ``epochs``; fit's callbacks (:class:`~lrnotes.callbacks.Hooks`: every saved state has
    its callback, and that callback's ``check_state_dict`` accepts it).

    Example::

        verify(load("runs/ck.pt"), "runs/ck.pt", model=model, optimizer=optimizer)
    """
    _verify_payload(state, path)
    _verify_model(state, path, model)
    _verify_optimizer(state, path, optimizer)
    _verify_scheduler(state, path, scheduler)
    if (state["scaler"] is None) != (scaler is None):
        saved = "fp16 (a GradScaler)" if state["scaler"] is not None else "no GradScaler"
        raise _mismatch(path, "amp setting", f"it was written with {saved}, resumed "
                                             f"{'with' if scaler is not None else 'without'} one; "
                                             "pass the run's amp")
    if history is not None:
        try:
            type(history)().load_state_dict(state["history"])
        except (ValueError, TypeError) as err:
            raise _mismatch(path, "history", str(err)) from err
    _verify_loss_fn(state, path, loss_fn)
    _verify_position(state, path, generators, batches_per_epoch, epochs, batch_size)
    if callbacks is not None:
        try:
            callbacks.check_state_dict(state.get("callbacks"))
        except (ValueError, TypeError) as err:
            raise _mismatch(path, "callbacks", str(err)) from err


# --- the file -----------------------------------------------------------------------------


_HOST = socket.gethostname()


def _temporary_prefix(path: str) -> str:
    """This writer's temporaries of ``path``: ``.NAME.PID@HOST.`` + random + ``.tmp``."""
    return f".{os.path.basename(path)}.{os.getpid()}@{_HOST}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or no way to tell
        return True
    return True


def _stale_temporaries(path: str) -> list[str]:
    """Temporaries of ``path`` whose writer is dead: written on this host by a process that is
    gone, or in the old unnamed form. Another live writer's are never listed."""
    folder, name = os.path.split(path)
    stale = []
    for found in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp")):
        owner = os.path.basename(found)[len(name) + 2:]
        pid, at, rest = owner.partition("@")
        host = rest.rsplit(".", 2)[0] if at else None
        if not at or not pid.isdigit():
            stale.append(found)  # written before temporaries carried their writer
        elif host == _HOST and int(pid) != os.getpid() and not _alive(int(pid)):
            stale.append(found)
    return stale


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def check_target(path: str | os.PathLike, *, may_exist: bool) -> str:
    """Check, before any training, that checkpoints can be written to ``path``; return it
    absolute. Raises ``ValueError`` naming ``checkpoint`` when ``path`` is a directory,
    when its folder cannot be created or written, or when it exists and ``may_exist`` is
    False (the caller neither resumes from it nor overwrites it)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(path).__name__}")
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(f"checkpoint: {path!r} is a directory; give a file path such as "
                         f"{os.path.join(path, 'checkpoint.pt')!r}")
    if os.path.exists(path) and not may_exist:
        raise ValueError(f"checkpoint: {path!r} already exists; pass resume=True to continue "
                         "that run, or overwrite=True to start over and replace it")
    folder = existing = os.path.dirname(path)
    while not os.path.lexists(existing):  # the run creates the missing folders (hold), not this
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise ValueError(f"checkpoint: cannot write to {folder!r} ({existing!r} is not a folder)")
    try:  # a probe that leaves nothing behind: the folder's contents stay as they were
        fd, probe = tempfile.mkstemp(dir=existing, prefix=_temporary_prefix(path), suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"checkpoint: cannot write to {existing!r} ({err.strerror or err})"
                         ) from err
    return path


def save(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically: marker, header with the payload's SHA-256,
    payload; to a temporary file, fsync, ``os.replace``, fsync of the folder.

    The temporary is this writer's own (its name holds the pid and host), so two writers never
    remove each other's; temporaries left by a killed writer of ``path`` on this host are
    removed. Use :func:`hold` to keep a second run off the path altogether.

    Example::

        save(capture(model, optimizer, None, None, history, epoch=1), "runs/ck.pt")
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a checkpoint file path, got {type(path).__name__}")
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ValueError(f"path: {path!r} is a directory, not a checkpoint file path")
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    payload = buffer.getbuffer()
    header = {"format": FORMAT, "version": VERSION,
              "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=_temporary_prefix(path), suffix=".tmp")
    try:
        give_default_mode(fd)  # mkstemp's 0600 would make the checkpoint private
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(json.dumps(header).encode() + b"\n")
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)
    for stale in _stale_temporaries(path):
        try:
            os.remove(stale)
        except OSError:
            pass


def _not_ours(path: str, why: str) -> CheckpointError:
    return CheckpointError(f"not an lrnotes checkpoint: {path} ({why})")


def load(path: str | os.PathLike, map_location: Any = None) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`, checking its marker, version, length and
    checksum; raise :class:`CheckpointError` ``not an lrnotes checkpoint: PATH (why)``
    otherwise. ``map_location`` as in ``torch.load``."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        raise _not_ours(path, f"cannot read it: {err.strerror or err}") from err
    if not data:
        raise _not_ours(path, "the file is empty")
    if not data.startswith(MAGIC):
        if data.startswith(b"PK\x03\x04") or data[:2] == b"\x80\x02":
            why = ("a plain torch.save file without the lrnotes marker: a state_dict, or a "
                   "checkpoint of lrnotes < 0.2")
        elif MAGIC.startswith(data):
            why = "truncated inside the marker"
        else:
            why = f"no lrnotes marker; it starts with {data[:16]!r}"
        raise _not_ours(path, why)
    end = data.find(b"\n", len(MAGIC))
    try:
        header = json.loads(data[len(MAGIC):end].decode()) if end >= 0 else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _not_ours(path, "its header is damaged or truncated")
    if header.get("version") != VERSION:
        raise _not_ours(path, f"format version {header.get('version')!r}; this lrnotes reads "
                              f"version {VERSION}")
    payload = memoryview(data)[end + 1:]
    if len(payload) != header.get("bytes"):
        raise _not_ours(path, f"truncated or padded: {len(payload)} payload bytes, the header "
                              f"says {header.get('bytes')}")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise _not_ours(path, "checksum mismatch: the file is corrupt")
    try:
        state = torch.load(io.BytesIO(payload), map_location=map_location, weights_only=False)
    except Exception as err:  # noqa: BLE001 - a verified payload that torch cannot read
        raise _not_ours(path, f"torch.load failed: {err}") from err
    missing = [k for k in PAYLOAD_KEYS if not (isinstance(state, dict) and k in state)]
    if missing:
        raise _not_ours(path, f"the payload lacks {missing}")
    return state


# --- one writer per path ------------------------------------------------------------------


def lock_path(path: str | os.PathLike) -> str:
    """The sidecar lock file of the checkpoint ``path``: ``PATH.lock``."""
    return os.path.abspath(os.fspath(path)) + ".lock"


@contextmanager
def hold(path: str | os.PathLike) -> Iterator[str]:
    """Hold ``path`` for one writer: an advisory lock (``fcntl.flock``) on ``PATH.lock``, taken
    at once or refused, held until the block ends; yields the absolute path.

    A second holder, in this or another process, gets :class:`CheckpointInUse` (a
    ``ValueError``) naming the path and the holder's pid and host, which the lock file holds.
    The lock goes with the process: a killed run leaves no stale lock (the file stays; the
    next run takes it). On a system without ``fcntl`` (Windows) nothing is locked. Folders
    of ``path`` that do not exist are created for the lock file, and removed again at the end
    when they are empty (a refused run leaves the disk as it found it).

    Example::

        with hold("runs/ck.pt"):
            ...  # train; save("runs/ck.pt") as often as needed
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a checkpoint file path, got {type(path).__name__}")
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise ValueError(f"path: {target!r} is a directory, not a checkpoint file path")
    try:
        import fcntl  # noqa: F401  (whether this system has advisory locks; _locked uses it)
    except ImportError:  # Windows: no advisory locks here
        yield target
        return
    created = _make_folders(os.path.dirname(target))
    try:
        with _locked(target):
            yield target
    finally:
        for folder in created:  # deepest first; a folder the run wrote into stays
            try:
                os.rmdir(folder)
            except OSError:
                break


def _make_folders(folder: str) -> list[str]:
    """Create ``folder`` and its missing parents; return those this call created, deepest
    first, so that :func:`hold` can remove them again when the run wrote nothing there."""
    missing = []
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    created = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:  # another run made it meanwhile: not ours to remove
            continue
        except OSError as err:
            raise ValueError(f"checkpoint: cannot create the folder {folder!r} "
                             f"({err.strerror or err})") from err
        created.append(folder)
    return created[::-1]


@contextmanager
def _locked(target: str) -> Iterator[None]:
    """The advisory lock of :func:`hold` on ``target``'s lock file (its folder exists)."""
    import fcntl

    lock = lock_path(target)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            holder = b""
            try:
                holder = os.pread(fd, 200, 0)
            finally:
                os.close(fd)
            if err.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise ValueError(f"checkpoint: cannot lock {lock!r} ({err.strerror or err})"
                                 ) from err
            who = holder.decode(errors="replace").strip() or "unknown"
            raise CheckpointInUse(f"checkpoint {target!r} is in use by another run ({who}); "
                                  "one run writes a checkpoint path at a time: wait for it, or "
                                  "give this run another path") from None
        # the file may have been removed and re-created by a holder leaving meanwhile
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {_HOST}\n".encode(), 0)
        yield
    finally:
        try:
            os.remove(lock)  # while still locked, so nobody holds a removed file
        except OSError:
            pass
        os.close(fd)


# --- the position in the run ----------------------------------------------------------------


class Position:
    """Where a run stands, so that it can resume at the same batch with the same random
    numbers: the epoch, the batches done in it, the epoch's running sums, and the RNG
    states at the epoch's start and after the last optimizer update.

    :meth:`open` gives an epoch's batches (positioned after those a checkpoint had done),
    :meth:`advance` marks the point after an update as resumable, :meth:`leave` marks
    what follows (an update in progress, an epoch's end) as not resumable, and
    :meth:`where` gives :func:`capture` the last resumable point. With ``model``, its buffers
    at that point too (a copy per update): a forward pass after it, e.g. of a batch
    interrupted before its update, has changed BatchNorm's running statistics. With
    ``track=False`` (no checkpoint, or several processes) nothing is recorded and no RNG
    state is read.

    Example::

        position = Position(loader_generators(loader), track=True, model=model)
        batches, sums, count = position.open(loader, epoch=0)
        ...; position.leave(); optimizer.step(); position.advance(i + 1, sums, count)
        capture(model, optimizer, None, None, history, **position.where())
    """

    def __init__(self, generators: Sequence[torch.Generator], *, track: bool,
                 batches_per_epoch: int | None = None, model: nn.Module | None = None) -> None:
        self.generators, self.track = list(generators), track
        self.batches_per_epoch = batches_per_epoch
        self.epoch = 0
        self._epoch_rng: dict[str, Any] | None = None
        self._point: tuple[int, Tensor | None, int, dict[str, Any], Any] | None = None
        # the model's saved buffers: a forward pass changes them (BatchNorm's running
        # statistics) before the update it belongs to, so they are kept at each resume point
        self.model = model
        self._buffer_names = set() if model is None else (
            {n for n, _ in model.named_buffers()} & set(model.state_dict()))

    def _buffers(self) -> dict[str, Tensor] | None:
        if not self._buffer_names:
            return None
        return {n: b.detach().clone() for n, b in self.model.named_buffers()
                if n in self._buffer_names}

    @property
    def resumable(self) -> bool:
        """True when :meth:`where` is a point the run can resume from exactly."""
        return self._point is not None

    def open(self, loader: Any, epoch: int, resumed: Mapping[str, Any] | None = None,
             rank: int = 0, device: torch.device | str | None = None
             ) -> tuple[Any, Tensor | None, int]:
        """The iterator over epoch ``epoch``'s batches and the epoch's running sums.

        Fresh (``resumed`` None): the loader's iterator from the current RNG states.
        From a checkpoint at batch 0: its RNG states first. From a mid-epoch checkpoint:
        the RNG states of the epoch's start, a new iterator (the same order), the batches
        done skipped (loaded and discarded), then the RNG states of the interruption.
        ``rank`` picks this process's saved states, ``device`` where the sums go. When the
        loader ends before the batches done (a shorter loader), ValueError, and the RNG
        states are put back.
        """
        self.epoch = epoch
        before = rng_state(self.generators) if resumed is not None else None
        try:
            return self._open(loader, epoch, resumed, rank, device)
        except BaseException:
            if before is not None:  # a position that does not fit leaves the RNGs as they were
                set_rng_state(before, self.generators)
            raise

    def _open(self, loader: Any, epoch: int, resumed: Mapping[str, Any] | None, rank: int,
              device: torch.device | str | None) -> tuple[Any, Tensor | None, int]:
        sums, count, done = None, 0, 0
        rngs: list[dict[str, Any]] = []
        if resumed is not None:
            rngs, epoch_rngs = resumed["rng"], resumed["epoch_rng"]
            done = resumed["batch"]
            if rngs:
                set_rng_state(epoch_rngs[rank % len(epoch_rngs)] if done else
                              rngs[rank % len(rngs)], self.generators)
            if resumed["sums"] is not None:
                sums, count = resumed["sums"].to(device), resumed["count"]
        self._epoch_rng = rng_state(self.generators) if self.track else None
        batches = iter(loader)
        for skipped in range(done):
            try:
                next(batches)
            except StopIteration:
                raise ValueError(f"train_loader: ended after {skipped} batches while skipping "
                                 f"the {done} batches of epoch {epoch + 1} done before the "
                                 "checkpoint; resume with the same loader") from None
        if done and rngs:
            set_rng_state(rngs[rank % len(rngs)], self.generators)
        self._point = None
        if self.track:
            self._point = (done, sums, count,
                           self._epoch_rng if not done else rng_state(self.generators),
                           self._buffers())
        return batches, sums, count

    def advance(self, batch: int, sums: Tensor | None, count: int) -> None:
        """After an update: ``batch`` batches of the epoch done, the run resumable here."""
        if self.track:
            self._point = (batch, sums, count, rng_state(self.generators), self._buffers())

    def retake_buffers(self) -> None:
        """Copy the model's buffers at the current point again: a resumed run opens its
        position (checking the skip) before :func:`restore` loads the checkpoint's buffers."""
        if self._point is not None:
            self._point = (*self._point[:4], self._buffers())

    def leave(self) -> None:
        """Before a change of state that is not resumable halfway (an update, an epoch's
        end): until the next :meth:`advance` or :meth:`open` there is no resume point."""
        self._point = None

    def where(self) -> dict[str, Any]:
        """:func:`capture`'s position arguments for the last resumable point."""
        if self._point is None:
            raise RuntimeError("no resumable point: check Position.resumable first")
        batch, sums, count, rng, buffers = self._point
        return {"epoch": self.epoch, "batch": batch, "batches_per_epoch": self.batches_per_epoch,
                "sums": sums, "count": count, "rng": [rng], "epoch_rng": [self._epoch_rng],
                "buffers": buffers}
