"""Wall time of the book: each chapter's quick profile (papermill) and the whole build.

Slow (minutes): it executes every chapter once with papermill and then builds the whole book
with ``jupyter-book build`` into a temporary folder (the checkout's ``_build`` is left alone).
It writes ``book_times.md`` and ``book_times.json`` next to ``results.md``.

Beside each chapter's wall time it records the CPU time (user + system) of the processes the
run started and reaped, which is the chapter's kernel: on one torch thread
(``OMP_NUM_THREADS=1``) that is close to the wall time the chapter takes when it runs alone,
and it does not grow when other work shares the machine, as the wall time does.

    python benchmarks/book_times.py [--out benchmarks/results] [--chapters 01,02] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEFAULT_OUT, ROOT, format_load, load_average, machine, pick_device

BOOK = ROOT / "book"


def _chapters(selected: str | None) -> list[Path]:
    chapters = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        prefixes = tuple(s.strip() for s in selected.split(",") if s.strip())
        chapters = [c for c in chapters if c.name.startswith(prefixes)]
    return chapters


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_chapter(notebook: Path, out_dir: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the kernel) of one papermill run of the chapter."""
    import nbformat
    import papermill

    start, cpu_start = time.perf_counter(), _children_cpu()
    out = out_dir / notebook.name
    try:
        papermill.execute_notebook(str(notebook), str(out), parameters={},
                                   kernel_name="python3", cwd=str(BOOK), progress_bar=False,
                                   execution_timeout=900)
    except papermill.PapermillExecutionError:
        # an error in a cell tagged raises-exception is the page's content (the slide's real
        # error); any other error is a failure
        nb = nbformat.read(out, as_version=4)
        if any(o.get("output_type") == "error" for c in nb.cells
               if "raises-exception" not in c.get("metadata", {}).get("tags", [])
               for o in c.get("outputs", [])):
            raise
    return time.perf_counter() - start, _children_cpu() - cpu_start


def _build(out_dir: Path) -> tuple[float, int]:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    done = subprocess.run([str(jupyter_book), "build", str(ROOT), "--path-output", str(out_dir)],
                          cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, TQDM_DISABLE="1"))
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--chapters", default=None, help="comma-separated number prefixes")
    parser.add_argument("--no-build", action="store_true", help="skip the whole-book build")
    args = parser.parse_args()

    info = machine(pick_device("cpu"))
    info["load_start"] = load_average()
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "unset")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for notebook in _chapters(args.chapters):
            seconds, cpu = _run_chapter(notebook, Path(tmp))
            rows.append({"what": f"{notebook.stem} (quick profile, papermill)",
                         "seconds": seconds, "cpu_seconds": cpu})
            print(f"# {notebook.stem}: {seconds:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        if not args.no_build:
            seconds, code = _build(Path(tmp) / "build")
            rows.append({"what": "whole book (jupyter-book build)", "seconds": seconds,
                         "returncode": code, "cpu_seconds": None})
            print(f"# build: {seconds:.1f} s (exit {code})", flush=True)
    info["load_end"] = load_average()

    lines = [f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), torch "
             f"{info['torch']}; load average (1 / 5 / 15 min) "
             f"{format_load(info['load_start'])} at the start, "
             f"{format_load(info['load_end'])} at the end; OMP_NUM_THREADS="
             f"{info['omp_num_threads']}. CPU time is that of the chapter's kernel (user + "
             "system): on one thread, about the wall time of the chapter run alone.",
             "", "| what | wall time | CPU time |", "|---|---:|---:|"]
    for row in rows:
        failed = " (failed)" if row.get("returncode") else ""
        cpu = "" if row.get("cpu_seconds") is None else f"{row['cpu_seconds']:.1f} s"
        lines.append(f"| {row['what']} | {row['seconds']:.1f} s{failed} | {cpu} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "book_times.md").write_text(text)
    (args.out / "book_times.json").write_text(
        json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
