"""A checkpoint round trip the schedule tests share: save, rebuild from scratch, load."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

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
