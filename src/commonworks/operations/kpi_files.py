"""The ``commonworks kpi`` tool's input and output: an MES export as three CSV files → KPIs.

For data from outside the platform. The files (UTF-8, a BOM is fine; the first line is
the header; columns by name, in any order):

==============  ==================================================  ====================================
events.csv      ``machine,start,end,state[,reason]``               state: producing, idle, setup,
                                                                    down_unplanned, down_planned, offline
counts.csv      ``machine,start,end,produced,good,ideal_cycle_s``  whole numbers, 0 ≤ good ≤ produced;
                                                                    ideal cycle > 0 seconds per part
calendar.csv    ``machine,start,end,kind``                         kind: shift, planned_downtime
==============  ==================================================  ====================================

Reading is strict, because a KPI computed from a half-understood file is worse than none:
the first bad row stops the run with ``file:line: reason``. Bad are: an empty file, a
missing, unknown or repeated column, a row with a different number of fields than the
header, an empty machine, a timestamp that is not ISO 8601 *with* a UTC offset (a naive
time is ambiguous across time zones and daylight saving), an end before its start, an
unknown state or kind, a count that is not a whole number, good > produced, an ideal
cycle time that is not a positive number, and overlapping intervals of one machine —
states with states, counts with counts (a part counted twice), shifts with shifts, planned
downtime with planned downtime (a shift and its break overlap, of course). The later of
the two rows is reported, naming the earlier. Blank lines are skipped; an interval with
start = end is empty and harmless. Timestamps are kept to the millisecond (finer digits
are cut off, like everywhere in storage). The ``reason`` column is read and not used
(downtime reasons are a Pareto matter, not a KPI).

The output is one document (see :func:`report`): the period, one object per machine
(by name, sorted) and a ``total`` rolled up over all machines from summed elements and
counts — the same fields for both.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table

from commonworks.operations.kpi import ProductionCounts, TimeElements, report_entry
from commonworks.operations.states import STATES, State
from commonworks.operations.timemodel import (
    PartCounts,
    Period,
    Spans,
    StateLog,
    production_counts,
    time_elements,
)

EVENTS_COLUMNS = ("machine", "start", "end", "state")
COUNTS_COLUMNS = ("machine", "start", "end", "produced", "good", "ideal_cycle_s")
CALENDAR_COLUMNS = ("machine", "start", "end", "kind")
CALENDAR_KINDS = ("shift", "planned_downtime")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class KpiFileError(ValueError):
    """A bad input file or row: ``path:line: reason``."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}:{line}: {reason}" if line is not None else f"{path}: {reason}")


