"""A machine's part tag: validated as one of its own tags, and its parts valued at the ideal cycle time of the
program they were made with — through ingest, the stored hourly counts and the KPI report (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from commonworks.operations.models import MachineCount
from tests.conftest import make_plant
from tests.operations.test_derive import refresh, send, speed, state

S = 1000
MIN = 60 * S
HOUR = 3600 * S
NOW = (time.time_ns() // 1_000_000) // MIN * MIN


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    made = make_plant(client, tenants.a.owner)  # has the tag cnc-01.program
    for key, data_type in (("machinery_item_state", "int"), ("part_counter", "int")):
        response = client.post(
            "/api/v1/tags",
            headers=tenants.a.owner.headers,
            json={
                "key": f"cnc-01.{key}",
                "name": key,
                "unit": "1",
                "data_type": data_type,
                "machine_id": made.machine_id,
            },
        )
        assert response.status_code == 201, response.text
    return made


def machine(client, member, machine_id: int) -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/machines/{machine_id}", headers=member.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_part_tag_must_be_one_of_the_machines_own_tags(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    url = f"/api/v1/machines/{plant.machine_id}"
    assert machine(client, tenants.a.owner, plant.machine_id)["part_tag_key"] is None
    # a tag that does not exist, a tag of no machine, a new machine (no tags yet), a malformed key
    assert (
        client.post(
            "/api/v1/tags", headers=h, json={"key": "hall.program", "name": "hall", "unit": "1", "data_type": "string"}
        ).status_code
        == 201
    )
    for key in ("cnc-01.no_such_tag", "hall.program"):
        response = client.patch(url, json={"part_tag_key": key}, headers=h)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "part_tag_key"
        assert key in response.json()["error"]["message"]
    response = client.post(
        "/api/v1/machines",
        headers=h,
        json={
            "line_id": plant.line_id,
            "key": "cnc-02",
            "name": "二号机",
            "machine_type": "cnc_mill",
            "part_tag_key": "cnc-01.program",
        },
    )
    assert response.status_code == 422 and response.json()["error"]["field"] == "part_tag_key", response.text
    assert "no tags yet" in response.json()["error"]["message"]
    response = client.patch(url, json={"part_tag_key": "Program Name"}, headers=h)
    assert response.status_code == 422 and "part_tag_key" in response.text
    # nothing was stored by the refused requests
    assert machine(client, tenants.a.owner, plant.machine_id)["part_tag_key"] is None
    keys = [m["key"] for m in client.get("/api/v1/machines", headers=h).json()["items"]]
    assert keys == ["cnc-01"]
    # its own tag is taken, with ideal cycle times keyed by the programs; null clears it
    response = client.patch(
        url, json={"part_tag_key": "cnc-01.program", "ideal_cycle_times": {"O100": 60.0}}, headers=h
    )
    assert response.status_code == 200 and response.json()["part_tag_key"] == "cnc-01.program", response.text
    # another tenant: tenant A's tag is not its machine's, its own tag of the same key as A's is
    other = make_plant(client, tenants.b.owner, gateway_key="gw-b")
    assert (
        client.patch(
            f"/api/v1/machines/{other.machine_id}",
            json={"part_tag_key": "hall.program"},
            headers=tenants.b.owner.headers,
        ).status_code
        == 422
    )
    assert (
        client.patch(
            f"/api/v1/machines/{other.machine_id}",
            json={"part_tag_key": "cnc-01.program"},
            headers=tenants.b.owner.headers,
        ).status_code
        == 200
    )
    assert client.patch(url, json={"name": "改名"}, headers=h).status_code == 200  # other changes don't re-check
    assert client.patch(url, json={"part_tag_key": None}, headers=h).json()["part_tag_key"] is None
    assert (
        client.patch(url, json={"part_tag_key": "cnc-01.program"}, headers=tenants.a.viewer.headers).status_code == 403
    )


def test_parts_are_valued_at_the_ideal_cycle_of_their_program(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    """Programs A (ideal 60 s), B (90 s) and C (none) over two hours, producing throughout:

    ======  =======  =====  =======  =========================================
    time    counter  parts  program  planned run time
    ======  =======  =====  =======  =========================================
    00:50   100                      (the first reading)
    00:56   110      10     A        10 × 60 = 600 s (B is loaded at 00:56: not yet)
    01:02   112      2      B        2 × 90 = 180 s
    01:20   3        3      B        reset: 3 × 90 = 270 s
    01:30   8        5      B        5 × 90 = 450 s
    01:50   10       2      C        no ideal time: the fastest, 2 × 60 = 120 s
    ======  =======  =====  =======  =========================================

    Hour 0: 10 parts, 600 s; hour 1: 12 parts, 900 s with their own cycle + 2 without.
    Over both hours: ΣPRI·PQ = 600 + 900 + 120 = 1,620 s; APT = 7,200 s; E = 1,620 / 7,200 = 0.225. Before the
    part tag every part was valued at the fastest program: 22 × 60 = 1,320 s, E = 0.1833.
    """
    db = client.app.state.db
    h = tenants.a.owner.headers
    assert (
        client.patch(
            f"/api/v1/machines/{plant.machine_id}",
            headers=h,
            json={"part_tag_key": "cnc-01.program", "ideal_cycle_times": {"A": 60.0, "B": 90.0}},
        ).status_code
        == 200
    )
    base = NOW // HOUR * HOUR - 3 * HOUR
    parts = [(50, 100), (56, 110), (62, 112), (80, 3), (90, 8), (110, 10)]
    programs = [(40, "A"), (56, "B"), (100, "C")]
    send(
        client,
        plant,
        [
            speed(base, base + 3 * HOUR),
            state([(base, 3)]),
            {"tag": "cnc-01.part_counter", "ts": [base + m * MIN for m, _ in parts], "v": [v for _, v in parts]},
            {"tag": "cnc-01.program", "ts": [base + m * MIN for m, _ in programs], "v": [p for _, p in programs]},
        ],
        "programs",
    )
    refresh(db, base + 3 * HOUR)
    with db.transaction() as session:
        rows = session.scalars(
            select(MachineCount).where(MachineCount.machine_id == plant.machine_id).order_by(MachineCount.hour_ms)
        ).all()
        assert [((r.hour_ms - base) // HOUR, r.produced, r.planned_run_s, r.own_cycle_parts) for r in rows] == [
            (0, 10, 600.0, 10),
            (1, 12, 900.0, 10),
        ]
    response = client.get(
        "/api/v1/operations/kpi",
        headers=tenants.a.viewer.headers,
        params={"start": base, "end": base + 2 * HOUR, "machine_id": plant.machine_id},
    )
    assert response.status_code == 200, response.text
    doc = response.json()
    [entry] = doc["machines"]
    assert (entry["produced"], entry["apt_s"], entry["pri_pq_s"]) == (22, 7_200, 1_620)
    assert (entry["ideal_cycle_s"], entry["part_tag_key"], entry["parts_without_own_cycle"]) == (
        60.0,
        "cnc-01.program",
        2,
    )
    assert entry["effectiveness"] == pytest.approx(0.225, abs=1e-12)
    assert doc["total"]["parts_without_own_cycle"] == 2 and doc["total"]["pri_pq_s"] == 1_620

    # rows stored before the planned run time was (no planned time, no own-cycle parts) are valued as before
    with db.transaction() as session:
        for row in session.scalars(select(MachineCount).where(MachineCount.machine_id == plant.machine_id)):
            row.planned_run_s, row.own_cycle_parts = None, None
    entry = client.get(
        "/api/v1/operations/kpi",
        headers=tenants.a.viewer.headers,
        params={"start": base, "end": base + 2 * HOUR, "machine_id": plant.machine_id},
    ).json()["machines"][0]
    assert (entry["pri_pq_s"], entry["parts_without_own_cycle"]) == (1_320, 22)
    assert entry["effectiveness"] == pytest.approx(1_320 / 7_200, abs=1e-12)


def test_without_a_part_tag_every_part_is_valued_at_the_fastest_cycle(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    """The same counters with no part tag: 22 parts × 42 s (make_plant's one family) = 924 s."""
    db = client.app.state.db
    base = NOW // HOUR * HOUR - 3 * HOUR
    parts = [(50, 100), (56, 110), (62, 112), (80, 3), (90, 8), (110, 10)]
    send(
        client,
        plant,
        [
            speed(base, base + 3 * HOUR),
            state([(base, 3)]),
            {"tag": "cnc-01.part_counter", "ts": [base + m * MIN for m, _ in parts], "v": [v for _, v in parts]},
            {"tag": "cnc-01.program", "ts": [base], "v": ["bracket"]},
        ],
        "no-part-tag",
    )
    refresh(db, base + 3 * HOUR)
    entry = client.get(
        "/api/v1/operations/kpi",
        headers=tenants.a.viewer.headers,
        params={"start": base, "end": base + 2 * HOUR, "machine_id": plant.machine_id},
    ).json()["machines"][0]
    assert (entry["produced"], entry["pri_pq_s"], entry["parts_without_own_cycle"]) == (22, 924, 22)
    assert entry["part_tag_key"] is None
