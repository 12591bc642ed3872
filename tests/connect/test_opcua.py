"""OPC UA: config errors, value mapping, and the connector and browser against the CNC simulator's real asyncua server
on a free loopback port (reads, a server restart with a new client, browse → tag map → config).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from asyncua import ua
from pydantic import ValidationError

from commonworks.connect.base import Backoff
from commonworks.connect.opcua import (
    CONNECTOR,
    DEVICE_CONFIG,
    UNSUPPORTED,
    OpcUaConnector,
    OpcUaDeviceConfig,
    browse,
    timestamp_ms,
    to_value,
    write_tag_map,
)
from commonworks.connect.samples import Sample
from commonworks.connect.simulators.cnc_opcua import NAMESPACE_URI, CncOpcUaServer, gateway_device
from commonworks.connect.simulators.machines import CncModel, SimClock

# A Wednesday morning in the plant: seed 1 is cutting then (checked in the test, the model is deterministic).
MORNING = datetime(2026, 1, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, samples: Any) -> None:
        self.samples.extend(samples)

    def latest(self, since: int = 0) -> dict[str, Any]:
        return {s.tag: s.value for s in self.samples[since:] if s.value is not None}


def simulator(port: int) -> CncOpcUaServer:
    return CncOpcUaServer("cnc-01", port, seed=1, clock=SimClock(speed=1.0, sim_origin=MORNING))


@pytest.fixture(scope="module")
def cnc_sim() -> Iterator[CncOpcUaServer]:
    """One simulator for the read-only tests, on its own event loop in a thread (like a separate process would be):
    an asyncua server takes seconds to build its address space."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="cnc-sim", daemon=True)
    thread.start()
    sim = simulator(free_port())
    asyncio.run_coroutine_threadsafe(sim.start(), loop).result(timeout=60)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def fast(config: dict[str, Any], **kw: Any) -> OpcUaDeviceConfig:
    return OpcUaDeviceConfig.model_validate({**config, "publishing_interval_ms": 50, "watchdog_s": 0.5,
                                             "timeout_s": 2.0, **kw})


# --- configuration and values --------------------------------------------------------------------------------------

def device(**kw: Any) -> dict[str, Any]:
    return {"protocol": "opcua", "name": "cnc-01", "endpoint": "opc.tcp://127.0.0.1:4840/",
            "tags": [{"key": "cnc-01.spindle_speed", "node": "ns=2;s=cnc-01.SpindleSpeed"}], **kw}


def test_module_follows_the_protocol_convention() -> None:
    assert DEVICE_CONFIG is OpcUaDeviceConfig and CONNECTOR is OpcUaConnector
    cfg = OpcUaDeviceConfig.model_validate(device(username="op", password="secret"))
    assert cfg.tags[0].sampling_ms == 1000 and "secret" not in repr(cfg)
    assert isinstance(CONNECTOR.from_config(cfg, lambda samples: None), OpcUaConnector)


