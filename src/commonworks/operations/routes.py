"""HTTP routes: state rules, downtime reasons, shift calendars, machine states and stop reasons."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from commonworks.core.auth.deps import Caller, DbSession, Manager, tenant_scoped
from commonworks.core.crud import crud_router
from commonworks.core.params import Page, PageQuery, RowId, paginate
from commonworks.operations import alarms as alarm_service
from commonworks.operations import service
from commonworks.operations.models import Alarm, AlarmStatus, MachineStateInterval
from commonworks.operations.schemas import AlarmOut, ReasonAssign, StateIntervalOut

router = APIRouter()
for _resource in service.OPERATIONS_RESOURCES:
    router.include_router(crud_router(_resource))

EpochMs = Annotated[int, Query(ge=0, le=32_503_680_000_000, description="epoch milliseconds")]


@router.post("/downtime-reasons/standard", tags=["operations"], summary="Install the standard reason tree",
             response_model=dict[str, int])
def install_standard(session: DbSession, caller: Manager) -> dict[str, int]:
    """Adds the codes of the standard tree (计划停机, 设备故障, 换型换模, 物料, 质量, 人员, 短暂停机 …) that
    the organization does not have yet; codes it already has are left as they are."""
    return {"added": service.install_standard_reasons(session, caller.org_id)}


@router.get("/machines/{machine_id}/states", tags=["operations"], response_model=list[StateIntervalOut],
            summary="State intervals of a machine in a time range")
def list_states(machine_id: RowId, start: EpochMs, end: EpochMs, session: DbSession, caller: Caller) -> Response:
    """Intervals overlapping [start, end) by start, the first and last clipped to the range (at most 92 days)."""
    return Response(service.machine_states_json(session, caller, machine_id, start, end),
                    media_type="application/json")


@router.put("/machine-states/{state_id}/reason", tags=["operations"], response_model=StateIntervalOut,
            summary="Assign a downtime reason to a stop")
def assign_reason(state_id: RowId, data: ReasonAssign, session: DbSession, caller: Caller) -> MachineStateInterval:
    return service.assign_reason(session, caller, state_id, data)


Scope = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


@router.get("/operations/kpi", tags=["operations"], summary="ISO 22400-2 KPIs per machine and rolled up")
def kpi(start: EpochMs, end: EpochMs, session: DbSession, caller: Caller, machine_id: Scope = None,
        line_id: Scope = None, site_id: Scope = None) -> dict[str, Any]:
    """Time elements (seconds), quantities and availability, effectiveness, quality, OEE, TEEP, scrap
    ratio, MTBF, MTTR for the caller's machines — all, or of one machine, line or site — over
    [start, end). ``total`` is computed from the summed elements, never by averaging ratios."""
    machines = service.scoped_machines(session, caller, machine_id=machine_id, line_id=line_id, site_id=site_id)
    return service.kpi_report(session, machines, start, end)


@router.get("/operations/downtime/pareto", tags=["operations"], summary="Downtime Pareto by reason")
def pareto(start: EpochMs, end: EpochMs, session: DbSession, caller: Caller, machine_id: Scope = None,
           line_id: Scope = None, site_id: Scope = None, by: Literal["duration", "count"] = "duration",
           micro_stop_s: Annotated[float, Query(ge=0, le=3600)] = 120.0) -> list[dict[str, Any]]:
    """Stops grouped by assigned reason (unassigned ones by state; short unassigned stops as
    micro-stops), largest first, with share and cumulative share."""
    machines = service.scoped_machines(session, caller, machine_id=machine_id, line_id=line_id, site_id=site_id)
    return service.downtime_pareto(session, machines, start, end, by=by, micro_stop_s=micro_stop_s)


alarms = APIRouter(prefix="/alarms", tags=["alarms"])


@alarms.get("", response_model=Page[AlarmOut], summary="Alarms, newest first")
def list_alarms(session: DbSession, caller: Caller, page: PageQuery,
                status: Literal["open", "active", "acknowledged", "cleared"] | None = None,
                machine_id: Scope = None) -> Page[AlarmOut]:
    """``open`` = active or acknowledged (not cleared yet)."""
    query = tenant_scoped(select(Alarm), Alarm, caller).order_by(Alarm.raised_ms.desc(), Alarm.id.desc())
    if status == "open":
        query = query.where(Alarm.status != AlarmStatus.cleared)
    elif status is not None:
        query = query.where(Alarm.status == AlarmStatus(status))
    if machine_id is not None:
        query = query.where(Alarm.machine_id == machine_id)
    rows, total = paginate(session, query, page)
    return Page(items=[AlarmOut.model_validate(a) for a in rows], total=total, limit=page.limit, offset=page.offset)


@alarms.post("/{alarm_id}/acknowledge", response_model=AlarmOut, summary="Acknowledge an alarm")
def acknowledge(alarm_id: RowId, session: DbSession, caller: Caller) -> Alarm:
    return alarm_service.acknowledge(session, caller, alarm_id)


router.include_router(alarms)
