"""Login, users and API tokens over HTTP."""

from __future__ import annotations

import pytest

from tests.conftest import PASSWORD


def login(client, email: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_login_gives_a_token_that_identifies_the_user(client, tenants) -> None:  # type: ignore[no-untyped-def]
    response = login(client, tenants.a.engineer.email.upper())
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == tenants.a.engineer.email


def test_wrong_password_and_unknown_user_get_the_same_401(client, tenants) -> None:  # type: ignore[no-untyped-def]
    wrong = login(client, tenants.a.owner.email, "not the password")
    unknown = login(client, "nobody@factory-x.cn", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["message"] == "e-mail or password is wrong"


def test_login_is_rate_limited_per_account(client, tenants, settings) -> None:  # type: ignore[no-untyped-def]
    for _ in range(settings.login_max_failures):
        assert login(client, tenants.a.owner.email, "guess").status_code == 401
    blocked = login(client, tenants.a.owner.email, PASSWORD)  # even the right password waits
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert blocked.json()["error"]["code"] == "too_many_requests"
    assert login(client, tenants.b.owner.email).status_code == 200  # other accounts unaffected


def test_requests_without_or_with_a_bad_token_are_401(client, tenants) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer cw_nonsense"}).status_code == 401


def test_deactivated_user_can_no_longer_use_the_api(client, tenants) -> None:  # type: ignore[no-untyped-def]
    response = client.delete(f"/api/v1/users/{tenants.a.viewer.user_id}", headers=tenants.a.admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get("/api/v1/me", headers=tenants.a.viewer.headers).status_code == 401
    assert login(client, tenants.a.viewer.email).status_code == 401


def test_manager_adds_users_to_own_organization(client, tenants) -> None:  # type: ignore[no-untyped-def]
    body = {"email": "Wang.Fang@factory1.cn", "display_name": "王芳", "password": "spindle-2026", "role": "engineer"}
    response = client.post("/api/v1/users", json=body, headers=tenants.a.admin.headers)
    assert response.status_code == 201
    user = response.json()
    assert (user["org_id"], user["email"], user["role"]) == (tenants.a.org_id, "wang.fang@factory1.cn", "engineer")
    assert login(client, "wang.fang@factory1.cn", "spindle-2026").status_code == 200
    again = client.post("/api/v1/users", json=body, headers=tenants.a.admin.headers)
    assert again.status_code == 409 and again.json()["error"]["field"] == "email"


@pytest.mark.parametrize("role", ["engineer", "viewer"])
def test_non_managers_cannot_add_users(client, tenants, role) -> None:  # type: ignore[no-untyped-def]
    body = {"email": "x@factory1.cn", "display_name": "x", "password": "long-enough", "role": "viewer"}
    member = getattr(tenants.a, role)
    assert client.post("/api/v1/users", json=body, headers=member.headers).status_code == 403
    assert client.get("/api/v1/users", headers=tenants.a.owner.headers).json()["total"] == 4


def test_admin_cannot_make_owners_and_last_owner_stays(client, tenants) -> None:  # type: ignore[no-untyped-def]
    a = tenants.a
    promote = client.patch(f"/api/v1/users/{a.viewer.user_id}", json={"role": "owner"}, headers=a.admin.headers)
    assert promote.status_code == 403
    demote_self = client.patch(f"/api/v1/users/{a.owner.user_id}", json={"role": "admin"}, headers=a.owner.headers)
    assert demote_self.status_code == 409
    assert client.get(f"/api/v1/users/{a.owner.user_id}", headers=a.owner.headers).json()["role"] == "owner"


def test_user_changes_own_password_but_not_own_role(client, tenants) -> None:  # type: ignore[no-untyped-def]
    me = tenants.a.viewer
    assert client.patch(f"/api/v1/users/{me.user_id}", json={"role": "admin"}, headers=me.headers).status_code == 403
    changed = client.patch(f"/api/v1/users/{me.user_id}", json={"password": "a-new-password", "language": "en"},
                           headers=me.headers)
    assert changed.status_code == 200 and changed.json()["language"] == "en"
    assert login(client, me.email, "a-new-password").status_code == 200
    assert login(client, me.email, PASSWORD).status_code == 401


def test_api_token_is_shown_once_works_and_can_be_revoked(client, tenants) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/api/v1/tokens", json={"name": "MES export", "expires_in_days": 30},
                          headers=tenants.a.engineer.headers)
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith("cw_") and token["token"].startswith(token["prefix"])
    headers = {"Authorization": f"Bearer {token['token']}"}
    assert client.get("/api/v1/me", headers=headers).json()["email"] == tenants.a.engineer.email
    listed = client.get("/api/v1/tokens", headers=tenants.a.engineer.headers).json()["items"]
    assert [t["name"] for t in listed] == ["MES export"]
    assert "token" not in listed[0] and listed[0]["last_used_at"] is not None
    revoked = client.delete(f"/api/v1/tokens/{token['id']}", headers=tenants.a.engineer.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_token_secrets_are_stored_hashed(client, tenants, db) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from commonworks.core.auth.models import ApiToken

    secret = client.post("/api/v1/tokens", json={"name": "t"}, headers=tenants.a.owner.headers).json()["token"]
    with db.transaction() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    assert secret not in stored and len(stored) == 1 and len(stored[0]) == 64


def test_error_shape_is_the_same_everywhere(client, tenants) -> None:  # type: ignore[no-untyped-def]
    for response in (client.get("/api/v1/nowhere"), client.get("/api/v1/me"),
                     client.post("/api/v1/auth/login", json={"email": "x"}),
                     client.get("/api/v1/orgs/999999", headers=tenants.a.owner.headers)):
        assert set(response.json()) == {"error"}
        assert {"code", "message", "field", "details"} <= set(response.json()["error"])
