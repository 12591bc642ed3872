"""Ingest over HTTP: stored once, answered after commit, bad samples kept as dead letters."""

from __future__ import annotations

import csv
import gzip
import io
import json

import orjson
import pytest

from commonworks.core.settings import Settings
from commonworks.telemetry import service
from tests.conftest import make_plant

T0 = 1_767_571_200_000  # 2026-01-05T00:00:00Z
S = 1000
MIN = 60 * S


def send(client, plant, batch: dict, **kw):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/ingest", content=gzip.compress(orjson.dumps(batch)),
                       headers={**plant.gateway_headers, "Content-Encoding": "gzip",
                                "Content-Type": "application/json"}, **kw)


def spindle(batch_id: str, points: list[tuple[int, float]], key: str = "cnc-01.spindle_speed") -> dict:
    return {"batch_id": batch_id, "series": [{"tag": key, "ts": [t for t, _ in points], "v": [v for _, v in points]}]}


def series(client, member, tag_id: int, start: int, end: int, resolution: str = "auto") -> dict:  # type: ignore[no-untyped-def]
    response = client.get(f"/api/v1/tags/{tag_id}/series", params={"start": start, "end": end,
                                                                    "resolution": resolution}, headers=member.headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    return make_plant(client, tenants.a.owner)


WORKED = [(T0, 1000.0), (T0 + 20 * S, 2000.0), (T0 + 40 * S, 3000.0), (T0 + 60 * S, 4000.0)]


def test_batch_is_stored_and_rolled_up_worked_example(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    ack = send(client, plant, spindle("b-1", WORKED))
    assert ack.status_code == 200, ack.text
    assert ack.json() | {"rejected": []} == {"batch_id": "b-1", "accepted": 4, "duplicates": 0, "repeated": 0,
                                             "rejected": [], "rejected_count": 0, "created_tags": []}
    tag = plant.tags["spindle_speed"]
    raw = series(client, tenants.a.viewer, tag, T0, T0 + 2 * MIN, "raw")
    assert [(p["ts"], p["value"]) for p in raw["points"]] == WORKED
    minute = series(client, tenants.a.viewer, tag, T0, T0 + 2 * MIN, "1m")["points"]
    # first minute: 1000, 2000, 3000 → avg 2000, min 1000, max 3000, last 3000; second: 4000
    assert [(p["ts"], p["value"], p["min"], p["max"], p["last"], p["count"]) for p in minute] == [
        (T0, 2000.0, 1000.0, 3000.0, 3000.0, 3), (T0 + MIN, 4000.0, 4000.0, 4000.0, 4000.0, 1)]
    hour = series(client, tenants.a.viewer, tag, T0, T0 + 60 * MIN, "1h")["points"]
    assert [(p["value"], p["count"], p["last"]) for p in hour] == [(2500.0, 4, 4000.0)]


def test_a_resent_batch_changes_nothing(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("b-1", WORKED))
    again = send(client, plant, spindle("b-1", WORKED)).json()
    assert (again["accepted"], again["duplicates"]) == (0, 4)
    minute = series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + MIN, "1m")["points"]
    assert minute[0]["count"] == 3 and minute[0]["value"] == 2000.0


def test_overlapping_out_of_order_batch_folds_only_new_samples(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("b-1", WORKED))
    ack = send(client, plant, spindle("b-2", [(T0 + 30 * S, 6000.0), (T0 + 20 * S, 2000.0), (T0 + 30 * S, 9.0)])).json()
    # the second T0+30s in one batch is left out and counted as a repeat: 3 samples sent, 3 accounted for
    assert (ack["accepted"], ack["duplicates"], ack["repeated"]) == (1, 1, 1)
    p = series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + MIN, "1m")["points"][0]
    # 1000 + 2000 + 3000 + 6000 = 12000 over 4; the last value is still the one at +40 s
    assert (p["count"], p["value"], p["max"], p["last"]) == (4, 3000.0, 6000.0, 3000.0)


def test_interleaved_batches_of_several_tags_are_not_taken_for_resends(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    """Devices publish in turn, so a batch's time span holds the previous batch's samples of
    other tags: only a tag's own stored samples make duplicates."""
    def batch(batch_id: str, speed: list[int], parts: list[int]) -> dict:
        return {"batch_id": batch_id, "series": [
            {"tag": "cnc-01.spindle_speed", "ts": [T0 + i * S for i in speed], "v": [float(i) for i in speed]},
            {"tag": "cnc-01.part_count", "ts": [T0 + i * S for i in parts], "v": parts}]}

    first = send(client, plant, batch("b-1", [0, 1, 2, 3, 4], [10, 11, 12, 13, 14])).json()
    # spindle 5..9 and 2 again (stored in b-1); part_count 15..19 lie inside b-1's span but are new
    second = send(client, plant, batch("b-2", [2, 5, 6, 7, 8, 9], [15, 16, 17, 18, 19])).json()
    assert (first["accepted"], second["accepted"], second["duplicates"]) == (10, 10, 1)
    speed = series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + MIN, "1m")["points"]
    parts = series(client, tenants.a.viewer, plant.tags["part_count"], T0, T0 + MIN, "1m")["points"]
    assert [(p["count"], p["value"]) for p in speed] == [(10, 4.5)]  # 0..9, the resent 2 not counted twice
    assert [(p["count"], p["min"], p["max"]) for p in parts] == [(10, 10.0, 19.0)]