@pytest.mark.parametrize(("change", "message"), [
    ({"endpoint": "http://127.0.0.1:4840"}, "is not an opc.tcp://host:port endpoint"),
    ({"endpoint": "opc.tcp://host:port"}, "invalid port"),
    ({"tags": [{"key": "cnc-01.x", "node": "Spindle.Speed"}]}, "'Spindle.Speed' is not an OPC UA node id"),
    ({"tags": [{"key": "cnc-01.x", "node": "ns=x;s=A"}]}, "is not an OPC UA node id"),
    ({"tags": [{"key": "CNC-01.x", "node": "ns=2;i=1"}]}, "String should match pattern"),
    ({"tags": [{"key": "cnc-01.x", "node": "ns=2;i=1"}, {"key": "cnc-01.x", "node": "ns=2;i=2"}]},
     "tag 'cnc-01.x' appears more than once"),
    ({"tags": [{"key": "cnc-01.x", "node": "ns=2;i=1", "sampling_ms": -1}]}, "greater than or equal to 0"),
    ({"tags": []}, "at least 1 item"),
    ({"password": "secret"}, "password given without username"),
    ({"publishing_interval": 100}, "Extra inputs are not permitted"),
])
def test_config_errors_say_what_to_fix(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OpcUaDeviceConfig.model_validate(device(**change))


def test_values_map_to_platform_values() -> None:
    assert to_value(ua.LocalizedText("Executing", "en")) == "Executing"
    assert to_value(ua.QualifiedName("Spindle", 2)) == "Spindle"
    assert to_value(ua.NodeClass.Variable) == 2  # an enumeration is its integer
    assert to_value(True) is True and to_value(7) == 7 and to_value(2.5) == 2.5 and to_value("O1001") == "O1001"
    assert to_value(float("nan")) is None and to_value(None) is None
    assert to_value([1, 2, 3]) is UNSUPPORTED and to_value(b"\x00") is UNSUPPORTED
    assert to_value(datetime(2026, 1, 7, 2, 0, tzinfo=ZoneInfo("UTC"))) == "2026-01-07T02:00:00+00:00"


def test_timestamp_prefers_source_then_server_then_now() -> None:
    source = datetime(2026, 1, 7, 2, 0, 0, 250000, tzinfo=ZoneInfo("UTC"))
    server = datetime(2026, 1, 7, 2, 0, 1, tzinfo=ZoneInfo("UTC"))
    assert timestamp_ms(ua.DataValue(1, SourceTimestamp=source, ServerTimestamp=server)) == 1767751200250
    assert timestamp_ms(ua.DataValue(1, ServerTimestamp=server)) == 1767751201000
    before = time.time_ns() // 1_000_000
    assert before <= timestamp_ms(ua.DataValue(1)) <= time.time_ns() // 1_000_000


def test_gateway_device_of_the_simulator_is_a_valid_config() -> None:
    cfg = OpcUaDeviceConfig.model_validate(gateway_device("cnc-07", "10.0.0.7", 4841))
    nodes = {t.key: t.node for t in cfg.tags}
    assert nodes["cnc-07.spindle_speed"] == "ns=2;s=cnc-07.SpindleSpeed"
    assert {t.key: t.unit for t in cfg.tags}["cnc-07.feed_rate"] == "mm/min"


# --- against the CNC simulator -------------------------------------------------------------------------------------

def test_connector_reads_spindle_speed_program_and_state(cnc_sim: CncOpcUaServer,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="commonworks.connect.opcua")
    model = CncModel(seed=1, start=MORNING)
    assert model.advance_to(MORNING + 1).activity == "producing"

    async def scenario() -> None:
        sim = cnc_sim
        config = gateway_device("cnc-01", "127.0.0.1", sim.port, sampling_ms=100)
        config["tags"] += [
            {"key": "cnc-01.missing", "node": "ns=2;s=cnc-01.NoSuchVariable"},
            {"key": "cnc-01.program_by_uri", "node": f"nsu={NAMESPACE_URI};s=cnc-01.ProgramName"},
        ]
        emit = Recorder()
        connector = OpcUaConnector(fast(config), emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            wanted = {"cnc-01.spindle_speed", "cnc-01.program_name", "cnc-01.machinery_item_state",
                      "cnc-01.machinery_item_state_name", "cnc-01.program_by_uri", "cnc-01.part_counter"}
            await wait_until(lambda: wanted <= emit.latest().keys(), what="first values")
            await wait_until(lambda: emit.latest()["cnc-01.spindle_speed"] > 0, what="spindle turning")
            latest = emit.latest()
            assert sim.snapshot is not None
            assert latest["cnc-01.program_name"] == latest["cnc-01.program_by_uri"] == sim.snapshot.program
            assert latest["cnc-01.machinery_item_state"] == 3
            assert latest["cnc-01.machinery_item_state_name"] == "Executing"
            assert isinstance(latest["cnc-01.part_counter"], int)
            assert 1000 < latest["cnc-01.spindle_speed"] < 20000
            assert abs(emit.samples[-1].ts - time.time() * 1000) < 60_000  # source timestamps, wall clock
            # one monitored item per distinct node: the two program tags share one, the missing node has none
            assert connector.available and connector.subscribed == len(config["tags"]) - 2
            assert set(connector.rejected) == {"cnc-01.missing"}
            assert "cnc-01.missing" not in emit.latest()
        finally:
            stop.set()
            await task

    run(scenario())
    ours = [r.getMessage() for r in caplog.records if r.name == "commonworks.connect.opcua.cnc-01"]
    assert sum("cnc-01.missing" in m for m in ours) == 1


def test_server_restart_reconnects_with_a_new_client(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="commonworks.connect.opcua")

    async def scenario() -> None:
        port = free_port()
        sim = simulator(port)
        await sim.start()
        config = gateway_device("cnc-01", "127.0.0.1", port, sampling_ms=100)
        emit = Recorder()
        connector = OpcUaConnector(fast(config), emit)
        connector.backoff = Backoff(initial=0.05, maximum=0.3)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: len(emit.latest()) == len(config["tags"]), what="first values")
            await sim.stop()
            await wait_until(lambda: not connector.available, what="device marked unavailable")
            stale = [s for s in emit.samples if s.value is None]
            assert sorted(s.tag for s in stale) == sorted(t["key"] for t in config["tags"])
            sessions_at_outage = connector.sessions
            await wait_until(lambda: connector.sessions >= sessions_at_outage + 2, what="failed reconnects")

            mark = len(emit.samples)
            sim = simulator(port)
            await sim.start()
            await wait_until(lambda: connector.available and len(emit.latest(since=mark)) == len(config["tags"]),
                             what="values after the restart")
            assert connector.sessions >= 3  # a new asyncua Client per session
            assert len([s for s in emit.samples if s.value is None]) == len(config["tags"])  # stale only once
        finally:
            stop.set()
            await task
            await sim.stop()

    run(scenario())
    ours = [r.getMessage() for r in caplog.records if r.name == "commonworks.connect.opcua.cnc-01"]
    assert sum("is unavailable" in m for m in ours) == 1
    assert sum("available again" in m for m in ours) == 1


def test_browse_lists_the_simulator_variables_and_the_tag_map_loads_back(cnc_sim: CncOpcUaServer,
                                                                        tmp_path: Path) -> None:
    async def scenario() -> None:
        sim, port = cnc_sim, cnc_sim.port
        entries = await browse(sim.endpoint, prefix="plant-a")
        by_key = {e["key"]: e for e in entries}
        assert by_key["plant-a.cnc-01.spindle_speed"] == {
            "key": "plant-a.cnc-01.spindle_speed", "node": "ns=2;s=cnc-01.SpindleSpeed", "sampling_ms": 1000,
            "data_type": "Double", "unit": "rpm"}
        assert by_key["plant-a.cnc-01.feed_rate"]["unit"] == "mm/min"
        assert by_key["plant-a.cnc-01.part_counter"]["data_type"] == "UInt32"
        assert "unit" not in by_key["plant-a.cnc-01.program_name"]
        assert len(entries) == len(gateway_device("cnc-01", "127.0.0.1", port)["tags"])  # no Server/*, no props
        assert len(await browse(sim.endpoint, prefix="p", max_nodes=4)) == 2  # Objects, machine, 2 variables

        path = tmp_path / "cnc-01-tags.yaml"
        write_tag_map(entries, path)
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        config = OpcUaDeviceConfig.model_validate(
            {"protocol": "opcua", "name": "cnc-01", "endpoint": sim.endpoint, **doc})
        assert [t.key for t in config.tags] == [e["key"] for e in entries]

        emit = Recorder()  # the browsed map really reads the machine
        connector = OpcUaConnector(fast(config.model_dump()), emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: len(emit.latest()) == len(entries), what="values via the browsed map")
        finally:
            stop.set()
            await task

    run(scenario())



def test_docstring_examples_hold() -> None:
    """The worked examples in the module (queue sizes per publishing/sampling interval among them)."""
    import doctest

    import commonworks.connect.opcua as module

    result = doctest.testmod(module)
    assert result.attempted >= 1 and result.failed == 0
