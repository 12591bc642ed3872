"""Tenant isolation over the app's whole route table.

Every operation under /api/v1 is read from the app's OpenAPI document, so a route added later is covered
without editing this file — unless it needs a sample body or a path parameter this file
does not know yet, in which case the test fails and says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from commonworks.app import API_PREFIX, create_app
from commonworks.core.settings import Settings
from commonworks.operations.models import Alarm, AlarmStatus, MachineStateInterval, Severity
from commonworks.operations.states import State
from tests.conftest import Backend, SeededApp, make_plant

# Routes anybody may call without a token.
PUBLIC = {
    ("GET", "/api/v1/health"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/ingest"),
}  # gateway credential, not a user token: tests/telemetry

# Valid bodies, so that a refusal is about the tenant and not about the body.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/v1/orgs"): {
        "name_zh": "新企业",
        "credit_code": "91340100MA2N0C0Q05",
        "region_code": "340100",
        "industry_code": "C34",
        "size_class": "small",
    },
    ("PATCH", "/api/v1/orgs/{org_id}"): {"name_zh": "被改名"},
    ("POST", "/api/v1/users"): {"email": "intruder@factory-b.cn", "display_name": "x", "password": "long-enough"},
    ("PATCH", "/api/v1/users/{user_id}"): {"display_name": "被改名"},
    ("POST", "/api/v1/tokens"): {"name": "intruder"},
    ("POST", "/api/v1/sites"): {"name": "入侵厂区"},
    ("PATCH", "/api/v1/sites/{site_id}"): {"name": "被改名"},
    ("POST", "/api/v1/lines"): {"site_id": 1, "name": "入侵产线"},
    ("PATCH", "/api/v1/lines/{line_id}"): {"name": "被改名"},
    ("POST", "/api/v1/machines"): {"line_id": 1, "key": "intruder", "name": "x", "machine_type": "press"},
    ("PATCH", "/api/v1/machines/{machine_id}"): {"name": "被改名"},
    ("POST", "/api/v1/tags"): {"key": "intruder.x", "name": "x", "unit": "1", "machine_id": 1},
    ("PATCH", "/api/v1/tags/{tag_id}"): {"name": "被改名"},
    ("POST", "/api/v1/gateways"): {"key": "gw-intruder", "name": "x"},
    ("PATCH", "/api/v1/gateways/{gateway_id}"): {"name": "被改名"},
    ("PUT", "/api/v1/telemetry/retention"): {"raw_days": 1, "rollup_1m_days": 1, "rollup_1h_days": 1},
    ("POST", "/api/v1/state-rules"): {"machine_id": 1, "state_tag": "status"},
    ("PATCH", "/api/v1/state-rules/{state_rule_id}"): {"offline_after_s": 60},
    ("POST", "/api/v1/downtime-reasons"): {
        "code": "X",
        "name_zh": "入侵",
        "name_en": "x",
        "category": "other",
        "loss": "small_stops",
        "parent_id": 1,
    },
    ("PATCH", "/api/v1/downtime-reasons/{downtime_reason_id}"): {"name_zh": "被改名"},
    ("POST", "/api/v1/downtime-reasons/standard"): {},
    ("POST", "/api/v1/shift-calendars"): {
        "name": "入侵日历",
        "machine_id": 1,
        "shifts": [{"name": "早班", "start": "08:00", "end": "16:00"}],
    },
    ("PATCH", "/api/v1/shift-calendars/{shift_calendar_id}"): {"name": "被改名"},
    ("PUT", "/api/v1/machine-states/{state_id}/reason"): {"reason_id": 1, "note": "入侵"},
    ("POST", "/api/v1/alarm-rules"): {"name": "入侵", "kind": "threshold", "tag": "x", "limit": 1, "machine_id": 1},
    ("PATCH", "/api/v1/alarm-rules/{alarm_rule_id}"): {"name": "被改名", "enabled": False},
    ("POST", "/api/v1/alarms/{alarm_id}/acknowledge"): {},
    ("PUT", "/api/v1/network/profile"): {"published": True, "description_zh": "入侵"},
    ("POST", "/api/v1/network/capabilities"): {"process": "milling", "machine_ids": [1]},
    ("PATCH", "/api/v1/network/capabilities/{capability_id}"): {"price_per_hour": 1},
    ("POST", "/api/v1/network/bookings"): {
        "machine_id": 1,
        "start_ms": 1795700000000,
        "end_ms": 1795710000000,
        "label": "入侵",
    },
    ("PATCH", "/api/v1/network/bookings/{booking_id}"): {"label": "被改名"},
    ("POST", "/api/v1/network/capacity/publish"): {"capability_id": 1},
    ("POST", "/api/v1/network/demands"): {"kind": "technical", "title": "入侵", "description": "x"},
    ("POST", "/api/v1/network/allocation"): {"time_limit_s": 1},
    ("PUT", "/api/v1/network/demands/{demand_id}/status"): {"status": "open"},
    ("POST", "/api/v1/network/demands/{demand_id}/quotes"): {"price": 1, "lead_time_days": 1},
    ("POST", "/api/v1/network/quotes/{quote_id}/withdraw"): {},
    ("POST", "/api/v1/network/quotes/{quote_id}/accept"): {},
    ("POST", "/api/v1/network/orders/{order_id}/bind"): {"machine_id": 1},
    ("POST", "/api/v1/network/orders/{order_id}/deliver"): {"quantity": 1},
    ("POST", "/api/v1/network/orders/{order_id}/accept"): {"good_quantity": 0},
    ("PUT", "/api/v1/network/orders/{order_id}/rating"): {"stars": 1},
}

# Query parameters some collection routes need, pointing at tenant A's rows.
QUERIES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/tags/{tag_id}/series"): "?start=0&end=4102444800000",
    ("GET", "/api/v1/telemetry/export.csv"): "?start=0&end=4102444800000&tag_id={tag_id}",
    ("GET", "/api/v1/machines/{machine_id}/states"): "?start=1795700000000&end=1795800000000",
}


def _routes() -> list[tuple[str, str]]:
    """Every operation of the API, read from the app's OpenAPI document."""
    app = create_app(Settings(database_url="sqlite://", secret_key="x"), ui=False)
    paths = app.openapi()["paths"]
    return [(method.upper(), path) for path, ops in paths.items() if path.startswith(API_PREFIX) for method in ops]


