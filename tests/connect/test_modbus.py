"""Modbus TCP: decoding worked examples, config errors that name the tag, and the connector against real pymodbus
servers started on free loopback ports (outage and restart, a failing block next to healthy ones, the IMM simulator).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from commonworks.connect.base import Backoff
from commonworks.connect.modbus import (
    CONNECTOR,
    DEVICE_CONFIG,
    ModbusConnector,
    ModbusDeviceConfig,
    ModbusTag,
    decode,
    encode,
)
from commonworks.connect.samples import Sample
from commonworks.connect.simulators.imm_modbus import ImmModbusServer, gateway_device


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def tag(**kw: Any) -> ModbusTag:
    return ModbusTag.model_validate({"key": "t", "kind": "holding", "address": 0, **kw})


# --- decoding --------------------------------------------------------------------------------------------------------

ORDERS = [("big", "big"), ("little", "big"), ("big", "little"), ("little", "little")]  # (word_order, byte_order)


@pytest.mark.parametrize(("type_", "registers_by_order", "value"), [
    # float32 3.14 = 0x4048F5C3
    ("float32", [[0x4048, 0xF5C3], [0xF5C3, 0x4048], [0x4840, 0xC3F5], [0xC3F5, 0x4840]], 3.14),
    # float32 -1.5 = 0xBFC00000
    ("float32", [[0xBFC0, 0x0000], [0x0000, 0xBFC0], [0xC0BF, 0x0000], [0x0000, 0xC0BF]], -1.5),
    # uint32 100000 = 0x000186A0
    ("uint32", [[0x0001, 0x86A0], [0x86A0, 0x0001], [0x0100, 0xA086], [0xA086, 0x0100]], 100_000),
    # int32 -2 = 0xFFFFFFFE
    ("int32", [[0xFFFF, 0xFFFE], [0xFFFE, 0xFFFF], [0xFFFF, 0xFEFF], [0xFEFF, 0xFFFF]], -2),
    # int32 305419896 = 0x12345678
    ("int32", [[0x1234, 0x5678], [0x5678, 0x1234], [0x3412, 0x7856], [0x7856, 0x3412]], 0x12345678),
    # 16-bit types: word order does not apply, byte order swaps the two bytes
    ("uint16", [[0x1234], [0x1234], [0x3412], [0x3412]], 0x1234),
    ("int16", [[0xFF38], [0xFF38], [0x38FF], [0x38FF]], -200),
])
def test_decode_worked_examples_in_every_order(type_: str, registers_by_order: list[list[int]], value: float) -> None:
    for (word_order, byte_order), registers in zip(ORDERS, registers_by_order, strict=True):
        t = tag(type=type_, word_order=word_order, byte_order=byte_order)
        assert decode(registers, t) == value, (word_order, byte_order)
        assert encode(value, t) == registers, (word_order, byte_order)


def test_decode_keeps_integers_integers_and_float32_short() -> None:
    assert type(decode([7], tag(type="uint16"))) is int
    assert decode([0x3DCC, 0xCCCD], tag(type="float32")) == 0.1  # not 0.10000000149011612


@pytest.mark.parametrize(("kw", "registers", "value"), [
    ({"type": "int16", "scale": 0.1}, [2153], 215.3),
    ({"type": "int16", "scale": 0.1}, [0xFF38], -20.0),
    ({"type": "int16", "scale": 0.1, "offset": -200}, [2153], 15.3),
    ({"type": "uint16", "scale": 2, "offset": 1}, [5], 11.0),
    ({"type": "uint16", "scale": 0.01, "offset": -273.15}, [29815], 25.0),
    ({"type": "uint32", "scale": 0.001}, [0x0001, 0x86A0], 100.0),
    ({"type": "float32", "scale": 1000}, [0x4048, 0xF5C3], 3140.0),
])
def test_scale_and_offset(kw: dict[str, Any], registers: list[int], value: float) -> None:
    assert decode(registers, tag(**kw)) == pytest.approx(value, abs=1e-9)


def test_bits_in_a_register_and_bit_kinds() -> None:
    assert decode([0b1010], tag(type="bool", bit=1)) is True
    assert decode([0b1010], tag(type="bool", bit=2)) is False
    assert decode([0x8000], tag(type="bool", bit=15)) is True
    assert decode([True], tag(kind="coil", type="bool")) is True
    assert decode([False], tag(kind="discrete", type="bool")) is False
    assert encode(True, tag(type="bool", bit=3)) == [0b1000]


def test_float32_nan_is_no_reading() -> None:
    assert decode([0x7FC0, 0x0000], tag(type="float32")) is None


@given(value=st.integers(-(2**31), 2**31 - 1), word=st.sampled_from(["big", "little"]),
       byte=st.sampled_from(["big", "little"]))
def test_int32_round_trips_in_every_order(value: int, word: str, byte: str) -> None:
    t = tag(type="int32", word_order=word, byte_order=byte)
    assert decode(encode(value, t), t) == value


@given(value=st.floats(width=32, allow_nan=False, allow_infinity=False), word=st.sampled_from(["big", "little"]),
       byte=st.sampled_from(["big", "little"]))
def test_float32_round_trips_to_the_same_float32(value: float, word: str, byte: str) -> None:
    t = tag(type="float32", word_order=word, byte_order=byte)
    decoded = decode(encode(value, t), t)
    assert isinstance(decoded, float)
    assert struct.pack(">f", decoded) == struct.pack(">f", value)


def test_encode_refuses_values_that_do_not_fit() -> None:
    with pytest.raises(ValueError, match="does not fit uint16"):
        encode(70_000, tag(type="uint16"))


# --- configuration -------------------------------------------------------------------------------------------------

def device(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"protocol": "modbus", "name": "press-1", "host": "127.0.0.1",
                            "blocks": [{"kind": "holding", "start": 0, "count": 10}],
                            "tags": [{"key": "press-1.speed", "kind": "holding", "address": 0}]}
    base.update(kw)
    return base


def test_module_follows_the_protocol_convention() -> None:
    assert DEVICE_CONFIG is ModbusDeviceConfig
    assert CONNECTOR is ModbusConnector
    cfg = ModbusDeviceConfig.model_validate(device())
    assert isinstance(CONNECTOR.from_config(cfg, lambda samples: None), ModbusConnector)


@pytest.mark.parametrize(("tags", "message"), [
    ([{"key": "press-1.far", "kind": "holding", "address": 10}], "tag 'press-1.far' (holding 10..10) is not inside"),
    ([{"key": "press-1.edge", "kind": "holding", "address": 9, "type": "float32"}],
     "tag 'press-1.edge' (holding 9..10) is not inside"),
    ([{"key": "press-1.inp", "kind": "input", "address": 0}], "tag 'press-1.inp' (input 0..0) is not inside any input"),
    ([{"key": "press-1.flag", "kind": "holding", "address": 1, "type": "bool"}], "tag 'press-1.flag': a bool in a"),
    ([{"key": "press-1.v", "kind": "holding", "address": 1, "bit": 3}], "tag 'press-1.v': bit is only for type bool"),
    ([{"key": "press-1.c", "kind": "coil", "address": 1, "type": "uint16"}], "tag 'press-1.c': a coil is a bit"),
    ([{"key": "press-1.b", "kind": "holding", "address": 1, "type": "bool", "bit": 0, "scale": 2}],
     "scale and offset do not apply to bool"),
    ([{"key": "press-1.z", "kind": "holding", "address": 1, "scale": 0}], "scale must be finite and non-zero"),
    ([{"key": "press-1.a", "kind": "holding", "address": 1}, {"key": "press-1.a", "kind": "holding", "address": 2}],
     "tag 'press-1.a' appears more than once"),
    ([{"key": "Press 1.speed", "kind": "holding", "address": 0}], "String should match pattern"),
    ([{"key": "press-1.s", "kind": "holding", "address": 0, "word-order": "little"}], "Extra inputs are not permitted"),
])
def test_config_errors_name_the_tag(tags: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        ModbusDeviceConfig.model_validate(device(tags=tags))


@pytest.mark.parametrize(("block", "message"), [
    ({"kind": "holding", "start": 0, "count": 126}, "at most 125"),
    ({"kind": "input", "start": 0, "count": 0}, "greater than or equal to 1"),
    ({"kind": "coil", "start": 0, "count": 2001}, "at most 2000"),
    ({"kind": "holding", "start": 65500, "count": 100}, "runs past address 65535"),
    ({"kind": "holding", "start": 0, "count": 10, "interval_ms": 1}, "greater than or equal to 10"),
    ({"kind": "register", "start": 0, "count": 10}, "'holding', 'input', 'coil' or 'discrete'"),
])
def test_block_limits(block: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModbusDeviceConfig.model_validate(device(blocks=[block], tags=[]))


def test_largest_blocks_are_accepted() -> None:
    cfg = ModbusDeviceConfig.model_validate(device(blocks=[
        {"kind": "holding", "start": 0, "count": 125}, {"kind": "coil", "start": 0, "count": 2000}]))
    assert [b.count for b in cfg.blocks] == [125, 2000]


# --- against a real server -----------------------------------------------------------------------------------------

class RegisterServer:
    """A pymodbus server with distinct holding, input, coil and discrete tables; counts the requests it receives."""

    def __init__(self, port: int, holding: list[int]) -> None:
        self.port = port
        self.holding = holding
        self.requests: Counter[int] = Counter()
        self._server: ModbusTcpServer | None = None

    def _trace(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        if not sending:
            self.requests[pdu.function_code] += 1
        return pdu

    async def start(self) -> None:
        coils = [True, False, True, True, False, False, False, True] + [False] * 8
        discrete = [False, True] + [False] * 14
        device = SimDevice(id=1, simdata=(
            [SimData(0, values=coils, datatype=DataType.BITS)],
            [SimData(0, values=discrete, datatype=DataType.BITS)],
            [SimData(0, values=self.holding, datatype=DataType.REGISTERS)],
            [SimData(0, values=[1, 2, 3, 4, 0xFF38], datatype=DataType.REGISTERS)],
        ))
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port), trace_pdu=self._trace)
        await self._server.serve_forever(background=True)

    async def stop(self) -> None:
        assert self._server is not None
        await self._server.shutdown()
        self._server = None


HOLDING = [0x4048, 0xF5C3, 0x86A0, 0x0001, 2153, 0b0101, 7, 0, 0, 0]
TAGS = [
    {"key": "m.temp", "kind": "holding", "address": 0, "type": "float32", "unit": "Cel"},
    {"key": "m.count", "kind": "holding", "address": 2, "type": "uint32", "word_order": "little"},
    {"key": "m.barrel", "kind": "holding", "address": 4, "type": "int16", "scale": 0.1},
    {"key": "m.heater", "kind": "holding", "address": 5, "type": "bool", "bit": 2},
    {"key": "m.mode", "kind": "holding", "address": 6},
    {"key": "m.in3", "kind": "input", "address": 2},
    {"key": "m.in_neg", "kind": "input", "address": 4, "type": "int16", "scale": 0.1, "offset": 100},
    {"key": "m.door", "kind": "coil", "address": 3, "type": "bool"},
    {"key": "m.pump", "kind": "coil", "address": 5, "type": "bool"},
    {"key": "m.estop", "kind": "discrete", "address": 1, "type": "bool"},
]
EXPECTED = {"m.temp": 3.14, "m.count": 100_000, "m.barrel": 215.3, "m.heater": True, "m.mode": 7, "m.in3": 3,
            "m.in_neg": 80.0, "m.door": True, "m.pump": False, "m.estop": True}


class Recorder:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, samples: Any) -> None:
        self.samples.extend(samples)

    def latest(self) -> dict[str, Any]:
        return {s.tag: s.value for s in self.samples if s.value is not None}

    def stale(self) -> list[Sample]:
        return [s for s in self.samples if s.value is None]


def make_connector(port: int, emit: Recorder, **kw: Any) -> ModbusConnector:
    cfg = ModbusDeviceConfig.model_validate(device(
        name="m", port=port, timeout_s=0.5, tags=TAGS, blocks=[
            {"kind": "holding", "start": 0, "count": 10, "interval_ms": 20},
            {"kind": "input", "start": 0, "count": 5, "interval_ms": 20},
            {"kind": "coil", "start": 0, "count": 8, "interval_ms": 20},
            {"kind": "discrete", "start": 0, "count": 2, "interval_ms": 20}], **kw))
    connector = ModbusConnector(cfg, emit)
    connector.backoff = Backoff(initial=0.05, maximum=0.2)  # keep the outage test short
    return connector


def test_connector_reads_every_kind_with_one_request_per_block() -> None:
    async def scenario() -> None:
        port = free_port()
        server = RegisterServer(port, HOLDING)
        await server.start()
        emit = Recorder()
        connector = make_connector(port, emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: all(p.reads >= 5 for p in connector.pollers), what="five polls of every block")
            assert emit.latest() == EXPECTED
            by_kind = {p.block.kind: p.reads for p in connector.pollers}
            # one request per block and poll, however many tags the block carries (server-side count)
            assert server.requests[3] >= by_kind["holding"] and server.requests[3] <= by_kind["holding"] + 1
            assert server.requests[4] <= by_kind["input"] + 1
            assert server.requests[1] <= by_kind["coil"] + 1
            assert server.requests[2] <= by_kind["discrete"] + 1
            assert connector.available and connector.errors == 0
            first_poll_ts = {s.ts for s in emit.samples if s.tag == "m.temp"}
            assert len(first_poll_ts) >= 2  # every poll is emitted, not only changes
        finally:
            stop.set()
            await task
            await server.stop()

    run(scenario())


def test_device_outage_marks_unavailable_once_then_recovers_on_restart(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="commonworks.connect.modbus")

    async def scenario() -> None:
        port = free_port()
        server = RegisterServer(port, HOLDING)
        await server.start()
        emit = Recorder()
        connector = make_connector(port, emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: emit.latest() == EXPECTED, what="first values")
            await server.stop()
            await wait_until(lambda: not connector.available, what="device marked unavailable")
            reconnects_at_outage = connector.reconnects
            await wait_until(lambda: connector.reconnects >= reconnects_at_outage + 3, what="failed reconnects")
            stale = emit.stale()
            assert sorted(s.tag for s in stale) == sorted(t["key"] for t in TAGS)  # each tag stale exactly once
            assert not connector.available

            server = RegisterServer(port, [*HOLDING[:6], 8, 0, 0, 0])  # same port, new value for m.mode
            await server.start()
            await wait_until(lambda: connector.available and emit.latest()["m.mode"] == 8, what="values again")
            assert len(emit.stale()) == len(TAGS)
        finally:
            stop.set()
            await task
            await server.stop()

    run(scenario())
    ours = [r for r in caplog.records if r.name == "commonworks.connect.modbus.m"]
    assert sum("is unavailable" in r.getMessage() for r in ours) == 1
    assert sum("available again" in r.getMessage() for r in ours) == 1


def test_failing_block_is_counted_and_the_others_keep_flowing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="commonworks.connect.modbus")

    async def scenario() -> None:
        port = free_port()
        server = RegisterServer(port, HOLDING)
        await server.start()
        emit = Recorder()
        cfg = ModbusDeviceConfig.model_validate(device(
            name="m", port=port, timeout_s=0.5, blocks=[
                {"kind": "holding", "start": 0, "count": 10, "interval_ms": 20},
                {"kind": "holding", "start": 1000, "count": 2, "interval_ms": 20}],  # not on this device
            tags=[{"key": "m.mode", "kind": "holding", "address": 6},
                  {"key": "m.ghost", "kind": "holding", "address": 1000, "type": "float32"}]))
        connector = ModbusConnector(cfg, emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            good, bad = connector.pollers
            await wait_until(lambda: good.reads >= 10 and bad.errors >= 10, what="ten polls of each block")
            assert connector.available
            assert bad.failing and bad.reads == 0 and "code 2" in (bad.last_error or "")
            assert connector.errors >= 10 and connector.reconnects == 0
            assert "m.ghost" not in emit.latest() and emit.latest()["m.mode"] == 7
            assert len([s for s in emit.stale() if s.tag == "m.ghost"]) <= 1
            diag = connector.diagnostics()
            assert diag["blocks"][1]["errors"] == bad.errors and diag["blocks"][0]["failing"] is False
        finally:
            stop.set()
            await task
            await server.stop()

    run(scenario())
    ours = [r.getMessage() for r in caplog.records if r.name == "commonworks.connect.modbus.m"]
    assert sum("block 1000+2 failed" in m for m in ours) == 1


def test_imm_simulator_serves_its_documented_register_map() -> None:
    async def scenario() -> None:
        port = free_port()
        async with ImmModbusServer("imm-01", port, seed=11, speed=1.0) as sim:
            config = gateway_device("imm-01", "127.0.0.1", port, interval_ms=20)
            emit = Recorder()
            connector = ModbusConnector(ModbusDeviceConfig.model_validate(config), emit)
            stop = asyncio.Event()
            task = asyncio.create_task(connector.run(stop))
            try:
                await wait_until(lambda: len(emit.latest()) == len(config["tags"]), what="every IMM tag")
                # at one simulated second per second the counters move at most every few seconds
                await wait_until(lambda: sim.snapshot is not None
                                 and emit.latest()["imm-01.shot_counter"] == sim.snapshot.shot_counter,
                                 what="shot counter equal to the model's")
                latest = emit.latest()
                assert sim.snapshot is not None
                assert latest["imm-01.good_counter"] == sim.snapshot.good_counter
                assert latest["imm-01.machine_status"] in {0, 1, 2, 3, 4}
                assert latest["imm-01.machinery_item_state"] == int(sim.snapshot.state)
                assert latest["imm-01.mould_number"] in {101, 205, 310, 412}
                assert all(0 < latest[f"imm-01.barrel_temp_{z}"] < 400 for z in (1, 2, 3, 4))
                assert latest["imm-01.heaters_on"] is (sim.snapshot.activity != "off")
                assert connector.pollers[0].block.count == 20 and len(connector.pollers) == 1
            finally:
                stop.set()
                await task

    run(scenario())


def test_polls_in_the_same_millisecond_keep_distinct_timestamps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two responses of one block within a millisecond must not share (tag, ts): the platform keeps one
    sample per (tag, ts), so the second would be lost. The clock is frozen to force it."""
    import commonworks.connect.modbus as modbus

    monkeypatch.setattr(modbus, "now_ms", lambda: 1_795_000_000_000)

    async def scenario() -> None:
        port = free_port()
        server = RegisterServer(port, HOLDING)
        await server.start()
        emit = Recorder()
        connector = make_connector(port, emit)
        stop = asyncio.Event()
        task = asyncio.create_task(connector.run(stop))
        try:
            await wait_until(lambda: all(p.reads >= 5 for p in connector.pollers), what="five polls of every block")
        finally:
            stop.set()
            await task
            await server.stop()
        stamps = [s.ts for s in emit.samples if s.tag == "m.temp"]
        assert len(stamps) >= 5 and stamps == sorted(set(stamps))  # strictly increasing: none shared

    run(scenario())
