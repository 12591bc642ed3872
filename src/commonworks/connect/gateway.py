"""The gateway runner: connectors → memory → disk buffer → platform, with the platform's Ack as the only exit.

Three things run side by side on one event loop:

* the **connectors**, which hand samples to :meth:`Gateway.emit` (non-blocking: a list append) —
  one by one or as a :class:`~commonworks.connect.samples.Block` of columns;
* the **flusher**, which moves the in-memory samples to the on-disk buffer every
  ``batch.max_delay_ms`` or as soon as ``batch.max_samples`` are waiting;
* the **sender**, which keeps sending the *oldest* queued batches through the transport
  and deletes a batch from the buffer only when the platform's Ack for it arrives — so
  after an outage the backlog drains in order while live data keeps being appended
  behind it, and a sample leaves the gateway only once the platform has committed it.

All SQLite work and batch encoding run in one worker thread (so a slow disk or a big
backlog never stalls device reads) and in submission order (so the queue order is the
emit order). Memory stays bounded whatever the poll rate without losing anything: the
in-memory list is flushed continually, and should the disk fall behind, the connectors
are held back (backpressure: :meth:`Gateway.room`, awaited by every connector between
reads — a poller polls later, an MQTT connector stops reading its socket so the broker
holds the messages) until the disk has caught up. Only the bounded disk queue ever drops
samples (the oldest, counted and logged).

SIGTERM/SIGINT (see :func:`serve`) stop the connectors, flush what is in memory to disk
and close; unacknowledged batches simply stay queued for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from commonworks.connect.base import Backoff, Connector, cancel_all, now_ms
from commonworks.connect.buffer import SampleBuffer
from commonworks.connect.config import ConfigError, GatewayConfig, load_protocol
from commonworks.connect.protocol import encode_columns
from commonworks.connect.samples import Block, Sample
from commonworks.connect.transport import BatchRejected, BatchTooLarge, Transport, TransportError, make_transport
from commonworks.process import tune_gc

log = logging.getLogger("commonworks.connect.gateway")

T = TypeVar("T")

_CONNECTOR_STOP_GRACE_S = 5.0
_MAX_LOGGED_REJECTIONS = 1000  # distinct (tag, reason) pairs logged once each; then only counted


@dataclass(slots=True)
class _Encoded:
    batch_id: str
    body: bytes
    samples: int
    repeated: int = 0  # samples left out because their (tag, ts) came earlier in the batch


@dataclass
class SenderStats:
    batches: int = 0
    samples: int = 0
    duplicates: int = 0
    rejected_batches: int = 0
    rejected_samples: int = 0  # samples the platform refused inside an acked batch (unknown tag, bad value)
    repeated_samples: int = 0  # left out of acked batches: the same (tag, ts) came earlier in the batch
    last_ack_ms: int | None = None
    last_error: str | None = None
    outage_since_ms: int | None = None


class Gateway:
    """One running gateway; :meth:`run` until ``stop`` is set. :meth:`status` feeds the status endpoint."""

    def __init__(self, config: GatewayConfig, *, transport: Transport | None = None) -> None:
        self.config = config
        section = config.gateway
        self.key = section.key
        self.batch_max = section.batch.max_samples
        self.max_delay_s = section.batch.max_delay_ms / 1000
        platform = section.platform
        self.transport: Transport = transport or make_transport(
            platform.transport,
            platform.url,
            gateway_key=self.key,
            token=platform.token,
            timeout=platform.timeout_s,
            max_in_flight=platform.in_flight,
        )
        self.buffer: SampleBuffer | None = None
        self.rejected_dir = section.buffer.path.parent / "rejected"
        self.connectors: list[Connector] = []
        self.stats = SenderStats()
        self.started_ms = now_ms()
        self.status_port: int | None = None  # the bound port (useful when configured as an ephemeral one)
        # Samples emitted but not yet on disk, as the chunks the connectors emitted. Past the limit the
        # connectors are held back (see room()) so that a stalled disk cannot exhaust memory.
        self._pending: list[Sequence[Sample]] = []
        self._pending_count = 0
        self._pending_limit = max(10 * self.batch_max, 100_000)
        self._room = asyncio.Event()
        self._room.set()
        self.held_back = 0  # times a connector had to wait for room
        self.held_back_s = 0.0
        self._repeated_logged = False
        self._flush_now = asyncio.Event()
        self._queued = asyncio.Event()  # set after each append: the sender may have work
        self._disk_failing = False
        self._rejections_logged: set[tuple[str, str]] = set()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cw-buffer")

    # -- what connectors call ----------------------------------------------------------------

    def emit(self, samples: Sequence[Sample]) -> None:
        """Take samples (a list, or a :class:`Block`) from a connector, on the event loop; never blocks, never drops.

        Past the in-memory limit the samples are still taken — they are already in memory — but
        :meth:`room` makes the connectors wait before they read more.
        """
        count = len(samples)
        if not count:
            return
        self._pending.append(samples)
        self._pending_count += count
        if self._pending_count >= self.batch_max:
            self._flush_now.set()
        if self._pending_count >= self._pending_limit and self._room.is_set():
            self._room.clear()
            self._flush_now.set()

    def full(self) -> bool:
        """True while the connectors should wait before reading more (see :meth:`room`)."""
        return not self._room.is_set()

    async def room(self) -> None:
        """Return when the gateway can take more samples: connectors await it between reads (backpressure)."""
        if self._room.is_set():
            return
        self.held_back += 1
        if self.held_back == 1 or self.held_back % 1000 == 0:
            log.warning(
                "the buffer file is not keeping up (%s, %d samples in memory): holding the devices back "
                "(%d times so far)",
                self.config.gateway.buffer.path,
                self._pending_count,
                self.held_back,
            )
        started = time.monotonic()
        await self._room.wait()
        self.held_back_s += time.monotonic() - started

    # -- running -----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        section = self.config.gateway
        try:
            self.buffer = await self._io(
                SampleBuffer, section.buffer.path, gateway_key=self.key, max_samples=section.buffer.max_samples
            )
            try:
                await self._run(stop)
            finally:
                await self._io(self.buffer.close)
        finally:
            self._executor.shutdown(wait=True)

    async def _run(self, stop: asyncio.Event) -> None:
        assert self.buffer is not None
        self.connectors = self._build_connectors()
        if self.buffer.size():
            log.info("%d samples queued from an earlier run; sending them first", self.buffer.size())
        await self.transport.start()
        status_server = await self._start_status_server()
        connector_tasks = [asyncio.create_task(c.run(stop), name=f"connector {c.name}") for c in self.connectors]
        flusher = asyncio.create_task(self._supervised("flusher", self._flush_loop, stop), name="flusher")
        sender = asyncio.create_task(self._supervised("sender", self._send_loop, stop), name="sender")
        log.info(
            "gateway %s running: %d devices, sending to %s (%s)",
            self.key,
            len(self.connectors),
            self.transport.target,
            self.transport.kind,
        )
        try:
            await stop.wait()
        finally:
            await self._shutdown(connector_tasks, flusher, sender, status_server)

    async def _shutdown(
        self,
        connector_tasks: list[asyncio.Task[None]],
        flusher: asyncio.Task[None],
        sender: asyncio.Task[None],
        status_server: asyncio.Server | None,
    ) -> None:
        log.info("gateway %s stopping", self.key)
        if connector_tasks:
            _, late = await asyncio.wait(connector_tasks, timeout=_CONNECTOR_STOP_GRACE_S)
            for task in late:
                task.cancel()
            await asyncio.gather(*connector_tasks, return_exceptions=True)
        for task in (sender, flusher):
            task.cancel()
        await asyncio.gather(sender, flusher, return_exceptions=True)
        # Whatever the connectors emitted last goes to disk before we exit.
        await self._flush()
        await self.transport.close()
        if status_server is not None:
            status_server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(status_server.wait_closed(), timeout=2)
        assert self.buffer is not None
        log.info("gateway %s stopped; %d samples queued for the next start", self.key, self.buffer.size())

    def _build_connectors(self) -> list[Connector]:
        connectors: list[Connector] = []
        owners: dict[str, str] = {}
        for index, device in enumerate(self.config.devices):
            connector = load_protocol(device.protocol).CONNECTOR.from_config(device, self.emit)
            connector.backpressure = self
            for key in connector.tag_keys:
                # Config validation saw only declared tags; connectors may derive more keys.
                if key in owners and owners[key] != connector.name:
                    raise ConfigError(
                        self.config.source,
                        f"devices.{index}",
                        f"tag key {key!r} is already used by device {owners[key]!r}",
                    )
                owners[key] = connector.name
            connectors.append(connector)
        return connectors

    async def _supervised(self, name: str, loop: Callable[[asyncio.Event], Any], stop: asyncio.Event) -> None:
        """Keep a gateway task alive: a bug or an unexpected error must not silently stop the data flow."""
        while not stop.is_set():
            try:
                await loop(stop)
                return
            except Exception:
                log.exception("gateway task %s failed; restarting it", name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=5.0)

    async def _io(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run buffer work in the single worker thread (in order, off the event loop)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: function(*args, **kwargs))

    # -- memory → disk -----------------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        # Runs until cancelled, also after ``stop``: the shutdown does the last flush itself.
        while True:
            try:
                await asyncio.wait_for(self._flush_now.wait(), timeout=self.max_delay_s)
                everything = False
            except TimeoutError:
                everything = True
            self._flush_now.clear()
            if not await self._flush(everything=everything):
                await asyncio.sleep(1.0)  # the disk is failing: do not spin

    async def _flush(self, *, everything: bool = True) -> bool:
        """Append what is in memory to the buffer; False if the disk refused (samples kept in memory).

        The buffer gets blocks of ``batch.max_samples`` samples, so that at high rates each block
        is one whole batch (a batch that needs part of a block costs a split on disk). Unless
        ``everything`` (the periodic flush, the shutdown), a last part smaller than that waits in
        memory for more: it is the oldest part of the next block, written at most a flush later.
        """
        if not self._pending:
            return True
        assert self.buffer is not None
        blocks = _cut(self._pending, self.batch_max)
        keep: list[Sequence[Sample]] = []
        if not blocks:
            return True
        if not everything and sum(map(len, blocks[-1])) < self.batch_max:
            keep = blocks.pop()
            if not blocks:
                return True
        count = sum(len(chunk) for block in blocks for chunk in block)
        self._pending = keep
        self._pending_count -= count
        try:
            await self._io(self._append, blocks)
        except Exception as exc:  # disk full, I/O error: keep the samples and try again
            if not self._disk_failing:
                log.error(
                    "cannot write to the buffer %s: %s; holding samples in memory and the devices back",
                    self.buffer.path,
                    exc,
                )
                self._disk_failing = True
            self._pending[:0] = [chunk for block in blocks for chunk in block]
            self._pending_count += count
            if self._pending_count >= self._pending_limit:
                self._room.clear()
            return False
        if self._disk_failing:
            log.warning("writing to the buffer %s works again", self.buffer.path)
            self._disk_failing = False
        if self._pending_count < self._pending_limit:
            self._room.set()
        self._queued.set()
        return True

    def _append(self, blocks: list[list[Sequence[Sample]]]) -> None:
        """Worker thread: each list of emitted chunks as one block on disk (one transaction each)."""
        assert self.buffer is not None
        for chunks in blocks:
            if len(chunks) == 1:
                self.buffer.append(chunks[0])
                continue
            tags: list[str] = []
            ts: list[int] = []
            values: list[Any] = []
            for chunk in chunks:
                if isinstance(chunk, Block):
                    tags += chunk.tags
                    ts += chunk.ts
                    values += chunk.values
                else:
                    tags += [s.tag for s in chunk]
                    ts += [s.ts for s in chunk]
                    values += [s.value for s in chunk]
            self.buffer.append_columns(tags, ts, values)

    # -- disk → platform ---------------------------------------------------------------------

    def _next_batch(self, limit: int, after: str | None) -> _Encoded | None:
        assert self.buffer is not None
        batch = self.buffer.peek_columns(limit, after=after)
        if batch is None:
            return None
        encoded = encode_columns(batch.batch_id, batch.keys, batch.tags, batch.ts, batch.values)
        return _Encoded(batch.batch_id, encoded.body, encoded.samples, encoded.repeated)

    async def _send_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        limit = self.batch_max
        in_flight: dict[asyncio.Future[Any], _Encoded] = {}
        last_sent: str | None = None  # batch id of the newest batch handed to the transport
        # The batch after ``last_sent``, read and encoded while the platform commits the one in flight:
        # the gateway's share of a round trip then overlaps the platform's instead of adding to it.
        prefetch: asyncio.Future[_Encoded | None] | None = None
        # Acks being recorded in the worker thread. The next batch goes out without waiting for them: the worker
        # thread runs them in order before any later read of the buffer, and an ack lost to a crash only makes the
        # platform count that batch again as duplicates.
        recording: list[asyncio.Future[None]] = []
        try:
            while not stop.is_set():
                for future in [f for f in recording if f.done()]:
                    recording.remove(future)
                    future.result()  # a failing disk stops the loop here, as it did when awaited at once
                self._queued.clear()  # before peeking, so an append after the peek wakes us
                while len(in_flight) < self.transport.max_in_flight:
                    encoded = await prefetch if prefetch is not None else None
                    prefetch = None
                    if encoded is None:  # no prefetch, or it found nothing then: look again now
                        encoded = await self._io(self._next_batch, limit, last_sent)
                    if encoded is None:
                        break
                    last_sent = encoded.batch_id
                    in_flight[asyncio.create_task(self.transport.send(encoded.batch_id, encoded.body))] = encoded
                if in_flight and prefetch is None:
                    prefetch = asyncio.ensure_future(self._io(self._next_batch, limit, last_sent))
                waiters: set[asyncio.Future[Any]] = set(in_flight)
                if len(in_flight) < self.transport.max_in_flight:
                    waiters.add(asyncio.ensure_future(self._queued.wait()))
                waiters.add(asyncio.ensure_future(stop.wait()))
                done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                for waiter in waiters - set(in_flight):
                    waiter.cancel()
                failure: Exception | None = None
                for task in done:
                    encoded_done = in_flight.pop(task, None)
                    if encoded_done is None:
                        continue
                    try:
                        ack = task.result()
                    except BatchTooLarge as exc:
                        if encoded_done.samples > 1:
                            limit = max(1, encoded_done.samples // 2)
                            log.warning(
                                "platform refuses batches of %d samples (%s); sending %d at a time",
                                encoded_done.samples,
                                exc.reason,
                                limit,
                            )
                            failure = failure or exc
                        else:
                            await self._io(self._reject, encoded_done, exc)
                    except BatchRejected as exc:
                        await self._io(self._reject, encoded_done, exc)
                    except TransportError as exc:
                        failure = failure or exc
                    else:
                        recording.append(asyncio.ensure_future(self._io(self._acked, encoded_done, ack)))
                        backoff.reset()
                if failure is not None:
                    # Start again from the oldest unacked sample after a pause; what is still in flight
                    # is abandoned (a late commit of it makes a harmless duplicate on resend).
                    await cancel_all([*in_flight, *([prefetch] if prefetch else [])])
                    in_flight.clear()
                    prefetch = None
                    last_sent = None
                    if not isinstance(failure, BatchTooLarge):
                        self._note_outage(failure)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), timeout=backoff.next_delay())
        finally:
            await cancel_all([*in_flight, *([prefetch] if prefetch else [])])
            await asyncio.gather(*recording, return_exceptions=True)

    def _note_outage(self, failure: Exception) -> None:
        self.stats.last_error = str(failure)
        if self.stats.outage_since_ms is None:
            self.stats.outage_since_ms = now_ms()
            queued = self.buffer.size() if self.buffer else 0
            log.warning(
                "cannot deliver to the platform (%s): %s; %d samples queued, retrying with back-off",
                self.transport.target,
                failure,
                queued,
            )

    def _acked(self, encoded: _Encoded, ack: Any) -> None:
        """Worker thread: the platform committed the batch, so it leaves the buffer."""
        assert self.buffer is not None
        self.buffer.ack(encoded.batch_id)
        stats = self.stats
        stats.batches += 1
        stats.samples += encoded.samples
        stats.duplicates += ack.duplicates
        stats.last_ack_ms = now_ms()
        if encoded.repeated:
            stats.repeated_samples += encoded.repeated
            if not self._repeated_logged:
                self._repeated_logged = True
                log.warning(
                    "batch %s held %d samples whose (tag, ts) came earlier in the same batch: sent once, "
                    "the first value kept (further ones only counted, see repeated_samples in the status)",
                    encoded.batch_id,
                    encoded.repeated,
                )
        if stats.outage_since_ms is not None:
            log.warning(
                "delivering to the platform again after %.0f s; %d samples still queued",
                (stats.last_ack_ms - stats.outage_since_ms) / 1000,
                self.buffer.size(),
            )
            stats.outage_since_ms = None
            stats.last_error = None
        if ack.rejected:
            stats.rejected_samples += len(ack.rejected)
            for rejection in ack.rejected:
                pair = (rejection.tag, rejection.reason)
                if pair not in self._rejections_logged and len(self._rejections_logged) < _MAX_LOGGED_REJECTIONS:
                    self._rejections_logged.add(pair)
                    log.warning(
                        "platform rejected samples of tag %r: %s (further ones only counted)",
                        rejection.tag,
                        rejection.reason,
                    )

    def _reject(self, encoded: _Encoded, exc: BatchRejected) -> None:
        """Worker thread: keep a permanently rejected batch on disk for diagnosis, then let the queue move on."""
        assert self.buffer is not None
        self.rejected_dir.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9._-]", "_", encoded.batch_id)
        body_path = self.rejected_dir / f"{stem}.json.gz"
        body_path.write_bytes(encoded.body)
        reason = {
            "batch_id": encoded.batch_id,
            "samples": encoded.samples,
            "status": exc.status,
            "reason": exc.reason,
            "rejected_at_ms": now_ms(),
            "target": self.transport.target,
        }
        (self.rejected_dir / f"{stem}.reason.json").write_bytes(orjson.dumps(reason, option=orjson.OPT_INDENT_2))
        self.buffer.ack(encoded.batch_id)
        self.stats.rejected_batches += 1
        log.error(
            "platform REJECTED batch %s (%d samples): %s — kept in %s; the queue moves on",
            encoded.batch_id,
            encoded.samples,
            exc.reason,
            body_path,
        )

    # -- status ------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """The status document (JSON-ready)."""
        stats = self.stats
        now = now_ms()
        return {
            "gateway": self.key,
            "time_ms": now,
            "uptime_s": round((now - self.started_ms) / 1000, 1),
            "queue_size": self.buffer.size() if self.buffer else 0,
            "dropped": self.buffer.dropped() if self.buffer else 0,
            "in_memory": self._pending_count,
            "held_back": self.held_back,
            "held_back_s": round(self.held_back_s, 1),
            "buffer_path": str(self.config.gateway.buffer.path),
            "buffer_max_samples": self.config.gateway.buffer.max_samples,
            "sent_batches": stats.batches,
            "sent_samples": stats.samples,
            "duplicates": stats.duplicates,
            "rejected_batches": stats.rejected_batches,
            "rejected_samples": stats.rejected_samples,
            "repeated_samples": stats.repeated_samples,
            "last_ack_ms": stats.last_ack_ms,
            "outage_since_ms": stats.outage_since_ms,
            "last_error": stats.last_error,
            "transport": self.transport.diagnostics(),
            "devices": [c.diagnostics() for c in self.connectors],
        }

    async def _start_status_server(self) -> asyncio.Server | None:
        settings = self.config.gateway.status
        if not settings.port:
            return None
        try:
            server = await asyncio.start_server(self._answer_status, settings.host, settings.port)
        except OSError as exc:
            # Collecting data matters more than showing it: run on without the endpoint.
            log.error("status endpoint not started on %s:%d: %s", settings.host, settings.port, exc)
            return None
        self.status_port = server.sockets[0].getsockname()[1]
        log.info("status at http://%s:%d/status", settings.host, self.status_port)
        return server

    async def _answer_status(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A deliberately tiny HTTP/1.1 responder: GET /status → JSON; one request per connection."""
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            for _ in range(100):  # skip the headers; none of them matter here
                line = await asyncio.wait_for(reader.readline(), timeout=5)
                if line in (b"\r\n", b"\n", b""):
                    break
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
            if method not in ("GET", "HEAD"):
                status, body = "405 Method Not Allowed", b'{"error":"only GET"}'
            elif path in ("/status", "/"):
                status, body = "200 OK", orjson.dumps(self.status())
            else:
                status, body = "404 Not Found", b'{"error":"try GET /status"}'
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            ).encode()
            writer.write(head if method == "HEAD" else head + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _cut(chunks: list[Sequence[Sample]], size: int) -> list[list[Sequence[Sample]]]:
    """Emitted chunks regrouped into lists of ``size`` samples each (the last one may hold fewer); in order."""
    blocks: list[list[Sequence[Sample]]] = [[]]
    room = size
    for chunk in chunks:
        while len(chunk) > room:
            head, chunk = _split_chunk(chunk, room)
            blocks[-1].append(head)
            blocks.append([])
            room = size
        if chunk:
            blocks[-1].append(chunk)
            room -= len(chunk)
            if room == 0:
                blocks.append([])
                room = size
    if not blocks[-1]:
        blocks.pop()
    return blocks


def _split_chunk(chunk: Sequence[Sample], at: int) -> tuple[Sequence[Sample], Sequence[Sample]]:
    if isinstance(chunk, Block):
        return (
            Block(chunk.tags[:at], chunk.ts[:at], chunk.values[:at]),
            Block(chunk.tags[at:], chunk.ts[at:], chunk.values[at:]),
        )
    return chunk[:at], chunk[at:]


async def run_gateway(config: GatewayConfig, stop: asyncio.Event) -> None:
    """Run a gateway until ``stop`` is set; on the way out, what is in memory is flushed to disk."""
    await Gateway(config).run(stop)


async def serve(config: GatewayConfig) -> None:
    """Run until SIGTERM or SIGINT (a second one exits at once; the buffer keeps what was committed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            log.warning("second %s: exiting now", signal.Signals(signum).name)
            os._exit(1)
        log.info("%s received: flushing and stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    tune_gc()
    try:
        await run_gateway(config, stop)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def _ago(ms: int | None, now: int) -> str:
    if ms is None:
        return "never"
    seconds = max(0.0, (now - ms) / 1000)
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def status_text(doc: dict[str, Any]) -> str:
    """The status document as a few lines of plain text (for logs, scripts, non-TTY output)."""
    now = doc.get("time_ms") or int(time.time() * 1000)
    transport = doc.get("transport", {})
    lines = [
        f"gateway {doc.get('gateway')}  up {doc.get('uptime_s', 0):.0f} s",
        f"platform  {transport.get('kind')} {transport.get('target')}  {transport.get('state')}"
        + (f"  ({doc['last_error']})" if doc.get("last_error") else ""),
        f"queue     {doc.get('queue_size', 0):,} samples on disk, {doc.get('in_memory', 0):,} in memory",
        f"dropped   {doc.get('dropped', 0):,} (buffer full); devices held back {doc.get('held_back', 0):,} times "
        f"({doc.get('held_back_s', 0):,.1f} s, disk too slow)",
        f"sent      {doc.get('sent_batches', 0):,} batches, {doc.get('sent_samples', 0):,} samples; "
        f"last ack {_ago(doc.get('last_ack_ms'), now)}",
        f"rejected  {doc.get('rejected_batches', 0):,} batches, {doc.get('rejected_samples', 0):,} samples",
        f"repeated  {doc.get('repeated_samples', 0):,} samples sent once (same tag and ts twice in a batch)",
    ]
    if doc.get("outage_since_ms"):
        lines.append(f"outage    since {_ago(doc['outage_since_ms'], now)}")
    devices = doc.get("devices", [])
    lines.append(f"devices   {len(devices)}")
    for device in devices:
        state = "available" if device.get("available") else "UNAVAILABLE"
        line = (
            f"  {device.get('name')} ({device.get('protocol')}): {state}, {device.get('tags', 0)} tags, "
            f"{device.get('samples_read', 0):,} samples, last value {_ago(device.get('last_value_ms'), now)}"
        )
        if device.get("last_error") and not device.get("available"):
            line += f" — {device['last_error']}"
        lines.append(line)
    return "\n".join(lines)


def rejected_files(buffer_path: Path) -> list[Path]:
    """Batches the platform rejected, kept next to the buffer (newest last)."""
    folder = buffer_path.parent / "rejected"
    return sorted(folder.glob("*.json.gz"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
