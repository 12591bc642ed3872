"""Operations logic: rules, reasons and calendars as tenant resources, machine states, stop reasons."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.auth.models import MANAGERS
from commonworks.core.crud import EDITORS, Resource, check_writer
from commonworks.core.database import utcnow
from commonworks.core.errors import Invalid
from commonworks.operations.calendar import PlannedTime, planned_time, subtract
from commonworks.operations.counts import HOUR_MS
from commonworks.operations.intervals import Measure
from commonworks.operations.kpi import ProductionCounts, TimeElements, report_entry
from commonworks.operations.models import AlarmRule, DowntimeReason, MachineStateInterval, ShiftCalendar, StateRuleRow
from commonworks.operations.reasons import STANDARD
from commonworks.operations.schemas import (
    AlarmRuleCreate,
    AlarmRuleOut,
    AlarmRuleUpdate,
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    ReasonAssign,
    ReasonCreate,
    ReasonOut,
    ReasonUpdate,
    StateIntervalOut,
    StateRuleCreate,
    StateRuleOut,
    StateRuleUpdate,
)
from commonworks.operations.states import State
from commonworks.operations.timemodel import (
    STATE_CODE,
    PartCounts,
    Period,
    Spans,
    StateLog,
    production_counts,
    time_elements,
)
from commonworks.telemetry.models import Line, Machine, Site

OPERATIONS_RESOURCES = [
    Resource(model=StateRuleRow, name="state rule", path="/state-rules", create=StateRuleCreate,
             update=StateRuleUpdate, out=StateRuleOut, references={"machine_id": Machine}, tags=["operations"],
             writers=MANAGERS),
    Resource(model=DowntimeReason, name="downtime reason", path="/downtime-reasons", create=ReasonCreate,
             update=ReasonUpdate, out=ReasonOut, references={"parent_id": DowntimeReason}, unique=[("code",)],
             tags=["operations"], writers=MANAGERS),
    Resource(model=AlarmRule, name="alarm rule", path="/alarm-rules", create=AlarmRuleCreate, update=AlarmRuleUpdate,
             out=AlarmRuleOut, references={"machine_id": Machine}, tags=["alarms"], writers=MANAGERS),
    Resource(model=ShiftCalendar, name="shift calendar", path="/shift-calendars", create=CalendarCreate,
             update=CalendarUpdate, out=CalendarOut,
             references={"site_id": Site, "line_id": Line, "machine_id": Machine}, tags=["operations"],
             writers=MANAGERS),
]

STOPS = (State.idle, State.setup, State.down_unplanned, State.down_planned, State.offline)
MAX_RANGE_MS = 92 * 86_400_000


def install_standard_reasons(session: Session, org_id: int) -> int:
    """Add the standard reason tree's codes the tenant does not have yet; returns how many were added."""
    have = set(session.scalars(select(DowntimeReason.code).where(DowntimeReason.org_id == org_id)))
    added = 0
    for code, zh, en, category, loss, children in STANDARD:
        parent = session.scalar(select(DowntimeReason).where(DowntimeReason.org_id == org_id,
                                                             DowntimeReason.code == code))
        if parent is None:
            parent = DowntimeReason(org_id=org_id, code=code, name_zh=zh, name_en=en, category=category, loss=loss)
            session.add(parent)
            session.flush()
            added += 1
        for child in children:
            if child[0] in have:
                continue
            c_category, c_loss = (child[3], child[4]) if len(child) > 3 else (category, loss)
            session.add(DowntimeReason(org_id=org_id, code=child[0], name_zh=child[1], name_en=child[2],
                                       parent_id=parent.id, category=c_category, loss=c_loss))
            added += 1
    session.flush()
    return added


def check_range(start_ms: int, end_ms: int) -> None:
    if end_ms <= start_ms:
        raise Invalid("end must be after start", field="end")
    if end_ms - start_ms > MAX_RANGE_MS:
        raise Invalid("ask for at most 92 days at a time", field="end")


