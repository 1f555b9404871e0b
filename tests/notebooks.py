"""Tools the notebook tests share: find the chapters, execute them, read their glued values."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
BUILD = ROOT / "_build"
EXECUTED = BUILD / "jupyter_execute" / "book"


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
    import papermill

    src = Path(notebook)
    if not src.is_absolute():
        src = BOOK / src
    out = Path(out_dir) / src.name
    papermill.execute_notebook(
        str(src), str(out), parameters=parameters or {}, kernel_name="python3",
        cwd=str(BOOK), progress_bar=False, execution_timeout=timeout,
    )
    return read_glue(nbformat.read(out, as_version=4))


def build_book(extra_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Build the book the way the README does, warnings as errors."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "-W", "--keep-going", *extra_args]
    env = dict(os.environ, TQDM_DISABLE="1")
    env.pop("MPLBACKEND", None)  # figures must render inline in the executed pages
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)


def executed_glue(name: str) -> dict[str, Any]:
    """Glued values of a chapter as executed by the last book build.

    myst-nb moves glued outputs out of the executed notebook into ``NAME.glue.json`` beside it,
    keeping each output's metadata (where ``lrnotes.glue`` puts the exact value)."""
    path = EXECUTED / f"{name}.glue.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: the book build did not execute {name}")
    outputs = json.loads(path.read_text())
    cell = nbformat.from_dict({"cell_type": "code", "outputs": list(outputs.values())})
    return read_glue(nbformat.from_dict({"cells": [cell]}))
