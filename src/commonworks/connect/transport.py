"""How batches reach the platform: HTTP POST or MQTT 5 publish, both ending in the platform's Ack.

Both transports share one small interface (:class:`Transport`) so the runner does not care
which is configured. ``send(batch_id, body)`` returns the :class:`~commonworks.connect.protocol.Ack`
only once the platform has committed the batch, and otherwise raises one of two errors that
mean very different things for the queue:

* :class:`TransportError` — *try again later*: the platform is down, slow, overloaded (5xx,
  408, 429), unreachable, or refuses this gateway's credential / address (401, 403, 404,
  405 — a configuration problem, not a bad batch; rejecting batches for it would throw away
  a whole backlog because of a typo). The batch stays queued.
* :class:`BatchRejected` — *this batch will never be accepted* (any other 4xx): the runner
  keeps a copy for diagnosis and moves on, so one poisoned batch cannot block the queue.
  :class:`BatchTooLarge` (413) is a rejection the runner answers by sending smaller batches.

Heavy client libraries are imported when a transport starts, so a gateway loads only the
one it uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson

from commonworks.connect.base import Backoff
from commonworks.connect.protocol import (
    INGEST_PATH,
    MQTT_ACK_TOPIC,
    MQTT_BATCHED_ACKS,
    MQTT_INGEST_TOPIC,
    RETRY_LATER_CODES,
    Ack,
    decode_answers,
)

log = logging.getLogger("commonworks.connect.transport")

_RETRY_STATUSES = {408, 425, 429}
# The gateway's own setup is wrong (credential, URL): every batch would fail alike, so wait instead.
_MISCONFIGURED_STATUSES = {401, 403, 404, 405}
_FIRST_RESEND_S = 1.0  # MQTT: first repeat of an unanswered batch while no answer came on the connection
_MAX_RESEND_S = 8.0


class TransportError(Exception):
    """The batch could not be delivered now; it stays queued and is sent again after a back-off."""


class BatchRejected(Exception):
    """The platform will never accept this batch (e.g. HTTP 422); kept aside so the queue moves on."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class BatchTooLarge(BatchRejected):
    """The platform refuses a batch this big (HTTP 413); smaller batches may pass."""


class Transport(Protocol):
    """What the runner needs from a transport."""

    kind: str
    target: str
    state: str
    max_in_flight: int

    async def start(self) -> None: ...

    async def send(self, batch_id: str, body: bytes) -> Ack: ...

    async def close(self) -> None: ...

    def diagnostics(self) -> dict[str, Any]: ...


def _check_ack(batch_id: str, payload: bytes) -> Ack:
    try:
        ack = Ack.from_json(payload)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        # A proxy's HTML page with status 200 is not a commit; do not drop the batch for it.
        raise TransportError(f"the answer is not an ingest Ack ({exc})") from None
    if ack.batch_id != batch_id:
        raise TransportError(f"the Ack is for batch {ack.batch_id!r}, not {batch_id!r}")
    return ack