def _state_rows(session: Session, caller: Principal, machine_id: int, start_ms: int, end_ms: int) -> list[Any]:
    """(id, machine_id, start_ms, end_ms, state, reason_id, reason_by, reason_at, note) of the machine's
    intervals overlapping [start, end), by start, as plain rows through the Core connection: 30 days of a
    machine are thousands of intervals, too many to load as ORM objects."""
    check_range(start_ms, end_ms)
    machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
    t = MachineStateInterval
    session.flush()
    return session.connection().execute(select(
        t.id, t.machine_id, t.start_ms, t.end_ms, t.state, t.reason_id, t.reason_by, t.reason_at, t.note).where(
        t.machine_id == machine.id, t.start_ms < end_ms, t.end_ms > start_ms).order_by(t.start_ms)).all()


def machine_states(session: Session, caller: Principal, machine_id: int, start_ms: int,
                   end_ms: int) -> list[StateIntervalOut]:
    """The machine's intervals overlapping [start, end), the first and last clipped to the range."""
    rows = _state_rows(session, caller, machine_id, start_ms, end_ms)
    # built without re-validation: thousands of rows for a month
    return [StateIntervalOut.model_construct(id=i, machine_id=m, start_ms=max(a, start_ms), end_ms=min(b, end_ms),
                                             state=state, reason_id=reason, reason_by=by, reason_at=at, note=note)
            for i, m, a, b, state, reason, by, at, note in rows]


def machine_states_json(session: Session, caller: Principal, machine_id: int, start_ms: int, end_ms: int) -> bytes:
    """:func:`machine_states` as the JSON array the API answers with (the fields of ``StateIntervalOut``).

    The machine page asks for a month of a machine's states — thousands of intervals. Building a
    Pydantic object per interval and serialising those took ~37 ms of a ~55 ms request for 3,500
    intervals (bench/oee.py's page machine); plain dicts through orjson take ~10 ms and give the same
    bytes (orjson writes enums by value and datetimes in ISO 8601 as Pydantic does, ``Z`` for UTC).
    """
    rows = _state_rows(session, caller, machine_id, start_ms, end_ms)
    return orjson.dumps([{"id": i, "machine_id": m, "start_ms": max(a, start_ms), "end_ms": min(b, end_ms),
                          "state": state, "reason_id": reason, "reason_by": by, "reason_at": at, "note": note}
                         for i, m, a, b, state, reason, by, at, note in rows], option=orjson.OPT_UTC_Z)


def assign_reason(session: Session, caller: Principal, interval_id: int, data: ReasonAssign) -> MachineStateInterval:
    """Give a stop its reason (and a note); producing time has none."""
    check_writer(caller, EDITORS)
    interval = get_in_tenant(session, MachineStateInterval, interval_id, caller, what="machine state")
    if interval.state not in STOPS:
        raise Invalid("only stops (idle, setup, down, offline) take a reason", field="reason_id")
    if data.reason_id is not None:
        reason = get_in_tenant(session, DowntimeReason, data.reason_id, caller, what="downtime reason")
        if not reason.active:
            raise Invalid(f"reason {reason.code} is retired", field="reason_id")
    interval.reason_id = data.reason_id
    interval.note = data.note
    interval.reason_by = caller.user.id
    interval.reason_at = utcnow()
    session.flush()
    return interval


# ---------------------------------------------------------------- KPIs and Pareto from stored data


