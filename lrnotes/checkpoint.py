"""What a training checkpoint is: capture, atomic write, checksum, verification, restore.

:func:`lrnotes.train.fit` writes one after every epoch (and on Ctrl-C) and reads it back
with ``resume``. A checkpoint guarantees:

- **atomic**: written to a temporary file in the same folder, flushed and fsync'ed,
  moved over the target with ``os.replace``, then the folder is fsync'ed; a crash at any
  moment leaves the previous checkpoint or the new one, never half of one. Temporaries
  left by a killed write of the same target are removed by the next write.
- **verified**: the file starts with a format marker and version, and holds the SHA-256
  of its payload; :func:`load` checks both, so a truncated, empty, foreign or corrupt file
  (one flipped byte) fails with ``CheckpointError: not an lrnotes checkpoint: PATH (why)``.
- **checked before it touches anything**: :func:`verify` compares the checkpoint with the
  model (keys, shapes), optimizer (class, groups, state shapes), scheduler (class, keys),
  GradScaler, the loader's generators and length; :func:`restore` runs only after it.
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
    restore(state, model=model, optimizer=optimizer, scheduler=scheduler)
"""

from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import random
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

MAGIC = b"LRNOTES-CHECKPOINT\n"
FORMAT = "lrnotes.checkpoint"
VERSION = 2
PAYLOAD_KEYS = ("model", "optimizer", "optimizer_class", "scheduler", "scheduler_class",
                "scaler", "history", "epoch", "batch", "batches_per_epoch", "sums", "count",
                "rng", "epoch_rng")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or that does not fit the objects it would be
    loaded into. The message names the file."""


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
            epoch_rng: list[dict[str, Any]] | None = None,
            callbacks: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The payload of a checkpoint taken after ``batch`` batches of epoch ``epoch``
    (0-based; ``batch=0`` and ``epoch=e`` is "epochs ``0..e-1`` done").

    ``sums`` and ``count`` are the epoch's running sums of loss and metrics; ``rng`` the
    RNG states at this point (one per rank) and ``epoch_rng`` those at the epoch's start,
    from which the loader's order is re-created on resume. ``callbacks`` is the state of
    fit's callbacks (:meth:`lrnotes.callbacks.Hooks.state_dict`); a checkpoint without it (an
    older one) resumes with fresh callbacks.
    """
    return {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "optimizer_class": _qualname(optimizer),
            "scheduler": None if scheduler is None else scheduler.state_dict(),
            "scheduler_class": _qualname(scheduler),
            "scaler": None if scaler is None else scaler.state_dict(),
            "history": history.state_dict(), "epoch": epoch, "batch": batch,
            "batches_per_epoch": batches_per_epoch,
            "sums": None if sums is None else sums.detach().cpu(), "count": count,
            "rng": rng or [], "epoch_rng": epoch_rng or [],
            "callbacks": None if callbacks is None else dict(callbacks)}


def restore(state: Mapping[str, Any], *, model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: Any = None, scaler: torch.amp.GradScaler | None = None,
            history: Any = None, callbacks: Any = None) -> None:
    """Load a verified checkpoint into the objects (call :func:`verify` first: this one
    assumes every piece fits). ``callbacks`` (fit's :class:`~lrnotes.callbacks.Hooks`) are
    loaded first: their ``load_state_dict`` checks before it changes anything."""
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


# --- verification --------------------------------------------------------------------------


def _mismatch(path: Any, what: str, why: str) -> CheckpointError:
    return CheckpointError(f"checkpoint {os.fspath(path)!r} does not fit the {what}: {why}")


def _verify_model(state: Mapping[str, Any], path: Any, model: nn.Module) -> None:
    saved, own = state["model"], model.state_dict()
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
    groups = saved.get("param_groups", [])
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
            if isinstance(value, Tensor) and value.ndim > 0 and value.shape != param.shape:
                raise _mismatch(path, "optimizer", f"state {name!r} of parameter {key} has shape "
                                                   f"{tuple(value.shape)}, the parameter "
                                                   f"{tuple(param.shape)}")


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


