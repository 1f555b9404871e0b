"""The LR range test: ``lrnotes.finder.lr_find`` against ``torch_lr_finder.LRFinder``
(``LRFinder(...)``, ``range_test(...)``, ``reset()``: its state save, the test, its restore).

Same model (``small_resnet``, the quick profile's ResNet), same data (scikit-learn digits as
8x8 images, batches of 64, two loaders with the same seed so both see the same order), same
optimizer (SGD, momentum 0.9), same sweep (exponential, ``start_lr`` to ``end_lr`` in
``num_steps`` updates), same smoothing (0.05) and divergence threshold (5x the best loss).
Both stop early at divergence, so the timed work can differ by a few steps; the note says
how many steps each ran. The suggestions are printed side by side: lrnotes' ``steepest`` and
``valley`` rules, and torch-lr-finder's own suggestion (the steepest gradient of its
smoothed curve, from ``LRFinder.plot(suggest_lr=True)``, computed outside the timing).

    python benchmarks/bench_finder.py [--quick] [--device cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import Any

import torch
from common import Row, compare, main_for, quiet
from torch import nn

from lrnotes.data import digits
from lrnotes.finder import lr_find
from lrnotes.models import MLP, small_resnet

START_LR, END_LR, SMOOTHING, DIVERGE = 1e-5, 10.0, 0.05, 5.0


def _peer_suggestion(finder: Any) -> float | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    try:
        with quiet():
            _, lr = finder.plot(skip_start=10, skip_end=5, ax=ax, suggest_lr=True)
        return float(lr)
    except (ValueError, IndexError):  # too few points for its rule
        return None
    finally:
        plt.close(fig)


def run(args: argparse.Namespace, device: torch.device) -> list[Row]:
    from torch_lr_finder import LRFinder

    repeats = args.repeats or (2 if args.quick else 7)
    num_steps = 20 if args.quick else 100
    image = not args.quick  # --quick: an MLP on flat digits, cheaper than the ResNet
    base = small_resnet(num_classes=10, in_channels=1) if image else MLP(64, hidden=(16,))
    loss_fn = nn.CrossEntropyLoss()
    last: dict[str, Any] = {}

    def ours() -> Callable[[], None]:
        model = copy.deepcopy(base).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader, _ = digits(batch_size=64, image=image, seed=0)

        def call() -> None:
            last["ours"] = lr_find(model, loader, optimizer, loss_fn, start_lr=START_LR,
                                   end_lr=END_LR, num_steps=num_steps, smoothing=SMOOTHING,
                                   diverge=DIVERGE, progress=False)

        return call

    def theirs() -> Callable[[], None]:
        model = copy.deepcopy(base).to(device)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        loader, _ = digits(batch_size=64, image=image, seed=0)

        def call() -> None:
            with quiet():
                finder = LRFinder(model, optimizer, loss_fn, device=device)
                finder.range_test(loader, start_lr=START_LR, end_lr=END_LR, num_iter=num_steps,
                                  step_mode="exp", smooth_f=SMOOTHING, diverge_th=DIVERGE)
                finder.reset()
            last["theirs"] = finder

        return call

    t_a, t_b, spread = compare(ours(), theirs(), repeats=repeats, number=1, warmup=1,
                               device=device)
    result, finder = last["ours"], last["theirs"]
    ours_lrs = {rule: result.suggestions()[rule] for rule in ("steepest", "valley")}
    theirs_lr = _peer_suggestion(finder)

    def fmt(value: float | None) -> str:
        return "none" if value is None else f"{value:.2e}"

    note = (f"{num_steps}-step sweep {START_LR:g}..{END_LR:g}; steps run: lrnotes "
            f"{len(result.lrs)}, peer {len(finder.history['lr'])}; suggestions: lrnotes "
            f"steepest {fmt(ours_lrs['steepest'])}, valley {fmt(ours_lrs['valley'])}; "
            f"torch-lr-finder steepest {fmt(theirs_lr)}")
    extra = {"suggestions": {"lrnotes_steepest": ours_lrs["steepest"],
                             "lrnotes_valley": ours_lrs["valley"],
                             "torch_lr_finder_steepest": theirs_lr},
             "steps_run": {"lrnotes": len(result.lrs), "peer": len(finder.history["lr"])}}
    return [Row("lr_find", "lr_find(...) (incl. snapshot and restore)",
                "torch_lr_finder LRFinder + range_test + reset", t_a, t_b, repeats, 1,
                note=note, spread=spread, extra=extra)]


if __name__ == "__main__":
    main_for(run, __doc__.splitlines()[0])