def scoped_machines(session: Session, caller: Principal, *, machine_id: int | None = None, line_id: int | None = None,
                    site_id: int | None = None) -> list[Machine]:
    """The caller's machines, all or of one machine, line or site (404 for a scope not the caller's)."""
    if sum(x is not None for x in (machine_id, line_id, site_id)) > 1:
        raise Invalid("give at most one of machine_id, line_id, site_id", field="machine_id")
    query = select(Machine).where(Machine.org_id == caller.org_id).order_by(Machine.id)
    if machine_id is not None:
        query = query.where(Machine.id == get_in_tenant(session, Machine, machine_id, caller, what="machine").id)
    elif line_id is not None:
        query = query.where(Machine.line_id == get_in_tenant(session, Line, line_id, caller, what="line").id)
    elif site_id is not None:
        site = get_in_tenant(session, Site, site_id, caller, what="site")
        query = query.where(Machine.line_id.in_(select(Line.id).where(Line.site_id == site.id)))
    return list(session.scalars(query))


def calendar_of(machine: Machine, line_site: dict[int, int], calendars: list[ShiftCalendar]) -> ShiftCalendar | None:
    """The most specific calendar: the machine's, its line's, its site's, else the organization's."""
    for match in (lambda c: c.machine_id == machine.id, lambda c: c.line_id == machine.line_id,
                  lambda c: c.site_id == line_site.get(machine.line_id),
                  lambda c: c.machine_id is None and c.line_id is None and c.site_id is None):
        found = [c for c in calendars if match(c)]
        if found:
            return min(found, key=lambda c: c.id)
    return None


def ideal_cycle_s(machine: Machine) -> float | None:
    """The machine's fastest ideal cycle time (ISO 22400's PRI for the best case): what a part is valued at when
    the part being made is not known — the machine has no part tag, or the tag's value has no ideal cycle time.
    Parts whose part is known are valued at its own cycle when they are counted (:mod:`.derive`)."""
    values = [float(v) for v in (machine.ideal_cycle_times or {}).values() if v]
    return min(values) if values else None


_PLANNED_RUN_MS_SQL = "CAST(ROUND(COALESCE(planned_run_s, 0) * 1000) AS BIGINT)"
_STATE_CODE_SQL = "CASE state " + " ".join(f"WHEN '{s.value}' THEN {c}" for s, c in STATE_CODE.items()) + " END"


def _machine_columns(session: Session, table: str, columns: list[str], where: str) -> np.ndarray:
    """``machine_id`` and the integer expressions ``columns`` of the rows of ``table`` matching ``where``,
    as an (n, 1 + len(columns)) int64 array, in no particular order.

    Read straight from the driver, without SQLAlchemy rows or a Python step per value: for 200
    machines × 30 days (~600k intervals) ``Result.all()`` and a generator per column were over
    90 % of :func:`kpi_report`. PostgreSQL packs each machine's rows into one ``bytea``
    (``string_agg`` of ``int8send``) that numpy reads as big-endian int64 — one value per machine
    crosses the wire instead of a message per row (a ``COPY … TO STDOUT`` costs a Python call per
    row in psycopg); SQLite lists each machine's values per column as text for numpy to parse. The expressions
    must not be NULL; ``where`` may hold only trusted literals (integers formatted by the caller).
    """
    conn = session.connection()
    driver = conn.connection.driver_connection
    width = 1 + len(columns)
    if conn.dialect.name == "postgresql":
        packed = " || ".join(f"int8send(({c})::int8)" for c in columns)
        rows = driver.cursor(binary=True).execute(  # type: ignore[union-attr]
            f"SELECT machine_id, count(*), string_agg({packed}, ''::bytea) FROM {table} WHERE {where} "
            "GROUP BY machine_id").fetchall()
        out = np.empty((sum(r[1] for r in rows), width), dtype=np.int64)
        out[:, 0] = np.repeat(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows])
        out[:, 1:] = np.frombuffer(b"".join(r[2] for r in rows), dtype=">i8").reshape(-1, width - 1)
        return out
    # SQLite: one text list per machine and column (``group_concat`` sees the rows of a group in the same order
    # for every column), parsed by numpy. A Python tuple per row cost about 1.3 µs (0.86 s for 600k intervals);
    # this is a third of that.
    lists = ", ".join(f"group_concat({c})" for c in columns)
    rows = driver.cursor().execute(  # type: ignore[union-attr]
        f"SELECT machine_id, count(*), {lists} FROM {table} WHERE {where} GROUP BY machine_id").fetchall()
    counts = [r[1] for r in rows]
    out = np.empty((sum(counts), width), dtype=np.int64)
    out[:, 0] = np.repeat(np.array([r[0] for r in rows], dtype=np.int64), counts)
    for j in range(1, width):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy warns (and stops) at text it cannot read: a non-integer
            out[:, j] = np.fromstring(",".join(r[1 + j] for r in rows), dtype=np.int64, sep=",")
    return out