ROUTES = _routes()
PRIVATE = [r for r in ROUTES if r not in PUBLIC]


def _fill(path: str, tenants) -> str:  # type: ignore[no-untyped-def]
    """Put tenant A's own ids into the path parameters."""
    a = tenants.a
    plant = a.plant
    ids = {
        "org_id": a.org_id,
        "user_id": a.viewer.user_id,
        "token_id": a.viewer_token_id,
        "site_id": plant.site_id,
        "line_id": plant.line_id,
        "machine_id": plant.machine_id,
        "tag_id": plant.tags["spindle_speed"],
        "gateway_id": plant.gateway_id,
        **a.operations,
    }
    ids["org_id"] = a.org_id  # (also the path parameter of an enterprise's reputation)

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in ids:
            pytest.fail(f"{path}: add tenant A's value for path parameter {name!r} to this test")
        return str(ids[name])

    return re.sub(r"\{(\w+)\}", one, path)


def _url(method: str, path: str, tenants) -> str:  # type: ignore[no-untyped-def]
    return _fill(path + QUERIES.get((method, path), ""), tenants)


def _state_of_a(client, tenants) -> list[Any]:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    plant = tenants.a.plant
    return [
        client.get(f"/api/v1/orgs/{tenants.a.org_id}", headers=h).json(),
        client.get("/api/v1/users?limit=500", headers=h).json(),
        client.get("/api/v1/tokens?limit=500", headers=tenants.a.viewer.headers).json(),
        *[
            client.get(f"/api/v1/{kind}?limit=500", headers=h).json()
            for kind in ("sites", "lines", "machines", "tags", "gateways")
        ],
        client.get(f"/api/v1/machines/{plant.machine_id}/latest", headers=h).json(),
        client.get("/api/v1/telemetry/retention", headers=h).json(),
        *[
            client.get(f"/api/v1/{kind}?limit=500", headers=h).json()
            for kind in ("state-rules", "downtime-reasons", "shift-calendars", "alarm-rules", "alarms")
        ],
        client.get(
            f"/api/v1/machines/{plant.machine_id}/states?start=1795700000000&end=1795800000000", headers=h
        ).json(),
        *[
            client.get(f"/api/v1/network/{kind}", headers=h).json()
            for kind in (
                "profile",
                "capabilities?limit=500",
                "bookings?limit=500",
                "demands?scope=mine",
                "orders",
                f"demands/{tenants.a.operations['demand_id']}/quotes",
            )
        ],
    ]


