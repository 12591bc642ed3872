"""A Modbus TCP server per simulated injection-moulding machine, fed by
:class:`~commonworks.connect.simulators.machines.ImmModel`.

The machine's data sits in 20 holding registers, addresses 0–19 (0-based protocol addresses; 40001–40020 in the
old notation), so a gateway reads everything with one request. Big-endian words and bytes unless noted; the 32-bit
counters put the low word first, as many PLCs do, to exercise ``word_order: little``:

=======  =======  ============================================================================
address  type     meaning
=======  =======  ============================================================================
0        uint16   machine status: 0 off, 1 idle (break, warm-up), 2 setup, 3 producing, 4 down
1        uint16   OPC 40001-1 MachineryItemState: 0 NotAvailable, 1 OutOfService, 2 NotExecuting, 3 Executing
2–3      float32  last cycle time, s
4–7      int16    barrel temperature zones 1–4, 0.1 °C
8        int16    mould temperature, 0.1 °C
9        uint16   active alarm code, 0 = none
10–11    uint32   shot counter (low word first)
12–13    uint32   good parts (low word first)
14–15    uint32   scrap parts (low word first)
16       uint16   mould number (M205-… → 205)
17       bits     bit 0 heaters on, bit 1 automatic cycle running, bit 2 alarm active
18–19    —        reserved, 0
=======  =======  ============================================================================

:func:`gateway_device` returns the same map as a ready ``modbus`` device config, and the server encodes its
registers from that very config, so the two cannot drift apart. Registers are refreshed from the model at
``rate_hz`` (10 Hz default). Input registers mirror the holding registers (pymodbus shared register block);
writes are accepted but overwritten at the next refresh. Reading outside 0–19 gets an Illegal Data Address
exception. Not provided: EUROMAP 63/77 or OPC 40077 semantics, multiple unit ids, security (Modbus has none: keep it
on loopback or a lab network).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from commonworks.connect.modbus import ModbusDeviceConfig, encode
from commonworks.connect.simulators.machines import Activity, ImmModel, ImmSnapshot, SimClock

REGISTER_COUNT = 20
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")


def _mould_number(name: str) -> int:
    digits = re.search(r"\d+", name)
    return int(digits.group()) if digits else 0


# (key suffix, address, tag settings, value from a snapshot)
_MAP: tuple[tuple[str, int, dict[str, Any], Callable[[ImmSnapshot], float | int | bool]], ...] = (
    ("machine_status", 0, {"type": "uint16"}, lambda s: s.state_register),
    ("machinery_item_state", 1, {"type": "uint16"}, lambda s: int(s.state)),
    ("cycle_time", 2, {"type": "float32", "unit": "s"}, lambda s: s.cycle_time),
    ("barrel_temp_1", 4, {"type": "int16", "scale": 0.1, "unit": "Cel"}, lambda s: s.barrel_temps[0]),
    ("barrel_temp_2", 5, {"type": "int16", "scale": 0.1, "unit": "Cel"}, lambda s: s.barrel_temps[1]),
    ("barrel_temp_3", 6, {"type": "int16", "scale": 0.1, "unit": "Cel"}, lambda s: s.barrel_temps[2]),
    ("barrel_temp_4", 7, {"type": "int16", "scale": 0.1, "unit": "Cel"}, lambda s: s.barrel_temps[3]),
    ("mould_temp", 8, {"type": "int16", "scale": 0.1, "unit": "Cel"}, lambda s: s.mould_temp),
    ("alarm_code", 9, {"type": "uint16"}, lambda s: s.alarm_code),
    ("shot_counter", 10, {"type": "uint32", "word_order": "little"}, lambda s: s.shot_counter),
    ("good_counter", 12, {"type": "uint32", "word_order": "little"}, lambda s: s.good_counter),
    ("scrap_counter", 14, {"type": "uint32", "word_order": "little"}, lambda s: s.scrap_counter),
    ("mould_number", 16, {"type": "uint16"}, lambda s: _mould_number(s.mould)),
    ("heaters_on", 17, {"type": "bool", "bit": 0}, lambda s: s.activity is not Activity.OFF),
    ("cycle_running", 17, {"type": "bool", "bit": 1}, lambda s: s.activity is Activity.PRODUCING),
    ("alarm_active", 17, {"type": "bool", "bit": 2}, lambda s: s.alarm_code != 0),
)


def gateway_device(name: str, host: str, port: int, *, device_id: int = 1, interval_ms: int = 1000) -> dict[str, Any]:
    """The ``modbus`` device config (a plain dict, e.g. for gateway.yaml) that reads this simulator in one block."""
    return {
        "protocol": "modbus", "name": name, "host": host, "port": port, "device_id": device_id,
        "blocks": [{"kind": "holding", "start": 0, "count": REGISTER_COUNT, "interval_ms": interval_ms}],
        "tags": [{"key": f"{name}.{suffix}", "kind": "holding", "address": address, **settings}
                 for suffix, address, settings, _ in _MAP],
    }


class ImmModbusServer:
    """One simulated IMM behind its own Modbus TCP server; ``async with`` starts and stops it."""

    def __init__(self, name: str, port: int, seed: int, speed: float = 1.0, *, host: str = "127.0.0.1",
                 device_id: int = 1, rate_hz: float = 10.0, clock: SimClock | None = None) -> None:
        if not _NAME.match(name):
            raise ValueError(f"machine name {name!r} must match {_NAME.pattern} (it prefixes platform tag keys)")
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        self.name = name
        self.host = host
        self.port = port
        self.device_id = device_id
        self.rate_hz = rate_hz
        self.clock = clock or SimClock(speed=speed)
        assert self.clock.sim_origin is not None
        self.model = ImmModel(seed=seed, start=self.clock.sim_origin)
        self.config = ModbusDeviceConfig.model_validate(gateway_device(name, host, port, device_id=device_id))
        self._encoders = [(tag, getter) for tag, (*_, getter) in zip(self.config.tags, _MAP, strict=True)]
        self.snapshot: ImmSnapshot | None = None
        self._server: ModbusTcpServer | None = None
        self._task: asyncio.Task[None] | None = None

    def registers(self, snapshot: ImmSnapshot) -> list[int]:
        """The 20 holding registers for a snapshot, encoded through the gateway config's own tags."""
        regs = [0] * REGISTER_COUNT
        for tag, getter in self._encoders:
            for i, word in enumerate(encode(getter(snapshot), tag)):
                regs[tag.address + i] |= word  # OR, because the status bits share register 17
        return regs

    async def start(self) -> None:
        snapshot = self.model.advance_to(self.clock.now())
        device = SimDevice(id=self.device_id, simdata=[
            SimData(0, values=self.registers(snapshot), datatype=DataType.REGISTERS)])
        self._server = ModbusTcpServer(device, address=(self.host, self.port))
        await self._server.serve_forever(background=True)
        self.snapshot = snapshot
        self._task = asyncio.create_task(self._update_loop(), name=f"imm-sim-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> ImmModbusServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _update_loop(self) -> None:
        period = 1.0 / self.rate_hz
        while True:
            await asyncio.sleep(period)
            snapshot = self.model.advance_to(self.clock.now())
            assert self._server is not None
            await self._server.async_setValues(self.device_id, 16, 0, self.registers(snapshot))
            self.snapshot = snapshot


async def serve_imm(name: str, port: int, seed: int, speed: float = 1.0, *, stop: asyncio.Event,
                    host: str = "127.0.0.1", device_id: int = 1, rate_hz: float = 10.0) -> None:
    """Run one simulated IMM Modbus TCP server until ``stop`` is set."""
    async with ImmModbusServer(name, port, seed, speed, host=host, device_id=device_id, rate_hz=rate_hz):
        await stop.wait()
