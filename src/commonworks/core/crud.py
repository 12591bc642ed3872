"""One generic piece for the plain tenant-owned resources (list, create, read, update, delete).

Domains whose resources are just rows of their tenant (sites, lines, machines, tags …)
describe them once with :class:`Resource`; the router applies the tenant scope, checks
that referenced rows (``site_id`` …) belong to the same tenant, maps unique-key clashes
to 409 naming the field, and lets only the roles in ``writers`` change anything.

(No ``from __future__ import annotations`` here: the route signatures use the resource's
schema classes as real annotations, which FastAPI must see at run time.)
"""


from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Caller, DbSession, Principal, get_in_tenant, tenant_scoped
from commonworks.core.auth.models import Role
from commonworks.core.errors import Conflict, Forbidden, Invalid
from commonworks.core.params import Page, PageQuery, paginate

EDITORS = frozenset({Role.owner, Role.admin, Role.engineer})


@dataclass
class Resource:
    model: Any
    name: str  # singular, for messages ("machine")
    path: str  # "/machines"
    create: type[BaseModel]
    update: type[BaseModel]
    out: type[BaseModel]
    references: dict[str, Any] = field(default_factory=dict)  # field → model that must be the caller's
    unique: Sequence[Sequence[str]] = ()  # column groups unique per tenant, first column named on conflict
    writers: frozenset[Role] = EDITORS
    tags: Sequence[str] = ()
    before_delete: Callable[[Session, Any], None] | None = None
    check: Callable[[dict[str, Any]], None] | None = None  # whole-row rule on the values after a change


def check_writer(caller: Principal, writers: frozenset[Role]) -> None:
    if caller.role not in writers:
        raise Forbidden(f"your role ({caller.role.value}) may not change this")


def check_references(session: Session, caller: Principal, references: dict[str, Any], values: dict[str, Any]) -> None:
    """Referenced rows must exist in the caller's tenant (else 422 naming the field)."""
    for field_name, model in references.items():
        ref = values.get(field_name)
        if ref is None:
            continue
        wanted = set(ref) if isinstance(ref, list) else {ref}  # one id, or a list of ids
        found = set(session.scalars(tenant_scoped(select(model.id), model, caller).where(model.id.in_(wanted))))
        for missing in sorted(wanted - found):
            raise Invalid(f"{field_name}: {missing} does not exist in your organization", field=field_name)


def check_unique(session: Session, caller: Principal, res: Resource, values: dict[str, Any],
                 row_id: int | None = None) -> None:
    for group in res.unique:
        if not any(c in values for c in group):
            continue
        stmt = tenant_scoped(select(res.model.id), res.model, caller)
        for column in group:
            stmt = stmt.where(getattr(res.model, column) == values[column])
        existing = session.scalar(stmt)
        if existing is not None and existing != row_id:
            shown = ", ".join(f"{c}={values[c]!r}" for c in group)
            raise Conflict(f"a {res.name} with {shown} already exists", field=group[-1])


def _flush(session: Session, res: Resource) -> None:
    try:
        session.flush()
    except IntegrityError as exc:  # a race the checks above could not see
        raise Conflict(f"this {res.name} clashes with one that already exists") from exc


def list_query(caller: Principal, res: Resource) -> Any:
    """The caller's rows of a resource, oldest first."""
    return tenant_scoped(select(res.model), res.model, caller).order_by(res.model.id)


def create(session: Session, caller: Principal, res: Resource, data: BaseModel) -> Any:
    """Create a row in the caller's tenant; returns its ``out`` model."""
    check_writer(caller, res.writers)
    values = data.model_dump()
    check_references(session, caller, res.references, values)
    if res.check:
        res.check(values)
    check_unique(session, caller, res, values)
    row = res.model(org_id=caller.org_id, **values)
    session.add(row)
    _flush(session, res)
    return res.out.model_validate(row)


def update(session: Session, caller: Principal, res: Resource, row_id: int, data: BaseModel) -> Any:
    """Change the fields set in ``data`` of one of the caller's rows; returns its ``out`` model."""
    row = get_in_tenant(session, res.model, row_id, caller, what=res.name)
    check_writer(caller, res.writers)
    changes = data.model_dump(exclude_unset=True)
    check_references(session, caller, res.references, changes)
    merged = {c.key: getattr(row, c.key) for c in res.model.__table__.columns} | changes
    if res.check:
        res.check(merged)
    check_unique(session, caller, res, merged, row_id=row.id)
    for key, value in changes.items():
        setattr(row, key, value)
    _flush(session, res)
    return res.out.model_validate(row)


def delete(session: Session, caller: Principal, res: Resource, row_id: int) -> None:
    """Delete one of the caller's rows (after the resource's own check)."""
    row = get_in_tenant(session, res.model, row_id, caller, what=res.name)
    check_writer(caller, res.writers)
    if res.before_delete:
        res.before_delete(session, row)
    session.delete(row)
    _flush(session, res)


def crud_router(res: Resource) -> APIRouter:
    """List/create/read/update/delete routes for a resource, all through the functions above."""
    router = APIRouter(prefix=res.path, tags=list(res.tags) or [res.path.strip("/")])
    model, out = res.model, res.out
    param = f"{res.name.replace(' ', '_')}_id"
    RowId = Annotated[int, Path(alias=param, ge=1, le=2**31 - 1, description=f"The {res.name}'s id.")]

    @router.get("", response_model=Page[out], summary=f"List {res.name}s")  # type: ignore[valid-type]
    def list_rows(session: DbSession, caller: Caller, page: PageQuery) -> Page[Any]:
        rows, total = paginate(session, list_query(caller, res), page)
        return Page(items=[out.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)

    @router.post("", response_model=out, status_code=status.HTTP_201_CREATED, summary=f"Create a {res.name}")
    def create_row(data: res.create, session: DbSession, caller: Caller) -> Any:  # type: ignore[name-defined]
        return create(session, caller, res, data)

    @router.get(f"/{{{param}}}", response_model=out, summary=f"Read a {res.name}")
    def get_row(row_id: RowId, session: DbSession, caller: Caller) -> Any:
        return out.model_validate(get_in_tenant(session, model, row_id, caller, what=res.name))

    @router.patch(f"/{{{param}}}", response_model=out, summary=f"Change a {res.name}")
    def update_row(row_id: RowId, data: res.update, session: DbSession, caller: Caller) -> Any:  # type: ignore[name-defined]
        return update(session, caller, res, row_id, data)

    @router.delete(f"/{{{param}}}", status_code=status.HTTP_204_NO_CONTENT, summary=f"Delete a {res.name}")
    def delete_row(row_id: RowId, session: DbSession, caller: Caller) -> None:
        delete(session, caller, res, row_id)

    return router
