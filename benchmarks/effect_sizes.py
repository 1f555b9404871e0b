"""Effect sizes of the book's comparisons, on the digits toy and on MNIST-1D, from the values
the chapters glued in a book build (issue 27: "per technique, the effect size on the toy and
on the medium workload over seeds").

Reads ``_build/jupyter_execute/book/NN_*.glue.json`` (written by the build that
``jupyter-book build .`` or the test suite runs; the chapters at their default ``SEED``) and
writes ``benchmarks/results/effect_sizes.md``: for each comparison, arm A and arm B as mean ±
sd over the seeds (numpy's ``std``, as the chapters), the difference A - B and the same
difference in units of the larger of the two sds, the unit in which the chapters say "within"
or "outside the spread". Nothing is trained here: the table is the chapters' own numbers.

    python benchmarks/effect_sizes.py [--build _build] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: per-seed values, or a glued mean and sd with a seed count."""

    values: Sequence[float] | None = None
    mean: float | None = None
    sd: float | None = None
    n: int | None = None

    def stats(self) -> tuple[float, float, int]:
        if self.values is not None:
            values = np.asarray(self.values, dtype=float)
            return float(values.mean()), float(values.std()), len(values)
        if self.mean is None or self.sd is None or self.n is None:
            raise ValueError("an arm needs its per-seed values or its mean, sd and seed count")
        return self.mean, self.sd, self.n


@dataclass(frozen=True)
class Comparison:
    technique: str
    chapter: str
    workload: str
    metric: str
    a: str
    b: str
    arms: Callable[[dict[str, Any]], tuple[Arm, Arm]]


# an arm's name in a glued dict, or how to read it from the glued values
ArmName = str | Callable[[dict[str, Any]], str]


def _final(glued: dict[str, Any], key: str, arm: str, metric: str) -> Arm:
    return Arm(values=glued[key][arm][metric])


def _finals(key: str, a: ArmName, b: ArmName,
            metric: str) -> Callable[[dict[str, Any]], tuple[Arm, Arm]]:
    """Both arms from the glued ``key`` (arm -> metric -> per-seed values); an arm's name may
    depend on the glued values (the better decay, the better constant)."""
    def arms(glued: dict[str, Any]) -> tuple[Arm, Arm]:
        name_a, name_b = (n(glued) if callable(n) else n for n in (a, b))
        return _final(glued, key, name_a, metric), _final(glued, key, name_b, metric)
    return arms


def _best_constant(glued: dict[str, Any]) -> str:
    return "constant at " + glued["medium_best_constant"]


COMPARISONS = [
    Comparison("cosine against step decay", "03_cosine_annealing", "digits, MLP, SGD",
               "val loss", "cosine", "step decay",
               lambda g: (Arm(values=g["cosine_val_seeds"]), Arm(values=g["step_val_seeds"]))),
    Comparison("cosine against step decay", "03_cosine_annealing", "MNIST-1D, ConvNet1d, SGD",
               "val acc", "cosine", "step decay",
               _finals("medium_final", "cosine", "step decay", "val_acc")),
    Comparison("a constant rate against the better decay", "03_cosine_annealing",
               "MNIST-1D, ConvNet1d, SGD", "val acc", "constant", "better decay",
               _finals("medium_final", "constant", lambda g: g["medium_better_decay"], "val_acc")),
    Comparison("warmup", "05_warmup", "MNIST-1D, ConvNet1d, AdamW (one shared rate)", "val acc",
               "warmup + cosine", "cosine alone",
               _finals("medium_final", "warmup + cosine", "cosine, no warmup", "val_acc")),
    Comparison("cyclical rate against the better constant bound", "09_cyclical_rates",
               "digits, MLP, SGD", "val loss", "CLR", "upper bound",
               lambda g: (Arm(values=g["clr_val_losses"]), Arm(values=g["upper_val_losses"]))),
    Comparison("cyclical rate against the better constant bound", "09_cyclical_rates",
               "MNIST-1D, ConvNet1d, AdamW", "val acc", "CLR", "better constant",
               _finals("medium_final", "CLR (triangular)", _best_constant, "val_acc")),
    Comparison("one-cycle against the better constant bound", "09_cyclical_rates",
               "MNIST-1D, ConvNet1d, AdamW", "val acc", "one-cycle", "better constant",
               _finals("medium_final", "one-cycle", _best_constant, "val_acc")),
    Comparison("one-cycle against ReduceLROnPlateau", "11_image_classification",
               "digits, CNN, SGD", "val acc", "one-cycle", "plateau",
               lambda g: (Arm(values=g["final_accs"]["one_cycle"]),
                          Arm(values=g["final_accs"]["plateau"]))),
    Comparison("warmup + cosine against ReduceLROnPlateau", "11_image_classification",
               "digits, CNN, SGD", "val acc", "warmup + cosine", "plateau",
               lambda g: (Arm(values=g["final_accs"]["warmup_cosine"]),
                          Arm(values=g["final_accs"]["plateau"]))),
    Comparison("warmup + cosine against ReduceLROnPlateau", "11_image_classification",
               "MNIST-1D, ConvNet1d, SGD (6 epochs)", "val acc", "warmup + cosine", "plateau",
               lambda g: (Arm(values=g["medium_accs"]["warmup_cosine"]),
                          Arm(values=g["medium_accs"]["plateau"]))),
    Comparison("the recipe against a constant rate after warmup", "15_combining",
               "digits, MLP, AdamW", "val loss", "full recipe", "no cosine (constant)",
               _finals("ablation", "full recipe", "no cosine (constant)", "val_loss")),
    Comparison("the recipe against no warmup", "15_combining", "digits, MLP, AdamW", "val loss",
               "full recipe", "no warmup",
               _finals("ablation", "full recipe", "no warmup", "val_loss")),
    Comparison("the recipe against no warmup", "15_combining", "MNIST-1D, ConvNet1d, AdamW",
               "val loss", "full recipe", "no warmup",
               _finals("medium_results", "full recipe", "no warmup", "val_loss")),
    Comparison("WSD against warmup + cosine (each at its tuned rate)", "17_schedule_free",
               "MNIST-1D, ConvNet1d, AdamW", "val acc", "WSD", "warmup + cosine",
               _finals("results", "AdamW, WSD", "AdamW, warmup + cosine", "val_acc")),
    Comparison("schedule-free AdamW against warmup + cosine", "17_schedule_free",
               "MNIST-1D, ConvNet1d", "val acc", "schedule-free", "warmup + cosine",
               _finals("results", "schedule-free AdamW", "AdamW, warmup + cosine", "val_acc")),
    Comparison("Prodigy against warmup + cosine", "17_schedule_free", "MNIST-1D, ConvNet1d",
               "val acc", "Prodigy", "warmup + cosine",
               _finals("results", "Prodigy", "AdamW, warmup + cosine", "val_acc")),
]


