#!/usr/bin/env python
"""Measure how close each chapter claim comes to failing, across seeds and torch thread counts.

A chapter's claims are the test functions of ``tests/test_chNN.py`` that take the chapter's
glued values ``c``. This script executes the chapter with papermill once per *variant*
(``-p SEED k`` for each seed, ``OMP_NUM_THREADS=n`` in the kernel's environment for each
thread count: another reduction order stands in for another CPU), reads the variant's glued
values, and calls every such test function on them inside ``tests/margins.py``'s
``recording()``. A failed assertion is recorded, not raised. The result per chapter goes to
``benchmarks/results/claims_margins/<chapter>.json``; ``benchmarks/results/claims_margins.md``
is regenerated from every JSON present.

The margin of a claim is what ``tests/margins.py`` records: ``actual / bound`` for ``above``,
``bound / actual`` for ``below`` (above 1 when it holds), ``tolerance / error`` for ``close``,
a signed difference where a value is not positive. Its *worst* margin is the smallest over
the variants.

    .venv/bin/python scripts/claims_margins.py --chapters 06 08 --seeds 0 1 2 --threads 1 2
    .venv/bin/python scripts/claims_margins.py --table-only      # only rebuild the Markdown
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import inspect
import json
import math
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
BOOK = ROOT / "book"
RESULTS = ROOT / "benchmarks" / "results"
OUT_DIR = RESULTS / "claims_margins"
TABLE = RESULTS / "claims_margins.md"

if str(TESTS) not in sys.path:  # the chapter tests import `margins` and `notebooks` from here
    sys.path.insert(0, str(TESTS))

import margins  # noqa: E402
import notebooks  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Running the claims of one variant


def claim_tests(module) -> tuple[list[tuple[str, Callable]], list[str]]:
    """The module's test functions whose only parameter is ``c``, and the names of the others."""
    usable, other = [], []
    for name, fn in inspect.getmembers(module, inspect.isfunction):
        if not name.startswith("test") or fn.__module__ != module.__name__:
            continue
        if list(inspect.signature(fn).parameters) == ["c"]:
            usable.append((name, fn))
        else:
            other.append(name)
    usable.sort(key=lambda item: item[1].__code__.co_firstlineno)
    return usable, sorted(other)


def run_claims(tests: Iterable[tuple[str, Callable]], values: dict[str, Any]) -> dict[str, Any]:
    """Call each test on ``values``; record its outcome and every claim it checked.

    Returns ``{"tests": {name: {"outcome", "message"}}, "claims": [row, ...]}`` where a row
    is ``margins``' record plus the test's name. Assertions that do not go through
    ``margins`` (a bare ``assert``) have no margin: a test that fails on one, or passes
    without recording anything, gets one row ``"(bare assert)"`` of kind ``"assert"``; a
    test that raises anything else gets a failed row ``"(error)"``."""
    outcomes: dict[str, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for name, fn in tests:
        outcome, message = "passed", ""
        with margins.recording() as recorded:
            try:
                fn(values)
            except AssertionError as error:
                outcome, message = "failed", _short(error)
                if all(row["ok"] for row in recorded):  # a bare assert: name its line
                    where = _where(error, fn)
                    message = where if not str(error) else f"{where} ({message})"
            except Exception as error:  # a missing glued value, a type error: the test is broken
                outcome, message = "error", f"{type(error).__name__}: {_short(error)}"
            except BaseException as error:  # pytest.skip and friends derive from BaseException
                if type(error).__name__ != "Skipped":
                    raise
                outcome, message = "skipped", _short(error)
        test_rows = [dict(row, test=name) for row in recorded]
        if outcome == "error":
            test_rows.append(_unmeasured(name, "(error)", False, message))
        elif outcome == "failed" and all(row["ok"] for row in test_rows):
            test_rows.append(_unmeasured(name, "(bare assert)", False, message))
        elif outcome == "passed" and not test_rows:
            test_rows.append(_unmeasured(name, "(bare assert)", True, ""))
        rows.extend(test_rows)
        outcomes[name] = {"outcome": outcome, "message": message}
    return {"tests": outcomes, "claims": rows}


def _unmeasured(test: str, what: str, ok: bool, message: str) -> dict[str, Any]:
    row = {"test": test, "what": what, "kind": "assert", "margin": math.nan, "scale": "",
           "ok": ok}
    if message:
        row["message"] = message
    return row


def _where(error: BaseException, fn: Callable) -> str:
    """The line of the test where ``error`` was raised (a bare ``assert``'s only message)."""
    filename = fn.__code__.co_filename
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == filename]
    if not frames:
        return "AssertionError"
    return f"line {frames[-1].lineno}: {frames[-1].line}"


