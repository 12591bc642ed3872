"""Matches for a buyer's RFQ over the published network: only feasible suppliers, with reasons."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from commonworks.core.orgs.models import Organization
from tests.conftest import make_tenant

API = "/api/v1/network"
HEFEI, NINGBO = (31.82, 117.23), (29.87, 121.55)


def _supplier(
    client,
    db,
    password_hash,
    name: str,
    where: tuple[float, float],
    capability: dict,
    *,
    published: bool = True,
    hours_per_day: float = 10.0,
):  # type: ignore[no-untyped-def]
    tenant = make_tenant(db, password_hash, name=name)
    with db.transaction() as session:
        org = session.get(Organization, tenant.org_id)
        org.latitude, org.longitude = where
    h = tenant.owner.headers
    assert (
        client.put(
            f"{API}/profile",
            headers=h,
            json={"published": published, "description_zh": "数控加工 铝合金", "certifications": ["iso_9001"]},
        ).status_code
        == 200
    )
    made = client.post(f"{API}/capabilities", headers=h, json={**capability, "hours_per_day": hours_per_day})
    assert made.status_code == 201, made.text
    published_offers = client.post(f"{API}/capacity/publish", headers=h, json={"capability_id": made.json()["id"]})
    assert published_offers.status_code == 200, published_offers.text
    return tenant, made.json()["id"]


@pytest.fixture
def network(client, db, password_hash, tenants):  # type: ignore[no-untyped-def]
    milling = {
        "process": "milling",
        "materials": ["aluminium"],
        "envelope_x_mm": 800,
        "envelope_y_mm": 500,
        "envelope_z_mm": 500,
        "tolerance_mm": 0.01,
        "price_per_hour": 200,
    }
    near, near_cap = _supplier(
        client, db, password_hash, "合肥五轴精工", HEFEI, {**milling, "process": "milling_5axis"}
    )
    far, far_cap = _supplier(
        client, db, password_hash, "宁波铝件加工", NINGBO, {**milling, "tolerance_mm": 0.05, "price_per_hour": 120}
    )
    rough, _ = _supplier(client, db, password_hash, "合肥粗加工", HEFEI, {**milling, "tolerance_mm": 0.1})
    busy, _ = _supplier(client, db, password_hash, "合肥满产厂", HEFEI, milling, hours_per_day=1.0)
    hidden, _ = _supplier(client, db, password_hash, "未公开工厂", HEFEI, milling, published=False)
    return {"near": (near, near_cap), "far": (far, far_cap), "rough": rough, "busy": busy, "hidden": hidden}


def test_matches_show_only_feasible_suppliers_with_reasons(client, tenants, network) -> None:  # type: ignore[no-untyped-def]
    buyer = tenants.b.owner.headers
    due = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=9)).isoformat()
    demand = client.post(
        f"{API}/demands",
        headers=buyer,
        json={
            "kind": "part_rfq",
            "title": "6061 铝合金外壳 CNC 铣削",
            "description": "阳极氧化前精铣，平面度 0.05",
            "process": "milling",
            "material": "aluminium_6061",
            "quantity": 200,
            "envelope_x_mm": 300,
            "envelope_y_mm": 200,
            "envelope_z_mm": 60,
            "tolerance_mm": 0.05,
            "hours": 40,
            "due_date": due,
            "budget": 9000,
            "delivery_latitude": HEFEI[0],
            "delivery_longitude": HEFEI[1],
        },
    ).json()
    response = client.get(f"{API}/demands/{demand['id']}/matches", headers=buyer)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["candidates"] == 4  # published, placed, with capabilities (the unpublished one is not there)
    assert result["excluded"] == {"tolerance": 1, "capacity": 1}
    names = [m["name"] for m in result["matches"]]
    assert sorted(names) == ["合肥五轴精工", "宁波铝件加工"]
    by_name = {m["name"]: m for m in result["matches"]}
    near = by_name["合肥五轴精工"]
    assert near["capability_id"] == network["near"][1] and near["process"] == "milling_5axis"
    reasons = {c["name"]: c for c in near["constraints"]}
    assert all(c["passed"] for c in near["constraints"])
    assert set(reasons) >= {"process", "material", "envelope", "tolerance", "capacity"}
    assert "covers milling" in reasons["process"]["detail"]
    # the same reason as a message id and values, for a client that shows it in its own language
    assert (reasons["process"]["code"], reasons["process"]["args"]) == (
        "process.covers", {"have": "milling_5axis", "need": "milling"})
    assert "aluminium" in reasons["material"]["detail"]
    assert near["distance_km"] == 0.0 and by_name["宁波铝件加工"]["distance_km"] == pytest.approx(
        465.9, abs=0.1
    )  # great circle
    assert near["free_hours_before_due"] == 100.0  # 10 h a day, today through the due date (10 days)
    for match in result["matches"]:
        assert match["score"] == pytest.approx(sum(c["contribution"] for c in match["components"]), abs=1e-3)
        assert {c["name"] for c in match["components"]} == {"text", "distance", "price", "reputation", "capacity"}
    assert [m["rank"] for m in result["matches"]] == [1, 2]
    assert result["matches"][0]["score"] >= result["matches"][1]["score"]


def test_matches_are_the_buyers_alone_and_only_for_rfqs(client, tenants, network) -> None:  # type: ignore[no-untyped-def]
    buyer = tenants.b.owner.headers
    rfq = client.post(
        f"{API}/demands",
        headers=buyer,
        json={"kind": "part_rfq", "title": "支架", "process": "milling", "quantity": 10, "due_date": "2030-01-01"},
    ).json()
    supplier = network["near"][0].owner.headers
    assert client.get(f"{API}/demands/{rfq['id']}/matches", headers=supplier).status_code == 404
    question = client.post(
        f"{API}/demands", headers=buyer, json={"kind": "technical", "title": "缩痕", "description": "PA66 缩痕"}
    ).json()
    refused = client.get(f"{API}/demands/{question['id']}/matches", headers=buyer)
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "process"
    # a supplier's own demand never lists itself
    own = client.post(
        f"{API}/demands",
        headers=supplier,
        json={
            "kind": "part_rfq",
            "title": "外协铣削",
            "process": "milling",
            "quantity": 10,
            "due_date": "2030-01-01",
            "delivery_latitude": HEFEI[0],
            "delivery_longitude": HEFEI[1],
        },
    ).json()
    names = [m["name"] for m in client.get(f"{API}/demands/{own['id']}/matches", headers=supplier).json()["matches"]]
    assert "合肥五轴精工" not in names and "宁波铝件加工" in names


def test_allocation_places_the_buyers_rfqs_at_least_total_cost(client, db, password_hash, tenants) -> None:  # type: ignore[no-untyped-def]
    """Two RFQs of 20 machine hours each. 合肥甲 (150/h) and 宁波乙 (120/h, 465.9 km away: 3 CNY/km
    transport = 1,397.66) publish 1 h a day — 28 h in four weeks, room for one job each; 合肥丙 (200/h)
    has room for both. Costs: 甲 3,000; 乙 2,400 + 1,397.66 = 3,797.66; 丙 4,000. The cheapest plan puts
    one job at 甲 and one at 乙: 6,797.66."""
    milling = {"process": "milling", "materials": ["aluminium"], "tolerance_mm": 0.01}
    _supplier(client, db, password_hash, "合肥甲", HEFEI, {**milling, "price_per_hour": 150}, hours_per_day=1.0)
    _supplier(client, db, password_hash, "宁波乙", NINGBO, {**milling, "price_per_hour": 120}, hours_per_day=1.0)
    _supplier(client, db, password_hash, "合肥丙", HEFEI, {**milling, "price_per_hour": 200}, hours_per_day=10.0)
    buyer = tenants.b.owner.headers
    due = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=27)).isoformat()
    ids = []
    for title in ("端盖", "支架"):
        made = client.post(
            f"{API}/demands",
            headers=buyer,
            json={
                "kind": "part_rfq",
                "title": title,
                "process": "milling",
                "material": "aluminium",
                "quantity": 100,
                "tolerance_mm": 0.05,
                "hours": 20,
                "due_date": due,
                "delivery_latitude": HEFEI[0],
                "delivery_longitude": HEFEI[1],
            },
        )
        ids.append(made.json()["id"])
    plan = client.post(f"{API}/allocation", headers=buyer, json={"time_limit_s": 10})
    assert plan.status_code == 200, plan.text
    result = plan.json()
    assert result["objective"] == pytest.approx(6797.66, abs=0.02)
    assert result["gap"] <= 0.01 and result["served"] == 2
    assert sorted(a["supplier_name"] for a in result["assignment"]) == ["合肥甲", "宁波乙"]
    assert result["breakdown"]["transport"] == pytest.approx(1397.66, abs=0.02)
    assert {a["demand_id"] for a in result["assignment"]} == set(ids)
    other = client.post(f"{API}/allocation", headers=tenants.a.owner.headers, json={"demand_ids": [ids[0]]})
    assert other.status_code == 422 and other.json()["error"]["field"] == "demand_ids"