def read_glue(path: Path) -> dict[str, Any]:
    """The values a chapter glued, from the build's ``NN.glue.json``."""
    outputs = json.loads(path.read_text())
    return {key: out["metadata"]["lrnotes"]["value"] for key, out in outputs.items()
            if "lrnotes" in out.get("metadata", {})}


def effect(comparison: Comparison, glued: dict[str, Any]) -> dict[str, Any]:
    a, b = comparison.arms(glued)
    (mean_a, sd_a, n_a), (mean_b, sd_b, n_b) = a.stats(), b.stats()
    spread = max(sd_a, sd_b)
    diff = mean_a - mean_b
    return {"technique": comparison.technique, "chapter": comparison.chapter,
            "workload": comparison.workload, "metric": comparison.metric,
            "a": comparison.a, "b": comparison.b, "mean_a": mean_a, "sd_a": sd_a,
            "mean_b": mean_b, "sd_b": sd_b, "seeds": min(n_a, n_b), "diff": diff,
            "diff_in_sd": diff / spread if spread > 0 else float("nan"),
            "where": "within" if abs(diff) <= spread else "outside"}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| technique | chapter | workload | metric | A | B | A - B | in sd | seeds |",
             "|---|---|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        fmt = "{:.3f}"
        lines.append(
            f"| {r['technique']} | {r['chapter'][:2]} | {r['workload']} | {r['metric']} | "
            f"{r['a']}: {fmt.format(r['mean_a'])} ± {fmt.format(r['sd_a'])} | "
            f"{r['b']}: {fmt.format(r['mean_b'])} ± {fmt.format(r['sd_b'])} | "
            f"{r['diff']:+.3f} | {r['diff_in_sd']:+.1f} ({r['where']}) | {r['seeds']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=ROOT / "_build",
                        help="the book's build folder (default: _build)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    executed = args.build / "jupyter_execute" / "book"
    missing = sorted({c.chapter for c in COMPARISONS
                      if not (executed / f"{c.chapter}.glue.json").is_file()})
    if missing:
        parser.error(f"--build: no glued values of {', '.join(missing)} in {executed}; "
                     "build the book first (jupyter-book build . or the README's test command)")
    glued = {c.chapter: read_glue(executed / f"{c.chapter}.glue.json") for c in COMPARISONS}
    try:
        rows = [effect(c, glued[c.chapter]) for c in COMPARISONS]
    except KeyError as err:
        parser.error(f"a chapter no longer glues {err}: update COMPARISONS in {__file__}")
    # the commit of the checkout that was built (its _build), not necessarily this one
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                            cwd=args.build.resolve().parent, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        "# Effect sizes: the digits toy against MNIST-1D\n\n"
        f"Generated by `benchmarks/effect_sizes.py` from the values the chapters glued in a book "
        f"build (commit `{commit}`, {date}; each chapter at its default `SEED`, quick "
        "profile). A and B: mean ± sd over the seeds; A - B in the metric's units (val loss: "
        "lower is better; val acc: higher is better); in sd: A - B over the larger of the two "
        "sds, \"within\" where it is at most 1. Which rates each arm used, and whether they "
        "were tuned, is said in the chapter.\n\n" + table(rows) + "\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "effect_sizes.md").write_text(text)
    (args.out / "effect_sizes.json").write_text(json.dumps(
        {"commit": commit, "date": date, "rows": rows}, indent=2) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
