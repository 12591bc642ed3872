"""IngestStandIn: a minimal local stand-in for the platform's ingest endpoint — NOT the platform.

The gateway tests need something that speaks the ingest protocol (gzip JSON batch in,
Ack out after "commit") and can be made to fail on demand, while the platform's own
``POST /api/v1/ingest`` is still being written. This stand-in decodes each batch, keeps
the (tag, ts) pairs it has "committed" (deduplicated on (tag, ts), as the platform does)
and answers the :class:`~commonworks.connect.protocol.Ack`. End-to-end tests against the
real platform app come separately.

* :class:`IngestStandIn` — HTTP (starlette + uvicorn in a thread, on 127.0.0.1). Outages:
  ``mode = "503"`` answers 503, ``stop_server()`` takes the server down (connection refused)
  and ``start_server()`` brings it back on the same port; ``reject_next`` answers 422 to the
  next N batches.
* :class:`MqttIngestStandIn` (with :class:`tests.services.Mosquitto`) — a real broker on a loopback port and an
  ingest worker that subscribes to ``commonworks/ingest/+`` and answers on the ack topic (a list answer
  ``{"acks": [...]}`` with one element when the gateway asks for list answers, as the platform does).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import threading
import time
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from commonworks.connect.protocol import INGEST_PATH, MQTT_ACK_TOPIC, MQTT_BATCHED_ACKS, Ack, encode_answers
from tests.services import Mosquitto, free_port  # noqa: F401  (re-exported for the gateway tests)


class _Ledger:
    """What the stand-in has committed, in commit order, deduplicated on (tag, ts)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.committed: list[tuple[str, int, Any]] = []
        self.seen: set[tuple[str, int]] = set()
        self.batches: list[str] = []
        self.duplicates = 0

    def commit(self, doc: dict[str, Any]) -> Ack:
        accepted = duplicates = 0
        rows = [
            (series["tag"], ts, value)
            for series in doc["series"]
            for ts, value in zip(series["ts"], series["v"], strict=True)
        ]
        rows += [(stale["tag"], stale["ts"], None) for stale in doc.get("stale", [])]
        with self.lock:
            self.batches.append(doc["batch_id"])
            for tag, ts, value in rows:
                if (tag, ts) in self.seen:
                    duplicates += 1
                    continue
                self.seen.add((tag, ts))
                self.committed.append((tag, ts, value))
                accepted += 1
            self.duplicates += duplicates
        return Ack(batch_id=doc["batch_id"], accepted=accepted, duplicates=duplicates)

    def count(self) -> int:
        with self.lock:
            return len(self.committed)

    def snapshot(self) -> list[tuple[str, int, Any]]:
        with self.lock:
            return list(self.committed)


class IngestStandIn(_Ledger):
    """``POST /api/v1/ingest`` on 127.0.0.1 that records batches and can fail on demand."""

    def __init__(self, token: str = "cwg_test-token") -> None:
        super().__init__()
        self.token = token
        self.mode = "ok"  # "ok" or "503"
        self.reject_next = 0
        self.requests = 0
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(routes=[Route(INGEST_PATH, self._ingest, methods=["POST"])])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _ingest(self, request: Request) -> Response:
        self.requests += 1
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"detail": "bad gateway token"}, status_code=401)
        if self.mode == "503":
            return JSONResponse({"detail": "platform unavailable (simulated)"}, status_code=503)
        body = await request.body()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        if request.headers.get("content-type") != "application/json":
            return JSONResponse({"detail": "content-type must be application/json"}, status_code=415)
        doc = orjson.loads(body)
        if self.reject_next > 0:
            self.reject_next -= 1
            return JSONResponse({"detail": "series.0.v.3: not a number (simulated)"}, status_code=422)
        return Response(self.commit(doc).to_json(), media_type="application/json")

    def start_server(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="ingest-standin")
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"ingest stand-in did not start on port {self.port}")
            time.sleep(0.01)

    def stop_server(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._server = None

    def __enter__(self) -> IngestStandIn:
        self.start_server()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_server()


class MqttIngestStandIn(_Ledger):
    """An ingest worker over MQTT: takes batches from ``commonworks/ingest/+``, answers the Ack after commit."""

    def __init__(self, broker_port: int, token: str = "cwg_test-token") -> None:
        super().__init__()
        self.broker_port = broker_port
        self.token = token
        self.bad_tokens = 0
        self.answer_messages = 0
        self.connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), timeout=15)

    async def _run(self) -> None:
        import aiomqtt

        while True:  # aiomqtt does not reconnect by itself
            client = aiomqtt.Client(
                "127.0.0.1", self.broker_port, protocol=aiomqtt.ProtocolVersion.V5, identifier="ingest-standin"
            )
            try:
                async with client:
                    await client.subscribe("commonworks/ingest/+", qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        gateway = str(message.topic).rsplit("/", 1)[1]
                        properties = getattr(message.properties, "UserProperty", None) or []
                        if ("token", self.token) not in properties:
                            self.bad_tokens += 1
                            continue
                        assert isinstance(message.payload, bytes)
                        ack = self.commit(orjson.loads(gzip.decompress(message.payload)))
                        # as the platform does: list answers for a gateway that asks for them
                        answer = (
                            encode_answers([ack.to_json()])[0] if MQTT_BATCHED_ACKS in properties else ack.to_json()
                        )
                        self.answer_messages += 1
                        await client.publish(MQTT_ACK_TOPIC.format(gateway=gateway), answer, qos=1)
            except aiomqtt.MqttError:
                self.connected.clear()
                # A disconnect noticed inside publish() leaves aiomqtt's own future unread (asyncio warns).
                disconnected = client._disconnected
                if disconnected.done() and not disconnected.cancelled():
                    disconnected.exception()
                await asyncio.sleep(0.2)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected.clear()
