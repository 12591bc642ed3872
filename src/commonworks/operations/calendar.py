"""Planned time from a shift calendar (pure): shift spans and planned down time within a range.

Per ISO 22400-2 the shifts give the planned operation time (POT); breaks and planned
maintenance inside them are planned down time (PDOT); planned busy time PBT = POT − PDOT.
A holiday removes the shifts it covers. Times of day are local to the calendar's time
zone (daylight saving handled by zoneinfo); a shift whose end is at or before its start
runs past midnight, and so do its breaks that fall after midnight.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Span = tuple[int, int]  # [start, end) epoch ms


@dataclass(frozen=True)
class PlannedTime:
    shifts: list[Span]  # planned operation time
    planned_down: list[Span]  # inside the shifts

    @property
    def pot_ms(self) -> int:
        return sum(b - a for a, b in self.shifts)

    @property
    def pdot_ms(self) -> int:
        return sum(b - a for a, b in self.planned_down)


def normalize(spans: Iterable[Span]) -> list[Span]:
    """Sorted, merged, non-empty spans.

    >>> normalize([(5, 9), (0, 3), (2, 4), (9, 9)])
    [(0, 4), (5, 9)]
    """
    out: list[Span] = []
    for a, b in sorted(s for s in spans if s[1] > s[0]):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def intersect(xs: Sequence[Span], ys: Sequence[Span]) -> list[Span]:
    """Overlap of two normalized span lists.

    >>> intersect([(0, 10), (20, 30)], [(5, 25)])
    [(5, 10), (20, 25)]
    """
    out, i, j = [], 0, 0
    while i < len(xs) and j < len(ys):
        a, b = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if b > a:
            out.append((a, b))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(xs: Sequence[Span], ys: Sequence[Span]) -> list[Span]:
    """What of normalized ``xs`` is not in normalized ``ys``.

    >>> subtract([(0, 10), (20, 30)], [(5, 25)])
    [(0, 5), (25, 30)]
    """
    out: list[Span] = []
    j = 0
    for a, b in xs:
        while j < len(ys) and ys[j][1] <= a:
            j += 1
        k, cur = j, a
        while k < len(ys) and ys[k][0] < b:
            if ys[k][0] > cur:
                out.append((cur, ys[k][0]))
            cur = max(cur, ys[k][1])
            k += 1
        if cur < b:
            out.append((cur, b))
    return out


def _ms(day: date, clock: str, zone: ZoneInfo, *, after: datetime | None = None) -> tuple[int, datetime]:
    hh, mm = (int(x) for x in clock.split(":"))
    moment = datetime.combine(day, time(hh, mm), tzinfo=zone)
    if after is not None and moment <= after:
        moment = datetime.combine(day + timedelta(days=1), time(hh, mm), tzinfo=zone)
    return int(moment.timestamp() * 1000), moment


def _exception_ms(value: Any) -> int:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int(moment.timestamp() * 1000)


def planned_time(shifts: Sequence[dict[str, Any]], exceptions: Sequence[dict[str, Any]], timezone: str,
                 start_ms: int, end_ms: int) -> PlannedTime:
    """Shift spans and planned down time of a calendar within [start_ms, end_ms).

    Worked example: one shift 08:00–16:00 Monday to Friday with a 12:00–12:30 break, in
    Shanghai (UTC+8), over Monday 2026-01-05: POT = 8 h, PDOT = 0.5 h, PBT = 7.5 h.

    >>> monday = int(datetime(2026, 1, 5, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    >>> p = planned_time([{"name": "早班", "start": "08:00", "end": "16:00", "days": [1, 2, 3, 4, 5],
    ...                    "breaks": [["12:00", "12:30"]]}], [], "Asia/Shanghai", monday, monday + 86_400_000)
    >>> p.pot_ms / 3_600_000, p.pdot_ms / 3_600_000
    (8.0, 0.5)
    """
    zone = ZoneInfo(timezone)
    first = datetime.fromtimestamp(start_ms / 1000, zone).date() - timedelta(days=1)  # yesterday's night shift
    last = datetime.fromtimestamp(end_ms / 1000, zone).date()
    spans: list[Span] = []
    breaks: list[Span] = []
    day = first
    while day <= last:
        for shift in shifts:
            if day.isoweekday() not in shift.get("days", [1, 2, 3, 4, 5]):
                continue
            a, a_dt = _ms(day, shift["start"], zone)
            b, _ = _ms(day, shift["end"], zone, after=a_dt)
            spans.append((a, b))
            for br_start, br_end in shift.get("breaks", []):
                c, c_dt = _ms(day, br_start, zone)
                if c < a:  # a break after midnight of a night shift
                    c, c_dt = _ms(day + timedelta(days=1), br_start, zone)
                d, _ = _ms(c_dt.date(), br_end, zone, after=c_dt)
                breaks.append((c, d))
        day += timedelta(days=1)
    window = [(start_ms, end_ms)]
    holidays = normalize((_exception_ms(e["start"]), _exception_ms(e["end"]))
                         for e in exceptions if e.get("kind") == "holiday")
    planned = normalize((_exception_ms(e["start"]), _exception_ms(e["end"]))
                        for e in exceptions if e.get("kind") == "planned_downtime")
    pot = subtract(intersect(normalize(spans), window), holidays)
    pdot = intersect(pot, normalize([*breaks, *planned]))
    return PlannedTime(shifts=pot, planned_down=pdot)
