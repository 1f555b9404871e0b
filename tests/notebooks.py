"""Tools the notebook tests share: find the chapters, execute them, read their glued values."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "_build"
EXECUTED = BUILD / "jupyter_execute" / "book"
STAMP_NAME = "lrnotes-build-stamp.json"
# What an executed chapter depends on in the repository (the installed versions are added).
SOURCES = ("lrnotes", "book", "_config.yml", "_toc.yml", "pyproject.toml")
_IGNORED_PARTS = {"__pycache__", ".ipynb_checkpoints", "runs", "_build"}
# Sources, not what executing a chapter may leave beside it (logs, checkpoints, data).
_SOURCE_SUFFIXES = {".py", ".ipynb", ".md", ".bib", ".yml", ".yaml", ".toml", ".cfg"}


class StaleBuildError(RuntimeError):
    """The last build executed the chapters against other code than the working tree's."""


def chapters() -> list[Path]:
    """The chapter notebooks, in order (``book/NN_slug.ipynb``)."""
    return sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))


def read_glue(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The values a notebook recorded with ``lrnotes.glue`` (and myst-nb's glue, as text)."""
    values: dict[str, Any] = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {})
            if "scrapbook" not in meta:
                continue
            name = meta["scrapbook"]["name"]
            if "lrnotes" in meta:
                values[name] = meta["lrnotes"]["value"]
            else:
                data = output.get("data", {})
                values[name] = next((v for k, v in data.items() if k.endswith("text/plain")), None)
    return values


def run_chapter(notebook: Path | str, out_dir: Path, parameters: dict[str, Any] | None = None,
                timeout: int = 900) -> dict[str, Any]:
    """Execute a chapter with papermill (injecting ``parameters``) and return its glued values."""
    return read_glue(execute_chapter(notebook, out_dir, parameters, timeout))


def execute_chapter(notebook: Path | str, out_dir: Path,
                    parameters: dict[str, Any] | None = None,
                    timeout: int = 900) -> nbformat.NotebookNode:
    """Execute a notebook with plain ``papermill.execute_notebook``, as a reader would.

    Any error stops it (``PapermillExecutionError``): a chapter shows a slide's failure
    through ``lrnotes.notebook.expect_error``, never with a cell that raises."""
    import papermill

    src = Path(notebook)
    if not src.is_absolute():
        src = BOOK / src
    out = Path(out_dir) / src.name
    papermill.execute_notebook(
        str(src), str(out), parameters=parameters or {}, kernel_name="python3",
        cwd=str(BOOK), progress_bar=False, execution_timeout=timeout,
    )
    return nbformat.read(out, as_version=4)


EXPECT_ERROR = re.compile(r"\A%%expect_error\s+([\w.]+)")


def missing_failures(nb: nbformat.NotebookNode) -> list[str]:
    """The cells that fail on purpose (``%%expect_error NAME`` on top) whose output does not
    show that error (a stderr line ``NAME: message``), and any error output at all."""
    problems = []
    for i, cell in enumerate(nb.cells):
        outputs = cell.get("outputs", [])
        problems += [f"cell {i}: raised {o.get('ename')}: {o.get('evalue')}" for o in outputs
                     if o.get("output_type") == "error"]
        expected = EXPECT_ERROR.match(cell.source) if cell.cell_type == "code" else None
        if expected is None:
            continue
        name = expected.group(1).rsplit(".", 1)[-1]
        stderr = "".join(o.get("text", "") for o in outputs
                         if o.get("output_type") == "stream" and o.get("name") == "stderr")
        if not re.search(rf"^{re.escape(name)}: ", stderr, re.MULTILINE):
            problems.append(f"cell {i}: expected {name} is not shown in its output")
    return problems


def source_files(root: Path = ROOT) -> list[Path]:
    """The source files of ``SOURCES`` that git does not ignore (all, outside a git checkout)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--",
             *SOURCES], cwd=root, capture_output=True, check=True).stdout.decode()
        files = [root / name for name in listed.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for name in SOURCES:
            path = root / name
            files += [path] if path.is_file() else sorted(path.rglob("*"))
    return sorted(f for f in files if f.is_file() and f.suffix in _SOURCE_SUFFIXES
                  and not _IGNORED_PARTS.intersection(f.relative_to(root).parts))


def source_digest(root: Path = ROOT) -> dict[str, str]:
    """sha256 of each source file (relative path -> hex), plus the versions that run them."""
    digest = {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
              for f in source_files(root)}
    from importlib.metadata import PackageNotFoundError, version

    for package in ("torch", "numpy", "torchvision", "scikit-learn", "matplotlib"):
        try:
            digest[f"version:{package}"] = version(package)
        except PackageNotFoundError:
            digest[f"version:{package}"] = "absent"
    digest["version:python"] = sys.version.split()[0]
    return digest


def write_stamp(digest: dict[str, str], build: Path = BUILD) -> Path:
    """Record what a successful build executed: ``_build/lrnotes-build-stamp.json``."""
    path = build / STAMP_NAME
    path.write_text(json.dumps(digest, indent=1, sort_keys=True) + "\n")
    return path


def check_fresh(root: Path = ROOT, build: Path = BUILD) -> None:
    """Raise ``StaleBuildError`` unless the last build ran on the sources as they are now."""
    path = build / STAMP_NAME
    if not path.exists():
        raise StaleBuildError(f"{path} is missing: no complete build to read; run the tests "
                              "without LRNOTES_CLAIMS=built, or bash scripts/book.sh --all")
    built = json.loads(path.read_text())
    now = source_digest(root)
    changed = sorted(k for k in built.keys() | now.keys() if built.get(k) != now.get(k))
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8
                                          else "")
        raise StaleBuildError(f"the build in {build} is stale: changed since it ran: {shown}. "
                              "Build again (the tests' default does).")


class Build:
    """A book build running in the background (``start_build``); ``result()`` waits for it.

    Its output goes to temporary files, not pipes: a build that prints more than a pipe
    holds while nobody reads it would block."""

    def __init__(self, process: subprocess.Popen, logs: tuple[Any, Any], digest: dict[str, str],
                 build: Path) -> None:
        self.process, self.logs, self.digest, self.build = process, logs, digest, build
        self._result: subprocess.CompletedProcess | None = None

    def result(self) -> subprocess.CompletedProcess:
        if self._result is None:
            self.process.wait()
            out, err = (self._read(log) for log in self.logs)
            if self.process.returncode == 0:
                write_stamp(self.digest, self.build)
            self._result = subprocess.CompletedProcess(self.process.args,
                                                       self.process.returncode, out, err)
        return self._result

    def stop(self) -> None:
        """End a build nobody waited for (the session ended first), and close its logs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for log in self.logs:
            log.close()

    @staticmethod
    def _read(log: Any) -> str:
        log.seek(0)
        text = log.read().decode(errors="replace")
        log.close()
        return text


def start_build(extra_args: tuple[str, ...] = (), root: Path = ROOT) -> Build:
    """Start building the book from scratch the way the README does, warnings as errors, in
    the background (see :class:`Build`).

    myst-nb executes a notebook (``execute_notebooks: force``) only when Sphinx reads it, and
    Sphinx's incremental build reads only the pages whose own files changed: after a change
    to ``lrnotes/`` alone it would keep every page and its glued values. So the executed
    notebooks and Sphinx's saved environment are removed and ``--all`` reads every page again.
    On success the digest of the sources as they were when the build started is stamped into
    ``_build/`` (see ``check_fresh``)."""
    import tempfile

    build = root / "_build"
    digest = source_digest(root)
    for stale in (build / "jupyter_execute", build / ".doctrees", build / STAMP_NAME):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(root), "--all", "-W", "--keep-going", *extra_args]
    env = dict(os.environ, TQDM_DISABLE="1")
    env.pop("MPLBACKEND", None)  # figures must render inline in the executed pages
    logs = (tempfile.TemporaryFile(), tempfile.TemporaryFile())
    process = subprocess.Popen(cmd, cwd=root, env=env, stdout=logs[0], stderr=logs[1])
    return Build(process, logs, digest, build)


def build_book(extra_args: tuple[str, ...] = (), root: Path = ROOT) -> subprocess.CompletedProcess:
    """Build the book and wait for it (:func:`start_build`)."""
    return start_build(extra_args, root).result()


def executed_glue(name: str, root: Path = ROOT) -> dict[str, Any]:
    """Glued values of a chapter as executed by the last book build.

    Raises ``StaleBuildError`` when ``lrnotes/``, ``book/`` or the configuration changed
    since that build (``check_fresh``): a claim test never reads values computed by other
    code. myst-nb moves glued outputs out of the executed notebook into ``NAME.glue.json``
    beside it, keeping each output's metadata (where ``lrnotes.glue`` puts the exact value)."""
    build = root / "_build"
    check_fresh(root, build)
    path = build / "jupyter_execute" / "book" / f"{name}.glue.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the book build did not execute {name}")
    outputs = json.loads(path.read_text())
    cell = nbformat.from_dict({"cell_type": "code", "outputs": list(outputs.values())})
    return read_glue(nbformat.from_dict({"cells": [cell]}))
