"""The LR range test (Smith, 2017, sec. 3.3): raise the lr step by step, watch the loss, put
everything back.

:func:`lr_find` trains the model for ``num_steps`` optimizer updates while the learning rate
sweeps from ``start_lr`` to ``end_lr``, records the raw and the smoothed loss, stops when the loss
diverges, and then restores the model, the optimizer, the GradScaler and the random number
generators bit for bit, in memory, whatever happened (success, exception, KeyboardInterrupt).
:class:`LRFindResult` holds the curve, the suggestion rules and a plot.
"""

from __future__ import annotations

import copy
import math
import numbers
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn

from lrnotes.batch import _amp_dtype, forward, to_device
from lrnotes.data import loader_generators
from lrnotes.env import as_device
from lrnotes.optim import optimizer_mode
from lrnotes.progress import progress_bar

MODES = ("exp", "linear")
METHODS = ("steepest", "valley", "minimum")


# --- the result ------------------------------------------------------------


@dataclass(frozen=True)
class LRFindResult:
    """The curve an LR range test recorded, and the rules that read an lr off it.

    ``lrs[i]`` is the lr of the reference param group used by the ``i``-th optimizer update
    (set before that update), ``losses[i]`` the loss measured at that step (the training loss of
    the step's batches, or the validation loss after the update when ``lr_find`` had a
    ``val_loader``) and ``smoothed[i]`` its debiased exponential moving average (see
    :func:`lr_find`). ``stop_lr`` is the lr of the step that stopped the run early (that step is
    recorded when it diverged, and left out when its loss was not finite).

    Example::

        >>> r = LRFindResult(lrs=[1e-3, 1e-2, 1e-1, 1.0], losses=[1.0, 0.8, 0.3, 2.0],
        ...                  smoothed=[1.0, 0.8, 0.3, 2.0])
        >>> r.suggest("minimum")
        0.01
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    stopped_early: bool = False
    stop_reason: str = ""
    stop_lr: float | None = None
    loss_label: str = "training loss"
    reference: int = 0

    def __post_init__(self) -> None:
        for name in ("lrs", "losses", "smoothed"):
            array = np.asarray(getattr(self, name), dtype=np.float64)
            if array.ndim != 1 or array.size == 0:
                raise ValueError(
                    f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
            object.__setattr__(self, name, array)
        if not len(self.lrs) == len(self.losses) == len(self.smoothed):
            raise ValueError(
                "lrs, losses and smoothed must have the same length, got "
                f"{len(self.lrs)}, {len(self.losses)} and {len(self.smoothed)}"
            )
        if not np.all(self.lrs > 0):
            raise ValueError("lrs must all be > 0 (they are read on a log scale)")

    def suggest(self, method: str = "valley") -> float:
        """Return the lr that rule ``method`` reads off the smoothed curve.

        - ``"steepest"``: the lr where the smoothed loss falls fastest against ``log10(lr)``
          (``np.gradient``), searched from the ``n // 10``-th point (the first points only show
          the smoothing settling) up to the minimum of the smoothed loss (past the minimum the
          run is diverging), as torch-lr-finder does.
        - ``"valley"``: fastai's rule: after skipping the first ``n // 10`` points, find the longest
          strictly decreasing subsequence of the smoothed loss ending at ``end`` with ``length``
          points, set ``start = end - length`` and return the lr at
          ``start + int((end - start) / 3) + int((end - start) / 6)``, about the middle of the
          valley.
        - ``"minimum"``: the lr of the minimum of the smoothed loss, divided by 10.

        Every rule reads the curve only up to its first non-finite smoothed loss (NaN, inf), so
        no rule returns the lr of a NaN loss. Raises ValueError for an unknown method, or when
        the smoothed loss never decreases (no rule has an answer then). Example::

            >>> lrs = np.logspace(-4, 0, 50)
            >>> r = LRFindResult(lrs, 1 / (1 + lrs * 100), 1 / (1 + lrs * 100))
            >>> r.suggest("minimum")   # the loss still falls at the end
            0.1
        """
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        lr = self._suggestion(method)
        if lr is None:
            raise ValueError(
                f"rule {method!r} has no answer: the smoothed loss never decreases "
                f"(from {self.smoothed[0]:.4g} at lr={self.lrs[0]:.3g}); try a smaller start_lr"
            )
        return lr

    def apply(self, optimizer: torch.optim.Optimizer, method: str = "valley",
              lr: float | None = None) -> list[float]:
        """Make the suggestion (``suggest(method)``, or ``lr``) the lr of the reference param
        group and scale every other group by the same factor, so the ratios between groups
        (discriminative rates) stay; return the new lr of each group.

        The suggestion is for the lr the reference group trains at (the group with the
        largest lr when ``lr_find`` ran), so with a schedule it is the peak. With a
        :func:`lrnotes.schedules.attach` scheduler on ``optimizer``, its base lrs are
        re-based (:meth:`~lrnotes.schedules.ScheduledLR.rebase`: the reference group's base
        lr becomes the suggestion, the lr of the current update is rewritten from it), so the
        next ``step()`` does not undo it. A torch scheduler keeps its own copy of the lrs
        (``base_lrs``, ``max_lr``, ...) that lrnotes cannot re-base safely: ``apply``
        refuses while one is bound (``initial_lr`` in the param groups); apply the
        suggestion first and create the torch scheduler after. Under ``torch.distributed``
        every process takes rank 0's suggestion (one broadcast), so the replicas agree.

        Example::

            result = lr_find(model, loader, optimizer, loss_fn)
            result.apply(optimizer)                  # before or after S.attach
            sched = S.attach(optimizer, S.warmup(S.cosine(S.rest()), steps=S.of_run(0.05)))
        """
        from lrnotes.schedules import _driver

        new = self.suggest(method) if lr is None else float(lr)
        if not (math.isfinite(new) and new > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        groups = optimizer.param_groups
        driver = _driver(optimizer)
        if driver is None and any("initial_lr" in g for g in groups):
            raise ValueError(
                "optimizer: a torch LRScheduler is bound to it (its param groups hold "
                "'initial_lr') and keeps its own copy of the lrs, which apply cannot re-base; "
                "apply the suggestion before creating the scheduler, or use S.attach")
        bases = driver.base_lrs if driver is not None else [float(g["lr"]) for g in groups]
        ref = self.reference if self.reference < len(bases) else int(np.argmax(bases))
        if not bases[ref] > 0:
            raise ValueError(f"optimizer: param group {ref} (the reference) has lr "
                             f"{bases[ref]}, so the ratios between groups are not defined")
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            # every process must train at the same lr: rank 0's suggestion wins
            shared = [new]
            dist.broadcast_object_list(shared, src=0)
            new = shared[0]
        factor = new / float(bases[ref])
        if driver is not None:
            driver.rebase(factor)
        else:
            for group, base in zip(groups, bases, strict=True):
                _set_lr(group, base * factor)
        return [float(g["lr"]) for g in groups]

    def suggestions(self) -> dict[str, float | None]:
        """Return ``{method: suggest(method)}`` for every rule; None where a rule has no answer.

        Example::

            >>> curve = [1.0, 0.8, 0.3, 2.0]
            >>> r = LRFindResult([1e-3, 1e-2, 1e-1, 1.0], curve, curve)
            >>> sorted(r.suggestions())
            ['minimum', 'steepest', 'valley']
        """
        return {method: self._suggestion(method) for method in METHODS}

    def plot(self, ax: Any = None, suggestions: bool = True) -> Any:
        """Plot the curve with :func:`lrnotes.plot.plot_lr_find`; return the Axes.

        Example::

            >>> curve = [1.0, 0.8, 0.3, 2.0]
            >>> r = LRFindResult([1e-3, 1e-2, 1e-1, 1.0], curve, curve)
            >>> ax = r.plot()
            >>> ax.get_xscale()
            'log'
        """
        from lrnotes.plot import plot_lr_find

        return plot_lr_find(self, ax=ax, suggestions=suggestions)

    def _suggestion(self, method: str) -> float | None:
        # a rule reads the curve up to its first non-finite point: past a NaN or inf the run
        # diverged, and argmin/gradients would pick the NaN itself
        bad = np.flatnonzero(~np.isfinite(self.smoothed))
        n = len(self.smoothed) if bad.size == 0 else int(bad[0])
        if n == 0:
            return None
        smoothed = self.smoothed[:n]
        lowest = int(np.argmin(smoothed))
        if lowest == 0:
            return None
        if method == "minimum":
            return float(self.lrs[lowest] / 10)
        skip = n // 10
        if method == "steepest":
            first = skip if lowest - skip >= 1 else 0
            window = slice(first, lowest + 1)
            slopes = np.gradient(smoothed[window], np.log10(self.lrs[window]))
            return float(self.lrs[first + int(np.argmin(slopes))])
        return float(self.lrs[skip + _valley_index(smoothed[skip:])])


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley``: about the middle of the longest decreasing subsequence."""
    run = np.ones(len(losses), dtype=np.int64)
    for i in range(1, len(losses)):
        higher_before = losses[:i] > losses[i]
        if higher_before.any():
            run[i] = run[:i][higher_before].max() + 1
    end = int(np.argmax(run))
    start = end - int(run[end])
    sections = (end - start) / 3
    return max(0, start + int(sections) + int(sections / 2))


