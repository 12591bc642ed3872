"""Interval arithmetic for many machines at once, on numpy arrays (pure; no I/O).

Intervals are half-open ``[start, end)`` in integer epoch milliseconds, so every sum is
exact. All machines share one number line: time ``t`` of machine ``m`` becomes the key
``m·span + (t − origin)``, with ``span`` longer than all the data, so one sorted array and
one ``searchsorted`` serve every machine at once and intervals of different machines can
never touch or overlap. That is what keeps 200 machines × 30 days of state changes a
handful of vectorised passes instead of a Python loop per machine.

Sets of intervals are pairs of key arrays ``(start, end)``; :func:`union` makes a set
*normal* (sorted, disjoint, touching intervals merged), and the other functions expect
normal sets unless they say otherwise. :class:`Measure` answers "how much of the set
lies before ``t``" for many ``t`` at once — the measure of ``[a, b) ∩ set`` is then
``measure(b) − measure(a)``, for millions of intervals against a small set (a calendar).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

Keys = NDArray[np.int64]

_MAX_KEY = 2**62  # headroom below int64 for key + duration arithmetic


@dataclass(frozen=True)
class Timeline:
    """The shared number line of ``machines`` machines whose times lie in ``[origin, origin + span)``."""

    machines: int
    origin: int
    span: int

    @classmethod
    def covering(cls, machines: int, *times: ArrayLike) -> Timeline:
        """A timeline long enough for every time in ``times`` (arrays or scalars of epoch ms).

        >>> t = Timeline.covering(2, [1_000, 5_000], 9_000)
        >>> t.origin, t.span, t.key([1, 0], [1_000, 9_000]).tolist()
        (1000, 8001, [8001, 8000])
        """
        arrays = [np.asarray(t, dtype=np.int64).ravel() for t in times]
        arrays = [a for a in arrays if a.size]
        if not arrays:
            return cls(machines, 0, 1)
        low = min(int(a.min()) for a in arrays)
        high = max(int(a.max()) for a in arrays)
        span = high - low + 1
        if max(machines, 1) * span >= _MAX_KEY:
            raise ValueError(f"{machines} machines over {span} ms do not fit one int64 timeline")
        return cls(machines, low, span)

    def key(self, machine: ArrayLike, t: ArrayLike) -> Keys:
        """Keys of times ``t`` (epoch ms) of machines ``machine`` (indices)."""
        return np.asarray(machine, dtype=np.int64) * self.span + (np.asarray(t, dtype=np.int64) - self.origin)

    def machine_of(self, key: Keys) -> NDArray[np.intp]:
        return (key // self.span).astype(np.intp)

    def starts(self, t: int) -> Keys:
        """The key of time ``t`` on every machine (e.g. the start of the report period)."""
        return self.key(np.arange(self.machines), np.full(self.machines, t))


def union(start: Keys, end: Keys) -> tuple[Keys, Keys]:
    """The normal form of any intervals: sorted, disjoint, touching ones merged, empty ones dropped.

    >>> s, e = union(np.array([5, 0, 2, 12, 20]), np.array([8, 3, 6, 15, 20]))
    >>> s.tolist(), e.tolist()
    ([0, 12], [8, 15])
    """
    keep = end > start
    start, end = start[keep], end[keep]
    if start.size == 0:
        return start, end
    order = np.argsort(start, kind="stable")
    start, end = start[order], end[order]
    reach = np.maximum.accumulate(end)
    first = np.empty(start.size, dtype=bool)
    first[0] = True
    first[1:] = start[1:] > reach[:-1]
    heads = np.flatnonzero(first)
    lasts = np.append(heads[1:] - 1, start.size - 1)
    return start[heads], reach[lasts]


def contains(start: Keys, end: Keys, points: Keys) -> NDArray[np.bool_]:
    """Whether each point lies in the normal set ``(start, end)``."""
    if start.size == 0:
        return np.zeros(points.shape, dtype=bool)
    i = np.searchsorted(start, points, side="right") - 1
    safe = np.maximum(i, 0)
    return (i >= 0) & (points < end[safe])


def difference(a: tuple[Keys, Keys], b: tuple[Keys, Keys]) -> tuple[Keys, Keys]:
    """``a \\ b`` for normal sets (meant for calendars: small sets).

    >>> s, e = difference((np.array([0, 20]), np.array([10, 30])), (np.array([5]), np.array([25])))
    >>> s.tolist(), e.tolist()
    ([0, 25], [5, 30])
    """
    if a[0].size == 0 or b[0].size == 0:
        return a
    points = np.unique(np.concatenate([a[0], a[1], b[0], b[1]]))
    seg_start, seg_end = points[:-1], points[1:]
    keep = contains(*a, seg_start) & ~contains(*b, seg_start)
    return union(seg_start[keep], seg_end[keep])


class Measure:
    """``measure(t)`` = length of the normal set ``(start, end)`` before each ``t``.

    >>> m = Measure(np.array([0, 20]), np.array([10, 30]))
    >>> m(np.array([-5, 5, 15, 25, 99])).tolist()
    [0, 5, 10, 15, 20]
    """

    def __init__(self, start: Keys, end: Keys) -> None:
        self.start, self.end = start, end
        done = np.concatenate([[0], np.cumsum(end - start)]).astype(np.int64)  # before interval j
        # with j = the number of starts ≤ t: measure = min(t + (done[j−1] − start[j−1]), done[j]);
        # the large first entry makes that min 0 before the first interval
        self._shift = np.concatenate([[_MAX_KEY], done[:-1] - start]).astype(np.int64)
        self._done = done

    def __call__(self, t: Keys) -> Keys:
        j = np.searchsorted(self.start, t, side="right")
        return np.minimum(t + self._shift[j], self._done[j])

    def between(self, a: Keys, b: Keys) -> Keys:
        """Length of ``[a, b) ∩ set`` for each pair."""
        return self(b) - self(a)


def first_inside(start: Keys, end: Keys, set_start: Keys, set_end: Keys) -> Keys:
    """The first moment of each ``[start, end) ∩ set``, or ``end`` where they do not meet.

    >>> first_inside(np.array([2, 12, 31]), np.array([8, 25, 40]), np.array([0, 20]), np.array([10, 30])).tolist()
    [2, 20, 40]
    """
    if set_start.size == 0:
        return end.copy()
    inside = contains(set_start, set_end, start)
    j = np.searchsorted(set_start, start, side="right")
    following = set_start[np.minimum(j, set_start.size - 1)]
    nxt = np.where(j < set_start.size, following, end)
    return np.where(inside, start, np.minimum(nxt, end))


def first_overlap(start: Keys, end: Keys) -> tuple[int, int] | None:
    """Positions ``(i, j)`` of two overlapping non-empty intervals (``i`` starts first), or None.

    Empty intervals overlap nothing. The pair returned is the one whose later-starting
    interval starts first.

    >>> first_overlap(np.array([0, 10, 15]), np.array([10, 20, 16]))
    (1, 2)
    >>> first_overlap(np.array([0, 10]), np.array([10, 20])) is None
    True
    """
    if start.size < 2:
        return None
    # the usual case (stored data: sorted, nothing empty): disjoint iff each starts after the previous ended
    if np.all(end > start) and np.all(start[1:] >= start[:-1]) and np.all(start[1:] >= end[:-1]):
        return None
    nonempty = np.flatnonzero(end > start)
    s, e = start[nonempty], end[nonempty]
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    bad = np.flatnonzero(s[1:] < reach[:-1])
    if bad.size == 0:
        return None
    k = int(bad[0]) + 1
    holder = int(np.argmax(e[:k]))  # the earlier interval that reaches past s[k]
    return int(nonempty[order[holder]]), int(nonempty[order[k]])
