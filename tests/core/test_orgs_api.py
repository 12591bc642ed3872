"""Organizations over HTTP: onboarding, reading, editing, and bad input that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from commonworks.core.codes import credit_code_with_check

HAIRUN = credit_code_with_check("91370200MA3C4D5E6")


def new_org(**overrides: Any) -> dict[str, Any]:
    body = {
        "name_zh": "青岛海润精密注塑有限公司", "name_en": "Qingdao Hairun Precision Moulding",
        "credit_code": HAIRUN, "region_code": "370200", "industry_code": "2929", "size_class": "small",
        "kind": "manufacturer", "latitude": 36.07, "longitude": 120.38,
        "owner": {"email": "liu.yang@hairun-mould.cn", "display_name": "刘洋", "password": "injection-2026"},
    }
    body.update(overrides)
    return body


def snapshot(client, tenants) -> list[Any]:  # type: ignore[no-untyped-def]
    """Everything the operator can see: compared before and after a refused request."""
    orgs = client.get("/api/v1/orgs?limit=500", headers=tenants.operator.owner.headers).json()
    users = client.get("/api/v1/users?limit=500", headers=tenants.a.owner.headers).json()
    return [orgs, users]


def test_operator_onboards_an_organization_with_its_owner(client, tenants) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/orgs", json=new_org(), headers=tenants.operator.owner.headers)
    assert response.status_code == 201, response.text
    org = response.json()
    assert org["credit_code"] == HAIRUN
    assert org["industry_code"] == "C2929"  # normalised with its section letter
    assert org["region_name"] == "山东省青岛市"
    assert org["industry_name_zh"] == "橡胶和塑料制品业"

    login = client.post("/api/v1/auth/login", json={"email": "liu.yang@hairun-mould.cn", "password": "injection-2026"})
    assert login.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}).json()
    assert (me["org_id"], me["role"]) == (org["id"], "owner")


def test_only_operator_staff_onboard(client, tenants) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client, tenants)
    for member in (tenants.a.owner, tenants.government.owner, tenants.operator.engineer):
        response = client.post("/api/v1/orgs", json=new_org(), headers=member.headers)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    assert snapshot(client, tenants) == before


@pytest.mark.parametrize(("override", "field", "words"), [
    ({"credit_code": HAIRUN[:-1] + ("0" if HAIRUN[-1] != "0" else "1")}, "credit_code", "check character"),
    ({"credit_code": "1234"}, "credit_code", "18 characters"),
    ({"region_code": "999999"}, "region_code", "GB/T 2260"),
    ({"region_code": "110103"}, "region_code", "abolished"),
    ({"industry_code": "99"}, "industry_code", "GB/T 4754-2017"),
    ({"industry_code": "A34"}, "industry_code", "section C"),
    ({"size_class": "huge"}, "size_class", "large"),
    ({"latitude": 91.0}, "latitude", "90"),
    ({"longitude": None}, None, "latitude and longitude together"),
    ({"owner": {"email": "not-an-email", "display_name": "x", "password": "long-enough"}}, "owner.email", "email"),
    ({"owner": {"email": "a@b.cn", "display_name": "x", "password": "short"}}, "owner.password", "8 characters"),
    ({"unexpected": 1}, "unexpected", "not permitted"),
])
def test_invalid_organization_is_422_naming_the_field_and_stores_nothing(
        client, tenants, override, field, words) -> None:  # type: ignore[no-untyped-def]
    before = snapshot(client, tenants)
    response = client.post("/api/v1/orgs", json=new_org(**override), headers=tenants.operator.owner.headers)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == field
    assert words in error["message"]
    assert snapshot(client, tenants) == before


def test_duplicate_credit_code_is_409_and_changes_nothing(client, tenants) -> None:  # type: ignore[no-untyped-def]
    dup = new_org(credit_code=tenants.a.credit_code.lower(), owner=None)
    before = snapshot(client, tenants)
    response = client.post("/api/v1/orgs", json=dup, headers=tenants.operator.owner.headers)
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "credit_code"
    assert snapshot(client, tenants) == before


def test_duplicate_owner_email_is_409_and_the_organization_is_not_half_created(
        client, tenants) -> None:  # type: ignore[no-untyped-def]
    body = new_org(owner={"email": tenants.a.viewer.email, "display_name": "x", "password": "long-enough"})
    before = snapshot(client, tenants)
    response = client.post("/api/v1/orgs", json=body, headers=tenants.operator.owner.headers)
    assert response.status_code == 409
    assert response.json()["error"]["field"] == "email"
    assert snapshot(client, tenants) == before


def test_members_see_only_their_own_organization(client, tenants) -> None:  # type: ignore[no-untyped-def]
    mine = client.get("/api/v1/orgs", headers=tenants.a.viewer.headers).json()
    assert [o["id"] for o in mine["items"]] == [tenants.a.org_id]
    assert mine["total"] == 1
    everyone = client.get("/api/v1/orgs", headers=tenants.operator.admin.headers).json()
    assert everyone["total"] == 4


def test_pagination_is_limit_and_offset(client, tenants) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/api/v1/orgs?limit=2&offset=1", headers=tenants.operator.owner.headers).json()
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (4, 2, 1, 2)
    assert [o["id"] for o in page["items"]] == [tenants.b.org_id, tenants.operator.org_id]
    bad = client.get("/api/v1/orgs?limit=0", headers=tenants.operator.owner.headers)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "limit"


def test_owner_edits_profile_but_viewer_may_not(client, tenants) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/orgs/{tenants.a.org_id}"
    response = client.patch(url, json={"name_en": "Jia Factory", "region_code": "340104"},
                            headers=tenants.a.admin.headers)
    assert response.status_code == 200
    assert response.json()["region_name"] == "安徽省蜀山区"
    denied = client.patch(url, json={"name_en": "Hacked"}, headers=tenants.a.viewer.headers)
    assert denied.status_code == 403
    assert client.get(url, headers=tenants.a.viewer.headers).json()["name_en"] == "Jia Factory"


def test_profile_edit_with_bad_code_changes_nothing(client, tenants) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/orgs/{tenants.a.org_id}"
    before = client.get(url, headers=tenants.a.owner.headers).json()
    for body, status in (({"industry_code": "00"}, 422), ({"credit_code": tenants.b.credit_code}, 409),
                         ({"latitude": 31.8}, 422)):
        response = client.patch(url, json={"name_zh": "改名", **body}, headers=tenants.a.owner.headers)
        assert response.status_code == status, response.text
    assert client.get(url, headers=tenants.a.owner.headers).json() == before


def test_operator_staff_may_edit_any_profile(client, tenants) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/orgs/{tenants.b.org_id}"
    response = client.patch(url, json={"latitude": 31.8, "longitude": 117.2},
                            headers=tenants.operator.owner.headers)
    assert response.status_code == 200
    assert (response.json()["latitude"], response.json()["longitude"]) == (31.8, 117.2)


def test_operator_deactivates_an_organization_and_its_users_are_locked_out(client, tenants) -> None:  # type: ignore[no-untyped-def]
    assert client.delete(f"/api/v1/orgs/{tenants.b.org_id}", headers=tenants.b.owner.headers).status_code == 403
    assert client.get("/api/v1/me", headers=tenants.b.viewer.headers).status_code == 200
    response = client.delete(f"/api/v1/orgs/{tenants.b.org_id}", headers=tenants.operator.admin.headers)
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get("/api/v1/me", headers=tenants.b.viewer.headers).status_code == 401
    assert client.post("/api/v1/auth/login", json={"email": tenants.b.owner.email, "password": "x"}).status_code == 401
    own = client.delete(f"/api/v1/orgs/{tenants.operator.org_id}", headers=tenants.operator.owner.headers)
    assert own.status_code == 409
    kept = client.get(f"/api/v1/orgs/{tenants.b.org_id}", headers=tenants.operator.owner.headers).json()
    assert kept["name_zh"] == "乙工厂"  # deactivated, not deleted
