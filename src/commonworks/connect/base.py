"""The contract every protocol connector follows, and the availability bookkeeping they share.

A connector owns its device connection: it connects, reads (subscribes or polls), hands
samples to ``emit`` (a list of :class:`Sample`, or a :class:`Block` of columns when it reads
many values at once) and, when the device goes away, marks itself unavailable, logs that
once (not once a poll), emits stale markers for its tags, and reconnects with exponential
back-off until ``stop`` is set. Between reads it awaits :meth:`Connector.room`, which
returns at once unless the gateway's disk stage is behind (backpressure: the connector then
reads later instead of the gateway dropping what it read). ``diagnostics()`` feeds the
gateway's status endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from commonworks.connect.samples import Block, Sample

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

    def __init__(self, name: str, emit: Emit, tag_keys: Sequence[str]) -> None:
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

    @abstractmethod
    async def session(self, stop: asyncio.Event) -> None:
        """Connect and read until ``stop`` is set or the connection fails (raise)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Run sessions until ``stop``; each failure marks the device unavailable and backs off."""
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
        self.emit(samples)

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
        }
