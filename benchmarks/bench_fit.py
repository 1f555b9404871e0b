"""The training loop: ``lrnotes.train.fit`` against a hand-written loop doing the same work.

Same model (``small_resnet`` on scikit-learn digits as 8x8 images, batches of 64, one epoch
per timed call), same optimizer (SGD, momentum 0.9) and schedule (``attach(cosine)``, stepped
per update), each side on its own copy of the model. The hand-written loop is the one a
reader would write: forward, backward, ``step``, ``zero_grad(set_to_none=True)``,
``scheduler.step()``, and the loss kept as a tensor per update.

- progress and TensorBoard **off**: ``fit(progress=False)`` against the bare loop.
- progress and TensorBoard **on**: ``fit(progress=True, writer=SummaryWriter)`` against the
  loop wrapped in ``tqdm`` that writes the loss and lr to its own ``SummaryWriter`` every
  update (``loss.item()``: one host sync per update, as such loops do). Output of both bars
  is swallowed.

``fit`` also computes the total gradient norm of every update (``History.grad_norm``) and
moves the recorded values to the host every ``log_every=50`` updates; the hand-written loop
does neither, so the ratio includes what that record costs.

Throughput (on CUDA, or with ``--throughput``): images per second for ResNet-18
(``resnet18_cifar``) on random CIFAR-shaped tensors (3x32x32, batches of 256, already on the
device), channels-last, bfloat16 autocast: ``fit(amp="bf16")`` against the hand-written loop
under ``torch.autocast``.

    python benchmarks/bench_fit.py [--quick] [--device cpu] [--threads 1] [--throughput]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
from collections.abc import Callable, Iterable
from typing import Any

import torch
from common import Row, compare, main_for, quiet
from torch import nn

from lrnotes import schedules as S
from lrnotes.data import digits
from lrnotes.models import resnet18_cifar, small_resnet
from lrnotes.train import fit

TOTAL_STEPS = 1_000_000  # the cosine never reaches its end during a benchmark


def _setup(base: nn.Module, device: torch.device,
           channels_last: bool = False) -> tuple[nn.Module, torch.optim.Optimizer, Any]:
    model = copy.deepcopy(base).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scheduler = S.attach(optimizer, S.cosine(total_steps=TOTAL_STEPS))
    return model, optimizer, scheduler


def _hand_loop(model: nn.Module, loader: Iterable[Any], optimizer: torch.optim.Optimizer,
               scheduler: Any, loss_fn: nn.Module, device: torch.device, *,
               amp: torch.dtype | None = None, tracked: bool = False,
               writer: Any = None) -> Callable[[], None]:
    step = [0]

    def epoch() -> None:
        from tqdm.auto import tqdm

        model.train()
        losses = []
        batches = tqdm(loader, disable=not tracked)
        for inputs, targets in batches:
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                loss = loss_fn(model(inputs), targets)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            losses.append(loss.detach())
            if writer is not None:
                value = loss.item()
                writer.add_scalar("train/loss", value, step[0])
                writer.add_scalar("lr/group_0", lr, step[0])
                batches.set_postfix(loss=f"{value:.4g}", refresh=False)
            step[0] += 1
        torch.stack(losses).mean().item()  # the epoch's mean loss, as fit reports it

    return epoch


def _fit_epoch(model: nn.Module, loader: Iterable[Any], optimizer: torch.optim.Optimizer,
               scheduler: Any, loss_fn: nn.Module, *, amp: str | None = None,
               tracked: bool = False, writer: Any = None) -> Callable[[], None]:
    def epoch() -> None:
        fit(model, loader, optimizer, loss_fn, epochs=1, scheduler=scheduler, amp=amp,
            progress=tracked, writer=writer)

    return epoch


def _quietly(fn: Callable[[], None]) -> Callable[[], None]:
    def call() -> None:
        with quiet():
            fn()

    return call


def _loop_rows(args: argparse.Namespace, device: torch.device) -> list[Row]:
    from torch.utils.tensorboard import SummaryWriter

    repeats = args.repeats or (2 if args.quick else 9)
    base = small_resnet(num_classes=10, in_channels=1, width=4 if args.quick else 16)
    loss_fn = nn.CrossEntropyLoss()
    batch = 256 if args.quick else 64
    loader_a, _ = digits(batch_size=batch, image=True, seed=0)
    loader_b, _ = digits(batch_size=batch, image=True, seed=0)
    what = f"1 epoch = {len(loader_a)} updates of small_resnet on digits, batch {batch}"
    rows = []
    with tempfile.TemporaryDirectory() as logs:
        for tracked in (False, True):
            model_a, opt_a, sched_a = _setup(base, device)
            model_b, opt_b, sched_b = _setup(base, device)
            writer_a = SummaryWriter(f"{logs}/fit_{tracked}") if tracked else None
            writer_b = SummaryWriter(f"{logs}/hand_{tracked}") if tracked else None
            a = _quietly(_fit_epoch(model_a, loader_a, opt_a, sched_a, loss_fn,
                                    tracked=tracked, writer=writer_a))
            b = _quietly(_hand_loop(model_b, loader_b, opt_b, sched_b, loss_fn, device,
                                    tracked=tracked, writer=writer_b))
            t_a, t_b, spread = compare(a, b, repeats=repeats, number=1, warmup=1,
                                       device=device)
            for writer in (writer_a, writer_b):
                if writer is not None:
                    writer.close()
            state = "on" if tracked else "off"
            rows.append(Row("fit", f"fit(...) one epoch, progress + TensorBoard {state}",
                            f"hand-written loop, tqdm + SummaryWriter {state}", t_a, t_b,
                            repeats, 1, note=what, spread=spread))
    return rows


def _throughput_rows(args: argparse.Namespace, device: torch.device) -> list[Row]:
    repeats = args.repeats or (2 if args.quick else 7)
    if args.quick:
        base = small_resnet(num_classes=10, in_channels=3, width=4)
        batch, n_batches, what = 16, 2, "small_resnet"
    else:
        base = resnet18_cifar()
        batch, n_batches, what = 256, 20, "ResNet-18"
    generator = torch.Generator().manual_seed(0)
    data = [(torch.randn(batch, 3, 32, 32, generator=generator).to(
                 device, memory_format=torch.channels_last),
             torch.randint(0, 10, (batch,), generator=generator).to(device))
            for _ in range(n_batches)]
    loss_fn = nn.CrossEntropyLoss()
    model_a, opt_a, sched_a = _setup(base, device, channels_last=True)
    model_b, opt_b, sched_b = _setup(base, device, channels_last=True)
    a = _fit_epoch(model_a, data, opt_a, sched_a, loss_fn, amp="bf16")
    b = _hand_loop(model_b, data, opt_b, sched_b, loss_fn, device, amp=torch.bfloat16)
    t_a, t_b, spread = compare(a, b, repeats=repeats, number=1, warmup=2, device=device)
    images = batch * n_batches
    note = (f"{what}, {n_batches} batches of {batch} x 3x32x32 on the device: "
            f"lrnotes {images / t_a:,.0f} img/s, hand loop {images / t_b:,.0f} img/s")
    return [Row("fit", "fit(amp='bf16') channels-last throughput",
                "hand-written loop, autocast bf16, channels-last", t_a, t_b, repeats, 1,
                note=note, spread=spread,
                extra={"images_per_s": {"lrnotes": images / t_a, "peer": images / t_b}})]


def run(args: argparse.Namespace, device: torch.device) -> list[Row]:
    rows = _loop_rows(args, device)
    if device.type == "cuda" or args.throughput:
        rows += _throughput_rows(args, device)
    return rows


if __name__ == "__main__":
    main_for(run, __doc__.splitlines()[0])
