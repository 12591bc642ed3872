"""The demo's network: its factories offer their machines' spare hours next to a seeded set of suppliers."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from commonworks.demo import DEMO_PASSWORD, SYNTHETIC_SUPPLIERS, seed, seed_factories, seed_network
from commonworks.network.models import Capability, CapacityOffer, NetworkProfile


def _seed_all(db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        seed(session)
        seed_factories(session, tmp_path / "demo", "http://127.0.0.1:9")
        seed_network(session, now_ms=int(time.time() * 1000))


def test_demo_network_is_seeded_once_and_ranks_the_demo_job_shop(client, db, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _seed_all(db, tmp_path)
    _seed_all(db, tmp_path)  # idempotent
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(NetworkProfile)) == 3 + SYNTHETIC_SUPPLIERS
        with_machines = [c for c in session.scalars(select(Capability)) if c.machine_ids]
        assert sorted(c.process for c in with_machines) == [
            "bending", "injection_moulding", "laser_cutting", "milling", "turning"]
        assert session.scalar(select(func.count()).select_from(CapacityOffer)) > 100
    login = client.post("/api/v1/auth/login", json={"email": "owner@hengxin-sheet.cn", "password": DEMO_PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    due = (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=14)).isoformat()
    demand = client.post(
        "/api/v1/network/demands",
        headers=headers,
        json={
            "kind": "part_rfq",
            "title": "机柜铝合金支架 CNC 铣削加工",
            "process": "milling",
            "material": "aluminium_6061",
            "quantity": 300,
            "envelope_x_mm": 200,
            "envelope_y_mm": 120,
            "envelope_z_mm": 40,
            "tolerance_mm": 0.05,
            "hours": 30,
            "due_date": due,
            "budget": 12000,
        },
    )
    assert demand.status_code == 201, demand.text
    result = client.get(f"/api/v1/network/demands/{demand.json()['id']}/matches?top=20", headers=headers).json()
    assert result["candidates"] >= 30
    names = [m["name"] for m in result["matches"]]
    assert "合肥精工数控加工有限公司" in names
    assert "芜湖恒信钣金制造有限公司" not in names  # never the buyer itself
    hefei = next(m for m in result["matches"] if m["name"] == "合肥精工数控加工有限公司")
    assert hefei["region"] == "合肥市" and hefei["distance_km"] < 150
