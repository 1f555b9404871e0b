"""One training loop for the book: :func:`fit`, and :func:`train_one_epoch` and
:func:`evaluate` for readers who want the pieces.

Per optimizer update ``t`` the loop does, in this order::

    loss = loss_fn(model(inputs), targets) / k     # k micro-batches accumulated
    scaler.scale(loss).backward()                  # (k times)
    clip_gradients(params, ..., scaler, optimizer) # unscale, then clip true gradients
    scaler.step(optimizer); scaler.update()        # or optimizer.step()
    optimizer.zero_grad(); scheduler.step()        # per update, or per epoch
    history.record_step(t, lrs, loss, grad_norm,   # tensors: no host sync; and every
                        values)                    # other scheduled value (momentum, ...)
    callback.on_update(state)                      # fit's callbacks

The lr recorded for update ``t`` is the one that update used, so a schedule's value at
``t`` and ``history.lr[t]`` agree (the book's step convention).
"""

from __future__ import annotations

import numbers
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.optim.lr_scheduler import ReduceLROnPlateau
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset, RandomSampler

from lrnotes import checkpoint as ckpt
from lrnotes import runplan
from lrnotes.batch import AMP_MODES, _amp_dtype, _autocast, _call, _split, to_device  # noqa: F401  (public here since 0.1)
from lrnotes.callbacks import Hooks, RunState, check_callbacks, format_values
from lrnotes.checkpoint import Position
from lrnotes.clip import clip_gradients
from lrnotes.data import loader_generators
from lrnotes.env import as_device
from lrnotes.monitor import History, open_writer, read_scheduled, scheduled_keys
from lrnotes.optim import optimizer_mode
from lrnotes.progress import progress_bar

STEP_SCHEDULER = runplan.STEP_SCHEDULER
ON_NAN = ("raise", "skip")
_CLIP_KEYS = ("max_norm", "max_value", "agc", "norm_type", "error_if_nonfinite", "agc_exclude")

Metric = Callable[[Tensor, Tensor], Tensor]


# --- small public helpers ----------------------------------------------------------------


def accuracy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Fraction of rows whose arg-max class equals the target: ``mean(argmax(outputs) == y)``.

    Pass it as a metric; it stays a tensor on the device (no sync).

    Example::

        history = fit(model, loader, opt, loss_fn, epochs=3, metrics={"acc": accuracy})
        history.epochs["val_acc"]
    """
    return (outputs.argmax(dim=-1) == targets).float().mean()


def distributed_loader(loader: DataLoader, *, shuffle: bool | None = None, seed: int = 0,
                       drop_last: bool = False) -> DataLoader:
    """Rebuild ``loader`` with a ``DistributedSampler`` over its dataset (same batch size,
    workers, collate function), so each rank sees its own 1/world_size of the data.

    ``shuffle`` defaults to whether ``loader`` shuffles (has a ``RandomSampler``); the
    order is a function of ``seed`` and the epoch (``fit`` calls ``set_epoch``). Without
    ``drop_last`` the sampler pads the last round by repeating samples. Needs an
    initialised process group.

    Example::

        dist.init_process_group("gloo")
        loader = distributed_loader(DataLoader(data, batch_size=32, shuffle=True))
    """
    if isinstance(loader.dataset, IterableDataset):
        raise ValueError("loader: an IterableDataset cannot be given a DistributedSampler; "
                         "shard it by rank yourself")
    if loader.batch_size is None:
        raise ValueError("loader: a custom batch_sampler cannot be rebuilt; "
                         "build the DistributedSampler yourself")
    if shuffle is None:
        shuffle = isinstance(loader.sampler, RandomSampler)
    sampler = DistributedSampler(loader.dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    return DataLoader(loader.dataset, batch_size=loader.batch_size, sampler=sampler,
                      num_workers=loader.num_workers, collate_fn=loader.collate_fn,
                      pin_memory=loader.pin_memory, drop_last=loader.drop_last,
                      timeout=loader.timeout, worker_init_fn=loader.worker_init_fn,
                      persistent_workers=loader.persistent_workers)


# --- internals shared by the loop and evaluate ------------------------------------------------


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_sum(x: Tensor) -> Tensor:
    if _rank_world()[1] > 1:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


def _mean_over_ranks(x: Tensor) -> Tensor:
    return _all_reduce_sum(x) / _rank_world()[1]


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _batch_size(targets: Any, inputs: Any) -> int:
    """Rows in the batch: the first dim of the first tensor in targets, then inputs."""
    for obj in (targets, inputs):
        stack = [obj]
        while stack:
            item = stack.pop(0)
            if isinstance(item, Tensor):
                return item.shape[0] if item.ndim else 1
            if isinstance(item, Mapping):
                stack += list(item.values())
            elif isinstance(item, (tuple, list)):
                stack += list(item)
    return 1


def _batch_values(loss: Tensor, outputs: Tensor, targets: Any,
                  metrics: Mapping[str, Metric]) -> Tensor:
    """Stack of [loss, metric_1, ...] for one batch, float32 on the loss's device."""
    with torch.no_grad():
        values = [loss.float()]
        for name, fn in metrics.items():
            value = fn(outputs, targets)
            if not isinstance(value, Tensor) and (
                    isinstance(value, bool) or not isinstance(value, numbers.Real)):
                raise TypeError(f"metrics[{name!r}] must return a number or a one-element "
                                f"tensor, got {type(value).__name__} {value!r:.40}")
            value = torch.as_tensor(value, dtype=torch.float32, device=loss.device)
            if value.numel() != 1:
                raise ValueError(f"metrics[{name!r}] must return one number per batch (a 0-d "
                                 f"tensor such as a batch mean), got shape {tuple(value.shape)}")
            values.append(value.reshape(()))
        return torch.stack(values)


