"""Sites, lines, machines and tags over HTTP: per tenant, validated, and safe against bad input."""

from __future__ import annotations

import pytest

from tests.conftest import make_plant


def test_plant_hierarchy_is_created_and_listed(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner)
    h = tenants.a.viewer.headers
    machine = client.get(f"/api/v1/machines/{plant.machine_id}", headers=h).json()
    assert (machine["key"], machine["machine_type"], machine["ideal_cycle_times"]) == ("cnc-01", "cnc_mill",
                                                                                     {"bracket": 42.0})
    tags = client.get("/api/v1/tags", headers=h).json()
    assert {t["key"]: t["unit"] for t in tags["items"]} == {
        "cnc-01.spindle_speed": "/min", "cnc-01.part_count": "{count}", "cnc-01.program": "1", "cnc-01.running": "1"}


def test_engineers_edit_machines_viewers_only_read(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner)
    url = f"/api/v1/machines/{plant.machine_id}"
    assert client.patch(url, json={"name": "五轴"}, headers=tenants.a.engineer.headers).status_code == 200
    assert client.patch(url, json={"name": "x"}, headers=tenants.a.viewer.headers).status_code == 403
    assert client.get(url, headers=tenants.a.viewer.headers).json()["name"] == "五轴"
    site = client.post("/api/v1/sites", json={"name": "二厂"}, headers=tenants.a.engineer.headers)
    assert site.status_code == 403  # the plant layout itself is for owners and admins