def parse_time(text: str) -> int:
    """Epoch milliseconds of an ISO 8601 timestamp with a UTC offset (ValueError otherwise).

    >>> parse_time("1970-01-01T08:00:01.5+08:00")
    1500
    >>> parse_time("2024-03-04 06:00")
    Traceback (most recent call last):
    ValueError: '2024-03-04 06:00' has no UTC offset (write e.g. 2024-03-04T06:00:00+08:00)
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no UTC offset (write e.g. 2024-03-04T06:00:00+08:00)")
    return (moment - _EPOCH) // _MS


def format_time(ms: int) -> str:
    """ISO 8601 in UTC of epoch milliseconds.

    >>> format_time(1500)
    '1970-01-01T00:00:01.500000+00:00'
    """
    return (_EPOCH + ms * _MS).isoformat()


@dataclass(frozen=True)
class _Row:
    line: int
    machine: str
    start_ms: int
    end_ms: int
    cells: dict[str, str]


def _rows(path: Path, columns: Sequence[str], optional: Sequence[str] = ()) -> Iterator[_Row]:
    """The checked rows of one file: header, field count, machine, start and end."""
    expected = ",".join(columns) + "".join(f"[,{c}]" for c in optional)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise KpiFileError(path, None, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header: list[str] | None = None
            for fields in reader:
                line = reader.line_num
                if not any(f.strip() for f in fields):
                    continue
                if header is None:
                    header = [f.strip() for f in fields]
                    _check_header(path, line, header, columns, optional, expected)
                    continue
                if len(fields) != len(header):
                    raise KpiFileError(path, line, f"{len(fields)} fields, but the header has {len(header)}")
                cells = {name: value.strip() for name, value in zip(header, fields, strict=True)}
                if not cells["machine"]:
                    raise KpiFileError(path, line, "empty machine")
                start, end = _time(path, line, cells, "start"), _time(path, line, cells, "end")
                if end < start:
                    raise KpiFileError(path, line, f"end {cells['end']} is before start {cells['start']}")
                yield _Row(line, cells["machine"], start, end, cells)
        except UnicodeDecodeError:
            raise KpiFileError(path, reader.line_num + 1, "not UTF-8 text") from None
        except csv.Error as exc:
            raise KpiFileError(path, reader.line_num, f"not CSV: {exc}") from None
    if header is None:
        raise KpiFileError(path, None, f"empty file; the first line must be the header {expected}")


def _check_header(path: Path, line: int, header: list[str], columns: Sequence[str], optional: Sequence[str],
                  expected: str) -> None:
    for name in header:
        if header.count(name) > 1:
            raise KpiFileError(path, line, f"column {name!r} appears twice")
    missing = [c for c in columns if c not in header]
    if missing:
        raise KpiFileError(path, line, f"missing column{'s' * (len(missing) > 1)} {', '.join(missing)}; "
                                       f"the first line must be the header {expected}")
    unknown = [c for c in header if c not in columns and c not in optional]
    if unknown:
        raise KpiFileError(path, line, f"unknown column {unknown[0]!r}; the header must be {expected}")


def _time(path: Path, line: int, cells: dict[str, str], column: str) -> int:
    try:
        return parse_time(cells[column])
    except ValueError as exc:
        raise KpiFileError(path, line, f"{column}: {exc}") from None


def _whole(path: Path, line: int, cells: dict[str, str], column: str) -> int:
    text = cells[column]
    if not text.isascii() or not text.isdigit():
        raise KpiFileError(path, line, f"{column}: {text!r} is not a whole number ≥ 0")
    return int(text)


def _check_overlaps(path: Path, rows: Sequence[_Row], what: str, group: str = "") -> None:
    """Report the earliest-in-file row that overlaps another row of the same machine."""
    worst: tuple[int, int, str] | None = None  # (reported line, other line, machine)
    reach: dict[str, _Row] = {}
    for row in sorted(rows, key=lambda r: (r.machine, r.start_ms, r.line)):
        if row.end_ms == row.start_ms:
            continue
        holder = reach.get(row.machine)
        if holder is not None and row.start_ms < holder.end_ms:
            later, earlier = max(row.line, holder.line), min(row.line, holder.line)
            if worst is None or later < worst[0]:
                worst = (later, earlier, row.machine)
        if holder is None or row.end_ms > holder.end_ms:
            reach[row.machine] = row
    if worst is not None:
        later, earlier, machine = worst
        raise KpiFileError(path, later, f"{what} of machine {machine!r} overlaps the one on line {earlier}{group}")


@dataclass(frozen=True)
class KpiInput:
    """The three files, checked, as the time model's columns (machines by index into ``machines``)."""

    machines: list[str]
    states: StateLog
    counts: PartCounts
    shifts: Spans
    planned_downtime: Spans
    calendar_span: tuple[int, int] | None
    """earliest start and latest end in the calendar, the default report period"""


