"""Re-sending unchanged values (``republish_s``): a machine read by exception that stands still must not look offline.

An OPC UA subscription (and an MQTT device that publishes on change) delivers nothing while a machine is down or
being set up; the platform takes a silence longer than its offline timeout for ``offline``. While the device's
connection is healthy the gateway therefore sends each tag's last value again once it has gone ``republish_s``
seconds unsent, stamped with the current time — and never for a device that is unavailable or a tag whose last
value was a stale marker, so a dead connection still reads as offline.

Against real servers on loopback ports: the CNC simulator's asyncua server, a plain asyncua server whose variable
turns Bad, a Mosquitto broker of the test's own, and the whole gateway delivering to a local ingest endpoint.
"""

from __future__ import annotations

import asyncio
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from asyncua import Server, ua

from commonworks.connect.base import Backoff
from commonworks.connect.config import REPUBLISH_DEFAULT_S, ConfigError, GatewayConfig, load_config
from commonworks.connect.gateway import Gateway
from commonworks.connect.mqtt_json import MqttJsonConfig, MqttJsonConnector
from commonworks.connect.opcua import OpcUaConnector
from commonworks.connect.samples import Sample
from commonworks.connect.simulators.cnc_opcua import gateway_device
from tests.connect.ingest_standin import IngestStandIn
from tests.connect.test_opcua import Recorder, fast, free_port, simulator, wait_until
from tests.services import Mosquitto

REPUBLISH_S = 0.3  # short, so a test sees several re-sends in a second or two


def values_of(samples: list[Sample], tag: str) -> list[Sample]:
    return [s for s in samples if s.tag == tag]


def resent_runs(samples: list[Sample], tag: str) -> int:
    """How many samples of ``tag`` repeat the value of the sample before them (what only a re-send produces here)."""
    mine = values_of(samples, tag)
    return sum(1 for a, b in pairwise(mine) if b.value is not None and b.value == a.value)


# --- configuration -------------------------------------------------------------------------------------------------


def write_config(tmp_path: Path, device: dict[str, Any]) -> Path:
    doc = {
        "gateway": {"key": "gw-test-1", "platform": {"url": "http://127.0.0.1:8000", "token": "cwg_test"}},
        "devices": [device],
    }
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


OPCUA = {
    "protocol": "opcua",
    "name": "cnc-01",
    "endpoint": "opc.tcp://127.0.0.1:4840/",
    "tags": [{"key": "cnc-01.activity", "node": "ns=2;s=cnc-01.Activity"}],
}
MQTT_JSON = {
    "protocol": "mqtt_json",
    "name": "line",
    "url": "mqtt://127.0.0.1:1883",
    "subscriptions": [{"topic": "plant/{machine}/telemetry", "values": {"state": "{machine}.state"}}],
}


@pytest.mark.parametrize(
    ("device", "value", "message"),
    [
        (
            OPCUA,
            -5,
            "devices.0.republish_s: cannot be negative, got -5 (0 turns re-sending off, or a number of "
            "seconds from 0.1 to 3600, e.g. 60)",
        ),
        (OPCUA, "often", "devices.0.republish_s: must be a number of seconds, not 'often'"),
        (OPCUA, "60", "devices.0.republish_s: must be a number of seconds, not '60'"),
        (OPCUA, True, "devices.0.republish_s: must be a number of seconds, not True"),
        (OPCUA, None, "devices.0.republish_s: must be a number of seconds, not None"),
        (OPCUA, 86_400, "devices.0.republish_s: 86400 is out of range"),
        (OPCUA, 0.01, "devices.0.republish_s: 0.01 is out of range"),
        (MQTT_JSON, -1, "devices.0.republish_s: cannot be negative, got -1"),
        (MQTT_JSON, float("inf"), "devices.0.republish_s: must be a finite number of seconds, not inf"),
    ],
)
def test_a_bad_republish_period_is_a_config_error_naming_the_field(
    tmp_path: Path, device: dict[str, Any], value: Any, message: str
) -> None:
    path = write_config(tmp_path, {**device, "republish_s": value})
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_republish_defaults_opcua_on_mqtt_json_off_and_zero_turns_it_off(tmp_path: Path) -> None:
    assert REPUBLISH_DEFAULT_S == 60.0  # well under the platform's 300 s offline timeout
    [opcua] = load_config(write_config(tmp_path, OPCUA)).devices
    [mqtt] = load_config(write_config(tmp_path, MQTT_JSON)).devices
    assert (opcua.republish_s, mqtt.republish_s) == (60.0, 0.0)
    [off] = load_config(write_config(tmp_path, {**OPCUA, "republish_s": 0})).devices
    [tenth] = load_config(write_config(tmp_path, {**OPCUA, "republish_s": 2.5})).devices
    assert (off.republish_s, tenth.republish_s) == (0.0, 2.5)
    connector = OpcUaConnector(off, lambda samples: None)
    assert connector.diagnostics()["republish_s"] == 0.0 and connector.republish_due() == 0


