"""The timing harness every benchmark script shares.

Each comparison times lrnotes (A) and its peer (B) in the same process: a warm-up of both,
then ``repeats`` rounds that run A and B back to back, alternating which goes first, so
a change of machine load hits both sides alike. A round times ``number`` calls and keeps
the time per call. The table reports the median of the rounds for each side and the ratio
of the medians (lrnotes / peer: below 1 is faster than the peer). On CUDA every timed
region starts and ends with ``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

DEFAULT_OUT = ROOT / "benchmarks" / "results"


@dataclass
class Row:
    """One line of the results table.

    ``lrnotes_s`` and ``peer_s`` are medians in seconds per call (``peer_s`` None when there
    is no peer); ``ratio`` is ``lrnotes_s / peer_s``; ``spread`` the interquartile range of
    each side's rounds relative to its median, a measure of how noisy the row was.
    """

    group: str
    name: str
    peer: str
    lrnotes_s: float
    peer_s: float | None
    repeats: int
    number: int
    note: str = ""
    spread: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        return None if self.peer_s is None else self.lrnotes_s / self.peer_s

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio}


def pick_device(name: str) -> torch.device:
    """``"auto"``: cuda when available, else cpu; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _relative_iqr(samples: list[float]) -> float:
    if len(samples) < 4:
        return (max(samples) - min(samples)) / statistics.median(samples)
    q = statistics.quantiles(samples, n=4)
    return (q[2] - q[0]) / statistics.median(samples)


def time_calls(fn: Callable[[], Any], number: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``number`` calls (synchronised on CUDA)."""
    synchronize(device)
    start = time.perf_counter()
    for _ in range(number):
        fn()
    synchronize(device)
    return (time.perf_counter() - start) / number


def compare(a: Callable[[], Any], b: Callable[[], Any] | None, *, repeats: int, number: int,
            warmup: int, device: torch.device) -> tuple[float, float | None, dict[str, float]]:
    """Median seconds per call of ``a`` and ``b`` (None for no peer), alternating A/B.

    Returns ``(median_a, median_b, spread)`` with the relative interquartile ranges.
    """
    for _ in range(warmup):
        a()
        if b is not None:
            b()
    synchronize(device)
    times_a: list[float] = []
    times_b: list[float] = []
    for round_ in range(repeats):
        pair = [(a, times_a), (b, times_b)]
        if round_ % 2:
            pair.reverse()
        for fn, times in pair:
            if fn is not None:
                times.append(time_calls(fn, number, device))
    spread = {"lrnotes": _relative_iqr(times_a)}
    if b is None:
        return statistics.median(times_a), None, spread
    spread["peer"] = _relative_iqr(times_b)
    return statistics.median(times_a), statistics.median(times_b), spread


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Swallow stdout and stderr (progress bars, a peer's prints) inside the timed code."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def format_load(values: list[float] | None) -> str:
    return "n/a" if values is None else " / ".join(f"{v:.2f}" for v in values)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    for name in ("timm", "torch_lr_finder"):
        try:
            from importlib.metadata import version

            info[name] = version(name.replace("_", "-"))
        except Exception:  # noqa: BLE001 - a missing peer only leaves its version out
            info[name] = None
    return info


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags every script takes."""
    parser.add_argument("--device", default="auto", help="auto (cuda if available), cpu, cuda")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch.set_num_threads for the whole run (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes: checks that the script runs, numbers mean nothing")
    parser.add_argument("--repeats", type=int, default=None, help="timed rounds per side")
    parser.add_argument("--throughput", action="store_true",
                        help="bench_fit: the images/s rows also off CUDA (always on CUDA)")


def setup(args: argparse.Namespace) -> torch.device:
    """Fix the thread count, seed, pick the device; print them."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device(args.device)
    print(f"# device={device} torch.get_num_threads()={torch.get_num_threads()} "
          f"torch={torch.__version__}", flush=True)
    return device


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def markdown(rows: list[Row], info: dict[str, Any]) -> str:
    """The results table, with a header that says what machine made it."""
    lines = [
        f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), "
        f"device `{info['device']}`" + (f" ({info['gpu']})" if "gpu" in info else "")
        + f", torch {info['torch']}, torch threads {info['torch_threads']}, "
        f"Python {info['python']}; peers: timm {info.get('timm')}, "
        f"torch-lr-finder {info.get('torch_lr_finder')}.",
        "",
    ]
    if info.get("load_start") is not None:
        lines += [f"Load average (1 / 5 / 15 min): {format_load(info['load_start'])} at the "
                  f"start, {format_load(info.get('load_end'))} at the end.", ""]
    if info.get("quick"):
        lines += ["**`--quick` run: tiny sizes, the numbers mean nothing.**", ""]
    # One narrow table per group, the ratio next to the name (it is what a reader looks for),
    # and the notes below the table: eight columns did not fit the book's column.
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    for group, members in groups.items():
        lines += [f"**{group}**", "",
                  "| lrnotes vs peer | ratio | lrnotes | peer | spread |",
                  "|---|---:|---:|---:|---:|"]
        for row in members:
            ratio = "—" if row.ratio is None else f"**{row.ratio:.2f}**"
            spread = " / ".join(f"{100 * v:.0f}%" for v in row.spread.values())
            versus = f"{row.name} vs {row.peer}" if row.peer else f"{row.name} (no peer)"
            lines.append(f"| {versus} | {ratio} | {_seconds(row.lrnotes_s)} | "
                         f"{_seconds(row.peer_s)} | {spread} |")
        notes = list(dict.fromkeys(row.note for row in members if row.note))
        if len(notes) == 1 and all(row.note == notes[0] for row in members):
            lines += ["", f"{notes[0]}."]
        elif notes:
            lines += [""] + [f"- {row.name}: {row.note}" for row in members if row.note]
        lines.append("")
    lines += ["Times are medians per call over the timed rounds (lrnotes and peer "
              "alternating in one process); ratio = lrnotes / peer (below 1: lrnotes is "
              "faster); spread = interquartile range / median of the rounds (lrnotes / peer)."]
    return "\n".join(lines) + "\n"


def write_results(rows: list[Row], info: dict[str, Any], out: Path, stem: str = "results") -> str:
    """Write ``<stem>.md`` and ``<stem>.json`` into ``out``; return the Markdown."""
    for row in rows:
        for value in (row.lrnotes_s, row.peer_s):
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ValueError(f"row {row.name!r}: time {value!r} is not finite and > 0")
    out.mkdir(parents=True, exist_ok=True)
    text = markdown(rows, info)
    (out / f"{stem}.md").write_text(text)
    (out / f"{stem}.json").write_text(json.dumps(
        {"machine": info, "rows": [row.to_dict() for row in rows]}, indent=2) + "\n")
    return text


def main_for(run: Callable[[argparse.Namespace, torch.device], list[Row]],
             description: str) -> None:
    """A script's ``main``: parse the common flags, run, print the table (writes nothing)."""
    parser = argparse.ArgumentParser(description=description)
    add_arguments(parser)
    args = parser.parse_args()
    device = setup(args)
    info = machine(device)
    info["quick"] = args.quick
    info["load_start"] = load_average()
    rows = run(args, device)
    info["load_end"] = load_average()
    print(markdown(rows, info))