class _MachineIndex:
    """Machine ids → positions in the caller's list of machines, vectorised."""

    def __init__(self, ids: list[int]) -> None:
        arr = np.asarray(ids, dtype=np.int64)
        self._order = np.argsort(arr, kind="stable")
        self._sorted = arr[self._order]

    def __call__(self, machine_ids: np.ndarray) -> np.ndarray:
        return self._order[np.searchsorted(self._sorted, machine_ids)].astype(np.int64)


def _spans_for(users: dict[int | None, list[int]], spans: dict[int | None, list[tuple[int, int]]]) -> Spans:
    """Each calendar's spans, repeated for every machine it plans."""
    machine, start, end = [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)], [np.empty(0, dtype=np.int64)]
    for calendar, indices in users.items():
        pairs = np.asarray(spans[calendar], dtype=np.int64).reshape(-1, 2)
        machine.append(np.repeat(np.asarray(indices, dtype=np.int64), len(pairs)))
        start.append(np.tile(pairs[:, 0], len(indices)))
        end.append(np.tile(pairs[:, 1], len(indices)))
    return Spans(np.concatenate(machine), np.concatenate(start), np.concatenate(end))


def _plans(session: Session, machines: list[Machine], lo: int, hi: int) -> tuple[list[int | None],
                                                                                 dict[int | None, PlannedTime]]:
    """Each machine's calendar id (None: none, planned around the clock) and each calendar's planned time
    in [lo, hi)."""
    line_site = dict(session.execute(select(Line.id, Line.site_id).where(Line.org_id == machines[0].org_id)).all()) \
        if machines else {}
    calendars = list(session.scalars(select(ShiftCalendar).where(
        ShiftCalendar.org_id == machines[0].org_id))) if machines else []
    planned: dict[int | None, PlannedTime] = {None: PlannedTime(shifts=[(lo, hi)], planned_down=[])}
    chosen: list[int | None] = []
    for machine in machines:
        calendar = calendar_of(machine, line_site, calendars)
        chosen.append(calendar.id if calendar else None)
        if calendar is not None and calendar.id not in planned:
            planned[calendar.id] = planned_time(calendar.shifts, calendar.exceptions, calendar.timezone, lo, hi)
    return chosen, planned


