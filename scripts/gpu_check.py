"""The prepared GPU check (issue 19): one command that proves lrnotes' CUDA paths in minutes.

    bash scripts/gpu-check.sh                 # with CUDA: under 8 minutes (limits per step)
    bash scripts/gpu-check.sh --dry-run       # the same steps, tiny sizes, on the CPU

Steps, each in its own process with its own time limit (their sum stays under 8 minutes):

1. **install**: ``pip install -e ".[notebooks,test]" papermill ipykernel`` with the installed
   torch (and torchvision) pinned by a constraints file, so pip never upgrades the machine's
   torch; a machine without a network (``pip`` fails) goes on with what is installed and
   lrnotes from this checkout (``PYTHONPATH``). Where no index can be reached, wheels
   fetched beforehand (``--fetch-wheels FOLDER``, on a machine with one) and carried in
   ``$LRNOTES_WHEELS`` are installed instead, with ``--no-index --no-deps --target``. The
   modules every later step imports are then checked.
2. **device tests**: ``pytest -k cuda`` over the test files that hold CUDA tests; on CUDA
   every one must pass (a skip there is a failure of the check: the path did not run).
3. **chapter 11** (two epochs: see ``chapter_plan``) and 4. **chapter 12** (one epoch) with
   ``PROFILE="full"``, on files in the real on-disk formats (cifar-10-batches-py pickles,
   aclImdb folders) that this script writes with the tests' own writers, or on the real data
   when ``$LRNOTES_DATA`` holds it.
5. **fit throughput**: images per second of ``fit(amp="bf16")`` against a hand-written loop
   (ResNet-18 for CIFAR, channels-last, batches of 256 CIFAR-shaped tensors on the device),
   alternating (``benchmarks/bench_fit.py``'s comparison).
6. **LARS step**: ``LARS.step()`` (multi-tensor path) against ``SGD(momentum=0.9,
   foreach=True)`` on ResNet-18's parameters, alternating.

A GPU machine that reaches no package index: on a machine that does, fetch the wheels the
check needs (papermill, ipykernel, nbformat and their dependencies, about 20 MB), carry the
folder over, and name it:

    python scripts/gpu_check.py --fetch-wheels wheels --python-version 3.12   # here
    LRNOTES_WHEELS=wheels bash scripts/gpu-check.sh                           # there

The report is Markdown: ``benchmarks/results/gpu_check.md`` (``--out`` to move it; a dry run
writes into the system's temporary folder unless told). The exit status is 0 only when
every step passed. ``OMP_NUM_THREADS`` is kept at 1 unless set.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "gpu_check.md"
DRY_RUN_OUT = Path(tempfile.gettempdir()) / "lrnotes_gpu_check_dry_run.md"

# The test files that hold the CUDA tests (``-k cuda`` selects them).
DEVICE_TEST_FILES = ("tests/test_train.py", "tests/test_optim.py", "tests/test_clip.py",
                     "tests/test_finder.py")
# What the later steps import: module -> the package pip installs it from.
NEEDED_MODULES = {"torch": "torch", "numpy": "numpy", "matplotlib": "matplotlib",
                  "tqdm": "tqdm", "torchvision": "torchvision", "sklearn": "scikit-learn",
                  "pandas": "pandas", "tensorboard": "tensorboard", "pytest": "pytest",
                  "hypothesis": "hypothesis", "nbformat": "nbformat",
                  "papermill": "papermill", "ipykernel": "ipykernel"}
INSTALL_SPEC = (".[notebooks,test]", "papermill>=2.5", "ipykernel>=6.25")

# Seconds each step may take; their sum (with the report) keeps the check under 8 minutes.
LIMITS = {"install": 60, "device tests": 120, "chapter 11": 130, "chapter 12": 70,
          "fit throughput": 50, "LARS step": 30}
# A dry run shares a small CPU with other work: its limits are this many times longer.
DRY_RUN_SLACK = 8
SECTIONS = ("Machine", "Summary", *(f"{i}. {name}" for i, name in enumerate(LIMITS, 1)))


@dataclass
class Step:
    """One step's outcome: ``status`` is passed, failed or incomplete (ran, proved less)."""

    name: str
    status: str = "failed"
    seconds: float = 0.0
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "passed"


@dataclass
class Context:
    python: str
    dry_run: bool
    cuda: bool
    env: dict[str, str]
    work: Path
    data: Path | None