@pytest.mark.parametrize(("path", "body", "field", "words"), [
    ("/api/v1/tags", {"key": "cnc-01.x", "name": "x", "unit": "rpm"}, "unit", "not a UCUM unit"),
    ("/api/v1/tags", {"key": "CNC 01", "name": "x", "unit": "1"}, "key", "pattern"),
    ("/api/v1/tags", {"key": "cnc-01.x", "name": "x", "unit": "1", "data_type": "complex"}, "data_type", "float"),
    ("/api/v1/sites", {"name": "三厂", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
    ("/api/v1/sites", {"name": "三\x00厂"}, "name", "NUL character"),
    ("/api/v1/machines", {"line_id": 1, "key": "m-2", "name": "x", "machine_type": "cnc_mill",
                          "ideal_cycle_times": {"bracket": -3}}, "ideal_cycle_times", "more than 0"),
    ("/api/v1/machines", {"line_id": 424242, "key": "m-2", "name": "x", "machine_type": "cnc_mill"},
     "line_id", "does not exist in your organization"),
])
def test_bad_plant_input_is_422_naming_the_field(client, tenants, path, body, field, words) -> None:  # type: ignore[no-untyped-def]
    make_plant(client, tenants.a.owner)
    before = [client.get(f"/api/v1/{k}", headers=tenants.a.owner.headers).json() for k in ("tags", "sites", "machines")]
    response = client.post(path, json=body, headers=tenants.a.owner.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert words in response.json()["error"]["message"]
    after = [client.get(f"/api/v1/{k}", headers=tenants.a.owner.headers).json() for k in ("tags", "sites", "machines")]
    assert after == before


def test_duplicate_keys_are_409(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner)
    again = client.post("/api/v1/tags", json={"key": "cnc-01.spindle_speed", "name": "y", "unit": "/min"},
                        headers=tenants.a.owner.headers)
    assert again.status_code == 409 and again.json()["error"]["field"] == "key"
    machine = client.post("/api/v1/machines", json={"line_id": plant.line_id, "key": "cnc-01", "name": "dup",
                                                    "machine_type": "cnc_lathe"}, headers=tenants.a.owner.headers)
    assert machine.status_code == 409


def test_the_same_keys_may_exist_in_another_tenant(client, tenants) -> None:  # type: ignore[no-untyped-def]
    make_plant(client, tenants.a.owner, gateway_key="gw-a")
    make_plant(client, tenants.b.owner, gateway_key="gw-b")  # same machine and tag keys, other tenant
    assert client.get("/api/v1/tags", headers=tenants.b.owner.headers).json()["total"] == 4


def test_a_line_cannot_point_at_another_tenants_site(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant_a = make_plant(client, tenants.a.owner)
    response = client.post("/api/v1/lines", json={"site_id": plant_a.site_id, "name": "偷梁换柱"},
                           headers=tenants.b.owner.headers)
    assert response.status_code == 422 and response.json()["error"]["field"] == "site_id"


def test_site_with_lines_cannot_be_deleted(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner)
    assert client.delete(f"/api/v1/sites/{plant.site_id}", headers=tenants.a.owner.headers).status_code == 409
    assert client.get(f"/api/v1/sites/{plant.site_id}", headers=tenants.a.owner.headers).status_code == 200


# ---------------------------------------------------------------- trend series: resolution by a point budget

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000


def _ingest(client, plant, key: str, ts: list[int], values: list[float]) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {plant.gateway_token}"}
    for i in range(0, len(ts), 50_000):
        batch = {"batch_id": f"{key}-{i}", "series": [{"tag": key, "ts": ts[i:i + 50_000], "v": values[i:i + 50_000]}]}
        response = client.post("/api/v1/ingest", json=batch, headers=headers)
        assert response.status_code == 200 and response.json()["accepted"] == len(batch["series"][0]["ts"])


@pytest.fixture
def trend_plant(client, tenants):  # type: ignore[no-untyped-def]
    """spindle_speed every 5 s for 3 days (51,840 samples); part_count once an hour for 160 days, the value
    being the hour's index (0, 1, 2, …)."""
    plant = make_plant(client, tenants.a.owner)
    dense = list(range(T0, T0 + 3 * DAY, 5 * S))
    _ingest(client, plant, "cnc-01.spindle_speed", dense, [float(8000 + i % 7) for i in range(len(dense))])
    hourly = list(range(T0, T0 + 160 * DAY, H))
    _ingest(client, plant, "cnc-01.part_count", hourly, [float(i) for i in range(len(hourly))])
    return plant


AUTO_CASES = [  # (tag, range, the resolution auto picks, how many points that gives)
    # short: raw while the samples fit the budget of 3,600 points (1 h at 5 s = 720) …
    ("spindle_speed", H, "raw", 720),
    # … but 6 h at 5 s is 4,320 samples: minute buckets instead
    ("spindle_speed", 6 * H, "1m", 360),
    # medium: a day of minutes (1,440) fits; three days (4,320 minutes, all with data) do not: hours
    ("spindle_speed", DAY, "1m", 1_440),
    ("spindle_speed", 3 * DAY, "1h", 72),
    # sparse data keeps its detail: three days of an hourly tag are 72 minute buckets
    ("part_count", 3 * DAY, "1m", 72),
    # long: a month of hours (720) fits, and 150 days (3,600); 160 days of hours (3,840) do not: days
    ("part_count", 30 * DAY, "1h", 720),
    ("part_count", 150 * DAY, "1h", 3_600),
    ("part_count", 160 * DAY, "1d", 160),
]


def test_auto_resolution_is_the_finest_within_the_point_budget(client, tenants, trend_plant) -> None:  # type: ignore[no-untyped-def]
    from commonworks.telemetry.service import POINT_BUDGET

    got = []
    for tag, span, _, _ in AUTO_CASES:
        response = client.get(f"/api/v1/tags/{trend_plant.tags[tag]}/series", params={"start": T0, "end": T0 + span},
                              headers=tenants.a.viewer.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        got.append((tag, span, body["resolution"], len(body["points"])))
    assert got == AUTO_CASES
    assert max(points for *_, points in got) <= POINT_BUDGET == 3_600


def test_daily_points_merge_the_hourly_rollups(client, tenants, trend_plant) -> None:  # type: ignore[no-untyped-def]
    url = f"/api/v1/tags/{trend_plant.tags['part_count']}/series"
    body = client.get(url, params={"start": T0, "end": T0 + 160 * DAY}, headers=tenants.a.viewer.headers).json()
    # day d holds the hours 24d … 24d + 23: average 24d + 11.5, and so on
    assert [(p["ts"], p["value"], p["min"], p["max"], p["last"], p["count"]) for p in body["points"][:2]] == [
        (T0, 11.5, 0.0, 23.0, 23.0, 24), (T0 + DAY, 35.5, 24.0, 47.0, 47.0, 24)]


def test_an_explicit_resolution_wins_over_the_budget(client, tenants, trend_plant) -> None:  # type: ignore[no-untyped-def]
    def get(tag: str, span: int, resolution: str):  # type: ignore[no-untyped-def]
        return client.get(f"/api/v1/tags/{trend_plant.tags[tag]}/series",
                          params={"start": T0, "end": T0 + span, "resolution": resolution},
                          headers=tenants.a.viewer.headers)

    minutes = get("spindle_speed", 3 * DAY, "1m").json()
    assert (minutes["resolution"], len(minutes["points"])) == ("1m", 4_320)
    raw = get("spindle_speed", 6 * H, "raw").json()
    assert (raw["resolution"], len(raw["points"])) == ("raw", 4_320)
    assert len(get("part_count", 160 * DAY, "1h").json()["points"]) == 3_840
    too_many = get("spindle_speed", 3 * DAY, "raw")  # 51,840 raw samples: more than one answer carries
    assert too_many.status_code == 422 and too_many.json()["error"]["field"] == "resolution"
    unknown = get("spindle_speed", DAY, "5m")
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "resolution"


def test_resolution_worked_examples() -> None:
    import doctest

    from commonworks.telemetry import service

    assert doctest.testmod(service).failed == 0
