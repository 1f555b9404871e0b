"""How a batch becomes a loss, the same for :func:`lrnotes.fit`, :func:`lrnotes.evaluate`
and :func:`lrnotes.lr_find`: a batch is ``(inputs, targets)`` (or ``batch_fn(batch)`` makes
it one), every tensor inside is moved to the device, and the model is called as
``model(**inputs)`` for a dict, ``model(*inputs)`` for a tuple or list, ``model(inputs)``
otherwise, under autocast when ``amp`` asks for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

import torch
from torch import Tensor, nn

AMP_MODES = (None, False, True, "bf16", "fp16")


def to_device(obj: Any, device: torch.device | str) -> Any:
    """Move every tensor in ``obj`` (nested tuples, lists, dicts, namedtuples) to ``device``
    with ``non_blocking=True``; anything else is returned as is.

    Example::

        tokens, lengths = to_device((tokens, lengths), "cuda")
    """
    if isinstance(obj, Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, Mapping):
        return type(obj)({k: to_device(v, device) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(to_device(v, device) for v in obj))
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_device(v, device) for v in obj)
    return obj


def _amp_dtype(amp: Any, device: torch.device) -> torch.dtype | None:
    if amp is None or amp is False:
        return None
    if amp is True:
        return torch.float16 if device.type == "cuda" else torch.bfloat16
    if isinstance(amp, str) and amp in ("fp16", "bf16"):
        return torch.float16 if amp == "fp16" else torch.bfloat16
    raise ValueError(f"amp must be one of {AMP_MODES}, got {amp!r}")


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def _split(batch: Any, batch_fn: Callable[[Any], tuple[Any, Any]] | None,
           device: torch.device) -> tuple[Any, Any]:
    if batch_fn is not None:
        batch = batch_fn(batch)
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            size = f" of {len(batch)}" if isinstance(batch, (tuple, list)) else ""
            raise ValueError(f"batch_fn must return an (inputs, targets) pair, got a "
                             f"{type(batch).__name__}{size}")
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise ValueError("a batch must be an (inputs, targets) pair; pass batch_fn to convert "
                         f"yours, got {type(batch).__name__}")
    return to_device(batch[0], device), to_device(batch[1], device)


def _call(model: nn.Module, inputs: Any) -> Tensor:
    """``model(**inputs)`` for a dict, ``model(*inputs)`` for a tuple or list, else
    ``model(inputs)``."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def forward(model: nn.Module, batch: Any, loss_fn: Callable[[Any, Any], Tensor],
            device: torch.device, *, batch_fn: Callable[[Any], tuple[Any, Any]] | None = None,
            amp_dtype: torch.dtype | None = None) -> tuple[Tensor, Tensor, Any, Any]:
    """``loss = loss_fn(model(inputs), targets)`` for one batch, as ``fit`` computes it:
    returns ``(loss, outputs, inputs, targets)`` with the inputs and targets on ``device``.

    Example::

        loss, outputs, inputs, targets = forward(model, batch, nn.CrossEntropyLoss(), device)
    """
    inputs, targets = _split(batch, batch_fn, device)
    with _autocast(device, amp_dtype):
        outputs = _call(model, inputs)
        loss = loss_fn(outputs, targets)
    return loss, outputs, inputs, targets
