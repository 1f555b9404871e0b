"""A checkpoint round trip the schedule tests share (save, rebuild from scratch, load), and
the bit-for-bit comparison of saved states that the finder and resume tests share."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch


def reload(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
           build: Callable[[int], tuple[Any, Any, Any]]) -> tuple[Any, Any, Any]:
    """Save the three through ``torch.save``, then load them (``weights_only=True``) into new
    ones from ``build(1)``: a fresh process with other initial weights."""
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": optimizer.state_dict(),
                "sched": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model, optimizer, scheduler = build(1)
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["opt"])
    scheduler.load_state_dict(saved["sched"])
    return model, optimizer, scheduler


def assert_bitwise_equal(a: Any, b: Any, where: str = "state") -> None:
    """Equal nested state: tensors bit for bit with the same dtype, arrays equal, dicts with
    the same keys, sequences of the same length, NaN equal to NaN, everything else ``==``."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, np.ndarray):
        assert np.array_equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"keys differ at {where}: {set(a) ^ set(b)}"
        for key in a:
            assert_bitwise_equal(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_bitwise_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, where
