"""The ISO 22400-2 time model: machine-state intervals and a shift calendar → time elements.

Pure and columnar: numpy arrays of interval starts, ends (epoch milliseconds, UTC, as
stored) and state codes for any number of machines in, one :class:`TimeElements` and one
:class:`ProductionCounts` per machine out — no database, no I/O. The database, the
``commonworks kpi`` tool and the benchmarks all feed the same two functions,
:func:`time_elements` and :func:`production_counts`; the KPIs are then
:func:`commonworks.operations.kpi.kpis` of an element/count pair or of their sums.

Decisions, in the standard's terms (all within the report period ``[start, end)``):

* **POT** (planned operation time) is the time covered by ``shift`` calendar intervals.
  Overlapping or touching shifts count once.
* **PDOT** (planned down time) is the part of the shifts covered by ``planned_downtime``
  calendar intervals *or* by ``down_planned`` machine states: a stop the machine (or an
  operator) reports as planned is planned, calendar or not. Planned downtime outside a
  shift is nothing — that time was not planned for operation in the first place.
* **PBT** (planned busy time) = POT − PDOT. Only PBT is divided further; the plan wins:
  a machine producing through its lunch break adds to PDOT, not to APT (its parts still
  count, so E shows it — see :mod:`.kpi`).
* Within PBT the machine state decides: ``producing`` → **APT**, ``setup`` → **AUST**,
  ``idle`` → **ADET** (delay), ``down_unplanned`` → **ADOT**, and ``offline`` *or no state
  at all* → **offline**, an element of our own. ISO 22400-2 assumes the state is always
  known; a gateway that went silent is not. Offline time is neither production nor a
  breakdown, so it lowers availability (it is in PBT but not in APT) and is reported
  separately to make "we don't know" visible instead of charging it to a cause.
  PBT = APT + AUST + ADET + ADOT + offline, exactly.
* **Time outside the shifts** is outside PBT whatever the machine did. It still counts in
  **CT** (calendar time = the whole period, per machine), which TEEP divides by.
* **A failure event (FE)** is a maximal run of ``down_unplanned`` — state intervals that
  touch are one breakdown — that reaches into PBT. It belongs to the period holding its
  first moment inside PBT, so a breakdown across a lunch break or across midnight is one
  failure, counted once: failures, like the time elements, add up exactly when a period
  is split.
* **Counts belong to the period in which their interval ends** (period start < end ≤
  period end), whole — a part is made when it is finished, and a counter reading is a
  total up to its timestamp. Prorating by overlap would invent
  fractions of parts. Counts are not cut to the shifts: a part made is a part made.
  Each count row carries the planned run time of its parts (ΣPRI·PQ of the row: PRI is the
  ideal cycle time of the part actually made, which a row of a machine running several
  programs mixes); without one it is ideal_cycle_s × produced, so ΣPRI·PQ sums the rows.
* Intervals are half-open, integer milliseconds; empty ones (start = end) are ignored.
  Intervals of one machine's states must not overlap (``ValueError`` otherwise — the
  file reader reports the rows); calendar intervals may, they are merged.

Everything is vectorised over all machines at once (see :mod:`.intervals`): the cost is a
few passes over the state intervals plus ``searchsorted`` into the calendar — about half
a second for 200 machines × 30 days with a state change every five minutes (1.7 million
intervals) on the 2-core development machine. Stored intervals come sorted by machine
and start; then the overlap check needs no sort either.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from commonworks.operations.intervals import Measure, Timeline, difference, first_inside, first_overlap, union
from commonworks.operations.kpi import ProductionCounts, TimeElements
from commonworks.operations.states import STATES, State

STATE_CODE: dict[State, int] = {s: i for i, s in enumerate(STATES)}
"""State → the int8 code used in :class:`StateLog` (the order of :data:`STATES`)."""

_PRODUCING, _IDLE, _SETUP = STATE_CODE[State.producing], STATE_CODE[State.idle], STATE_CODE[State.setup]
_DOWN, _PLANNED, _OFFLINE = STATE_CODE[State.down_unplanned], STATE_CODE[State.down_planned], STATE_CODE[State.offline]


def _ints(values: object) -> NDArray[np.int64]:
    return np.asarray(values, dtype=np.int64).reshape(-1)


def _columns(rows: Iterable[tuple[object, ...]], width: int) -> list[tuple[object, ...]]:
    listed = list(rows)
    return list(zip(*listed, strict=True)) if listed else [()] * width


@dataclass(frozen=True)
class Period:
    """The report period ``[start_ms, end_ms)``, epoch milliseconds."""

    start_ms: int
    end_ms: int

    def __post_init__(self) -> None:
        if self.end_ms <= self.start_ms:
            raise ValueError("the period must end after it starts")

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


@dataclass(frozen=True)
class Spans:
    """Intervals ``[start_ms, end_ms)`` of machines (indices into the caller's list of machines).

    >>> Spans.of([(0, 0, 1_000), (1, 500, 900)]).end_ms.tolist()
    [1000, 900]
    """

    machine: NDArray[np.int64]
    start_ms: NDArray[np.int64]
    end_ms: NDArray[np.int64]

    @classmethod
    def of(cls, rows: Iterable[tuple[int, int, int]]) -> Spans:
        """From ``(machine, start_ms, end_ms)`` rows (tests, examples, small callers)."""
        m, s, e = _columns(rows, 3)
        return cls(_ints(m), _ints(s), _ints(e))

    def _check(self, what: str, machines: int, *others: NDArray[np.generic]) -> None:
        n = self.machine.size
        if any(a.shape != (n,) for a in (self.start_ms, self.end_ms, *others)):
            raise ValueError(f"{what}: the columns differ in length")
        if n and (self.machine.min() < 0 or self.machine.max() >= machines):
            raise ValueError(f"{what}: machine index out of range 0..{machines - 1}")
        if np.any(self.end_ms < self.start_ms):
            raise ValueError(f"{what}: an interval ends before it starts")


@dataclass(frozen=True)
class StateLog(Spans):
    """Machine-state intervals; ``state`` holds :data:`STATE_CODE` codes (int8).

    >>> log = StateLog.of([(0, 0, 600_000, "setup"), (0, 600_000, 3_600_000, State.producing)])
    >>> log.state.tolist()
    [2, 0]
    """

    state: NDArray[np.int8]

    @classmethod
    def of(cls, rows: Iterable[tuple[int, int, int, State | str]]) -> StateLog:  # type: ignore[override]
        """From ``(machine, start_ms, end_ms, state)`` rows."""
        m, s, e, st = _columns(rows, 4)
        codes = np.array([STATE_CODE[State(x)] for x in st], dtype=np.int8)
        return cls(_ints(m), _ints(s), _ints(e), codes)


@dataclass(frozen=True)
class PartCounts(Spans):
    """Part counts over intervals: produced, good, and the ideal cycle time (seconds per part) — or, when
    ``planned_run_s`` is given, the planned run time of each row's parts (seconds, ΣPRI·PQ of the row), which
    then counts instead of ``ideal_cycle_s × produced``."""

    produced: NDArray[np.int64]
    good: NDArray[np.int64]
    ideal_cycle_s: NDArray[np.float64]
    planned_run_s: NDArray[np.float64] | None = None

    @classmethod
    def of(cls, rows: Iterable[tuple[int, int, int, int, int, float]]) -> PartCounts:  # type: ignore[override]
        """From ``(machine, start_ms, end_ms, produced, good, ideal_cycle_s)`` rows."""
        cols = _columns(rows, 6)
        return cls(_ints(cols[0]), _ints(cols[1]), _ints(cols[2]), _ints(cols[3]), _ints(cols[4]),
                   np.asarray(cols[5], dtype=np.float64).reshape(-1))


def time_elements(*, machines: int, period: Period, states: StateLog, shifts: Spans,
                  planned_downtime: Spans) -> list[TimeElements]:
    """The time elements of machines ``0 .. machines − 1`` over ``period``.

    One 8-hour shift (06:00–14:00, times here in minutes from midnight) with a 30-minute
    break; 20 min setup, two breakdowns of 30 and 15 min, producing the rest — also
    through the break, which the plan turns into planned down time:

    >>> m = 60_000
    >>> log = StateLog.of([(0, 360 * m, 380 * m, "setup"), (0, 380 * m, 420 * m, "producing"),
    ...                    (0, 420 * m, 450 * m, "down_unplanned"), (0, 450 * m, 720 * m, "producing"),
    ...                    (0, 720 * m, 735 * m, "down_unplanned"), (0, 735 * m, 840 * m, "producing")])
    >>> [te] = time_elements(machines=1, period=Period(0, 1_440 * m), states=log,
    ...                      shifts=Spans.of([(0, 360 * m, 840 * m)]),
    ...                      planned_downtime=Spans.of([(0, 600 * m, 630 * m)]))
    >>> te.ct, te.pot, te.pdot, te.pbt, te.apt, te.aust, te.adet, te.adot, te.offline, te.failures
    (86400.0, 28800.0, 1800.0, 27000.0, 23100.0, 1200.0, 0.0, 2700.0, 0.0, 2)
    """
    states._check("states", machines, states.state)
    shifts._check("shifts", machines)
    planned_downtime._check("planned downtime", machines)
    line = Timeline.covering(machines, period.start_ms, period.end_ms, shifts.start_ms, shifts.end_ms,
                             planned_downtime.start_ms, planned_downtime.end_ms, states.start_ms, states.end_ms)
    shift_set = union(line.key(shifts.machine, shifts.start_ms), line.key(shifts.machine, shifts.end_ms))
    calendar_down = union(line.key(planned_downtime.machine, planned_downtime.start_ms),
                          line.key(planned_downtime.machine, planned_downtime.end_ms))
    busy_set = difference(shift_set, calendar_down)  # PBT before down_planned states are taken out
    busy = Measure(*busy_set)
    lo, hi = line.starts(period.start_ms), line.starts(period.end_ms)
    pot = Measure(*shift_set).between(lo, hi)
    busy_in_period = busy.between(lo, hi)

    base = line.key(states.machine, 0)  # key = base + t, computed once for the (many) state intervals
    start_key, end_key = base + states.start_ms, base + states.end_ms
    if (pair := first_overlap(start_key, end_key)) is not None:
        i, j = pair
        raise ValueError(f"states: intervals {i} and {j} of machine {int(states.machine[i])} overlap")
    clipped_start = base + np.clip(states.start_ms, period.start_ms, period.end_ms)
    clipped_end = base + np.clip(states.end_ms, period.start_ms, period.end_ms)
    in_busy = busy.between(clipped_start, clipped_end)
    n_states = len(STATES)
    if states.state.size and (states.state.min() < 0 or states.state.max() >= n_states):
        raise ValueError(f"states: state codes must be 0..{n_states - 1}")
    by_state = np.bincount(states.machine * n_states + states.state, weights=in_busy,
                           minlength=machines * n_states).reshape(machines, n_states)
    by_state = np.rint(by_state).astype(np.int64)  # sums of integers, exact below 2**53

    planned_states = by_state[:, _PLANNED]
    pdot = pot - busy_in_period + planned_states
    no_state = busy_in_period - by_state.sum(axis=1)  # PBT that no state interval covers

    down = states.state == _DOWN
    run_start, run_end = union(start_key[down], end_key[down])
    first = first_inside(run_start, run_end, *busy_set)
    run_machine = line.machine_of(run_start)
    counted = (first < run_end) & (first >= lo[run_machine]) & (first < hi[run_machine])
    failures = np.bincount(run_machine[counted], minlength=machines)

    seconds = np.column_stack([pot, pdot, by_state[:, _PRODUCING], by_state[:, _SETUP], by_state[:, _IDLE],
                               by_state[:, _DOWN], by_state[:, _OFFLINE] + no_state]) / 1000
    ct = period.seconds
    return [TimeElements(ct=ct, pot=pot_s, pdot=pdot_s, apt=apt, aust=aust, adet=adet, adot=adot, offline=offline,
                         failures=fe)
            for (pot_s, pdot_s, apt, aust, adet, adot, offline), fe in zip(seconds.tolist(), failures.tolist(),
                                                                          strict=True)]


def production_counts(*, machines: int, period: Period, counts: PartCounts) -> list[ProductionCounts]:
    """PQ, GQ and ΣPRI·PQ of machines ``0 .. machines − 1`` from the count rows ending in ``period``.

    >>> h = 3_600_000
    >>> rows = PartCounts.of([(0, 0, h, 180, 175, 20.0), (0, h, 2 * h, 150, 150, 20.0),
    ...                       (0, 2 * h, 3 * h, 99, 99, 20.0)])  # the last one ends after the period
    >>> production_counts(machines=1, period=Period(0, 2 * h), counts=rows)
    [ProductionCounts(pq=330, gq=325, pri_pq=6600.0)]

    The same hours with the planned run time of what was made: the first hour 120 parts of a 20 s
    program and 60 of a 30 s one (2,400 + 1,800 s), the second 150 of the 20 s one (3,000 s):

    >>> mixed = PartCounts(rows.machine, rows.start_ms, rows.end_ms, rows.produced, rows.good,
    ...                    rows.ideal_cycle_s, planned_run_s=np.array([4_200.0, 3_000.0, 1_980.0]))
    >>> production_counts(machines=1, period=Period(0, 2 * h), counts=mixed)
    [ProductionCounts(pq=330, gq=325, pri_pq=7200.0)]
    """
    planned = counts.ideal_cycle_s * counts.produced if counts.planned_run_s is None else counts.planned_run_s
    counts._check("counts", machines, counts.produced, counts.good, counts.ideal_cycle_s, planned)
    if np.any(counts.produced < 0) or np.any(counts.good < 0) or np.any(counts.good > counts.produced):
        raise ValueError("counts: need 0 ≤ good ≤ produced")
    if not np.all(np.isfinite(counts.ideal_cycle_s)) or np.any(counts.ideal_cycle_s < 0):
        raise ValueError("counts: ideal cycle times must be finite and not negative")
    if not np.all(np.isfinite(planned)) or np.any(planned < 0):
        raise ValueError("counts: planned run times must be finite and not negative")
    inside = (counts.end_ms > period.start_ms) & (counts.end_ms <= period.end_ms)
    m = counts.machine[inside]
    pq = np.bincount(m, weights=counts.produced[inside], minlength=machines)
    gq = np.bincount(m, weights=counts.good[inside], minlength=machines)
    pri_pq = np.bincount(m, weights=planned[inside], minlength=machines)
    return [ProductionCounts(pq=round(p), gq=round(g), pri_pq=t)
            for p, g, t in zip(pq.tolist(), gq.tolist(), pri_pq.tolist(), strict=True)]
