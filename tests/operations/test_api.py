"""Operations API: reason tree, state rules, shift calendars, machine states and stop reasons."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from commonworks.operations.calendar import planned_time
from commonworks.operations.models import MachineStateInterval, ShiftCalendar
from commonworks.operations.states import State
from tests.conftest import make_plant

T0 = 1_795_760_000_000
H = 3_600_000


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    return make_plant(client, tenants.a.owner)


def add_states(client, org_id: int, machine_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    """producing 0–1 h, down 1–1.5 h, producing 1.5–3 h (after T0)."""
    with client.app.state.db.transaction() as session:
        rows = [MachineStateInterval(org_id=org_id, machine_id=machine_id, start_ms=T0 + a, end_ms=T0 + b, state=s)
                for a, b, s in ((0, H, State.producing), (H, 3 * H // 2, State.down_unplanned),
                                (3 * H // 2, 3 * H, State.producing))]
        session.add_all(rows)
        session.flush()
        return [r.id for r in rows]


def test_standard_reason_tree_installs_once_and_only_for_managers(client, tenants) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/api/v1/downtime-reasons/standard", headers=tenants.a.viewer.headers).status_code == 403
    first = client.post("/api/v1/downtime-reasons/standard", headers=tenants.a.owner.headers)
    assert first.status_code == 200 and first.json()["added"] >= 20
    assert client.post("/api/v1/downtime-reasons/standard", headers=tenants.a.owner.headers).json() == {"added": 0}
    items = client.get("/api/v1/downtime-reasons?limit=500", headers=tenants.a.viewer.headers).json()["items"]
    by_code = {r["code"]: r for r in items}
    assert by_code["BRK-MECH"]["parent_id"] == by_code["BRK"]["id"]
    assert (by_code["BRK-MECH"]["name_zh"], by_code["BRK-MECH"]["loss"]) == ("机械故障", "breakdown")
    assert (by_code["CHG-MOULD"]["category"], by_code["CHG-MOULD"]["loss"]) == ("changeover", "setup_adjustment")
    assert by_code["MIC"]["loss"] == "small_stops"
    # tenant B has its own (empty) tree
    assert client.get("/api/v1/downtime-reasons", headers=tenants.b.owner.headers).json()["total"] == 0


def test_reason_codes_are_unique_and_parents_must_be_the_tenants_own(client, tenants) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/v1/downtime-reasons/standard", headers=tenants.b.owner.headers)
    b_parent = client.get("/api/v1/downtime-reasons?limit=1", headers=tenants.b.owner.headers).json()["items"][0]
    body = {"code": "BRK-SPINDLE", "name_zh": "主轴故障", "name_en": "Spindle failure", "category": "unplanned",
            "loss": "breakdown", "parent_id": b_parent["id"]}
    response = client.post("/api/v1/downtime-reasons", json=body, headers=tenants.a.owner.headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "parent_id"
    body.pop("parent_id")
    assert client.post("/api/v1/downtime-reasons", json=body, headers=tenants.a.owner.headers).status_code == 201
    again = client.post("/api/v1/downtime-reasons", json=body, headers=tenants.a.owner.headers)
    assert again.status_code == 409 and again.json()["error"]["field"] == "code"


def test_a_state_rule_is_for_one_machine_or_one_type(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    both = client.post("/api/v1/state-rules", headers=h, json={"machine_id": plant.machine_id,
                                                               "machine_type": "cnc_mill"})
    assert both.status_code == 422 and "exactly one" in both.json()["error"]["message"]
    bad_state = client.post("/api/v1/state-rules", headers=h, json={"machine_id": plant.machine_id,
                                                                    "mapping": {"3": "running"}})
    assert bad_state.status_code == 422 and "mapping" in str(bad_state.json()["error"]["field"])
    made = client.post("/api/v1/state-rules", headers=h, json={
        "machine_id": plant.machine_id, "state_tag": "status",
        "mapping": {"RUN": "producing", "ALM": "down_unplanned"}})
    assert made.status_code == 201, made.text
    assert made.json()["mapping"] == {"RUN": "producing", "ALM": "down_unplanned"}


def test_shift_calendar_round_trip_and_planned_time(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    h = tenants.a.owner.headers
    body = {"name": "两班倒", "timezone": "Asia/Shanghai", "line_id": plant.line_id, "shifts": [
        {"name": "早班", "start": "08:00", "end": "16:00", "days": [1, 2, 3, 4, 5], "breaks": [["12:00", "12:30"]]},
        {"name": "夜班", "start": "20:00", "end": "04:00", "days": [1, 2, 3, 4, 5], "breaks": [["00:00", "00:30"]]}],
        "exceptions": [{"kind": "planned_downtime", "start": "2026-01-05T14:00:00+08:00",
                        "end": "2026-01-05T15:00:00+08:00", "note": "主轴保养"}]}
    made = client.post("/api/v1/shift-calendars", json=body, headers=h)
    assert made.status_code == 201, made.text
    assert made.json()["exceptions"][0]["start"] == "2026-01-05T14:00:00+08:00"
    with client.app.state.db.transaction() as session:
        calendar = session.scalar(select(ShiftCalendar))
        zone = ZoneInfo("Asia/Shanghai")
        monday = int(datetime(2026, 1, 5, tzinfo=zone).timestamp() * 1000)
        planned = planned_time(calendar.shifts, calendar.exceptions, calendar.timezone, monday, monday + 24 * H)
    # Monday 00:00–24:00: early shift 8 h (break 0.5 h, maintenance 1 h); night shift from 20:00 runs to
    # 04:00 Tuesday, so 4 h of it fall on Monday (its 00:30 break on Tuesday); Sunday's night shift: none.
    assert (planned.pot_ms / H, planned.pdot_ms / H) == (12.0, 1.5)


@pytest.mark.parametrize(("body", "field"), [
    ({"shifts": [{"name": "早班", "start": "25:00", "end": "16:00"}]}, "shifts.0.start"),
    ({"shifts": [{"name": "早班", "start": "08:00", "end": "16:00", "days": [1, 1]}]}, "shifts.0"),
    ({"shifts": []}, "shifts"),
    ({"shifts": [{"name": "早班", "start": "08:00", "end": "16:00"}],
      "exceptions": [{"kind": "holiday", "start": "2026-10-01T00:00:00", "end": "2026-10-08T00:00:00"}]},
     "exceptions.0"),
])
def test_bad_calendars_are_refused_naming_the_field(client, tenants, body, field) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/shift-calendars", json={"name": "x", **body}, headers=tenants.a.owner.headers)
    assert response.status_code == 422
    assert str(response.json()["error"]["field"]).startswith(field)
    assert client.get("/api/v1/shift-calendars", headers=tenants.a.owner.headers).json()["total"] == 0


def test_states_are_listed_clipped_to_the_range(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    add_states(client, tenants.a.org_id, plant.machine_id)
    response = client.get(f"/api/v1/machines/{plant.machine_id}/states",
                          params={"start": T0 + H // 2, "end": T0 + 2 * H}, headers=tenants.a.viewer.headers)
    assert response.status_code == 200
    assert [((s["start_ms"] - T0) / H, (s["end_ms"] - T0) / H, s["state"]) for s in response.json()] == [
        (0.5, 1.0, "producing"), (1.0, 1.5, "down_unplanned"), (1.5, 2.0, "producing")]
    # the stored rows are not changed by the clipping
    with client.app.state.db.transaction() as session:
        first = session.scalar(select(MachineStateInterval).order_by(MachineStateInterval.start_ms))
        assert first.start_ms == T0
    backwards = client.get(f"/api/v1/machines/{plant.machine_id}/states", params={"start": T0, "end": T0},
                           headers=tenants.a.viewer.headers)
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "end"


def test_an_engineer_assigns_a_reason_to_a_stop(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    producing, down, _ = add_states(client, tenants.a.org_id, plant.machine_id)
    client.post("/api/v1/downtime-reasons/standard", headers=tenants.a.owner.headers)
    reasons = {r["code"]: r["id"] for r in client.get("/api/v1/downtime-reasons?limit=500",
                                                      headers=tenants.a.viewer.headers).json()["items"]}
    body = {"reason_id": reasons["BRK-MECH"], "note": "主轴轴承异响"}
    assert client.put(f"/api/v1/machine-states/{down}/reason", json=body,
                      headers=tenants.a.viewer.headers).status_code == 403
    not_a_stop = client.put(f"/api/v1/machine-states/{producing}/reason", json=body,
                            headers=tenants.a.engineer.headers)
    assert not_a_stop.status_code == 422 and not_a_stop.json()["error"]["field"] == "reason_id"
    done = client.put(f"/api/v1/machine-states/{down}/reason", json=body, headers=tenants.a.engineer.headers)
    assert done.status_code == 200, done.text
    assert (done.json()["reason_id"], done.json()["note"], done.json()["reason_by"]) == (
        reasons["BRK-MECH"], "主轴轴承异响", tenants.a.engineer.user_id)
    # the state list shows the stop exactly as the answer did (who, when, the note)
    listed = client.get(f"/api/v1/machines/{plant.machine_id}/states", params={"start": T0, "end": T0 + 3 * H},
                        headers=tenants.a.viewer.headers)
    assert listed.headers["content-type"] == "application/json"
    assert [s for s in listed.json() if s["id"] == down] == [done.json()] and done.json()["reason_at"]
    # another tenant's reason is not found
    client.post("/api/v1/downtime-reasons/standard", headers=tenants.b.owner.headers)
    b_reason = client.get("/api/v1/downtime-reasons?limit=1", headers=tenants.b.owner.headers).json()["items"][0]
    foreign = client.put(f"/api/v1/machine-states/{down}/reason", json={"reason_id": b_reason["id"]},
                         headers=tenants.a.engineer.headers)
    assert foreign.status_code == 404
    with client.app.state.db.transaction() as session:
        assert session.get(MachineStateInterval, down).reason_id == reasons["BRK-MECH"]  # unchanged
