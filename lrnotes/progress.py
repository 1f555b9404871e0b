"""One progress bar for the package's long loops (``fit``, ``lr_find``, downloads).

Why not ``tqdm.auto`` directly:

- ``tqdm.notebook.tqdm`` (what ``tqdm.auto`` gives inside a Jupyter kernel) turns a missing
  ``disable`` into an explicit ``disable=False`` before tqdm reads its environment defaults,
  so ``TQDM_DISABLE`` never reaches it (tqdm 4.66 to 4.67 at least), and tqdm before 4.66
  ignores ``TQDM_DISABLE`` everywhere. Scripts that set it still saved a widget bar into
  every executed notebook.
- A widget bar is saved into the executed notebook, and a bar that stopped early (a range
  test that diverged, as it should) renders on the book's page as a red, unfinished bar.

So :func:`progress_bar` always decides ``disable`` itself and passes it explicitly:

- ``TQDM_DISABLE`` set to anything but ``""``, ``0``, ``false``, ``no`` or ``off`` turns every
  bar off, on every tqdm version;
- a notebook executed headless (jupyter-book, papermill, nbval, ``jupyter nbconvert
  --execute``: everything built on nbclient) gets no bar at all. These runners send every
  cell with ``allow_stdin=False`` (nobody is there to type an answer to ``input()``), while
  a person's frontend (Jupyter, JupyterLab, VS Code, Colab) sends ``allow_stdin=True``;
  :func:`headless_kernel` reads that flag of the cell being run.
"""

from __future__ import annotations

import os
import sys
from typing import Any

_OFF_VALUES = ("", "0", "false", "no", "off")


def disabled_by_env() -> bool:
    """True when ``TQDM_DISABLE`` asks for no progress bars (any value but ``""``, ``0``,
    ``false``, ``no``, ``off``; case and surrounding spaces ignored).

    Example::

        >>> os.environ["TQDM_DISABLE"] = "1"; disabled_by_env()
        True
    """
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in _OFF_VALUES


def headless_kernel() -> bool:
    """True inside a Jupyter kernel whose current cell was sent by a runner that nobody
    watches (nbclient and the tools on it: jupyter-book, papermill, nbval, nbconvert).

    The test: the execute request of the running cell says ``allow_stdin=False``. Outside a
    kernel (a script, a terminal IPython) this is False.

    Example::

        >>> headless_kernel()   # in a script
        False
    """
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - ipykernel depends on IPython
        return False
    kernel = getattr(get_ipython(), "kernel", None)
    if kernel is None:
        return False
    parent: Any = None
    get_parent = getattr(kernel, "get_parent", None)
    if callable(get_parent):
        try:
            parent = get_parent("shell")
        except Exception:  # noqa: BLE001 - an older ipykernel without channels in get_parent
            parent = None
    content = parent.get("content") if isinstance(parent, dict) else None
    if isinstance(content, dict) and "allow_stdin" in content:
        return not content["allow_stdin"]
    return not getattr(kernel, "_allow_stdin", True)


def progress_bar(*, total: int | None, desc: str | None = None, enabled: bool = True,
                 **kwargs: Any) -> Any:
    """A ``tqdm.auto`` bar, disabled when ``enabled`` is False, ``TQDM_DISABLE`` is set, or
    the notebook is executed headless (see the module docstring).

    ``kwargs`` go to tqdm (``unit``, ``unit_scale``, ``leave``, ...); ``disable`` is decided
    here and may not be passed.

    Example::

        bar = progress_bar(total=100, desc="lr_find")
        for _ in range(100):
            bar.update()
        bar.close()
    """
    if "disable" in kwargs:
        raise TypeError("progress_bar decides disable itself; pass enabled=False instead")
    from tqdm.auto import tqdm

    off = (not enabled) or disabled_by_env() or headless_kernel()
    return tqdm(total=total, desc=desc, disable=off, **kwargs)
