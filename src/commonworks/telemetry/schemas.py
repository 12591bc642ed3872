"""Request and response shapes for the plant hierarchy, gateways and telemetry queries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from commonworks.core.params import RefId
from commonworks.core.schemas import Input
from commonworks.telemetry.models import DataType, MachineType
from commonworks.telemetry.units import check_unit

KEY_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Asia/Shanghai") from exc
    return value


def _cycle_times(value: dict[str, float]) -> dict[str, float]:
    for family, seconds in value.items():
        if not family or len(family) > 64:
            raise ValueError("part family names have 1 to 64 characters")
        if not 0 < seconds <= 86_400:
            raise ValueError(f"ideal cycle time of {family!r} must be more than 0 and at most 86400 s")
    return value


Name = Annotated[str, Field(min_length=1, max_length=100)]
TimeZone = Annotated[str, AfterValidator(_timezone), Field(examples=["Asia/Shanghai"])]
Unit = Annotated[str, AfterValidator(check_unit), Field(description="UCUM code, e.g. mm/min, Cel, kW.h, {count}")]
CycleTimes = Annotated[dict[str, float], AfterValidator(_cycle_times),
                       Field(description="Ideal cycle time in seconds per part family — per value of the "
                                         "machine's part tag (program, mould number) when it has one.")]
MachineKey = Annotated[str, Field(min_length=1, max_length=64, pattern=KEY_PATTERN, examples=["cnc-01"])]
TagKey = Annotated[str, Field(min_length=1, max_length=100, pattern=KEY_PATTERN, examples=["cnc-01.spindle_speed"])]
PartTagKey = Annotated[str, Field(
    min_length=1, max_length=100, pattern=KEY_PATTERN, examples=["cnc-01.program_name"],
    description="The key of one of the machine's own tags whose value names the part being made (program, "
                "mould number); ideal_cycle_times are then keyed by the values it takes. Null: every part is "
                "valued at the fastest ideal cycle time.")]


_In = Input


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


class SiteCreate(_In):
    name: Name
    timezone: TimeZone = "Asia/Shanghai"
    address: str | None = Field(default=None, max_length=300)


class SiteUpdate(_In):
    name: Name | None = None
    timezone: TimeZone | None = None
    address: str | None = Field(default=None, max_length=300)


class SiteOut(_Out):
    name: str
    timezone: str
    address: str | None


class LineCreate(_In):
    site_id: RefId
    name: Name


class LineUpdate(_In):
    site_id: RefId | None = None
    name: Name | None = None


class LineOut(_Out):
    site_id: int
    name: str


class MachineCreate(_In):
    line_id: RefId
    key: MachineKey
    name: Name
    machine_type: MachineType
    manufacturer: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    serial_number: str | None = Field(default=None, max_length=100)
    year_built: int | None = Field(default=None, ge=1900, le=2100)
    ideal_cycle_times: CycleTimes = Field(default_factory=dict)
    part_tag_key: PartTagKey | None = None


class MachineUpdate(_In):
    line_id: RefId | None = None
    key: MachineKey | None = None
    name: Name | None = None
    machine_type: MachineType | None = None
    manufacturer: str | None = Field(default=None, max_length=100)
    model: str | None = Field(default=None, max_length=100)
    serial_number: str | None = Field(default=None, max_length=100)
    year_built: int | None = Field(default=None, ge=1900, le=2100)
    ideal_cycle_times: CycleTimes | None = None
    part_tag_key: PartTagKey | None = None


class MachineOut(_Out):
    line_id: int
    key: str
    name: str
    machine_type: MachineType
    manufacturer: str | None
    model: str | None
    serial_number: str | None
    year_built: int | None
    ideal_cycle_times: dict[str, float]
    part_tag_key: str | None


class TagCreate(_In):
    key: TagKey
    name: Name
    unit: Unit
    data_type: DataType = DataType.float
    machine_id: RefId | None = None
    source: str | None = Field(default=None, max_length=300,
                               description="Where the gateway reads it: node id, register…")
    description: str | None = Field(default=None, max_length=500)


class TagUpdate(_In):
    name: Name | None = None
    unit: Unit | None = None
    machine_id: RefId | None = None
    source: str | None = Field(default=None, max_length=300)
    description: str | None = Field(default=None, max_length=500)


class TagOut(_Out):
    key: str
    name: str
    unit: str
    data_type: DataType
    machine_id: int | None
    source: str | None
    description: str | None
    auto_created: bool


class GatewayCreate(_In):
    key: Annotated[str, Field(min_length=3, max_length=64, pattern=KEY_PATTERN, examples=["gw-hefei-1"])]
    name: Name
    allow_create_tags: bool = Field(default=False, description="Create unknown tags on ingest instead of refusing.")


class GatewayUpdate(_In):
    name: Name | None = None
    allow_create_tags: bool | None = None


class GatewayOut(_Out):
    key: str
    name: str
    token_prefix: str
    allow_create_tags: bool
    last_seen_at: datetime | None
    samples_accepted: int
    samples_rejected: int
    revoked_at: datetime | None


class GatewayCreated(GatewayOut):
    token: str = Field(description="The gateway's credential (cwg_…); shown only in this response.")


class RejectedOut(BaseModel):
    tag: str
    ts: int | None
    reason: str


class IngestAck(BaseModel):
    batch_id: str
    accepted: int = Field(description="Samples stored now.")
    duplicates: int = Field(description="Samples already stored before (a resent batch).")
    repeated: int = Field(0, description="Samples whose (tag, ts) came earlier in the same batch: left out, "
                                        "the first one is stored.")
    rejected: list[RejectedOut] = Field(description="Refused samples (at most 1000 listed), kept as dead letters.")
    rejected_count: int
    created_tags: list[str]


class DeadLetterOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    gateway_id: int | None
    received_at: datetime
    batch_id: str | None
    tag: str
    ts: int | None
    value: str | None
    reason: str


class LatestValue(BaseModel):
    tag_id: int
    key: str
    name: str
    unit: str
    data_type: DataType
    ts: int | None = Field(description="Epoch ms of the latest sample.")
    value: float | str | None
    stale: bool = Field(description="The device went offline after this value.")


Resolution = Literal["auto", "raw", "1m", "1h", "1d"]


class SeriesPoint(BaseModel):
    ts: int
    value: float | str | None = Field(description="Raw value, or the bucket's average.")
    min: float | None = None
    max: float | None = None
    last: float | None = None
    count: int | None = None


class Series(BaseModel):
    tag_id: int
    key: str
    unit: str
    resolution: Literal["raw", "1m", "1h", "1d"] = Field(
        description="raw samples, or rollup buckets of a minute, an hour or a (UTC) day")
    start: int
    end: int
    points: list[SeriesPoint]


class RetentionIn(_In):
    raw_days: int = Field(ge=1, le=3650)
    rollup_1m_days: int = Field(ge=1, le=3650)
    rollup_1h_days: int = Field(ge=1, le=36500)


class RetentionOut(RetentionIn):
    model_config = ConfigDict(extra="ignore")
    is_default: bool
