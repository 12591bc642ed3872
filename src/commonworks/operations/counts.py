"""Part counts from counter tags (pure): increments per hour, resets handled.

A controller's part counter only grows, until it is reset (new shift, new order, power
cycle). The parts made between two readings are the difference; a reading lower than
the one before is a reset, after which the reading itself is what was made since. Each
increment belongs to the hour in which its reading was taken.
"""

from __future__ import annotations

import numpy as np

HOUR_MS = 3_600_000


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
    if len(ts) < 2:
        return {}
    deltas = np.diff(values)
    deltas = np.where(deltas < 0, values[1:], deltas)  # a reset: the new reading counts from zero
    at = ts[1:]
    keep = at >= start_ms
    at, deltas = at[keep], deltas[keep]
    if not len(at):
        return {}
    hours = at - at % HOUR_MS
    buckets, index = np.unique(hours, return_inverse=True)
    sums = np.bincount(index, weights=deltas)
    return {int(b): round(s) for b, s in zip(buckets.tolist(), sums.tolist(), strict=True)}
