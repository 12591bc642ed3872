"""A test-only protocol: a synthetic device that counts, so every sample it emits is known.

Tick n emits ``Sample(tag, start_ts + n, n)`` for every tag, ``rate`` ticks a second; at the
ticks listed in ``repeat_ticks`` every sample comes twice in the same emit, the repeat with value
``-n`` (a device that sends the same (tag, ts) twice). Between ticks it awaits the gateway's
room, as every connector does. Import
this module (or register it by its dotted path, :data:`SUBPROCESS_MODULE`, in a gateway
subprocess) to make protocol ``counter`` available to gateway configs.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from commonworks.connect.base import Connector, Emit
from commonworks.connect.config import register_protocol
from commonworks.connect.samples import Sample

START_TS = 1_795_770_000_000
SUBPROCESS_MODULE = "tests.connect.counter"


class CounterTag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    address: int = Field(ge=0)


class CounterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    protocol: Literal["counter"]
    name: str
    rate: float = Field(100.0, gt=0, description="ticks per second")
    ticks: int | None = Field(None, description="stop emitting after this many ticks")
    repeat_ticks: list[int] = Field(default_factory=list, description="ticks whose samples come twice")
    start_ts: int = START_TS
    tags: list[CounterTag]


class CounterConnector(Connector):
    """Emits tick n as Sample(tag, start_ts + n, n) for every tag, ``rate`` ticks a second."""

    protocol = "counter"

    def __init__(self, config: CounterConfig, emit: Emit) -> None:
        super().__init__(config.name, emit, [t.key for t in config.tags])
        self.config = config
        self.tick = 0

    @classmethod
    def from_config(cls, config: CounterConfig, emit: Emit) -> CounterConnector:
        return cls(config, emit)

    async def session(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        interval = 1 / self.config.rate
        next_at = loop.time()
        while not stop.is_set() and (self.config.ticks is None or self.tick < self.config.ticks):
            ts = self.config.start_ts + self.tick
            samples = [Sample(key, ts, self.tick) for key in self.tag_keys]
            if self.tick in self.config.repeat_ticks:
                samples += [Sample(key, ts, -self.tick) for key in self.tag_keys]
            self.publish(samples)
            self.tick += 1
            await self.room()
            next_at += interval
            delay = next_at - loop.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        await stop.wait()


DEVICE_CONFIG = CounterConfig
CONNECTOR = CounterConnector
register_protocol("counter", __name__)


def counter_device(
    name: str,
    tags: int,
    *,
    rate: float = 200,
    ticks: int | None = None,
    start_ts: int = START_TS,
    repeat_ticks: list[int] | None = None,
) -> dict[str, Any]:
    return {
        "protocol": "counter",
        "name": name,
        "rate": rate,
        "ticks": ticks,
        "start_ts": start_ts,
        "repeat_ticks": repeat_ticks or [],
        "tags": [{"key": f"{name}.t{i}", "address": i} for i in range(tags)],
    }
