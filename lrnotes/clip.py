"""Gradient clipping by global norm, by value and adaptive (AGC), safe under AMP.

One call, :func:`clip_gradients`, does what a training loop needs between
``backward()`` and ``optimizer.step()``: unscale the gradients once if a
``GradScaler`` is in use, clip them, and report the total gradient norm before and
after, whether anything was clipped and whether the gradients were finite. Every
result stays a tensor on the parameters' device, so calling it every step costs no
host synchronisation.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.amp.grad_scaler import OptState
from torch.nn.utils import clip_grad_value_, clip_grads_with_norm_, get_total_norm

AGC_EPS = 1e-3
"""The epsilon of AGC: weights whose unit norm is below it are treated as having norm
``AGC_EPS`` (Brock et al. 2021, section 4.1), so zero-initialised units can still move."""

Parameters = Tensor | nn.Module | Iterable[Tensor | tuple[str, Tensor]]


class ClipResult(NamedTuple):
    """What :func:`clip_gradients` measured; every field is a 0-d tensor on the device.

    ``norm_before`` and ``norm_after`` are the total ``norm_type``-norm of all gradients
    (as one vector) before and after clipping; ``clipped`` (bool) says whether any
    limit changed a gradient; ``finite`` (bool) says whether ``norm_before`` was finite.
    """

    norm_before: Tensor
    norm_after: Tensor
    clipped: Tensor
    finite: Tensor


def _check_limit(name: str, value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number >= 0 or None, got {type(value).__name__} "
                        f"{value!r}")
    if not value >= 0:
        raise ValueError(f"{name} must be >= 0 (or None for no limit), got {value!r}")


def _named(parameters: Parameters) -> list[tuple[str | None, Tensor]]:
    """Normalise the accepted forms of ``parameters`` to (name or None, tensor) pairs."""
    if isinstance(parameters, nn.Module):
        return list(parameters.named_parameters())
    if isinstance(parameters, Tensor):
        return [(None, parameters)]
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Iterable):
        raise TypeError("parameters must be a module, a tensor, or an iterable of tensors or "
                        f"(name, tensor) pairs, got {type(parameters).__name__}")
    named: list[tuple[str | None, Tensor]] = []
    for item in parameters:
        if isinstance(item, Tensor):
            named.append((None, item))
        elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
              and isinstance(item[1], Tensor)):
            named.append(item)
        else:
            raise TypeError(
                "parameters must be a module, tensors or (name, tensor) pairs, "
                f"got an item of type {type(item).__name__}")
    return named


def _total_norm(grads: list[Tensor], norm_type: float, device: torch.device,
                error_if_nonfinite: bool = False) -> Tensor:
    """The total norm of ``grads`` on ``device``; empty gradients add nothing (torch's
    infinity norm has no identity for them and would raise)."""
    sized = [g for g in grads if g.numel() > 0]
    if not sized:
        return torch.zeros((), device=device)
    return get_total_norm(sized, norm_type, error_if_nonfinite).to(device)


def _unitwise_norm(x: Tensor) -> Tensor:
    """Frobenius norm per output unit: rows of a linear weight, output channels of a
    conv kernel (dim 0 in PyTorch's layout); the whole tensor for scalars and vectors."""
    if x.ndim <= 1:
        return torch.linalg.vector_norm(x)
    return torch.linalg.vector_norm(x, dim=tuple(range(1, x.ndim)), keepdim=True)


def _adaptive_clip_(params: list[Tensor], clip_factor: float) -> list[Tensor]:
    """Clip each unit's gradient in place to ``clip_factor * max(||W_i||, AGC_EPS)``;
    return one 0-d bool per parameter: whether any of its units was clipped."""
    flags = []
    for p in params:
        grad = p.grad.detach()
        limit = _unitwise_norm(p.detach()).clamp(min=AGC_EPS).mul_(clip_factor)
        grad_norm = _unitwise_norm(grad)
        over = grad_norm > limit
        scale = limit / grad_norm.clamp(min=1e-6)
        grad.mul_(torch.where(over, scale, torch.ones_like(scale)))
        flags.append(over.any())
    return flags


def clip_gradients(
    parameters: Parameters,
    max_norm: float | None = None,
    max_value: float | None = None,
    agc: float | None = None,
    *,
    norm_type: float = 2.0,
    scaler: torch.amp.GradScaler | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    error_if_nonfinite: bool = False,
    agc_exclude: Callable[[str | None, Tensor], bool] | None = None,
) -> ClipResult:
    r"""Unscale (under AMP), clip and measure the gradients of ``parameters`` in place.

    The limits apply in this order, each to the result of the previous one, so the
    final total norm is at most ``max_norm``:

    1. ``agc`` -- adaptive gradient clipping, Brock et al. 2021 (NFNets, eq. 3): for
       every unit :math:`i` (a row of a linear weight, an output channel of a conv
       kernel, the whole tensor for a bias),
       :math:`G_i \leftarrow \lambda \frac{\max(\|W_i\|, \epsilon)}{\|G_i\|} G_i` when
       :math:`\|G_i\| / \max(\|W_i\|, \epsilon) > \lambda`, with :math:`\lambda` =
       ``agc`` and :math:`\epsilon` = ``AGC_EPS`` = 1e-3; Frobenius norms. The paper
       leaves the final classifier unclipped: pass ``agc_exclude(name, param) -> bool``
       (``name`` is None for parameters given without names).
    2. ``max_value`` -- every element clamped to ``[-max_value, max_value]``, exactly as
       ``torch.nn.utils.clip_grad_value_``.
    3. ``max_norm`` -- :math:`g \leftarrow g \cdot \min(1, \text{max\_norm} /
       (\|g\|_p + 10^{-6}))` over all gradients as one vector, exactly as
       ``torch.nn.utils.clip_grad_norm_``.

    With all limits None it only measures. Parameters whose ``grad`` is None are skipped.

    Args:
        parameters: a module, an iterable of tensors, or of ``(name, tensor)`` pairs
            (``model.named_parameters()``; names are needed only by ``agc_exclude``).
        max_norm: limit on the total gradient norm (>= 0), or None.
        max_value: limit on each gradient element's absolute value (>= 0), or None.
        agc: the AGC clip factor :math:`\lambda` (>= 0, the paper uses 0.01 to 0.16), or None.
        norm_type: the p of the total norm (``math.inf`` for the max norm). AGC always
            uses Frobenius unit norms.
        scaler: a ``torch.amp.GradScaler``; the gradients are then unscaled with
            ``scaler.unscale_(optimizer)`` first, unless that optimizer was already
            unscaled since the last ``scaler.update()`` (so a second call in the same step
            neither unscales twice nor raises). Clipping applies to the true gradients.
        optimizer: the optimizer that will step these gradients; required with ``scaler``.
        error_if_nonfinite: raise ``RuntimeError`` when the total norm is nan or inf.
            This reads the norm on the host, a device synchronisation; under AMP
            gradients overflow now and then by design, so leave it False there.
        agc_exclude: predicate ``(name, param) -> bool``; True keeps that parameter out
            of AGC (norm and value limits still apply to it).

    Returns:
        :class:`ClipResult` of 0-d tensors on the first gradient's device (no host sync).
        ``norm_after`` for the norm limit is ``norm * min(1, max_norm / (norm + 1e-6))``,
        the value ``clip_grad_norm_`` scales to.

    Example::

        scaler.scale(loss).backward()
        stats = clip_gradients(model.parameters(), max_norm=1.0, scaler=scaler, optimizer=opt)
        scaler.step(opt); scaler.update()   # stats.norm_before is the true, unscaled norm
    """
    _check_limit("max_norm", max_norm)
    _check_limit("max_value", max_value)
    _check_limit("agc", agc)
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type must be a number > 0 or math.inf, got {norm_type!r}")
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or math.inf, got {norm_type!r}")
    if scaler is not None and not isinstance(scaler, torch.amp.GradScaler):
        raise TypeError(f"scaler must be a torch.amp.GradScaler or None, got "
                        f"{type(scaler).__name__}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or None, got "
                        f"{type(optimizer).__name__}")
    if scaler is not None and optimizer is None:
        raise ValueError("optimizer is required with scaler: GradScaler unscales per optimizer")
    if agc_exclude is not None and not callable(agc_exclude):
        raise TypeError(f"agc_exclude must be a predicate (name, param) -> bool or None, got "
                        f"{agc_exclude!r}")
    # read the parameters before anything changes a gradient, so bad input changes nothing
    all_named = _named(parameters)

    if scaler is not None and scaler.is_enabled():
        # GradScaler keeps a per-optimizer stage (READY, UNSCALED, STEPPED) that update()
        # resets; calling unscale_ again in the UNSCALED stage would raise.
        stage = scaler._per_optimizer_states.get(id(optimizer), {}).get("stage")
        if stage is not OptState.UNSCALED:
            scaler.unscale_(optimizer)

    named = [(name, p) for name, p in all_named if p.grad is not None]
    params = [p for _, p in named]
    grads = [p.grad for p in params]
    if not grads:
        device = all_named[0][1].device if all_named else torch.device("cpu")
        zero = torch.zeros((), device=device)
        return ClipResult(zero, zero.clone(), torch.zeros((), dtype=torch.bool, device=device),
                          torch.ones((), dtype=torch.bool, device=device))

    device = grads[0].device
    norm_before = _total_norm(grads, norm_type, device, error_if_nonfinite)
    flags: list[Tensor] = []
    if agc is not None:
        exclude = agc_exclude or (lambda name, p: False)
        flags += _adaptive_clip_([p for name, p in named if not exclude(name, p)], agc)
    if max_value is not None:
        flags.append(_total_norm(grads, math.inf, device) > max_value)
        clip_grad_value_(params, max_value)
    norm = norm_before if not flags else _total_norm(grads, norm_type, device)
    if max_norm is not None:
        coef = max_norm / (norm + 1e-6)
        flags.append(coef < 1.0)
        clip_grads_with_norm_(params, max_norm, norm)
        norm = norm * coef.clamp(max=1.0)

    if flags:
        clipped = torch.stack([f.to(device) for f in flags]).any()
    else:
        clipped = torch.zeros((), dtype=torch.bool, device=device)
    return ClipResult(norm_before, norm, clipped, torch.isfinite(norm_before))