# --- the rules, on a connector fed directly ------------------------------------------------------------------------


def test_resend_rules_on_a_connector_fed_messages_directly() -> None:
    """MQTT JSON's message handler is public: feed it, let the period pass, and ask for what is due."""
    config = MqttJsonConfig.model_validate(
        {
            **MQTT_JSON,
            "republish_s": 0.1,
            "subscriptions": [
                {
                    "topic": "plant/{machine}/telemetry",
                    "ts_field": "ts",
                    "values": {"state": "{machine}.state", "temp": "{machine}.temp"},
                }
            ],
        }
    )
    emit = Recorder()
    connector = MqttJsonConnector(config, emit)
    ahead = int(time.time() * 1000) + 600_000  # the device's clock runs ten minutes ahead of the gateway's
    connector.handle_message("plant/imm-01/telemetry", b'{"ts": %d, "state": "setup", "temp": 21.5}' % ahead)
    assert connector.available and connector.republish_due() == 0  # just sent: nothing due yet
    time.sleep(0.15)
    assert connector.republish_due() == 2
    resent = {s.tag: s for s in emit.samples[2:]}
    assert {t: s.value for t, s in resent.items()} == {"imm-01.state": "setup", "imm-01.temp": 21.5}
    # stamped now, but never at or before the value it repeats: here 1 ms after it
    assert {s.ts for s in resent.values()} == {ahead + 1}

    # a stale marker (JSON null) ends the re-sending of that tag only
    connector.handle_message("plant/imm-01/telemetry", b'{"ts": %d, "state": "setup", "temp": null}' % (ahead + 5))
    time.sleep(0.15)
    assert connector.republish_due() == 1
    assert emit.samples[-1] == Sample("imm-01.state", ahead + 6, "setup")

    # the connection is lost: stale markers, and nothing is re-sent any more
    connector.mark_unavailable("broker gone")
    sent = len(emit.samples)
    assert {s.value for s in emit.samples[sent - 2 :]} == {None}
    time.sleep(0.15)
    assert connector.republish_due() == 0 and len(emit.samples) == sent
    assert connector.republished == 3


# --- OPC UA, against the CNC simulator -----------------------------------------------------------------------------


