"""Plots of schedules, training histories and LR range tests (matplotlib; each returns the Axes)."""

from __future__ import annotations

from typing import Any


def _axes(ax: Any = None) -> Any:
    """Return ``ax``, or a fresh Axes on a new figure when it is None."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    return ax


# --- schedules -------------------------------------------------------------


# --- training history ------------------------------------------------------


# --- LR range test ---------------------------------------------------------
