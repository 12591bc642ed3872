"""The contract every protocol connector follows, and the availability bookkeeping they share.

A connector owns its device connection: it connects, reads (subscribes or polls), hands
samples to ``emit`` (a list of :class:`Sample`, or a :class:`Block` of columns when it reads
many values at once) and, when the device goes away, marks itself unavailable, logs that
once (not once a poll), emits stale markers for its tags, and reconnects with exponential
back-off until ``stop`` is set. Between reads it awaits :meth:`Connector.room`, which
returns at once unless the gateway's disk stage is behind (backpressure: the connector then
reads later instead of the gateway dropping what it read). ``diagnostics()`` feeds the
gateway's status endpoint.

Re-sending unchanged values (``republish_s``, off unless a connector is given a period): a
device read by exception (an OPC UA subscription, MQTT JSON) sends nothing while nothing
changes, and the platform cannot tell that silence from a dead connection — it takes a gap
longer than its offline timeout for ``offline``. So while :meth:`Connector.alive` says the
connection is healthy, the last value of each tag that has not been sent for ``republish_s``
seconds is sent again, stamped with the current time (on the device's clock where the
connector knows its offset, and always after the value it repeats). Nothing is re-sent for
a device that is unavailable, nor for a tag whose last sample was a stale marker (bad
quality, a lost connection): silence from a dead connection still reads as offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, Protocol

from commonworks.connect.samples import Block, Sample, Value

Emit = Callable[[Sequence[Sample]], None]
"""Hands samples (a list or a :class:`Block`) to the gateway; non-blocking, called from the gateway's event loop."""


class Backpressure(Protocol):
    """What the gateway offers its connectors so that a slow disk holds them back instead of costing samples."""

    def full(self) -> bool:
        """True while the gateway holds as many samples in memory as it should."""

    async def room(self) -> None:
        """Return once the gateway can take more samples."""