def _checked_loss(loss: Any) -> Tensor:
    """``loss_fn``'s value, refused unless it is one number (a mean-reduced loss): checked on
    the tensor's shape, no host sync."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"loss_fn must return a tensor, got {type(loss).__name__}")
    if loss.numel() != 1 or not loss.is_floating_point():
        raise ValueError(f"loss_fn must return one floating-point number per batch (e.g. "
                         f"reduction='mean'), got a {loss.dtype} tensor of shape "
                         f"{tuple(loss.shape)}")
    return loss


def _length(loader: Iterable[Any], name: str) -> int | None:
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return None
    if n == 0:
        raise ValueError(f"{name} is empty (len 0); it must yield at least one batch")
    return n


def _check_metrics(metrics: Mapping[str, Metric] | None) -> dict[str, Metric]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping) or not all(
            isinstance(k, str) and callable(f) for k, f in metrics.items()):
        raise ValueError("metrics must be a dict of name -> fn(outputs, targets) -> tensor, "
                         f"got {metrics!r}")
    if "loss" in metrics:
        raise ValueError("metrics: the name 'loss' is reserved for the loss")
    return dict(metrics)


def _epoch_values(sums: Tensor, count: int, metrics: Mapping[str, Metric]) -> dict[str, float]:
    """Mean loss and metrics over the epoch's samples, summed over ranks (one sync)."""
    count_t = torch.tensor([float(count)], device=sums.device)
    host = _all_reduce_sum(torch.cat([sums, count_t])).cpu().tolist()
    total = host[-1]
    return {name: v / total for name, v in zip(["loss", *metrics], host[:-1], strict=True)}


def evaluate(model: nn.Module, loader: Iterable[Any], loss_fn: Callable[[Any, Any], Tensor],
             metrics: Mapping[str, Metric] | None = None, device: torch.device | str | None = None,
             amp: bool | str | None = None,
             batch_fn: Callable[[Any], tuple[Any, Any]] | None = None) -> dict[str, float]:
    r"""Mean loss and metrics of ``model`` over ``loader``, in eval mode without gradients.

    Each batch's (mean-reduced) loss and metrics are weighted by its size ``n_b``:
    :math:`\bar L = \sum_b n_b L_b / \sum_b n_b`; under DDP the sums run over all ranks.
    One host synchronisation at the end. The model's train/eval mode is restored. With a
    schedule-free optimizer, call ``optimizer.eval()`` first (:func:`fit` and
    :func:`train_one_epoch` leave it in eval mode).

    Example::

        scores = evaluate(model, val_loader, nn.CrossEntropyLoss(), {"acc": accuracy})
        scores["loss"], scores["acc"]
    """
    metrics = _check_metrics(metrics)
    device = as_device(device) if device is not None else _model_device(model)
    dtype = _amp_dtype(amp, device)
    was_training = model.training
    model.eval()
    sums: Tensor | None = None
    count = 0
    try:
        with torch.no_grad():
            for batch in loader:
                inputs, targets = _split(batch, batch_fn, device)
                with _autocast(device, dtype):
                    outputs = _call(model, inputs)
                    loss = loss_fn(outputs, targets)
                values = _batch_values(loss, outputs, targets, metrics)
                n = _batch_size(targets, inputs)
                sums = values * n if sums is None else sums + values * n
                count += n
    finally:
        model.train(was_training)
    if sums is None:
        raise ValueError("loader yielded no batches; evaluate needs at least one")
    return _epoch_values(sums, count, metrics)


# --- the training loop ----------------------------------------------------------------------


def _set_epoch(loader: Iterable[Any], epoch: int) -> None:
    sampler = getattr(loader, "sampler", None)
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)


def _clip_kwargs(clip: float | Mapping[str, Any] | None) -> dict[str, Any]:
    if clip is None:
        return {}
    if isinstance(clip, Mapping):
        unknown = set(clip) - set(_CLIP_KEYS)
        if unknown:
            raise ValueError(f"clip: unknown keys {sorted(unknown)}; allowed {list(_CLIP_KEYS)} "
                             "(fit passes scaler and optimizer itself)")
        if not isinstance(clip.get("error_if_nonfinite", False), bool):
            raise TypeError(f"clip['error_if_nonfinite'] must be True or False, got "
                            f"{clip['error_if_nonfinite']!r}")
        try:  # clip_gradients' own checks, on no parameters: nothing is touched
            clip_gradients([], **clip)
        except (ValueError, TypeError) as err:
            raise type(err)(f"clip: {err}") from None
        return dict(clip)
    if isinstance(clip, bool) or not isinstance(clip, (int, float)) or not clip > 0:
        raise ValueError(f"clip must be a max_norm > 0, a dict of clip_gradients arguments, "
                         f"or None, got {clip!r}")
    return {"max_norm": float(clip)}


