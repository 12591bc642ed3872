"""Modbus TCP connector: polls register blocks of one device and turns them into platform samples.

Supported: Modbus TCP through pymodbus 3.16 (``AsyncModbusTcpClient``); holding and input registers, coils and
discrete inputs; tag types int16, uint16, int32, uint32, float32 and bool (a coil, a discrete input or one bit of a
register); word and byte order per tag; ``value = raw * scale + offset``. Each configured block is read with ONE
request per interval however many tags it carries (adjacent registers cost one round trip), and every tag of the block
is decoded from that response by decoders compiled once at start-up. Every poll is emitted (the platform dedupes on
(tag, ts)); the timestamp is the time the response arrived, kept strictly increasing per block: a poll that runs late
is followed at once by the next, and two responses within one millisecond must not share a (tag, ts), or the platform
would keep only one of them. An exception response or I/O error on one block is counted, logged once until the block
recovers, marks that block's tags stale and never stops the other blocks; a lost connection ends the session so the
base class marks the device unavailable and reconnects with back-off. Not supported: Modbus RTU/ASCII or RTU-over-TCP,
writes, 64-bit and string types, per-tag deadbands, more than one unit id per device entry (add a device entry per
unit).
"""

from __future__ import annotations

import asyncio
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from commonworks.connect.base import Connector, Emit, cancel_all, now_ms
from commonworks.connect.samples import Sample, TagKey, Value

Kind = Literal["holding", "input", "coil", "discrete"]
DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "bool"]
Order = Literal["big", "little"]

REGISTER_KINDS: frozenset[str] = frozenset({"holding", "input"})
MAX_REGISTERS = 125  # per read request, Modbus application protocol spec
MAX_BITS = 2000
_WIDTH: dict[str, int] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "bool": 1}
_STRUCT: dict[str, struct.Struct] = {
    "int16": struct.Struct(">h"),
    "uint16": struct.Struct(">H"),
    "int32": struct.Struct(">i"),
    "uint32": struct.Struct(">I"),
    "float32": struct.Struct(">f"),
}


class ModbusBlock(BaseModel):
    """A run of adjacent addresses read in one request every ``interval_ms``."""

    model_config = ConfigDict(extra="forbid")

    kind: Kind
    start: int = Field(ge=0, le=65535, description="0-based protocol address (holding 40001 is start 0)")
    count: int = Field(ge=1, description="registers (≤ 125) or bits (≤ 2000)")
    interval_ms: int = Field(default=1000, ge=10, le=3_600_000)

    @model_validator(mode="after")
    def _check_size(self) -> ModbusBlock:
        limit = MAX_REGISTERS if self.kind in REGISTER_KINDS else MAX_BITS
        if self.count > limit:
            raise ValueError(f"a {self.kind} block reads at most {limit} per request, not {self.count}")
        if self.start + self.count > 65536:
            raise ValueError(f"block {self.kind} {self.start}+{self.count} runs past address 65535")
        return self

    @property
    def end(self) -> int:
        """Last address in the block (inclusive)."""
        return self.start + self.count - 1


class ModbusTag(BaseModel):
    """One platform tag decoded from a block: ``value = raw * scale + offset``."""

    model_config = ConfigDict(extra="forbid")

    key: TagKey
    kind: Kind
    address: int = Field(ge=0, le=65535)
    type: DataType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    bit: int | None = Field(default=None, ge=0, le=15, description="bit inside a register, 0 = least significant")
    unit: str | None = Field(default=None, max_length=32, description="UCUM unit, e.g. Cel, s, mm/min")

    @model_validator(mode="after")
    def _check_type(self) -> ModbusTag:
        if self.kind not in REGISTER_KINDS:
            if self.type != "bool":
                raise ValueError(f"tag {self.key!r}: a {self.kind} is a bit, its type must be bool")
            if self.bit is not None:
                raise ValueError(f"tag {self.key!r}: bit applies to registers, not to a {self.kind}")
        elif self.type == "bool" and self.bit is None:
            raise ValueError(f"tag {self.key!r}: a bool in a {self.kind} register needs bit (0-15)")
        elif self.bit is not None and self.type != "bool":
            raise ValueError(f"tag {self.key!r}: bit is only for type bool, not {self.type}")
        if self.type == "bool" and (self.scale != 1 or self.offset != 0):
            raise ValueError(f"tag {self.key!r}: scale and offset do not apply to bool")
        if self.scale == 0 or not math.isfinite(self.scale) or not math.isfinite(self.offset):
            raise ValueError(f"tag {self.key!r}: scale must be finite and non-zero, offset finite")
        return self

    @property
    def width(self) -> int:
        """Registers (or bits) the tag occupies."""
        return _WIDTH[self.type] if self.kind in REGISTER_KINDS else 1