def test_a_tag_twice_in_one_batch_counts_its_repeats(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    first = spindle("b-1", [(T0, 1.0), (T0 + S, 2.0)])["series"][0]
    again = spindle("b-1", [(T0 + S, 20.0), (T0 + 2 * S, 3.0), (T0 + 2 * S, 30.0)])["series"][0]
    ack = send(client, plant, {"batch_id": "b-1", "series": [first, again]}).json()
    # 5 samples: T0, T0+1s, T0+2s stored; T0+1s (second series) and T0+2s (twice in the second) are repeats
    assert (ack["accepted"], ack["duplicates"], ack["repeated"]) == (3, 0, 2)
    points = series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + MIN, "raw")["points"]
    assert [(p["ts"], p["value"]) for p in points] == [(T0, 1.0), (T0 + S, 2.0), (T0 + 2 * S, 3.0)]  # first ones win


def test_bad_samples_become_dead_letters_and_the_rest_is_stored(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    batch = {"batch_id": "bad-1", "series": [
        {"tag": "cnc-01.spindle_speed", "ts": [T0, T0 + S, T0 + 2 * S, 900_000_000_000, 4_102_444_800_000, "x"],
         "v": [1.0, float("nan"), "fast", 2.0, 3.0, 4.0]},
        {"tag": "cnc-01.running", "ts": [T0, T0 + S], "v": [True, 2]},
        {"tag": "cnc-01.part_count", "ts": [T0], "v": [1.5]},
        {"tag": "cnc-01.program", "ts": [T0, T0 + S], "v": [42, "O12\x00"]},
        {"tag": "no-such.tag", "ts": [T0], "v": [1.0]},
        {"tag": "nul\x00tag", "ts": [T0], "v": [1.0]},
    ]}
    body = json.dumps(batch).encode()  # Python's json writes NaN, as many gateways do
    response = client.post("/api/v1/ingest", content=body, headers=plant.gateway_headers)
    assert response.status_code == 200, response.text
    ack = response.json()
    assert ack["accepted"] == 2  # spindle at T0 and running=True at T0
    reasons = sorted((r["tag"], r["reason"]) for r in ack["rejected"])
    assert reasons == sorted([
        ("cnc-01.spindle_speed", "value is NaN or infinite"),
        ("cnc-01.spindle_speed", "float tag got str"),
        ("cnc-01.spindle_speed", "timestamp before 2000-01-01"),
        ("cnc-01.spindle_speed", "timestamp too far in the future"),
        ("cnc-01.spindle_speed", "timestamp is not an integer (epoch milliseconds)"),
        ("cnc-01.running", "bool tag got a number other than 0 or 1"),
        ("cnc-01.part_count", "int tag got a fraction"),
        ("cnc-01.program", "string tag got int"),
        ("cnc-01.program", "text contains the NUL character"),
        ("no-such.tag", "unknown tag"),
        ("nul\x00tag", "unknown tag"),
    ])
    assert ack["rejected_count"] == 11
    letters = client.get(f"/api/v1/gateways/{plant.gateway_id}/dead-letters", headers=tenants.a.viewer.headers).json()
    assert letters["total"] == 11 and {d["batch_id"] for d in letters["items"]} == {"bad-1"}
    assert "nul\\x00tag" in {d["tag"] for d in letters["items"]}  # kept, made storable
    gateway = client.get(f"/api/v1/gateways/{plant.gateway_id}", headers=tenants.a.viewer.headers).json()
    assert (gateway["samples_accepted"], gateway["samples_rejected"]) == (2, 11)


@pytest.mark.parametrize(("body", "headers", "words"), [
    (b"not json", {}, "not JSON"),
    (b"\x1f\x8b\x08garbage", {"Content-Encoding": "gzip"}, "gzip"),
    (orjson.dumps({"series": []}), {}, "batch_id"),
    (orjson.dumps({"batch_id": "x", "series": [{"tag": "cnc-01.spindle_speed", "ts": [1, 2], "v": [1]}]}), {},
     "different lengths"),
    (orjson.dumps([1, 2]), {}, "JSON object"),
    (b"{}", {"Content-Encoding": "br"}, "Content-Encoding"),
])
def test_unreadable_batches_are_422_and_store_nothing(client, tenants, plant, body, headers, words) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("ok", WORKED[:1]))
    response = client.post("/api/v1/ingest", content=body, headers={**plant.gateway_headers, **headers})
    assert response.status_code == 422
    assert words in response.json()["error"]["message"]
    assert series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + MIN, "raw")["points"] == [
        {"ts": T0, "value": 1000.0, "min": None, "max": None, "last": None, "count": None}]