def test_opcua_resends_unchanged_values_while_subscribed_and_stops_with_the_server() -> None:
    """The simulator writes only changed values, so the program name, unchanged for minutes, arrives once —
    and then again every ``republish_s`` from the gateway, until the server goes away."""

    async def scenario() -> None:
        port = free_port()
        sim = simulator(port)
        await sim.start()
        config = gateway_device("cnc-01", "127.0.0.1", port, sampling_ms=100)
        emit = Recorder()
        connector = OpcUaConnector(fast(config, republish_s=REPUBLISH_S), emit)
        connector.backoff = Backoff(initial=0.05, maximum=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            program = "cnc-01.program_name"
            await wait_until(lambda: resent_runs(emit.samples, program) >= 3, what="the program name re-sent")
            assert connector.alive() and connector.republished >= 3
            mine = values_of(emit.samples, program)
            assert len({s.value for s in mine}) == 1 and mine[0].value == sim.snapshot.program  # type: ignore[union-attr]
            assert all(b.ts > a.ts for a, b in pairwise(mine))  # each stamped later
            assert abs(mine[-1].ts - time.time() * 1000) < 60_000  # with the current time (the server's clock)

            await sim.stop()
            await wait_until(lambda: not connector.available, what="device marked unavailable")
            stale_at = next(i for i, s in enumerate(emit.samples) if s.value is None)
            republished = connector.republished
            await asyncio.sleep(5 * REPUBLISH_S)  # several periods pass with the server down …
            assert not connector.alive()
            after = emit.samples[stale_at:]
            assert all(s.value is None for s in after)  # … and nothing but the stale markers was sent
            assert sorted(s.tag for s in after) == sorted(t["key"] for t in config["tags"])
            assert connector.republished == republished

            mark = len(emit.samples)  # the server is back: values, and re-sends again
            sim = simulator(port)
            await sim.start()
            await wait_until(lambda: resent_runs(emit.samples[mark:], program) >= 2, what="re-sends after restart")
        finally:
            stop.set()
            await task
            await sim.stop()

    asyncio.run(scenario())


def test_opcua_does_not_resend_a_bad_quality_value() -> None:
    """A server that cannot read its source any more says so with a Bad status: the tag goes stale and stays so,
    while the good tag next to it is still re-sent."""

    async def scenario() -> None:
        port = free_port()
        server = Server()
        await server.init()
        server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace("urn:commonworks:test:bad-quality")
        plc = await server.nodes.objects.add_object(ua.NodeId("plc", idx), ua.QualifiedName("plc", idx))
        await plc.add_variable(ua.NodeId("plc.Temperature", idx), "Temperature", 21.5)
        pressure = await plc.add_variable(ua.NodeId("plc.Pressure", idx), "Pressure", 4.2)
        await server.start()
        config = fast(
            {
                "protocol": "opcua",
                "name": "plc",
                "endpoint": f"opc.tcp://127.0.0.1:{port}/",
                "tags": [
                    {"key": "plc.temperature", "node": f"ns={idx};s=plc.Temperature", "sampling_ms": 50},
                    {"key": "plc.pressure", "node": f"ns={idx};s=plc.Pressure", "sampling_ms": 50},
                ],
            },
            republish_s=REPUBLISH_S,
        )
        emit = Recorder()
        connector = OpcUaConnector(config, emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: resent_runs(emit.samples, "plc.pressure") >= 2, what="pressure re-sent")
            bad = ua.DataValue(
                ua.Variant(4.2, ua.VariantType.Double), StatusCode=ua.StatusCode(ua.StatusCodes.BadCommunicationError)
            )
            await server.write_attribute_value(pressure.nodeid, bad)
            await wait_until(
                lambda: any(s.value is None for s in values_of(emit.samples, "plc.pressure")),
                what="pressure marked stale",
            )
            mark = len(emit.samples)
            await wait_until(
                lambda: resent_runs(emit.samples[mark:], "plc.temperature") >= 3, what="temperature still re-sent"
            )
            assert values_of(emit.samples[mark:], "plc.pressure") == []
            assert values_of(emit.samples, "plc.pressure")[-1].value is None
            assert connector.available
        finally:
            stop.set()
            await task
            await server.stop()

    asyncio.run(scenario())


def test_the_gateway_delivers_resent_values_to_the_platform(tmp_path: Path) -> None:
    """The whole gateway (connector, disk queue, sender) against a local ingest endpoint: the re-sent program name
    is committed as samples of its own, one per period, each with a later timestamp."""
    with IngestStandIn(token="cwg_test-token") as standin:

        async def scenario() -> None:
            port = free_port()
            sim = simulator(port)
            await sim.start()
            device = {
                **gateway_device("cnc-01", "127.0.0.1", port, sampling_ms=100),
                "publishing_interval_ms": 50,
                "watchdog_s": 0.5,
                "timeout_s": 2.0,
                "republish_s": REPUBLISH_S,
            }
            config = GatewayConfig.from_dict(
                {
                    "gateway": {
                        "key": "gw-test-1",
                        "platform": {"url": standin.url, "token": "cwg_test-token", "timeout_s": 10},
                        "buffer": {"path": str(tmp_path / "buffer.db")},
                        "batch": {"max_samples": 200, "max_delay_ms": 50},
                    },
                    "devices": [device],
                }
            )
            gateway = Gateway(config)
            stop = asyncio.Event()
            task = asyncio.create_task(gateway.run(stop))

            def committed_program() -> list[tuple[int, Any]]:
                return sorted((ts, v) for tag, ts, v in standin.snapshot() if tag == "cnc-01.program_name")

            try:
                await wait_until(lambda: len(committed_program()) >= 4, what="re-sent program names committed")
            finally:
                stop.set()
                await task
                await sim.stop()
            program = committed_program()
            assert len({v for _, v in program}) == 1 and program[0][1] == sim.snapshot.program  # type: ignore[union-attr]
            assert standin.duplicates == 0
            [diag] = [c.diagnostics() for c in gateway.connectors]
            assert diag["republished"] >= 3 and diag["republish_s"] == REPUBLISH_S

        asyncio.run(scenario())


# --- MQTT JSON, against a broker of the test's own -----------------------------------------------------------------


def test_mqtt_json_resends_only_while_the_broker_connection_holds(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path)
    broker.start()

    async def scenario() -> None:
        config = MqttJsonConfig.model_validate({**MQTT_JSON, "url": broker.url, "republish_s": REPUBLISH_S})
        emit = Recorder()
        connector = MqttJsonConnector(config, emit)
        connector.backoff = Backoff(initial=0.05, maximum=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: connector.available, what="subscribed")
            async with aiomqtt.Client("127.0.0.1", broker.port) as device:
                await device.publish("plant/cnc-07/telemetry", b'{"state": "setup"}', qos=1)
            await wait_until(lambda: resent_runs(emit.samples, "cnc-07.state") >= 2, what="state re-sent")
            assert {s.value for s in emit.samples} == {"setup"}

            broker.stop()
            await wait_until(lambda: not connector.available, what="broker connection lost")
            stale_at = next(i for i, s in enumerate(emit.samples) if s.value is None)
            await asyncio.sleep(5 * REPUBLISH_S)
            assert [s.value for s in emit.samples[stale_at:]] == [None]
        finally:
            stop.set()
            await task

    try:
        asyncio.run(scenario())
    finally:
        broker.stop()


def test_config_docstring_examples_hold() -> None:
    import doctest

    import commonworks.connect.config as module

    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0
