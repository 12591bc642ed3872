"""The MQTT ingest worker: gateways publish batches to a broker, workers store them and answer.

Workers subscribe with a shared subscription (``$share/commonworks-ingest/commonworks/ingest/+``)
so the broker splits the load: more workers, more throughput; a worker that dies loses
nothing, since a gateway keeps a batch until it receives the answer. Messages are taken in
micro-batches (up to ``max_messages``, or once the oldest waiting message is ``max_delay``
seconds old): the batches of one gateway in a micro-batch share one storage write and one
commit, and only after that commit are they answered on ``commonworks/ack/<gateway>`` — an
Ack, or an error naming what is wrong. A gateway that asks for list answers (user property
``acks`` = ``batched``, see :mod:`commonworks.connect.protocol`) gets one message per
micro-batch with all its answers; others get one message per batch.

Receiving is done by gmqtt in the event loop while the previous micro-batch is stored in a
thread, so the two overlap. Received messages are acknowledged (PUBACK) on receipt, as
before: a gateway keeps each batch until its answer arrives, and answers go out only after
the commit, so nothing acknowledged and unanswered is lost — it is resent. The credential travels as
the MQTT 5 user property ``token``; the gateway key in the topic must be the credential's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import gmqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from commonworks.connect.protocol import (
    MQTT_ACK_TOPIC,
    MQTT_BATCHED_ACKS,
    MQTT_INGEST_TOPIC,
    MQTT_SHARED_GROUP,
    encode_answers,
)
from commonworks.core.database import Database
from commonworks.core.errors import AppError
from commonworks.telemetry import ingest as ingest_mod
from commonworks.telemetry import service

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Incoming:
    gateway_key: str
    token: str | None
    payload: bytes
    batched_acks: bool = False  # the gateway takes its answers in lists


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:1883")
    return parts.hostname, parts.port or 1883


def _error(batch_id: str | None, code: str, message: str, field: str | None = None) -> bytes:
    return orjson.dumps({"batch_id": batch_id, "error": {"code": code, "message": message, "field": field}})


def _batch_id_of(doc: dict[str, Any]) -> str | None:
    value = doc.get("batch_id")
    return value if isinstance(value, str) else None


def process(db: Database, items: list[Incoming]) -> list[tuple[str, bytes]]:
    """Store a micro-batch; return the answer messages to publish as (gateway key, payload).

    Each gateway that takes list answers gets one message (more only when very large) with
    the answers to all its batches, in arrival order; any other gateway one message per batch.
    A batch whose gateway's write failed (the database is unavailable) gets no answer: the
    gateway sends it again.
    """
    answers: list[bytes | None] = [None] * len(items)
    groups: dict[tuple[str, str | None], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, item in enumerate(items):
        try:
            doc = ingest_mod.decode_body(item.payload, None)
        except ingest_mod.BatchError as exc:
            answers[i] = _error(None, "validation_error", str(exc), exc.field)
            continue
        groups[(item.gateway_key, item.token)].append((i, doc))
    failed: list[tuple[str, Exception]] = []
    for (gateway_key, token), entries in groups.items():
        try:
            results = service.ingest_committed(db, token, [doc for _, doc in entries], gateway_key=gateway_key)
        except AppError as exc:
            for i, doc in entries:
                answers[i] = _error(_batch_id_of(doc), exc.code, exc.message, exc.field)
            continue
        except Exception as exc:  # nothing of this gateway was committed and nothing is answered: it resends
            failed.append((gateway_key, exc))
            continue
        for (i, doc), result in zip(entries, results, strict=True):
            if isinstance(result, ingest_mod.BatchError):
                answers[i] = _error(_batch_id_of(doc), "validation_error", str(result), result.field)
            else:
                answers[i] = result.model_dump_json().encode()
    if failed:
        gateway_key, exc = failed[0]
        log.error("could not store the batches of %d gateway(s) (e.g. %s: %s: %s); they will resend them",
                  len(failed), gateway_key, type(exc).__name__, exc, exc_info=exc)
    out: list[tuple[str, bytes]] = []
    lists: dict[str, list[bytes]] = {}
    for item, answer in zip(items, answers, strict=True):
        if answer is None:
            continue
        if item.batched_acks:
            lists.setdefault(item.gateway_key, []).append(answer)
        else:
            out.append((item.gateway_key, answer))
    for gateway_key, parts in lists.items():
        out.extend((gateway_key, message) for message in encode_answers(parts))
    return out


class _Connection:
    """The worker's gmqtt client, plus what the worker needs on top of it.

    gmqtt reconnects by itself once connected (the delay doubles from 0.5 s to 30 s while
    the broker stays away) and subscribes again on every CONNACK. Answers are published
    QoS 1 within the broker's Receive Maximum; further answers wait in order.
    """

    def __init__(self, identifier: str, subscription: str, deliver: Any, *,
                 username: str | None, password: str | None) -> None:
        self.subscription = subscription
        self.deliver = deliver
        # Receive Maximum: how many unacknowledged QoS 1 messages the broker may send us (acked on receipt).
        self.client = gmqtt.Client(identifier, receive_maximum=65535)
        if username is not None:
            self.client.set_auth_credentials(username, password)
        self.client.reconnect_delay = 0.5
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.subscribed = asyncio.Event()
        self.refused: str | None = None
        self._waiting: deque[tuple[str, bytes]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._paused: Any = None  # the transport whose reading is paused
        self.active = True

    async def connect(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        await asyncio.wait_for(self.client.connect(host, port, keepalive=30), timeout)
        await asyncio.wait_for(self.subscribed.wait(), timeout)
        if self.refused:
            raise ConnectionRefusedError(self.refused)

    def _on_connect(self, client: gmqtt.Client, flags: int, rc: int, properties: dict[str, Any]) -> None:
        self.client.reconnect_delay = 0.5
        client.subscribe(self.subscription, qos=1)

    def _on_subscribe(self, client: gmqtt.Client, mid: int, granted: tuple[int, ...], properties: Any) -> None:
        if not granted or granted[0] >= 0x80:
            self.refused = (f"broker refused the subscription to {self.subscription} "
                            f"(reason 0x{granted[0] if granted else 0:02x})")
            log.error("%s", self.refused)
        self.subscribed.set()
        self._send()

    def _on_disconnect(self, client: gmqtt.Client, packet: Any, exc: Any = None) -> None:
        self._paused = None
        if self.active:
            log.warning("lost the broker; reconnecting in %.1f s", client.reconnect_delay)
            client.reconnect_delay = min(client.reconnect_delay * 2, 30.0)

    def _on_message(self, client: gmqtt.Client, topic: str, payload: bytes, qos: int,
                    properties: dict[str, Any]) -> None:
        token: str | None = None
        batched = False
        for key, value in properties.get("user_property", ()):
            if key == "token":
                token = value
            elif key == "acks":
                batched = value == "batched"
        self.deliver(topic.rpartition("/")[2], token, batched, payload)

    @property
    def connected(self) -> bool:
        return self.client.is_connected

    def _transport(self) -> Any:
        connection = self.client._connection  # gmqtt has no public pause: the transport of its connection
        return None if connection is None else connection._transport

    def pause(self) -> None:
        """Stop reading from the socket (too much received and not yet stored): TCP pushes back."""
        transport = self._transport()
        if transport is not None and self._paused is not transport and not transport.is_closing():
            transport.pause_reading()
            self._paused = transport

    def resume(self) -> None:
        transport, self._paused = self._paused, None
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def publish(self, topic: str, payload: bytes) -> None:
        """Send a QoS 1 answer now, or as soon as the broker's Receive Maximum allows (in order)."""
        self._waiting.append((topic, payload))
        self._send()

    def _send(self) -> None:
        waiting = self._waiting
        while waiting and self.connected:
            topic, payload = waiting[0]
            try:
                self.client.publish(topic, payload, qos=1)
            except OverflowError:  # Receive Maximum reached: try again shortly
                if self._sender is None or self._sender.done():
                    self._sender = asyncio.create_task(self._send_later())
                return
            waiting.popleft()

    async def _send_later(self) -> None:
        while self._waiting and self.connected:
            await asyncio.sleep(0.002)
            self._sender = None
            self._send()
            if self._sender is not None:
                return

    @property
    def pending_answers(self) -> int:
        return len(self._waiting)

    async def disconnect(self) -> None:
        self.active = False
        if self._sender is not None:
            self._sender.cancel()
        with contextlib.suppress(Exception):
            await self.client.disconnect()


