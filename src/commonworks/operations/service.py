"""Operations logic: rules, reasons and calendars as tenant resources, machine states, stop reasons."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.auth.models import MANAGERS
from commonworks.core.crud import EDITORS, Resource, check_writer
from commonworks.core.database import utcnow
from commonworks.core.errors import Invalid
from commonworks.operations.calendar import PlannedTime, planned_time
from commonworks.operations.counts import HOUR_MS
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


def machine_states(session: Session, caller: Principal, machine_id: int, start_ms: int,
                   end_ms: int) -> list[MachineStateInterval]:
    """The machine's intervals overlapping [start, end), the first and last clipped to the range."""
    check_range(start_ms, end_ms)
    machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
    rows = session.scalars(select(MachineStateInterval).where(
        MachineStateInterval.machine_id == machine.id, MachineStateInterval.start_ms < end_ms,
        MachineStateInterval.end_ms > start_ms).order_by(MachineStateInterval.start_ms)).all()
    for row in rows:
        session.expunge(row)  # clipped copies for the answer, never written back
        row.start_ms, row.end_ms = max(row.start_ms, start_ms), min(row.end_ms, end_ms)
    return list(rows)


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


def _calendar_of(machine: Machine, line_site: dict[int, int], calendars: list[ShiftCalendar]) -> ShiftCalendar | None:
    """The most specific calendar: the machine's, its line's, its site's, else the organization's."""
    for match in (lambda c: c.machine_id == machine.id, lambda c: c.line_id == machine.line_id,
                  lambda c: c.site_id == line_site.get(machine.line_id),
                  lambda c: c.machine_id is None and c.line_id is None and c.site_id is None):
        found = [c for c in calendars if match(c)]
        if found:
            return min(found, key=lambda c: c.id)
    return None


def ideal_cycle_s(machine: Machine) -> float | None:
    """The machine's ideal cycle time: the fastest of its part families (ISO 22400's PRI for the best case)."""
    values = [float(v) for v in (machine.ideal_cycle_times or {}).values() if v]
    return min(values) if values else None


def kpi_report(session: Session, machines: list[Machine], start_ms: int, end_ms: int) -> dict[str, Any]:
    """ISO 22400-2 time elements, quantities and KPIs per machine over [start, end), and their roll-up.

    The plan comes from each machine's shift calendar; a machine without one is planned
    around the clock (and says so: ``calendar_id`` null). A machine without an ideal cycle
    time has no effectiveness, OEE or TEEP, and adds no Σ PRI×PQ to the total.
    """
    check_range(start_ms, end_ms)
    period = Period(start_ms, end_ms)
    ids = [m.id for m in machines]
    index = {m: i for i, m in enumerate(ids)}
    n = len(machines)
    conn = session.connection()
    id_list = ",".join(str(i) for i in ids) or "NULL"
    rows = conn.execute(text(
        f"SELECT machine_id, start_ms, end_ms, state FROM machine_states WHERE machine_id IN ({id_list}) "
        "AND start_ms < :end AND end_ms > :start ORDER BY machine_id, start_ms"),
        {"start": start_ms, "end": end_ms}).all()
    codes = {s.value: c for s, c in STATE_CODE.items()}
    states = StateLog(np.fromiter((index[r[0]] for r in rows), np.int64, len(rows)),
                      np.fromiter((max(r[1], start_ms) for r in rows), np.int64, len(rows)),
                      np.fromiter((min(r[2], end_ms) for r in rows), np.int64, len(rows)),
                      np.fromiter((codes[r[3]] for r in rows), np.int8, len(rows)))
    line_site = dict(session.execute(select(Line.id, Line.site_id).where(Line.org_id == machines[0].org_id)).all()) \
        if machines else {}
    calendars = list(session.scalars(select(ShiftCalendar).where(
        ShiftCalendar.org_id == machines[0].org_id))) if machines else []
    planned_cache: dict[int, PlannedTime] = {}
    shift_rows: list[tuple[int, int, int]] = []
    down_rows: list[tuple[int, int, int]] = []
    chosen: list[int | None] = []
    for i, machine in enumerate(machines):
        calendar = _calendar_of(machine, line_site, calendars)
        chosen.append(calendar.id if calendar else None)
        if calendar is None:
            shift_rows.append((i, start_ms, end_ms))
            continue
        if calendar.id not in planned_cache:
            planned_cache[calendar.id] = planned_time(calendar.shifts, calendar.exceptions, calendar.timezone,
                                                      start_ms, end_ms)
        planned = planned_cache[calendar.id]
        shift_rows += [(i, a, b) for a, b in planned.shifts]
        down_rows += [(i, a, b) for a, b in planned.planned_down]
    elements = time_elements(machines=n, period=period, states=states, shifts=Spans.of(shift_rows),
                             planned_downtime=Spans.of(down_rows))
    ideal = [ideal_cycle_s(m) for m in machines]
    count_rows = conn.execute(text(
        f"SELECT machine_id, hour_ms, produced, good FROM machine_counts WHERE machine_id IN ({id_list}) "
        "AND hour_ms > :lo AND hour_ms <= :hi"), {"lo": start_ms - HOUR_MS, "hi": end_ms - HOUR_MS}).all()
    counts = production_counts(machines=n, period=period, counts=PartCounts.of(
        (index[m], h, h + HOUR_MS, p, g, ideal[index[m]] or 0.0) for m, h, p, g in count_rows))
    entries = []
    for machine, e, c, cycle, calendar_id in zip(machines, elements, counts, ideal, chosen, strict=True):
        entry = {"machine_id": machine.id, "key": machine.key, "name": machine.name, "calendar_id": calendar_id,
                 "ideal_cycle_s": cycle, **report_entry(e, c)}
        if cycle is None:
            entry.update(effectiveness=None, oee=None, teep=None)
        entries.append(entry)
    return {"start": start_ms, "end": end_ms, "machines": entries,
            "total": report_entry(sum(elements, TimeElements()), sum(counts, ProductionCounts())),
            "machines_without_ideal_cycle": [m.key for m, c in zip(machines, ideal, strict=True) if c is None]}


def downtime_pareto(session: Session, machines: list[Machine], start_ms: int, end_ms: int, *, by: str = "duration",
                    micro_stop_s: float = 120.0) -> list[dict[str, Any]]:
    """Stops in [start, end) grouped by reason, largest first, with each group's share and the running share.

    Stops without a reason are grouped by their state (unassigned); stops shorter than
    ``micro_stop_s`` without a reason count as micro-stops. ``by``: duration or count.
    """
    check_range(start_ms, end_ms)
    ids = [m.id for m in machines]
    rows = session.execute(select(
        MachineStateInterval.start_ms, MachineStateInterval.end_ms, MachineStateInterval.state,
        MachineStateInterval.reason_id).where(
        MachineStateInterval.machine_id.in_(ids), MachineStateInterval.state.in_([s.value for s in STOPS]),
        MachineStateInterval.start_ms < end_ms, MachineStateInterval.end_ms > start_ms)).all() if ids else []
    reasons = {r.id: r for r in session.scalars(select(DowntimeReason).where(
        DowntimeReason.id.in_({r[3] for r in rows if r[3] is not None})))}
    groups: dict[tuple[str, Any], dict[str, Any]] = {}
    for a, b, state, reason_id in rows:
        seconds = (min(b, end_ms) - max(a, start_ms)) / 1000
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
