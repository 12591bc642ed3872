"""Operations logic: rules, reasons and calendars as tenant resources, machine states, stop reasons."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.auth.models import MANAGERS
from commonworks.core.crud import EDITORS, Resource, check_writer
from commonworks.core.database import utcnow
from commonworks.core.errors import Invalid
from commonworks.operations.models import DowntimeReason, MachineStateInterval, ShiftCalendar, StateRuleRow
from commonworks.operations.reasons import STANDARD
from commonworks.operations.schemas import (
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
from commonworks.telemetry.models import Line, Machine, Site

OPERATIONS_RESOURCES = [
    Resource(model=StateRuleRow, name="state rule", path="/state-rules", create=StateRuleCreate,
             update=StateRuleUpdate, out=StateRuleOut, references={"machine_id": Machine}, tags=["operations"],
             writers=MANAGERS),
    Resource(model=DowntimeReason, name="downtime reason", path="/downtime-reasons", create=ReasonCreate,
             update=ReasonUpdate, out=ReasonOut, references={"parent_id": DowntimeReason}, unique=[("code",)],
             tags=["operations"], writers=MANAGERS),
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