async def cancel_all(tasks: Sequence[asyncio.Future[Any]]) -> None:
    """Cancel tasks and wait until they have ended, whatever they raised."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Backoff:
    """Exponential back-off with a ceiling: 0.5 s, 1 s, 2 s … 30 s; reset after success."""

    initial: float = 0.5
    maximum: float = 30.0
    current: float = field(default=0.0, init=False)

    def next_delay(self) -> float:
        self.current = self.initial if self.current == 0 else min(self.current * 2, self.maximum)
        return self.current

    def reset(self) -> None:
        self.current = 0.0


class Connector(ABC):
    """Base class: subclasses implement :meth:`session` (one connected lifetime)."""

    protocol: str = "?"

    def __init__(self, name: str, emit: Emit, tag_keys: Sequence[str], *, republish_s: float = 0.0) -> None:
        self.name = name
        self.emit = emit
        self.tag_keys = list(tag_keys)
        self.log = logging.getLogger(f"commonworks.connect.{self.protocol}.{name}")
        self.available = False
        self.backoff = Backoff()
        self.samples_read = 0
        self.errors = 0
        self.reconnects = 0
        self.last_value_ms: int | None = None
        self.last_error: str | None = None
        self._unavailable_logged = False
        self.backpressure: Backpressure | None = None  # set by the gateway
        self.republish_s = republish_s  # 0 = never re-send unchanged values
        self.republished = 0
        self.clock_offset_ms = 0  # the device's clock minus the gateway's, where the connector can tell
        # tag → (monotonic time it was last sent, its timestamp, its value; None after a stale marker)
        self._held: dict[str, tuple[float, int, Value]] = {}
        self._republish_failed = False

    @abstractmethod
    async def session(self, stop: asyncio.Event) -> None:
        """Connect and read until ``stop`` is set or the connection fails (raise)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until ``stop``; each failure marks the device unavailable and backs off."""
        republisher = asyncio.create_task(self._republish_loop()) if self.republish_s > 0 else None
        try:
            while not stop.is_set():
                try:
                    await self.session(stop)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a device fault must never end the gateway
                    self.errors += 1
                    self.mark_unavailable(f"{type(exc).__name__}: {exc}")
                if stop.is_set():
                    break
                delay = self.backoff.next_delay()
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    self.reconnects += 1
        finally:
            if republisher is not None:
                await cancel_all([republisher])

    def alive(self) -> bool:
        """True while the device's connection is known to be healthy: what re-sending unchanged values needs.

        By default that is :attr:`available`; a connector that sees its session's keep-alives narrows it.
        """
        return self.available

    def held_back(self) -> bool:
        """True while the gateway wants this connector to wait before it reads more (see :meth:`room`)."""
        return self.backpressure is not None and self.backpressure.full()

    async def room(self) -> None:
        """Wait until the gateway can take more samples (at once, unless its disk stage is behind)."""
        if self.backpressure is not None and self.backpressure.full():
            await self.backpressure.room()

    def publish(self, samples: Sequence[Sample]) -> None:
        """Emit samples (a list or a :class:`Block`) and record that the device is alive."""
        if not samples:
            return
        if not self.available:
            self.mark_available()
        self.samples_read += len(samples)
        newest = max(samples.ts) if isinstance(samples, Block) else max(s.ts for s in samples)
        if self.last_value_ms is None or newest > self.last_value_ms:
            self.last_value_ms = newest
        if self.republish_s > 0:
            self._hold(samples)
        self.emit(samples)

    # -- re-sending unchanged values -------------------------------------------------------------

    def _hold(self, samples: Sequence[Sample]) -> None:
        """Remember each tag's newest value and when it was sent (a stale marker's ``None`` is never re-sent).

        A block (hundreds of Sparkplug metrics per message) is taken in one ``dict.update``: no Python step per
        sample on the hot path; :meth:`republish_due` scans the few thousand tags once per tick instead.
        """
        sent = time.monotonic()
        if isinstance(samples, Block):
            self._held.update(zip(samples.tags, zip(repeat(sent), samples.ts, samples.values)))  # noqa: B905 - repeat() is endless
            return
        held = self._held
        for sample in samples:  # the per-value path of OPC UA and MQTT: kept lean
            held[sample.tag] = (sent, sample.ts, sample.value)

    def republish_due(self) -> int:
        """Send again every held value not sent for ``republish_s`` seconds, if the device is alive; returns how many.

        Each is stamped with the current time on the device's clock (the gateway's plus :attr:`clock_offset_ms`),
        and never at or before the timestamp of the value it repeats. Nothing is sent while the gateway holds its
        devices back (the values wait for the next tick).
        """
        if not self._held or not self.alive() or self.held_back():
            return 0
        now = time.monotonic()
        cutoff = now - self.republish_s
        due = [(tag, ts, value) for tag, (sent, ts, value) in self._held.items()
               if sent <= cutoff and value is not None]
        if not due:
            return 0
        wall = now_ms() + self.clock_offset_ms
        tags, stamps, values = [], [], []
        for tag, ts, value in due:
            stamp = max(wall, ts + 1)
            self._held[tag] = (now, stamp, value)
            tags.append(tag)
            stamps.append(stamp)
            values.append(value)
        self.republished += len(tags)
        self.emit(Block(tags, stamps, values))
        return len(tags)

    async def _republish_loop(self) -> None:
        tick = min(1.0, self.republish_s / 4)
        while True:
            await asyncio.sleep(tick)
            try:
                self.republish_due()
            except Exception:  # never end re-sending over one bad tick; say so once
                if not self._republish_failed:
                    self._republish_failed = True
                    self.log.exception("%s: re-sending unchanged values failed", self.name)

    def mark_available(self) -> None:
        if not self.available and self._unavailable_logged:
            self.log.warning("%s is available again", self.name)
        self.available = True
        self._unavailable_logged = False
        self.backoff.reset()

    def mark_unavailable(self, reason: str, tags: Sequence[str] | None = None) -> None:
        """Mark the device unavailable; log once; its tags become stale (not zero)."""
        self.last_error = reason
        was_available = self.available
        self.available = False
        if not self._unavailable_logged:
            self.log.warning("%s is unavailable: %s", self.name, reason)
            self._unavailable_logged = True
        if tags is None:
            self._held.clear()
        else:
            for tag in tags:
                self._held.pop(tag, None)
        if was_available:
            ts = now_ms()
            self.emit([Sample(tag=t, ts=ts, value=None) for t in (tags if tags is not None else self.tag_keys)])

    def diagnostics(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "protocol": self.protocol,
            "available": self.available,
            "samples_read": self.samples_read,
            "errors": self.errors,
            "reconnects": self.reconnects,
            "last_value_ms": self.last_value_ms,
            "last_error": self.last_error,
            "tags": len(self.tag_keys),
            "republish_s": self.republish_s,
            "republished": self.republished,
        }
