"""What the pages read and write, always as the signed-in user (a :class:`Principal` with ``via="ui"``).

Writes go through the API's own logic: the generic tenant CRUD endpoints of
:mod:`commonworks.core.crud` (tenant references, per-tenant uniqueness, the writer roles,
the "still has lines" checks) and the gateway route functions, called as plain functions.
Reads are tenant-scoped with :func:`tenant_scoped` / :func:`get_in_tenant` and the telemetry
service. Everything returns plain data (pydantic models, dataclasses), never live ORM rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commonworks.core import crud
from commonworks.core.auth.deps import Principal, get_in_tenant, tenant_scoped
from commonworks.core.params import PageParams, paginate
from commonworks.telemetry import service
from commonworks.telemetry.models import Gateway, Line, Machine, Sample, Site, Tag
from commonworks.telemetry.schemas import (
    DeadLetterOut,
    GatewayCreate,
    GatewayCreated,
    GatewayOut,
    LatestValue,
    LineOut,
    MachineOut,
    Series,
    SiteOut,
    TagOut,
)
from commonworks.web.common import ctx, tenant_session

DEFAULT_TIMEZONE = "Asia/Shanghai"

# ---------------------------------------------------------------- writes through the CRUD logic

_RESOURCES = {res.name: res for res in service.PLANT_RESOURCES}


def create(user_id: int, what: str, data: BaseModel) -> Any:
    """Create a site, line, machine or tag; returns its ``…Out`` model."""
    with tenant_session(user_id) as (session, caller):
        return crud.create(session, caller, _RESOURCES[what], data)


def update(user_id: int, what: str, row_id: int, data: BaseModel) -> Any:
    """Change the fields that are set in ``data``."""
    with tenant_session(user_id) as (session, caller):
        return crud.update(session, caller, _RESOURCES[what], row_id, data)


def delete(user_id: int, what: str, row_id: int) -> None:
    with tenant_session(user_id) as (session, caller):
        crud.delete(session, caller, _RESOURCES[what], row_id)


# ---------------------------------------------------------------- plant


@dataclass(frozen=True)
class LineNode:
    line: LineOut
    machines: list[MachineOut]


@dataclass(frozen=True)
class SiteNode:
    site: SiteOut
    lines: list[LineNode]


def _all(session: Session, caller: Principal, model: Any, *order: Any) -> list[Any]:
    return list(session.scalars(tenant_scoped(select(model), model, caller).order_by(*order, model.id)))


def plant(user_id: int) -> list[SiteNode]:
    """The organization's sites → lines → machines."""
    with tenant_session(user_id) as (session, caller):
        sites = [SiteOut.model_validate(s) for s in _all(session, caller, Site, Site.name)]
        lines = [LineOut.model_validate(r) for r in _all(session, caller, Line, Line.name)]
        machines = [MachineOut.model_validate(m) for m in _all(session, caller, Machine, Machine.key)]
    return [SiteNode(site, [LineNode(line, [m for m in machines if m.line_id == line.id])
                            for line in lines if line.site_id == site.id]) for site in sites]


def org_timezone(session: Session, caller: Principal) -> str:
    """The time zone of the organization's first site (for times that belong to no site)."""
    tz = session.scalar(tenant_scoped(select(Site.timezone), Site, caller).order_by(Site.id).limit(1))
    return tz or DEFAULT_TIMEZONE


# ---------------------------------------------------------------- machines and telemetry


@dataclass(frozen=True)
class MachineView:
    machine: MachineOut
    line_name: str
    site_name: str
    timezone: str
    latest: list[LatestValue]


def _view(session: Session, caller: Principal, machine: Machine) -> MachineView:
    line = session.get(Line, machine.line_id)
    site = session.get(Site, line.site_id) if line is not None else None
    return MachineView(machine=MachineOut.model_validate(machine), line_name=line.name if line else "",
                       site_name=site.name if site else "", timezone=site.timezone if site else DEFAULT_TIMEZONE,
                       latest=service.latest_for_machine(session, caller, machine.id))


def machine_views(user_id: int) -> list[MachineView]:
    """Every machine of the organization with the newest value of each of its tags."""
    with tenant_session(user_id) as (session, caller):
        return [_view(session, caller, m) for m in _all(session, caller, Machine, Machine.key)]


def machine_view(user_id: int, machine_id: int) -> MachineView:
    """One machine of the organization (NotFound for another tenant's or a missing id)."""
    with tenant_session(user_id) as (session, caller):
        return _view(session, caller, get_in_tenant(session, Machine, machine_id, caller, what="machine"))


def machine_tags(user_id: int, machine_id: int) -> list[TagOut]:
    with tenant_session(user_id) as (session, caller):
        machine = get_in_tenant(session, Machine, machine_id, caller, what="machine")
        rows = session.scalars(tenant_scoped(select(Tag), Tag, caller).where(Tag.machine_id == machine.id)
                               .order_by(Tag.key))
        return [TagOut.model_validate(t) for t in rows]


def tag_series(user_id: int, tag_id: int, start: int, end: int) -> Series:
    """The series at the resolution ``auto`` picks for the range (a bounded number of points)."""
    with tenant_session(user_id) as (session, caller):
        return service.series(session, caller, tag_id, start=start, end=end, resolution="auto")


EXPORT_MAX_ROWS = 500_000  # a browser download is built in memory; more belongs to the streaming API export


class ExportTooLarge(Exception):
    def __init__(self, rows: int) -> None:
        super().__init__(f"{rows} rows")
        self.rows = rows


def machine_csv(user_id: int, machine_id: int, start: int, end: int) -> str:
    """Raw samples of all the machine's tags in [start, end) as CSV text (the export endpoint's rows)."""
    with tenant_session(user_id) as (session, caller):
        tag_ids = service.tags_for_export(session, caller, [], machine_id)
        rows = session.scalar(select(func.count()).select_from(Sample).where(
            Sample.tag_id.in_(tag_ids), Sample.ts >= start, Sample.ts < end)) if tag_ids else 0
        if rows and rows > EXPORT_MAX_ROWS:
            raise ExportTooLarge(rows)
        org_id = caller.org_id
    return "".join(service.export_rows(ctx().db, org_id, tag_ids, start, end))


# ---------------------------------------------------------------- gateways


@dataclass(frozen=True)
class GatewayView:
    gateway: GatewayOut
    dead_letters: list[DeadLetterOut]
    dead_letter_total: int


DEAD_LETTERS_SHOWN = 50


def gateways(user_id: int) -> tuple[list[GatewayView], str]:
    """The organization's gateways with their newest dead letters, and the time zone to show times in."""
    with tenant_session(user_id) as (session, caller):
        rows, _total = paginate(session, tenant_scoped(select(Gateway), Gateway, caller).order_by(Gateway.id),
                                PageParams(limit=500, offset=0))
        views = []
        for gateway in rows:
            letters, total = paginate(session, service.dead_letters_query(session, caller, gateway.id),
                                      PageParams(limit=DEAD_LETTERS_SHOWN, offset=0))
            views.append(GatewayView(GatewayOut.model_validate(gateway),
                                     [DeadLetterOut.model_validate(d) for d in letters], total))
        return views, org_timezone(session, caller)


def register_gateway(user_id: int, data: GatewayCreate) -> GatewayCreated:
    """Owner/admin only; the credential is in the answer and nowhere else."""
    with tenant_session(user_id) as (session, caller):
        return service.create_gateway(session, caller, data)


def revoke_gateway(user_id: int, gateway_id: int) -> None:
    with tenant_session(user_id) as (session, caller):
        service.revoke_gateway(session, caller, gateway_id)