class _Loop:
    """One epoch of updates: what :func:`fit` and :func:`train_one_epoch` share."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 loss_fn: Callable[[Any, Any], Tensor], device: torch.device, *,
                 scheduler: Any, per_batch: bool, clip: dict[str, Any],
                 amp_dtype: torch.dtype | None, scaler: torch.amp.GradScaler | None,
                 accumulation_steps: int, metrics: dict[str, Metric],
                 batch_fn: Callable[[Any], tuple[Any, Any]] | None, on_nan: str, log_every: int,
                 history: History, writer: Any = None, bar: Any = None,
                 hooks: Hooks | None = None) -> None:
        self.model, self.optimizer, self.loss_fn, self.device = model, optimizer, loss_fn, device
        self.scheduler, self.per_batch, self.clip = scheduler, per_batch, clip
        self.amp_dtype, self.scaler = amp_dtype, scaler
        self.accumulation_steps, self.metrics, self.batch_fn = accumulation_steps, metrics, batch_fn
        self.on_nan, self.log_every, self.history = on_nan, log_every, history
        self.writer, self.bar, self.hooks = writer, bar, hooks
        self.scheduled = scheduled_keys(scheduler, optimizer)
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.ddp = isinstance(model, nn.parallel.DistributedDataParallel)
        self.world = _rank_world()[1]
        self.epoch = 0
        self.unflushed = 0
        self.first: _FirstBatch | None = None  # set by fit for a fresh run
        self.last_epoch: dict[str, str] = {}  # the bar shows the last epoch's values too

    def train_epoch(self, batches: Iterator[Any], n_batches: int | None, *,
                    position: Position | None = None, start_batch: int = 0,
                    sums: Tensor | None = None, count: int = 0) -> tuple[Tensor | None, int]:
        """Train on ``batches`` (batch ``start_batch`` onwards); return the epoch's running
        ``(sums of [loss, metrics...] * n, samples)``. ``position`` learns, after each
        update, that the run can resume there."""
        self.model.train()
        try:
            return self._train_epoch(batches, n_batches, position, start_batch, sums, count)
        except BaseException:
            if self.first is not None:  # failed before its first backward: put it back
                self.first.undo()
                self.first = None
            raise

    def _train_epoch(self, batches: Iterator[Any], n_batches: int | None,
                     position: Position | None, start_batch: int, sums: Tensor | None,
                     count: int) -> tuple[Tensor | None, int]:
        accum = self.accumulation_steps
        group_loss: Tensor | None = None
        in_group = 0
        for i, batch in enumerate(batches, start=start_batch):
            if i == start_batch:  # not before: a resumed epoch with no batches left keeps its mode
                optimizer_mode(self.optimizer, "train")
            last = (i + 1) % accum == 0 or (n_batches is not None and i + 1 == n_batches)
            # the mean over the k micro-batches of this update (k < accum for a short tail)
            k = accum if n_batches is None else min(accum, n_batches - (i // accum) * accum)
            inputs, targets = _split(batch, self.batch_fn, self.device)
            with self.model.no_sync() if self.ddp and not last else nullcontext():
                with _autocast(self.device, self.amp_dtype):
                    outputs = _call(self.model, inputs)
                    loss = _checked_loss(self.loss_fn(outputs, targets))
                n = _batch_size(targets, inputs)
                # loss and metrics are checked before the backward pass changes anything
                values = _batch_values(loss.detach().float(), outputs.detach(), targets,
                                       self.metrics) * n
                self.first = None
                scaled = loss / k if k > 1 else loss
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            loss = loss.detach().float()
            sums = values if sums is None else sums + values
            count += n
            group_loss = loss if group_loss is None else group_loss + loss
            in_group += 1
            if last:
                if position is not None:
                    position.leave()  # an interrupt inside an update cannot be resumed
                stepped = self.update(group_loss / in_group)
                if position is not None:
                    position.advance(i + 1, sums, count)
                if stepped and self.hooks is not None:
                    self.hooks.update()
                group_loss, in_group = None, 0
            if self.bar is not None:
                self.bar.update(1)
        if in_group:  # a loader without len() ended inside an accumulation group
            if position is not None:
                position.leave()
            torch._foreach_mul_([p.grad for p in self.params if p.grad is not None],
                                accum / in_group)
            if self.update(group_loss / in_group) and self.hooks is not None:
                self.hooks.update()
        return sums, count

    def update(self, loss: Tensor) -> bool:
        """One optimizer update from the accumulated gradients: unscale and clip, step the
        optimizer, zero the gradients, step a per-batch scheduler, record update ``t``.
        False when ``on_nan="skip"`` skipped it."""
        t = self.history.num_steps
        stats = clip_gradients(self.params, **self.clip, scaler=self.scaler,
                               optimizer=self.optimizer)
        lrs = [g["lr"].clone() if isinstance(g["lr"], Tensor) else g["lr"]
               for g in self.optimizer.param_groups]  # the lrs update t uses
        values = read_scheduled(self.optimizer.param_groups, self.scheduled)
        if self.on_nan == "skip" and self._skip(loss, stats.finite, t):
            return False
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None and self.per_batch:
            self.scheduler.step()
        self.history.record_step(t, lrs, loss, stats.norm_before, values)
        self.unflushed += 1
        if self.unflushed >= self.log_every:
            self.flush()
        return True

    def _skip(self, loss: Tensor, grads_finite: Tensor, t: int) -> bool:
        """on_nan="skip": drop update ``t`` if its loss (or, without a GradScaler, its
        gradient) is not finite on any rank. The one host sync per update it costs."""
        finite = torch.isfinite(loss)
        if self.scaler is None:  # under a GradScaler, inf gradients are its business
            finite = finite & grads_finite
        if _all_reduce_sum((~finite).float()).item() == 0:
            return False
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.update()
        self.history.skipped.append(t)
        return True

    def flush(self) -> None:
        """Move recorded steps to the host; raise on a non-finite loss; log them."""
        self.unflushed = 0
        first = self.history.flush(reduce=_mean_over_ranks if self.world > 1 else None)
        if self.on_nan == "raise":
            bad = self.history.first_nonfinite(first)
            if bad is not None:
                raise FloatingPointError(
                    f"non-finite loss ({bad[1]}) at step {bad[0]} (epoch {self.epoch + 1}); "
                    "lower the lr, clip gradients, or pass on_nan='skip' to skip such updates")
        if self.writer is not None:
            self.history.to_tensorboard(self.writer, steps_from=first,
                                        epochs_from=len(self.history.epochs.get("epoch", [])))
        latest = self.history.latest()
        if self.bar is not None and not self.bar.disable and latest:
            self.bar.set_postfix({"loss": f"{latest['loss']:.4g}", "lr": f"{latest['lr']:.3g}",
                                  **self.last_epoch}, refresh=False)


def _check_callables(loss_fn: Any, batch_fn: Any) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable (outputs, targets) -> scalar tensor, got "
                        f"{type(loss_fn).__name__} {loss_fn!r}")
    if batch_fn is not None and not callable(batch_fn):
        raise TypeError(f"batch_fn must be a callable batch -> (inputs, targets) or None, got "
                        f"{type(batch_fn).__name__}")


def _check_common(accumulation_steps: int, step_scheduler: str, on_nan: str, log_every: int,
                  scheduler: Any, optimizer: torch.optim.Optimizer) -> None:
    if isinstance(accumulation_steps, bool) or not isinstance(accumulation_steps, int) \
            or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be an integer >= 1, got {accumulation_steps!r}")
    if step_scheduler not in STEP_SCHEDULER:
        raise ValueError(f"step_scheduler must be one of {STEP_SCHEDULER}, got {step_scheduler!r}")
    if on_nan not in ON_NAN:
        raise ValueError(f"on_nan must be one of {ON_NAN}, got {on_nan!r}")
    if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
        raise ValueError(f"log_every must be an integer >= 1, got {log_every!r}")
    if scheduler is not None and getattr(scheduler, "optimizer", None) is not optimizer:
        raise ValueError("scheduler is bound to a different optimizer than the one given "
                         "(scheduler.optimizer is not optimizer)")


def _check_reiterable(loader: Iterable[Any] | None, name: str, passes: int) -> None:
    """A one-shot iterator (a generator) is exhausted after one pass: say so up front. An
    iterator is recognised by its type, without calling ``iter`` (which would draw from a
    DataLoader's shuffling generator)."""
    if loader is not None and passes > 1 and isinstance(loader, Iterator):
        raise ValueError(f"{name} is a one-shot iterator ({type(loader).__name__}), exhausted "
                         f"after one pass; pass a re-iterable loader (a DataLoader, a list) for "
                         f"{passes} epochs")


def _check_fit_arguments(model: Any, train_loader: Any, optimizer: Any, loss_fn: Any,
                         epochs: Any, *, val_loader: Any, scheduler: Any, step_scheduler: Any,
                         clip: Any, amp: Any, accumulation_steps: Any, metrics: Any, device: Any,
                         checkpoint: Any, resume: Any, overwrite: Any, writer: Any,
                         progress: Any, log_every: Any, on_nan: Any, history: Any,
                         batch_fn: Any) -> tuple[dict[str, Metric], dict[str, Any], torch.device]:
    """Every check :func:`fit` can make before it changes anything (no forward pass, no random
    draw, no file touched but the checkpoint folder's probe); returns the normalised
    ``(metrics, clip arguments, device)``. What only a batch can tell (the loss's and the
    metrics' shapes, ``batch_fn``'s output) is checked on the first batch, before its
    backward pass, and a failure there puts back what that batch changed."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an integer >= 1, got {epochs!r}")
    _check_common(accumulation_steps, step_scheduler, on_nan, log_every, scheduler, optimizer)
    _check_callables(loss_fn, batch_fn)
    for name, loader in (("train_loader", train_loader), ("val_loader", val_loader)):
        if loader is not None and not isinstance(loader, Iterable):
            raise TypeError(f"{name} must be an iterable of batches (a DataLoader, a list), "
                            f"got {type(loader).__name__}")
    if train_loader is None:
        raise TypeError("train_loader must be an iterable of batches, got None")
    metrics = _check_metrics(metrics)
    clip_kwargs = _clip_kwargs(clip)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {type(progress).__name__} "
                        f"{progress!r}")
    if history is not None and not isinstance(history, History):
        raise TypeError(f"history must be a lrnotes History or None, got "
                        f"{type(history).__name__}")
    if writer is not None and not hasattr(writer, "add_scalar") \
            and not isinstance(writer, (str, os.PathLike)):
        raise TypeError(f"writer must be a SummaryWriter, a log directory or None, got "
                        f"{type(writer).__name__}")
    _resume_path(resume, checkpoint, overwrite)
    if checkpoint is not None and not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a file path, got {type(checkpoint).__name__}")
    device = as_device(device) if device is not None else _model_device(model)
    _amp_dtype(amp, device)
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    stepped = [(i, p) for i, g in enumerate(optimizer.param_groups) for p in g["params"]]
    if not trainable or not any(id(p) in trainable for _, p in stepped):
        raise ValueError("model: no parameter that the optimizer updates requires grad (all "
                         "frozen, or the optimizer holds other parameters); nothing would train")
    if checkpoint is not None:
        _check_saved_parameters(model, loss_fn, stepped)
    return metrics, clip_kwargs, device


def _check_saved_parameters(model: nn.Module, loss_fn: Any,
                            stepped: list[tuple[int, Tensor]]) -> None:
    """A checkpoint saves the model and a loss module: refuse parameters the optimizer updates
    that live in neither, as they would be lost on resume."""
    kept = {id(p) for p in model.parameters()}
    if isinstance(loss_fn, nn.Module):
        kept |= {id(p) for p in loss_fn.parameters()}
    lost = [f"param_groups[{i}]: a {tuple(p.shape)} tensor" for i, p in stepped
            if id(p) not in kept]
    if lost:
        raise ValueError(f"optimizer: it updates parameters that are neither in the model nor "
                         f"in loss_fn, so a checkpoint would not hold them ({', '.join(lost[:5])})"
                         "; make them part of the model (or of an nn.Module loss_fn)")


class _FirstBatch:
    """What a run's first batch may change before its first backward pass (buffers such as
    BatchNorm's running statistics, the gradients, the RNG states), put back by :meth:`undo`
    when that batch fails its checks (the loss's or a metric's shape, ``batch_fn``'s output,
    an error in the model or the loader)."""

    def __init__(self, model: nn.Module, params: list[Tensor],
                 generators: list[torch.Generator]) -> None:
        self.buffers = [(b, b.detach().clone()) for b in model.buffers()]
        self.modes = [(m, m.training) for m in model.modules()]
        self.grads = [(p, p.grad) for p in params]
        self.generators = generators
        self.rng = ckpt.rng_state(generators)

    @torch.no_grad()
    def undo(self) -> None:
        for buffer, saved in self.buffers:
            buffer.copy_(saved)
        for module, training in self.modes:
            module.training = training
        for p, grad in self.grads:
            p.grad = grad
        ckpt.set_rng_state(self.rng, self.generators)


def _group_names(optimizer: torch.optim.Optimizer) -> list[str]:
    return [str(g.get("name", f"group_{i}")) for i, g in enumerate(optimizer.param_groups)]


def _epoch_keys(metrics: Mapping[str, Metric], val_loader: Any,
                group_names: list[str]) -> tuple[str, ...]:
    """The keys of an epoch's values, which callbacks may monitor."""
    parts = ["train", "val"] if val_loader is not None else ["train"]
    return (*(f"{part}_{name}" for part in parts for name in ("loss", *metrics)),
            *(f"lr/{name}" for name in group_names))


def train_one_epoch(model: nn.Module, loader: Iterable[Any], optimizer: torch.optim.Optimizer,
                    loss_fn: Callable[[Any, Any], Tensor], *, scheduler: Any = None,
                    clip: float | Mapping[str, Any] | None = None,
                    amp: bool | str | None = None, scaler: torch.amp.GradScaler | None = None,
                    accumulation_steps: int = 1, metrics: Mapping[str, Metric] | None = None,
                    device: torch.device | str | None = None, history: History | None = None,
                    batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
                    on_nan: str = "raise", log_every: int = 50) -> dict[str, float]:
    """Train ``model`` for one pass over ``loader``; return the epoch's mean loss and metrics.

    The same update as :func:`fit` (see the module docstring): ``scheduler`` is stepped
    after every optimizer update (step per-epoch schedulers yourself, after this call);
    ``amp="fp16"`` makes a ``GradScaler`` unless you pass ``scaler`` (pass one to keep
    its scale across epochs). Steps are appended to ``history`` when given. A schedule-free
    optimizer (one with ``train()``/``eval()``) is put in train mode for the updates and
    left in eval mode, so :func:`evaluate` after this call sees the averaged weights.

    Example::

        for epoch in range(3):
            train = train_one_epoch(model, train_loader, opt, loss_fn, scheduler=sched)
            val = evaluate(model, val_loader, loss_fn)
    """
    _check_common(accumulation_steps, "batch", on_nan, log_every, scheduler, optimizer)
    _check_callables(loss_fn, batch_fn)
    if isinstance(scheduler, ReduceLROnPlateau):
        raise ValueError("scheduler: ReduceLROnPlateau needs a metric; step it yourself with "
                         "evaluate()'s loss after the epoch")
    if getattr(scheduler, "unresolved", False):  # it would raise after the first update
        raise ValueError("scheduler: its schedule has lengths relative to the run; call "
                         "scheduler.resolve(total_steps) first (fit does it itself)")
    metrics = _check_metrics(metrics)
    n_batches = _length(loader, "loader")
    device = as_device(device) if device is not None else _model_device(model)
    dtype = _amp_dtype(amp, device)
    if dtype == torch.float16 and scaler is None:
        scaler = torch.amp.GradScaler(device.type)
    history = history if history is not None else History()
    if not history.group_names:
        history.group_names = _group_names(optimizer)
    loop = _Loop(model, optimizer, loss_fn, device, scheduler=scheduler, per_batch=True,
                 clip=_clip_kwargs(clip), amp_dtype=dtype, scaler=scaler,
                 accumulation_steps=accumulation_steps, metrics=metrics, batch_fn=batch_fn,
                 on_nan=on_nan, log_every=log_every, history=history)
    loop.first = _FirstBatch(model, loop.params, loader_generators(loader))
    try:
        sums, count = loop.train_epoch(iter(loader), n_batches)
        loop.flush()
    finally:
        optimizer_mode(optimizer, "eval")
    if sums is None:
        raise ValueError("loader yielded no batches; it must yield at least one")
    return _epoch_values(sums, count, metrics)


def fit(model: nn.Module, train_loader: Iterable[Any], optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], Tensor], epochs: int, *,
        val_loader: Iterable[Any] | None = None, scheduler: Any = None,
        step_scheduler: str = "auto", clip: float | Mapping[str, Any] | None = None,
        amp: bool | str | None = None, accumulation_steps: int = 1,
        metrics: Mapping[str, Metric] | None = None, device: torch.device | str | None = None,
        checkpoint: str | os.PathLike | None = None, resume: bool | str | os.PathLike = False,
        overwrite: bool = False, writer: Any = None, progress: bool = True, log_every: int = 50,
        on_nan: str = "raise", history: History | None = None,
        batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
        reschedule: str | None = None,
        callbacks: list[Any] | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs and return its :class:`~lrnotes.monitor.History`.

    The loop (one update is the module docstring's: forward, backward, clip, optimizer
    step, scheduler step, record)::

        for epoch in range(start_epoch, epochs):      # start_epoch > 0 when resuming
            for each batch of train_loader:           # those done skipped, when resuming
                forward, backward                     # k = accumulation_steps batches,
                update t                              # then one update
            evaluate(model, val_loader)               # the epoch's train and val values
            scheduler.step()                          # per epoch, or ReduceLROnPlateau
            history.record_epoch(...)
            stop = any(cb.on_epoch_end(state) for cb in callbacks)
            save checkpoint; if stop: break

    Update ``t`` steps with :math:`g_t = \\mathrm{clip}(\\frac{1}{k}\\sum_{j<k} \\nabla L_j)`,
    the mean gradient of ``k = accumulation_steps`` micro-batches (a short last group of
    an epoch by its own size), unscaled first under a GradScaler; so ``k`` batches of
    ``b`` match one batch of ``k*b`` for mean-reduced losses.

    Args:
        train_loader, val_loader: iterables of batches. A batch is ``(inputs, targets)``;
            ``inputs`` may be a tensor (``model(x)``), a tuple (``model(*x)``, e.g.
            ``(tokens, lengths)`` for an LSTM) or a dict (``model(**x)``); every tensor
            inside is moved to ``device``. Other batch layouts: ``batch_fn(batch) ->
            (inputs, targets)``.
        epochs: total number of epochs of the run (>= 1), also when resuming.
        scheduler: a torch ``LRScheduler`` (lrnotes' ``attach`` gives one) bound to
            ``optimizer``. A schedule's lengths given relative to the run (``S.of_run``,
            ``S.rest``, ``S.epochs(n)``) are resolved against this run's updates per
            process (:mod:`lrnotes.runplan`). A schedule that ends more than one update
            before the run's last update on a decayed value, or after it, gets a
            :class:`~lrnotes.runplan.ScheduleLengthWarning` naming both lengths.
        step_scheduler: ``"auto"`` (default), ``"batch"`` (after every optimizer update)
            or ``"epoch"``. ``"auto"`` steps each kind the way its own idiom means
            (:func:`lrnotes.runplan.stepping` has the table), and refuses, before any
            update, the schedulers whose unit it cannot know:

            ===================================  =============================================
            scheduler                            ``"auto"``
            ===================================  =============================================
            ``S.attach`` (ScheduledLR)           per update (``"epoch"`` is refused unless
                                                 attached with ``count="calls"``)
            ``OneCycleLR``, ``CyclicLR``         per update (OneCycleLR per epoch only when
                                                 ``total_steps == epochs``)
            ``CosineAnnealingLR``, ``LinearLR``  the unit its length (``T_max``,
            ``ConstantLR``, ``PolynomialLR``,    ``total_iters``, ``T_0``) equals: epochs or
            ``CosineAnnealingWarmRestarts``      updates of the run; refused otherwise
            ``StepLR``, ``MultiStepLR``,         per epoch
            ``ExponentialLR``
            ``LambdaLR``, ``MultiplicativeLR``,  refused: pass ``"batch"`` or ``"epoch"``
            ``SequentialLR``,
            ``ChainedScheduler``, others
            ``ReduceLROnPlateau``                per epoch with the validation loss (the
                                                 training loss without ``val_loader``)
            ===================================  =============================================

            A schedule with a ``plateau`` part gets the same metric through
            ``scheduler.report`` at every epoch's end.
        clip: a ``max_norm`` (> 0) or a dict of :func:`lrnotes.clip.clip_gradients`
            arguments (``max_norm``, ``max_value``, ``agc``, ...). Always applied to
            the true gradients (unscaled first under a GradScaler).
        amp: None/False (float32); ``"bf16"`` (bfloat16 autocast, no scaler);
            ``"fp16"`` (float16 autocast and a ``GradScaler``); True (fp16 on CUDA,
            bf16 elsewhere).
        metrics: ``{name: fn(outputs, targets) -> 0-d tensor}``, a batch mean such as
            :func:`accuracy`; averaged per epoch over samples for train and validation.
            Default none (the loss is always recorded).
        device: where to train; default the model's device. The model is moved there.
        checkpoint: a file path written after every epoch and on KeyboardInterrupt (see
            :mod:`lrnotes.checkpoint`: atomic, checksummed, verified before it is loaded):
            model, optimizer, scheduler, scaler, history, RNG states (torch, cuda, numpy,
            python, the loader's generators) and the position in the epoch (on an interrupt,
            the model's buffers as of the last update: BatchNorm's running statistics, which
            the interrupted batch's forward pass moved; a copy of them per update). Checked before
            training: not a directory, writable, and not an existing file unless ``resume``
            continues from it or ``overwrite=True``. One run writes a path at a time: the
            run holds :func:`lrnotes.checkpoint.hold` on it, and a second run on the same
            path is refused at once (``CheckpointInUse``, naming the holder's pid and
            host). Only a finite state is written (else the last good file stays, with a
            ``RuntimeWarning``). An ``nn.Module`` ``loss_fn`` with parameters is saved too;
            other parameters the optimizer updates outside the model are refused up front.
            It is a pickle: load only checkpoints you wrote.
        resume: True to continue from ``checkpoint`` when that file exists (a fresh
            start otherwise), or the path of a checkpoint to continue from. The whole file
            is checked before anything is loaded: the model, optimizer, scheduler (a
            ``ScheduledLR``'s whole state), ``amp``, a learnable loss, the counters, and the
            position against the loader (its length, batch size, and the skip to the saved
            batch); a file that does not fit raises
            :class:`~lrnotes.checkpoint.CheckpointError` (a ``ValueError``) naming it.
        overwrite: True to start over and replace an existing ``checkpoint`` file.
        writer: a TensorBoard ``SummaryWriter`` or a log directory: gets ``lr/<group>``,
            ``train/loss``, ``train/grad_norm`` per update and ``epoch/<key>`` per epoch.
        progress: a progress bar (:func:`lrnotes.progress.progress_bar`: off with
            ``TQDM_DISABLE=1`` and in notebooks executed headless) whose postfix shows the
            last epoch's values. Without a drawn bar (``progress=False``, a script's log, a
            notebook run by papermill) a line per epoch with every value is printed instead
            (:class:`~lrnotes.callbacks.PrintEpochs`).
        log_every: updates between flushes of the recorded values to the host (the
            only host syncs of the loop), TensorBoard writes and NaN checks.
        on_nan: ``"raise"``: a non-finite loss raises ``FloatingPointError`` naming its
            step, at the next flush (at most ``log_every - 1`` updates later; pass
            ``log_every=1`` to stop at once). ``"skip"``: an update whose loss (or, without
            a GradScaler, gradient) is not finite is skipped and listed in
            ``history.skipped``; this costs one host sync per update.
        history: a History to append to (kept even if ``fit`` raises); default a new one.
        reschedule: when resuming, what to do if the checkpoint's schedule differs from
            the one passed (a grown run): None (default) refuses before anything is
            restored; ``"extend"`` re-times the saved schedule to end at this run's last
            update (:meth:`~lrnotes.schedules.ScheduledLR.extend`, the lr continuous);
            ``"replace"`` continues on the passed schedule from the saved update. A
            checkpoint that already holds every epoch gives a
            :class:`~lrnotes.runplan.CompletedRunWarning` and trains nothing.
        callbacks: a list of :class:`~lrnotes.callbacks.Callback` objects called at the run's
            start and end, after each update and at each epoch's end (which may stop the
            run): e.g. :class:`~lrnotes.callbacks.EarlyStopping`,
            :class:`~lrnotes.callbacks.KeepBest`. Their state is in the checkpoints, so a
            resumed run stops and keeps the same epochs as an uninterrupted one. A
            :class:`~lrnotes.callbacks.PrintEpochs` is added unless one is given
            (``PrintEpochs(every=0)`` silences this run).

    Exact resume: restarting from a mid-epoch checkpoint restores the RNG states of the
    epoch's start, re-creates the loader's iterator, skips (loads and discards) the
    batches already used, then restores the RNG states of the interruption; on the CPU
    the parameters equal an uninterrupted run's bit for bit. This needs a loader whose
    order is a function of those states: a torch ``DataLoader`` with ``shuffle=True``
    (with or without ``generator=``), a ``DistributedSampler``, or any sampler drawing
    from torch's global RNG or the loader's generator; same data, batch size and model.
    An interrupt inside an optimizer update cannot be resumed exactly, so then no
    checkpoint is written (the last epoch's one stays).

    KeyboardInterrupt and FloatingPointError carry the history as ``err.history``.

    Validate first, then act: every argument is checked before the first forward pass,
    random draw or restored byte (TypeError/ValueError naming it). What only a batch can
    tell (``loss_fn`` returning one number, each metric one number, ``batch_fn`` a pair) is
    checked on each batch before its backward pass; when the first batch of a fresh run
    fails, its BatchNorm statistics, gradients and RNG states are put back.

    Schedule-free optimizers (``schedulefree.AdamWScheduleFree`` and every optimizer with
    ``train()`` and ``eval()`` methods; see :func:`optimizer_mode`): ``fit`` puts the
    optimizer in train mode before an epoch's first update and in eval mode at the epoch's
    end, so validation, the epoch's checkpoint and the returned model use the averaged
    weights ``x``, never the gradient point ``y``. A checkpoint written on an interrupt
    mid-epoch holds the train-mode weights and the mode, so resume is exact either way.
    Their internal warmup is theirs: ``history.lr`` records ``param_groups[i]["lr"]``.

    Distributed: with a ``torch.distributed`` process group of world size > 1 (e.g. under
    ``torchrun``) the model is wrapped in ``DistributedDataParallel`` unless it is one
    (after every check: wrapping gives every rank rank 0's weights, so a refused run does not),
    ``DataLoader``\\ s without a ``DistributedSampler`` are rebuilt with
    :func:`distributed_loader`, ``set_epoch`` is called each epoch, losses and metrics
    are averaged over ranks, and only rank 0 shows progress and writes TensorBoard and
    checkpoints (interrupt checkpoints are single-process only). The ranks leave ``fit``
    together (a barrier), so none calls ``destroy_process_group`` while rank 0 still
    writes.

    Example::

        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=3 * len(loader))
        history = fit(model, loader, opt, nn.CrossEntropyLoss(), epochs=3, scheduler=sched)
        history.plot()
    """
    # validate first, then act: nothing below runs before every argument is checked
    metrics, clip_kwargs, device = _check_fit_arguments(
        model, train_loader, optimizer, loss_fn, epochs, val_loader=val_loader,
        scheduler=scheduler, step_scheduler=step_scheduler, clip=clip, amp=amp,
        accumulation_steps=accumulation_steps, metrics=metrics, device=device,
        checkpoint=checkpoint, resume=resume, overwrite=overwrite, writer=writer,
        progress=progress, log_every=log_every, on_nan=on_nan, history=history,
        batch_fn=batch_fn)
    callbacks = check_callbacks(callbacks)
    runplan.check_reschedule(reschedule)
    rank = _rank_world()[0]
    target = None if checkpoint is None else ckpt.check_target(checkpoint, may_exist=True)
    # one writer per checkpoint path, for the whole run (rank 0 is the only writer)
    with ckpt.hold(target) if target is not None and rank == 0 else nullcontext():
        resume_path = _resume_path(resume, checkpoint, overwrite)
        if checkpoint is not None:  # inside the lock: another run may have written it since
            continues = resume_path is not None and os.path.abspath(os.fspath(resume_path)) \
                == target
            checkpoint = ckpt.check_target(checkpoint, may_exist=continues or overwrite)
        return _run(model, train_loader, optimizer, loss_fn, epochs, val_loader=val_loader,
                    scheduler=scheduler, step_scheduler=step_scheduler, clip_kwargs=clip_kwargs,
                    amp=amp, accumulation_steps=accumulation_steps, metrics=metrics,
                    device=device, checkpoint=checkpoint, resume_path=resume_path,
                    writer=writer, progress=progress, log_every=log_every, on_nan=on_nan,
                    history=history, batch_fn=batch_fn, callbacks=callbacks,
                    reschedule=reschedule)


def _run(model: nn.Module, train_loader: Iterable[Any], optimizer: torch.optim.Optimizer,
         loss_fn: Callable[[Any, Any], Tensor], epochs: int, *, val_loader: Iterable[Any] | None,
         scheduler: Any, step_scheduler: str, clip_kwargs: dict[str, Any], amp: Any,
         accumulation_steps: int, metrics: dict[str, Metric], device: torch.device,
         checkpoint: str | None, resume_path: str | os.PathLike | None, writer: Any,
         progress: bool, log_every: int, on_nan: str, history: History | None,
         batch_fn: Callable[[Any], tuple[Any, Any]] | None, callbacks: list[Any],
         reschedule: str | None) -> History:
    """:func:`fit` after its arguments were checked, holding the checkpoint path."""
    dtype = _amp_dtype(amp, device)
    rank, world = _rank_world()
    net = model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
    train_loader, val_loader = _distribute_loaders(train_loader, val_loader, world)
    n_batches = _length(train_loader, "train_loader")
    if world > 1 and n_batches is None:
        raise ValueError("train_loader must have a len() under DDP (ranks must agree on "
                         "when an epoch ends)")
    if val_loader is not None:
        _length(val_loader, "val_loader")
    lr_plan = runplan.plan(scheduler, step_scheduler,
                           runplan.updates_per_epoch(n_batches, accumulation_steps), epochs)
    history = history if history is not None else History()
    if not history.group_names:
        history.group_names = _group_names(optimizer)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    plateau = isinstance(scheduler, ReduceLROnPlateau)
    generators = loader_generators(train_loader)

    run = RunState(net, optimizer, scheduler, history, epochs, rank=rank,
                   epoch_keys=_epoch_keys(metrics, val_loader, history.group_names))
    hooks = Hooks(callbacks, run)

    # resume: read and check the whole checkpoint (every object, the position against the
    # loader, the counters) before the first byte of it is restored
    state = None
    if resume_path is not None:
        state = ckpt.load(resume_path, map_location="cpu")
        ckpt.verify(state, resume_path, model=net, optimizer=optimizer, scheduler=scheduler,
                    scaler=scaler, history=history, generators=generators,
                    batches_per_epoch=n_batches, epochs=epochs,
                    batch_size=_loader_batch_size(train_loader), loss_fn=loss_fn,
                    callbacks=hooks)
        runplan.check_resume(state, resume_path, scheduler, lr_plan, reschedule, epochs)
    start_epoch = 0 if state is None else state["epoch"]
    _check_reiterable(train_loader, "train_loader", epochs - start_epoch)
    _check_reiterable(val_loader, "val_loader", epochs - start_epoch)
    position = ckpt.Position(generators, track=checkpoint is not None and world == 1,
                             batches_per_epoch=n_batches, model=net)
    opened = None
    if state is not None and start_epoch < epochs:
        # skip to the saved batch first: a loader too short for it refuses here, with nothing
        # restored (and the RNG states put back)
        _set_epoch(train_loader, start_epoch)
        opened = position.open(train_loader, start_epoch, state, rank, device)
    run.epoch = start_epoch
    hooks.fit_start()
    # every check passed: act. The model moves and, under DDP, is wrapped only now: wrapping
    # broadcasts rank 0's weights to the other ranks, which a refused run must not have done
    model.to(device)
    model = _wrap(model, device, world)
    if state is not None:
        ckpt.restore(state, resume_path, model=net, optimizer=optimizer, scheduler=scheduler,
                     scaler=scaler, history=history, loss_fn=loss_fn, callbacks=hooks)
        position.retake_buffers()  # the resume point's buffers are the checkpoint's
    runplan.apply(scheduler, lr_plan, resumed=state is not None, reschedule=reschedule)
    if rank == 0:
        runplan.warn(lr_plan)

    writer, own_writer = open_writer(writer) if writer is not None and rank == 0 else (None, False)
    done = 0 if state is None else start_epoch * (n_batches or 0) + state["batch"]
    bar = progress_bar(total=None if n_batches is None else epochs * n_batches,
                       enabled=progress and rank == 0, initial=done, unit="batch",
                       dynamic_ncols=True)
    run.live_bar = not bar.disable
    loop = _Loop(model, optimizer, loss_fn, device, scheduler=scheduler,
                 per_batch=lr_plan.stepping == "batch", clip=clip_kwargs,
                 amp_dtype=dtype, scaler=scaler, accumulation_steps=accumulation_steps,
                 metrics=metrics, batch_fn=batch_fn, on_nan=on_nan, log_every=log_every,
                 history=history, writer=writer, bar=bar, hooks=hooks)
    if state is None:  # a fresh run's first batch puts back what it changed if it fails
        loop.first = _FirstBatch(net, loop.params, generators)
    optimizer.zero_grad(set_to_none=True)
    try:
        for epoch in range(start_epoch, epochs):
            if hooks.stopped:  # a callback stopped the run (also before a resume)
                break
            loop.epoch = epoch
            started = time.perf_counter()
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            if opened is None:
                _set_epoch(train_loader, epoch)
            batches, sums, count = opened or position.open(train_loader, epoch, state, rank,
                                                           device)
            start_batch, state, opened = (0 if state is None else state["batch"]), None, None
            sums, count = loop.train_epoch(batches, n_batches, position=position,
                                           start_batch=start_batch, sums=sums, count=count)
            loop.flush()
            optimizer_mode(optimizer, "eval")  # validate and save the weights a user keeps
            if sums is None:
                raise ValueError("train_loader yielded no batches; it must yield at least one")
            values = {f"train_{k}": v for k, v in _epoch_values(sums, count, metrics).items()}
            if val_loader is not None:  # an interrupt here resumes at this validation
                val = evaluate(model, val_loader, loss_fn, metrics, device, amp, batch_fn)
                values.update({f"val_{k}": v for k, v in val.items()})
            position.leave()  # the epoch's end: an interrupt resumes from its checkpoint
            if plateau:
                scheduler.step(values.get("val_loss", values["train_loss"]))
            elif lr_plan.stepping == "epoch":
                scheduler.step()
            if getattr(scheduler, "reads_metric", False):  # an lrnotes plateau part
                scheduler.report(values.get("val_loss", values["train_loss"]))
            for name, group in zip(history.group_names, optimizer.param_groups, strict=True):
                values[f"lr/{name}"] = float(group["lr"])
            history.record_epoch(epoch=len(history.epochs.get("epoch", [])) + 1,
                                 step=history.num_steps, **values,
                                 seconds=time.perf_counter() - started)
            _log_epoch(writer, loop, history, values)
            hooks.epoch_end(epoch, {**values, "seconds": history.epochs["seconds"][-1]})
            if checkpoint is not None:
                _save_epoch(checkpoint, net, optimizer, scheduler, scaler, history, epoch + 1,
                            n_batches, generators, hooks, _loader_batch_size(train_loader),
                            loss_fn)
        hooks.fit_end()
    except KeyboardInterrupt as err:
        err.history = history
        if checkpoint is not None and position.resumable:
            _save_finite(ckpt.capture(net, optimizer, scheduler, scaler, history,
                                      **position.where(),
                                      batch_size=_loader_batch_size(train_loader),
                                      loss_fn=loss_fn, callbacks=hooks.state_dict()),
                         checkpoint, err)
        raise
    except FloatingPointError as err:
        err.history = history
        raise
    finally:
        optimizer_mode(optimizer, "eval")
        bar.close()
        if own_writer:
            writer.close()
    if world > 1:  # rank 0 may still have been writing: every rank returns together
        dist.barrier()
    return history


def _resume_path(resume: Any, checkpoint: Any, overwrite: Any) -> str | os.PathLike | None:
    """The file to resume from (None: a fresh start), after checking the arguments."""
    if resume is not False and resume is not True and not isinstance(resume, (str, os.PathLike)):
        raise TypeError(f"resume must be a bool or a checkpoint path, got {resume!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be a bool, got {type(overwrite).__name__}")
    if resume is True and checkpoint is None:
        raise ValueError("resume=True needs checkpoint, the path to resume from")
    if overwrite and resume is not False:
        raise ValueError("resume and overwrite=True contradict each other: resume continues "
                         "from a checkpoint, overwrite starts over; pass one of them")
    if overwrite and checkpoint is None:
        raise ValueError("overwrite=True needs checkpoint, the file to replace")
    if resume is False:
        return None
    if resume is True:  # continue when the file is there, else start
        return checkpoint if os.path.exists(checkpoint) else None
    if not os.path.exists(resume):
        raise ValueError(f"resume: no checkpoint at {os.fspath(resume)!r}")
    return resume


def _distribute_loaders(train_loader: Iterable[Any], val_loader: Iterable[Any] | None,
                        world: int) -> tuple[Any, Any]:
    """Under a process group of world size > 1: ``DataLoader``\\ s with a
    ``DistributedSampler`` (new loaders; the model and the RNGs are not touched)."""
    if world > 1:
        if isinstance(train_loader, DataLoader) and not isinstance(train_loader.sampler,
                                                                   DistributedSampler):
            train_loader = distributed_loader(train_loader)
        if isinstance(val_loader, DataLoader) and not isinstance(val_loader.sampler,
                                                                 DistributedSampler):
            val_loader = distributed_loader(val_loader, shuffle=False)
    return train_loader, val_loader


def _wrap(model: nn.Module, device: torch.device, world: int) -> nn.Module:
    """The model in ``DistributedDataParallel`` under a process group of world size > 1
    (which broadcasts rank 0's parameters and buffers to every rank), unless it is one."""
    if world > 1 and not isinstance(model, nn.parallel.DistributedDataParallel):
        model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None)
    return model


def _log_epoch(writer: Any, loop: _Loop, history: History, values: Mapping[str, float]) -> None:
    """The epoch's values to TensorBoard and the progress bar (whose postfix keeps them)."""
    if writer is not None:
        history.to_tensorboard(writer, steps_from=history.num_steps,
                               epochs_from=len(history.epochs["epoch"]) - 1)
        writer.flush()
    loop.last_epoch = format_values(values)
    loop.bar.set_postfix(loop.last_epoch)


def _save_finite(state: dict[str, Any], path: str, err: BaseException | None = None) -> None:
    """Write ``state`` unless a parameter or optimizer state is not finite: then the last good
    checkpoint stays, and a warning (and a note on ``err``) says so."""
    bad = ckpt.nonfinite(state)
    if not bad:
        ckpt.save(state, path)
        return
    message = (f"checkpoint {path!r} was not written: the state is not finite ({', '.join(bad)}); "
               "the last finite checkpoint is kept")
    if err is not None:
        err.add_note(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


def _loader_batch_size(loader: Any) -> int | None:
    size = getattr(loader, "batch_size", None)
    return size if isinstance(size, int) and not isinstance(size, bool) else None


def _save_epoch(path: str, net: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                scaler: torch.amp.GradScaler | None, history: History, epochs_done: int,
                n_batches: int | None, generators: list[torch.Generator], hooks: Hooks,
                batch_size: int | None = None, loss_fn: Any = None) -> None:
    """The checkpoint after ``epochs_done`` epochs, with every rank's RNG states; written by
    rank 0."""
    rank, world = _rank_world()
    rng = ckpt.rng_state(generators)
    rngs: list[Any] = [rng] if world == 1 else [None] * world
    if world > 1:
        dist.all_gather_object(rngs, rng)
    if rank == 0:
        _save_finite(ckpt.capture(net, optimizer, scheduler, scaler, history, epoch=epochs_done,
                                  batches_per_epoch=n_batches, rng=rngs, epoch_rng=rngs,
                                  batch_size=batch_size, loss_fn=loss_fn,
                                  callbacks=hooks.state_dict()), path)