def _seed(client, tenants) -> None:  # type: ignore[no-untyped-def]
    """Tenant A with an API token, a plant with telemetry, and a gateway."""
    created = client.post("/api/v1/tokens", json={"name": "A's token"}, headers=tenants.a.viewer.headers).json()
    tenants.a.viewer_token_id = created["id"]
    tenants.a.plant = make_plant(client, tenants.a.owner, prefix="sentinel-a")
    batch = {"batch_id": "a-1", "series": [{"tag": "sentinel-a.spindle_speed", "ts": [1795770000000], "v": [1200.0]}]}
    assert client.post("/api/v1/ingest", json=batch, headers=tenants.a.plant.gateway_headers).status_code == 200
    h = tenants.a.owner.headers
    rule = client.post("/api/v1/state-rules", json={"machine_type": "cnc_mill"}, headers=h).json()
    assert client.post("/api/v1/downtime-reasons/standard", headers=h).status_code == 200
    reason = client.get("/api/v1/downtime-reasons?limit=1", headers=h).json()["items"][0]
    calendar = client.post(
        "/api/v1/shift-calendars",
        headers=h,
        json={"name": "两班", "shifts": [{"name": "早班", "start": "08:00", "end": "16:00"}]},
    ).json()
    with client.app.state.db.transaction() as session:
        stop = MachineStateInterval(
            org_id=tenants.a.org_id,
            machine_id=tenants.a.plant.machine_id,
            start_ms=1795760000000,
            end_ms=1795770000000,
            state=State.down_unplanned,
        )
        session.add(stop)
        session.flush()
        stop_id = stop.id
    alarm_rule = client.post(
        "/api/v1/alarm-rules",
        headers=h,
        json={"name": "超速", "kind": "threshold", "tag": "spindle_speed", "limit": 1000},
    ).json()
    with client.app.state.db.transaction() as session:
        alarm = Alarm(
            org_id=tenants.a.org_id,
            rule_id=alarm_rule["id"],
            machine_id=tenants.a.plant.machine_id,
            status=AlarmStatus.active,
            severity=Severity.warning,
            message="sentinel-a alarm",
            raised_ms=1795760000000,
        )
        session.add(alarm)
        session.flush()
        alarm_id = alarm.id
    tenants.a.operations = {
        "state_rule_id": rule["id"],
        "downtime_reason_id": reason["id"],
        "shift_calendar_id": calendar["id"],
        "state_id": stop_id,
        "alarm_rule_id": alarm_rule["id"],
        "alarm_id": alarm_id,
        **_network_of_a(client, tenants),
    }


@pytest.fixture(scope="session")
def seeded(backend: Backend, password_hash: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeededApp]:
    """Tenants A, B, an operator and a government, with A's rows of every kind: seeded once per backend, and
    copied back before each test that follows one which sent a request that may write."""
    app = SeededApp(backend, "tenancy", tmp_path_factory.mktemp("tenancy"), password_hash, seed=_seed)
    yield app
    app.close()


