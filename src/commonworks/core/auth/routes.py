"""HTTP routes for login, the current user, users of the organization and API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy import select

from commonworks.core.auth import service
from commonworks.core.auth.deps import AppSettings, Caller, DbSession, Manager, get_in_tenant, tenant_scoped
from commonworks.core.auth.models import User
from commonworks.core.auth.schemas import (
    AccessToken,
    LoginIn,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserCreate,
    UserOut,
    UserUpdate,
)
from commonworks.core.auth.security import issue_access_token
from commonworks.core.errors import TooManyRequests, Unauthorized
from commonworks.core.params import Page, PageQuery, RowId, paginate

router = APIRouter(tags=["access"])


@router.post("/auth/login", response_model=AccessToken, summary="Log in with e-mail and password")
def login(data: LoginIn, request: Request, session: DbSession, settings: AppSettings) -> AccessToken:
    client = request.client.host if request.client else "unknown"
    result = service.authenticate(session=session, email=data.email, password=data.password, client=client,
                                  max_failures=settings.login_max_failures,
                                  window_seconds=settings.login_window_seconds)
    if result.retry_after is not None:
        raise TooManyRequests(f"too many failed logins; try again in {result.retry_after} s",
                              headers={"Retry-After": str(result.retry_after)})
    if result.user is None:
        session.commit()  # keep the failure on record although the request is refused
        raise Unauthorized("e-mail or password is wrong")
    token, expires_in = issue_access_token(user_id=result.user.id, org_id=result.user.org_id,
                                           key=settings.jwt_key(), minutes=settings.access_token_minutes)
    return AccessToken(access_token=token, expires_in=expires_in)


@router.get("/me", response_model=UserOut, summary="The user behind the token")
def me(caller: Caller) -> User:
    return caller.user


@router.get("/users", response_model=Page[UserOut], summary="Users of your organization")
def list_users(session: DbSession, caller: Caller, page: PageQuery) -> Page[UserOut]:
    rows, total = paginate(session, tenant_scoped(select(User), User, caller).order_by(User.id), page)
    return Page(items=[UserOut.model_validate(u) for u in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/users", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(data: UserCreate, session: DbSession, caller: Manager) -> User:
    return service.add_user(session=session, caller=caller, data=data)


@router.get("/users/{user_id}", response_model=UserOut)
def get_user(user_id: RowId, session: DbSession, caller: Caller) -> User:
    return get_in_tenant(session, User, user_id, caller, what="user")


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: RowId, data: UserUpdate, session: DbSession, caller: Caller) -> User:
    return service.update_user(session=session, caller=caller, user_id=user_id, data=data)


@router.delete("/users/{user_id}", response_model=UserOut, summary="Deactivate a user")
def deactivate_user(user_id: RowId, session: DbSession, caller: Manager) -> User:
    return service.update_user(session=session, caller=caller, user_id=user_id,
                               data=UserUpdate(is_active=False))


@router.get("/tokens", response_model=Page[TokenOut], summary="Your API tokens")
def list_tokens(session: DbSession, caller: Caller, page: PageQuery) -> Page[TokenOut]:
    rows, total = paginate(session, service.my_tokens(caller=caller), page)
    return Page(items=[TokenOut.model_validate(t) for t in rows], total=total, limit=page.limit,
                offset=page.offset)


@router.post("/tokens", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(data: TokenCreate, session: DbSession, caller: Caller) -> TokenCreated:
    token, secret = service.create_token(session=session, caller=caller, data=data)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), token=secret)


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke an API token")
def revoke_token(token_id: RowId, session: DbSession, caller: Caller) -> TokenOut:
    return TokenOut.model_validate(service.revoke_token(session=session, caller=caller, token_id=token_id))