def kpi_report(session: Session, machines: list[Machine], start_ms: int, end_ms: int) -> dict[str, Any]:
    """ISO 22400-2 time elements, quantities and KPIs per machine over [start, end), and their roll-up.

    The plan comes from each machine's shift calendar; a machine without one is planned
    around the clock (and says so: ``calendar_id`` null). ΣPRI×PQ is the planned run time of what
    was made (ISO 22400-2: PRI of each item): the hourly counts carry it for the parts whose part tag
    value has its own ideal cycle time; the other parts — ``parts_without_own_cycle`` — are valued
    at the machine's fastest ideal cycle (``ideal_cycle_s``). A machine without any ideal cycle
    time has no effectiveness, OEE or TEEP, and adds no ΣPRI×PQ to the total.
    """
    check_range(start_ms, end_ms)
    period = Period(start_ms, end_ms)
    n = len(machines)
    machine_index = _MachineIndex([m.id for m in machines])
    id_list = ",".join(str(int(m.id)) for m in machines) or "NULL"
    lo, hi = int(start_ms), int(end_ms)
    rows = _machine_columns(session, "machine_states", ["start_ms", "end_ms", _STATE_CODE_SQL],
                            f"machine_id IN ({id_list}) AND start_ms < {hi} AND end_ms > {lo}")
    # by machine, then start: the order the time model checks fastest (clipped starts are distinct per
    # machine, since a machine's intervals do not overlap, and lie within the ≤ 92-day range: one int64 key)
    row_machine, row_start = machine_index(rows[:, 0]), np.maximum(rows[:, 1], lo)
    key = (row_machine << 40) + (row_start - lo)
    if not np.all(key[1:] > key[:-1]):
        order = np.argsort(key)
        rows, row_machine, row_start = rows[order], row_machine[order], row_start[order]
    states = StateLog(row_machine, row_start, np.minimum(rows[:, 2], hi), rows[:, 3].astype(np.int8))
    chosen, planned = _plans(session, machines, lo, hi)
    users: dict[int | None, list[int]] = {}  # calendar → indices of the machines it plans
    for i, calendar_id in enumerate(chosen):
        users.setdefault(calendar_id, []).append(i)
    elements = time_elements(machines=n, period=period, states=states,
                             shifts=_spans_for(users, {c: planned[c].shifts for c in users}),
                             planned_downtime=_spans_for(users, {c: planned[c].planned_down for c in users}))
    ideal = [ideal_cycle_s(m) for m in machines]
    counts_rows = _machine_columns(  # the planned run time in whole milliseconds (the helper reads integers)
        session, "machine_counts", ["hour_ms", "produced", "good", _PLANNED_RUN_MS_SQL, "COALESCE(own_cycle_parts, 0)"],
        f"machine_id IN ({id_list}) AND hour_ms > {lo - HOUR_MS} AND hour_ms <= {hi - HOUR_MS}")
    count_machine = machine_index(counts_rows[:, 0])
    ideal_of = np.array([c or 0.0 for c in ideal], dtype=np.float64)
    produced = counts_rows[:, 2]
    fallback_parts = produced - np.minimum(counts_rows[:, 5], produced)  # valued at the machine's fastest cycle
    planned = counts_rows[:, 4] / 1000 + fallback_parts * ideal_of[count_machine]
    planned[ideal_of[count_machine] == 0] = 0.0  # a machine without ideal cycle times (any more) is not judged
    hour_end = counts_rows[:, 1] + HOUR_MS
    counts = production_counts(machines=n, period=period, counts=PartCounts(
        count_machine, counts_rows[:, 1], hour_end, produced, counts_rows[:, 3], ideal_of[count_machine], planned))
    inside = (hour_end > lo) & (hour_end <= hi)
    without_own = np.bincount(count_machine[inside], weights=fallback_parts[inside], minlength=n).round().astype(int)
    entries = []
    for machine, e, c, cycle, calendar_id, others in zip(machines, elements, counts, ideal, chosen,
                                                         without_own.tolist(), strict=True):
        entry = {"machine_id": machine.id, "key": machine.key, "name": machine.name, "calendar_id": calendar_id,
                 "ideal_cycle_s": cycle, "part_tag_key": machine.part_tag_key, **report_entry(e, c),
                 "parts_without_own_cycle": others}
        if cycle is None:
            entry.update(effectiveness=None, oee=None, teep=None)
        entries.append(entry)
    return {"start": start_ms, "end": end_ms, "machines": entries,
            "total": {**report_entry(sum(elements, TimeElements()), sum(counts, ProductionCounts())),
                      "parts_without_own_cycle": int(without_own.sum())},
            "machines_without_ideal_cycle": [m.key for m, c in zip(machines, ideal, strict=True) if c is None]}


