"""Part counts from counter tags (pure): increments per hour, resets handled, and their planned run time.

A controller's part counter only grows, until it is reset (new shift, new order, power
cycle). The parts made between two readings are the difference; a reading lower than
the one before is a reset, after which the reading itself is what was made since. Each
increment belongs to the hour in which its reading was taken.

The planned run time of an increment (ISO 22400-2's PRI × PQ, PRI the planned run time per
item *of that item*) is its parts times the ideal cycle time of the part being made: the
value of the machine's *part tag* (the CNC's program name, the moulder's mould number) in
force at the reading — its newest value taken *before* the reading. A part tag value stamped
at the very moment of a reading did not make the parts that reading counts: a controller
that loads the next program as it counts the last part of a lot reports both at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from commonworks.operations.states import value_key

HOUR_MS = 3_600_000


class HourCount(NamedTuple):
    """An hour's parts, the planned run time of those whose part has its own ideal cycle time, and their number."""

    parts: int
    planned_run_s: float
    own_cycle_parts: int


def _increments(ts: np.ndarray, values: np.ndarray, start_ms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions of the readings, their timestamps, parts) of the increments at or after ``start_ms``."""
    deltas = np.diff(values)
    deltas = np.where(deltas < 0, values[1:], deltas)  # a reset: the new reading counts from zero
    at = ts[1:]
    keep = np.flatnonzero(at >= start_ms)
    return keep + 1, at[keep], deltas[keep]


def hourly_increments(ts: np.ndarray, values: np.ndarray, start_ms: int) -> dict[int, int]:
    """Parts made per hour (bucket start → count) from readings at ``ts``, for readings at or after ``start_ms``.

    Pass the last reading before ``start_ms`` as the first element so that the first
    increment is known. Worked example: readings 100, 130, 160 (reset) 5, 25 at 00:10,
    00:40, 01:20, 01:50, 02:10 → 30 in hour 0, 30 + 5 in hour 1 (the reset hour), 20 in hour 2.

    >>> m = 60_000
    >>> hourly_increments(np.array([10 * m, 40 * m, 80 * m, 110 * m, 130 * m]),
    ...                   np.array([100.0, 130.0, 160.0, 5.0, 25.0]), 0)
    {0: 30, 3600000: 35, 7200000: 20}
    """
    return {h: c.parts for h, c in hourly_counts(ts, values, start_ms).items()}


def cycles_at(
    ts: np.ndarray, part_ts: np.ndarray, part_values: Sequence[Any], cycles: Mapping[str, float]
) -> np.ndarray:
    """The ideal cycle time (s) of the part in force at each reading ``ts``: of the part tag's newest value
    stamped before it (``part_ts`` sorted). NaN where no part is known or the part has no ideal cycle time.

    >>> cycles_at(np.array([5, 10, 20, 30]), np.array([10, 20]), ["O1", 7.0], {"O1": 60.0, "7": 90.0})
    array([nan, nan, 60., 90.])
    """
    own = np.array(
        [float(cycles[k]) if (k := value_key(v)) in cycles and cycles[k] else np.nan for v in part_values],
        dtype=np.float64,
    )
    before = np.searchsorted(np.asarray(part_ts, dtype=np.int64), ts, side="left") - 1
    return np.where(before >= 0, own[np.maximum(before, 0)] if len(own) else np.nan, np.nan)


def hourly_counts(
    ts: np.ndarray, values: np.ndarray, start_ms: int, cycle_s: np.ndarray | None = None
) -> dict[int, HourCount]:
    """Parts per hour with their planned run time, from counter readings at ``ts`` (from ``start_ms`` on, the
    last reading before it first, as for :func:`hourly_increments`) and the ideal cycle time in force at each
    reading (``cycle_s``, as :func:`cycles_at` gives it; NaN or no array: unknown). Parts of an unknown part
    add to ``parts`` only; the caller values them otherwise (the machine's fastest cycle).

    Worked example. Program A (ideal 60 s) is loaded at 00:40, B (90 s) at 00:56 — at the moment the
    counter reads 110 — and C, which has no ideal cycle time, at 01:40. The counter reads 100 at 00:50,
    110 at 00:56, 112 at 01:02, is reset and reads 3 at 01:20, then 8 at 01:30 and 10 at 01:50:

    =====  =======  =====  ========  ==============================
    time   counter  parts  program   planned run time
    =====  =======  =====  ========  ==============================
    00:56  110      10     A         10 × 60 = 600 s (B came with the reading: not yet)
    01:02  112      2      B         2 × 90 = 180 s
    01:20  3        3      B         3 × 90 = 270 s (reset: 3 since)
    01:30  8        5      B         5 × 90 = 450 s
    01:50  10       2      C         unknown
    =====  =======  =====  ========  ==============================

    Hour 0: 10 parts, 600 s, all 10 with their own cycle; hour 1: 12 parts, 900 s, 10 of them own.

    >>> m = 60_000
    >>> ts = np.array([50 * m, 56 * m, 62 * m, 80 * m, 90 * m, 110 * m])
    >>> cycles = cycles_at(ts, np.array([40 * m, 56 * m, 100 * m]), ["A", "B", "C"], {"A": 60.0, "B": 90.0})
    >>> hourly_counts(ts, np.array([100.0, 110.0, 112.0, 3.0, 8.0, 10.0]), 0, cycles)
    {0: HourCount(parts=10, planned_run_s=600.0, own_cycle_parts=10), \
3600000: HourCount(parts=12, planned_run_s=900.0, own_cycle_parts=10)}
    """
    if len(ts) < 2:
        return {}
    index, at, parts = _increments(ts, values, start_ms)
    if not len(at):
        return {}
    cycle = np.full(len(at), np.nan) if cycle_s is None else np.asarray(cycle_s, dtype=np.float64)[index]
    own = np.isfinite(cycle)
    hours = at - at % HOUR_MS
    buckets, bucket = np.unique(hours, return_inverse=True)
    n = len(buckets)
    total = np.bincount(bucket, weights=parts, minlength=n)
    planned = np.bincount(bucket, weights=parts * np.where(own, cycle, 0.0), minlength=n)
    owned = np.bincount(bucket, weights=np.where(own, parts, 0.0), minlength=n)
    return {
        int(b): HourCount(round(t), float(p), round(o))
        for b, t, p, o in zip(buckets.tolist(), total.tolist(), planned.tolist(), owned.tolist(), strict=True)
    }
