"""LARS: ``lrnotes.optim.LARS.step()`` against ``torch.optim.SGD(momentum=0.9, foreach=True)``
and ``timm.optim.Lars`` on the parameters of ResNet-18 (``lrnotes.models.resnet18_cifar``,
11.2 M parameters in 62 tensors) with fixed random gradients.

Every optimizer owns its own copy of the model (same initial weights, same gradients) and
does the same work: momentum 0.9, weight decay 5e-4 on the adapted (ndim > 1) tensors,
biases and BatchNorm weights neither adapted nor decayed (timm: a second param group with
weight decay 0, which timm then does not adapt). lrnotes' ``foreach=None`` picks the
per-tensor path on the CPU and the multi-tensor path on CUDA; the ``foreach=True`` row
forces the multi-tensor path.

    python benchmarks/bench_lars.py [--quick] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable

import torch
from common import Row, compare, main_for
from torch import nn

from lrnotes.models import MLP, resnet18_cifar
from lrnotes.optim import LARS

LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


def _with_grads(model: nn.Module, device: torch.device) -> nn.Module:
    model = copy.deepcopy(model).to(device)
    generator = torch.Generator().manual_seed(1)
    for p in model.parameters():
        p.grad = (torch.randn(p.shape, generator=generator) * 1e-3).to(device)
    return model


def _stepper(optimizer: torch.optim.Optimizer) -> Callable[[], None]:
    return optimizer.step


def _timm_groups(model: nn.Module) -> list[dict]:
    matrices = [p for p in model.parameters() if p.ndim > 1]
    vectors = [p for p in model.parameters() if p.ndim <= 1]
    return [{"params": matrices, "weight_decay": WEIGHT_DECAY},
            {"params": vectors, "weight_decay": 0.0}]


def run(args: argparse.Namespace, device: torch.device) -> list[Row]:
    from timm.optim import Lars

    repeats = args.repeats or (3 if args.quick else 15)
    number = 1 if args.quick else 5
    base = MLP(64, hidden=(32,)) if args.quick else resnet18_cifar()
    what = "MLP(64, 32) params" if args.quick else "ResNet-18 params"
    count = sum(p.numel() for p in base.parameters())
    note = f"{what}: {count:,} values in {len(list(base.parameters()))} tensors"

    def lars(foreach: bool | None) -> Callable[[], None]:
        return _stepper(LARS(_with_grads(base, device).parameters(), lr=LR, momentum=MOMENTUM,
                             weight_decay=WEIGHT_DECAY, foreach=foreach))

    def sgd() -> Callable[[], None]:
        return _stepper(torch.optim.SGD(_with_grads(base, device).parameters(), lr=LR,
                                        momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                                        foreach=True))

    def timm_lars() -> Callable[[], None]:
        return _stepper(Lars(_timm_groups(_with_grads(base, device)), lr=LR, momentum=MOMENTUM,
                             trust_coeff=0.001, eps=1e-8))

    cases = [
        ("LARS.step() (foreach=None, default)", "torch SGD(momentum=0.9, foreach=True)",
         lars(None), sgd()),
        ("LARS.step() (foreach=True)", "torch SGD(momentum=0.9, foreach=True)",
         lars(True), sgd()),
        ("LARS.step() (foreach=None, default)", "timm.optim.Lars (foreach default)",
         lars(None), timm_lars()),
        ("LARS.step() (foreach=True)", "timm.optim.Lars (foreach default)",
         lars(True), timm_lars()),
    ]
    rows = []
    for name, peer, a, b in cases:
        t_a, t_b, spread = compare(a, b, repeats=repeats, number=number, warmup=2,
                                   device=device)
        rows.append(Row("LARS", name, peer, t_a, t_b, repeats, number,
                        note=note, spread=spread))
    return rows


if __name__ == "__main__":
    main_for(run, __doc__.splitlines()[0])
