"""KPIs and the downtime Pareto from stored states, counts and calendars — worked examples through the API."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from commonworks.operations.models import MachineCount, MachineStateInterval
from commonworks.operations.states import State
from tests.conftest import make_plant

ZONE = ZoneInfo("Asia/Shanghai")
DAY = int(datetime(2026, 1, 5, tzinfo=ZONE).timestamp() * 1000)  # Monday 2026-01-05 00:00 in Shanghai
H, M = 3_600_000, 60_000


def at(hh: int, mm: int = 0) -> int:
    return DAY + hh * H + mm * M


# The example day: shift 08:00–16:00 with a 12:00–12:30 break; 20 min setup, breakdowns of
# 30 and 15 min, producing the rest (also through the break: the plan wins); idle outside the shift.
DAY_STATES = [(at(0), at(8), State.idle), (at(8), at(8, 20), State.setup), (at(8, 20), at(10), State.producing),
              (at(10), at(10, 30), State.down_unplanned), (at(10, 30), at(13), State.producing),
              (at(13), at(13, 15), State.down_unplanned), (at(13, 15), at(16), State.producing),
              (at(16), at(24), State.idle)]


@pytest.fixture
def day(client, tenants):  # type: ignore[no-untyped-def]
    """Machine cnc-01 (ideal cycle 20 s, line calendar) with the example day, 1,000 parts made, 960 good."""
    plant = make_plant(client, tenants.a.owner)
    h = tenants.a.owner.headers
    assert client.patch(f"/api/v1/machines/{plant.machine_id}", json={"ideal_cycle_times": {"bracket": 20.0}},
                        headers=h).status_code == 200
    assert client.post("/api/v1/shift-calendars", headers=h, json={
        "name": "早班", "line_id": plant.line_id, "shifts": [
            {"name": "早班", "start": "08:00", "end": "16:00", "breaks": [["12:00", "12:30"]]}]}).status_code == 201
    with client.app.state.db.transaction() as session:
        session.add_all(MachineStateInterval(org_id=tenants.a.org_id, machine_id=plant.machine_id, start_ms=a,
                                             end_ms=b, state=s) for a, b, s in DAY_STATES)
        session.add_all([MachineCount(machine_id=plant.machine_id, org_id=tenants.a.org_id, hour_ms=at(10),
                                      produced=500, good=480),
                         MachineCount(machine_id=plant.machine_id, org_id=tenants.a.org_id, hour_ms=at(14),
                                      produced=500, good=480)])
    return plant


def get_kpi(client, member, **params):  # type: ignore[no-untyped-def]
    response = client.get("/api/v1/operations/kpi", params={"start": DAY, "end": DAY + 24 * H, **params},
                          headers=member.headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_worked_example_day(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    """PBT = 8 h − 0.5 h = 27,000 s; APT = 27,000 − 1,200 setup − 2,700 down = 23,100 s;
    A = 23,100 / 27,000 = 0.8556; E = 1,000 × 20 s / 23,100 s = 0.8658; QR = 960 / 1,000 = 0.96;
    OEE = 20,000 × 0.96 / 27,000 = 0.7111; TEEP = 19,200 / 86,400 = 0.2222;
    MTBF = 23,100 / 2 = 11,550 s; MTTR = 2,700 / 2 = 1,350 s."""
    doc = get_kpi(client, tenants.a.viewer, machine_id=day.machine_id)
    [m] = doc["machines"]
    assert (m["pot_s"], m["pdot_s"], m["pbt_s"], m["apt_s"], m["aust_s"], m["adot_s"], m["failures"]) == (
        28_800, 1_800, 27_000, 23_100, 1_200, 2_700, 2)
    assert (m["produced"], m["good"], m["pri_pq_s"]) == (1_000, 960, 20_000)
    assert round(m["availability"], 4) == 0.8556 and round(m["effectiveness"], 4) == 0.8658
    assert (m["quality"], round(m["oee"], 4), round(m["teep"], 4)) == (0.96, 0.7111, 0.2222)
    assert (m["mtbf_s"], m["mttr_s"], m["scrap_ratio"]) == (11_550, 1_350, 0.04)


def test_roll_up_sums_elements_and_flags_what_is_missing(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    line2 = client.post("/api/v1/lines", json={"site_id": day.site_id, "name": "二线"}, headers=h).json()
    other = client.post("/api/v1/machines", headers=h, json={"line_id": line2["id"], "key": "press-02",
                                                              "name": "冲床", "machine_type": "press"}).json()
    with client.app.state.db.transaction() as session:  # no calendar, no ideal cycle: producing 12 h of 24
        session.add_all([
            MachineStateInterval(org_id=tenants.a.org_id, machine_id=other["id"], start_ms=at(0), end_ms=at(12),
                                 state=State.producing),
            MachineStateInterval(org_id=tenants.a.org_id, machine_id=other["id"], start_ms=at(12), end_ms=at(24),
                                 state=State.down_unplanned)])
    doc = get_kpi(client, tenants.a.viewer)
    first, second = doc["machines"]
    assert first["key"] == "cnc-01"
    assert (second["calendar_id"], second["pbt_s"], second["availability"]) == (None, 86_400, 0.5)
    assert second["oee"] is None and doc["machines_without_ideal_cycle"] == ["press-02"]
    total = doc["total"]
    # from summed elements: (23,100 + 43,200) / (27,000 + 86,400), not the mean of 0.8556 and 0.5
    assert total["availability"] == pytest.approx(66_300 / 113_400)
    assert total["failures"] == 3
    line_only = get_kpi(client, tenants.a.viewer, line_id=day.line_id)
    assert [m["key"] for m in line_only["machines"]] == ["cnc-01"]


def test_kpi_scope_and_range_errors(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    base = {"start": DAY, "end": DAY + H}
    two = client.get("/api/v1/operations/kpi", params={**base, "machine_id": day.machine_id, "line_id": day.line_id},
                     headers=tenants.a.viewer.headers)
    assert two.status_code == 422 and "at most one" in two.json()["error"]["message"]
    foreign = client.get("/api/v1/operations/kpi", params={**base, "machine_id": day.machine_id},
                         headers=tenants.b.viewer.headers)
    assert foreign.status_code == 404
    long = client.get("/api/v1/operations/kpi", params={"start": DAY, "end": DAY + 100 * 24 * H},
                      headers=tenants.a.viewer.headers)
    assert long.status_code == 422 and long.json()["error"]["field"] == "end"


def test_downtime_pareto_by_duration_and_count(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    client.post("/api/v1/downtime-reasons/standard", headers=h)
    codes = {r["code"]: r["id"] for r in client.get("/api/v1/downtime-reasons?limit=500", headers=h).json()["items"]}
    states = client.get(f"/api/v1/machines/{day.machine_id}/states", params={"start": DAY, "end": DAY + 24 * H},
                        headers=h).json()
    first_down = next(s for s in states if s["state"] == "down_unplanned")
    assert client.put(f"/api/v1/machine-states/{first_down['id']}/reason", json={"reason_id": codes["BRK-MECH"]},
                      headers=h).status_code == 200
    with client.app.state.db.transaction() as session:  # two short unassigned idles inside the shift
        for a in (at(15, 0), at(15, 10)):
            session.add(MachineStateInterval(org_id=tenants.a.org_id, machine_id=day.machine_id, start_ms=a,
                                             end_ms=a + 45_000, state=State.idle))
    params = {"start": at(8), "end": at(16), "machine_id": day.machine_id}
    rows = client.get("/api/v1/operations/downtime/pareto", params=params, headers=tenants.a.viewer.headers).json()
    # within 08:00–16:00: BRK-MECH 1,800 s, setup 1,200 s, down (unassigned) 900 s, 2 micro-stops 90 s
    assert [(r["code"] or r["state"], r["seconds"], r["count"]) for r in rows] == [
        ("BRK-MECH", 1800, 1), ("setup", 1200, 1), ("down_unplanned", 900, 1), ("MICRO", 90, 2)]
    assert rows[0]["name_zh"] == "机械故障" and rows[0]["loss"] == "breakdown"
    assert rows[0]["share"] == pytest.approx(1800 / 3990) and rows[-1]["cumulative_share"] == pytest.approx(1.0)
    by_count = client.get("/api/v1/operations/downtime/pareto", params={**params, "by": "count"},
                          headers=tenants.a.viewer.headers).json()
    assert by_count[0]["code"] == "MICRO" and by_count[0]["share"] == pytest.approx(2 / 5)


def test_pareto_counts_stop_time_in_planned_busy_time_only(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    """Over the whole example day the machine is idle 00:00–08:00 and 16:00–24:00, outside its shift: no loss,
    so not in the Pareto. What is left is the KPIs' lost time: setup 1,200 s (AUST), down 2,700 s (ADOT)."""
    params = {"start": DAY, "end": DAY + 24 * H, "machine_id": day.machine_id}
    rows = client.get("/api/v1/operations/downtime/pareto", params=params, headers=tenants.a.viewer.headers).json()
    assert [(r["state"], r["seconds"], r["count"]) for r in rows] == [("down_unplanned", 2700, 2), ("setup", 1200, 1)]
    [m] = get_kpi(client, tenants.a.viewer, machine_id=day.machine_id)["machines"]
    assert (m["adot_s"], m["aust_s"], m["adet_s"]) == (2700, 1200, 0)
    # a stop across the 12:00–12:30 break counts its minutes outside the break only
    with client.app.state.db.transaction() as session:
        row = session.scalars(select(MachineStateInterval).where(MachineStateInterval.start_ms == at(10, 30))).one()
        row.end_ms = at(11, 50)  # producing 10:30–11:50, then down 11:50–12:40, producing again
        session.add_all([MachineStateInterval(org_id=tenants.a.org_id, machine_id=day.machine_id, start_ms=at(11, 50),
                                              end_ms=at(12, 40), state=State.down_unplanned),
                         MachineStateInterval(org_id=tenants.a.org_id, machine_id=day.machine_id, start_ms=at(12, 40),
                                              end_ms=at(13), state=State.producing)])
    rows = client.get("/api/v1/operations/downtime/pareto", params=params, headers=tenants.a.viewer.headers).json()
    # 50 min down, 30 of them in the break: 20 min (1,200 s) more down time, one stop more
    assert [(r["state"], r["seconds"], r["count"]) for r in rows] == [("down_unplanned", 3900, 3), ("setup", 1200, 1)]