# --- state that the test changes and puts back -----------------------------


class _Snapshot:
    """Copies of everything ``lr_find`` may change, so that ``restore()`` puts it back bitwise.

    Tensors are restored in place (``copy_`` into the original object, which is put back where
    it was), so references held elsewhere (a scheduler, an EMA model, a user's variable) stay
    valid. With ``offload`` the copies live on the CPU.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler | None, offload: bool,
                 loaders: Iterable[Any] = ()) -> None:
        def save(tensor: Tensor) -> Tensor:
            tensor = tensor.detach()
            return tensor.to("cpu", copy=True) if offload else tensor.clone()

        params = {id(p): p for p in model.parameters()}
        for group in optimizer.param_groups:
            params.update((id(p), p) for p in group["params"])
        self.params = [(p, save(p)) for p in params.values()]
        # set_to_none below detaches the grads, so nothing can change them: keep the objects
        self.grads = [(p, p.grad if p.grad is None or not offload else save(p.grad))
                      for p in params.values()]
        self.buffers = [(module, name, buffer, save(buffer))
                        for module in model.modules()
                        for name, buffer in module.named_buffers(recurse=False)]
        self.modes = [(module, module.training) for module in model.modules()]

        self.optimizer = optimizer
        self.state = {p: {key: self._save_value(value, save) for key, value in state.items()}
                      for p, state in optimizer.state.items()}
        self.group_list = list(optimizer.param_groups)
        self.groups = [{key: self._save_value(value, save) for key, value in group.items()
                        if key != "params"} for group in optimizer.param_groups]

        self.scaler = scaler if scaler is not None and scaler.is_enabled() else None
        self.scaler_state = self.scaler.state_dict() if self.scaler is not None else None
        self.scaler_used = False

        # a loader's own generators (shuffling) advance as the test walks it: put them back too
        self.loader_rngs = [(g, g.get_state()) for loader in loaders if loader is not None
                            for g in loader_generators(loader)]
        self.python_rng = random.getstate()
        self.numpy_rng = np.random.get_state()
        self.torch_rng = torch.get_rng_state()
        self.cuda_rng = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
        mps = getattr(torch.backends, "mps", None)
        self.mps_rng = torch.mps.get_rng_state() if mps is not None and mps.is_available() else None

        # An attached ScheduledLR counts updates with a step hook; the trial updates must not
        # advance it. Its hooks are set aside for the run and put back; other hooks stay.
        hooks = optimizer._optimizer_step_post_hooks
        self.step_hooks = {key: hook for key, hook in hooks.items()
                           if hasattr(hook, "counts_updates_for")}
        for key in self.step_hooks:
            del hooks[key]

        for p in params.values():
            p.grad = None

    @staticmethod
    def _save_value(value: Any, save: Callable[[Tensor], Tensor]) -> tuple[Any, Any]:
        if isinstance(value, Tensor):
            return value, save(value)
        return None, copy.deepcopy(value)

    @staticmethod
    def _put_back(live: Tensor | None, saved: Any) -> Any:
        if live is None:
            return copy.deepcopy(saved)
        live.copy_(saved)
        return live

    @torch.no_grad()
    def restore(self) -> None:
        for p, saved in self.params:
            p.copy_(saved)
        for p, grad in self.grads:
            p.grad = None if grad is None else grad.to(p.device)
        for module, name, buffer, saved in self.buffers:
            if getattr(module, name) is not buffer:
                setattr(module, name, buffer)
            buffer.copy_(saved)
        for module, training in self.modes:
            module.training = training

        state = self.optimizer.state
        for p in [p for p in state if p not in self.state]:
            del state[p]
        for p, saved_state in self.state.items():
            state[p] = {key: self._put_back(live, saved)
                        for key, (live, saved) in saved_state.items()}
        self.optimizer._optimizer_step_post_hooks.update(self.step_hooks)
        self.optimizer.param_groups[:] = self.group_list
        for group, saved_group in zip(self.group_list, self.groups, strict=True):
            params = group["params"]
            group.clear()
            group["params"] = params
            group.update({key: self._put_back(live, saved)
                          for key, (live, saved) in saved_group.items()})

        if self.scaler is not None:
            if self.scaler_used:
                # update(new_scale) also forgets a step that an exception cut short (unscale_
                # called, update not yet), which would otherwise break the caller's next step
                self.scaler.update(new_scale=float(self.scaler_state["scale"]))
            self.scaler.load_state_dict(self.scaler_state)

        for generator, state in self.loader_rngs:
            generator.set_state(state)
        random.setstate(self.python_rng)
        np.random.set_state(self.numpy_rng)
        torch.set_rng_state(self.torch_rng)
        if self.cuda_rng is not None:
            torch.cuda.set_rng_state_all(self.cuda_rng)
        if self.mps_rng is not None:
            torch.mps.set_rng_state(self.mps_rng)


# --- the range test ----------------------------------------------------------


def lr_find(
    model: nn.Module,
    loader: Iterable[Any],
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], Tensor] | None = None,
    *,
    step_fn: Callable[[nn.Module, Any], Tensor] | None = None,
    batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
    amp: bool | str | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exp",
    smoothing: float = 0.05,
    diverge: float = 4.0,
    accumulation_steps: int = 1,
    scaler: torch.amp.GradScaler | None = None,
    clip: float | None = None,
    val_loader: Iterable[Any] | None = None,
    device: str | torch.device | None = None,
    offload: bool = False,
    progress: bool = True,
) -> LRFindResult:
    """Run the LR range test (Smith, 2017) and restore everything it changed; return the curve.

    **The sweep.** Update ``i = 0, 1, ..., num_steps - 1`` uses the reference lr

    - ``mode="exp"``:    ``lr_i = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))``
    - ``mode="linear"``: ``lr_i = start_lr + (end_lr - start_lr) * i / (num_steps - 1)``

    set before that update and recorded as ``lrs[i]``. The reference group is the param group
    with the largest lr when ``lr_find`` is called (the first of them on a tie); every group ``g``
    gets ``lr_i * base_g / base_ref``, where ``base`` is each group's lr at call time, so the
    ratios between groups (discriminative rates) are kept at every step.

    **One step.** ``optimizer.zero_grad(set_to_none=True)``; then ``accumulation_steps`` times:
    take the next batch (the loader is walked batch after batch, and restarted when it runs out),
    move its tensors to ``device``, ``loss = step_fn(model, batch)`` and backpropagate
    ``loss / accumulation_steps`` (through ``scaler.scale`` when a scaler is given); then clip
    the gradient norm to ``clip`` (``lrnotes.clip.clip_gradients``, after unscaling) and step the
    optimizer (``scaler.step`` and ``scaler.update``: a step the scaler skips for inf gradients is
    still a step of the sweep). With ``loss_fn`` a batch is read exactly as :func:`lrnotes.fit`
    reads it (:func:`lrnotes.batch.forward`): ``(inputs, targets)``, or ``batch_fn(batch)``
    making one; ``model(**inputs)`` for a dict, ``model(*inputs)`` for a tuple or list,
    ``model(inputs)`` otherwise; ``loss = loss_fn(outputs, targets)`` under autocast for
    ``amp`` (fit's values: ``"bf16"``, ``"fp16"``, which makes a GradScaler unless ``scaler``
    is given, True, None). ``step_fn(model, batch) -> loss`` instead computes the forward
    pass itself (the batch's tensors moved to ``device``). The model is in train mode during
    the run.

    **The loss.** ``loss_i`` is the mean of the step's micro-batch losses or, with ``val_loader``,
    the mean batch loss over the whole ``val_loader`` after the update (``model.eval()``, no
    grad): sharper, but each step then costs a pass over ``val_loader`` too. With
    ``beta = 1 - smoothing``, ``avg_i = beta * avg_{i-1} + (1 - beta) * loss_i`` (``avg_{-1} = 0``)
    and ``smoothed_i = avg_i / (1 - beta ** (i + 1))`` (debiased, as fastai does). The run stops
    after a non-finite loss (not recorded) or when ``smoothed_i > diverge * min(smoothed)``
    (recorded; the rule assumes a loss >= 0 and is not applied while the best is negative).
    Reading the loss for this check is the one host sync per step, inherent to stopping early
    (``scaler.step`` has its own).

    **Restoration.** Parameters, gradients, buffers (BatchNorm statistics included), each
    module's train/eval mode, the optimizer's state and param groups (lrs and every other key),
    the GradScaler's state, the Python, NumPy, torch (CPU, CUDA, MPS) RNG states and the
    loaders' own shuffling generators (``loader.generator``, its sampler's) are copied in
    memory before the run (on the CPU with ``offload=True``, to spare accelerator memory; else on
    the model's device, which costs one copy of the model and optimizer state) and put back in
    place after it, on success and on any exception or KeyboardInterrupt. No file is written.
    A :func:`lrnotes.schedules.attach` scheduler does not count the test's updates (its step
    hook is set aside during the run). A schedule-free optimizer (one with ``train()`` and
    ``eval()``, e.g. ``schedulefree.AdamWScheduleFree``) is put in train mode for the sweep
    (its updates are taken at the gradient point ``y``) and in eval mode for each
    ``val_loader`` pass (the averaged weights ``x``); its mode is restored with the rest. Its
    own internal warmup (``warmup_steps``) scales the swept lr: pass ``warmup_steps=0`` for
    the test. Other objects that watch the optimizer (a torch
    scheduler's step counter, an EMA of the weights) do see them: create those after ``lr_find``.

    Raises ValueError for bad arguments, an empty loader, or a non-finite loss at the first step.

    Example::

        >>> result = lr_find(model, loader, torch.optim.SGD(model.parameters(), lr=0.1),
        ...                  nn.CrossEntropyLoss(), start_lr=1e-5, end_lr=10, num_steps=100)
        >>> lr = result.suggest("valley"); result.plot()
    """
    _check_objects(model, optimizer, scaler)
    for name, flag in (("offload", offload), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    _check_arguments(loader, val_loader, loss_fn, step_fn, start_lr, end_lr, num_steps, mode,
                     smoothing, diverge, accumulation_steps, clip)
    base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
    reference = int(np.argmax(base_lrs))
    if not base_lrs[reference] > 0:
        raise ValueError(
            f"optimizer: at least one param group needs an lr > 0 to fix the ratios between "
            f"groups, got lrs {base_lrs}"
        )
    ratios = [base / base_lrs[reference] for base in base_lrs]
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    device = as_device(device)
    dtype = _amp_dtype(amp, device)
    if step_fn is None:
        step_fn = _loss_step(loss_fn, batch_fn, device, dtype)
        if dtype == torch.float16 and scaler is None:
            scaler = torch.amp.GradScaler(device.type)
    elif batch_fn is not None or dtype is not None:
        raise ValueError("batch_fn and amp go with loss_fn; a step_fn reads the batch and "
                         "sets up autocast itself")
    else:
        step_fn = _moving(step_fn, device)
    sweep = _sweep_lazily(start_lr, end_lr, num_steps, mode)

    snapshot = _Snapshot(model, optimizer, scaler, offload, loaders=(loader, val_loader))
    bar = progress_bar(total=num_steps, desc="lr_find", enabled=bool(progress))
    try:
        model.train()
        optimizer_mode(optimizer, "train")  # schedule-free: step from y (restored after)
        batches = _cycle(loader, "loader")
        beta = 1.0 - smoothing
        average, best = 0.0, math.inf
        lrs: list[float] = []
        losses: list[float] = []
        smoothed: list[float] = []
        stop_reason, stop_lr = "", None
        for i, lr in enumerate(sweep):
            for group, ratio in zip(optimizer.param_groups, ratios, strict=True):
                _set_lr(group, lr * ratio)
            optimizer.zero_grad(set_to_none=True)
            micro_losses = []
            for _ in range(accumulation_steps):
                try:
                    loss = step_fn(model, next(batches))
                except _BadBatch as err:
                    raise TypeError(f"loader: {err}") from None
                scaled = loss / float(accumulation_steps)
                if scaler is not None:
                    scaled = scaler.scale(scaled)
                    snapshot.scaler_used = True
                scaled.backward()
                micro_losses.append(_at_least_float32(loss.detach()))
            if clip is not None:
                from lrnotes.clip import clip_gradients

                clip_gradients(model, max_norm=clip, scaler=scaler, optimizer=optimizer)
            if scaler is not None:
                scaler.step(optimizer)
                scaler.update()
            else:
                optimizer.step()
            if val_loader is not None:
                optimizer_mode(optimizer, "eval")  # schedule-free: the averaged weights x
                step_loss = _validation_loss(model, val_loader, step_fn, device)
                optimizer_mode(optimizer, "train")
            else:
                step_loss = torch.stack(micro_losses).mean()
            value = float(step_loss)  # the one host sync per step: needed to stop early
            bar.update()
            if not math.isfinite(value):
                if i == 0:
                    raise ValueError(
                        f"the loss at the first step (lr={lr:.3g}) is not finite ({value}): "
                        "check the model, the data and loss_fn/step_fn, or lower start_lr"
                    )
                stop_reason = f"non-finite loss ({value}) at lr={lr:.3g}"
                stop_lr = lr
                break
            average = beta * average + (1.0 - beta) * value
            smooth = average / (1.0 - beta ** (i + 1))
            lrs.append(lr)
            losses.append(value)
            smoothed.append(smooth)
            best = min(best, smooth)
            if best >= 0 and smooth > diverge * best:
                stop_reason = (f"diverged at lr={lr:.3g}: smoothed loss {smooth:.4g} > "
                               f"{diverge:g} x best {best:.4g}")
                stop_lr = lr
                break
        if stop_lr is not None:
            bar.total = bar.n  # stopping early is the test working: a full bar, not a red one
            bar.refresh()
    finally:
        bar.close()
        snapshot.restore()
    return LRFindResult(
        lrs=np.array(lrs), losses=np.array(losses), smoothed=np.array(smoothed),
        stopped_early=stop_lr is not None, stop_reason=stop_reason, stop_lr=stop_lr,
        loss_label="validation loss" if val_loader is not None else "training loss",
        reference=reference,
    )


def _check_objects(model: Any, optimizer: Any, scaler: Any) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got "
                        f"{type(optimizer).__name__}")
    if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
        raise TypeError(f"scaler must be a torch.amp.GradScaler or None, got "
                        f"{type(scaler).__name__}")
    params = list(model.parameters())
    for group in optimizer.param_groups:
        params += group["params"]
    meta = [p for p in params if p.is_meta]
    if meta:
        raise ValueError(
            f"model has {len(meta)} parameter(s) on the meta device (shapes without data): "
            "materialise them first (model.to_empty(device=...) and initialise the weights)")


def _check_real(name: str, value: Any, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def _check_arguments(loader: Any, val_loader: Any, loss_fn: Any, step_fn: Any, start_lr: float,
                     end_lr: float, num_steps: int, mode: str, smoothing: float, diverge: float,
                     accumulation_steps: int, clip: float | None) -> None:
    for name, value in (("start_lr", start_lr), ("end_lr", end_lr), ("smoothing", smoothing),
                        ("diverge", diverge)):
        _check_real(name, value)
    _check_real("clip", clip, allow_none=True)
    for name, function in (("loss_fn", loss_fn), ("step_fn", step_fn)):
        if function is not None and not callable(function):
            raise TypeError(f"{name} must be callable or None, got {type(function).__name__}")
    for name, data in (("loader", loader), ("val_loader", val_loader)):
        if data is not None and (not isinstance(data, Iterable)
                                 or isinstance(data, (str, bytes, dict))):
            raise TypeError(f"{name} must be an iterable of batches, got {type(data).__name__}")
    if loader is None:
        raise TypeError("loader must be an iterable of batches, got None")
    if (loss_fn is None) == (step_fn is None):
        raise ValueError(
            "give exactly one of loss_fn (for (inputs, targets) batches) and step_fn, got "
            f"loss_fn={loss_fn!r}, step_fn={step_fn!r}"
        )
    if not (math.isfinite(start_lr) and start_lr > 0):
        raise ValueError(f"start_lr must be a finite number > 0, got {start_lr!r}")
    if not (math.isfinite(end_lr) and end_lr > start_lr):
        raise ValueError(f"end_lr must be finite and > start_lr={start_lr!r}, got {end_lr!r}")
    if not _is_integer(num_steps) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2, got {num_steps!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not 0 < smoothing <= 1:
        raise ValueError(f"smoothing must be in (0, 1] (1: no smoothing), got {smoothing!r}")
    if not diverge > 1:
        raise ValueError(f"diverge must be > 1 (math.inf: never stop early), got {diverge!r}")
    if not _is_integer(accumulation_steps) or accumulation_steps < 1:
        raise ValueError(f"accumulation_steps must be an integer >= 1, got {accumulation_steps!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip (the max gradient norm) must be > 0 or None, got {clip!r}")
    for name, data in (("loader", loader), ("val_loader", val_loader)):
        if data is not None and hasattr(data, "__len__") and len(data) == 0:
            raise ValueError(f"{name} is empty (len 0): the range test needs at least one batch")


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _sweep(start_lr: float, end_lr: float, num_steps: int, mode: str, first: int = 0,
           stop: int | None = None) -> np.ndarray:
    """The lrs of updates ``first .. stop - 1`` of the sweep (all of them by default)."""
    stop = num_steps if stop is None else stop
    fraction = np.arange(first, stop, dtype=np.float64) / float(num_steps - 1)
    if mode == "exp":
        return start_lr * (end_lr / start_lr) ** fraction
    return start_lr + (end_lr - start_lr) * fraction


_SWEEP_CHUNK = 4096


def _sweep_lazily(start_lr: float, end_lr: float, num_steps: int, mode: str) -> Iterator[float]:
    """The sweep as floats, computed a chunk at a time: a run stops early, and a huge
    ``num_steps`` must not allocate the whole sweep up front."""
    for first in range(0, num_steps, _SWEEP_CHUNK):
        yield from _sweep(start_lr, end_lr, num_steps, mode, first,
                          min(first + _SWEEP_CHUNK, num_steps)).tolist()


def _set_lr(group: dict[str, Any], lr: float) -> None:
    if isinstance(group["lr"], Tensor):
        group["lr"].fill_(lr)
    else:
        group["lr"] = lr


def _cycle(loader: Iterable[Any], name: str) -> Iterator[Any]:
    """Yield the loader's batches forever, starting a new pass (a new iterator) when one ends."""
    passes = 0
    while True:
        passes += 1
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty and passes == 1:
            raise ValueError(f"{name} yielded no batches: the range test needs at least one")
        if empty:
            raise ValueError(
                f"{name} yielded no batches on pass {passes}: a one-shot iterator cannot be "
                "cycled; pass a re-iterable loader (a DataLoader, a list of batches)"
            )


def _at_least_float32(loss: Tensor) -> Tensor:
    """Half-precision losses are averaged in float32; float32 and float64 stay as they are."""
    return loss.float() if loss.dtype in (torch.float16, torch.bfloat16) else loss


class _BadBatch(TypeError):
    """A batch that ``loss_fn`` cannot take; the caller names the loader it came from."""


def _loss_step(loss_fn: Callable[[Any, Any], Tensor],
               batch_fn: Callable[[Any], tuple[Any, Any]] | None, device: torch.device,
               dtype: torch.dtype | None) -> Callable[[nn.Module, Any], Tensor]:
    """The loss of one batch as :func:`lrnotes.fit` computes it (:func:`lrnotes.batch.forward`)."""
    def step(model: nn.Module, batch: Any) -> Tensor:
        try:
            return forward(model, batch, loss_fn, device, batch_fn=batch_fn, amp_dtype=dtype)[0]
        except ValueError as err:
            if "batch must be an (inputs, targets) pair" in str(err):
                raise _BadBatch(f"with loss_fn {err}; or pass step_fn(model, batch) -> loss") \
                    from None
            raise

    return step


def _moving(step_fn: Callable[[nn.Module, Any], Tensor],
            device: torch.device) -> Callable[[nn.Module, Any], Tensor]:
    """``step_fn`` given the batch with its tensors on ``device``."""
    def step(model: nn.Module, batch: Any) -> Tensor:
        return step_fn(model, to_device(batch, device))

    return step


@torch.no_grad()
def _validation_loss(model: nn.Module, val_loader: Iterable[Any],
                     step_fn: Callable[[nn.Module, Any], Tensor], device: torch.device) -> Tensor:
    model.eval()
    try:
        losses = [_at_least_float32(step_fn(model, batch))
                  for batch in val_loader]
    except _BadBatch as err:
        raise TypeError(f"val_loader: {err}") from None
    model.train()
    if not losses:
        raise ValueError("val_loader yielded no batches: the range test needs at least one")
    return torch.stack(losses).mean()
