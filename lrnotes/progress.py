"""One progress bar for the package's long loops (``fit``, ``lr_find``, downloads).

Why not ``tqdm.auto`` directly: a Jupyter widget bar is saved into the executed notebook, and a
bar that stopped early (a range test that diverged, as it should) renders on the book's page
as a red, unfinished bar. And older tqdm releases ignore ``TQDM_DISABLE``. So:

- ``TQDM_DISABLE`` (any value but ``""``, ``0``, ``false``) turns every bar off, on every
  tqdm version;
- in a notebook the bar is the widget only when the kernel is interactive; when a notebook is
  executed headless (jupyter-book, papermill, nbval) there is no bar at all.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def disabled_by_env() -> bool:
    """True when ``TQDM_DISABLE`` asks for no progress bars."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _headless_kernel() -> bool:
    """True inside a Jupyter kernel that nobody watches (nbclient: jupyter-book, papermill, nbval)."""
    if "ipykernel" not in sys.modules:
        return False
    # nbclient sets no env marker of its own; these are set by the tools that run it
    markers = ("PAPERMILL_EXECUTION", "JUPYTER_BOOK_BUILD", "LRNOTES_HEADLESS")
    return any(os.environ.get(m) for m in markers)


def progress_bar(*, total: int | None, desc: str | None = None, enabled: bool = True,
                 **kwargs: Any):
    """A tqdm bar, or a disabled one when ``enabled`` is False, ``TQDM_DISABLE`` is set, or
    the notebook is executed headless.

    Example::

        bar = progress_bar(total=100, desc="lr_find")
        for _ in range(100):
            bar.update()
        bar.close()
    """
    from tqdm.auto import tqdm

    off = (not enabled) or disabled_by_env() or _headless_kernel()
    return tqdm(total=total, desc=desc, disable=off, **kwargs)