class _Inbox:
    """Messages received and not yet taken for storing; pauses reading when too many wait."""

    def __init__(self, limit: int) -> None:
        self.items: list[Incoming] = []
        self.limit = limit
        self.oldest = 0.0  # loop time when the oldest waiting message arrived
        self.arrived = asyncio.Event()
        self.connection: _Connection | None = None
        self._loop = asyncio.get_running_loop()

    def deliver(self, gateway_key: str, token: str | None, batched: bool, payload: bytes) -> None:
        items = self.items
        if not items:
            self.oldest = self._loop.time()
            self.arrived.set()
        items.append(Incoming(gateway_key, token, payload, batched))
        if len(items) >= self.limit and self.connection is not None:
            self.connection.pause()

    def take(self, count: int) -> list[Incoming]:
        taken, self.items = self.items[:count], self.items[count:]
        if not self.items:
            self.arrived.clear()
        # else: ``oldest`` stays as it was, so the rest (waiting since then or later) is due at once
        if self.connection is not None and len(self.items) < self.limit:
            self.connection.resume()
        return taken


async def run_worker(db: Database, url: str, stop: asyncio.Event, *, max_messages: int = 2000,
                     max_delay: float = 0.05, client_id: str | None = None,
                     ready: asyncio.Event | None = None) -> None:
    """Consume ingest messages until ``stop``; reconnect with back-off when the broker goes away."""
    host, port = broker_address(url)
    parts = urlsplit(url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    subscription = f"$share/{MQTT_SHARED_GROUP}/" + MQTT_INGEST_TOPIC.format(gateway="+")
    identifier = client_id or f"cw-ingest-{uuid.uuid4().hex[:8]}"
    inbox = _Inbox(limit=4 * max_messages)
    storer = asyncio.create_task(_store(db, inbox, stop, max_messages, max_delay), name="ingest-store")
    stopping = asyncio.create_task(stop.wait())
    delay = 0.5
    connection: _Connection | None = None
    try:
        while not stop.is_set() and not storer.done():  # the first connection; gmqtt keeps it up afterwards
            connection = _Connection(identifier, subscription, inbox.deliver, username=username, password=password)
            try:
                await connection.connect(host, port)
            except (OSError, TimeoutError, gmqtt.mqtt.handler.MQTTConnectError) as exc:
                await connection.disconnect()
                connection = None
                log.warning("broker %s:%s unavailable (%s); retrying in %.1f s", host, port, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 30.0)
                continue
            log.info("ingest worker subscribed to %s on %s:%s", subscription, host, port)
            inbox.connection = connection
            if ready is not None:
                ready.set()
            await asyncio.wait({stopping, storer}, return_when=asyncio.FIRST_COMPLETED)
            break
        with contextlib.suppress(asyncio.CancelledError):
            await storer  # finishes the micro-batch in hand and answers it
        if connection is not None:
            for _ in range(100):  # up to 2 s for the last answers to go out
                if not connection.pending_answers or not connection.connected:
                    break
                await asyncio.sleep(0.02)
            await connection.disconnect()
            connection = None
    finally:
        stopping.cancel()
        if not storer.done():
            storer.cancel()
        if connection is not None:
            await connection.disconnect()


async def _store(db: Database, inbox: _Inbox, stop: asyncio.Event, max_messages: int, max_delay: float) -> None:
    """Take micro-batches from the inbox, store each in a thread, publish the answers; until ``stop``."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.create_task(stop.wait())
    try:
        while True:
            if not inbox.items:
                arrived = asyncio.create_task(inbox.arrived.wait())
                await asyncio.wait({arrived, stopping}, return_when=asyncio.FIRST_COMPLETED)
                arrived.cancel()
                if stop.is_set():
                    return
            while len(inbox.items) < max_messages and not stop.is_set():
                remaining = inbox.oldest + max_delay - loop.time()
                if remaining <= 0:
                    break
                await asyncio.sleep(min(remaining, 0.005))
            items = inbox.take(max_messages)
            try:
                answers = await asyncio.to_thread(process, db, items)
            except Exception:  # nothing was committed and nothing is answered: the gateways resend
                log.exception("could not store %d messages; their gateways will resend them", len(items))
                continue
            connection = inbox.connection
            if connection is None or not connection.connected:
                log.warning("no broker connection for %d answers; their gateways will resend", len(answers))
            else:
                for gateway_key, answer in answers:
                    connection.publish(MQTT_ACK_TOPIC.format(gateway=gateway_key), answer)  # never raises
            if stop.is_set():
                return
    finally:
        stopping.cancel()


def publish_properties(token: str, *, batched_acks: bool = True) -> Properties:
    """MQTT 5 PUBLISH properties carrying a gateway credential (for gateways and tests)."""
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.UserProperty = [("token", token), MQTT_BATCHED_ACKS] if batched_acks else [("token", token)]
    return props
