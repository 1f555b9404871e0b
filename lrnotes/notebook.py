"""Helpers for the book's notebooks: glue computed numbers into the prose.

``glue`` writes the same output that myst-nb's ``glue`` writes (the
``application/papermill.record/`` mimetype with ``scrapbook`` metadata), so the
rendered book can paste the value with ``{glue:}`name``` and the notebook tests can
read it back, without making myst-nb a dependency of a chapter run in Colab.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

GLUE_PREFIX = "application/papermill.record/"


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays, torch tensors
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def glue(name: str, value: Any, fmt: str | None = None, display: bool = False) -> Any:
    """Record ``value`` under ``name`` for the prose and for the notebook tests.

    The text pasted into the page is ``fmt.format(value)`` (or ``str(value)``); the
    exact value travels in the output's metadata, where ``tests/notebooks.py`` reads it.
    Outside IPython (a plain script) it prints ``name: text`` instead. Returns ``value``,
    so a cell can glue and use a number in one line.

    Example::

        final_loss = glue("final_loss", history.epochs["val_loss"][-1], "{:.3f}")
        # in a markdown cell: the validation loss ends at {glue:}`final_loss`.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    text = fmt.format(value) if fmt is not None else str(value)
    json.dumps(_jsonable(value))  # fail here, not in the test, if it cannot be stored
    try:
        from IPython import get_ipython
        from IPython.display import display as ipy_display
    except ImportError:  # plain python without IPython: nothing to record into
        get_ipython = None
    if get_ipython is None or get_ipython() is None:
        # a plain script: no notebook records the value; show the text a reader would see
        print(f"{name}: {text}")
        return value
    prefix = "" if display else GLUE_PREFIX
    metadata = {"scrapbook": {"name": name, "mime_prefix": prefix},
                "lrnotes": {"value": _jsonable(value)}}
    ipy_display({prefix + "text/plain": text}, raw=True, metadata=metadata)
    return value


def print_diff(before: str, after: str, before_name: str, after_name: str,
               width: int = 78) -> None:
    """Print the unified diff of two sources (no context lines), long lines wrapped at ``width``.

    A wrapped line goes on with the same ``+``/``-`` mark, so a diff of long slide lines stays
    readable in the book's column and on a phone.

    Example::

        print_diff("a = 1\\n", "a = 2\\n", "slide", "copy")   # --- slide, +++ copy, -a = 1, +a = 2
    """
    import difflib
    import textwrap

    if not isinstance(width, int) or isinstance(width, bool) or width < 20:
        raise ValueError(f"width must be an int >= 20, got {width!r}")
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), before_name,
                                     after_name, n=0, lineterm=""):
        print(textwrap.fill(line, width, subsequent_indent=line[:1] + "   ",
                            break_on_hyphens=False) if line else line)


class CellSource:
    """The source of a notebook cell, filled in by :func:`keep_next_cell` when that cell runs."""

    def __init__(self) -> None:
        self.source: str | None = None

    def __repr__(self) -> str:
        return f"CellSource({self.source!r})"


def keep_next_cell() -> CellSource:
    """Keep the source of the next cell that runs (IPython's ``pre_run_cell`` event).

    The chapters quote a slide's code in a cell and then run that same code again,
    instrumented; this keeps the quoted text without a second copy of it, in Jupyter, Colab and
    headless runs alike (unlike ``_i``, which only exists when the history is stored).

    Example::

        slide = keep_next_cell()     # in the cell before the slide
        # ... the slide's cell runs ...
        exec(slide.source, {"range": recording_range})
    """
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("keep_next_cell needs an IPython kernel (a notebook)")
    kept = CellSource()

    def keep(info: Any) -> None:
        kept.source = info.raw_cell
        shell.events.unregister("pre_run_cell", keep)

    shell.events.register("pre_run_cell", keep)
    return kept