# --- running a child process -----------------------------------------------------------


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _code_block(text: str) -> list[str]:
    return ["", "```text", text.replace("```", "'''"), "```", ""]


def run_child(cmd: list[str], ctx: Context, limit: float) -> tuple[int | None, str, float]:
    """Run ``cmd`` in the checkout; ``(exit status or None on timeout, output, seconds)``.

    The child leads a process group of its own, so that at its limit the processes it
    started are stopped with it. (A notebook's kernel has a session of its own; it ends
    when it sees papermill, its parent, gone: ipykernel's parent poller.)"""
    start = time.perf_counter()
    with subprocess.Popen(cmd, cwd=ROOT, env=ctx.env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True) as child:
        try:
            output, _ = child.communicate(timeout=limit)
            code: int | None = child.returncode
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            try:  # what it printed, unless a process outside the group holds the pipe open
                output, _ = child.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                output = "(its output was lost)"
            code = None
            output += f"\n[stopped after its limit of {limit:.0f} s]"
    return code, output, time.perf_counter() - start


def helper(ctx: Context, name: str, limit: float, **kwargs: Any) -> tuple[dict | None, Step]:
    """Run one measuring helper of this script in a fresh process; its JSON result."""
    out = ctx.work / f"{name}.json"
    cmd = [ctx.python, str(Path(__file__).resolve()), "--helper", name, "--helper-out",
           str(out), "--helper-args", json.dumps(kwargs)]
    code, output, seconds = run_child(cmd, ctx, limit)
    step = Step(name, seconds=seconds)
    if code != 0 or not out.exists():
        why = "timed out" if code is None else f"exit status {code}"
        step.lines += [f"Did not finish ({why}). Last lines:", *_code_block(_tail(output))]
        return None, step
    return json.loads(out.read_text()), step


# --- 0. the machine --------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


def machine_lines(ctx: Context) -> list[str]:
    import torch

    lines = [f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- mode: {'dry run (tiny sizes, CPU)' if ctx.dry_run else 'full check'}",
             f"- host: {platform.platform()}, {os.cpu_count()} CPU cores, "
             f"OMP_NUM_THREADS={ctx.env.get('OMP_NUM_THREADS')}",
             f"- Python {platform.python_version()} ({ctx.python})",
             f"- torch {torch.__version__} (CUDA build {torch.version.cuda}), torchvision "
             f"{_version('torchvision')}, numpy {_version('numpy')}"]
    if ctx.cuda:
        props = torch.cuda.get_device_properties(0)
        lines.append(f"- GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, "
                     f"{props.multi_processor_count} SMs, capability "
                     f"{props.major}.{props.minor}, bf16 {torch.cuda.is_bf16_supported()}")
        smi = shutil.which("nvidia-smi")
        if smi:
            query = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                   capture_output=True, text=True)
            lines.append(f"- driver {query.stdout.strip() or 'unknown'}")
    else:
        lines.append("- GPU: none (torch.cuda.is_available() is False)")
    lines.append(f"- data: {ctx.data if ctx.data else 'files this script wrote'}")
    return lines


# --- 1. install ------------------------------------------------------------------------


