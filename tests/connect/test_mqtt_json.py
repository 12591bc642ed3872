"""MQTT JSON connector: topic templates and JSON field paths to tags, over a real Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiomqtt
import orjson
import pytest
from pydantic import ValidationError

from commonworks.connect.base import now_ms
from commonworks.connect.mqtt_json import (
    DEVICE_CONFIG,
    MqttJsonConfig,
    MqttJsonConnector,
    TopicTemplate,
    normalize_tag_key,
    parse_mqtt_url,
    parse_timestamp,
)
from commonworks.connect.samples import Sample
from commonworks.connect.simulators.sparkplug_node import drop_connection

_prefixes = itertools.count()


def config(url: str = "mqtt://127.0.0.1:1", **overrides: Any) -> MqttJsonConfig:
    values: dict[str, Any] = {
        "protocol": "mqtt_json", "name": "json-test", "url": url,
        "subscriptions": [{"topic": "plant/{machine}/telemetry", "ts_field": "ts",
                           "values": {"spindle.speed": "{machine}.spindle_speed", "state": "{machine}.state"}}],
    }
    values.update(overrides)
    return MqttJsonConfig(**values)


# ---------------------------------------------------------------------------- pieces

def test_topic_templates_become_filters_and_capture_levels() -> None:
    plain = TopicTemplate.compile("plant/{machine}/telemetry")
    assert plain.filter == "plant/+/telemetry"
    assert plain.match("plant/cnc-01/telemetry") == {"machine": "cnc-01"}
    assert plain.match("plant/cnc-01/status") is None
    assert plain.match("plant/a/b/telemetry") is None
    partial = TopicTemplate.compile("site/{site}/cell-{cell}/+/#")
    assert partial.filter == "site/+/+/+/#"
    assert partial.match("site/hefei/cell-7/x") == {"site": "hefei", "cell": "7"}
    assert partial.match("site/hefei/cell-7/x/y/z") == {"site": "hefei", "cell": "7"}
    assert partial.match("site/hefei/line-7/x") is None
    for bad in ("a/{x}/{x}", "a/b#", "a/#/b", "a/{x"):
        with pytest.raises(ValueError):
            TopicTemplate.compile(bad)


def test_tag_keys_are_normalised() -> None:
    assert normalize_tag_key("CNC 01.Spindle Speed") == "cnc_01.spindle_speed"
    assert normalize_tag_key("Press/01 (Left).strokes") == "press_01_left_.strokes"
    assert normalize_tag_key("主轴转速") is None
    assert normalize_tag_key("x" * 101) is None


def test_timestamps_parse_from_epoch_ms_and_iso_8601() -> None:
    assert parse_timestamp(1795770000123) == 1795770000123
    assert parse_timestamp(1795770000123.9) == 1795770000123
    assert parse_timestamp("1795770000123") == 1795770000123
    assert parse_timestamp("2026-11-27T08:00:00.250Z") == 1795766400250
    assert parse_timestamp("2026-11-27T16:00:00.250+08:00") == 1795766400250
    assert parse_timestamp("2026-11-27T08:00:00.250") == 1795766400250  # no zone: UTC
    for bad in ("yesterday", True, None, {"ms": 1}, -5):
        assert parse_timestamp(bad) is None


def test_broker_urls_and_config_are_validated() -> None:
    assert parse_mqtt_url("mqtt://broker") == parse_mqtt_url("mqtt://broker:1883")
    assert parse_mqtt_url("mqtts://broker").port == 8883
    for bad in ("http://broker", "mqtt://", "mqtt://user:pw@broker", "mqtt://broker/path", "mqtt://broker:99999"):
        with pytest.raises(ValueError):
            parse_mqtt_url(bad)
    assert DEVICE_CONFIG is MqttJsonConfig
    bad_configs: list[dict[str, Any]] = [
        {"url": "tcp://x"},
        {"subscriptions": []},
        {"subscriptions": [{"topic": "a/{m}", "values": {"v": "{machine}.v"}}]},  # placeholder not in topic
        {"subscriptions": [{"topic": "a/{m}", "values": {"v": "Not A Key"}}]},
        {"subscriptions": [{"topic": "a/{m}", "values": {"x..y": "{m}.v"}}]},
        {"subscriptions": [{"topic": "a/{m}", "values": {}}]},
        {"qos": 3},
        {"extra": True},
    ]
    for overrides in bad_configs:
        with pytest.raises(ValidationError):
            config(**overrides)


def test_messages_without_a_broker_count_every_kind_of_problem() -> None:
    samples: list[Sample] = []
    connector = MqttJsonConnector(config(subscriptions=[{
        "topic": "plant/{machine}/telemetry", "ts_field": "ts",
        "values": {"spindle.speed": "{machine}.spindle_speed", "axes.0.load": "{machine}.x_load",
                   "state": "{machine}.state", "ok": "{machine}.ok"}}]), samples.extend)
    connector.handle_message("plant/CNC 01/telemetry", orjson.dumps(
        {"ts": 1000, "spindle": {"speed": 1200.5}, "axes": [{"load": 31}], "state": "running", "ok": True}))
    connector.handle_message("plant/cnc-02/telemetry", b'{"ts": 2000, "spindle": {"speed": "fast"}, "state": null}',
                             received_ms=5)
    connector.handle_message("plant/cnc-02/telemetry", b'{"ts": "soon", "spindle": {"speed": [1]}}', received_ms=7)
    connector.handle_message("plant/cnc-02/telemetry", b"{not json")
    connector.handle_message("plant/cnc-02/telemetry", b"[1, 2]")
    connector.handle_message("plant/cnc-02/status", b"{}")
    assert samples == [
        Sample("cnc_01.spindle_speed", 1000, 1200.5), Sample("cnc_01.x_load", 1000, 31),
        Sample("cnc_01.state", 1000, "running"), Sample("cnc_01.ok", 1000, True),
        Sample("cnc-02.spindle_speed", 2000, "fast"), Sample("cnc-02.state", 2000, None),
    ]
    diagnostics = connector.diagnostics()
    assert diagnostics["malformed_payloads"] == 2
    assert diagnostics["missing_fields"] == 2 + 3  # x_load and ok; then x_load, state and ok
    assert diagnostics["bad_values"] == 1
    assert diagnostics["bad_timestamps"] == 1
    assert diagnostics["unmatched_messages"] == 1


# ---------------------------------------------------------------------------- over Mosquitto

async def wait_for(condition: Callable[[], Any], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(connector: MqttJsonConnector) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(connector.run(stop))
    try:
        await wait_for(lambda: connector.available, "the connector to subscribe")
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


def test_topics_and_fields_map_to_tags_over_mqtt(mqtt_broker: tuple[str, int]) -> None:
    prefix = f"plant{next(_prefixes)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        connector = MqttJsonConnector.from_config(config(
            url=f"mqtt://{mqtt_broker[0]}:{mqtt_broker[1]}",
            subscriptions=[
                {"topic": prefix + "/{machine}/telemetry", "ts_field": "meta.time",
                 "values": {"spindle.speed": "{machine}.spindle_speed", "counters.parts": "{machine}.part_count"}},
                {"topic": prefix + "/{line}/press-{n}/state",
                 "values": {"state": "{line}.press_{n}.state", "alarm": "{line}.press_{n}.alarm"}},
            ]), samples.extend)
        async with running(connector), aiomqtt.Client(*mqtt_broker) as publisher:
            before = now_ms()
            await publisher.publish(f"{prefix}/cnc-01/telemetry", orjson.dumps(
                {"meta": {"time": "2026-11-27T08:00:00.250Z"}, "spindle": {"speed": 8000}, "counters": {"parts": 17}}),
                qos=1)
            await publisher.publish(f"{prefix}/cnc-02/telemetry", orjson.dumps(
                {"meta": {"time": 1795766401000}, "spindle": {"speed": 7999.5}, "counters": {"parts": 3}}), qos=1)
            await publisher.publish(f"{prefix}/line-a/press-3/state", b'{"state": "down", "alarm": 1012}', qos=1)
            await publisher.publish(f"{prefix}/cnc-01/telemetry", b"garbage{", qos=1)
            await publisher.publish(f"{prefix}/cnc-01/telemetry", b'{"meta": {"time": 1795766402000}}', qos=1)
            await publisher.publish(f"{prefix}/cnc-01/telemetry", orjson.dumps(
                {"meta": {"time": 1795766403000}, "spindle": {"speed": 0}, "counters": {"parts": 18}}), qos=1)
            await wait_for(lambda: connector.messages >= 6, "six messages")
            after = now_ms()
        assert samples[:4] == [
            Sample("cnc-01.spindle_speed", 1795766400250, 8000), Sample("cnc-01.part_count", 1795766400250, 17),
            Sample("cnc-02.spindle_speed", 1795766401000, 7999.5), Sample("cnc-02.part_count", 1795766401000, 3),
        ]
        press = [s for s in samples if s.tag.startswith("line-a")]
        assert [(s.tag, s.value) for s in press] == [("line-a.press_3.state", "down"), ("line-a.press_3.alarm", 1012)]
        assert before <= press[0].ts <= after  # no ts_field: the receipt time
        assert samples[-2:] == [Sample("cnc-01.spindle_speed", 1795766403000, 0),
                                Sample("cnc-01.part_count", 1795766403000, 18)]
        diagnostics = connector.diagnostics()
        assert (diagnostics["malformed_payloads"], diagnostics["missing_fields"]) == (1, 2)
        assert diagnostics["errors"] == 0

    asyncio.run(scenario())


def test_lost_broker_marks_seen_tags_stale_and_reconnects(mqtt_broker: tuple[str, int]) -> None:
    prefix = f"plant{next(_prefixes)}"

    async def scenario() -> None:
        samples: list[Sample] = []
        connector = MqttJsonConnector(config(
            url=f"mqtt://{mqtt_broker[0]}:{mqtt_broker[1]}",
            subscriptions=[{"topic": prefix + "/{machine}", "values": {"v": "{machine}.v"}}]), samples.extend)
        async with running(connector), aiomqtt.Client(*mqtt_broker) as publisher:
            await publisher.publish(f"{prefix}/m1", b'{"v": 1}', qos=1)
            await wait_for(lambda: samples, "the first value")
            assert connector.client is not None
            drop_connection(connector.client)
            await wait_for(lambda: any(s.value is None for s in samples), "a stale marker")
            await wait_for(lambda: connector.available, "the reconnect")
            await publisher.publish(f"{prefix}/m1", b'{"v": 2}', qos=1)
            await wait_for(lambda: samples[-1].value == 2, "a value after the reconnect")
        assert [s.value for s in samples] == [1, None, 2]
        assert samples[1].tag == "m1.v"

    asyncio.run(scenario())
