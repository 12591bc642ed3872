"""Passwords (argon2 via pwdlib), JWT access tokens and API-token secrets.

API tokens are 256-bit random secrets shown once; only their SHA-256 is stored (a fast
hash is right for high-entropy secrets, and lets a request find its token by index).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash

TOKEN_PREFIX = "cw_"
JWT_ALGORITHM = "HS256"


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _hasher().verify(password, password_hash)


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not reveal that."""
    return hash_password(secrets.token_urlsafe(16))


def issue_access_token(*, user_id: int, org_id: int, key: str, minutes: int,
                       now: datetime | None = None) -> tuple[str, int]:
    now = now or datetime.now(UTC)
    expires = now + timedelta(minutes=minutes)
    claims = {"sub": str(user_id), "org": org_id, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return jwt.encode(claims, key, algorithm=JWT_ALGORITHM), minutes * 60


def read_access_token(token: str, key: str) -> int | None:
    """The user id a valid, unexpired token was issued to, else None."""
    try:
        claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp"]})
        return int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        return None


def new_api_token() -> tuple[str, str, str]:
    """(secret to show once, display prefix, sha256 to store)."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:10], hash_api_token(secret)


def hash_api_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