def test_machine_columns_read_every_row_of_every_machine_in_step(client, tenants, day) -> None:  # type: ignore[no-untyped-def]
    """The reader behind the KPI report (per machine, per column lists on SQLite; packed bytes on PostgreSQL) gives
    each row's values side by side, for every machine asked for; SQLite refuses an expression that is not an
    integer instead of reading a part of it."""
    from commonworks.operations.service import _machine_columns

    other = make_plant(client, tenants.a.owner, prefix="cnc-02", gateway_key="gw-b")
    with client.app.state.db.transaction() as session:
        session.add_all(MachineCount(machine_id=other.machine_id, org_id=tenants.a.org_id, hour_ms=at(h),
                                     produced=100 + h, good=90 + h, planned_run_s=h * 1.5) for h in range(3))
    ids = f"{day.machine_id}, {other.machine_id}"
    with client.app.state.db.sessions() as session:
        planned_ms = "CAST(ROUND(COALESCE(planned_run_s, 0) * 1000) AS BIGINT)"
        rows = _machine_columns(session, "machine_counts", ["hour_ms", "produced", "good", planned_ms],
                                f"machine_id IN ({ids})")
        got = sorted(map(tuple, rows.tolist()))
        assert got == sorted([(day.machine_id, at(10), 500, 480, 0), (day.machine_id, at(14), 500, 480, 0)]
                             + [(other.machine_id, at(h), 100 + h, 90 + h, h * 1500) for h in range(3)])
        states = _machine_columns(session, "machine_states", ["start_ms", "end_ms"], f"machine_id IN ({ids})")
        assert sorted(map(tuple, states.tolist())) == [(day.machine_id, a, b) for a, b, _ in DAY_STATES]
        assert _machine_columns(session, "machine_states", ["start_ms"], "machine_id IN (NULL)").shape == (0, 2)
        if session.bind.dialect.name == "sqlite":  # (PostgreSQL casts to int8 itself)
            with pytest.raises(ValueError):  # 1.5 is not read as 1
                _machine_columns(session, "machine_counts", ["planned_run_s"], f"machine_id = {other.machine_id}")