def _network_of_a(client, tenants) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Tenant A's network rows: a capability, a booking, a draft demand (private until published), and an
    order in production where A supplies the platform operator (no intruder is a party to it)."""
    h, api = tenants.a.owner.headers, "/api/v1/network"
    plant = tenants.a.plant
    client.put(f"{api}/profile", headers=h, json={"description_zh": "sentinel-a 机加工"})
    capability = client.post(
        f"{api}/capabilities", headers=h, json={"process": "milling", "machine_ids": [plant.machine_id]}
    ).json()
    booking = client.post(
        f"{api}/bookings",
        headers=h,
        json={
            "machine_id": plant.machine_id,
            "start_ms": 1795700000000,
            "end_ms": 1795710000000,
            "label": "sentinel-a job",
        },
    ).json()
    draft = client.post(
        f"{api}/demands",
        headers=h,
        json={"kind": "technical", "title": "sentinel-a 问题", "description": "sentinel-a", "publish": False},
    ).json()
    op = tenants.operator.owner.headers
    wanted = client.post(
        f"{api}/demands",
        headers=op,
        json={"kind": "part_rfq", "title": "支架", "process": "milling", "quantity": 10, "due_date": "2030-01-01"},
    ).json()
    quote = client.post(
        f"{api}/demands/{wanted['id']}/quotes",
        headers=h,
        json={"price": 100, "lead_time_days": 3, "note": "sentinel-a"},
    ).json()
    order = client.post(f"{api}/quotes/{quote['id']}/accept", headers=op).json()
    bound = client.post(
        f"{api}/orders/{order['id']}/bind",
        headers=h,
        json={"machine_id": plant.machine_id, "counter_tag_id": plant.tags["part_count"]},
    )
    assert bound.status_code == 200, bound.text
    return {
        "capability_id": capability["id"],
        "booking_id": booking["id"],
        "demand_id": draft["id"],
        "quote_id": quote["id"],
        "order_id": order["id"],
    }


def test_route_table_is_not_empty() -> None:
    assert len(PRIVATE) >= 10


@pytest.mark.parametrize(("method", "path"), PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_another_tenants_token_cannot_reach_or_change_data(seeded: SeededApp, method: str, path: str) -> None:
    tenants = seeded.tenants
    if method in {"POST", "PUT", "PATCH"} and (method, path) not in BODIES:
        pytest.fail(f"{method} {path}: add a valid sample body to BODIES in this test")
    client = seeded.fresh(writes=method != "GET")
    before = _state_of_a(client, tenants)
    url = _url(method, path, tenants)
    intruders = (tenants.b.owner, tenants.government.owner)
    for intruder in intruders:
        response = client.request(method, url, json=BODIES.get((method, path)), headers=intruder.headers)
        if "{" in path + QUERIES.get((method, path), ""):
            assert response.status_code in (403, 404), f"{intruder.email}: {response.status_code} {response.text}"
        else:
            assert response.status_code < 500
            assert tenants.a.name not in response.text  # a collection never lists another tenant's rows
            assert tenants.a.owner.email not in response.text
            assert "sentinel-a" not in response.text
    assert _state_of_a(client, tenants) == before


@pytest.mark.parametrize(("method", "path"), PRIVATE, ids=[f"{m} {p}" for m, p in PRIVATE])
def test_every_private_route_needs_a_token(seeded: SeededApp, method: str, path: str) -> None:
    client = seeded.fresh(writes=method != "GET")
    response = client.request(method, _url(method, path, seeded.tenants), json=BODIES.get((method, path)))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    seeded.untouched()  # refused by the token check, before the route's handler


def test_government_staff_never_read_an_enterprise_profile(client, tenants) -> None:  # type: ignore[no-untyped-def]
    for member in (tenants.government.owner, tenants.government.viewer):
        assert client.get(f"/api/v1/orgs/{tenants.a.org_id}", headers=member.headers).status_code == 404
        listed = client.get("/api/v1/orgs", headers=member.headers).json()
        assert [o["id"] for o in listed["items"]] == [tenants.government.org_id]


def test_a_token_of_tenant_b_cannot_be_revoked_by_tenant_a_admin(client, tenants) -> None:  # type: ignore[no-untyped-def]
    token = client.post("/api/v1/tokens", json={"name": "b"}, headers=tenants.b.viewer.headers).json()
    response = client.delete(f"/api/v1/tokens/{token['id']}", headers=tenants.a.owner.headers)
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['token']}"}).status_code == 200
