"""Organizations: onboarding, reading and editing, within what the caller may see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from commonworks.core import codes
from commonworks.core.auth.deps import Principal
from commonworks.core.errors import Conflict, Forbidden, Invalid, NotFound
from commonworks.core.orgs.models import Organization
from commonworks.core.orgs.schemas import OrgCreate, OrgOut, OrgUpdate


def visible(*, caller: Principal) -> Any:
    """Organizations the caller may read: all for platform-operator staff, else its own."""
    stmt = select(Organization).order_by(Organization.id)
    return stmt if caller.is_operator_staff else stmt.where(Organization.id == caller.org_id)


def get(*, session: Session, caller: Principal, org_id: int) -> Organization:
    """One organization the caller may read, or 404."""
    org = session.scalar(visible(caller=caller).where(Organization.id == org_id))
    if org is None:
        raise NotFound(f"organization {org_id} not found")
    return org


def _check_credit_code_free(session: Session, credit_code: str, *, except_id: int | None = None) -> None:
    existing = session.scalar(select(Organization.id).where(Organization.credit_code == credit_code))
    if existing is not None and existing != except_id:
        raise Conflict(f"an organization with credit code {credit_code} already exists", field="credit_code")


def create(*, session: Session, data: OrgCreate) -> Organization:
    """Onboard an organization, with its first owner when one is given."""
    from commonworks.core.auth import service as auth_service
    from commonworks.core.auth.models import Role
    from commonworks.core.auth.schemas import UserCreate

    _check_credit_code_free(session, data.credit_code)
    org = Organization(**data.model_dump(exclude={"owner"}))
    session.add(org)
    session.flush()
    if data.owner:
        auth_service.create_user(session=session, org_id=org.id, data=UserCreate(
            email=data.owner.email, display_name=data.owner.display_name,
            password=data.owner.password, role=Role.owner))
    return org


def update(*, session: Session, caller: Principal, org_id: int, data: OrgUpdate) -> Organization:
    """Edit an organization's profile: its own owners/admins, or platform-operator staff."""
    org = get(session=session, caller=caller, org_id=org_id)
    if not (caller.is_operator_staff or (caller.org_id == org.id and caller.is_manager)):
        raise Forbidden("only an owner or admin may edit the organization profile")
    changes = data.model_dump(exclude_unset=True)
    for key in ("name_zh", "credit_code", "region_code", "industry_code", "size_class"):
        if key in changes and changes[key] is None:
            changes.pop(key)
    if "credit_code" in changes:
        _check_credit_code_free(session, changes["credit_code"], except_id=org.id)
    lat = changes.get("latitude", org.latitude)
    lon = changes.get("longitude", org.longitude)
    if (lat is None) != (lon is None):
        raise Invalid("give latitude and longitude together", field="latitude")
    for key, value in changes.items():
        setattr(org, key, value)
    session.flush()
    return org


def deactivate(*, session: Session, caller: Principal, org_id: int) -> Organization:
    """Platform-operator staff off-board an organization: its users can no longer sign in; nothing is deleted."""
    org = get(session=session, caller=caller, org_id=org_id)
    if not caller.is_operator_staff:
        raise Forbidden("only platform-operator staff may deactivate an organization")
    if org.id == caller.org_id:
        raise Conflict("the platform operator cannot deactivate itself")
    org.is_active = False
    session.flush()
    return org


def to_out(org: Organization) -> OrgOut:
    region = codes.lookup_region(org.region_code)
    industry = codes.lookup_industry(org.industry_code)
    return OrgOut.model_validate({
        **{c.key: getattr(org, c.key) for c in Organization.__table__.columns},
        "region_name": f"{region.province}{region.name}" if region.name != region.province else region.name,
        "industry_name_zh": industry.name_zh,
        "industry_name_en": industry.name_en,
    })
