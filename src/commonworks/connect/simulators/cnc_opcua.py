"""An OPC UA server per simulated CNC machine, fed by :class:`~commonworks.connect.simulators.machines.CncModel`.

Each server (asyncua) registers namespace ``urn:commonworks:sim:cnc`` (index 2) and one object per machine under
Objects, browse name = the machine name, with variables on stable string node ids ``ns=2;s=<name>.<Variable>`` so a
gateway config can be written by hand as well as browsed:

=========================  ========  ==================================================================
variable                   type      meaning
=========================  ========  ==================================================================
SpindleSpeed               Double    rpm; EngineeringUnits property (UNECE ``RPM``, display ``rpm``)
FeedRate                   Double    mm/min; EngineeringUnits property (UNECE ``H81``, display ``mm/min``)
PartCounter                UInt32    parts made since the counter was installed (scrap included)
ScrapCounter               UInt32    parts scrapped
ProgramName                String    the active part program
MachineryItemState         Int32     OPC 40001-1 state: 0 NotAvailable, 1 OutOfService, 2 NotExecuting, 3 Executing
MachineryItemStateName     String    the same state as text
Activity                   String    producing / idle / setup / down / off
AlarmCode                  Int32     active alarm, 0 = none
AlarmText                  String    its text, empty when none
=========================  ========  ==================================================================

Values are refreshed from the model at ``rate_hz`` (10 Hz default, 1 Hz for large demos); only changed values are
written, stamped with the real (wall-clock) time even when ``speed`` fast-forwards the model, so the platform never
sees future timestamps. Security: NoSecurity with anonymous login only — fine on loopback or a lab network, not on a
plant network. Not provided: the full OPC 40001 / OPC 40501 (machine tools) information model, methods, events,
history.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import Server, ua

from commonworks.connect.simulators.machines import CncModel, CncSnapshot, SimClock

NAMESPACE_URI = "urn:commonworks:sim:cnc"
UNECE_NAMESPACE = "http://www.opcfoundation.org/UA/units/un/cefact"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,59}$")
_UNSET = object()


def unece_unit_id(common_code: str) -> int:
    """The EUInformation.UnitId of a UNECE Rec. 20 common code (OPC 10000-8 packs the ASCII bytes).

    >>> hex(unece_unit_id("RPM"))
    '0x52504d'
    """
    unit_id = 0
    for ch in common_code:
        unit_id = (unit_id << 8) | ord(ch)
    return unit_id


@dataclass(frozen=True)
class _Variable:
    browse_name: str
    key_suffix: str
    variant: ua.VariantType
    read: Callable[[CncSnapshot], Any]
    unit: tuple[str, str, str] | None = None  # (UNECE code, display name, description)


VARIABLES: tuple[_Variable, ...] = (
    _Variable("SpindleSpeed", "spindle_speed", ua.VariantType.Double, lambda s: s.spindle_speed,
              ("RPM", "rpm", "revolutions per minute")),
    _Variable("FeedRate", "feed_rate", ua.VariantType.Double, lambda s: s.feed_rate,
              ("H81", "mm/min", "millimetre per minute")),
    _Variable("PartCounter", "part_counter", ua.VariantType.UInt32, lambda s: s.part_counter),
    _Variable("ScrapCounter", "scrap_counter", ua.VariantType.UInt32, lambda s: s.scrap_counter),
    _Variable("ProgramName", "program_name", ua.VariantType.String, lambda s: s.program),
    _Variable("MachineryItemState", "machinery_item_state", ua.VariantType.Int32, lambda s: int(s.state)),
    _Variable("MachineryItemStateName", "machinery_item_state_name", ua.VariantType.String, lambda s: s.state.label),
    _Variable("Activity", "activity", ua.VariantType.String, lambda s: s.activity.value),
    _Variable("AlarmCode", "alarm_code", ua.VariantType.Int32, lambda s: s.alarm_code),
    _Variable("AlarmText", "alarm_text", ua.VariantType.String, lambda s: s.alarm_text),
)
_TYPE_NAMES = {ua.VariantType.Double: "Double", ua.VariantType.UInt32: "UInt32", ua.VariantType.Int32: "Int32",
               ua.VariantType.String: "String"}


def node_id(name: str, browse_name: str, namespace_index: int = 2) -> str:
    """The string node id of a machine variable, e.g. ``ns=2;s=cnc-01.SpindleSpeed``."""
    return f"ns={namespace_index};s={name}.{browse_name}"


class CncOpcUaServer:
    """One simulated CNC machine behind its own OPC UA server; ``async with`` starts and stops it."""

    def __init__(self, name: str, port: int, seed: int, speed: float = 1.0, *, host: str = "127.0.0.1",
                 rate_hz: float = 10.0, clock: SimClock | None = None) -> None:
        if not _NAME.match(name):
            raise ValueError(f"machine name {name!r} must match {_NAME.pattern} (it prefixes platform tag keys)")
        if rate_hz <= 0:
            raise ValueError("rate_hz must be positive")
        self.name = name
        self.host = host
        self.port = port
        self.rate_hz = rate_hz
        self.clock = clock or SimClock(speed=speed)
        assert self.clock.sim_origin is not None
        self.model = CncModel(seed=seed, start=self.clock.sim_origin)
        self.snapshot: CncSnapshot | None = None
        self._server: Server | None = None
        self._nodes: list[tuple[_Variable, ua.NodeId]] = []
        self._last: dict[str, Any] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}/"

    async def start(self) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(f"Commonworks CNC simulator {self.name}")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(NAMESPACE_URI)
        machine = await server.nodes.objects.add_object(ua.NodeId(self.name, idx), ua.QualifiedName(self.name, idx))
        snapshot = self.model.advance_to(self.clock.now())
        for var in VARIABLES:
            nid = ua.NodeId(f"{self.name}.{var.browse_name}", idx)
            node = await machine.add_variable(nid, ua.QualifiedName(var.browse_name, idx), var.read(snapshot),
                                              varianttype=var.variant)
            if var.unit is not None:
                code, display, description = var.unit
                eu = ua.EUInformation(NamespaceUri=UNECE_NAMESPACE, UnitId=unece_unit_id(code),
                                      DisplayName=ua.LocalizedText(display), Description=ua.LocalizedText(description))
                await node.add_property(ua.NodeId(f"{self.name}.{var.browse_name}.EngineeringUnits", idx),
                                        ua.QualifiedName("EngineeringUnits", 0), eu,
                                        datatype=ua.NodeId(ua.ObjectIds.EUInformation))
            self._nodes.append((var, nid))
        await server.start()
        self._server = server
        await self._publish(snapshot)
        self._task = asyncio.create_task(self._update_loop(), name=f"cnc-sim-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._server is not None:
            await self._server.stop()
            self._server = None
        self._nodes.clear()
        self._last.clear()

    async def __aenter__(self) -> CncOpcUaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _update_loop(self) -> None:
        period = 1.0 / self.rate_hz
        while True:
            await asyncio.sleep(period)
            await self._publish(self.model.advance_to(self.clock.now()))

    async def _publish(self, snapshot: CncSnapshot) -> None:
        assert self._server is not None
        self.snapshot = snapshot
        now = datetime.now(UTC)
        for var, nid in self._nodes:
            value = var.read(snapshot)
            if self._last.get(var.browse_name, _UNSET) == value:
                continue  # an unchanged write would cost a notification check per monitored item for nothing
            self._last[var.browse_name] = value
            dv = ua.DataValue(ua.Variant(value, var.variant), SourceTimestamp=now, ServerTimestamp=now)
            await self._server.write_attribute_value(nid, dv)


async def serve_cnc(name: str, port: int, seed: int, speed: float = 1.0, *, stop: asyncio.Event,
                    host: str = "127.0.0.1", rate_hz: float = 10.0) -> None:
    """Run one simulated CNC OPC UA server until ``stop`` is set."""
    async with CncOpcUaServer(name, port, seed, speed, host=host, rate_hz=rate_hz):
        await stop.wait()


def gateway_device(name: str, host: str, port: int, *, sampling_ms: int = 1000,
                   publishing_interval_ms: int = 500) -> dict[str, Any]:
    """The ``opcua`` device config (as a plain dict, e.g. for gateway.yaml) that reads this simulator."""
    tags: list[dict[str, Any]] = []
    for var in VARIABLES:
        tag: dict[str, Any] = {"key": f"{name}.{var.key_suffix}", "node": node_id(name, var.browse_name),
                               "sampling_ms": sampling_ms, "data_type": _TYPE_NAMES[var.variant]}
        if var.unit is not None:
            tag["unit"] = var.unit[1]
        tags.append(tag)
    return {"protocol": "opcua", "name": name, "endpoint": f"opc.tcp://{host}:{port}/",
            "publishing_interval_ms": publishing_interval_ms, "tags": tags}
