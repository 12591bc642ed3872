"""Sparkplug B 3.0 Host Application connector (protocol ``sparkplug``).

The gateway takes the *Host Application* role: it announces itself on the retained
``spBv1.0/STATE/<host_id>`` topic (``{"online": true, "timestamp": <ms>}``, with the
``online: false`` twin as its MQTT Will, QoS 1, retained, same timestamp as the
specification requires), subscribes to ``spBv1.0/<group>/#`` and follows every edge node
it hears::

    - protocol: sparkplug
      name: shop-floor-sparkplug
      url: mqtt://192.168.1.10:1883
      host_id: commonworks-gw-1
      group_ids: [sheet-metal]            # or "+" for every group
      tag_template: "{edge_node}.{device}.{metric}"    # {group} may be used too
      tags:                               # optional explicit keys, win over the template
        "sheet-metal/cell-a/press-brake-01/Stroke Count": pb01.strokes
        "sheet-metal/cell-a//Uptime": cell-a.uptime     # empty device part: node-level metric

Behaviour, per the specification:

* NBIRTH/DBIRTH define metrics (name, alias, datatype) and carry first values; NDATA/DDATA
  update them by alias (or by name). Sample time is the metric timestamp, else the
  payload timestamp, else the receipt time.
* ``seq`` (0-255, wrapping) is checked per edge node across NBIRTH, NDATA, DBIRTH, DDATA
  and DDEATH; ``bdSeq`` comes from the ``bdSeq`` metric of NBIRTH and NDEATH.
* A seq gap, a data message before its birth, or an unknown alias/name makes the host
  publish ``spBv1.0/<group>/NCMD/<edge_node>`` with ``Node Control/Rebirth = true`` (at
  most one request per node per ``rebirth_interval_s`` while no birth answered it) and
  ignore that node's data until the new NBIRTH.
* NDEATH whose bdSeq matches the NBIRTH → the node and all its devices are offline and
  their tags get stale markers; an NDEATH with another bdSeq is a late Will of an older
  connection and is ignored. DDEATH → that device's tags get stale markers. This is
  per-node availability (``diagnostics()["edge_nodes"]``): the connector itself stays
  available as long as the broker connection is up.
* Losing the broker raises, so the base class marks every tag stale and reconnects with
  back-off; each new session publishes STATE online again and forgets what it knew
  about the nodes (their next data triggers a rebirth request). A STATE ``online: false``
  on its own topic while connected (a late Will of an earlier connection) is answered by
  publishing STATE online again. A clean stop publishes STATE offline before
  disconnecting.

Throughput: data messages carry hundreds of metrics and may arrive thousands a second, so
the hot path makes no object per metric: a DDATA becomes one
:class:`~commonworks.connect.samples.Block` (three columns). The MQTT client is gmqtt (its
messages are handled straight from the socket's data, a few times cheaper per message than
aiomqtt/paho); when the gateway's disk stage is behind, the connector stops reading its
socket until there is room again, so the broker holds the messages instead of the gateway
dropping them.

Tag keys: explicit ``tags`` first, keyed ``group/edge_node/device/metric`` (device empty
for node-level metrics); otherwise ``tag_template`` lower-cased, with runs of characters
outside ``[a-z0-9_.-]`` (spaces, slashes …) replaced by ``_``; for node-level metrics the
``{device}`` part and its separator are left out. ``tag_template: null`` publishes only
the explicitly mapped metrics. The template skips ``bdSeq`` and ``Node Control/…``/
``Device Control/…`` metrics (protocol plumbing, not telemetry).

Not supported: MQTT 5 session features (it uses MQTT 3.1.1, clean session), the
"reorder timeout" that lets a host wait for out-of-order messages (a single broker
connection delivers in order), acting on other hosts' STATE (primary-host logic is the
edge node's), sending commands other than rebirth, and metrics that are not single
values — DataSet, Template, Bytes, File, arrays and property sets are decoded but not
turned into samples (counted as ``unsupported_metrics``). Transient metrics
(``is_transient``) are not published, as the specification asks. A device that was
online before an NBIRTH and sends no DBIRTH after it stops being updated, but its tags
get no stale marker (only DDEATH, NDEATH or a lost broker cause those).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import gmqtt
import orjson
from gmqtt.mqtt.constants import MQTTv311
from pydantic import Field, field_validator, model_validator

from commonworks.connect.base import Connector, Emit, now_ms
from commonworks.connect.config import REPUBLISH_DEFAULT_S, RepublishSeconds
from commonworks.connect.mqtt_json import MqttBrokerConfig, normalize_tag_key, parse_mqtt_url
from commonworks.connect.samples import Block, Sample
from commonworks.connect.sparkplug.codec import (
    SCALAR_TYPES,
    DataType,
    FastReader,
    Metric,
    SparkplugCodecError,
    datatype_of,
    encode_payload,
    fast_reader,
    metric_value,
    parse_payload,
    value_reader,
)

NAMESPACE = "spBv1.0"
BDSEQ_METRIC = "bdSeq"
REBIRTH_METRIC = "Node Control/Rebirth"
DEFAULT_TAG_TEMPLATE = "{edge_node}.{device}.{metric}"
_TEMPLATE_FIELDS = {"group", "edge_node", "device", "metric"}
_SPARKPLUG_ID = re.compile(r"[^/+#]+\Z")
_CONTROL_PREFIXES = ("Node Control/", "Device Control/")
_CONNECT_TIMEOUT_S = 30.0


class _SessionClient(gmqtt.Client):  # type: ignore[misc]
    """A gmqtt client for one broker session: it never reconnects by itself.

    The connector reconnects (with its back-off, a fresh client and a fresh STATE birth)
    and marks its tags stale in between; gmqtt's own reconnect would resume silently.
    """

    async def reconnect(self, delay: bool = False) -> None:
        return None


def _check_id(value: str, what: str) -> str:
    if not _SPARKPLUG_ID.match(value):
        raise ValueError(f"{what} {value!r} must be non-empty and free of '/', '+' and '#'")
    return value


class SparkplugHostConfig(MqttBrokerConfig):
    """A device block of ``protocol: sparkplug`` in gateway.yaml."""

    protocol: Literal["sparkplug"]
    name: str = Field(min_length=1)
    host_id: str = Field(description="Sparkplug Host Application id: the STATE topic's last level")
    group_ids: list[str] | Literal["+"] = Field(default="+", description='group ids to follow, or "+" for all')
    tag_template: str | None = DEFAULT_TAG_TEMPLATE
    tags: dict[str, str] = Field(
        default_factory=dict, description="'group/edge_node/device/metric' (device empty for node metrics) → tag"
    )
    rebirth_interval_s: float = Field(default=5.0, gt=0, le=3600)
    republish_s: RepublishSeconds = REPUBLISH_DEFAULT_S

    @field_validator("host_id")
    @classmethod
    def _valid_host_id(cls, value: str) -> str:
        return _check_id(value, "host_id")

    @field_validator("group_ids")
    @classmethod
    def _valid_groups(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            if not value:
                raise ValueError('group_ids needs at least one group (or "+")')
            for group in value:
                _check_id(group, "group id")
        return value

    @field_validator("tag_template")
    @classmethod
    def _valid_template(cls, value: str | None) -> str | None:
        if value is None:
            return value
        names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        unknown = names - _TEMPLATE_FIELDS
        if unknown:
            raise ValueError(f"tag_template may use only {sorted(_TEMPLATE_FIELDS)}, not {sorted(unknown)}")
        if "metric" not in names:
            raise ValueError("tag_template must contain {metric}")
        return value

    @model_validator(mode="after")
    def _valid_tags(self) -> SparkplugHostConfig:
        for path, tag in self.tags.items():
            parts = path.split("/", 3)
            if len(parts) != 4 or not parts[0] or not parts[1] or not parts[3]:
                raise ValueError(f"tags key {path!r} must be 'group/edge_node/device/metric' (device may be empty)")
            if normalize_tag_key(tag) != tag:
                raise ValueError(f"{tag!r} is not a valid tag key ([a-z0-9][a-z0-9_.-]*, at most 100 characters)")
        if self.tag_template is None and not self.tags:
            raise ValueError("with tag_template: null, list the metrics to publish under tags")
        return self


def _node_template(template: str) -> str:
    """The template for node-level metrics: ``{device}`` and one adjacent separator removed."""
    without = re.sub(r"\{device\}[._/-]", "", template, count=1)
    if without == template:
        without = re.sub(r"[._/-]?\{device\}", "", template, count=1)
    return without


# ------------------------------------------------------------------------ edge node state


@dataclass(slots=True)
class _MetricDef:
    name: str
    datatype: DataType
    tag: str | None
    read: Callable[[Any], Any]


_Fast = tuple[str | None, *FastReader]  # (tag, get, convert, read): what the data hot path needs of a metric


@dataclass(slots=True)
class _Metrics:
    """The metrics one birth (NBIRTH or DBIRTH) defined."""

    by_alias: dict[int, _MetricDef] = field(default_factory=dict)
    by_name: dict[str, _MetricDef] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    fast_alias: dict[int, _Fast] = field(default_factory=dict)
    fast_name: dict[str, _Fast] = field(default_factory=dict)


@dataclass(slots=True)
class DeviceState:
    name: str
    online: bool = False
    metrics: _Metrics = field(default_factory=_Metrics)
    births: int = 0
    deaths: int = 0


@dataclass(slots=True)
class EdgeNodeState:
    """What the host knows about one edge node; ``born`` = it holds a birth whose data it trusts."""

    group: str
    name: str
    online: bool = False
    born: bool = False
    bd_seq: int | None = None
    seq: int | None = None
    metrics: _Metrics = field(default_factory=_Metrics)
    devices: dict[str, DeviceState] = field(default_factory=dict)
    births: int = 0
    deaths: int = 0
    rebirth_requests: int = 0
    seq_gaps: int = 0
    unknown_aliases: int = 0
    malformed_payloads: int = 0
    ignored_deaths: int = 0
    rebirth_requested_at: float | None = None
    last_message_ms: int | None = None

    @property
    def key(self) -> str:
        return f"{self.group}/{self.name}"

    def diagnostics(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "born": self.born,
            "bd_seq": self.bd_seq,
            "last_seq": self.seq,
            "births": self.births,
            "deaths": self.deaths,
            "rebirth_requests": self.rebirth_requests,
            "seq_gaps": self.seq_gaps,
            "unknown_aliases": self.unknown_aliases,
            "malformed_payloads": self.malformed_payloads,
            "ignored_deaths": self.ignored_deaths,
            "last_message_ms": self.last_message_ms,
            "metrics": len(self.metrics.by_name),
            "devices": {
                d.name: {"online": d.online, "births": d.births, "deaths": d.deaths, "metrics": len(d.metrics.by_name)}
                for d in self.devices.values()
            },
        }


# ------------------------------------------------------------------------ the connector

_Handler = Callable[[EdgeNodeState, str | None, Any, int], None]


class SparkplugHostConnector(Connector):
    """Sparkplug B Host Application: births, deaths, bdSeq/seq tracking and rebirth requests."""

    protocol = "sparkplug"

    def __init__(self, config: SparkplugHostConfig, emit: Emit) -> None:
        super().__init__(config.name, emit, sorted(set(config.tags.values())), republish_s=config.republish_s)
        self.config = config
        self.state_topic = f"{NAMESPACE}/STATE/{config.host_id}"
        self._device_template = config.tag_template
        self._node_template = _node_template(config.tag_template) if config.tag_template else None
        self.nodes: dict[tuple[str, str], EdgeNodeState] = {}
        self._outbox: list[tuple[str, bytes]] = []
        self._handlers: dict[str, _Handler] = {
            "NBIRTH": self._on_nbirth,
            "NDEATH": self._on_ndeath,
            "NDATA": self._on_ndata,
            "DBIRTH": self._on_dbirth,
            "DDEATH": self._on_ddeath,
            "DDATA": self._on_ddata,
        }
        self._logged: set[str] = set()
        self._state_ts = 0
        self._republish_state = False
        self._stopping = False
        self._reading_paused: Any = None  # the transport whose reading waits for room in the gateway
        self._resume_task: asyncio.Future[None] | None = None
        self.client: gmqtt.Client | None = None
        self.messages = 0
        self.malformed_payloads = 0
        self.bad_values = 0
        self.unmapped_metrics = 0
        self.unsupported_metrics = 0

    @classmethod
    def from_config(cls, config: SparkplugHostConfig, emit: Emit) -> SparkplugHostConnector:
        return cls(config, emit)

    # -------------------------------------------------------------------- session

    def _state_payload(self, online: bool) -> bytes:
        return orjson.dumps({"online": online, "timestamp": self._state_ts})

    async def session(self, stop: asyncio.Event) -> None:
        # The Will and the birth must carry the same timestamp (Sparkplug 3.0 STATE rules).
        self._state_ts = now_ms()
        address = parse_mqtt_url(self.config.url)
        will = gmqtt.Message(self.state_topic, self._state_payload(False), qos=1, retain=True)
        client = _SessionClient(self.config.client_id, clean_session=True, will_message=will)
        if self.config.username is not None:
            client.set_auth_credentials(
                self.config.username, self.config.password.get_secret_value() if self.config.password else None
            )
        loop = asyncio.get_running_loop()
        lost: asyncio.Future[str] = loop.create_future()
        subscribed: asyncio.Future[list[int]] = loop.create_future()

        def on_disconnect(_client: Any, _packet: Any, exc: Any = None) -> None:
            if not lost.done():
                lost.set_result(f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else "connection lost")

        def on_subscribe(_client: Any, _mid: int, granted: Any, _properties: Any) -> None:
            if not subscribed.done():
                subscribed.set_result(list(granted))

        client.on_disconnect = on_disconnect
        client.on_subscribe = on_subscribe
        client.on_message = self._on_mqtt_message
        groups = ["#"] if self.config.group_ids == "+" else [f"{g}/#" for g in self.config.group_ids]
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT_S):
                await client.connect(
                    address.host,
                    address.port,
                    ssl=ssl.create_default_context() if address.tls else False,
                    keepalive=self.config.keepalive_s,
                    version=MQTTv311,
                )
                self.client = client
                self._forget_nodes()
                self._stopping = False
                # Subscribe before announcing: births that our STATE triggers must not be missed.
                client.subscribe(
                    [gmqtt.Subscription(self.state_topic, qos=1)]
                    + [gmqtt.Subscription(f"{NAMESPACE}/{g}", qos=1) for g in groups]
                )
                await asyncio.wait({subscribed, lost}, return_when=asyncio.FIRST_COMPLETED)
                if lost.done():
                    raise ConnectionError(f"broker connection lost while subscribing: {lost.result()}")
                if any(code >= 0x80 for code in subscribed.result()):
                    raise ConnectionRefusedError(f"the broker refused the subscriptions {subscribed.result()}")
            client.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)
            self.mark_available()
            stopped = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({stopped, lost}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            if not stop.is_set():
                raise ConnectionError(f"lost the broker: {lost.result()}")
            self._stopping = True
            client.publish(self.state_topic, self._state_payload(False), qos=1, retain=True)
        finally:
            self.client = None
            self._reading_paused = None
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await client.disconnect()

    def _on_mqtt_message(self, client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> int:
        """gmqtt's callback, straight from the socket's data: no task or queue per message."""
        self.handle_message(topic, payload)
        if self._outbox:
            outbox, self._outbox = self._outbox, []
            for out_topic, data in outbox:
                client.publish(out_topic, data, qos=0)
        if self._republish_state:
            self._republish_state = False
            client.publish(self.state_topic, self._state_payload(True), qos=1, retain=True)
        if self.held_back() and self._reading_paused is None:
            self._pause_reading(client)
        return 0

    def _pause_reading(self, client: Any) -> None:
        """The gateway's disk stage is behind: stop reading the socket (TCP pushes back to the broker) until room."""
        connection = getattr(client, "_connection", None)  # gmqtt has no public pause: its connection's transport
        transport = getattr(connection, "_transport", None)
        if transport is None or transport.is_closing():
            return
        transport.pause_reading()
        self._reading_paused = transport

        async def resume() -> None:
            try:
                await self.room()
            finally:
                if self._reading_paused is transport and not transport.is_closing():
                    transport.resume_reading()
                if self._reading_paused is transport:
                    self._reading_paused = None

        self._resume_task = asyncio.ensure_future(resume())

    def _forget_nodes(self) -> None:
        # After a broker outage nothing we knew can be trusted; counters stay for diagnostics.
        self._outbox.clear()
        for node in self.nodes.values():
            node.online = node.born = False
            node.seq = node.bd_seq = None
            node.rebirth_requested_at = None
            for device in node.devices.values():
                device.online = False

    # -------------------------------------------------------------------- dispatch

    def handle_message(self, topic: str, payload: bytes, received_ms: int | None = None) -> None:
        """Apply one Sparkplug message (public so that tests and benchmarks can feed it directly)."""
        self.messages += 1
        parts = topic.split("/")
        if len(parts) < 3 or parts[0] != NAMESPACE:
            return
        if parts[1] == "STATE":
            if len(parts) == 3 and parts[2] == self.config.host_id:
                self._on_own_state(payload)
            return
        if len(parts) not in (4, 5):
            return
        kind = parts[2]
        handler = self._handlers.get(kind)
        if handler is None:  # NCMD/DCMD (ours echoed back, or another host's), unknown types
            return
        device = parts[4] if len(parts) == 5 else None
        if (device is None) != kind.startswith("N"):
            return
        node = self._node(parts[1], parts[3])
        received = now_ms() if received_ms is None else received_ms
        node.last_message_ms = received
        try:
            message = parse_payload(payload)
        except SparkplugCodecError as exc:
            node.malformed_payloads += 1
            self.malformed_payloads += 1
            self._log_once(f"malformed:{node.key}", "malformed %s from %s: %s", kind, node.key, exc)
            return
        try:
            handler(node, device, message, received)
        except Exception as exc:  # one odd message must not cost a reconnect (and every tag going stale)
            node.malformed_payloads += 1
            self.malformed_payloads += 1
            self._log_once(f"failed:{node.key}:{kind}", "could not apply %s from %s: %r", kind, node.key, exc)

    def _node(self, group: str, name: str) -> EdgeNodeState:
        node = self.nodes.get((group, name))
        if node is None:
            node = self.nodes[(group, name)] = EdgeNodeState(group=group, name=name)
        return node

    def _on_own_state(self, payload: bytes) -> None:
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if isinstance(doc, dict) and doc.get("online") is False and self.client is not None and not self._stopping:
            self._republish_state = True

    # -------------------------------------------------------------------- births and deaths

    def _on_nbirth(self, node: EdgeNodeState, _device: str | None, message: Any, received: int) -> None:
        bd_seq: int | None = None
        metrics = _Metrics()
        samples = Block([], [], [])
        payload_ts = message.timestamp or received
        for m in message.metrics:
            if m.name == BDSEQ_METRIC:
                bd_seq = self._int_value(m)
                continue
            self._define(node, None, m, payload_ts, metrics, samples)
        was_online = node.online
        node.metrics = metrics
        node.online = node.born = True
        node.bd_seq = bd_seq
        node.seq = message.seq if message.HasField("seq") else None
        node.births += 1
        node.rebirth_requested_at = None
        # A new NBIRTH voids every device birth: devices must send DBIRTH again.
        for device in node.devices.values():
            device.online = False
        if not was_online and node.deaths:
            self.log.info("edge node %s is online again (bdSeq %s)", node.key, bd_seq)
        self._refresh_tag_keys()
        self.publish(samples)

    def _on_dbirth(self, node: EdgeNodeState, device_name: str | None, message: Any, received: int) -> None:
        assert device_name is not None
        if not node.born:
            self._request_rebirth(node, f"DBIRTH of {device_name} before NBIRTH")
            return
        if not self._in_sequence(node, message):
            return
        metrics = _Metrics()
        samples = Block([], [], [])
        payload_ts = message.timestamp or received
        for m in message.metrics:
            self._define(node, device_name, m, payload_ts, metrics, samples)
        device = node.devices.get(device_name)
        if device is None:
            device = node.devices[device_name] = DeviceState(name=device_name)
        device.metrics = metrics
        device.online = True
        device.births += 1
        self._refresh_tag_keys()
        self.publish(samples)

    def _on_ndeath(self, node: EdgeNodeState, _device: str | None, message: Any, received: int) -> None:
        bd_seq = next((self._int_value(m) for m in message.metrics if m.name == BDSEQ_METRIC), None)
        if node.bd_seq is not None and bd_seq is not None and bd_seq != node.bd_seq:
            # the Will of an older connection, delivered after the node came back
            node.ignored_deaths += 1
            return
        was_online = node.online
        node.online = node.born = False
        node.seq = None
        node.deaths += 1
        node.rebirth_requested_at = None
        # The Will was composed when the node connected, so its timestamp is not the time of death.
        stale = list(node.metrics.tags)
        for device in node.devices.values():
            if device.online:
                device.online = False
                stale.extend(device.metrics.tags)
        if was_online:
            self.log.warning("edge node %s is offline (NDEATH, bdSeq %s)", node.key, bd_seq)
        self._emit_stale(stale, received)

    def _on_ddeath(self, node: EdgeNodeState, device_name: str | None, message: Any, received: int) -> None:
        assert device_name is not None
        if not node.born:
            self._request_rebirth(node, f"DDEATH of {device_name} before NBIRTH")
            return
        if not self._in_sequence(node, message):
            return
        device = node.devices.get(device_name)
        if device is None or not device.online:
            return
        device.online = False
        device.deaths += 1
        self.log.warning("device %s/%s is offline (DDEATH)", node.key, device_name)
        self._emit_stale(device.metrics.tags, message.timestamp or received)

    # -------------------------------------------------------------------- data

    def _on_ndata(self, node: EdgeNodeState, _device: str | None, message: Any, received: int) -> None:
        if not node.born:
            self._request_rebirth(node, "NDATA before NBIRTH")
            return
        if self._in_sequence(node, message):
            self._apply(node, node.metrics, message, received)

    def _on_ddata(self, node: EdgeNodeState, device_name: str | None, message: Any, received: int) -> None:
        if not node.born:
            self._request_rebirth(node, f"DDATA of {device_name} before NBIRTH")
            return
        if not self._in_sequence(node, message):
            return
        assert device_name is not None
        device = node.devices.get(device_name)
        if device is None or not device.online:
            self._request_rebirth(node, f"DDATA of {device_name} before its DBIRTH")
            return
        self._apply(node, device.metrics, message, received)

    def _apply(self, node: EdgeNodeState, metrics: _Metrics, message: Any, received: int) -> None:
        # The hot path: hundreds of metrics per message, so no per-metric objects: three columns.
        payload_ts = message.timestamp or received
        by_alias = metrics.fast_alias
        by_name = metrics.fast_name
        tags: list[str] = []
        stamps: list[int] = []
        values: list[Any] = []
        for m in message.metrics:
            name = m.name
            definition = by_name.get(name) if name else by_alias.get(m.alias)
            if definition is None:
                node.unknown_aliases += 1
                self._request_rebirth(node, f"unknown metric {name!r}" if name else f"unknown alias {m.alias}")
                return
            tag, get, convert, read = definition
            if tag is None or m.is_transient:
                continue
            raw = get(m)
            if raw and not m.is_null:
                value = raw if convert is None else convert(raw)
            else:
                try:
                    value = read(m)
                except (ValueError, TypeError, SparkplugCodecError):
                    self.bad_values += 1
                    self._log_once(f"value:{tag}", "bad value for %s from %s", tag, node.key)
                    continue
            tags.append(tag)
            stamps.append(m.timestamp or payload_ts)
            values.append(value)
        self.publish(Block(tags, stamps, values))

    # -------------------------------------------------------------------- helpers

    def _define(
        self, node: EdgeNodeState, device: str | None, m: Any, payload_ts: int, metrics: _Metrics, samples: Block
    ) -> None:
        name = m.name
        if not name:
            return
        datatype = datatype_of(m.datatype)
        tag = self._tag_for(node, device, name, datatype)
        definition = _MetricDef(name=name, datatype=datatype, tag=tag, read=value_reader(datatype))
        fast: _Fast = (tag, *fast_reader(datatype))
        metrics.by_name[name] = definition
        metrics.fast_name[name] = fast
        if m.HasField("alias"):
            metrics.by_alias[m.alias] = definition
            metrics.fast_alias[m.alias] = fast
        if tag is None:
            return
        metrics.tags.append(tag)
        if m.is_transient:
            return
        try:
            value = definition.read(m)
        except (ValueError, TypeError, SparkplugCodecError):
            self.bad_values += 1
            return
        samples.tags.append(tag)
        samples.ts.append(m.timestamp or payload_ts)
        samples.values.append(value)

    def _tag_for(self, node: EdgeNodeState, device: str | None, metric: str, datatype: DataType) -> str | None:
        explicit = self.config.tags.get(f"{node.group}/{node.name}/{device or ''}/{metric}")
        if explicit is not None:
            return explicit if datatype in SCALAR_TYPES else None
        template = self._device_template if device is not None else self._node_template
        if template is None or metric == BDSEQ_METRIC or metric.startswith(_CONTROL_PREFIXES):
            return None
        if datatype not in SCALAR_TYPES:
            self.unsupported_metrics += 1
            self._log_once(
                f"unsupported:{node.key}/{device}/{metric}",
                "%s/%s/%s is a %s: not published as a tag",
                node.key,
                device or "",
                metric,
                datatype.name,
            )
            return None
        tag = normalize_tag_key(
            template.format(group=node.group, edge_node=node.name, device=device or "", metric=metric)
        )
        if tag is None:
            self.unmapped_metrics += 1
            self._log_once(
                f"unmapped:{node.key}/{device}/{metric}",
                "%s/%s/%s gives no valid tag key; map it under tags",
                node.key,
                device or "",
                metric,
            )
        return tag

    @staticmethod
    def _int_value(m: Any) -> int | None:
        try:
            value = metric_value(m, datatype_of(m.datatype) if m.HasField("datatype") else DataType.Int64)
        except (ValueError, TypeError, SparkplugCodecError):
            return None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def _in_sequence(self, node: EdgeNodeState, message: Any) -> bool:
        if not message.HasField("seq"):
            return True  # a sender without seq cannot be checked; its data is still data
        seq = message.seq
        expected = None if node.seq is None else (node.seq + 1) & 0xFF
        node.seq = seq
        if expected is None or seq == expected:
            return True
        node.seq_gaps += 1
        self._request_rebirth(node, f"seq {seq} where {expected} was expected")
        return False

    def _request_rebirth(self, node: EdgeNodeState, reason: str) -> None:
        node.born = False
        now = time.monotonic()
        if node.rebirth_requested_at is not None and now - node.rebirth_requested_at < self.config.rebirth_interval_s:
            return  # one outstanding request at a time
        node.rebirth_requested_at = now
        node.rebirth_requests += 1
        self.log.warning("requesting a rebirth of %s: %s", node.key, reason)
        ts = now_ms()
        payload = encode_payload(
            [Metric(name=REBIRTH_METRIC, datatype=DataType.Boolean, value=True, timestamp=ts)], timestamp=ts
        )
        self._outbox.append((f"{NAMESPACE}/{node.group}/NCMD/{node.name}", payload))

    def _emit_stale(self, tags: list[str], ts: int) -> None:
        if tags:
            samples = [Sample(tag, ts, None) for tag in tags]
            if self.republish_s > 0:
                self._hold(samples)  # a dead node's last values are not re-sent
            self.emit(samples)

    def _refresh_tag_keys(self) -> None:
        keys = set(self.config.tags.values())
        for node in self.nodes.values():
            keys.update(node.metrics.tags)
            for device in node.devices.values():
                keys.update(device.metrics.tags)
        self.tag_keys = sorted(keys)

    def _log_once(self, key: str, message: str, *args: Any) -> None:
        if key in self._logged or len(self._logged) >= 1000:
            return
        self._logged.add(key)
        self.log.warning(message, *args)

    def diagnostics(self) -> dict[str, Any]:
        result = super().diagnostics()
        result.update(
            {
                "host_id": self.config.host_id,
                "messages": self.messages,
                "malformed_payloads": self.malformed_payloads,
                "bad_values": self.bad_values,
                "unmapped_metrics": self.unmapped_metrics,
                "unsupported_metrics": self.unsupported_metrics,
                "edge_nodes_online": sum(1 for n in self.nodes.values() if n.online),
                "edge_nodes": {node.key: node.diagnostics() for node in self.nodes.values()},
            }
        )
        return result


DEVICE_CONFIG = SparkplugHostConfig
CONNECTOR = SparkplugHostConnector
