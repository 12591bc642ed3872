"""OPC UA connector: subscribes to variables of one server and turns data changes into platform samples.

Supported: ``opc.tcp`` endpoints through asyncua, SecurityPolicy None with anonymous or username/password login;
one subscription per session with a monitored item per node (its own sampling interval, a queue long enough for
several publishing intervals); node ids as ``ns=2;s=…``, ``ns=2;i=…``, ``g=``/``b=`` forms or ``nsu=<namespace uri>;…``
(resolved against the server's namespace array on every connect, so a server that renumbers its namespaces keeps
working). Values: numbers, booleans, strings; LocalizedText and QualifiedName become their text, enumerations their
integer, DateTime an ISO-8601 string; a Bad status becomes a stale marker. Timestamps: the source timestamp, else the
server timestamp, else the gateway clock (epoch ms). Every session uses a NEW client (reusing one after a lost
connection can hang); a lost connection is noticed by asyncua's connection supervisor, a bad subscription status or
our own watchdog read of ``Server/ServerStatus/CurrentTime`` every ``watchdog_s``, and the session then raises so the
base class marks the device unavailable and reconnects with back-off. A subscription reports by exception, so
a machine standing still (down, being set up) would send nothing and the platform would take it for offline: while
publish responses (values or keep-alives) keep arriving, each tag's unchanged value is sent again every
``republish_s`` seconds (60 by default, 0 = off), stamped with the server's current time (the gateway clock
corrected by the offset of ``CurrentTime``, read with the watchdog); never after a Bad status or a lost connection
(see :mod:`commonworks.connect.base`). :func:`browse` walks a server's address space
and :func:`write_tag_map` writes the result as a ready ``tags:`` list. Not supported: message security (Sign,
SignAndEncrypt) and certificates, events and alarms & conditions, history reads, arrays and structures (counted and
logged once per tag), writes and method calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import re
import time
import uuid
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import yaml
from asyncua import Client, ua
from asyncua.common.subscription import DataChangeEvent, StatusChangeEvent, Subscription
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from commonworks.connect.base import Connector, Emit, cancel_all, now_ms
from commonworks.connect.config import REPUBLISH_DEFAULT_S, RepublishSeconds
from commonworks.connect.samples import MAX_TAG_KEY_LENGTH, TAG_KEY_RE, Sample, TagKey, Value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_MAX_PER_PUBLISH = 10_000
_QUEUE_SIZE = 10 * _MAX_PER_PUBLISH
_QUEUED_PUBLISHES = 4  # a monitored item's server-side queue holds this many publishing intervals of samples
_MAX_QUEUE = 100
_KEEPALIVE_MARGIN = 1.5  # a subscription without a publish response for 1.5 keep-alive periods is not healthy


def parse_node_id(text: str) -> ua.NodeId:
    """Parse a node id string (``ns=2;s=Spindle.Speed``, ``i=2258``, ``nsu=urn:x;s=A``); ValueError if malformed."""
    try:
        return ua.NodeId.from_string(text.strip())
    except Exception as exc:  # asyncua raises its own parsing error type
        raise ValueError(f"{text!r} is not an OPC UA node id (e.g. ns=2;s=Spindle.Speed or ns=2;i=1001)") from exc


class OpcUaTag(BaseModel):
    """One platform tag fed by one OPC UA variable."""

    model_config = ConfigDict(extra="forbid")

    key: TagKey
    node: str = Field(min_length=1, description="node id, e.g. ns=2;s=Spindle.Speed or ns=2;i=1001")
    sampling_ms: int = Field(default=1000, ge=0, le=3_600_000, description="0 = as fast as the server samples")
    data_type: str | None = Field(default=None, description="informational, as written by browse")
    unit: str | None = Field(default=None, max_length=32, description="UCUM-style unit, e.g. rpm, mm/min, Cel")

    @field_validator("node")
    @classmethod
    def _check_node(cls, value: str) -> str:
        parse_node_id(value)
        return value.strip()


class OpcUaDeviceConfig(BaseModel):
    """An OPC UA server and the variables to subscribe to."""

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["opcua"]
    name: str = Field(min_length=1, max_length=100)
    endpoint: str = Field(description="opc.tcp://host:port[/path]")
    username: str | None = None
    password: SecretStr | None = None
    publishing_interval_ms: int = Field(default=1000, ge=10, le=3_600_000)
    timeout_s: float = Field(default=4.0, gt=0, le=120, description="per request")
    watchdog_s: float = Field(default=5.0, gt=0, le=300, description="server liveness check interval")
    republish_s: RepublishSeconds = REPUBLISH_DEFAULT_S
    tags: list[OpcUaTag] = Field(min_length=1)

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        url = urlparse(value)
        if url.scheme != "opc.tcp" or not url.hostname:
            raise ValueError(f"{value!r} is not an opc.tcp://host:port endpoint")
        try:
            url.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError as exc:
            raise ValueError(f"{value!r} has an invalid port") from exc
        return value

    @model_validator(mode="after")
    def _check(self) -> OpcUaDeviceConfig:
        if self.password is not None and not self.username:
            raise ValueError("password given without username")
        seen: set[str] = set()
        for tag in self.tags:
            if tag.key in seen:
                raise ValueError(f"tag {tag.key!r} appears more than once")
            seen.add(tag.key)
        return self


# --- values --------------------------------------------------------------------------------------------------------


class _Unsupported:
    """Marker: the variable holds something that is not a platform value (array, structure, bytes …)."""


UNSUPPORTED = _Unsupported()


def to_value(raw: Any) -> Value | _Unsupported | None:
    """Map an OPC UA variant value to a platform value; None for "no value", UNSUPPORTED for arrays and structures.

    >>> to_value(ua.LocalizedText("Executing")), to_value(ua.NodeClass.Variable), to_value(3)
    ('Executing', 2, 3)
    """
    if raw is None:
        return None
    if isinstance(raw, bool):  # before int: bool is an int
        return raw
    if isinstance(raw, enum.Enum):  # before int: IntEnum is an int
        return int(raw.value) if isinstance(raw.value, int) else str(raw.name)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, ua.LocalizedText):
        return raw.Text or ""
    if isinstance(raw, ua.QualifiedName):
        return raw.Name or ""
    if isinstance(raw, datetime):
        return raw.isoformat()
    if isinstance(raw, uuid.UUID):
        return str(raw)
    return UNSUPPORTED


def timestamp_ms(dv: ua.DataValue | None) -> int:
    """Source timestamp, else server timestamp, else now — epoch milliseconds."""
    if dv is not None:
        for ts in (dv.SourceTimestamp, dv.ServerTimestamp):
            if ts is None:
                continue
            if ts.tzinfo is None:
                ts = ts.replace(tzinfo=UTC)
            if ts > _EPOCH:  # asyncua decodes "no timestamp" (0) as 1601-01-01
                return (ts - _EPOCH) // _MS
    return now_ms()


def _queue_size(publishing_ms: int, sampling_ms: int) -> int:
    """Server-side queue per monitored item: the samples of ``_QUEUED_PUBLISHES`` publishing intervals.

    With a queue of one sample per publishing interval, any jitter (two samples before one publish, a publish
    response sent late because the client was busy) makes the server discard a sample; a few intervals of headroom
    cost the server a few values per item and lose nothing.

    >>> _queue_size(100, 100), _queue_size(1000, 100), _queue_size(100, 1000), _queue_size(1000, 0)
    (4, 40, 4, 100)
    """
    if sampling_ms <= 0:  # as fast as the server samples: the rate is unknown
        return _MAX_QUEUE
    return min(_MAX_QUEUE, _QUEUED_PUBLISHES * max(1, math.ceil(publishing_ms / sampling_ms)))


# --- the connector -------------------------------------------------------------------------------------------------


class OpcUaConnector(Connector):
    """Subscribes to the configured variables of one OPC UA server; one session = one asyncua Client."""

    protocol = "opcua"

    def __init__(self, config: OpcUaDeviceConfig, emit: Emit) -> None:
        super().__init__(config.name, emit, [t.key for t in config.tags], republish_s=config.republish_s)
        self.config = config
        self.sessions = 0  # asyncua Clients created: one per session, never reused
        self.subscribed = 0
        self.rejected: dict[str, str] = {}  # tag key → why the server refused it (last session)
        self.unsupported = 0
        self._logged_tags: set[str] = set()
        self._subscription: Subscription | None = None  # while a session's subscription is up
        self._lost: asyncio.Event | None = None
        self._heard_at: float | None = None  # monotonic time of the last proof that the session works

    @classmethod
    def from_config(cls, config: OpcUaDeviceConfig, emit: Emit) -> Connector:
        return cls(config, emit)

    def _warn_tag_once(self, key: str, message: str, *args: object) -> None:
        if key not in self._logged_tags:
            self._logged_tags.add(key)
            self.log.warning(message, *args)

    async def session(self, stop: asyncio.Event) -> None:
        cfg = self.config
        client = Client(cfg.endpoint, timeout=cfg.timeout_s, watchdog_intervall=cfg.watchdog_s)
        self.sessions += 1
        client.name = client.description = "Commonworks gateway"
        if cfg.username:
            client.set_user(cfg.username)
        if cfg.password is not None:
            client.set_password(cfg.password.get_secret_value())
        lost = asyncio.Event()
        reason: list[str] = []

        async def on_connection_lost(exc: Exception) -> None:
            reason.append(f"{type(exc).__name__}: {exc}")
            lost.set()

        client.connection_lost_callback = on_connection_lost
        tasks: list[asyncio.Task[Any]] = []
        try:
            await client.connect()
            # Iterator mode (no handler): notifications queue up and are consumed in bursts. One publish response
            # carries up to MaxNotificationsPerPublish values, all queued at once, so the queue must hold several.
            subscription = await client.create_subscription(
                self._subscription_parameters(), None, queue_maxsize=_QUEUE_SIZE
            )
            keys_by_node = await self._subscribe(client, subscription)
            current_time = client.get_node(ua.NodeId(ua.ObjectIds.Server_ServerStatus_CurrentTime))
            await self._read_server_clock(current_time)
            self._subscription, self._lost = subscription, lost
            self.mark_available()  # reachable and subscribed, even before the first value arrives
            consumer = asyncio.create_task(self._consume(subscription, keys_by_node, lost, reason))
            stopper = asyncio.create_task(stop.wait())
            lost_waiter = asyncio.create_task(lost.wait())
            tasks = [consumer, stopper, lost_waiter]
            while True:
                done, _ = await asyncio.wait(tasks, timeout=cfg.watchdog_s, return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    return
                if lost_waiter in done:
                    raise ConnectionError(f"connection lost ({'; '.join(reason) or 'no reason given'})")
                if consumer in done:
                    consumer.result()
                    raise ConnectionError(f"subscription ended ({'; '.join(reason) or 'no reason given'})")
                # Nothing happened for a while: ask the server for its clock to prove it is still there.
                await self._read_server_clock(current_time)
        finally:
            self._subscription = self._lost = None  # nothing is re-sent from here on
            await cancel_all(tasks)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.disconnect(), timeout=cfg.timeout_s)

    async def _read_server_clock(self, current_time: Any) -> None:
        """Read the server's ``CurrentTime``: proof that the session works, and the offset of the server's clock."""
        before = now_ms()
        value = await asyncio.wait_for(current_time.read_value(), timeout=self.config.timeout_s)
        after = now_ms()
        self._heard_at = time.monotonic()
        if isinstance(value, datetime):
            server_ms = (value if value.tzinfo else value.replace(tzinfo=UTC)) - _EPOCH
            if server_ms > timedelta(days=365 * 30):  # a server without a clock answers 1601 or 1970: keep ours
                self.clock_offset_ms = server_ms // _MS - (before + after) // 2

    def alive(self) -> bool:
        """Subscribed, the connection not lost, and a publish response (values or a keep-alive) received within
        1.5 keep-alive periods — the margin asyncua's own stale-subscription check uses."""
        subscription, lost = self._subscription, self._lost
        if not self.available or subscription is None or lost is None or lost.is_set():
            return False
        # asyncua ≥ 2 stamps every publish response; before that, our own proofs of life are all there is
        heard = getattr(subscription, "last_publish_at", self._heard_at)
        if heard is None:
            return False
        params = subscription.parameters
        keepalive_s = params.RequestedPublishingInterval * max(1, params.RequestedMaxKeepAliveCount or 1) / 1000
        return time.monotonic() - heard <= max(1.0, _KEEPALIVE_MARGIN * keepalive_s)

    def _subscription_parameters(self) -> ua.CreateSubscriptionParameters:
        # A keep-alive every ~10 s when nothing changes (asyncua's default asks for one per 45 min); the lifetime
        # is three keep-alives, the minimum the specification allows.
        interval = self.config.publishing_interval_ms
        params = ua.CreateSubscriptionParameters()
        params.RequestedPublishingInterval = float(interval)
        params.RequestedMaxKeepAliveCount = max(1, math.ceil(10_000 / interval))
        params.RequestedLifetimeCount = 3 * params.RequestedMaxKeepAliveCount
        params.MaxNotificationsPerPublish = _MAX_PER_PUBLISH
        params.PublishingEnabled = True
        params.Priority = 0
        return params

    async def _subscribe(self, client: Client, subscription: Subscription) -> dict[ua.NodeId, tuple[str, ...]]:
        """One monitored item per distinct node (the fastest sampling asked for it); node → the keys it feeds."""
        cfg = self.config
        namespaces: list[str] | None = None
        keys_by_node: dict[ua.NodeId, list[str]] = {}
        sampling: dict[ua.NodeId, int] = {}
        self.rejected = {}
        for tag in cfg.tags:
            nid = parse_node_id(tag.node)
            if isinstance(nid, ua.ExpandedNodeId) and nid.NamespaceUri:
                if namespaces is None:
                    namespaces = await client.get_namespace_array()
                if nid.NamespaceUri not in namespaces:
                    self._reject(tag.key, tag.node, f"namespace {nid.NamespaceUri} not on this server")
                    continue
                nid = ua.NodeId(nid.Identifier, namespaces.index(nid.NamespaceUri), nid.NodeIdType)
            elif isinstance(nid, ua.ExpandedNodeId):
                nid = ua.NodeId(nid.Identifier, nid.NamespaceIndex, nid.NodeIdType)
            keys_by_node.setdefault(nid, []).append(tag.key)
            sampling[nid] = min(sampling.get(nid, tag.sampling_ms), tag.sampling_ms)
        by_interval: dict[int, list[ua.NodeId]] = {}
        for nid, ms in sampling.items():
            by_interval.setdefault(ms, []).append(nid)
        self.subscribed = 0
        for ms, nids in by_interval.items():
            queue = _queue_size(cfg.publishing_interval_ms, ms)
            results = await subscription.subscribe_data_change(
                [client.get_node(n) for n in nids], sampling_interval=float(ms), queuesize=queue
            )
            for nid, result in zip(nids, results, strict=True):
                if isinstance(result, ua.StatusCode):
                    for key in keys_by_node.pop(nid):
                        self._reject(key, nid.to_string(), result.name)
                else:
                    self.subscribed += 1
        if not keys_by_node:
            raise ConnectionError("the server accepted none of the configured nodes")
        return {nid: tuple(keys) for nid, keys in keys_by_node.items()}

    def _reject(self, key: str, node: str, why: str) -> None:
        self.rejected[key] = why
        self.errors += 1
        self._warn_tag_once(key, "%s: tag %s (node %s) not subscribed: %s", self.name, key, node, why)

    async def _consume(
        self,
        subscription: Subscription,
        keys_by_node: dict[ua.NodeId, tuple[str, ...]],
        lost: asyncio.Event,
        reason: list[str],
    ) -> None:
        loop = asyncio.get_running_loop()
        pending: list[Sample] = []

        def flush() -> None:
            batch = pending.copy()
            pending.clear()
            if batch:
                self.publish(batch)

        # Events already queued are taken without suspending, so one flush scheduled on the first event of a burst
        # runs after the whole burst: one emit per publish response instead of one per value.
        async for event in subscription:
            self._heard_at = time.monotonic()
            if isinstance(event, DataChangeEvent):
                keys = keys_by_node.get(event.node.nodeid)
                if not keys:
                    continue
                dv = event.data.monitored_item.Value
                ts = timestamp_ms(dv)
                if dv is not None and dv.StatusCode is not None and dv.StatusCode.is_bad():
                    value: Value | _Unsupported | None = None  # Bad quality: the last value is no longer current
                else:
                    value = to_value(event.value)
                    if value is None:
                        continue  # an empty or NaN reading carries no information
                if isinstance(value, _Unsupported):
                    self.unsupported += 1
                    self.errors += 1
                    for key in keys:
                        self._warn_tag_once(
                            key,
                            "%s: tag %s has a value of type %s, which is not supported",
                            self.name,
                            key,
                            type(event.value).__name__,
                        )
                    continue
                if not pending:
                    loop.call_soon(flush)
                pending.extend(Sample(key, ts, value) for key in keys)
                if self.held_back():  # the gateway's disk stage is behind: take the next events later
                    await self.room()
            elif isinstance(event, StatusChangeEvent) and not event.notification.Status.is_good():
                reason.append(f"subscription status {event.notification.Status.name}")
                lost.set()
                return

    def diagnostics(self) -> dict[str, Any]:
        info = super().diagnostics()
        info.update(
            sessions=self.sessions,
            subscribed=self.subscribed,
            rejected=dict(self.rejected),
            unsupported_values=self.unsupported,
            clock_offset_ms=self.clock_offset_ms,
        )
        return info


