"""Claim assertions that know their margin.

A chapter's claim test asserts through these helpers instead of a bare ``assert a > b``, so
that ``scripts/claims_margins.py`` can run the same test functions on the glued values of
every variant (seeds x torch thread counts) and report how close each claim came to failing.

    from margins import above, below, close

    def test_clipped_runs_do_not_blow_up(c):
        above(c["final_none"], 10 * c["final_norm"], "unclipped final / 10x clipped final")
        below(c["final_norm"], 2 * c["target_variance"], "clipped final / 2x target")

The margin of ``above(a, b)`` is ``a / b`` and of ``below(a, b)`` is ``b / a`` when both are
positive (a claim that holds has margin > 1), and the signed distance ``a - b`` (``b - a``)
otherwise. ``close`` is for values that are exact by construction (a formula, torch's own
output); its margin is ``tolerance / error``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

_records: list[dict] | None = None


def _margin(big: float, small: float) -> tuple[float, str]:
    if big > 0 and small > 0:
        return big / small, "ratio"
    return big - small, "diff"


def _record(what: str, kind: str, margin: float, scale: str, ok: bool) -> None:
    if _records is not None:
        _records.append({"what": what, "kind": kind, "margin": margin, "scale": scale,
                         "ok": bool(ok)})


def above(actual, bound, what: str) -> None:
    """Assert ``actual > bound`` and record the margin under the claim's name ``what``."""
    actual, bound = float(actual), float(bound)
    margin, scale = _margin(actual, bound) if not math.isinf(actual) else (math.inf, "ratio")
    ok = actual > bound
    _record(what, "above", margin, scale, ok)
    assert ok, f"{what}: expected {actual!r} > {bound!r}"


def below(actual, bound, what: str) -> None:
    """Assert ``actual < bound`` and record the margin under the claim's name ``what``."""
    actual, bound = float(actual), float(bound)
    margin, scale = _margin(bound, actual)
    ok = actual < bound
    _record(what, "below", margin, scale, ok)
    assert ok, f"{what}: expected {actual!r} < {bound!r}"


def close(actual, expected, what: str, rel: float = 1e-9, abs: float = 0.0) -> None:  # noqa: A002
    """Assert ``actual`` equals ``expected`` within ``rel``/``abs`` and record the margin."""
    actual, expected = float(actual), float(expected)
    tolerance = max(rel * max(math.fabs(expected), math.fabs(actual)), abs)
    error = math.fabs(actual - expected)
    ok = error <= tolerance
    margin = math.inf if error == 0 else tolerance / error
    _record(what, "close", margin, "ratio", ok)
    assert ok, f"{what}: expected {actual!r} == {expected!r} within rel={rel}, abs={abs}"


def holds(condition, what: str) -> None:
    """Assert a yes/no claim (no margin to measure: exact by construction or a count)."""
    ok = bool(condition)
    _record(what, "holds", math.nan, "", ok)
    assert ok, f"{what}: does not hold"


@contextmanager
def recording():
    """Collect every claim checked inside the block: ``with recording() as rows: test(c)``."""
    global _records
    previous, _records = _records, []
    try:
        yield _records
    finally:
        _records = previous