class ModbusDeviceConfig(BaseModel):
    """A Modbus TCP device: where it is, which blocks to poll, which tags to decode from them."""

    model_config = ConfigDict(extra="forbid")

    protocol: Literal["modbus"]
    name: str = Field(min_length=1, max_length=100)
    host: str = Field(min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    device_id: int = Field(default=1, ge=0, le=255, description="Modbus unit id")
    timeout_s: float = Field(default=3.0, gt=0, le=60)
    blocks: list[ModbusBlock] = Field(min_length=1)
    tags: list[ModbusTag] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_tags(self) -> ModbusDeviceConfig:
        seen: set[str] = set()
        for tag in self.tags:
            if tag.key in seen:
                raise ValueError(f"tag {tag.key!r} appears more than once")
            seen.add(tag.key)
            if block_for(tag, self.blocks) is None:
                last = tag.address + tag.width - 1
                raise ValueError(
                    f"tag {tag.key!r} ({tag.kind} {tag.address}..{last}) is not inside any {tag.kind} "
                    "block; add a block or widen one"
                )
        return self


def block_for(tag: ModbusTag, blocks: Sequence[ModbusBlock]) -> int | None:
    """Index of the first block of the tag's kind that holds all of the tag's registers, else None."""
    for i, block in enumerate(blocks):
        if block.kind == tag.kind and block.start <= tag.address and tag.address + tag.width - 1 <= block.end:
            return i
    return None


# --- decoding (pure) -----------------------------------------------------------------------------------------------


def _swap16(word: int) -> int:
    return ((word & 0xFF) << 8) | (word >> 8)


def _shortest_float32(x: float) -> float:
    """The shortest decimal that is the same float32, so 3.14 reads as 3.14 and not 3.140000104904175."""
    if not math.isfinite(x):
        return x
    packed = _STRUCT["float32"].pack(x)
    for digits in (6, 7, 8):
        candidate = float(f"{x:.{digits}g}")
        if _STRUCT["float32"].pack(candidate) == packed:
            return candidate
    return float(f"{x:.9g}")  # nine significant digits always identify a float32


Decoder = Callable[[Sequence[int] | Sequence[bool], int], Value | None]
"""``decoder(block_values, index)`` → the tag's value from the block's registers/bits starting at ``index``."""


def compile_decoder(tag: ModbusTag) -> Decoder:
    """Precompute everything about a tag once, so decoding a poll is a few integer operations per tag."""
    if tag.kind not in REGISTER_KINDS:
        return lambda values, i: bool(values[i])
    if tag.bit is not None:
        mask = 1 << tag.bit
        return lambda values, i: bool(int(values[i]) & mask)

    width = _WIDTH[tag.type]
    unpack = _STRUCT[tag.type].unpack
    words = struct.Struct(f">{width}H").pack
    swap_words = tag.word_order == "little" and width > 1
    swap_bytes = tag.byte_order == "little"
    is_float = tag.type == "float32"
    identity = tag.scale == 1 and tag.offset == 0
    # Dividing by 10 rounds 2153 → 215.3 exactly, multiplying by 0.1 gives 215.29999999999998.
    inverse = 1 / tag.scale
    divisor = round(inverse) if abs(inverse - round(inverse)) < 1e-9 and abs(inverse) >= 1 else None
    scale, offset = tag.scale, tag.offset
    # Likewise (2153 - 2000) / 10 is 15.3 where 2153 / 10 - 200 is 15.300000000000011.
    shifted = offset * divisor if divisor is not None else 0.0
    if abs(shifted - round(shifted)) < 1e-6:
        shifted = round(shifted)

    def decode_registers(values: Sequence[int] | Sequence[bool], i: int) -> Value | None:
        regs = [int(v) for v in values[i : i + width]]
        if swap_words:
            regs.reverse()
        if swap_bytes:
            regs = [_swap16(r) for r in regs]
        raw: int | float = unpack(words(*regs))[0]
        if is_float:
            if not math.isfinite(raw):
                return None  # NaN/inf is "no reading", not a value
            raw = _shortest_float32(raw)
        if identity:
            return raw
        if divisor is not None:
            return (raw + shifted) / divisor
        return raw * scale + offset

    return decode_registers


def decode(registers: Sequence[int] | Sequence[bool], tag: ModbusTag) -> Value | None:
    """The tag's value from its own registers (or bit), first register first as read from the device.

    ``byte_order`` is the order of the two bytes inside each register, ``word_order`` the order of the registers.
    float32 3.14 (0x4048F5C3) by order (word/byte):

    - big/big: ``[0x4048, 0xF5C3]``   - little/big: ``[0xF5C3, 0x4048]``
    - big/little: ``[0x4840, 0xC3F5]``   - little/little: ``[0xC3F5, 0x4840]``

    >>> t = ModbusTag(key="t", kind="holding", address=0, type="float32")
    >>> decode([0x4048, 0xF5C3], t)
    3.14
    >>> decode([0xF5C3, 0x4048], t.model_copy(update={"word_order": "little"}))
    3.14
    >>> decode([0x0001, 0x86A0], ModbusTag(key="n", kind="holding", address=0, type="uint32"))  # 100000
    100000
    >>> decode([0xFF38], ModbusTag(key="c", kind="input", address=0, type="int16", scale=0.1))  # -200 × 0.1
    -20.0
    >>> decode([0x0869], ModbusTag(key="c", kind="holding", address=0, type="int16", scale=0.1, offset=-200))
    15.3
    >>> decode([0b0100], ModbusTag(key="b", kind="holding", address=0, type="bool", bit=2))
    True

    Returns None for a float32 NaN or infinity (no reading).
    """
    return compile_decoder(tag)(registers, 0)


def encode(value: float | int | bool, tag: ModbusTag) -> list[int]:
    """The registers (or ``[0|1]`` for a bit kind) that :func:`decode` turns back into ``value``.

    A bool with ``bit`` encodes as a register with only that bit set; OR it with the other bits of the register.
    Raises ValueError if the raw value does not fit the type.

    >>> encode(3.14, ModbusTag(key="t", kind="holding", address=0, type="float32", byte_order="little"))
    [18496, 50165]
    """
    if tag.kind not in REGISTER_KINDS:
        return [1 if value else 0]
    if tag.bit is not None:
        return [(1 << tag.bit) if value else 0]
    raw: float | int = (float(value) - tag.offset) / tag.scale
    if tag.type != "float32":
        raw = round(raw)
    try:
        packed = _STRUCT[tag.type].pack(raw)
    except struct.error as exc:
        raise ValueError(f"tag {tag.key!r}: {value!r} does not fit {tag.type}") from exc
    regs = [int.from_bytes(packed[j : j + 2], "big") for j in range(0, len(packed), 2)]
    if tag.byte_order == "little":
        regs = [_swap16(r) for r in regs]
    if tag.word_order == "little":
        regs.reverse()
    return regs


# --- the connector -------------------------------------------------------------------------------------------------


@dataclass
class BlockPoller:
    """A block with its compiled tag decoders and its own health bookkeeping."""

    block: ModbusBlock
    decoders: list[tuple[str, int, Decoder]]  # (tag key, index in the block, decoder)
    reads: int = 0
    errors: int = 0
    last_ts: int = 0  # timestamp of the last successful read (epoch ms)
    failing: bool = False
    last_error: str | None = None
    keys: list[str] = field(default_factory=list)

    def samples(self, values: Sequence[int] | Sequence[bool], ts: int) -> list[Sample]:
        out: list[Sample] = []
        for key, index, decoder in self.decoders:
            value = decoder(values, index)
            if value is not None:
                out.append(Sample(key, ts, value))
        return out


class ModbusConnector(Connector):
    """Polls the configured blocks of one Modbus TCP device; one session = one TCP connection."""

    protocol = "modbus"

    def __init__(self, config: ModbusDeviceConfig, emit: Emit) -> None:
        super().__init__(config.name, emit, [t.key for t in config.tags])
        self.config = config
        self.pollers = [BlockPoller(block, []) for block in config.blocks]
        for tag in config.tags:
            index = block_for(tag, config.blocks)
            assert index is not None  # the config validator guarantees it
            poller = self.pollers[index]
            poller.decoders.append((tag.key, tag.address - poller.block.start, compile_decoder(tag)))
            poller.keys.append(tag.key)
        # A block nobody decodes from would only cost round trips.
        self.pollers = [p for p in self.pollers if p.decoders]

    @classmethod
    def from_config(cls, config: ModbusDeviceConfig, emit: Emit) -> Connector:
        return cls(config, emit)

    async def session(self, stop: asyncio.Event) -> None:
        cfg = self.config
        # reconnect_delay=0: pymodbus must not reconnect behind our back; the base class owns reconnects and
        # back-off. retries=0: one attempt per poll; the next poll is the retry.
        client = AsyncModbusTcpClient(
            cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=0, reconnect_delay=0, name=f"modbus-{cfg.name}"
        )
        tasks: list[asyncio.Task[Any]] = []
        try:
            if not await client.connect():
                raise ConnectionError(f"cannot connect to {cfg.host}:{cfg.port}")
            tasks = [
                asyncio.create_task(self._poll(client, p), name=f"modbus-{cfg.name}-{p.block.kind}-{p.block.start}")
                for p in self.pollers
            ]
            stopper = asyncio.create_task(stop.wait())
            tasks.append(stopper)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper and (exc := task.exception()) is not None:
                    raise exc
        finally:
            await cancel_all(tasks)
            client.close()

    async def _poll(self, client: AsyncModbusTcpClient, poller: BlockPoller) -> None:
        loop = asyncio.get_running_loop()
        interval = poller.block.interval_ms / 1000
        due = loop.time()
        while True:
            await self._read(client, poller)
            await self.room()  # the gateway's disk stage is behind: poll later rather than lose what was read
            due += interval
            delay = due - loop.time()
            if delay < 0:  # the device is slower than the interval: poll back to back, don't burst to catch up
                due = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    async def _read(self, client: AsyncModbusTcpClient, poller: BlockPoller) -> None:
        block, unit = poller.block, self.config.device_id
        try:
            if block.kind == "holding":
                rsp = await client.read_holding_registers(block.start, count=block.count, device_id=unit)
            elif block.kind == "input":
                rsp = await client.read_input_registers(block.start, count=block.count, device_id=unit)
            elif block.kind == "coil":
                rsp = await client.read_coils(block.start, count=block.count, device_id=unit)
            else:
                rsp = await client.read_discrete_inputs(block.start, count=block.count, device_id=unit)
        except ConnectionException as exc:
            raise ConnectionError(str(exc)) from exc
        except (ModbusException, TimeoutError) as exc:
            if not client.connected:  # pymodbus closes the socket after repeated timeouts
                raise ConnectionError(f"connection lost: {exc}") from exc
            self._block_failed(poller, f"{type(exc).__name__}: {exc}")
            return
        ts = now_ms()
        if rsp.isError():
            self._block_failed(poller, f"exception response, code {getattr(rsp, 'exception_code', '?')}")
            return
        values = rsp.registers if block.kind in REGISTER_KINDS else rsp.bits
        if len(values) < block.count:
            self._block_failed(poller, f"short response: {len(values)} of {block.count}")
            return
        if ts <= poller.last_ts:  # a second response within the same millisecond (or the clock stepped back)
            ts = poller.last_ts + 1
        poller.last_ts = ts
        poller.reads += 1
        if poller.failing:
            poller.failing = False
            self.log.warning("%s: %s block %d+%d reads again", self.name, block.kind, block.start, block.count)
        self.publish(poller.samples(values, ts))

    def _block_failed(self, poller: BlockPoller, reason: str) -> None:
        block = poller.block
        poller.errors += 1
        poller.last_error = reason
        self.errors += 1
        self.last_error = f"{block.kind} {block.start}+{block.count}: {reason}"
        if poller.failing:
            return
        poller.failing = True
        self.log.warning(
            "%s: %s block %d+%d failed: %s (not repeated until it reads again)",
            self.name,
            block.kind,
            block.start,
            block.count,
            reason,
        )
        if self.available:  # the block's last values are no longer current
            ts = now_ms()
            self.emit([Sample(key, ts, None) for key in poller.keys])

    def diagnostics(self) -> dict[str, Any]:
        info = super().diagnostics()
        info["blocks"] = [
            {
                "kind": p.block.kind,
                "start": p.block.start,
                "count": p.block.count,
                "interval_ms": p.block.interval_ms,
                "reads": p.reads,
                "errors": p.errors,
                "failing": p.failing,
                "last_error": p.last_error,
            }
            for p in self.pollers
        ]
        return info


DEVICE_CONFIG = ModbusDeviceConfig
CONNECTOR = ModbusConnector
