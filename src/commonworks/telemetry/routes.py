"""HTTP routes: plant hierarchy, tags, gateways, ingest, latest values, series, CSV export, retention."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from sqlalchemy import select

from commonworks.connect.protocol import INGEST_PATH
from commonworks.core.auth.deps import AppSettings, Caller, DbSession, Manager, get_in_tenant, tenant_scoped
from commonworks.core.crud import crud_router
from commonworks.core.errors import AppError, Invalid
from commonworks.core.params import ID_MAX, Page, PageQuery, RefId, RowId, paginate
from commonworks.telemetry import service
from commonworks.telemetry.models import Gateway, RetentionPolicy
from commonworks.telemetry.schemas import (
    DeadLetterOut,
    GatewayCreate,
    GatewayCreated,
    GatewayOut,
    GatewayUpdate,
    IngestAck,
    LatestValue,
    Resolution,
    RetentionIn,
    RetentionOut,
    Series,
)

MAX_BODY = 64 * 1024 * 1024


router = APIRouter()
for _resource in service.PLANT_RESOURCES:
    router.include_router(crud_router(_resource))

gateways = APIRouter(prefix="/gateways", tags=["gateways"])


@gateways.get("", response_model=Page[GatewayOut])
def list_gateways(session: DbSession, caller: Caller, page: PageQuery) -> Page[GatewayOut]:
    rows, total = paginate(session, tenant_scoped(select(Gateway), Gateway, caller).order_by(Gateway.id), page)
    return Page(items=[GatewayOut.model_validate(g) for g in rows], total=total, limit=page.limit, offset=page.offset)


@gateways.post("", response_model=GatewayCreated, status_code=status.HTTP_201_CREATED,
               summary="Register a gateway and get its credential (shown once)")
def create_gateway(data: GatewayCreate, session: DbSession, caller: Manager) -> GatewayCreated:
    return service.create_gateway(session, caller, data)


@gateways.get("/{gateway_id}", response_model=GatewayOut)
def get_gateway(gateway_id: RowId, session: DbSession, caller: Caller) -> Gateway:
    return get_in_tenant(session, Gateway, gateway_id, caller, what="gateway")


@gateways.patch("/{gateway_id}", response_model=GatewayOut)
def update_gateway(gateway_id: RowId, data: GatewayUpdate, session: DbSession, caller: Manager) -> Gateway:
    gateway = get_in_tenant(session, Gateway, gateway_id, caller, what="gateway")
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(gateway, key, value)
    return gateway


@gateways.delete("/{gateway_id}", response_model=GatewayOut, summary="Revoke a gateway's credential")
def revoke_gateway(gateway_id: RowId, session: DbSession, caller: Manager) -> Gateway:
    return service.revoke_gateway(session, caller, gateway_id)


@gateways.get("/{gateway_id}/dead-letters", response_model=Page[DeadLetterOut],
              summary="Samples this gateway sent that were refused, with the reason")
def dead_letters(gateway_id: RowId, session: DbSession, caller: Caller, page: PageQuery) -> Page[DeadLetterOut]:
    rows, total = paginate(session, service.dead_letters_query(session, caller, gateway_id), page)
    return Page(items=[DeadLetterOut.model_validate(r) for r in rows], total=total, limit=page.limit,
                offset=page.offset)


router.include_router(gateways)

ingest = APIRouter(tags=["ingest"])


@ingest.post(INGEST_PATH.removeprefix("/api/v1"), response_model=IngestAck,
             summary="Ingest a batch from a gateway (answered after commit)",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
                 "type": "object", "required": ["batch_id", "series"], "properties": {
                     "batch_id": {"type": "string"},
                     "series": {"type": "array", "items": {"type": "object", "properties": {
                         "tag": {"type": "string"}, "ts": {"type": "array", "items": {"type": "integer"}},
                         "v": {"type": "array", "items": {}}}}},
                     "stale": {"type": "array", "items": {"type": "object"}}}}}}}})
async def ingest_batch(request: Request) -> IngestAck:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        raise AppError(f"batch body larger than {MAX_BODY // 2**20} MiB", status_code=413, code="too_large")
    body = await request.body()
    if len(body) > MAX_BODY:
        raise AppError(f"batch body larger than {MAX_BODY // 2**20} MiB", status_code=413, code="too_large")
    auth = request.headers.get("authorization", "")
    token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
    return await run_in_threadpool(service.ingest_http, request.app.state.db, token, body,
                                   request.headers.get("content-encoding"))


router.include_router(ingest)

data = APIRouter(tags=["telemetry"])


@data.get("/machines/{machine_id}/latest", response_model=list[LatestValue], summary="Newest value of every tag")
def latest(machine_id: RowId, session: DbSession, caller: Caller) -> list[LatestValue]:
    return service.latest_for_machine(session, caller, machine_id)


def _ms(value: datetime | int, name: str) -> int:
    if isinstance(value, int):
        if not 0 <= value <= 253_402_300_799_999:  # up to the end of year 9999
            raise Invalid(f"{name} must be epoch milliseconds between 1970 and 9999", field=name)
        return value
    if value.tzinfo is None:
        raise Invalid(f"{name} needs a time zone offset (e.g. 2026-11-27T08:00:00+08:00)", field=name)
    return int(value.timestamp() * 1000)


TimeParam = datetime | int


@data.get("/tags/{tag_id}/series", response_model=Series,
          summary="Samples or rollups of a tag; the resolution is picked for the range unless given")
def tag_series(tag_id: RowId, session: DbSession, caller: Caller,
               start: Annotated[TimeParam, Query(description="ISO 8601 with offset, or epoch ms")],
               end: Annotated[TimeParam, Query(description="ISO 8601 with offset, or epoch ms")],
               resolution: Annotated[Resolution, Query(description=(
                   "auto (default): the finest resolution whose points in the range number at most "
                   f"{service.POINT_BUDGET:,} — raw samples for ranges up to 6 h, 1-minute rollups up to 10 days, "
                   "then hourly, then daily rollups. raw, 1m, 1h, 1d: exactly that resolution (raw at most "
                   f"{service.MAX_POINTS:,} samples)"))] = "auto") -> Response:
    """Raw samples in [start, end), or rollup buckets (average, min, max, last value, sample count)."""
    return Response(service.series_json(session, caller, tag_id, start=_ms(start, "start"), end=_ms(end, "end"),
                                        resolution=resolution), media_type="application/json")


@data.get("/telemetry/export.csv", response_class=StreamingResponse, summary="Raw samples as CSV",
          responses={200: {"content": {"text/csv": {}}}})
def export_csv(request: Request, session: DbSession, caller: Caller,
               start: Annotated[TimeParam, Query()], end: Annotated[TimeParam, Query()],
               tag_id: Annotated[list[RefId] | None, Query(description="Tags to export")] = None,
               machine_id: Annotated[int | None, Query(ge=1, le=ID_MAX)] = None) -> StreamingResponse:
    lo, hi = _ms(start, "start"), _ms(end, "end")
    if hi <= lo:
        raise Invalid("end must be after start", field="end")
    ids = service.tags_for_export(session, caller, [t for t in (tag_id or [])], machine_id)
    rows = service.export_rows(request.app.state.db, caller.org_id, ids, lo, hi)
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="telemetry.csv"'})


@data.get("/telemetry/retention", response_model=RetentionOut, summary="Your telemetry retention policy")
def get_retention(session: DbSession, caller: Caller, settings: AppSettings) -> RetentionOut:
    policy, default = service.retention_for(session, caller.org_id, settings)
    return RetentionOut(raw_days=policy.raw_days, rollup_1m_days=policy.rollup_1m_days,
                        rollup_1h_days=policy.rollup_1h_days, is_default=default)


@data.put("/telemetry/retention", response_model=RetentionOut)
def set_retention(data_in: RetentionIn, session: DbSession, caller: Manager) -> RetentionOut:
    policy = session.get(RetentionPolicy, caller.org_id) or RetentionPolicy(org_id=caller.org_id)
    policy.raw_days, policy.rollup_1m_days, policy.rollup_1h_days = (
        data_in.raw_days, data_in.rollup_1m_days, data_in.rollup_1h_days)
    session.add(policy)
    return RetentionOut(**data_in.model_dump(), is_default=False)


router.include_router(data)