def _short(error: BaseException, limit: int = 300) -> str:
    text = str(error).strip().splitlines()
    text = text[0] if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# Summaries: the logic the Markdown table shows (unit-tested in tests/test_claims_margins.py)


def variant_label(variant: dict[str, Any]) -> str:
    """``seed 2, 1 thread`` -> ``s2/t1``."""
    return f"s{variant['seed']}/t{variant['threads']}"


def summarise(chapter: dict[str, Any]) -> list[dict[str, Any]]:
    """Per claim (test, what): its worst margin over the variants, where, and its failures.

    A claim's rows may use two scales (a ratio when both sides are positive, a signed
    difference otherwise); the worst is taken within each scale, and the summary's
    ``worst`` is the ratio's unless the claim was only ever a difference. ``checked`` counts
    the variants in which the claim was reached; ``not_reached`` lists the executed variants
    where it was not (an earlier assertion of its test failed)."""
    order: list[tuple[str, str]] = []
    by_claim: dict[tuple[str, str], dict[str, Any]] = {}
    variants = chapter.get("variants", [])
    for variant in variants:
        label = variant_label(variant)
        for row in variant.get("claims", []):
            key = (row["test"], row["what"])
            if key not in by_claim:
                order.append(key)
                by_claim[key] = {"test": row["test"], "what": row["what"], "kind": row["kind"],
                                 "worst": {}, "failures": [], "checked": set(), "rows": 0}
            claim = by_claim[key]
            claim["rows"] += 1
            claim["checked"].add(label)
            margin = _decode(row["margin"])
            if not row["ok"]:
                failure = {"variant": label, "margin": _encode(margin)}
                if row.get("message"):
                    failure["message"] = row["message"]
                if failure not in claim["failures"]:
                    claim["failures"].append(failure)
            scale = row["scale"]
            if scale and not math.isnan(margin):
                best = claim["worst"].get(scale)
                if best is None or margin < _decode(best["margin"]):
                    claim["worst"][scale] = {"margin": _encode(margin), "variant": label}
    executed = [variant_label(v) for v in variants if v.get("status") == "ok"]
    summary = []
    for key in order:
        claim = by_claim[key]
        claim["not_reached"] = [label for label in executed if label not in claim["checked"]]
        claim["checked"] = len(claim["checked"])
        summary.append(claim)
    return summary


