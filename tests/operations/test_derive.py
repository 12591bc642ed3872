"""Stored machine states follow ingest: marks, recomputation, late backlogs, kept reasons (SQLite and PostgreSQL)."""

from __future__ import annotations

import gzip
import time

import orjson
import pytest
from sqlalchemy import select

from commonworks.operations.derive import refresh_states
from commonworks.operations.models import DowntimeReason, LossKind, MachineCount, MachineStateInterval, ReasonCategory
from commonworks.telemetry.models import MachineDataMark
from tests.conftest import make_plant

S = 1000
MIN = 60 * S
NOW = (time.time_ns() // 1_000_000) // MIN * MIN
T0 = NOW - 2 * 3600 * S  # two hours ago, on a minute


def send(client, plant, series: list[dict], batch_id: str) -> None:  # type: ignore[no-untyped-def]
    body = gzip.compress(orjson.dumps({"batch_id": batch_id, "series": series}))
    response = client.post("/api/v1/ingest", content=body, headers={
        **plant.gateway_headers, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert response.json()["rejected_count"] == 0


def speed(start: int, end: int) -> dict:
    """Spindle speed every 10 s from start to end (the machine is talking)."""
    ts = list(range(start, end, 10 * S))
    return {"tag": "cnc-01.spindle_speed", "ts": ts, "v": [8000.0] * len(ts)}


def state(points: list[tuple[int, int]]) -> dict:
    return {"tag": "cnc-01.machinery_item_state", "ts": [t for t, _ in points], "v": [v for _, v in points]}


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    made = make_plant(client, tenants.a.owner)
    response = client.post("/api/v1/tags", headers=tenants.a.owner.headers, json={
        "key": "cnc-01.machinery_item_state", "name": "MachineryItemState", "unit": "1", "data_type": "int",
        "machine_id": made.machine_id})
    assert response.status_code == 201, response.text
    return made


def stored(db, machine_id: int) -> list[tuple[int, int, str]]:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        rows = session.scalars(select(MachineStateInterval).where(MachineStateInterval.machine_id == machine_id)
                               .order_by(MachineStateInterval.start_ms)).all()
        return [((r.start_ms - T0) // S, (r.end_ms - T0) // S, r.state.value) for r in rows]


def refresh(db, now: int) -> None:  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        refresh_states(session, now_ms=now)


def test_ingest_marks_the_machine_and_states_follow(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    send(client, plant, [speed(T0 + MIN, T0 + 30 * MIN)], "b0")
    send(client, plant, [speed(T0, T0 + MIN), state([(T0, 3), (T0 + 10 * MIN, 1), (T0 + 15 * MIN, 3)])], "b1")
    with db.transaction() as session:
        mark = session.get(MachineDataMark, plant.machine_id)
        assert (mark.from_ms, mark.org_id, mark.version) == (T0, tenants.a.org_id, 2)  # the earliest of both
    refresh(db, T0 + 30 * MIN)
    # producing 0–600 s, down 600–900 s, producing since 900 s up to "now" (1,800 s)
    assert stored(db, plant.machine_id) == [(0, 600, "producing"), (600, 900, "down_unplanned"),
                                            (900, 1800, "producing")]
    with db.transaction() as session:
        assert session.get(MachineDataMark, plant.machine_id) is None  # caught up: the mark is cleared


def test_live_edge_grows_and_goes_offline_when_the_machine_falls_silent(client, plant) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    send(client, plant, [speed(T0, T0 + 20 * MIN), state([(T0, 3)])], "b1")
    refresh(db, T0 + 10 * MIN)
    assert stored(db, plant.machine_id) == [(0, 600, "producing")]
    refresh(db, T0 + 20 * MIN)  # the same interval goes on
    assert stored(db, plant.machine_id) == [(0, 1200, "producing")]
    refresh(db, T0 + 40 * MIN)  # no data since 1,190 s; the default timeout is 300 s
    assert stored(db, plant.machine_id) == [(0, 1190, "producing"), (1190, 2400, "offline")]


def test_a_late_backlog_replaces_the_offline_it_left(client, plant) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    send(client, plant, [speed(T0, T0 + 10 * MIN), state([(T0, 3)])], "live-1")
    send(client, plant, [speed(T0 + 30 * MIN, T0 + 40 * MIN)], "live-2")
    refresh(db, T0 + 40 * MIN)
    assert stored(db, plant.machine_id) == [(0, 590, "producing"), (590, 1800, "offline"), (1800, 2400, "producing")]
    # the gateway's store-and-forward delivers the outage's samples later: a breakdown in the middle
    send(client, plant, [speed(T0 + 10 * MIN, T0 + 30 * MIN), state([(T0 + 15 * MIN, 1), (T0 + 25 * MIN, 3)])],
         "backlog")
    refresh(db, T0 + 40 * MIN)
    assert stored(db, plant.machine_id) == [(0, 900, "producing"), (900, 1500, "down_unplanned"),
                                            (1500, 2400, "producing")]


def test_a_reason_assigned_to_a_stop_survives_recomputation(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    send(client, plant, [speed(T0, T0 + 20 * MIN), state([(T0, 3), (T0 + 5 * MIN, 1), (T0 + 8 * MIN, 3)])], "b1")
    refresh(db, T0 + 20 * MIN)
    with db.transaction() as session:
        reason = DowntimeReason(org_id=tenants.a.org_id, code="MECH", name_zh="机械故障", name_en="Mechanical failure",
                                category=ReasonCategory.unplanned, loss=LossKind.breakdown)
        session.add(reason)
        session.flush()
        stop = session.scalar(select(MachineStateInterval).where(MachineStateInterval.state == "down_unplanned"))
        stop.reason_id, stop.note = reason.id, "主轴轴承"
    # late data from before the stop (a gateway's backlog) forces a recomputation over the stop
    send(client, plant, [{"tag": "cnc-01.part_count", "ts": [T0 + 30 * S], "v": [1]}], "late")
    refresh(db, T0 + 20 * MIN)
    with db.transaction() as session:
        stop = session.scalar(select(MachineStateInterval).where(MachineStateInterval.state == "down_unplanned"))
        assert ((stop.start_ms - T0) // S, (stop.end_ms - T0) // S, stop.note) == (300, 480, "主轴轴承")
        assert stop.reason_id is not None


def test_hourly_part_counts_follow_the_counters_through_a_reset(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    db = client.app.state.db
    for key in ("part_counter", "scrap_counter"):
        assert client.post("/api/v1/tags", headers=tenants.a.owner.headers, json={
            "key": f"cnc-01.{key}", "name": key, "unit": "{count}", "data_type": "int",
            "machine_id": plant.machine_id}).status_code == 201
    hour = 3600 * S
    base = NOW // hour * hour - 3 * hour
    parts = [(base + 10 * MIN, 100), (base + 40 * MIN, 130), (base + 80 * MIN, 160), (base + 110 * MIN, 5),
             (base + 130 * MIN, 25)]  # 30 in the first hour; 30 and, after the reset, 5 in the second; 20 in the third
    scrap = [(base + 10 * MIN, 0), (base + 80 * MIN, 2)]
    send(client, plant, [speed(base, base + 3 * hour), state([(base, 3)]),
                         {"tag": "cnc-01.part_counter", "ts": [t for t, _ in parts], "v": [v for _, v in parts]},
                         {"tag": "cnc-01.scrap_counter", "ts": [t for t, _ in scrap], "v": [v for _, v in scrap]}],
         "counts")
    refresh(db, base + 3 * hour)
    with db.transaction() as session:
        rows = session.scalars(select(MachineCount).order_by(MachineCount.hour_ms)).all()
        assert [((r.hour_ms - base) // hour, r.produced, r.good) for r in rows] == [(0, 30, 30), (1, 35, 33),
                                                                                    (2, 20, 20)]


def test_a_moulders_parts_are_its_good_and_scrap_parts_not_its_shots(client, tenants) -> None:  # type: ignore[no-untyped-def]
    """An injection moulder (default rule: status register, good and scrap counters) with a 4-cavity mould:
    10 shots in the hour make 40 parts, of which 3 scrap — produced 40, good 37, not "10 produced, 37 good"."""
    db = client.app.state.db
    h = tenants.a.owner.headers
    plant = make_plant(client, tenants.a.owner, prefix="imm-01")
    assert client.patch(f"/api/v1/machines/{plant.machine_id}", json={"machine_type": "injection_moulding"},
                        headers=h).status_code == 200
    for key in ("machine_status", "shot_counter", "good_counter", "scrap_counter"):
        assert client.post("/api/v1/tags", headers=h, json={
            "key": f"imm-01.{key}", "name": key, "unit": "1", "data_type": "int",
            "machine_id": plant.machine_id}).status_code == 201
    hour = 3600 * S
    base = NOW // hour * hour - 2 * hour
    readings = {"machine_status": [(base, 3)], "shot_counter": [(base, 500), (base + 30 * MIN, 510)],
                "good_counter": [(base, 1_900), (base + 30 * MIN, 1_937)],
                "scrap_counter": [(base, 100), (base + 30 * MIN, 103)]}
    send(client, plant, [{"tag": f"imm-01.{k}", "ts": [t for t, _ in v], "v": [x for _, x in v]}
                         for k, v in readings.items()], "moulder")
    refresh(db, base + hour)
    with db.transaction() as session:
        rows = session.scalars(select(MachineCount).where(MachineCount.machine_id == plant.machine_id)).all()
        assert [((r.hour_ms - base) // hour, r.produced, r.good) for r in rows] == [(0, 40, 37)]
