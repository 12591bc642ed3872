"""Network API: profile, capabilities, spare capacity, demands → quotes → orders → progress → reputation."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from commonworks.network.models import Order
from commonworks.operations.models import MachineStateInterval
from commonworks.operations.states import State
from tests.conftest import make_plant

ZONE = ZoneInfo("Asia/Shanghai")
H = 3_600_000
API = "/api/v1/network"


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    return make_plant(client, tenants.a.owner, prefix="vmc-01")


def _day_ms(day: date, hour: float = 0.0) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=ZONE).timestamp() * 1000 + hour * H)


def test_profile_round_trip_and_taxonomy(client, tenants) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    assert client.get(f"{API}/profile", headers=h).json()["published"] is False
    body = {
        "published": True,
        "description_zh": "精密数控加工",
        "certifications": ["iso_9001", "iatf_16949"],
        "lead_time_days": 10,
    }
    saved = client.put(f"{API}/profile", json=body, headers=h)
    assert saved.status_code == 200, saved.text
    assert client.get(f"{API}/profile", headers=h).json()["certifications"] == ["iso_9001", "iatf_16949"]
    bad = client.put(f"{API}/profile", json={**body, "certifications": ["iso_9000"]}, headers=h)
    assert bad.status_code == 422 and "unknown certification 'iso_9000'" in bad.json()["error"]["message"]
    assert client.put(f"{API}/profile", json=body, headers=tenants.a.viewer.headers).status_code == 403
    t = client.get(f"{API}/taxonomy?locale=zh", headers=h).json()
    assert len(t["groups"]) == 6
    milling = next(p for p in t["processes"] if p["code"] == "milling_5axis")
    assert (milling["name"], milling["group"], milling["parent"]) == ("五轴加工", "separating", "milling")


def test_capability_checks_name_the_field(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    good = {
        "process": "milling",
        "materials": ["aluminium", "stainless_304"],
        "envelope_x_mm": 800,
        "envelope_y_mm": 500,
        "envelope_z_mm": 500,
        "tolerance_mm": 0.01,
        "price_per_hour": 180,
        "machine_ids": [plant.machine_id],
    }
    made = client.post(f"{API}/capabilities", json=good, headers=h)
    assert made.status_code == 201, made.text
    cases = [
        ({"process": "milingg"}, "process", "unknown process"),
        ({"materials": ["unobtainium"]}, "materials", "unknown material"),
        ({"batch_min": 100, "batch_max": 10}, None, "batch_max (10) is below batch_min (100)"),
        ({"machine_ids": [plant.machine_id, plant.machine_id]}, "machine_ids", "listed twice"),
    ]
    for change, field, message in cases:
        response = client.post(f"{API}/capabilities", json={**good, **change}, headers=h)
        assert response.status_code == 422, change
        assert message in response.json()["error"]["message"], response.text
        if field:
            assert field in str(response.json()["error"]["field"])
    other = make_plant(client, tenants.b.owner, prefix="b-01", gateway_key="gw-b")
    foreign = client.post(f"{API}/capabilities", json={**good, "machine_ids": [other.machine_id]}, headers=h)
    assert foreign.status_code == 422 and foreign.json()["error"]["field"] == "machine_ids"
    assert client.get(f"{API}/capabilities", headers=h).json()["total"] == 1


def test_spare_capacity_worked_example(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    """One shift 08:00–16:00 Mon–Fri with a 12:00–12:30 break → 7.5 planned hours a weekday. For the last
    four weeks the machine produced 08:00–11:00 every weekday → utilisation 3 / 7.5 = 0.4, expected
    load 3 h a weekday. A 2 h booking on the next weekday after tomorrow leaves 7.5 − 2 − 3 = 2.5 h free."""
    h = tenants.a.owner.headers
    client.post(
        "/api/v1/shift-calendars",
        headers=h,
        json={
            "name": "单班",
            "timezone": "Asia/Shanghai",
            "shifts": [
                {
                    "name": "白班",
                    "start": "08:00",
                    "end": "16:00",
                    "days": [1, 2, 3, 4, 5],
                    "breaks": [["12:00", "12:30"]],
                }
            ],
        },
    )
    today = datetime.now(ZONE).date()
    with client.app.state.db.transaction() as session:
        for back in range(1, 29):
            day = today - timedelta(days=back)
            if day.isoweekday() <= 5:
                session.add(
                    MachineStateInterval(
                        org_id=tenants.a.org_id,
                        machine_id=plant.machine_id,
                        start_ms=_day_ms(day, 8),
                        end_ms=_day_ms(day, 11),
                        state=State.producing,
                    )
                )
    booked_day = today + timedelta(days=2)
    while booked_day.isoweekday() > 5:
        booked_day += timedelta(days=1)
    booking = client.post(
        f"{API}/bookings",
        headers=h,
        json={
            "machine_id": plant.machine_id,
            "start_ms": _day_ms(booked_day, 13),
            "end_ms": _day_ms(booked_day, 15),
            "label": "老客户 订单",
        },
    )
    assert booking.status_code == 201, booking.text
    capability = client.post(
        f"{API}/capabilities",
        headers=h,
        json={"process": "milling", "price_per_hour": 150, "machine_ids": [plant.machine_id]},
    ).json()
    report = client.get(f"{API}/capacity", headers=h).json()
    machine = report["machines"][0]
    assert machine["utilisation"] == pytest.approx(0.4)
    days = {d["day"]: d for d in machine["days"]}
    assert len(days) == 28
    b = days[booked_day.isoformat()]
    assert (b["shift_h"], b["booked_h"], b["expected_h"], b["free_h"]) == (7.5, 2.0, 3.0, 2.5)
    saturday = next(d for d in machine["days"] if date.fromisoformat(d["day"]).isoweekday() == 6)
    assert (saturday["shift_h"], saturday["free_h"]) == (0.0, 0.0)
    plain = next(
        d
        for d in machine["days"]
        if date.fromisoformat(d["day"]).isoweekday() <= 5 and d["day"] != booked_day.isoformat()
    )
    assert plain["free_h"] == 4.5
    # the capability adds up its machines; publishing half, in half hours, at a price
    offers = client.post(
        f"{API}/capacity/publish",
        headers=h,
        json={"capability_id": capability["id"], "share": 0.5, "price_per_hour": 160},
    )
    assert offers.status_code == 200, offers.text
    by_day = {o["day"]: o for o in offers.json()}
    assert by_day[booked_day.isoformat()]["hours"] == 1.0  # 2.5 × 0.5 = 1.25 → 1.0
    assert by_day[plain["day"]]["hours"] == 2.0  # 4.5 × 0.5 = 2.25 → 2.0
    assert by_day[booked_day.isoformat()]["price_per_hour"] == 160
    again = client.get(f"{API}/capacity", headers=h).json()["capabilities"][0]
    assert {d["day"]: d["published_h"] for d in again["days"]}[plain["day"]] == 2.0
    inverted = client.post(
        f"{API}/bookings",
        headers=h,
        json={
            "machine_id": plant.machine_id,
            "start_ms": _day_ms(booked_day, 15),
            "end_ms": _day_ms(booked_day, 13),
            "label": "倒置",
        },
    )
    assert inverted.status_code == 422 and "end_ms must be after start_ms" in inverted.text
    assert client.delete(f"{API}/capabilities/{capability['id']}/offers", headers=h).json() == {"withdrawn": 28}


def _ingest(client, plant, tag: str, points: list[tuple[int, float]]) -> None:  # type: ignore[no-untyped-def]
    batch = {
        "batch_id": f"b-{points[0][0]}",
        "series": [{"tag": tag, "ts": [t for t, _ in points], "v": [v for _, v in points]}],
    }
    response = client.post("/api/v1/ingest", json=batch, headers=plant.gateway_headers)
    assert response.status_code == 200 and not response.json().get("rejected"), response.text


def test_rfq_to_order_with_progress_from_the_suppliers_counter(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    buyer, supplier = tenants.b.owner.headers, tenants.a.owner.headers
    due = (datetime.now(ZONE).date() + timedelta(days=20)).isoformat()
    rfq = {
        "kind": "part_rfq",
        "title": "铝合金支架 CNC 加工 500 件",
        "process": "milling",
        "material": "aluminium_6061",
        "quantity": 500,
        "envelope_x_mm": 120,
        "envelope_y_mm": 80,
        "envelope_z_mm": 30,
        "tolerance_mm": 0.05,
        "hours": 20,
        "due_date": due,
        "budget": 30000,
    }
    incomplete = client.post(f"{API}/demands", headers=buyer, json={**rfq, "due_date": None})
    assert incomplete.status_code == 422 and "needs due_date" in incomplete.text
    demand = client.post(f"{API}/demands", headers=buyer, json=rfq)
    assert demand.status_code == 201, demand.text
    demand_id = demand.json()["id"]
    market = client.get(f"{API}/demands?scope=market", headers=supplier).json()
    assert [d["id"] for d in market["items"]] == [demand_id]
    assert client.get(f"{API}/demands?scope=market", headers=buyer).json()["total"] == 0  # not your own
    own = client.post(f"{API}/demands/{demand_id}/quotes", headers=buyer, json={"price": 1, "lead_time_days": 1})
    assert own.status_code == 422
    quote = client.post(
        f"{API}/demands/{demand_id}/quotes",
        headers=supplier,
        json={"price": 26000, "lead_time_days": 12, "note": "含阳极氧化"},
    )
    assert quote.status_code == 201, quote.text
    rival = client.post(
        f"{API}/demands/{demand_id}/quotes",
        headers=tenants.operator.owner.headers,
        json={"price": 25000, "lead_time_days": 15},
    ).json()
    assert [q["price"] for q in client.get(f"{API}/demands/{demand_id}/quotes", headers=buyer).json()] == [25000, 26000]
    assert [q["price"] for q in client.get(f"{API}/demands/{demand_id}/quotes", headers=supplier).json()] == [26000]
    assert client.post(f"{API}/quotes/{quote.json()['id']}/accept", headers=supplier).status_code == 404
    order = client.post(f"{API}/quotes/{quote.json()['id']}/accept", headers=buyer)
    assert order.status_code == 201, order.text
    order_id = order.json()["id"]
    assert client.get(f"{API}/demands/{demand_id}", headers=buyer).json()["status"] == "awarded"
    assert [q["status"] for q in client.get(f"{API}/demands/{demand_id}/quotes", headers=buyer).json()] == [
        "rejected",
        "accepted",
    ]
    assert client.post(f"{API}/quotes/{rival['id']}/accept", headers=buyer).status_code == 409

    # the supplier runs it on its machine: counting starts from the counter's reading at binding
    now = int(time.time() * 1000)
    _ingest(client, plant, "vmc-01.part_count", [(now - 60_000, 100.0)])
    bound = client.post(
        f"{API}/orders/{order_id}/bind",
        headers=supplier,
        json={"machine_id": plant.machine_id, "counter_tag_id": plant.tags["part_count"]},
    )
    assert bound.status_code == 200, bound.text
    t0 = bound.json()["bound_ms"]
    _ingest(
        client,
        plant,
        "vmc-01.part_count",
        [(t0 + 30_000, 110.0), (t0 + 90_000, 120.0), (t0 + 150_000, 5.0), (t0 + 210_000, 15.0)],
    )  # a reset
    seen = client.get(f"{API}/orders/{order_id}", headers=buyer).json()
    progress = seen["progress"]
    assert progress["made"] == 35  # 10 + 10 + 5 (after the reset) + 10
    assert progress["rate_per_hour"] == pytest.approx(600.0)  # 35 parts in 210 s
    assert progress["expected_finish_ms"] == t0 + 210_000 + 2_790_000  # 465 left at 600/h = 46.5 min
    assert progress["on_track"] is True
    assert seen["machine_id"] is None and seen["role"] == "buyer"  # the buyer never sees the supplier's machines
    assert client.get(f"/api/v1/machines/{plant.machine_id}/latest", headers=buyer).status_code == 404
    assert client.get(f"{API}/orders/{order_id}", headers=supplier).json()["machine_id"] == plant.machine_id
    assert client.get(f"{API}/orders/{order_id}", headers=tenants.operator.owner.headers).status_code == 404

    # delivery, acceptance, ratings, reputation
    assert client.post(f"{API}/orders/{order_id}/accept", headers=buyer, json={"good_quantity": 1}).status_code == 409
    delivered = client.post(f"{API}/orders/{order_id}/deliver", headers=supplier, json={"quantity": 480})
    assert delivered.json()["status"] == "delivered"
    too_many = client.post(f"{API}/orders/{order_id}/accept", headers=buyer, json={"good_quantity": 481})
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "good_quantity"
    accepted = client.post(f"{API}/orders/{order_id}/accept", headers=buyer, json={"good_quantity": 470})
    assert accepted.json()["status"] == "accepted"
    assert client.put(f"{API}/orders/{order_id}/rating", headers=buyer, json={"stars": 4}).status_code == 200
    assert client.put(f"{API}/orders/{order_id}/rating", headers=buyer, json={"stars": 6}).status_code == 422
    reputation = client.get(f"{API}/enterprises/{tenants.a.org_id}/reputation", headers=supplier).json()
    assert (reputation["orders_90d"], reputation["on_time_90d"], reputation["quality_90d"]) == (1, 1.0, 0.9792)
    assert reputation["score"] == pytest.approx((1.0 + 0.9792) / 2, abs=1e-4)
    assert (reputation["stars"], reputation["ratings"]) == (4.0, 1)
    # unpublished profile: the network does not see the reputation
    assert client.get(f"{API}/enterprises/{tenants.a.org_id}/reputation", headers=buyer).status_code == 404
    with client.app.state.db.transaction() as session:
        assert session.get(Order, order_id).made_at_close == 35


def test_draft_demands_are_private_and_state_changes_are_checked(client, tenants) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    draft = client.post(
        f"{API}/demands",
        headers=h,
        json={"kind": "technical", "title": "注塑件缩痕怎么解决", "description": "PA66 外壳表面缩痕", "publish": False},
    ).json()
    assert draft["status"] == "draft"
    assert client.get(f"{API}/demands/{draft['id']}", headers=tenants.b.owner.headers).status_code == 404
    assert (
        client.post(
            f"{API}/demands/{draft['id']}/quotes",
            headers=tenants.b.owner.headers,
            json={"price": 100, "lead_time_days": 1},
        ).status_code
        == 404
    )
    bad = client.put(f"{API}/demands/{draft['id']}/status", headers=h, json={"status": "closed"})
    assert bad.status_code == 409 and "a draft demand cannot become closed" in bad.text
    opened = client.put(f"{API}/demands/{draft['id']}/status", headers=h, json={"status": "open"}).json()
    assert opened["status"] == "open" and opened["published_at"]
    assert client.get(f"{API}/demands/{draft['id']}", headers=tenants.b.owner.headers).json()["mine"] is False
    service = client.post(f"{API}/demands", headers=h, json={"kind": "service", "title": "数字化诊断"})
    assert service.status_code == 422 and "needs service_kind" in service.text