def _encode(x: float) -> float | str | None:
    """JSON-safe margin: ``inf`` -> ``"inf"``, NaN -> ``None``."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _decode(x: float | str | None) -> float:
    if x is None:
        return math.nan
    return float(x)


def format_margin(scale: str, margin: float | str | None) -> str:
    """``1.2345`` (ratio) -> ``x1.23``; a difference -> ``+0.0123``; exact -> ``exact``."""
    value = _decode(margin)
    if math.isnan(value):
        return "—"
    if math.isinf(value):
        return "exact" if value > 0 else "-inf"
    if scale == "ratio":
        return f"×{value:.3g}"
    return f"{value:+.3g}"


def render_markdown(chapters: list[dict[str, Any]]) -> str:
    """The margins table of every chapter, as Markdown."""
    lines = [
        "# The chapters' claims: worst margins across seeds and torch thread counts",
        "",
        "Generated by `scripts/claims_margins.py` from `benchmarks/results/claims_margins/*.json`;",
        "do not edit by hand. Each chapter is executed with papermill once per variant",
        "(`sK/tN`: parameter `SEED = K`, `OMP_NUM_THREADS=N` in the kernel) and the claim tests",
        "of `tests/test_chNN.py` are run on each variant's glued values.",
        "",
        "Margin: `actual / bound` for a claim `actual > bound`, `bound / actual` for",
        "`actual < bound` (above ×1 it holds; ×1.05 is a 5 % cushion), `tolerance / error`",
        "for an equality within a tolerance (`exact`: no error at all), a signed difference",
        "(`+0.1`) where a side is not positive. `—`: a yes/no claim.",
        "`(bare assert)`: the test asserts without `tests/margins.py`, so its margin is not",
        "measured. `(error)`: the test raised something other than an assertion.",
        "",
    ]
    for chapter in chapters:
        lines += _render_chapter(chapter)
    return "\n".join(lines).rstrip() + "\n"


def _render_chapter(chapter: dict[str, Any]) -> list[str]:
    variants = chapter.get("variants", [])
    seeds = sorted({v["seed"] for v in variants})
    threads = sorted({v["threads"] for v in variants})
    seconds = [v["seconds"] for v in variants if v.get("status") == "ok"]
    env = chapter.get("environment", {})
    lines = [f"## {chapter['chapter']}", ""]
    head = (f"Seeds {', '.join(map(str, seeds))} × threads {', '.join(map(str, threads))} "
            f"({len(variants)} run{'s' if len(variants) != 1 else ''}")
    if seconds:
        head += f", {min(seconds):.0f}–{max(seconds):.0f} s each"
    head += ")"
    if env:
        dirty = " (modified)" if env.get("dirty") else ""
        head += (f"; commit `{env.get('commit', '?')}`{dirty}, torch {env.get('torch', '?')}, "
                 f"{env.get('cpu', '?')}, {chapter.get('date', '')}")
    lines += [head + "."]
    if not chapter.get("seed_parameter", True):
        lines += ["", "**The chapter's parameters cell has no `SEED`: the seed variants run the "
                      "same experiment.**"]
    failed_runs = [v for v in variants if v.get("status") != "ok"]
    for v in failed_runs:
        lines += ["", f"**Run {variant_label(v)} failed:** {v.get('error', '?')}"]
    if chapter.get("other_tests"):
        lines += ["", "Not run here (they need other fixtures): "
                  + ", ".join(f"`{t}`" for t in chapter["other_tests"]) + "."]
    lines += ["", "| test | claim | worst margin | in | failures |", "|---|---|---|---|---|"]
    for claim in summarise(chapter):
        worst = claim["worst"]
        scale = "ratio" if "ratio" in worst else ("diff" if "diff" in worst else "")
        if scale:
            margin, where = format_margin(scale, worst[scale]["margin"]), worst[scale]["variant"]
            if scale == "ratio" and "diff" in worst:
                margin += f" ({format_margin('diff', worst['diff']['margin'])} in " \
                          f"{worst['diff']['variant']})"
        else:
            margin, where = "—", ""
        failures = ", ".join(f["variant"] for f in claim["failures"]) or "none"
        if claim["failures"] and claim["failures"][0].get("message"):
            failures += f": {claim['failures'][0]['message']}"
        if claim["not_reached"]:
            failures += f"; not reached in {', '.join(claim['not_reached'])}"
        cells = [f"`{claim['test']}`", claim["what"], margin, where, failures]
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    lines.append("")
    return lines


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_table(out_dir: Path = OUT_DIR, table: Path = TABLE) -> Path:
    """Regenerate the Markdown table from every chapter JSON in ``out_dir``."""
    chapters = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*.json"))]
    _atomic_write(table, render_markdown(chapters))
    return table


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Executing the chapters


def _notebooks() -> list[Path]:
    """The chapters, then any other executed page with claim tests (``book/guide.ipynb``)."""
    pages = notebooks.chapters()
    return pages + [p for p in sorted(BOOK.glob("*.ipynb")) if p not in pages]


def find_chapter(spec: str) -> Path:
    """``"06"``, ``"6"``, ``"06_gradient_clipping"``, ``"guide"`` or a path -> the notebook."""
    candidates = _notebooks()
    stem = Path(spec).stem
    if stem.isdigit():
        stem = f"{int(stem):02d}"
    found = [p for p in candidates if p.stem == stem or p.stem.split("_")[0] == stem]
    if len(found) != 1:
        names = ", ".join(p.stem for p in candidates)
        raise ValueError(f"chapters: {spec!r} names no single chapter (have {names})")
    return found[0]


def test_module_path(chapter: Path) -> Path | None:
    """The test module that names the chapter in ``CH = "<stem>"``."""
    pattern = re.compile(rf"^CH\s*=\s*[\"']{re.escape(chapter.stem)}[\"']", re.MULTILINE)
    for path in sorted(TESTS.glob("test_*.py")):
        if pattern.search(path.read_text()):
            return path
    return None


def load_test_module(chapter: Path):
    """Import the chapter's claim tests (fresh, under a private name)."""
    path = test_module_path(chapter)
    if path is None:
        raise FileNotFoundError(f"no tests/test_*.py sets CH = {chapter.stem!r}: "
                                f"{chapter.stem} has no claim tests")
    spec = importlib.util.spec_from_file_location(f"_claims_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path


def has_seed_parameter(chapter: Path) -> bool:
    """Whether the chapter's ``parameters`` cell assigns ``SEED``."""
    import nbformat

    nb = nbformat.read(chapter, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            return re.search(r"^\s*SEED\s*=", cell.source, re.MULTILINE) is not None
    return False


def execute(chapter: Path, seed: int, threads: int, out_dir: Path,
            timeout: int) -> tuple[dict[str, Any], float, str]:
    """Run one variant with papermill in a subprocess; return (glue, seconds, error)."""
    import nbformat

    out = out_dir / f"{chapter.stem}.s{seed}.t{threads}.ipynb"
    # OMP_WAIT_POLICY=PASSIVE: idle OpenMP threads sleep instead of spinning, which changes
    # no result (the thread count fixes the reduction order) but keeps a 2-thread run from
    # crawling on a machine that is busy with other work.
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OMP_WAIT_POLICY="PASSIVE", TQDM_DISABLE="1", PYTHONHASHSEED="0")
    env.pop("MPLBACKEND", None)  # execute as the book build does: figures inline
    cmd = [sys.executable, "-m", "papermill", str(chapter), str(out), "-k", "python3",
           "--cwd", str(BOOK), "-p", "SEED", str(seed), "--execution-timeout", str(timeout),
           "--no-progress-bar", "--log-level", "ERROR"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        errors = [line for line in tail if "Error" in line or "Exception" in line]
        return {}, seconds, (errors[-1] if errors else (tail[-1] if tail else "papermill failed"))
    return notebooks.read_glue(nbformat.read(out, as_version=4)), seconds, ""


def environment() -> dict[str, Any]:
    """Where the margins were measured: commit, torch, CPU."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--", "lrnotes", "book", "tests")),
            "torch": torch.__version__, "python": platform.python_version(), "cpu": cpu}


def measure_chapter(chapter: Path, seeds: list[int], threads: list[int], jobs: int,
                    timeout: int, keep: Path | None = None, log=print) -> dict[str, Any]:
    """Execute every variant of one chapter and evaluate its claims on each."""
    module, test_path = load_test_module(chapter)
    tests, other = claim_tests(module)
    variants = [(s, t) for s in seeds for t in threads]
    with tempfile.TemporaryDirectory(prefix="claims_margins_") as tmp:
        out_dir = keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)

        def one(variant: tuple[int, int]) -> dict[str, Any]:
            seed, n = variant
            values, seconds, error = execute(chapter, seed, n, out_dir, timeout)
            result: dict[str, Any] = {"seed": seed, "threads": n, "seconds": round(seconds, 2),
                                      "status": "error" if error else "ok"}
            if error:
                result["error"] = error
            else:
                result.update(run_claims(tests, values))
            failed = [r for r in result.get("claims", []) if not r["ok"]]
            log(f"  {chapter.stem} {variant_label(result)}: {seconds:.1f} s, "
                + (f"run failed: {error}" if error else f"{len(failed)} failed claim(s)"))
            return result

        if jobs > 1:
            with ThreadPoolExecutor(max_workers=jobs) as pool:
                results = list(pool.map(one, variants))
        else:
            results = [one(v) for v in variants]
    for result in results:
        for row in result.get("claims", []):
            row["margin"] = _encode(row["margin"])
    return {
        "chapter": chapter.stem,
        "tests": str(test_path.relative_to(ROOT)),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "environment": environment(),
        "seed_parameter": has_seed_parameter(chapter),
        "other_tests": other,
        "variants": results,
        "claims": summarise({"variants": results}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chapters", nargs="+", default=None,
                        help="chapter numbers or names, or guide (default: every notebook "
                             "with claim tests)")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--jobs", type=int, default=1, help="variants executed at once")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the executed notebooks in this folder")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder of the JSONs")
    parser.add_argument("--table", type=Path, default=TABLE, help="the Markdown table")
    parser.add_argument("--table-only", action="store_true",
                        help="only regenerate the Markdown table from the JSONs present")
    args = parser.parse_args(argv)
    for name in ("seeds", "threads"):
        values = getattr(args, name)
        if not values or any(v < (0 if name == "seeds" else 1) for v in values):
            parser.error(f"--{name} must be {'non-negative' if name == 'seeds' else 'positive'}"
                         f" integers, got {values}")
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")

    status = 0
    if not args.table_only:
        try:
            chapters = ([find_chapter(c) for c in args.chapters] if args.chapters
                        else [p for p in _notebooks() if test_module_path(p)])
        except ValueError as error:
            parser.error(str(error))
        for chapter in chapters:
            print(f"{chapter.stem}: seeds {args.seeds} x threads {args.threads}", flush=True)
            try:
                result = measure_chapter(chapter, args.seeds, args.threads, args.jobs,
                                         args.timeout, args.keep,
                                         log=lambda m: print(m, flush=True))
            except FileNotFoundError as error:
                print(f"  skipped: {error}")
                status = 1
                continue
            except Exception:
                traceback.print_exc()
                status = 1
                continue
            _atomic_write(args.out / f"{chapter.stem}.json",
                          json.dumps(result, indent=1, allow_nan=False) + "\n")
            for claim in result["claims"]:
                if claim["failures"]:
                    status = 1
                    print(f"  FAILS {claim['test']} / {claim['what']}: "
                          f"{', '.join(f['variant'] for f in claim['failures'])}")
            if any(v["status"] != "ok" for v in result["variants"]):
                status = 1
    table = write_table(args.out, args.table)
    print(f"wrote {table.relative_to(ROOT) if table.is_relative_to(ROOT) else table}")
    return status


if __name__ == "__main__":
    sys.exit(main())