def downtime_pareto(session: Session, machines: list[Machine], start_ms: int, end_ms: int, *, by: str = "duration",
                    micro_stop_s: float = 120.0) -> list[dict[str, Any]]:
    """Stops in [start, end) grouped by reason, largest first, with each group's share and the running share.

    Stops without a reason are grouped by their state (unassigned); stops shorter than
    ``micro_stop_s`` without a reason count as micro-stops. ``by``: duration or count.

    Only stop time inside each machine's planned busy time counts — its calendar's shifts less their
    breaks and planned downtime (around the clock without a calendar), the time the KPIs judge — and
    a stop with none of it is not counted at all. A machine switched off overnight or idle over lunch
    has lost nothing then; counted, those hours led every Pareto. So the unassigned setup, down and
    idle (with micro-stop) time of a Pareto are the KPIs' AUST, ADOT and ADET. Whether a stop is a
    micro-stop is judged on its whole length.
    """
    check_range(start_ms, end_ms)
    session.flush()
    t = MachineStateInterval
    rows = session.connection().execute(select(  # plain rows: a month of stops is thousands
        t.machine_id, t.start_ms, t.end_ms, t.state, t.reason_id).where(
        t.machine_id.in_([m.id for m in machines]), t.state.in_([s.value for s in STOPS]), t.start_ms < end_ms,
        t.end_ms > start_ms)).all() if machines else []
    chosen, planned = _plans(session, machines, start_ms, end_ms)
    position = {m.id: i for i, m in enumerate(machines)}
    calendar = np.array([-1 if c is None else c for c in chosen], dtype=np.int64)[
        np.array([position[r[0]] for r in rows], dtype=np.int64)]
    lo = np.array([max(r[1], start_ms) for r in rows], dtype=np.int64)
    hi = np.array([min(r[2], end_ms) for r in rows], dtype=np.int64)
    busy_ms = np.zeros(len(rows), dtype=np.int64)  # of each stop, the time inside planned busy time
    for calendar_id in set(chosen):
        plan = planned[calendar_id]
        busy = subtract(plan.shifts, plan.planned_down)  # both normalized and within the range
        mine = calendar == (-1 if calendar_id is None else calendar_id)
        if busy and mine.any():
            measure = Measure(np.array([a for a, _ in busy], dtype=np.int64),
                              np.array([b for _, b in busy], dtype=np.int64))
            busy_ms[mine] = measure.between(lo[mine], hi[mine])
    reasons = {r.id: r for r in session.scalars(select(DowntimeReason).where(
        DowntimeReason.id.in_({r[4] for r in rows if r[4] is not None})))}
    groups: dict[tuple[str, Any], dict[str, Any]] = {}
    for (_, a, b, state, reason_id), inside in zip(rows, busy_ms.tolist(), strict=True):
        if inside <= 0:
            continue
        seconds = inside / 1000
        if reason_id is not None and reason_id in reasons:
            r = reasons[reason_id]
            key: tuple[str, Any] = ("reason", r.id)
            label = {"reason_id": r.id, "code": r.code, "name_zh": r.name_zh, "name_en": r.name_en,
                     "loss": r.loss.value, "state": None}
        elif (b - a) / 1000 < micro_stop_s and State(state) is not State.offline:
            key = ("micro", None)
            label = {"reason_id": None, "code": "MICRO", "name_zh": "短暂停机（未归因）",
                     "name_en": "Micro-stops (unassigned)", "loss": "small_stops", "state": None}
        else:
            key = ("state", State(state).value)
            label = {"reason_id": None, "code": None, "name_zh": None, "name_en": None, "loss": None,
                     "state": State(state).value}
        group = groups.setdefault(key, {**label, "seconds": 0.0, "count": 0})
        group["seconds"] += seconds
        group["count"] += 1
    measure = "seconds" if by == "duration" else "count"
    ordered = sorted(groups.values(), key=lambda g: (-g[measure], -g["seconds"], str(g["code"] or g["state"])))
    total = sum(g[measure] for g in ordered) or 1
    running = 0.0
    for g in ordered:
        running += g[measure]
        g["share"] = g[measure] / total
        g["cumulative_share"] = running / total
    return ordered
