"""Wall time of the book: each chapter's quick profile (papermill) and the whole build.

Slow (minutes): it executes every chapter once with papermill and then builds the whole book
with ``jupyter-book build`` into a temporary folder (the checkout's ``_build`` is left alone).
It writes ``book_times.md`` and ``book_times.json`` next to ``results.md``.

    python benchmarks/book_times.py [--out benchmarks/results] [--chapters 01,02] [--no-build]
"""

from __future__ import annotations

import argparse
import json
import os
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


def _run_chapter(notebook: Path, out_dir: Path) -> float:
    import papermill

    start = time.perf_counter()
    papermill.execute_notebook(str(notebook), str(out_dir / notebook.name), parameters={},
                               kernel_name="python3", cwd=str(BOOK), progress_bar=False,
                               execution_timeout=900)
    return time.perf_counter() - start


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
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for notebook in _chapters(args.chapters):
            seconds = _run_chapter(notebook, Path(tmp))
            rows.append({"what": f"{notebook.stem} (quick profile, papermill)",
                         "seconds": seconds})
            print(f"# {notebook.stem}: {seconds:.1f} s", flush=True)
        if not args.no_build:
            seconds, code = _build(Path(tmp) / "build")
            rows.append({"what": "whole book (jupyter-book build)", "seconds": seconds,
                         "returncode": code})
            print(f"# build: {seconds:.1f} s (exit {code})", flush=True)
    info["load_end"] = load_average()

    lines = [f"Measured {info['date']} on {info['cpu']} ({info['cores']} cores), torch "
             f"{info['torch']}; load average (1 / 5 / 15 min) "
             f"{format_load(info['load_start'])} at the start, "
             f"{format_load(info['load_end'])} at the end.",
             "", "| what | wall time |", "|---|---:|"]
    for row in rows:
        failed = " (failed)" if row.get("returncode") else ""
        lines.append(f"| {row['what']} | {row['seconds']:.1f} s{failed} |")
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "book_times.md").write_text(text)
    (args.out / "book_times.json").write_text(
        json.dumps({"machine": info, "rows": rows}, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