DEVICE_CONFIG = OpcUaDeviceConfig
CONNECTOR = OpcUaConnector


# --- browsing ------------------------------------------------------------------------------------------------------

_HAS_PROPERTY = ua.NodeId(ua.ObjectIds.HasProperty)
_SKIPPED_TYPES = {"ByteString", "XmlElement", "DiagnosticInfo", "Structure", "DataValue"}
_BROWSE_CHUNK = 200


def _key_part(name: str) -> str:
    """``SpindleSpeed`` → ``spindle_speed``; characters outside a tag key become ``_``; dots are path separators."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s).lower()
    s = re.sub(r"[^a-z0-9-]+", "_", s).strip("_")
    if not re.search(r"[a-z0-9]", s):  # e.g. a browse name written only in Chinese
        s = f"n{zlib.crc32(name.encode()):08x}"
    return s


def _tag_key(prefix: str, path: Sequence[str], seen: set[str]) -> str:
    key = ".".join([p for p in (prefix.strip(".").lower(), *(_key_part(n) for n in path)) if p]).lstrip("-_.")
    if len(key) > MAX_TAG_KEY_LENGTH:  # keep it unique and valid: cut, then a checksum of the full path
        key = f"{key[: MAX_TAG_KEY_LENGTH - 9].rstrip('.')}-{zlib.crc32(key.encode()):08x}"
    base, n = key, 2
    while key in seen or not TAG_KEY_RE.match(key):
        suffix = f"_{n}"
        key = base[: MAX_TAG_KEY_LENGTH - len(suffix)] + suffix
        n += 1
        if n > 10_000:
            raise ValueError(f"cannot derive a valid tag key from {'/'.join(path)!r}")
    seen.add(key)
    return key


async def _browse_children(client: Client, nodes: Sequence[ua.NodeId]) -> list[list[ua.ReferenceDescription]]:
    """Forward hierarchical references of many nodes in one Browse (plus BrowseNext while the server pages)."""
    params = ua.BrowseParameters()
    params.RequestedMaxReferencesPerNode = 0
    for nid in nodes:
        desc = ua.BrowseDescription()
        desc.NodeId = nid
        desc.BrowseDirection = ua.BrowseDirection.Forward
        desc.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
        desc.IncludeSubtypes = True
        desc.NodeClassMask = ua.NodeClass.Object | ua.NodeClass.Variable
        desc.ResultMask = ua.BrowseResultMask.All
        params.NodesToBrowse.append(desc)
    results = await client.uaclient.browse(params)
    out: list[list[ua.ReferenceDescription]] = []
    for result in results:
        refs = list(result.References or [])
        point = result.ContinuationPoint
        while point:
            nxt = ua.BrowseNextParameters()
            nxt.ContinuationPoints = [point]
            more = await client.uaclient.browse_next(nxt)
            if not more:
                break
            refs.extend(more[0].References or [])
            point = more[0].ContinuationPoint
        out.append(refs)
    return out


async def _read_many(client: Client, nodes: Sequence[ua.NodeId], attr: ua.AttributeIds) -> list[Any]:
    values: list[Any] = []
    for i in range(0, len(nodes), 500):
        for dv in await client.uaclient.read_attributes(list(nodes[i : i + 500]), attr):
            ok = dv.StatusCode is None or dv.StatusCode.is_good()
            values.append(dv.Value.Value if ok and dv.Value is not None else None)
    return values


def _plain(nid: ua.NodeId | ua.ExpandedNodeId) -> ua.NodeId:
    return ua.NodeId(nid.Identifier, nid.NamespaceIndex, nid.NodeIdType)


async def browse(
    endpoint: str,
    *,
    prefix: str,
    max_nodes: int = 5000,
    username: str | None = None,
    password: str | None = None,
    timeout_s: float = 10.0,
) -> list[dict[str, Any]]:
    """Walk the address space from Objects and return a tag-map entry for every scalar Variable found.

    Each entry is ``{"key", "node", "sampling_ms", "data_type"[, "unit"]}``: the key is ``prefix`` plus the
    browse path from Objects, snake_case and ``.``-joined (``Objects/cnc-01/SpindleSpeed`` becomes
    ``<prefix>.cnc-01.spindle_speed``); the unit is the display name of an ``EngineeringUnits`` property. The
    standard namespace (the Server object …), Properties and array variables are left out; at most ``max_nodes``
    nodes are visited.
    """
    client = Client(endpoint, timeout=timeout_s)
    if username:
        client.set_user(username)
    if password:
        client.set_password(password)
    await client.connect()
    try:
        return await _walk(client, prefix, max_nodes)
    finally:
        with contextlib.suppress(Exception):
            await client.disconnect()


async def _walk(client: Client, prefix: str, max_nodes: int) -> list[dict[str, Any]]:
    objects = ua.NodeId(ua.ObjectIds.ObjectsFolder)
    visited: set[ua.NodeId] = {objects}
    variables: list[tuple[ua.NodeId, tuple[str, ...]]] = []
    units_node: dict[ua.NodeId, ua.NodeId] = {}
    frontier: list[tuple[ua.NodeId, tuple[str, ...]]] = [(objects, ())]
    while frontier:
        next_frontier: list[tuple[ua.NodeId, tuple[str, ...]]] = []
        for i in range(0, len(frontier), _BROWSE_CHUNK):
            chunk = frontier[i : i + _BROWSE_CHUNK]
            for (parent, path), refs in zip(chunk, await _browse_children(client, [n for n, _ in chunk]), strict=True):
                for ref in refs:
                    target = _plain(ref.NodeId)
                    if ref.ReferenceTypeId == _HAS_PROPERTY:  # metadata, not a signal; but remember the unit
                        if ref.BrowseName.Name == "EngineeringUnits":
                            units_node[parent] = target
                        continue
                    if target.NamespaceIndex == 0 or target in visited or len(visited) >= max_nodes:
                        continue
                    visited.add(target)
                    child = (*path, ref.BrowseName.Name or str(target.Identifier))
                    if ref.NodeClass == ua.NodeClass.Variable:
                        variables.append((target, child))
                    next_frontier.append((target, child))
        frontier = next_frontier

    nodes = [nid for nid, _ in variables]
    type_ids = await _read_many(client, nodes, ua.AttributeIds.DataType)
    ranks = await _read_many(client, nodes, ua.AttributeIds.ValueRank)
    custom = sorted({t for t in type_ids if isinstance(t, ua.NodeId) and t.NamespaceIndex != 0}, key=str)
    custom_names = dict(zip(custom, await _read_many(client, custom, ua.AttributeIds.BrowseName), strict=True))
    unit_parents = list(units_node)
    unit_values = await _read_many(client, [units_node[p] for p in unit_parents], ua.AttributeIds.Value)
    units = {
        p: v.DisplayName.Text
        for p, v in zip(unit_parents, unit_values, strict=True)
        if isinstance(v, ua.EUInformation) and v.DisplayName is not None and v.DisplayName.Text
    }

    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for (nid, path), type_id, rank in zip(variables, type_ids, ranks, strict=True):
        if isinstance(rank, int) and rank >= 0:  # arrays and matrices are not platform values
            continue
        type_name = _type_name(type_id, custom_names)
        if type_name in _SKIPPED_TYPES:
            continue
        entry: dict[str, Any] = {
            "key": _tag_key(prefix, path, seen),
            "node": nid.to_string(),
            "sampling_ms": 1000,
            "data_type": type_name,
        }
        if nid in units:
            entry["unit"] = units[nid]
        entries.append(entry)
    return entries


def _type_name(type_id: Any, custom_names: dict[ua.NodeId, Any]) -> str | None:
    if not isinstance(type_id, ua.NodeId):
        return None
    if type_id.NamespaceIndex == 0 and isinstance(type_id.Identifier, int):
        return ua.ObjectIdNames.get(type_id.Identifier, type_id.to_string())
    name = custom_names.get(type_id)
    return name.Name if isinstance(name, ua.QualifiedName) else type_id.to_string()


def write_tag_map(entries: Iterable[dict[str, Any]], path: str | Path) -> None:
    """Write browse entries as YAML with a top-level ``tags:`` list, ready to paste into an ``opcua`` device."""
    doc = {"tags": [dict(e) for e in entries]}
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=False)
    header = (
        "# OPC UA tag map written by commonworks.connect.opcua.write_tag_map.\n"
        "# Paste the tags: list into an opcua device of gateway.yaml; delete what you do not need.\n"
    )
    Path(path).write_text(header + text, encoding="utf-8")
