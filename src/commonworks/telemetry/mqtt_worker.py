"""The MQTT ingest worker: gateways publish batches to a broker, workers store them and answer.

Workers subscribe with a shared subscription (``$share/commonworks-ingest/commonworks/ingest/+``)
so the broker splits the load: more workers, more throughput; a worker that dies loses
nothing, since a gateway keeps a batch until it receives the Ack. Messages are taken in
micro-batches (up to ``max_messages`` or ``max_delay`` seconds): the batches of one gateway
in a micro-batch share one storage write and one commit, and only after that commit each
gets its Ack on ``commonworks/ack/<gateway>`` — or an error answer naming what is wrong.

The credential travels as the MQTT 5 user property ``token``; the gateway key in the
topic must be the credential's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from commonworks.connect.protocol import MQTT_ACK_TOPIC, MQTT_INGEST_TOPIC, MQTT_SHARED_GROUP
from commonworks.core.database import Database
from commonworks.core.errors import AppError
from commonworks.telemetry import ingest as ingest_mod
from commonworks.telemetry import service

log = logging.getLogger(__name__)


@dataclass
class Incoming:
    gateway_key: str
    token: str | None
    payload: bytes


def broker_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"broker URL {url!r} must look like mqtt://host:1883")
    return parts.hostname, parts.port or 1883


def _token_of(message: aiomqtt.Message) -> str | None:
    props = message.properties
    for key, value in getattr(props, "UserProperty", None) or []:
        if key == "token":
            return value
    return None


def _error(batch_id: str | None, code: str, message: str, field: str | None = None) -> bytes:
    return orjson.dumps({"batch_id": batch_id, "error": {"code": code, "message": message, "field": field}})


def _batch_id(payload: bytes) -> str | None:
    try:
        doc = ingest_mod.decode_body(payload, None)
    except ingest_mod.BatchError:
        return None
    value = doc.get("batch_id")
    return value if isinstance(value, str) else None


def process(db: Database, items: list[Incoming]) -> list[tuple[str, bytes]]:
    """Store a micro-batch; return (gateway key, answer) for every message, in order."""
    answers: list[tuple[str, bytes] | None] = [None] * len(items)
    groups: dict[tuple[str, str | None], list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    for i, item in enumerate(items):
        try:
            doc = ingest_mod.decode_body(item.payload, None)
        except ingest_mod.BatchError as exc:
            answers[i] = (item.gateway_key, _error(None, "validation_error", str(exc), exc.field))
            continue
        groups[(item.gateway_key, item.token)].append((i, doc))
    for (gateway_key, token), entries in groups.items():
        try:
            results = service.ingest_committed(db, token, [doc for _, doc in entries], gateway_key=gateway_key)
        except AppError as exc:
            for i, doc in entries:
                batch_id = doc.get("batch_id") if isinstance(doc.get("batch_id"), str) else None
                answers[i] = (gateway_key, _error(batch_id, exc.code, exc.message, exc.field))
            continue
        for (i, doc), result in zip(entries, results, strict=True):
            if isinstance(result, ingest_mod.BatchError):
                batch_id = doc.get("batch_id") if isinstance(doc.get("batch_id"), str) else None
                answers[i] = (gateway_key, _error(batch_id, "validation_error", str(result), result.field))
            else:
                answers[i] = (gateway_key, result.model_dump_json().encode())
    return [a for a in answers if a is not None]


async def run_worker(db: Database, url: str, stop: asyncio.Event, *, max_messages: int = 2000,
                     max_delay: float = 0.05, client_id: str | None = None,
                     ready: asyncio.Event | None = None) -> None:
    """Consume ingest messages until ``stop``; reconnect with back-off when the broker goes away."""
    host, port = broker_address(url)
    subscription = f"$share/{MQTT_SHARED_GROUP}/" + MQTT_INGEST_TOPIC.format(gateway="+")
    delay = 0.5
    while not stop.is_set():
        try:
            async with aiomqtt.Client(host, port, identifier=client_id or f"cw-ingest-{uuid.uuid4().hex[:8]}",
                                      protocol=aiomqtt.ProtocolVersion.V5, max_queued_incoming_messages=0,
                                      max_inflight_messages=1000) as client:
                await client.subscribe(subscription, qos=1)
                log.info("ingest worker subscribed to %s on %s:%s", subscription, host, port)
                delay = 0.5
                if ready is not None:
                    ready.set()
                await _consume(db, client, stop, max_messages, max_delay)
        except aiomqtt.MqttError as exc:
            if stop.is_set():
                break
            log.warning("broker %s:%s unavailable (%s); retrying in %.1f s", host, port, exc, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 30.0)


async def _consume(db: Database, client: aiomqtt.Client, stop: asyncio.Event, max_messages: int,
                   max_delay: float) -> None:
    queue: asyncio.Queue[Incoming] = asyncio.Queue()

    async def receive() -> None:
        async for message in client.messages:
            topic = str(message.topic)
            queue.put_nowait(Incoming(gateway_key=topic.rsplit("/", 1)[-1], token=_token_of(message),
                                      payload=bytes(message.payload)))  # type: ignore[arg-type]

    receiver = asyncio.create_task(receive())
    stopper = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait({getter, stopper, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                getter.cancel()
                receiver.result()  # re-raises the broker error
                return
            if getter not in done:
                getter.cancel()
                return
            items = [getter.result()]
            deadline = asyncio.get_running_loop().time() + max_delay
            while len(items) < max_messages:
                try:
                    items.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    remaining = deadline - asyncio.get_running_loop().time()
                    if remaining <= 0:
                        break
                    await asyncio.sleep(min(remaining, 0.005))
            try:
                answers = await asyncio.to_thread(process, db, items)
            except Exception:  # nothing was committed and nothing is answered: the gateways resend
                log.exception("could not store %d messages; their gateways will resend them", len(items))
                continue
            for gateway_key, answer in answers:
                await client.publish(MQTT_ACK_TOPIC.format(gateway=gateway_key), answer, qos=1)
    finally:
        receiver.cancel()
        stopper.cancel()


def publish_properties(token: str) -> Properties:
    """MQTT 5 PUBLISH properties carrying a gateway credential (for gateways and tests)."""
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = ("token", token)
    return props
