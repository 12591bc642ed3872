"""A Sparkplug B 3.0 edge node simulator: a sheet-metal cell with press brakes and a fibre laser cutter.

One MQTT connection per edge node, publishing (QoS 0 unless said otherwise)::

    spBv1.0/<group>/NBIRTH/<edge_node>            bdSeq, Node Control/Rebirth, Properties/*, Uptime
    spBv1.0/<group>/DBIRTH/<edge_node>/<device>   every device metric: name, alias, datatype, value, engUnit
    spBv1.0/<group>/NDATA/<edge_node>             Uptime, by alias
    spBv1.0/<group>/DDATA/<edge_node>/<device>    changed metrics by alias, no names, no datatypes
    spBv1.0/<group>/DDEATH/<edge_node>/<device>   on request (test hook)
    spBv1.0/<group>/NDEATH/<edge_node>            the MQTT Will (QoS 1) with this connection's bdSeq,
                                                  and sent explicitly before a clean disconnect

It subscribes to ``spBv1.0/<group>/NCMD/<edge_node>`` and answers ``Node Control/Rebirth =
true`` with a fresh NBIRTH (same bdSeq, seq back to 0) and all DBIRTHs. bdSeq counts MQTT
connections (0, 1, … wrapping at 256); seq runs 0-255 over NBIRTH, DBIRTH, NDATA, DDATA,
DDEATH.

Devices and metrics (alias = 100 × (device index + 1) + metric index; node metrics 1-3):

=================  ====================  ========  =======================================
device kind        metric                type      meaning
=================  ====================  ========  =======================================
press_brake        State                 String    running / idle / down
                   Stroke Count          UInt64    ram strokes (one per bend), cumulative
                   Part Count            UInt64    finished parts (every n-th stroke)
                   Tonnage               Float     kN of the last stroke
                   Program               String    active bending program
                   Alarm Code            Int32     0 = none
laser_cutter       State                 String    running / idle / down
                   Laser Power           Float     W (0 unless cutting)
                   Sheet Count           UInt32    sheets finished, cumulative
                   Part Count            UInt64    parts cut, cumulative
                   Assist Gas Pressure   Float     bar (N2; standby pressure when not cutting)
                   Cutting Speed         Float     mm/min
                   Alarm Code            Int32     0 = none
=================  ====================  ========  =======================================

The machine models are small seeded state machines (one ``random.Random`` per device,
seeded from the simulator seed and the device name): running with short random stops
(idle, waiting for material, mean 2 min, about one per 10 min of running) and
breakdowns (down with an alarm code, mean 8 min, about one per hour); ``time_scale``
fast-forwards them for demos. Timestamps are wall-clock ms.

Test hooks: :meth:`EdgeNodeSimulator.skip_seq_once`, :meth:`~EdgeNodeSimulator.unknown_alias_once`,
:meth:`~EdgeNodeSimulator.device_death` / :meth:`~EdgeNodeSimulator.device_birth`, and
:meth:`~EdgeNodeSimulator.abort` (drop the TCP connection without DISCONNECT so that the
broker publishes the NDEATH Will). Not simulated: primary-host awareness (waiting for a
host's STATE before birth), DCMD writes, templates, historical data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import time
import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt

from commonworks.connect.base import now_ms
from commonworks.connect.mqtt_json import parse_mqtt_url, until_stopped
from commonworks.connect.sparkplug.codec import DataType, Metric, decode_payload, encode_payload
from commonworks.connect.sparkplug.host import BDSEQ_METRIC, DEFAULT_TAG_TEMPLATE, NAMESPACE, REBIRTH_METRIC

log = logging.getLogger("commonworks.connect.simulators.sparkplug_node")

DEFAULT_DEVICES: dict[str, str] = {
    "press-brake-01": "press_brake",
    "press-brake-02": "press_brake",
    "laser-01": "laser_cutter",
}
UNKNOWN_ALIAS = 999_999
"""The alias :meth:`EdgeNodeSimulator.unknown_alias_once` sends: no birth defines it."""


@dataclass(frozen=True, slots=True)
class _MetricSpec:
    name: str
    datatype: DataType
    unit: str | None = None


# ------------------------------------------------------------------------ machine models


class _Machine(ABC):
    """running ↔ idle (short stops) and running → down → running (breakdowns), stepped by ``dt`` seconds."""

    METRICS: tuple[_MetricSpec, ...] = ()
    SHORT_STOP_EVERY_S = 600.0
    SHORT_STOP_MEAN_S = 120.0
    BREAKDOWN_EVERY_S = 3600.0
    REPAIR_MEAN_S = 480.0
    ALARMS: tuple[int, ...] = ()

    def __init__(self, name: str, seed: int) -> None:
        self.name = name
        self.rng = random.Random(zlib.crc32(name.encode()) ^ (seed * 0x9E3779B1))
        self.state = "running"
        self.alarm = 0
        self._stop_left = 0.0

    def step(self, dt: float) -> None:
        if self.state == "running":
            draw = self.rng.random()
            if draw < dt / self.SHORT_STOP_EVERY_S:
                self.state = "idle"
                self._stop_left = self.rng.expovariate(1 / self.SHORT_STOP_MEAN_S)
            elif draw < dt / self.SHORT_STOP_EVERY_S + dt / self.BREAKDOWN_EVERY_S:
                self.state = "down"
                self.alarm = self.rng.choice(self.ALARMS)
                self._stop_left = self.rng.lognormvariate(0, 0.5) * self.REPAIR_MEAN_S
            else:
                self._produce(dt)
        else:
            self._stop_left -= dt
            if self._stop_left <= 0:
                self.state = "running"
                self.alarm = 0
        self._analog(dt)

    @abstractmethod
    def _produce(self, dt: float) -> None:
        """Provided by each kind of machine."""

    def _analog(self, dt: float) -> None:  # noqa: B027  (an optional hook)
        """Refresh the measured values (noise) for the current state."""

    @abstractmethod
    def values(self) -> dict[str, Any]:
        """Provided by each kind of machine."""


class PressBrake(_Machine):
    METRICS = (
        _MetricSpec("State", DataType.String),
        _MetricSpec("Stroke Count", DataType.UInt64),
        _MetricSpec("Part Count", DataType.UInt64),
        _MetricSpec("Tonnage", DataType.Float, "kN"),
        _MetricSpec("Program", DataType.String),
        _MetricSpec("Alarm Code", DataType.Int32),
    )
    ALARMS = (1012, 1044, 2101, 3007)  # light curtain, back gauge, hydraulics, tool clamp

    def __init__(self, name: str, seed: int) -> None:
        super().__init__(name, seed)
        self.strokes = self.rng.randrange(100_000, 900_000)
        self.parts = self.strokes // 4
        self.tonnage = 0.0
        self._progress = 0.0
        self._bends = 0
        self._new_program()

    def _new_program(self) -> None:
        self.program = f"PB-{self.rng.randrange(1000, 9999)}"
        self._bends_per_part = self.rng.randint(2, 8)
        self._nominal_kn = self.rng.uniform(250.0, 900.0)
        self._stroke_s = self.rng.uniform(4.0, 9.0)
        self._lot_left = self.rng.randint(20, 200)

    def _produce(self, dt: float) -> None:
        self._progress += dt / self._stroke_s
        while self._progress >= 1.0:
            self._progress -= 1.0
            self.strokes += 1
            self.tonnage = round(self._nominal_kn * self.rng.uniform(0.85, 1.08), 1)
            self._bends += 1
            if self._bends >= self._bends_per_part:
                self._bends = 0
                self.parts += 1
                self._lot_left -= 1
                if self._lot_left <= 0:
                    self._new_program()

    def values(self) -> dict[str, Any]:
        return {
            "State": self.state,
            "Stroke Count": self.strokes,
            "Part Count": self.parts,
            "Tonnage": self.tonnage,
            "Program": self.program,
            "Alarm Code": self.alarm,
        }


class LaserCutter(_Machine):
    METRICS = (
        _MetricSpec("State", DataType.String),
        _MetricSpec("Laser Power", DataType.Float, "W"),
        _MetricSpec("Sheet Count", DataType.UInt32),
        _MetricSpec("Part Count", DataType.UInt64),
        _MetricSpec("Assist Gas Pressure", DataType.Float, "bar"),
        _MetricSpec("Cutting Speed", DataType.Float, "mm/min"),
        _MetricSpec("Alarm Code", DataType.Int32),
    )
    ALARMS = (501, 512, 730, 884)  # resonator temperature, nozzle collision, gas supply, chiller
    RATED_POWER_W = 6000.0

    def __init__(self, name: str, seed: int) -> None:
        super().__init__(name, seed)
        self.sheets = self.rng.randrange(2_000, 20_000)
        self.parts = self.sheets * 18
        self._progress = 0.0
        self._parts_done_on_sheet = 0
        self._new_sheet()
        self._analog(0.0)

    def _new_sheet(self) -> None:
        self._sheet_s = self.rng.uniform(180.0, 420.0)
        self._parts_per_sheet = self.rng.randint(6, 40)
        self._power_share = self.rng.uniform(0.6, 1.0)  # thicker plate, more power, slower cut
        self._speed = 9000.0 * (1.15 - self._power_share)

    def _produce(self, dt: float) -> None:
        self._progress += dt / self._sheet_s
        done = min(int(self._progress * self._parts_per_sheet), self._parts_per_sheet)
        self.parts += done - self._parts_done_on_sheet
        self._parts_done_on_sheet = done
        if self._progress >= 1.0:
            self.sheets += 1
            self._progress = 0.0
            self._parts_done_on_sheet = 0
            self._new_sheet()

    def _analog(self, dt: float) -> None:
        cutting = self.state == "running"
        gauss = self.rng.gauss
        self.power = round(self.RATED_POWER_W * self._power_share + gauss(0, 25), 1) if cutting else 0.0
        self.gas = round(14.0 + gauss(0, 0.15), 2) if cutting else round(0.5 + gauss(0, 0.02), 2)
        self.speed = round(self._speed + gauss(0, 40), 0) if cutting else 0.0

    def values(self) -> dict[str, Any]:
        return {
            "State": self.state,
            "Laser Power": self.power,
            "Sheet Count": self.sheets,
            "Part Count": self.parts,
            "Assist Gas Pressure": self.gas,
            "Cutting Speed": self.speed,
            "Alarm Code": self.alarm,
        }


MACHINE_KINDS: dict[str, type[_Machine]] = {"press_brake": PressBrake, "laser_cutter": LaserCutter}

_NODE_METRICS = (
    # (name, datatype, alias); bdSeq carries no alias, as in the specification's examples
    (REBIRTH_METRIC, DataType.Boolean, 1),
    ("Properties/Hardware Make", DataType.String, 2),
    ("Uptime", DataType.UInt64, 3),
)


# ------------------------------------------------------------------------ the edge node


class EdgeNodeSimulator:
    """One Sparkplug edge node with its devices; :meth:`run` keeps it connected until ``stop``."""

    def __init__(
        self,
        url: str,
        group: str,
        edge_node: str,
        devices: Mapping[str, str] | None = None,
        *,
        interval_s: float = 1.0,
        seed: int = 0,
        time_scale: float = 1.0,
        report_by_exception: bool = True,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.address = parse_mqtt_url(url)
        self.group = group
        self.edge_node = edge_node
        self.interval_s = interval_s
        self.time_scale = time_scale
        self.report_by_exception = report_by_exception
        self.username = username
        self.password = password
        self.machines: dict[str, _Machine] = {}
        self.aliases: dict[str, dict[str, int]] = {}
        for index, (name, kind) in enumerate((devices or DEFAULT_DEVICES).items()):
            machine = MACHINE_KINDS[kind](name, seed)
            self.machines[name] = machine
            self.aliases[name] = {spec.name: 100 * (index + 1) + j for j, spec in enumerate(machine.METRICS)}
        self.dead_devices: set[str] = set()
        self.bd_seq = -1  # this connection's bdSeq; the first connection uses 0
        self.births_published = 0
        self.rebirths_answered = 0
        self.data_messages = 0
        self.born = asyncio.Event()
        self._seq = 0
        self._skip_seq = False
        self._unknown_alias = False
        self._aborted = False
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()
        self._last_sent: dict[str, dict[str, Any]] = {}
        self._started = time.monotonic()

    def topic(self, kind: str, device: str | None = None) -> str:
        base = f"{NAMESPACE}/{self.group}/{kind}/{self.edge_node}"
        return base if device is None else f"{base}/{device}"

    # -------------------------------------------------------------------- test hooks

    def skip_seq_once(self) -> None:
        """The next message jumps one seq number (a lost message, as a host sees it)."""
        self._skip_seq = True

    def unknown_alias_once(self) -> None:
        """The next tick also sends a DDATA with an alias no DBIRTH defined."""
        self._unknown_alias = True

    async def device_death(self, device: str) -> None:
        """Publish DDEATH for ``device`` and stop sending its data."""
        async with self._lock:
            client = self._require_client()
            self.dead_devices.add(device)
            payload = encode_payload([], timestamp=now_ms(), seq=self._next_seq())
            await client.publish(self.topic("DDEATH", device), payload)

    async def device_birth(self, device: str) -> None:
        """Bring a dead device back with a DBIRTH."""
        async with self._lock:
            client = self._require_client()
            self.dead_devices.discard(device)
            await self._publish_dbirth(client, device, now_ms())

    def abort(self) -> None:
        """Drop the TCP connection without DISCONNECT (the broker sends the NDEATH Will) and stop."""
        self._aborted = True
        if self._client is not None:
            drop_connection(self._client)

    def _require_client(self) -> aiomqtt.Client:
        if self._client is None:
            raise RuntimeError(f"edge node {self.edge_node} is not connected")
        return self._client

    # -------------------------------------------------------------------- connection

    async def run(self, stop: asyncio.Event) -> None:
        """Stay connected (reconnecting after a second) until ``stop`` or :meth:`abort`."""
        while not stop.is_set() and not self._aborted:
            try:
                await self._session(stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the simulator survives a broker restart like a real node
                if not self._aborted:
                    log.warning("edge node %s lost the broker: %s", self.edge_node, exc)
            if stop.is_set() or self._aborted:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)

    def _ndeath(self) -> bytes:
        return encode_payload(
            [Metric(name=BDSEQ_METRIC, datatype=DataType.Int64, value=self.bd_seq)], timestamp=now_ms()
        )

    async def _session(self, stop: asyncio.Event) -> None:
        self.bd_seq = (self.bd_seq + 1) % 256
        will = aiomqtt.Will(self.topic("NDEATH"), self._ndeath(), qos=1, retain=False)
        async with aiomqtt.Client(
            self.address.host,
            self.address.port,
            username=self.username,
            password=self.password,
            will=will,
            clean_session=True,
            keepalive=30,
        ) as client:
            self._client = client
            try:
                await client.subscribe(self.topic("NCMD"), qos=1)
                async with self._lock:
                    await self._publish_births(client)
                await until_stopped(stop, self._work(client))
                # A clean DISCONNECT discards the Will, so the death is announced explicitly.
                with contextlib.suppress(aiomqtt.MqttError):
                    await client.publish(self.topic("NDEATH"), self._ndeath(), qos=1)
            finally:
                self._client = None
                self.born.clear()

    async def _work(self, client: aiomqtt.Client) -> None:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._commands(client))
            tasks.create_task(self._ticks(client))

    async def _commands(self, client: aiomqtt.Client) -> None:
        task = asyncio.current_task()
        async for message in client.messages:
            try:
                payload = decode_payload(message.payload if isinstance(message.payload, bytes) else b"")
            except ValueError:
                continue
            if any(m.name == REBIRTH_METRIC and m.value for m in payload.metrics):
                async with self._lock:
                    await self._publish_births(client)
                self.rebirths_answered += 1
            _raise_if_cancelled(task)
        raise ConnectionError("message stream ended")

    async def _ticks(self, client: aiomqtt.Client) -> None:
        task = asyncio.current_task()
        next_tick = time.monotonic()
        while True:
            next_tick += self.interval_s
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
            async with self._lock:
                await self._publish_data(client)
            _raise_if_cancelled(task)

    # -------------------------------------------------------------------- messages

    def _next_seq(self) -> int:
        if self._skip_seq:
            self._skip_seq = False
            self._seq = (self._seq + 1) % 256
        seq = self._seq
        self._seq = (self._seq + 1) % 256
        return seq

    def _uptime_s(self) -> int:
        return int(time.monotonic() - self._started)

    async def _publish_births(self, client: aiomqtt.Client) -> None:
        ts = now_ms()
        self._seq = 1  # NBIRTH is always seq 0; the next message is 1
        node_values = {
            REBIRTH_METRIC: False,
            "Properties/Hardware Make": "Commonworks simulator",
            "Uptime": self._uptime_s(),
        }
        metrics = [Metric(name=BDSEQ_METRIC, datatype=DataType.Int64, value=self.bd_seq, timestamp=ts)]
        metrics += [
            Metric(name=name, datatype=datatype, value=node_values[name], alias=alias, timestamp=ts)
            for name, datatype, alias in _NODE_METRICS
        ]
        await client.publish(self.topic("NBIRTH"), encode_payload(metrics, timestamp=ts, seq=0))
        self._last_sent = {"": {"Uptime": node_values["Uptime"]}}
        for device in self.machines:
            if device not in self.dead_devices:
                await self._publish_dbirth(client, device, ts)
        self.births_published += 1
        self.born.set()

    async def _publish_dbirth(self, client: aiomqtt.Client, device: str, ts: int) -> None:
        machine = self.machines[device]
        values = machine.values()
        aliases = self.aliases[device]
        metrics = [
            Metric(
                name=spec.name,
                datatype=spec.datatype,
                value=values[spec.name],
                alias=aliases[spec.name],
                timestamp=ts,
                properties={"engUnit": (DataType.String, spec.unit)} if spec.unit else None,
            )
            for spec in machine.METRICS
        ]
        await client.publish(self.topic("DBIRTH", device), encode_payload(metrics, timestamp=ts, seq=self._next_seq()))
        self._last_sent[device] = values

    async def _publish_data(self, client: aiomqtt.Client) -> None:
        ts = now_ms()
        dt = self.interval_s * self.time_scale
        uptime = self._uptime_s()
        if not self.report_by_exception or uptime != self._last_sent.get("", {}).get("Uptime"):
            ndata = [Metric(name=None, datatype=DataType.UInt64, value=uptime, alias=3, timestamp=ts)]
            await client.publish(
                self.topic("NDATA"), encode_payload(ndata, timestamp=ts, seq=self._next_seq(), with_datatypes=False)
            )
            self._last_sent.setdefault("", {})["Uptime"] = uptime
            self.data_messages += 1
        for device, machine in self.machines.items():
            machine.step(dt)
            if device in self.dead_devices:
                continue
            values = machine.values()
            last = self._last_sent.get(device, {})
            aliases = self.aliases[device]
            metrics = [
                Metric(
                    name=None, datatype=spec.datatype, value=values[spec.name], alias=aliases[spec.name], timestamp=ts
                )
                for spec in machine.METRICS
                if not self.report_by_exception or last.get(spec.name) != values[spec.name]
            ]
            if not metrics:
                continue
            await client.publish(
                self.topic("DDATA", device),
                encode_payload(metrics, timestamp=ts, seq=self._next_seq(), with_datatypes=False),
            )
            self._last_sent[device] = values
            self.data_messages += 1
        if self._unknown_alias:
            self._unknown_alias = False
            device = next(iter(self.machines))
            bogus = [Metric(name=None, datatype=DataType.Int32, value=1, alias=UNKNOWN_ALIAS, timestamp=ts)]
            await client.publish(
                self.topic("DDATA", device),
                encode_payload(bogus, timestamp=ts, seq=self._next_seq(), with_datatypes=False),
            )


def _raise_if_cancelled(task: asyncio.Task[Any] | None) -> None:
    """Honour a cancellation that an ``await`` swallowed.

    On Python 3.11 ``asyncio.wait_for`` (inside aiomqtt's publish) loses a cancellation that
    arrives just as the awaited operation completes; a loop that goes on after it would keep
    its TaskGroup — and whoever stops the simulator — waiting forever.
    """
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def drop_connection(client: Any) -> None:
    """Cut an MQTT client's TCP connection without an MQTT DISCONNECT, as a pulled cable would.

    The broker then publishes the client's Will. Takes an aiomqtt client (the simulator's)
    or a gmqtt client (the Sparkplug host's); reaches into their internals (aiomqtt's paho
    client, gmqtt's connection): a test and simulator tool only.
    """
    if isinstance(client, aiomqtt.Client):
        sock = client._client.socket()
    else:
        transport = getattr(getattr(client, "_connection", None), "_transport", None)
        sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


async def run_edge_node(
    url: str,
    group: str,
    edge_node: str,
    devices: Mapping[str, str] | None = None,
    *,
    interval_s: float = 1.0,
    seed: int = 0,
    time_scale: float = 1.0,
    stop: asyncio.Event,
) -> None:
    """Run one simulated edge node until ``stop`` is set."""
    await EdgeNodeSimulator(
        url, group, edge_node, devices, interval_s=interval_s, seed=seed, time_scale=time_scale
    ).run(stop)


def gateway_device(
    name: str, url: str, group: str, *, host_id: str = "commonworks-gateway", tag_template: str = DEFAULT_TAG_TEMPLATE
) -> dict[str, Any]:
    """The gateway.yaml device block of a Sparkplug host application following ``group``."""
    return {
        "protocol": "sparkplug",
        "name": name,
        "url": url,
        "host_id": host_id,
        "group_ids": [group],
        "tag_template": tag_template,
    }
