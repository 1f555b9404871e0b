"""Which workload lets the learning rate matter on a CPU? The digits toy against MNIST-1D.

For each candidate (a data set, a model, an epoch budget of a few seconds per run on one
thread) this script measures, with AdamW and ``lrnotes.fit``:

1. the **lr window**: the final validation accuracy over a sweep of peak rates (warmup +
   cosine, seeds 0..S-1), so a narrow window shows as a peak that falls off on both sides;
2. **constant vs cosine vs warmup + cosine** at the best rate of the sweep, over the same
   seeds: mean and standard deviation of the final validation accuracy and loss, and the
   effect (difference of the means) in units of the larger of the two spreads.

Nothing is tuned to make a method win: the candidates and grids below are fixed before the
run. Writes ``benchmarks/results/medium_workload.md`` (and ``.json``).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/medium_workload.py --seeds 3
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from lrnotes import schedules as S
from lrnotes.data import digits, mnist1d
from lrnotes.models import MLP, ConvNet1d
from lrnotes.train import accuracy, fit

RESULTS = Path(__file__).resolve().parent / "results"

# name: (loaders(seed), model(), epochs)
CANDIDATES = {
    "digits, MLP 64-128-10": (
        lambda seed: digits(batch_size=128, seed=seed), lambda: MLP(64, hidden=(128,)), 10),
    "MNIST-1D, MLP 40-256-256-10": (
        lambda seed: mnist1d(batch_size=128, seed=seed),
        lambda: MLP(40, hidden=(256, 256)), 20),
    "MNIST-1D, ConvNet1d (25 channels)": (
        lambda seed: mnist1d(batch_size=128, seed=seed), lambda: ConvNet1d(), 20),
}
LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
WEIGHT_DECAY = 0.01
WARMUP_FRACTION = 0.05


def run(candidate: str, lr: float, schedule: str, seed: int) -> dict[str, float]:
    make_loaders, make_model, epochs = CANDIDATES[candidate]
    torch.manual_seed(seed)
    train_loader, val_loader = make_loaders(seed)
    model = make_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    total = epochs * len(train_loader)
    warm = max(1, round(WARMUP_FRACTION * total))
    shape = {"constant": S.constant(1.0), "cosine": S.cosine(total),
             "warmup+cosine": S.warmup(S.cosine(total - warm), steps=warm)}[schedule]
    start = time.perf_counter()
    history = fit(model, train_loader, optimizer, torch.nn.CrossEntropyLoss(), epochs=epochs,
                  val_loader=val_loader, scheduler=S.attach(optimizer, shape),
                  metrics={"acc": accuracy}, progress=False)
    return {"val_acc": history.epochs["val_acc"][-1], "val_loss": history.epochs["val_loss"][-1],
            "train_loss": history.epochs["train_loss"][-1],
            "seconds": time.perf_counter() - start}


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--candidates", nargs="+", default=list(CANDIDATES))
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    seeds = list(range(args.seeds))
    results: dict[str, dict] = {}
    lines = [f"# Medium workload: where the learning rate matters ({_dt.date.today()})", "",
             f"AdamW (weight decay {WEIGHT_DECAY}), batch 128, warmup {WARMUP_FRACTION:.0%} "
             f"of the updates; final validation values, mean ± sd over seeds {seeds}; "
             f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
             f"{platform.processor() or platform.machine()}, load {os.getloadavg()[0]:.1f}.",
             "Effect: difference of the means in units of the larger sd of the two.", ""]
    for name in args.candidates:
        epochs = CANDIDATES[name][2]
        sweep = {lr: [run(name, lr, "warmup+cosine", s) for s in seeds] for lr in LRS}
        acc = {lr: [r["val_acc"] for r in runs] for lr, runs in sweep.items()}
        best = max(LRS, key=lambda lr: np.mean(acc[lr]))
        schedules = {"warmup+cosine": sweep[best]}
        for schedule in ("constant", "cosine"):
            schedules[schedule] = [run(name, best, schedule, s) for s in seeds]
        seconds = [r["seconds"] for runs in sweep.values() for r in runs]
        results[name] = {"epochs": epochs, "best_lr": best,
                         "sweep": {str(lr): runs for lr, runs in sweep.items()},
                         "schedules": schedules}
        first = len(lines)
        lines += [f"## {name}, {epochs} epochs ({np.median(seconds):.1f} s per run)", "",
                  "lr window (warmup + cosine), final validation accuracy:", "",
                  "| lr | " + " | ".join(f"{lr:g}" for lr in LRS) + " |",
                  "|---|" + "---|" * len(LRS),
                  "| val acc | " + " | ".join(summary(acc[lr]) for lr in LRS) + " |", "",
                  f"Schedules at the best lr of the sweep ({best:g}):", "",
                  "| schedule | val acc | val loss | train loss |", "|---|---|---|---|"]
        for schedule, runs in schedules.items():
            lines.append(f"| {schedule} | " + " | ".join(
                summary([r[key] for r in runs]) for key in ("val_acc", "val_loss", "train_loss"))
                + " |")
        ref = [r["val_acc"] for r in schedules["warmup+cosine"]]
        for schedule in ("constant", "cosine"):
            other = [r["val_acc"] for r in schedules[schedule]]
            sd = max(np.std(ref), np.std(other)) or float("nan")
            lines.append(f"\nwarmup+cosine - {schedule}: {np.mean(ref) - np.mean(other):+.3f} "
                         f"val acc ({(np.mean(ref) - np.mean(other)) / sd:+.1f} sd)")
        lines.append("")
        print("\n".join(lines[first:]), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "medium_workload.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "medium_workload.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
