"""Alarms end to end: rules on ingest and by the upkeep, lifecycle, flapping, webhooks (a real HTTP server)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import orjson
import pytest
from sqlalchemy import select

from commonworks.operations.alarms import deliver_due, evaluate_timed
from commonworks.operations.models import AlarmNotification, MachineStateInterval
from commonworks.operations.states import State
from tests.conftest import make_plant
from tests.services import free_port

S = 1000
NOW = time.time_ns() // 1_000_000
T0 = NOW - 3_600_000


class Receiver:
    """A webhook endpoint on 127.0.0.1 that records what it gets and answers ``status``."""

    def __init__(self) -> None:
        self.got: list[dict] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.got.append(json.loads(body))
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver():  # type: ignore[no-untyped-def]
    r = Receiver()
    yield r
    r.server.shutdown()


@pytest.fixture
def plant(client, tenants):  # type: ignore[no-untyped-def]
    return make_plant(client, tenants.a.owner)


def send(client, plant, points: list[tuple[int, float]], batch_id: str) -> None:  # type: ignore[no-untyped-def]
    body = gzip.compress(orjson.dumps({"batch_id": batch_id, "series": [
        {"tag": "cnc-01.spindle_speed", "ts": [t for t, _ in points], "v": [v for _, v in points]}]}))
    response = client.post("/api/v1/ingest", content=body, headers={**plant.gateway_headers,
                                                                    "Content-Encoding": "gzip",
                                                                    "Content-Type": "application/json"})
    assert response.status_code == 200, response.text


def rule(client, member, **body):  # type: ignore[no-untyped-def]
    made = client.post("/api/v1/alarm-rules", json={"name": "主轴超速", **body}, headers=member.headers)
    assert made.status_code == 201, made.text
    return made.json()


def alarms(client, member, **params):  # type: ignore[no-untyped-def]
    return client.get("/api/v1/alarms", params=params, headers=member.headers).json()["items"]


SPEED = {"kind": "threshold", "tag": "spindle_speed", "limit": 10_000, "deadband": 500, "severity": "critical"}


def test_threshold_alarm_lifecycle_with_who_and_when(client, tenants, plant, receiver) -> None:  # type: ignore[no-untyped-def]
    r = rule(client, tenants.a.owner, **SPEED, webhook_url=receiver.url)
    send(client, plant, [(T0, 9_000), (T0 + 1 * S, 12_000), (T0 + 2 * S, 11_800)], "b1")
    [alarm] = alarms(client, tenants.a.viewer, status="open")
    assert (alarm["rule_id"], alarm["status"], alarm["severity"], alarm["raised_ms"], alarm["value"]) == (
        r["id"], "active", "critical", T0 + 1 * S, 12_000)
    assert "spindle_speed = 12000 > 10000" in alarm["message"]
    viewer = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=tenants.a.viewer.headers)
    assert viewer.status_code == 403
    acked = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=tenants.a.engineer.headers).json()
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", tenants.a.engineer.user_id)
    assert acked["acknowledged_at"] is not None
    send(client, plant, [(T0 + 3 * S, 9_600), (T0 + 4 * S, 9_400)], "b2")  # 9,600 is inside the deadband
    [cleared] = alarms(client, tenants.a.viewer, status="cleared")
    assert (cleared["id"], cleared["cleared_ms"]) == (alarm["id"], T0 + 4 * S)
    again = client.post(f"/api/v1/alarms/{alarm['id']}/acknowledge", headers=tenants.a.engineer.headers)
    assert again.status_code == 422
    assert deliver_due(client.app.state.db) == {"delivered": 3, "failed": 0}
    assert [g["event"] for g in receiver.got] == ["raised", "acknowledged", "cleared"]
    assert receiver.got[0]["rule"] == "主轴超速" and receiver.got[0]["machine_id"] == plant.machine_id


def test_a_flapping_signal_keeps_one_alarm(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    rule(client, tenants.a.owner, **{**SPEED, "deadband": 0})
    points = [(T0 + i * S, 12_000.0 if i % 2 else 9_000.0) for i in range(100)]
    send(client, plant, points, "flap")
    everything = alarms(client, tenants.a.viewer)
    assert len(everything) == 1  # reopened 50 times within a minute of clearing, never duplicated
    assert everything[0]["occurrences"] == 50


def test_late_samples_do_not_rewrite_alarms(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    rule(client, tenants.a.owner, **SPEED)
    send(client, plant, [(T0 + 10 * S, 9_000)], "now")
    send(client, plant, [(T0, 12_000)], "late backlog")  # older than what the rule has seen
    assert alarms(client, tenants.a.viewer) == []


def test_webhook_failures_are_retried_then_given_up_and_rate_limited(client, tenants, plant, receiver) -> None:  # type: ignore[no-untyped-def]
    rule(client, tenants.a.owner, **{**SPEED, "deadband": 0}, webhook_url=receiver.url, max_notifications_per_hour=2)
    send(client, plant, [(T0, 12_000), (T0 + 100 * S, 9_000), (T0 + 200 * S, 12_000)], "b")
    db = client.app.state.db
    with db.transaction() as session:  # raised + cleared queued; the third event is over the hourly limit
        assert [n.event for n in session.scalars(select(AlarmNotification).order_by(AlarmNotification.id))] == [
            "raised", "cleared"]
    receiver.status = 500
    now = time.time_ns() // 1_000_000 + 1_000
    assert deliver_due(db, now_ms=now) == {"delivered": 0, "failed": 2}
    with db.transaction() as session:
        first = session.scalars(select(AlarmNotification).order_by(AlarmNotification.id)).first()
        assert (first.attempts, first.next_attempt_ms, first.last_error) == (1, now + 10_000, "HTTP 500")
    assert deliver_due(db, now_ms=now + 5_000) == {"delivered": 0, "failed": 0}  # not due yet
    for pause in (10, 30, 120, 600, 1800):
        now += pause * 1000
        deliver_due(db, now_ms=now)
    with db.transaction() as session:
        assert all(n.failed and n.attempts == 6 for n in session.scalars(select(AlarmNotification)))
    assert len(receiver.got) == 12  # two notifications × six attempts, then no more


def test_a_shelved_rule_raises_nothing(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    r = rule(client, tenants.a.owner, **SPEED)
    shelved = client.patch(f"/api/v1/alarm-rules/{r['id']}", headers=tenants.a.owner.headers,
                           json={"shelved_until": "2099-01-01T00:00:00+08:00"})
    assert shelved.status_code == 200
    send(client, plant, [(T0, 12_000)], "b")
    assert alarms(client, tenants.a.viewer) == []


def test_no_data_and_state_held_too_long(client, tenants, plant) -> None:  # type: ignore[no-untyped-def]
    rule(client, tenants.a.owner, name="无数据", kind="no_data", duration_s=600)
    rule(client, tenants.a.owner, name="停机过久", kind="state_duration", state="down_unplanned", duration_s=1800)
    send(client, plant, [(T0, 9_000)], "b")
    with client.app.state.db.transaction() as session:
        session.add(MachineStateInterval(org_id=tenants.a.org_id, machine_id=plant.machine_id, start_ms=T0,
                                         end_ms=NOW, state=State.down_unplanned))
    with client.app.state.db.transaction() as session:
        assert evaluate_timed(session, now_ms=NOW) == 2
        assert evaluate_timed(session, now_ms=NOW) == 0  # still the same two open alarms
    messages = sorted(a["message"] for a in alarms(client, tenants.a.viewer, status="open"))
    assert messages[0].startswith("停机过久: cnc-01 down_unplanned for 3600 s")
    assert messages[1].startswith("无数据: no data from cnc-01 for 3600 s")
    send(client, plant, [(NOW - 1_000, 9_000)], "back")
    with client.app.state.db.transaction() as session:
        assert evaluate_timed(session, now_ms=NOW) == 1  # data again: no_data cleared
    assert [a["message"][:4] for a in alarms(client, tenants.a.viewer, status="open")] == ["停机过久"]


@pytest.mark.parametrize(("body", "message"), [
    ({"kind": "threshold", "tag": "spindle_speed"}, "needs limit"),
    ({"kind": "rate", "tag": "spindle_speed", "limit": -1}, "positive"),
    ({"kind": "state_duration", "duration_s": 60}, "needs state"),
    ({"kind": "threshold", "tag": "x", "limit": 1, "webhook_url": "ftp://x"}, "http"),
])
def test_bad_rules_are_refused(client, tenants, body, message) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/api/v1/alarm-rules", json={"name": "x", **body}, headers=tenants.a.owner.headers)
    assert response.status_code == 422 and message in response.json()["error"]["message"]
