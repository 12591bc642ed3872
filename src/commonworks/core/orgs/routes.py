"""HTTP routes for organizations."""

from __future__ import annotations

from fastapi import APIRouter, status

from commonworks.core.auth.deps import Caller, DbSession
from commonworks.core.errors import Forbidden
from commonworks.core.orgs import service
from commonworks.core.orgs.schemas import OrgCreate, OrgOut, OrgUpdate
from commonworks.core.params import Page, PageQuery, RowId, paginate

router = APIRouter(prefix="/orgs", tags=["organizations"])


@router.get("", response_model=Page[OrgOut], summary="Organizations you may see")
def list_orgs(session: DbSession, caller: Caller, page: PageQuery) -> Page[OrgOut]:
    rows, total = paginate(session, service.visible(caller=caller), page)
    return Page(items=[service.to_out(o) for o in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("", response_model=OrgOut, status_code=status.HTTP_201_CREATED,
             summary="Onboard an organization (platform-operator staff)")
def create_org(data: OrgCreate, session: DbSession, caller: Caller) -> OrgOut:
    if not caller.is_operator_staff:
        raise Forbidden("only platform-operator staff may onboard organizations")
    return service.to_out(service.create(session=session, data=data))


@router.get("/{org_id}", response_model=OrgOut)
def get_org(org_id: RowId, session: DbSession, caller: Caller) -> OrgOut:
    return service.to_out(service.get(session=session, caller=caller, org_id=org_id))


@router.patch("/{org_id}", response_model=OrgOut)
def update_org(org_id: RowId, data: OrgUpdate, session: DbSession, caller: Caller) -> OrgOut:
    return service.to_out(service.update(session=session, caller=caller, org_id=org_id, data=data))


@router.delete("/{org_id}", response_model=OrgOut, summary="Deactivate an organization (platform-operator staff)")
def deactivate_org(org_id: RowId, session: DbSession, caller: Caller) -> OrgOut:
    return service.to_out(service.deactivate(session=session, caller=caller, org_id=org_id))
