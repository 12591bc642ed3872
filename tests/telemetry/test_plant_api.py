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
