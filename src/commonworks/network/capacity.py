"""Spare capacity of a machine, day by day (pure).

free hours = shift hours − booked hours − expected hours, never below zero, where the
expected hours are the machine's usual load: its utilisation (busy share of planned time,
learned from its own state history) times the day's shift hours. Bookings are the jobs
already promised beyond that usual load (network orders, confirmed outside jobs).

Worked example: a day with 16 shift hours, a 3 h booking and a machine busy 60 % of its
planned time → expected 9.6 h, free 16 − 3 − 9.6 = 3.4 h.

>>> day_capacity(16.0, 3.0, 0.6)
(9.6, 3.4)
>>> day_capacity(8.0, 6.0, 0.5)   # booked and usual load exceed the shift: nothing free
(4.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BUSY_STATES = ("producing", "setup")
HORIZON_DAYS = 28  # how far ahead spare capacity is computed and published
HOUR_MS = 3_600_000


def day_capacity(shift_h: float, booked_h: float, utilisation: float | None) -> tuple[float, float]:
    """(expected_h, free_h) of one day; unknown utilisation counts as none (a new machine)."""
    expected = round(shift_h * (utilisation or 0.0), 3)
    free = round(max(0.0, shift_h - booked_h - expected), 3)
    return expected, free


def utilisation(busy_ms: int, planned_ms: int) -> float | None:
    """Busy share of planned busy time (None when the machine had no planned time).

    >>> utilisation(18 * HOUR_MS, 30 * HOUR_MS)
    0.6
    """
    if planned_ms <= 0:
        return None
    return round(min(1.0, busy_ms / planned_ms), 4)


def overlap_ms(spans: Sequence[tuple[int, int]], start_ms: int, end_ms: int) -> int:
    """Milliseconds of ``spans`` inside [start_ms, end_ms) (spans may overlap each other: each counts).

    >>> overlap_ms([(0, 10), (5, 30)], 8, 20)
    14
    """
    return sum(max(0, min(b, end_ms) - max(a, start_ms)) for a, b in spans)


@dataclass(frozen=True, slots=True)
class Day:
    shift_h: float
    booked_h: float
    expected_h: float
    free_h: float


def machine_days(shift_h: Sequence[float], booked_h: Sequence[float], util: float | None) -> list[Day]:
    days = []
    for shift, booked in zip(shift_h, booked_h, strict=True):
        expected, free = day_capacity(shift, booked, util)
        days.append(Day(round(shift, 3), round(booked, 3), expected, free))
    return days


def published_hours(free_h: float, share: float, cap_h: float | None) -> float:
    """What an enterprise shows of a day's free hours: a share of them, at most a cap, in half hours
    (coarse on purpose: offers never reveal the machine's exact load).

    >>> published_hours(7.3, 0.5, None), published_hours(7.3, 1.0, 4.0)
    (3.5, 4.0)
    """
    hours = free_h * share
    if cap_h is not None:
        hours = min(hours, cap_h)
    return float(int(hours * 2) / 2)