def test_only_a_live_gateway_credential_may_ingest(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    batch = orjson.dumps(spindle("b", WORKED))
    assert client.post("/api/v1/ingest", content=batch).status_code == 401
    assert client.post("/api/v1/ingest", content=batch, headers=tenants.a.owner.headers).status_code == 401
    assert client.post("/api/v1/ingest", content=batch,
                       headers={"Authorization": "Bearer cwg_forged"}).status_code == 401
    client.delete(f"/api/v1/gateways/{plant.gateway_id}", headers=tenants.a.owner.headers)
    assert client.post("/api/v1/ingest", content=batch, headers=plant.gateway_headers).status_code == 401
    # …and a stranger does not learn whether the body would have been readable
    assert client.post("/api/v1/ingest", content=b"junk").status_code == 401


def test_another_tenants_gateway_cannot_write_to_our_tags(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    other = make_plant(client, tenants.b.owner, prefix="press-07", gateway_key="gw-b")
    ack = send(client, other, spindle("b-x", WORKED)).json()  # A's tag key, B's credential
    assert ack["accepted"] == 0 and ack["rejected"][0]["reason"] == "unknown tag"
    assert series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + 2 * MIN, "raw")["points"] == []


def test_gateway_may_create_unknown_tags_when_allowed(client, tenants) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner, allow_create_tags=True)
    batch = {"batch_id": "new", "series": [{"tag": "cnc-01.coolant_temp", "ts": [T0], "v": [21.5]},
                                           {"tag": "cnc-01.door_open", "ts": [T0], "v": [False]},
                                           {"tag": "Bad Key!", "ts": [T0], "v": [1]}]}
    ack = send(client, plant, batch).json()
    assert sorted(ack["created_tags"]) == ["cnc-01.coolant_temp", "cnc-01.door_open"]
    assert ack["accepted"] == 2 and ack["rejected"][0]["tag"] == "Bad Key!"
    tags = {t["key"]: t for t in client.get("/api/v1/tags", headers=tenants.a.owner.headers).json()["items"]}
    assert (tags["cnc-01.door_open"]["data_type"], tags["cnc-01.door_open"]["auto_created"]) == ("bool", True)


def test_latest_values_flag_stale_tags_until_fresh_data(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    batch = {"batch_id": "l-1", "series": [
        {"tag": "cnc-01.spindle_speed", "ts": [T0, T0 + S], "v": [100.0, 200.0]},
        {"tag": "cnc-01.program", "ts": [T0], "v": ["O1234 支架"]}],
        "stale": [{"tag": "cnc-01.spindle_speed", "ts": T0 + 5 * S}]}
    assert send(client, plant, batch).status_code == 200
    url = f"/api/v1/machines/{plant.machine_id}/latest"
    latest = {v["key"]: v for v in client.get(url, headers=tenants.a.viewer.headers).json()}
    assert (latest["cnc-01.spindle_speed"]["value"], latest["cnc-01.spindle_speed"]["stale"]) == (200.0, True)
    assert (latest["cnc-01.program"]["value"], latest["cnc-01.program"]["stale"]) == ("O1234 支架", False)
    assert latest["cnc-01.part_count"]["ts"] is None
    send(client, plant, spindle("l-2", [(T0 + 9 * S, 300.0)]))
    latest = {v["key"]: v for v in client.get(url, headers=tenants.a.viewer.headers).json()}
    assert (latest["cnc-01.spindle_speed"]["value"], latest["cnc-01.spindle_speed"]["stale"]) == (300.0, False)


@pytest.mark.parametrize(("span", "resolution"), [(MIN, "raw"), (6 * 60 * MIN, "raw"), (3 * 24 * 60 * MIN, "1m"),
                                                  (30 * 24 * 60 * MIN, "1h")])
def test_series_picks_resolution_for_the_range(client, tenants, plant, span, resolution) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("r", WORKED))
    assert series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0, T0 + span)["resolution"] == resolution


