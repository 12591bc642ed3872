"""The MQTT ingest worker against a real Mosquitto: answers after commit, splits load, refuses strangers."""

from __future__ import annotations

import asyncio
import gzip
import queue
import threading
from collections.abc import Iterator

import orjson
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from commonworks.telemetry.mqtt_worker import publish_properties, run_worker
from tests.conftest import make_plant

T0 = 1_767_571_200_000


class Workers:
    """Ingest workers running in a background thread's event loop."""

    def __init__(self, db, url: str, count: int) -> None:  # type: ignore[no-untyped-def]
        self.loop = asyncio.new_event_loop()
        self.stop = asyncio.Event()
        self.ready = [asyncio.Event() for _ in range(count)]
        self.thread = threading.Thread(target=self._run, args=(db, url), daemon=True)
        self.thread.start()

    def _run(self, db, url: str) -> None:  # type: ignore[no-untyped-def]
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(asyncio.gather(*[
            run_worker(db, url, self.stop, ready=ready, client_id=f"worker-{i}")
            for i, ready in enumerate(self.ready)]))

    def wait_ready(self) -> None:
        for ready in self.ready:
            asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready.wait(), 10), self.loop).result(15)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)


class Gateway:
    """A minimal MQTT gateway: publishes batches with its credential and collects answers."""

    def __init__(self, host: str, port: int, key: str, token: str, *, batched_acks: bool = False) -> None:
        self.key, self.token, self.batched_acks = key, token, batched_acks
        self.answers: queue.Queue[dict] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{key}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = lambda _c, _u, msg: self.answers.put(orjson.loads(msg.payload))
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.connect(host, port)
        self.client.loop_start()
        self.client.subscribe(f"commonworks/ack/{key}", qos=1)
        assert subscribed.wait(10)

    def send(self, batch: dict, *, token: str | None = None, topic_key: str | None = None, wait: bool = True):  # type: ignore[no-untyped-def]
        props = publish_properties(token or self.token, batched_acks=self.batched_acks)
        info = self.client.publish(f"commonworks/ingest/{topic_key or self.key}", gzip.compress(orjson.dumps(batch)),
                                   qos=1, properties=props)
        if wait:
            info.wait_for_publish(10)
        return info

    def answer(self) -> dict:
        return self.answers.get(timeout=20)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def workers(db, mqtt_broker) -> Iterator[Workers]:  # type: ignore[no-untyped-def]
    host, port = mqtt_broker
    running = Workers(db, f"mqtt://{host}:{port}", count=2)
    running.wait_ready()
    yield running
    running.close()


@pytest.fixture
def gateway(client, tenants, mqtt_broker) -> Iterator[tuple[Gateway, object]]:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner, gateway_key="gw-mqtt")
    gw = Gateway(*mqtt_broker, key="gw-mqtt", token=plant.gateway_token)
    yield gw, plant
    gw.close()


def test_batches_over_mqtt_are_stored_once_and_answered(client, tenants, workers, gateway) -> None:  # type: ignore[no-untyped-def]
    gw, plant = gateway
    batches = [{"batch_id": f"m-{i}", "series": [{"tag": "cnc-01.spindle_speed", "ts": [T0 + i * 1000 + j * 10
                                                                                           for j in range(3)],
                                                  "v": [float(i), float(i), float(i)]}]} for i in range(60)]
    for batch in batches:
        gw.send(batch)
    gw.send(batches[0])  # a resend after a lost answer
    answers = [gw.answer() for _ in range(61)]
    by_id: dict[str, list[dict]] = {}
    for a in answers:
        by_id.setdefault(a["batch_id"], []).append(a)
    assert sorted(by_id) == sorted(b["batch_id"] for b in batches)
    assert sum(a["accepted"] for a in answers) == 180
    assert sorted(a["duplicates"] for a in by_id["m-0"]) == [0, 3]
    gateway_row = client.get(f"/api/v1/gateways/{plant.gateway_id}", headers=tenants.a.owner.headers).json()
    assert gateway_row["samples_accepted"] == 180


def test_wrong_credential_or_topic_gets_an_error_answer_and_stores_nothing(client, tenants, workers,
                                                                            gateway) -> None:  # type: ignore[no-untyped-def]
    gw, plant = gateway
    batch = {"batch_id": "x-1", "series": [{"tag": "cnc-01.spindle_speed", "ts": [T0], "v": [1.0]}]}
    gw.send(batch, token="cwg_forged")
    answer = gw.answer()
    assert answer["batch_id"] == "x-1" and answer["error"]["code"] == "unauthorized"
    other = make_plant(client, tenants.b.owner, prefix="press-01", gateway_key="gw-other")
    gw.send(batch, token=other.gateway_token)  # B's credential on A's topic
    assert "not gw-mqtt" in gw.answer()["error"]["message"]
    gw.client.publish("commonworks/ingest/gw-mqtt", b"\x00garbage", qos=1,
                      properties=_props(plant.gateway_token)).wait_for_publish(10)
    assert gw.answer()["error"]["code"] == "validation_error"
    assert client.get(f"/api/v1/gateways/{plant.gateway_id}", headers=tenants.a.owner.headers).json()[
        "samples_accepted"] == 0


def _props(token: str) -> Properties:
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("token", token)
    return props


def test_a_gateway_asking_for_list_answers_gets_its_batches_answered_together(client, tenants, workers,
                                                                             mqtt_broker) -> None:  # type: ignore[no-untyped-def]
    plant = make_plant(client, tenants.a.owner, gateway_key="gw-lists")
    gw = Gateway(*mqtt_broker, key="gw-lists", token=plant.gateway_token, batched_acks=True)
    try:
        batches = [{"batch_id": f"l-{i}", "series": [{"tag": "cnc-01.spindle_speed", "ts": [T0 + i * 1000],
                                                       "v": [float(i)]}]} for i in range(80)]
        infos = [gw.send(batch, wait=False) for batch in batches]
        infos.append(gw.send({"batch_id": "l-bad", "series": [{"tag": "cnc-01.spindle_speed", "ts": [T0]}]},
                             wait=False))
        infos.append(gw.send({"batch_id": "l-stranger", "series": []}, token="cwg_forged", wait=False))
        for info in infos:
            info.wait_for_publish(10)
        answers: dict[str, dict] = {}
        messages = 0
        while len(answers) < 82:
            message = gw.answer()
            messages += 1
            assert set(message) == {"acks"}
            for answer in message["acks"]:
                assert answer["batch_id"] not in answers
                answers[answer["batch_id"]] = answer
        assert messages < 82  # answered together (each worker answers its share of a micro-batch in one message)
        assert all(answers[f"l-{i}"]["accepted"] == 1 for i in range(80))
        assert answers["l-bad"]["error"] == {"code": "validation_error", "field": "series.0",
                                             "message": "series[0] needs lists ts and v"}
        assert answers["l-stranger"]["error"]["code"] == "unauthorized"
        assert client.get(f"/api/v1/gateways/{plant.gateway_id}", headers=tenants.a.owner.headers).json()[
            "samples_accepted"] == 80
    finally:
        gw.close()