def read_files(*, events: Path, counts: Path, calendar: Path) -> KpiInput:
    """Read and check the three files (:class:`KpiFileError` on the first bad row)."""
    state_names = ", ".join(s.value for s in STATES)
    event_rows: list[tuple[_Row, State]] = []
    for row in _rows(events, EVENTS_COLUMNS, optional=("reason",)):
        try:
            state = State(row.cells["state"])
        except ValueError:
            raise KpiFileError(events, row.line, f"unknown state {row.cells['state']!r}; "
                                                 f"expected one of {state_names}") from None
        event_rows.append((row, state))
    _check_overlaps(events, [r for r, _ in event_rows], "state interval")

    count_rows: list[tuple[_Row, int, int, float]] = []
    for row in _rows(counts, COUNTS_COLUMNS):
        produced = _whole(counts, row.line, row.cells, "produced")
        good = _whole(counts, row.line, row.cells, "good")
        if good > produced:
            raise KpiFileError(counts, row.line, f"good {good} > produced {produced}")
        text = row.cells["ideal_cycle_s"]
        try:
            ideal = float(text)
        except ValueError:
            ideal = float("nan")
        if not 0 < ideal < float("inf"):
            raise KpiFileError(counts, row.line, f"ideal_cycle_s: {text!r} is not a positive number of seconds")
        count_rows.append((row, produced, good, ideal))
    _check_overlaps(counts, [r for r, *_ in count_rows], "count interval")

    calendar_rows: dict[str, list[_Row]] = {kind: [] for kind in CALENDAR_KINDS}
    for row in _rows(calendar, CALENDAR_COLUMNS):
        kind = row.cells["kind"]
        if kind not in calendar_rows:
            raise KpiFileError(calendar, row.line, f"unknown kind {kind!r}; expected shift or planned_downtime")
        calendar_rows[kind].append(row)
    for kind, rows in calendar_rows.items():
        _check_overlaps(calendar, rows, kind.replace("_", " "))

    all_calendar = [r for rows in calendar_rows.values() for r in rows]
    names = sorted({r.machine for r, _ in event_rows} | {r.machine for r, *_ in count_rows}
                   | {r.machine for r in all_calendar})
    index = {name: i for i, name in enumerate(names)}

    def spans(rows: Sequence[_Row]) -> Spans:
        return Spans.of((index[r.machine], r.start_ms, r.end_ms) for r in rows)

    return KpiInput(
        machines=names,
        states=StateLog.of((index[r.machine], r.start_ms, r.end_ms, s) for r, s in event_rows),
        counts=PartCounts.of((index[r.machine], r.start_ms, r.end_ms, p, g, c) for r, p, g, c in count_rows),
        shifts=spans(calendar_rows["shift"]),
        planned_downtime=spans(calendar_rows["planned_downtime"]),
        calendar_span=(min(r.start_ms for r in all_calendar), max(r.end_ms for r in all_calendar))
        if all_calendar else None,
    )


def report(data: KpiInput, period: Period) -> dict[str, Any]:
    """``{"period": {...}, "machines": {name: {...}}, "total": {...}}``, ready for JSON.

    Each machine object and the total have the time elements in seconds (``ct_s`` calendar
    time, ``pot_s``, ``pdot_s``, ``pbt_s``, ``apt_s``, ``aust_s`` setup, ``adet_s`` idle,
    ``adot_s`` unplanned down, ``offline_s``), ``failures``, the quantities (``produced``,
    ``good``, ``pri_pq_s`` = Σ ideal cycle × produced) and the KPIs (``availability``,
    ``effectiveness``, ``quality``, ``oee``, ``teep``, ``scrap_ratio``, ``mtbf_s``,
    ``mttr_s``; null where the denominator is 0). The total's KPIs come from the summed
    elements and quantities, never from averaging the machines' ratios.
    """
    n = len(data.machines)
    elements = time_elements(machines=n, period=period, states=data.states, shifts=data.shifts,
                             planned_downtime=data.planned_downtime)
    counts = production_counts(machines=n, period=period, counts=data.counts)
    return {
        "period": {"from": format_time(period.start_ms), "to": format_time(period.end_ms), "seconds": period.seconds},
        "machines": {name: report_entry(e, c) for name, e, c in zip(data.machines, elements, counts, strict=True)},
        "total": report_entry(sum(elements, TimeElements()), sum(counts, ProductionCounts())),
    }


def table(doc: dict[str, Any]) -> Table:
    """The :func:`report` document as a Rich table: a row per machine, then the total."""

    def share(x: float | None) -> str:
        return "–" if x is None else f"{x:.1%}"

    def hours(s: float | None, unit: float = 3600) -> str:
        return "–" if s is None else f"{s / unit:,.1f}"

    out = Table(title=f"ISO 22400-2 KPIs, {doc['period']['from']} – {doc['period']['to']}", box=box.SIMPLE_HEAD)
    out.add_column("machine", no_wrap=True)
    for column in ("PBT h", "A", "E", "QR", "OEE", "TEEP", "FE", "MTBF h", "MTTR min"):
        out.add_column(column, justify="right")
    rows = [*doc["machines"].items(), ("total", doc["total"])]
    for i, (name, m) in enumerate(rows):
        out.add_row(name, hours(m["pbt_s"]), share(m["availability"]), share(m["effectiveness"]),
                    share(m["quality"]), share(m["oee"]), share(m["teep"]), str(m["failures"]),
                    hours(m["mtbf_s"]), hours(m["mttr_s"], 60), end_section=i == len(rows) - 2)
    return out