class HttpTransport:
    """``POST {base_url}/api/v1/ingest`` with the gzip batch; the 2xx Ack comes after the commit."""

    kind = "http"

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, max_in_flight: int = 1) -> None:
        self.url = base_url.rstrip("/") + INGEST_PATH
        self.target = self.url
        self.token = token
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.state = "idle"
        self.last_error: str | None = None
        self.last_status: int | None = None
        self._client: Any = None  # httpx.AsyncClient, imported on start

    async def start(self) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            limits=httpx.Limits(max_connections=self.max_in_flight, max_keepalive_connections=self.max_in_flight),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Content-Encoding": "gzip",
                "User-Agent": "commonworks-gateway",
            },
        )
        self.state = "started"

    async def send(self, batch_id: str, body: bytes) -> Ack:
        import httpx

        if self._client is None:
            raise TransportError("transport not started")
        try:
            response = await self._client.post(self.url, content=body)
        except httpx.TimeoutException as exc:
            raise self._retry(f"no answer within {self.timeout:g} s ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:  # connection refused/reset, DNS, TLS, protocol errors
            raise self._retry(f"{type(exc).__name__}: {exc}") from None
        status = response.status_code
        self.last_status = status
        if 200 <= status < 300:
            ack = _check_ack(batch_id, response.content)
            self.state = "connected"
            self.last_error = None
            return ack
        detail = response.text[:500].strip()
        if status in _MISCONFIGURED_STATUSES:
            self.state = "unauthorized" if status in (401, 403) else "misconfigured"
            self.last_error = f"HTTP {status} from {self.url}: {detail}"
            raise TransportError(self.last_error)
        if status == 413:
            raise BatchTooLarge(f"HTTP 413: {detail}", status)
        if 400 <= status < 500 and status not in _RETRY_STATUSES:
            self.state = "connected"
            raise BatchRejected(f"HTTP {status}: {detail}", status)
        raise self._retry(f"HTTP {status}: {detail}")

    def _retry(self, reason: str) -> TransportError:
        self.state = "retrying"
        self.last_error = reason
        return TransportError(reason)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self.state = "closed"

    def diagnostics(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.url,
            "state": self.state,
            "last_error": self.last_error,
            "last_status": self.last_status,
        }


class MqttTransport:
    """MQTT 5, QoS 1 to ``commonworks/ingest/<key>``; a batch is delivered when its Ack arrives on the ack topic.

    Up to ``max_in_flight`` batches are published before their acks return (one round trip
    per batch would cap throughput at the platform's latency). The PUBACK only says the
    broker has the message, so the ack topic is what counts. aiomqtt does not reconnect on
    its own, so a background task keeps one connection alive with back-off; a lost
    connection fails the batches waiting for acks (they are resent — harmless, since the
    platform deduplicates on (tag, ts)).

    A batch published before any answer came on its connection may have reached nobody:
    after a broker restart the gateway often reconnects and publishes before the platform's
    ingest workers have subscribed again. Such a batch, while unanswered, is published again
    after 1 s, 2 s, 4 s … (at most 8 s apart) instead of waiting out the whole ack timeout —
    also after answers to later batches have started to flow. A batch published once answers
    were flowing waits the timeout as usual.

    The gateway asks for list answers (user property ``acks`` = ``batched``): the platform
    then answers all of this gateway's batches in one of its micro-batches with one message
    ``{"acks": [...]}``; a single answer (an older platform) is understood as well. An answer
    with an ``"error"`` object (see :mod:`commonworks.connect.protocol`) rejects the batch like
    an HTTP 4xx — except a credential problem, which keeps it queued like a 401.
    """

    kind = "mqtt"

    def __init__(
        self, url: str, gateway_key: str, token: str, *, timeout: float = 30.0, max_in_flight: int = 8
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"not an MQTT url: {url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "mqtts"
        self.port = parts.port or (8883 if self.tls else 1883)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.target = f"{parts.scheme}://{self.host}:{self.port}"
        self.gateway_key = gateway_key
        self.token = token
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.topic = MQTT_INGEST_TOPIC.format(gateway=gateway_key)
        self.ack_topic = MQTT_ACK_TOPIC.format(gateway=gateway_key)
        self.state = "idle"
        self.last_error: str | None = None
        self.connects = 0
        self.resends = 0  # batches published again because no answer had come on the connection yet
        self._first_answer_at: float | None = None  # loop time of the first answer on this connection
        self._client: Any = None  # aiomqtt.Client while connected
        self._connected: asyncio.Event | None = None
        self._pending: dict[str, asyncio.Future[Ack]] = {}
        self._task: asyncio.Task[None] | None = None
        self._properties: Any = None

    async def start(self) -> None:
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self._properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._properties.UserProperty = [("token", self.token), MQTT_BATCHED_ACKS]
        self._connected = asyncio.Event()
        self._task = asyncio.create_task(self._keep_connected(), name="mqtt-transport")

    async def _keep_connected(self) -> None:
        import aiomqtt

        backoff = Backoff()
        outage_logged = False
        while True:
            client = aiomqtt.Client(
                self.host,
                self.port,
                identifier=f"cwg-{self.gateway_key}",
                username=self.username,
                password=self.password,
                protocol=aiomqtt.ProtocolVersion.V5,
                keepalive=30,
                timeout=self.timeout,
                tls_context=ssl.create_default_context() if self.tls else None,
                max_inflight_messages=max(20, self.max_in_flight),
            )
            try:
                async with client:
                    # Subscribe before the first publish, or an early Ack could be missed.
                    await client.subscribe(self.ack_topic, qos=1)
                    self._first_answer_at = None
                    self._client = client
                    self.connects += 1
                    self.state = "connected"
                    self.last_error = None
                    backoff.reset()
                    if outage_logged:
                        log.warning("MQTT broker %s reachable again", self.target)
                        outage_logged = False
                    assert self._connected is not None
                    self._connected.set()
                    async for message in client.messages:
                        self._on_ack(message.payload)
            except aiomqtt.MqttError as exc:
                # A disconnect seen outside the message iterator (e.g. during subscribe) leaves aiomqtt's
                # internal future unread, and asyncio would log "exception was never retrieved".
                disconnected = getattr(client, "_disconnected", None)
                if isinstance(disconnected, asyncio.Future) and disconnected.done() and not disconnected.cancelled():
                    disconnected.exception()
                self.state = "retrying"
                self.last_error = f"{type(exc).__name__}: {exc}"
                if not outage_logged:
                    log.warning("MQTT broker %s unreachable: %s; retrying with back-off", self.target, exc)
                    outage_logged = True
            finally:
                self._client = None
                if self._connected is not None:
                    self._connected.clear()
                self._fail_pending("connection to the broker lost before the ack")
            await asyncio.sleep(backoff.next_delay())

    def _on_ack(self, payload: Any) -> None:
        try:
            answers = decode_answers(payload)
        except ValueError:  # orjson.JSONDecodeError is a ValueError
            log.warning("ignoring a message on %s that is not an Ack", self.ack_topic)
            return
        if self._first_answer_at is None:
            self._first_answer_at = asyncio.get_running_loop().time()
        for doc in answers:
            self._on_answer(doc)

    def _on_answer(self, doc: dict[str, Any]) -> None:
        batch_id = doc.get("batch_id")
        if not isinstance(batch_id, str):
            log.warning("ignoring an answer on %s without a batch_id: %s", self.ack_topic, str(doc)[:300])
            return
        future = self._pending.get(batch_id)
        if future is None or future.done():
            return  # an ack for a batch we gave up on (timeout, reconnect): it is resent anyway
        error = doc.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
            if code in RETRY_LATER_CODES:  # like HTTP 401/403/429: keep the batch, fix the setup, try again
                self.last_error = f"{code}: {message}"
                future.set_exception(TransportError(self.last_error))
            else:
                future.set_exception(BatchRejected(message))
            return
        try:
            future.set_result(Ack.from_doc(doc))
        except (KeyError, TypeError, ValueError) as exc:
            future.set_exception(TransportError(f"malformed Ack: {exc}"))

    def _fail_pending(self, reason: str) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(TransportError(reason))

    async def send(self, batch_id: str, body: bytes) -> Ack:
        import aiomqtt

        if self._connected is None:
            raise TransportError("transport not started")
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=self.timeout)
        except TimeoutError:
            raise TransportError(f"not connected to {self.target}: {self.last_error or 'connecting'}") from None
        client = self._client
        if client is None:
            raise TransportError(f"not connected to {self.target}")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Ack] = loop.create_future()
        self._pending[batch_id] = future
        try:
            await client.publish(self.topic, body, qos=1, properties=self._properties, timeout=self.timeout)
            published_at = loop.time()
            deadline = published_at + self.timeout
            resend_after = _FIRST_RESEND_S
            task = asyncio.current_task()
            while not future.done():
                if task is not None and task.cancelling():  # a cancel lost in aiomqtt's wait_for (Python 3.11)
                    raise asyncio.CancelledError
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TransportError(f"no ack for {batch_id} within {self.timeout:g} s")
                unheard = self._first_answer_at is None or published_at < self._first_answer_at
                await asyncio.wait({future}, timeout=min(remaining, resend_after) if unheard else remaining)
                if future.done() or self._client is not client:
                    continue  # answered, or the connection is gone (which fails the future)
                if self._first_answer_at is None or published_at < self._first_answer_at:
                    # Published when maybe nobody was listening: publish again (a repeat is harmless).
                    await client.publish(self.topic, body, qos=1, properties=self._properties, timeout=self.timeout)
                    published_at = loop.time()
                    self.resends += 1
                    resend_after = min(2 * resend_after, _MAX_RESEND_S)
            return future.result()
        except aiomqtt.MqttError as exc:
            raise TransportError(f"publish failed: {exc}") from None
        except TimeoutError:
            raise TransportError(f"no ack for {batch_id} within {self.timeout:g} s") from None
        finally:
            if self._pending.get(batch_id) is future:
                del self._pending[batch_id]
            if future.done() and not future.cancelled():
                future.exception()  # retrieved, so asyncio does not warn about it

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._fail_pending("transport closed")
        self.state = "closed"

    def diagnostics(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "target": self.target,
            "topic": self.topic,
            "state": self.state,
            "last_error": self.last_error,
            "connects": self.connects,
            "awaiting_ack": len(self._pending),
            "resends": self.resends,
        }


def make_transport(
    kind: str, url: str, *, gateway_key: str, token: str, timeout: float = 30.0, max_in_flight: int | None = None
) -> HttpTransport | MqttTransport:
    """The transport a gateway config asks for."""
    if kind == "http":
        return HttpTransport(url, token, timeout=timeout, max_in_flight=max_in_flight or 1)
    if kind == "mqtt":
        return MqttTransport(url, gateway_key, token, timeout=timeout, max_in_flight=max_in_flight or 8)
    raise ValueError(f"unknown transport {kind!r}")