def verify(state: Mapping[str, Any], path: str | os.PathLike, *, model: nn.Module,
           optimizer: torch.optim.Optimizer, scheduler: Any = None,
           scaler: torch.amp.GradScaler | None = None, history: Any = None,
           generators: Sequence[torch.Generator] = (), batches_per_epoch: int | None = None,
           epochs: int | None = None, callbacks: Any = None) -> None:
    """Raise :class:`CheckpointError` unless ``state`` (from :func:`load`) fits every object
    it will be loaded into; changes nothing.

    Checks: the model's keys and shapes; the optimizer's class, param groups, parameter
    counts and state shapes; the scheduler's presence, class, keys and number of base lrs;
    a GradScaler on both sides or neither (the same ``amp``); the history's state; the
    number of the loader's generators; a mid-epoch position inside a loader of the same
    length (``batches_per_epoch``); an epoch not past ``epochs``; fit's callbacks
    (:class:`~lrnotes.callbacks.Hooks`: every saved state has its callback, and that
    callback's ``check_state_dict`` accepts it).
    """
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
    for rng in [*state["rng"], *state["epoch_rng"]]:
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
    if epochs is not None and epoch > epochs:
        raise _mismatch(path, "epochs", f"it is at epoch {epoch}, past epochs={epochs}")
    if callbacks is not None:
        try:
            callbacks.check_state_dict(state.get("callbacks"))
        except (ValueError, TypeError) as err:
            raise _mismatch(path, "callbacks", str(err)) from err


# --- the file -----------------------------------------------------------------------------


def _stale_temporaries(path: str) -> list[str]:
    folder, name = os.path.split(path)
    return glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*.tmp"))


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
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.",
                                     suffix=".tmp")
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise ValueError(f"checkpoint: cannot write to {folder!r} ({err.strerror or err})"
                         ) from err
    return path


def save(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``state`` to ``path`` atomically: marker, header with the payload's SHA-256,
    payload; to a temporary file, fsync, ``os.replace``, fsync of the folder. Removes
    temporaries that an earlier, killed write of ``path`` left behind."""
    path = os.path.abspath(os.fspath(path))
    buffer = io.BytesIO()
    torch.save(dict(state), buffer)
    payload = buffer.getbuffer()
    header = {"format": FORMAT, "version": VERSION,
              "sha256": hashlib.sha256(payload).hexdigest(), "bytes": len(payload)}
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
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


# --- the position in the run ----------------------------------------------------------------


class Position:
    """Where a run stands, so that it can resume at the same batch with the same random
    numbers: the epoch, the batches done in it, the epoch's running sums, and the RNG
    states at the epoch's start and after the last optimizer update.

    :meth:`open` gives an epoch's batches (positioned after those a checkpoint had done),
    :meth:`advance` marks the point after an update as resumable, :meth:`leave` marks
    what follows (an update in progress, an epoch's end) as not resumable, and
    :meth:`where` gives :func:`capture` the last resumable point. With ``track=False``
    (no checkpoint, or several processes) nothing is recorded and no RNG state is read.

    Example::

        position = Position(loader_generators(loader), track=True)
        batches, sums, count = position.open(loader, epoch=0)
        ...; position.leave(); optimizer.step(); position.advance(i + 1, sums, count)
        capture(model, optimizer, None, None, history, **position.where())
    """

    def __init__(self, generators: Sequence[torch.Generator], *, track: bool,
                 batches_per_epoch: int | None = None) -> None:
        self.generators, self.track = list(generators), track
        self.batches_per_epoch = batches_per_epoch
        self.epoch = 0
        self._epoch_rng: dict[str, Any] | None = None
        self._point: tuple[int, Tensor | None, int, dict[str, Any]] | None = None

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
        ``rank`` picks this process's saved states, ``device`` where the sums go.
        """
        self.epoch = epoch
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
                           self._epoch_rng if not done else rng_state(self.generators))
        return batches, sums, count

    def advance(self, batch: int, sums: Tensor | None, count: int) -> None:
        """After an update: ``batch`` batches of the epoch done, the run resumable here."""
        if self.track:
            self._point = (batch, sums, count, rng_state(self.generators))

    def leave(self) -> None:
        """Before a change of state that is not resumable halfway (an update, an epoch's
        end): until the next :meth:`advance` or :meth:`open` there is no resume point."""
        self._point = None

    def where(self) -> dict[str, Any]:
        """:func:`capture`'s position arguments for the last resumable point."""
        if self._point is None:
            raise RuntimeError("no resumable point: check Position.resumable first")
        batch, sums, count, rng = self._point
        return {"epoch": self.epoch, "batch": batch, "batches_per_epoch": self.batches_per_epoch,
                "sums": sums, "count": count, "rng": [rng], "epoch_rng": [self._epoch_rng]}
