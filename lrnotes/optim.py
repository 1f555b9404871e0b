"""LARS (and LARC) and param groups for layer-wise and discriminative learning rates.

:class:`LARS` is the layer-wise adaptive rate scaling of You, Gitman and Ginsburg
(2017, arXiv:1708.03888), written as the paper's Algorithm 1 with momentum, Nesterov,
weight decay, a LARC (clip) mode and the usual exclusion of biases and norm weights.
:func:`param_groups` and :func:`layerwise_lrs` build the param groups that give
parts of a model their own learning rate and weight decay; a schedule attached later
multiplies every group's own lr, so the ratios between groups survive.
"""

from __future__ import annotations

import math
import numbers
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

_FOREACH_DEVICES = ("cuda", "xpu")
_MODES = ("lars", "larc")


def _is_vector(p: Tensor) -> bool:
    """The default exclusion: biases, norm weights and other parameters with ndim <= 1."""
    return p.ndim <= 1


def _check_real(name: str, value: Any) -> None:
    """TypeError unless ``value`` is a real number (Python or NumPy); bools are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")


def _check_nonnegative(name: str, value: float) -> None:
    _check_real(name, value)
    if not (value >= 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


_FLOAT_KEYS = ("lr", "momentum", "weight_decay", "trust_coefficient", "eps")


def _check_hyperparameters(group: Mapping[str, Any], where: str = "") -> None:
    """Raise TypeError or ValueError naming the first LARS hyperparameter in ``group`` that is
    not a number or out of range."""
    for key in ("lr", "weight_decay", "trust_coefficient", "eps"):
        _check_nonnegative(where + key, group[key])
    momentum = group["momentum"]
    _check_real(where + "momentum", momentum)
    if not 0 <= momentum < 1:
        raise ValueError(f"{where}momentum must be in [0, 1), got {momentum!r}")
    if not isinstance(group["nesterov"], (bool, numbers.Integral)) or group["nesterov"] not in (
            True, False):
        raise TypeError(f"{where}nesterov must be True or False, got {group['nesterov']!r}")
    if group["foreach"] not in (None, True, False):
        raise TypeError(f"{where}foreach must be None, True or False, got {group['foreach']!r}")
    if group["nesterov"] and momentum == 0:
        raise ValueError(f"{where}nesterov=True needs momentum in (0, 1), got momentum=0")
    if group["mode"] not in _MODES:
        raise ValueError(f"{where}mode must be one of {_MODES}, got {group['mode']!r}")
    if group["lars_exclude"] not in (None, True, False):
        raise ValueError(f"{where}lars_exclude must be None, True or False, "
                         f"got {group['lars_exclude']!r}")


def _local_lr(w_norm: Tensor, g_norm: Tensor, trust_coefficient: float, weight_decay: float,
              eps: float) -> Tensor:
    """eta * ||w|| / (||g|| + beta * ||w|| + eps); 1 where ||w|| or ||g|| is 0; nan where
    either norm is not finite (a nan or inf gradient: the recorded ratio shows it, and the
    step is not finite either, rather than a nan hidden behind a ratio of 1 or an inf behind 0).

    Works elementwise on 0-d or stacked 1-d norms with the same sequence of correctly
    rounded operations, so the per-tensor and multi-tensor paths agree bit for bit.
    """
    ratio = (w_norm * trust_coefficient) / (g_norm + w_norm * weight_decay + eps)
    ratio = torch.where((w_norm > 0) & (g_norm > 0), ratio, 1.0)
    return torch.where(torch.isfinite(w_norm) & torch.isfinite(g_norm), ratio, math.nan)


def _rate(local_lr: Tensor, lr: float, mode: str) -> Tensor:
    """The step size of an adapted parameter: lr * local lr (LARS) or min(lr, local lr) (LARC)."""
    if mode == "larc":
        return local_lr.clamp(max=lr)
    return local_lr * lr


def _single_tensor_lars(params: list[Tensor], grads: list[Tensor],
                        bufs: list[Tensor | None], excluded: list[bool], *, lr: float,
                        momentum: float, weight_decay: float, trust_coefficient: float,
                        eps: float, nesterov: bool, mode: str) -> list[Tensor | None]:
    """One LARS update, one parameter at a time; updates ``bufs`` in place and returns
    the local lr of each adapted parameter (None for excluded ones)."""
    ratios: list[Tensor | None] = []
    for i, (p, g) in enumerate(zip(params, grads, strict=True)):
        if excluded[i]:
            update = g.mul(lr)
            ratios.append(None)
        else:
            # the multi-tensor path's norm kernel, one tensor at a time: on CUDA it reduces in
            # another order than linalg.vector_norm; on the CPU it is vector_norm
            w_norm, g_norm = torch._foreach_norm([p, g])
            local = _local_lr(w_norm, g_norm, trust_coefficient, weight_decay, eps)
            rate = _rate(local, lr, mode)
            update = g.add(p, alpha=weight_decay).mul_(rate) if weight_decay != 0 else g.mul(rate)
            ratios.append(local)
        if momentum != 0:
            if bufs[i] is None:
                bufs[i] = update.clone()
            else:
                bufs[i].mul_(momentum).add_(update)
            if nesterov:
                update.add_(bufs[i], alpha=momentum)
            else:
                update = bufs[i]
        p.sub_(update)
    return ratios


def _multi_tensor_lars(params: list[Tensor], grads: list[Tensor],
                       bufs: list[Tensor | None], excluded: list[bool], *, lr: float,
                       momentum: float, weight_decay: float, trust_coefficient: float,
                       eps: float, nesterov: bool, mode: str) -> list[Tensor | None]:
    """The same update as :func:`_single_tensor_lars` with ``torch._foreach_*`` kernels,
    one batch per (device, dtype)."""
    ratios: list[Tensor | None] = [None] * len(params)
    buckets: dict[tuple[torch.device, torch.dtype], list[int]] = defaultdict(list)
    for i, p in enumerate(params):
        buckets[(p.device, p.dtype)].append(i)
    for indices in buckets.values():
        adapted = [i for i in indices if not excluded[i]]
        plain = [i for i in indices if excluded[i]]
        order = adapted + plain
        updates: list[Tensor] = []
        if adapted:
            p_a = [params[i] for i in adapted]
            g_a = [grads[i] for i in adapted]
            local = _local_lr(torch.stack(torch._foreach_norm(p_a)),
                              torch.stack(torch._foreach_norm(g_a)),
                              trust_coefficient, weight_decay, eps)
            rates = list(_rate(local, lr, mode).unbind(0))
            if weight_decay != 0:
                updates = list(torch._foreach_add(g_a, p_a, alpha=weight_decay))
                torch._foreach_mul_(updates, rates)
            else:
                updates = list(torch._foreach_mul(g_a, rates))
            for i, ratio in zip(adapted, local.unbind(0), strict=True):
                ratios[i] = ratio
        if plain:
            updates += list(torch._foreach_mul([grads[i] for i in plain], lr))
        if momentum != 0:
            old = [k for k, i in enumerate(order) if bufs[i] is not None]
            for k, i in enumerate(order):
                if bufs[i] is None:
                    bufs[i] = updates[k].clone()
            if old:
                old_bufs = [bufs[order[k]] for k in old]
                torch._foreach_mul_(old_bufs, _foreach_scalar(momentum, old_bufs[0]))
                torch._foreach_add_(old_bufs, [updates[k] for k in old])
            all_bufs = [bufs[i] for i in order]
            if nesterov:
                torch._foreach_add_(updates, all_bufs, alpha=momentum)
            else:
                updates = all_bufs
        torch._foreach_sub_([params[i] for i in order], updates)
    return ratios


def _foreach_scalar(value: float, like: Tensor) -> float | Tensor:
    """``value`` as the scalar of an in-place ``torch._foreach_mul_`` on tensors like ``like``.

    torch's in-place CPU foreach kernels round a Python scalar to float16/bfloat16 first
    (0.9 -> 0.8984375 in bfloat16), where ``tensor.mul_(0.9)`` computes with 0.9 in float32;
    a 0-d float32 tensor gives ``mul_``'s numbers, so both paths agree bit for bit.
    """
    if like.device.type == "cpu" and like.dtype in (torch.float16, torch.bfloat16):
        return torch.tensor(value, dtype=torch.float32)
    return value


class LARS(Optimizer):
    r"""Layer-wise Adaptive Rate Scaling (You, Gitman & Ginsburg 2017, arXiv:1708.03888).

    For every parameter tensor ("layer") :math:`w` with gradient :math:`g`, update
    :math:`t` does, as in the paper's Algorithm 1 (:math:`\gamma` = the group's current
    ``lr``, :math:`m` = ``momentum``, :math:`\beta` = ``weight_decay``, :math:`\eta` =
    ``trust_coefficient``):

    .. math::

        \lambda &= \eta \frac{\|w\|}{\|g\| + \beta \|w\| + \epsilon}\\
        v &\leftarrow m v + \gamma \lambda (g + \beta w)\\
        w &\leftarrow w - v

    with :math:`\lambda = 1` where :math:`\|w\| = 0` or :math:`\|g\| = 0`; with Nesterov
    momentum the last line is :math:`w \leftarrow w - (m v + \gamma\lambda(g + \beta w))`.

    Where the pieces enter: the local lr :math:`\lambda` and the global lr
    :math:`\gamma` both scale the decayed gradient *before* it enters the momentum
    buffer, which therefore holds a velocity in parameter units (the paper's form).
    Many implementations (timm, apex LARC wrapping SGD) instead keep
    :math:`\lambda (g + \beta w)` in the buffer and multiply by :math:`\gamma` after
    momentum, like ``torch.optim.SGD``; the two agree while :math:`\gamma` is constant
    and differ when a schedule changes it (here a change of lr acts on new gradients
    only, not on the accumulated velocity). ``v`` starts at 0, so the first buffer is
    the first update, as in SGD.

    ``mode="larc"`` (NVIDIA apex LARC with ``clip=True``) uses the step size
    :math:`\min(\gamma, \lambda)` instead of :math:`\gamma\lambda`: the local lr becomes a
    ceiling on the global one, and the trust coefficient is then a rate in its own right
    (apex: ``adaptive_lr = min(lambda / lr, 1)`` multiplying ``lr``).

    Excluded parameters (by default every tensor with ``ndim <= 1``: biases and norm
    weights) are neither adapted nor decayed: :math:`v \leftarrow m v + \gamma g`. The
    exclusion does not depend on whether ``weight_decay`` is 0. A param group may set
    ``"lars_exclude": True`` (exclude all its parameters) or ``False`` (adapt all of them)
    to override the ``exclude`` predicate.

    A zero norm (a zero-initialised bias or gamma, a parameter without gradient signal)
    gives :math:`\lambda = 1`, not 0 or nan, via ``torch.where``: ``step()`` never reads a
    value on the host. After each step ``optimizer.state[p]["trust_ratio"]`` holds
    :math:`\lambda` of every adapted parameter as a 0-d tensor (for plots; excluded
    parameters have none) and ``state[p]["momentum_buffer"]`` holds :math:`v`.

    Args:
        params: parameters or param groups (e.g. from :func:`param_groups`).
        lr: the global learning rate :math:`\gamma` (>= 0); schedules change ``group["lr"]``.
        momentum: :math:`m` in [0, 1).
        weight_decay: :math:`\beta` (>= 0), L2 added to the gradient of adapted parameters.
        trust_coefficient: :math:`\eta` (>= 0); the paper uses 0.001.
        eps: added to the denominator of :math:`\lambda` (>= 0).
        nesterov: Nesterov momentum (needs momentum > 0).
        mode: ``"lars"`` (step :math:`\gamma\lambda`) or ``"larc"``
            (step :math:`\min(\gamma, \lambda)`).
        exclude: predicate ``param -> bool`` choosing the parameters that are not adapted
            and not decayed; default ``p.ndim <= 1``. Pass ``lambda p: False`` to adapt all.
        foreach: use the multi-tensor ``torch._foreach_*`` path; None picks it when every
            parameter with a gradient is on CUDA (or XPU). Both paths run the same
            sequence of operations and agree bit for bit (float64, float32, float16 and
            bfloat16 on the CPU; the tests check CUDA when there is one).

    Hyperparameters may be Python or NumPy numbers (stored as Python floats); a bool or a
    string is a TypeError naming the argument, a value out of range a ValueError. A param
    group added later is checked before it joins the optimizer.

    Example::

        opt = LARS(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        loss_fn(model(x), y).backward()
        opt.step(); opt.zero_grad()
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,
        eps: float = 1e-8,
        nesterov: bool = False,
        mode: str = "lars",
        exclude: Callable[[Tensor], bool] | None = None,
        foreach: bool | None = None,
    ) -> None:
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                        trust_coefficient=trust_coefficient, eps=eps, nesterov=nesterov,
                        mode=mode, lars_exclude=None, foreach=foreach)
        _check_hyperparameters(defaults)
        defaults.update((key, float(defaults[key])) for key in _FLOAT_KEYS)
        if exclude is not None and not callable(exclude):
            raise TypeError(f"exclude must be a predicate param -> bool or None, got {exclude!r}")
        self._exclude = exclude if exclude is not None else _is_vector
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a param group (see ``torch.optim.Optimizer``), validating its overrides first:
        a bad group raises and is not added, so the optimizer is unchanged."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        merged = {**self.defaults, **param_group}
        _check_hyperparameters(merged, where=f"param group {len(self.param_groups)}: ")
        for key in _FLOAT_KEYS:
            if key in param_group:
                param_group[key] = float(param_group[key])
        super().add_param_group(param_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """Apply one LARS update to every parameter that has a gradient.

        Args:
            closure: re-evaluates the model and returns the loss (optional).

        Returns:
            The closure's loss, or None.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, bufs, excluded = [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("LARS does not support sparse gradients")
                params.append(p)
                grads.append(p.grad)
                bufs.append(self.state[p].get("momentum_buffer"))
                override = group["lars_exclude"]
                excluded.append(self._exclude(p) if override is None else override)
            if not params:
                continue
            foreach = group["foreach"]
            if foreach is None:
                foreach = all(p.device.type in _FOREACH_DEVICES for p in params)
            update = _multi_tensor_lars if foreach else _single_tensor_lars
            ratios = update(params, grads, bufs, excluded, lr=group["lr"],
                            momentum=group["momentum"], weight_decay=group["weight_decay"],
                            trust_coefficient=group["trust_coefficient"], eps=group["eps"],
                            nesterov=group["nesterov"], mode=group["mode"])
            for p, buf, ratio in zip(params, bufs, ratios, strict=True):
                state = self.state[p]
                if buf is not None:
                    state["momentum_buffer"] = buf
                if ratio is not None:
                    state["trust_ratio"] = ratio
        return loss


# --- param groups -------------------------------------------------------------------


def _selector(selector: str) -> Callable[[str], bool]:
    """A parameter-name matcher: ``"re:<regex>"`` searches the full name; anything else
    is a module prefix that matches itself and everything below it."""
    if selector.startswith("re:"):
        try:
            pattern = re.compile(selector[3:])
        except re.error as err:
            raise ValueError(f"lrs: {selector!r} is not a valid regular expression: {err}"
                             ) from None
        return lambda name: pattern.search(name) is not None
    if not selector:
        raise ValueError("lrs: an empty selector matches every parameter; use base_lr instead")
    return lambda name: name == selector or name.startswith(selector + ".")


def param_groups(
    model: nn.Module,
    lrs: Mapping[str, float] | None = None,
    *,
    base_lr: float | None = None,
    weight_decay: float | None = None,
    no_decay: bool | Callable[[str, Tensor], bool] = False,
) -> list[dict[str, Any]]:
    r"""Split ``model``'s trainable parameters into named param groups with their own lr.

    Each key of ``lrs`` selects parameters by name (``model.named_parameters()``):

    - ``"features.0"``: a module prefix, matching ``features.0.weight`` and
      ``features.0.bn.bias`` but not ``features.01.weight``;
    - ``"re:^head\."``: after ``re:``, a regular expression searched in the full name.

    The selected parameters get that lr; the rest form the group ``"default"`` with
    ``base_lr`` (or, when None, the optimizer's default lr). Every trainable parameter
    lands in exactly one group; frozen ones (``requires_grad=False``) in none. A
    selector that matches no parameter, or a parameter matched by two selectors, is a
    ValueError.

    With ``no_decay`` (True: every parameter with ``ndim <= 1``, i.e. biases and norm
    weights; or a predicate ``(name, param) -> bool``) those parameters go to a
    sibling group ``"<name> (no decay)"`` with ``weight_decay`` 0. Decayed groups carry
    ``weight_decay`` when it is given, else the optimizer's default applies.

    Every group has a ``"name"`` key for plots and logs. Learning rates are absolute;
    a schedule attached afterwards multiplies each group's own lr, so the ratios hold.

    Args:
        model: the module whose parameters to group.
        lrs: selector -> lr (>= 0), in the order the groups should appear.
        base_lr: lr of the parameters no selector matches (>= 0), or None.
        weight_decay: weight decay of the decayed groups (>= 0), or None.
        no_decay: False, True, or a predicate ``(name, param) -> bool``.

    Returns:
        A list of param group dicts for any ``torch.optim`` optimizer.

    Example::

        groups = param_groups(model, {"features": 1e-3, "re:^classifier": 1e-2},
                              weight_decay=5e-4, no_decay=True)
        opt = torch.optim.SGD(groups, lr=1e-2, momentum=0.9)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if lrs is not None and not isinstance(lrs, Mapping):
        raise TypeError(f"lrs must be a mapping selector -> lr or None, got {type(lrs).__name__}")
    lrs = dict(lrs or {})
    for selector, lr in lrs.items():
        if not isinstance(selector, str):
            raise TypeError(f"lrs: selectors must be strings (a module prefix or 're:<regex>'), "
                            f"got {type(selector).__name__} {selector!r}")
        _check_nonnegative(f"lrs[{selector!r}]", lr)
    if base_lr is not None:
        _check_nonnegative("base_lr", base_lr)
    if weight_decay is not None:
        _check_nonnegative("weight_decay", weight_decay)
    if no_decay is True:
        is_no_decay: Callable[[str, Tensor], bool] = lambda name, p: _is_vector(p)  # noqa: E731
    elif no_decay is False:
        is_no_decay = lambda name, p: False  # noqa: E731
    elif callable(no_decay):
        is_no_decay = no_decay
    else:
        raise ValueError(f"no_decay must be True, False or a predicate (name, param) -> bool, "
                         f"got {no_decay!r}")

    matchers = {selector: _selector(selector) for selector in lrs}
    used = dict.fromkeys(lrs, False)
    buckets: dict[tuple[str | None, bool], list[Tensor]] = defaultdict(list)
    for name, p in model.named_parameters():
        hits = [selector for selector, match in matchers.items() if match(name)]
        if len(hits) > 1:
            raise ValueError(f"lrs: parameter {name!r} is matched by {hits}; "
                             "each parameter must match at most one selector")
        for selector in hits:
            used[selector] = True
        if p.requires_grad:
            buckets[(hits[0] if hits else None, not is_no_decay(name, p))].append(p)
    unused = [selector for selector, hit in used.items() if not hit]
    if unused:
        raise ValueError(f"lrs: {unused} match no parameter of the model")
    if not buckets:
        raise ValueError("model has no trainable parameters (all have requires_grad=False)")

    groups = []
    for selector in [*lrs, None]:
        lr = base_lr if selector is None else lrs[selector]
        for decay in (True, False):
            if not buckets.get((selector, decay)):
                continue
            name = "default" if selector is None else selector
            group: dict[str, Any] = {"params": buckets[(selector, decay)],
                                     "name": name if decay else f"{name} (no decay)"}
            if lr is not None:
                group["lr"] = lr
            if not decay:
                group["weight_decay"] = 0.0
            elif weight_decay is not None:
                group["weight_decay"] = weight_decay
            groups.append(group)
    return groups


def layerwise_lrs(
    model: nn.Module,
    base_lr: float,
    decay: float,
    layers: Sequence[str | Sequence[str]] | None = None,
) -> dict[str, float]:
    r"""Layer-wise lr decay: the layer at depth :math:`d` from the top gets ``base_lr * decay**d``.

    ``layers`` lists selectors (as in :func:`param_groups`) from the input to the output;
    an entry may be a tuple of selectors that share a depth. The last entry (the head)
    has depth 0 and gets ``base_lr``; the one before it ``base_lr * decay``, and so on.
    By default the layers are ``model``'s direct children that hold parameters, in
    registration order. The result is the ``lrs`` argument of :func:`param_groups`.

    Args:
        model: the module, used for the default ``layers``.
        base_lr: lr of the top layer (>= 0).
        decay: multiplier per layer of depth (> 0; usually in (0, 1]).
        layers: selectors from bottom to top, or None.

    Returns:
        selector -> lr, bottom layer first.

    Example::

        lrs = layerwise_lrs(model, base_lr=1e-3, decay=0.5)   # fc: 1e-3, layer4: 5e-4, ...
        opt = torch.optim.AdamW(param_groups(model, lrs), lr=1e-3)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)   # keeps the ratios
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    _check_nonnegative("base_lr", base_lr)
    _check_real("decay", decay)
    if not (decay > 0 and math.isfinite(decay)):
        raise ValueError(f"decay must be a finite number > 0, got {decay!r}")
    if layers is not None and (isinstance(layers, str) or not isinstance(layers, Sequence)):
        raise TypeError(f"layers must be a sequence of selectors or None, got {layers!r}")
    if layers is None:
        layers = [name for name, child in model.named_children()
                  if any(True for _ in child.parameters())]
    if not layers:
        raise ValueError("layers must name at least one layer")
    lrs: dict[str, float] = {}
    for index, layer in enumerate(layers):
        depth = len(layers) - 1 - index
        if not isinstance(layer, (str, Sequence)):
            raise TypeError(f"layers[{index}] must be a selector or a tuple of selectors, "
                            f"got {layer!r}")
        for selector in [layer] if isinstance(layer, str) else layer:
            if not isinstance(selector, str):
                raise TypeError(f"layers[{index}]: selectors must be strings, got {selector!r}")
            if selector in lrs:
                raise ValueError(f"layers: {selector!r} is listed twice")
            lrs[selector] = base_lr * decay**depth
    return lrs


def optimizer_mode(optimizer: torch.optim.Optimizer, mode: str) -> None:
    """Put a schedule-free optimizer in ``mode`` (``"train"`` or ``"eval"``); do nothing for
    optimizers without ``train()``/``eval()`` methods (every torch optimizer, LARS).

    Schedule-free optimizers (``schedulefree.AdamWScheduleFree`` and its kin; Defazio et al.,
    2024) keep two points: the parameters hold ``y``, where gradients are taken, in train
    mode, and the average ``x``, the point to evaluate and keep, in eval mode. ``lrnotes.fit``,
    :func:`lrnotes.train.train_one_epoch` and :func:`lrnotes.finder.lr_find` call this around every
    training and validation pass.

    Example::

        optimizer_mode(opt, "eval")      # the model now holds the weights to evaluate
        scores = lrnotes.evaluate(model, val_loader, loss_fn)
    """
    if mode not in ("train", "eval"):
        raise ValueError(f"mode must be 'train' or 'eval', got {mode!r}")
    switch = getattr(optimizer, mode, None)
    if callable(switch):
        switch()
