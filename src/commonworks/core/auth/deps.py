"""Request dependencies: the database session, the caller, and the one way to scope to a tenant.

A route gets ``Caller`` (who is asking, from a JWT or an API token) and queries through
:func:`tenant_scoped` / :func:`get_in_tenant`, so another tenant's row is simply not
found (404) rather than forbidden — its existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from commonworks.core.auth.models import MANAGERS, ApiToken, Role, User
from commonworks.core.auth.security import TOKEN_PREFIX, hash_api_token, read_access_token
from commonworks.core.database import Database, utcnow
from commonworks.core.errors import Forbidden, NotFound, Unauthorized
from commonworks.core.orgs.models import OrgKind
from commonworks.core.settings import Settings


def get_db(request: Request) -> Iterator[Session]:
    """A session per request; committed when the route returns, rolled back on error."""
    db: Database = request.app.state.db
    with db.sessions() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


DbSession = Annotated[Session, Depends(get_db)]


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


AppSettings = Annotated[Settings, Depends(get_settings_dep)]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user of one organization, authenticated by JWT or API token."""

    user: User
    via: str

    @property
    def org_id(self) -> int:
        return self.user.org_id

    @property
    def role(self) -> Role:
        return self.user.role

    @property
    def is_manager(self) -> bool:
        return self.user.role in MANAGERS

    @property
    def is_operator_staff(self) -> bool:
        return self.user.org.kind == OrgKind.platform_operator and self.is_manager


_bearer = HTTPBearer(auto_error=False, description="A JWT from /api/v1/auth/login or an API token (cw_…).")


def current_principal(
    session: DbSession,
    settings: AppSettings,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise Unauthorized()
    secret = credentials.credentials
    if secret.startswith(TOKEN_PREFIX):
        token = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_api_token(secret)))
        now = utcnow()
        if token is None or token.revoked_at is not None or (token.expires_at and token.expires_at <= now):
            raise Unauthorized("API token is unknown, revoked or expired")
        token.last_used_at = now
        user, via = token.user, "token"
    else:
        user_id = read_access_token(secret, settings.jwt_key())
        user = session.get(User, user_id) if user_id is not None else None
        if user is None:
            raise Unauthorized("access token is invalid or expired")
        via = "jwt"
    if not user.is_active or not user.org.is_active:
        raise Unauthorized("this account is deactivated")
    return Principal(user=user, via=via)


Caller = Annotated[Principal, Depends(current_principal)]


def require_manager(caller: Caller) -> Principal:
    if not caller.is_manager:
        raise Forbidden("only an owner or admin of your organization may do this")
    return caller


Manager = Annotated[Principal, Depends(require_manager)]

M = TypeVar("M")


def tenant_scoped(stmt: Select[Any], model: Any, caller: Principal) -> Select[Any]:
    """Restrict a query on a tenant-owned model to the caller's organization."""
    return stmt.where(model.org_id == caller.org_id)


def get_in_tenant(session: Session, model: type[M], row_id: int, caller: Principal, *, what: str) -> M:
    """Fetch one tenant-owned row of the caller's organization, or 404."""
    row = session.scalar(tenant_scoped(select(model), model, caller).where(model.id == row_id))  # type: ignore[attr-defined]
    if row is None:
        raise NotFound(f"{what} {row_id} not found")
    return row