def install_command(ctx: Context, constraints: Path) -> list[str]:
    """``pip install -e ".[notebooks,test]" papermill ipykernel -c constraints``."""
    return [ctx.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--retries", "1", "--timeout", "10", "-e", *INSTALL_SPEC, "-c", str(constraints)]


def pins() -> list[str]:
    """The installed torch (and torchvision): pip must keep them, never upgrade them."""
    return [f"{name}=={_version(name)}" for name in ("torch", "torchvision")
            if _version(name) != "absent"]


def step_install(ctx: Context, limit: float) -> Step:
    step = Step("install")
    start = time.perf_counter()
    constraints = ctx.work / "constraints.txt"
    constraints.write_text("\n".join(pins()) + "\n")
    cmd = install_command(ctx, constraints)
    shown = " ".join(cmd[1:]).replace(str(ctx.work) + "/", "")
    step.lines.append(f"Pinned: {', '.join(pins())}.")
    wheels = os.environ.get("LRNOTES_WHEELS")
    if ctx.dry_run:
        step.lines.append(f"Dry run: not run (`python {shown}`).")
    elif wheels:
        # a machine without an index: the wheels carried in (see --fetch-wheels), no deps
        # resolved, into a folder of their own that goes first on PYTHONPATH
        site = ctx.work / "site"
        found = sorted(str(p) for p in Path(wheels).glob("*.whl"))
        code, output, _ = run_child(
            [ctx.python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--no-index", "--no-deps", "--no-compile", "--target", str(site), *found],
            ctx, limit)
        step.lines.append(f"{len(found)} wheels from $LRNOTES_WHEELS ({wheels}) into a "
                          f"folder on PYTHONPATH: {'done' if code == 0 else 'failed'}.")
        if code != 0:
            step.lines += _code_block(_tail(output, 8))
        _prepend_path(ctx, str(site))
    else:
        code, output, _ = run_child(cmd, ctx, limit)
        if code == 0:
            step.lines.append(f"`python {shown}`: done.")
        else:
            step.lines += [f"`python {shown}` failed (no index reachable?); going on with "
                           "what is installed. Last lines:", *_code_block(_tail(output, 8))]
    missing, origin = probe(ctx)
    if origin is None or not Path(origin).resolve().is_relative_to(ROOT):
        _prepend_path(ctx, str(ROOT))
        step.lines.append(f"lrnotes is imported from this checkout (PYTHONPATH), not {origin}.")
        missing, origin = probe(ctx)
    step.seconds = time.perf_counter() - start
    if missing:
        step.lines.append(f"Missing after the install: {', '.join(missing)} (pip names: "
                          f"{', '.join(NEEDED_MODULES.get(m, m) for m in missing)}).")
        return step
    step.lines.append(f"Every module the check imports is there: lrnotes, "
                      f"{', '.join(NEEDED_MODULES)}.")
    step.status = "passed"
    return step


def probe(ctx: Context) -> tuple[list[str], str | None]:
    """In a fresh process with the check's environment: the modules it cannot import, and
    the file lrnotes is imported from (None when it is not importable)."""
    code = ("import importlib.util as u, json, sys; s = u.find_spec('lrnotes'); "
            "print(json.dumps([[m for m in sys.argv[1:] if u.find_spec(m) is None], "
            "s.origin if s else None]))")
    # from another folder: the checkout's own folder on sys.path would hide a missing install
    done = subprocess.run([ctx.python, "-c", code, *NEEDED_MODULES], cwd=ctx.work, env=ctx.env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return ["(the probe failed: " + _tail(done.stderr, 1) + ")"], None
    missing, origin = json.loads(done.stdout)
    return missing + ([] if origin else ["lrnotes"]), origin


def _prepend_path(ctx: Context, path: str) -> None:
    old = ctx.env.get("PYTHONPATH")
    ctx.env["PYTHONPATH"] = path + (os.pathsep + old if old else "")


# --- 2. device tests -------------------------------------------------------------------


def parse_junit(path: Path) -> dict[str, Any]:
    """Counts and the failing or skipped tests (with reasons) of a pytest JUnit XML file."""
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    skips: dict[str, list[str]] = {}
    failures: list[str] = []
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        bad = case.find("failure")
        if bad is None:
            bad = case.find("error")
        skipped = case.find("skipped")
        if bad is not None:
            counts["failed"] += 1
            failures.append(f"{name}: {(bad.get('message') or '').splitlines()[0][:200]}")
        elif skipped is not None:
            counts["skipped"] += 1
            reason = (skipped.get("message") or "").replace("\n", " ")[:240]
            skips.setdefault(reason, []).append(name)
        else:
            counts["passed"] += 1
    return {**counts, "skips": skips, "failures": failures}


def step_device_tests(ctx: Context, limit: float) -> Step:
    xml = ctx.work / "device_tests.xml"
    cmd = [ctx.python, "-m", "pytest", *DEVICE_TEST_FILES, "-k", "cuda", "-q",
           "-p", "no:cacheprovider", "-o", "junit_family=xunit2", f"--junitxml={xml}"]
    code, output, seconds = run_child(cmd, ctx, limit)
    step = Step("device tests", seconds=seconds)
    step.lines.append(f"`pytest {' '.join(DEVICE_TEST_FILES)} -k cuda`")
    if not xml.exists():
        step.lines += ["No result file (timed out or pytest did not start). Last lines:",
                       *_code_block(_tail(output))]
        return step
    result = parse_junit(xml)
    total = result["passed"] + result["failed"] + result["skipped"]
    step.lines.append("")
    step.lines.append(f"{total} tests: {result['passed']} passed, {result['failed']} failed, "
                      f"{result['skipped']} skipped.")
    for failure in result["failures"]:
        step.lines.append(f"- FAILED {failure}")
    for reason, names in result["skips"].items():
        step.lines.append(f"- skipped ({len(names)}): {reason}")
    if code is None:
        step.lines.append("Stopped at its time limit.")
    elif total == 0:
        step.lines.append("No test was selected.")
    elif result["failed"] or code not in (0, 5):
        step.lines += ["Last lines:", *_code_block(_tail(output, 15))]
    elif ctx.cuda and result["skipped"]:
        step.status = "incomplete"
        step.lines.append("On CUDA every selected test must run: a skip is a path not proved.")
    elif not ctx.cuda and result["passed"]:
        step.lines.append("Tests ran without CUDA: they are not device tests.")
    else:
        step.status = "passed"
    return step


# --- 3 and 4. the chapters' full profile -----------------------------------------------


def chapter_plan(chapter: str, ctx: Context) -> dict[str, Any]:
    """What to write and the papermill parameters, for a dry run, written files or real data.

    Chapter 11 runs two epochs, not one: its warmup lasts ``WARMUP_EPOCHS = 1`` epoch, and
    with one epoch the cosine after it would have zero steps (a ValueError). Chapter 12 runs
    one; its dry run takes batches of one review so that one-cycle's rise has a step. The dry
    run also trains the copy of slide 11 (torchvision's ResNet-18 on digits) on fewer images
    for fewer epochs: on a CPU it is the chapter's longest cell."""
    if chapter == "11":
        real = ctx.data is not None and (ctx.data / "cifar10" / "cifar-10-batches-py"
                                         / "data_batch_1").exists()
        if ctx.dry_run:
            return {"write": {"per_batch": 4, "test": 4}, "real": False, "parameters": {
                "FULL_EPOCHS": 2, "FULL_BATCH_SIZE": 4, "FULL_SUBSET": 8, "FULL_PATIENCE": 0,
                "VERIFY_DATA": False, "SLIDE_IMAGES": 32, "SLIDE_EPOCHS": 2}}
        if real:
            return {"write": None, "real": True, "parameters": {
                "FULL_EPOCHS": 2, "FULL_SUBSET": 5_000, "VERIFY_DATA": True}}
        return {"write": {"per_batch": 1_000, "test": 1_000}, "real": False,
                "parameters": {"FULL_EPOCHS": 2, "VERIFY_DATA": False}}
    real = ctx.data is not None and all(
        (ctx.data / "aclImdb" / split / label).is_dir()
        for split in ("train", "test") for label in ("pos", "neg"))
    if ctx.dry_run:
        return {"write": {"copies": 1}, "real": False, "parameters": {
            "FULL_EPOCHS": 1, "FULL_BATCH_SIZE": 1, "FULL_WIDTH": 8, "MIN_FREQ": 1}}
    if real:
        return {"write": None, "real": True, "parameters": {
            "FULL_EPOCHS": 1, "FULL_MAX_REVIEWS": 5_000}}
    return {"write": {"copies": 200}, "real": False, "parameters": {
        "FULL_EPOCHS": 1, "MIN_FREQ": 1}}


def step_chapter(chapter: str, ctx: Context, limit: float) -> Step:
    plan = chapter_plan(chapter, ctx)
    data = ctx.data if plan["real"] else ctx.work / f"data{chapter}"
    values, step = helper(ctx, "chapter", limit, chapter=chapter, data=str(data),
                          write=plan["write"], parameters=plan["parameters"],
                          out_dir=str(ctx.work / f"ch{chapter}"))
    step.name = f"chapter {chapter}"
    source = (f"the real data in {data}" if plan["real"] else
              f"files in the real on-disk format written by this script ({plan['write']})")
    shown = ", ".join(f"{k}={v!r}" for k, v in {"PROFILE": "full", **plan["parameters"]}.items())
    step.lines[:0] = [f"papermill with {shown}, on {source}.", ""]
    if values is None:
        return step
    glue = values["glue"]
    step.lines.append(f"Executed in {values['seconds']:.1f} s on `{glue.get('device_type')}`: "
                      f"{glue.get('dataset')}, {glue.get('train_size')} training and "
                      f"{glue.get('val_size')} validation examples, "
                      f"{glue.get('steps_per_epoch')} updates per epoch.")
    step.lines += ["", "| run | final accuracy | final loss |", "|---|---:|---:|"]
    for key in sorted(glue.get("final_acc") or {}):
        step.lines.append(f"| {key} | {glue['final_acc'][key]:.4f} | "
                          f"{glue['final_loss'][key]:.4f} |")
    problems = chapter_problems(chapter, glue, ctx)
    step.lines.append("")
    if problems:
        step.lines += [f"- not as expected: {p}" for p in problems]
    else:
        step.lines.append("Profile, data set, device and every run's results as expected.")
        step.status = "passed"
    return step


def chapter_problems(chapter: str, glue: dict[str, Any], ctx: Context) -> list[str]:
    """What in a full-profile run's glued values is not as the chapter promises."""
    problems = []
    expected = {"11": ("CIFAR-10", {"plateau", "one_cycle", "warmup_cosine"}),
                "12": ("IMDB", {"constant", "one_cycle"})}[chapter]
    if glue.get("profile") != "full" or glue.get("dataset") != expected[0]:
        problems.append(f"profile {glue.get('profile')!r}, data set {glue.get('dataset')!r}")
    device = "cuda" if ctx.cuda else "cpu"
    if glue.get("device_type") != device:
        problems.append(f"ran on {glue.get('device_type')!r}, not {device!r}")
    if set(glue.get("final_acc") or {}) != expected[1]:
        problems.append(f"runs {sorted(glue.get('final_acc') or {})}")
    for key, loss in (glue.get("final_loss") or {}).items():
        acc = (glue.get("final_acc") or {}).get(key)
        finite = isinstance(loss, float) and math.isfinite(loss)
        if not finite or not isinstance(acc, float) or not 0 <= acc <= 1:
            problems.append(f"{key}: loss {loss!r}, accuracy {acc!r}")
    if glue.get("total_steps") != glue.get("epochs", 0) * glue.get("steps_per_epoch", -1):
        problems.append(f"total_steps {glue.get('total_steps')} is not epochs x steps")
    return problems


def helper_chapter(chapter: str, data: str, write: dict | None, parameters: dict,
                   out_dir: str) -> dict[str, Any]:
    """In a fresh process: write the data (the tests' writers), execute the chapter."""
    sys.path.insert(0, str(ROOT / "tests"))
    from notebooks import chapters, run_chapter
    from test_data import IMDB_FILES, cifar_files

    folder = Path(data)
    if write is not None and chapter == "11":
        for name, content in cifar_files(**write).items():
            path = folder / "cifar10" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
    elif write is not None:
        for copy in range(write["copies"]):
            for name, text in IMDB_FILES.items():
                path = folder / name
                if copy and path.suffix == ".txt" and "_" in path.stem:
                    review, rating = path.stem.split("_", 1)
                    path = path.with_name(f"{copy * 100 + int(review)}_{rating}.txt")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    notebook = next(p for p in chapters() if p.name.startswith(f"{chapter}_"))
    os.environ["LRNOTES_DATA"] = data  # the kernel inherits it (chapter 11 reads it)
    params = {"PROFILE": "full", **parameters}
    if chapter == "12":
        params["DATA_DIR"] = data
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    glue = run_chapter(notebook, Path(out_dir), parameters=params)
    return {"seconds": time.perf_counter() - start, "glue": glue}


# --- 5 and 6. measurements -------------------------------------------------------------


def step_fit(ctx: Context, limit: float) -> Step:
    values, step = helper(ctx, "fit", limit, dry_run=ctx.dry_run)
    step.name = "fit throughput"
    if values is None:
        return step
    rate = values["images_per_s"]
    step.lines += [values["note"] + ".", "",
                   "| loop | images / s | median s per round | spread |",
                   "|---|---:|---:|---:|",
                   f"| `lrnotes.fit(amp='bf16')` | {rate['lrnotes']:,.0f} | "
                   f"{values['lrnotes_s']:.4g} | {100 * values['spread']['lrnotes']:.0f}% |",
                   f"| hand-written loop | {rate['peer']:,.0f} | {values['peer_s']:.4g} | "
                   f"{100 * values['spread']['peer']:.0f}% |", "",
                   f"fit / hand-written loop: {rate['lrnotes'] / rate['peer']:.2f} of its "
                   f"images per second ({values['repeats']} alternating rounds each; spread: "
                   "interquartile range / median)."]
    step.status = "passed" if all(math.isfinite(v) and v > 0 for v in rate.values()) else "failed"
    return step


def helper_fit(dry_run: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_fit
    import torch
    from common import pick_device

    torch.manual_seed(0)
    device = pick_device("auto")
    args = argparse.Namespace(quick=dry_run, repeats=2 if dry_run else 5)
    row = bench_fit._throughput_rows(args, device)[0]
    return {"note": row.note, "images_per_s": row.extra["images_per_s"],
            "lrnotes_s": row.lrnotes_s, "peer_s": row.peer_s, "spread": row.spread,
            "repeats": row.repeats}


def step_lars(ctx: Context, limit: float) -> Step:
    values, step = helper(ctx, "lars", limit, dry_run=ctx.dry_run)
    step.name = "LARS step"
    if values is None:
        return step
    step.lines += [values["note"] + ".", "",
                   "| optimizer | median step() | spread | LARS / SGD |",
                   "|---|---:|---:|---:|"]
    for row in values["rows"]:
        step.lines.append(f"| {row['name']} | {1e3 * row['lrnotes_s']:.3f} ms | "
                          f"{100 * row['spread']['lrnotes']:.0f}% | "
                          f"{row['lrnotes_s'] / row['peer_s']:.2f} |")
    sgd = values["rows"][0]
    step.lines += [f"| SGD(momentum=0.9, foreach=True) | {1e3 * sgd['peer_s']:.3f} ms | "
                   f"{100 * sgd['spread']['peer']:.0f}% | 1 |", "",
                   f"Medians of {sgd['repeats']} alternating rounds of {sgd['number']} "
                   "steps each; spread: interquartile range / median."]
    times = [t for r in values["rows"] for t in (r["lrnotes_s"], r["peer_s"])]
    step.status = "passed" if all(math.isfinite(t) and t > 0 for t in times) else "failed"
    return step


def helper_lars(dry_run: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from bench_lars import LR, MOMENTUM, WEIGHT_DECAY, _with_grads
    from common import compare, pick_device

    from lrnotes.models import MLP, resnet18_cifar
    from lrnotes.optim import LARS

    torch.manual_seed(0)
    device = pick_device("auto")
    base = MLP(64, hidden=(32,)) if dry_run else resnet18_cifar()
    repeats, number = (3, 1) if dry_run else (15, 10)
    params = list(base.parameters())
    note = (f"{'MLP(64, 32)' if dry_run else 'ResNet-18 (CIFAR)'} parameters on `{device}`: "
            f"{sum(p.numel() for p in params):,} values in {len(params)} tensors, fixed random "
            "gradients, lr 0.1, momentum 0.9, weight decay 5e-4")
    rows = []
    for foreach in (True, None):
        lars = LARS(_with_grads(base, device).parameters(), lr=LR, momentum=MOMENTUM,
                    weight_decay=WEIGHT_DECAY, foreach=foreach)
        sgd = torch.optim.SGD(_with_grads(base, device).parameters(), lr=LR, momentum=MOMENTUM,
                              weight_decay=WEIGHT_DECAY, foreach=True)
        t_lars, t_sgd, spread = compare(lars.step, sgd.step, repeats=repeats, number=number,
                                        warmup=3, device=device)
        rows.append({"name": f"LARS(foreach={foreach})", "lrnotes_s": t_lars, "peer_s": t_sgd,
                     "spread": spread, "repeats": repeats, "number": number})
    return {"note": note, "rows": rows}


# What the GPU machine's image lacks for the check (it has torch, pytest, pandas, ...).
WHEELS_FOR_OFFLINE = ("papermill>=2.5", "ipykernel>=6.25", "nbformat>=5.9")


def fetch_wheels(folder: Path, python_version: str) -> int:
    """Download, here, the wheels a machine without an index needs for the check: papermill,
    ipykernel and nbformat with their dependencies, for CPython ``python_version`` on
    x86-64 Linux. Carry the folder there and set ``LRNOTES_WHEELS`` to it."""
    platforms = [f"manylinux_2_{n}_x86_64" for n in (17, 27, 28)] + [
        "manylinux2014_x86_64", "manylinux1_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
           "--python-version", python_version, "--implementation", "cp", "-d", str(folder)]
    for tag in platforms:
        cmd += ["--platform", tag]
    return subprocess.run([*cmd, *WHEELS_FOR_OFFLINE]).returncode


HELPERS = {"chapter": helper_chapter, "fit": helper_fit, "lars": helper_lars}


# --- the report ------------------------------------------------------------------------


def report(machine: list[str], steps: list[Step], total: float, dry_run: bool) -> str:
    verdict = "PASSED" if all(s.ok for s in steps) else "FAILED"
    lines = ["# GPU check", "",
             f"`bash scripts/gpu-check.sh{' --dry-run' if dry_run else ''}`: **{verdict}** in "
             f"{total:.0f} s (issue 19; `scripts/gpu_check.py` says what each step does).", ""]
    if dry_run:
        lines += ["**Dry run: tiny sizes on the CPU; it proves that the script runs, its "
                  "numbers mean nothing.**", ""]
    lines += ["## Machine", "", *machine, "", "## Summary", "",
              "| step | result | seconds | limit |", "|---|---|---:|---:|"]
    for step in steps:
        limit = LIMITS[step.name] * (DRY_RUN_SLACK if dry_run else 1)
        lines.append(f"| {step.name} | {step.status} | {step.seconds:.1f} | {limit} |")
    for i, step in enumerate(steps, 1):
        lines += ["", f"## {i}. {step.name}", "", f"Result: **{step.status}** in "
                  f"{step.seconds:.1f} s.", "", *step.lines]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true",
                        help="the same steps with tiny sizes on the CPU (no pip install)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"the Markdown report (default {DEFAULT_OUT.relative_to(ROOT)}; "
                             f"with --dry-run {DRY_RUN_OUT})")
    parser.add_argument("--fetch-wheels", type=Path, metavar="FOLDER",
                        help="download (here) the wheels an offline GPU machine needs into "
                             "FOLDER, then stop; run there with LRNOTES_WHEELS=FOLDER")
    parser.add_argument("--python-version", default="3.12",
                        help="with --fetch-wheels: the GPU machine's Python (default 3.12)")
    parser.add_argument("--helper", choices=sorted(HELPERS), help=argparse.SUPPRESS)
    parser.add_argument("--helper-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--helper-args", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.helper:
        result = HELPERS[args.helper](**json.loads(args.helper_args))
        args.helper_out.write_text(json.dumps(result))
        return 0

    if args.fetch_wheels:
        return fetch_wheels(args.fetch_wheels, args.python_version)

    if args.dry_run:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # the dry run is the CPU's, on any machine
    import torch

    started = time.perf_counter()
    out = args.out or (DRY_RUN_OUT if args.dry_run else DEFAULT_OUT)
    env = dict(os.environ, TQDM_DISABLE="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env.setdefault("OMP_NUM_THREADS", "1")
    data = os.environ.get("LRNOTES_DATA")
    with tempfile.TemporaryDirectory(prefix="lrnotes_gpu_check_") as work:
        ctx = Context(python=sys.executable, dry_run=args.dry_run,
                      cuda=torch.cuda.is_available() and not args.dry_run, env=env,
                      work=Path(work), data=Path(data) if data and not args.dry_run else None)
        if not ctx.cuda and not args.dry_run:
            print("gpu_check: no CUDA device (torch.cuda.is_available() is False); "
                  "run with --dry-run for the CPU rehearsal", file=sys.stderr)
            return 2
        machine = machine_lines(ctx)
        steps: list[Step] = []
        runs = [("install", step_install), ("device tests", step_device_tests),
                ("chapter 11", lambda c, t: step_chapter("11", c, t)),
                ("chapter 12", lambda c, t: step_chapter("12", c, t)),
                ("fit throughput", step_fit), ("LARS step", step_lars)]
        for name, run in runs:
            limit = LIMITS[name] * (DRY_RUN_SLACK if args.dry_run else 1)
            print(f"gpu_check: {name} (limit {limit} s) ...", flush=True)
            steps.append(run(ctx, limit))
            print(f"gpu_check: {name}: {steps[-1].status} in {steps[-1].seconds:.1f} s",
                  flush=True)
    text = report(machine, steps, time.perf_counter() - started, args.dry_run)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    print(f"gpu_check: wrote {out}")
    return 0 if all(step.ok for step in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
