"""Schedules: ``attach(optimizer, schedule).step()`` against the equal torch scheduler, and
``schedule.values(n)``.

Per update, a training loop pays ``optimizer.step(); scheduler.step()``. Both sides time
exactly that on a one-element parameter (SGD, so the optimizer's own part is tiny and the
same on both sides): lrnotes counts the update through a step hook and reads a precomputed
chunk of the closed form; torch computes its recursive (chainable) form.

    python benchmarks/bench_schedules.py [--quick] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from common import Row, compare, main_for

from lrnotes import schedules as S


def _stepper(make: Callable[[torch.optim.Optimizer], object],
             device: torch.device) -> Callable[[], None]:
    """One update's worth of optimizer + scheduler calls, on a one-element parameter."""
    param = torch.zeros(1, device=device, requires_grad=True)
    param.grad = torch.zeros(1, device=device)
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    scheduler = make(optimizer)

    def step() -> None:
        optimizer.step()
        scheduler.step()

    return step


def run(args: argparse.Namespace, device: torch.device) -> list[Row]:
    repeats = args.repeats or (3 if args.quick else 15)
    number = 20 if args.quick else 2000
    warmup = 1
    # long enough that no side runs past its end during warm-up and the timed rounds
    total = (warmup + repeats) * number + 10
    rows = []

    cases = [
        ("cosine", "CosineAnnealingLR",
         lambda o: S.attach(o, S.cosine(total_steps=total)),
         lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total)),
        ("one_cycle (with momentum)", "OneCycleLR",
         lambda o: S.attach(o, S.one_cycle(total_steps=total),
                            momentum=S.one_cycle(total_steps=total).momentum()),
         lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=total)),
        ("step", "StepLR",
         lambda o: S.attach(o, S.step(step_size=100, gamma=0.5)),
         lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=100, gamma=0.5)),
    ]
    for name, peer, ours, theirs in cases:
        a = _stepper(ours, device)
        b = _stepper(theirs, device)
        t_a, t_b, spread = compare(a, b, repeats=repeats, number=number, warmup=warmup,
                                   device=device)
        rows.append(Row("schedules", f"{name}: optimizer.step() + attach(...).step()",
                        f"torch {peer}", t_a, t_b, repeats, number,
                        note="per update, 1-element SGD param", spread=spread))

    n = 10_000 if args.quick else 1_000_000
    for name, schedule in (("cosine", S.cosine(total_steps=n)),
                           ("one_cycle", S.one_cycle(total_steps=n)),
                           ("warmup(cosine)", S.warmup(S.cosine(total_steps=n), steps=n // 20))):
        t_a, _, spread = compare(lambda schedule=schedule: schedule.values(n), None,
                                 repeats=repeats, number=1 if not args.quick else 3,
                                 warmup=1, device=torch.device("cpu"))
        rows.append(Row("schedules", f"{name}.values({n:_})", "", t_a, None, repeats, 1,
                        note=f"{1e9 * t_a / n:.1f} ns per value; torch has no vectorised form",
                        spread=spread))
    return rows


if __name__ == "__main__":
    main_for(run, __doc__.splitlines()[0])