def test_series_accepts_iso_times_with_offset_only(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("r", WORKED))
    url = f"/api/v1/tags/{plant.tags['spindle_speed']}/series"
    ok = client.get(url, params={"start": "2026-01-05T08:00:00+08:00", "end": "2026-01-05T08:01:00+08:00"},
                    headers=tenants.a.viewer.headers)
    assert ok.status_code == 200 and len(ok.json()["points"]) == 3
    naive = client.get(url, params={"start": "2026-01-05T08:00:00", "end": "2026-01-05T09:00:00+08:00"},
                       headers=tenants.a.viewer.headers)
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "start"
    backwards = client.get(url, params={"start": T0 + MIN, "end": T0}, headers=tenants.a.viewer.headers)
    assert backwards.status_code == 422 and backwards.json()["error"]["field"] == "end"


def test_csv_export_of_a_machine(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    batch = {"batch_id": "c", "series": [{"tag": "cnc-01.spindle_speed", "ts": [T0, T0 + S], "v": [1.5, 2.5]},
                                         {"tag": "cnc-01.program", "ts": [T0], "v": ["O1234, 支架"]}]}
    send(client, plant, batch)
    response = client.get("/api/v1/telemetry/export.csv", params={"machine_id": plant.machine_id, "start": T0,
                                                                  "end": T0 + MIN}, headers=tenants.a.viewer.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["tag", "time", "ts_ms", "value", "unit"]
    assert sorted(rows[1:]) == sorted([
        ["cnc-01.spindle_speed", "2026-01-05T00:00:00.000Z", str(T0), "1.5", "/min"],
        ["cnc-01.spindle_speed", "2026-01-05T00:00:01.000Z", str(T0 + S), "2.5", "/min"],
        ["cnc-01.program", "2026-01-05T00:00:00.000Z", str(T0), "O1234, 支架", "1"]])


def test_retention_removes_old_raw_data_but_keeps_rollups(client, tenants, plant, db, settings) -> None:  # type: ignore[no-untyped-def]
    send(client, plant, spindle("old", WORKED))
    policy = {"raw_days": 1, "rollup_1m_days": 3650, "rollup_1h_days": 3650}
    response = client.put("/api/v1/telemetry/retention", json=policy, headers=tenants.a.owner.headers)
    assert response.status_code == 200 and response.json()["is_default"] is False
    short = Settings(**{**settings.model_dump(), "retention_raw_days": 1})
    with db.transaction() as session:
        counts = service.apply_retention(session, short, now_ms=T0 + 10 * 86_400_000)
    assert counts["samples_deleted"] + counts["partitions_dropped"] >= 1
    tag = plant.tags["spindle_speed"]
    assert series(client, tenants.a.viewer, tag, T0, T0 + 2 * MIN, "raw")["points"] == []
    assert len(series(client, tenants.a.viewer, tag, T0, T0 + 2 * MIN, "1m")["points"]) == 2
    assert series(client, tenants.a.viewer, tag, T0, T0 + 2 * MIN, "1m")["points"][0]["count"] == 3


def test_concurrent_writers_of_a_new_day_both_succeed(client, tenants, plant, db) -> None:  # type: ignore[no-untyped-def]
    """Two workers storing the first samples of a day race to create its partition; neither fails."""
    import threading

    from commonworks.telemetry import storage

    day = T0 + 7 * 86_400_000
    results: list[object] = []

    def worker(n: int) -> None:
        storage.forget_partitions()
        doc = spindle(f"race-{n}", [(day + n * 1000 + i, float(i)) for i in range(500)])
        try:
            results.extend(service.ingest_committed(db, plant.gateway_token, [doc]))
        except Exception as exc:  # pragma: no cover - the failure this test is about
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(getattr(r, "accepted", None) is not None for r in results), results
    stored = series(client, tenants.a.viewer, plant.tags["spindle_speed"], day, day + MIN, "raw")["points"]
    assert len(stored) == len({day + n * 1000 + i for n in range(4) for i in range(500)})


def test_a_batch_spanning_stored_data_finds_exactly_its_own_duplicates(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    """A backlog sent together with live data spans hours of stored samples: only the batch's own
    keys count — one duplicate, one new sample, whatever lies between (both backends)."""
    stored = [(T0 + i * S, float(i)) for i in range(1_000)]
    assert send(client, plant, spindle("live", stored)).json()["accepted"] == 1_000
    mixed = spindle("backlog+live", [(T0 - 60 * S, 1.0), (T0 + 999 * S, 999.0), (T0 + 5_000 * S, 5.0)])
    ack = send(client, plant, mixed).json()
    assert (ack["accepted"], ack["duplicates"]) == (2, 1)
    raw = series(client, tenants.a.viewer, plant.tags["spindle_speed"], T0 - MIN, T0 + 6_000 * S, "raw")
    assert len(raw["points"]) == 1_002
