"""Logins (with a per-account and per-address failure limit), users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.auth.models import ApiToken, LoginFailure, Role, User
from commonworks.core.auth.schemas import TokenCreate, UserCreate, UserUpdate
from commonworks.core.auth.security import (
    dummy_hash,
    hash_password,
    new_api_token,
    verify_password,
)
from commonworks.core.database import utcnow
from commonworks.core.errors import Conflict, Forbidden, NotFound


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    retry_after: int | None = None


def authenticate(*, session: Session, email: str, password: str, client: str,
                 max_failures: int, window_seconds: int) -> LoginResult:
    """Check a password. Too many recent failures for the account or address → retry_after.

    Failures are recorded in the session; the caller commits them even when it refuses
    the login, so the limit holds across API workers.
    """
    email = email.strip().lower()
    now = utcnow()
    since = now - timedelta(seconds=window_seconds)
    keys = {f"email:{email}": max_failures, f"ip:{client}": max_failures * 4}
    for key, limit in keys.items():
        recent = session.execute(select(func.count(), func.min(LoginFailure.at))
                                 .where(LoginFailure.key == key, LoginFailure.at > since)).one()
        if recent[0] >= limit:
            retry = int((recent[1] + timedelta(seconds=window_seconds) - now).total_seconds()) + 1
            return LoginResult(user=None, retry_after=max(retry, 1))
    user = session.scalar(select(User).where(User.email == email))
    ok = verify_password(password, user.password_hash if user else dummy_hash())
    if user is None or not ok or not user.is_active or not user.org.is_active:
        session.add_all(LoginFailure(key=key, at=now) for key in keys)
        session.flush()
        return LoginResult(user=None)
    session.execute(delete(LoginFailure).where(LoginFailure.key == f"email:{email}"))
    session.execute(delete(LoginFailure).where(LoginFailure.at <= since))
    return LoginResult(user=user)


def create_user(*, session: Session, org_id: int, data: UserCreate) -> User:
    """Add a user to an organization; e-mail addresses are unique platform-wide."""
    email = data.email.lower()
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with e-mail {email} already exists", field="email")
    user = User(org_id=org_id, email=email, display_name=data.display_name,
                password_hash=hash_password(data.password), role=data.role, language=data.language)
    session.add(user)
    session.flush()
    return user


def add_user(*, session: Session, caller: Principal, data: UserCreate) -> User:
    """An owner or admin adds a user to their organization; only owners make owners."""
    if data.role == Role.owner and caller.role != Role.owner:
        raise Forbidden("only an owner may add another owner", field="role")
    return create_user(session=session, org_id=caller.org_id, data=data)


def _active_owners(session: Session, org_id: int) -> int:
    return session.scalar(select(func.count()).select_from(User).where(
        User.org_id == org_id, User.role == Role.owner, User.is_active.is_(True))) or 0


def update_user(*, session: Session, caller: Principal, user_id: int, data: UserUpdate) -> User:
    """Managers edit anyone in their organization; a user may edit their own name, password, language."""
    user = get_in_tenant(session, User, user_id, caller, what="user")
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    self_service = {"display_name", "password", "language"}
    if not caller.is_manager and (user.id != caller.user.id or set(changes) - self_service):
        raise Forbidden("only an owner or admin may change this")
    if changes.get("role") == Role.owner and caller.role != Role.owner:
        raise Forbidden("only an owner may make someone an owner", field="role")
    if user.role == Role.owner and caller.role != Role.owner and set(changes) - self_service:
        raise Forbidden("only an owner may change another owner")
    losing_owner = user.role == Role.owner and (
        changes.get("role", Role.owner) != Role.owner or changes.get("is_active") is False)
    if losing_owner and user.is_active and _active_owners(session, user.org_id) <= 1:
        raise Conflict("an organization keeps at least one active owner", field="role")
    if "password" in changes:
        user.password_hash = hash_password(changes.pop("password"))
    for key, value in changes.items():
        setattr(user, key, value)
    session.flush()
    return user


def create_token(*, session: Session, caller: Principal, data: TokenCreate) -> tuple[ApiToken, str]:
    """A personal API token for the caller; the secret is returned once and stored hashed."""
    secret, prefix, digest = new_api_token()
    expires = utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    token = ApiToken(org_id=caller.org_id, user_id=caller.user.id, name=data.name, prefix=prefix,
                     token_hash=digest, expires_at=expires)
    session.add(token)
    session.flush()
    return token, secret


def my_tokens(*, caller: Principal):  # type: ignore[no-untyped-def]
    return select(ApiToken).where(ApiToken.user_id == caller.user.id).order_by(ApiToken.id)


def revoke_token(*, session: Session, caller: Principal, token_id: int) -> ApiToken:
    """Revoke one of the caller's tokens (a manager may revoke any in the organization)."""
    token = get_in_tenant(session, ApiToken, token_id, caller, what="token")
    if token.user_id != caller.user.id and not caller.is_manager:
        raise NotFound(f"token {token_id} not found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    session.flush()
    return token
