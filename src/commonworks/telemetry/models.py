"""Tables: the plant hierarchy (site → line → machine → tag), gateways, samples, rollups, dead letters.

``samples`` is keyed (tag_id, ts) — that key is what makes a resent batch harmless. On
PostgreSQL it is partitioned by day on ``ts`` (epoch ms) so retention drops whole
partitions; on SQLite it is one table.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from commonworks.core.database import Base, Timestamped, UTCDateTime, utcnow
from commonworks.core.orgs.models import _enum


class MachineType(enum.StrEnum):
    cnc_mill = "cnc_mill"
    cnc_lathe = "cnc_lathe"
    machining_centre = "machining_centre"
    injection_moulding = "injection_moulding"
    press = "press"
    press_brake = "press_brake"
    laser_cutter = "laser_cutter"
    welding_robot = "welding_robot"
    other = "other"


class DataType(enum.StrEnum):
    float = "float"
    int = "int"
    bool = "bool"
    string = "string"

    @property
    def numeric(self) -> bool:
        return self is not DataType.string


class Site(Timestamped, Base):
    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    address: Mapped[str | None] = mapped_column(String(300))


class Line(Timestamped, Base):
    __tablename__ = "lines"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))


class Machine(Timestamped, Base):
    __tablename__ = "machines"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("lines.id", ondelete="RESTRICT"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    machine_type: Mapped[MachineType] = mapped_column(_enum(MachineType, "machine_type"))
    manufacturer: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(100))
    serial_number: Mapped[str | None] = mapped_column(String(100))
    year_built: Mapped[int | None] = mapped_column(Integer)
    ideal_cycle_times: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the key of one of the machine's own tags whose value names the part being made (the CNC's program, the
    # moulder's mould number); ideal_cycle_times are then keyed by the values it takes
    part_tag_key: Mapped[str | None] = mapped_column(String(100))


class Tag(Timestamped, Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("org_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="SET NULL"), index=True)
    key: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(40))
    data_type: Mapped[DataType] = mapped_column(_enum(DataType, "tag_data_type"))
    source: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(String(500))
    auto_created: Mapped[bool] = mapped_column(Boolean, default=False)
    stale_since_ms: Mapped[int | None] = mapped_column(BigInteger)


class Gateway(Timestamped, Base):
    __tablename__ = "gateways"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    allow_create_tags: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    samples_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    samples_rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = {"postgresql_partition_by": "RANGE (ts)", "sqlite_with_rowid": False}

    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)
    text: Mapped[str | None] = mapped_column(Text)


class _Rollup:
    tag_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    sum: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)
    last_ts: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float] = mapped_column(Double)


class Rollup1m(_Rollup, Base):
    __tablename__ = "rollups_1m"
    __table_args__ = {"sqlite_with_rowid": False}


class Rollup1h(_Rollup, Base):
    __tablename__ = "rollups_1h"
    __table_args__ = {"sqlite_with_rowid": False}


class DeadLetter(Base):
    """A sample the platform refused, kept with the reason (never silently dropped)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    gateway_id: Mapped[int | None] = mapped_column(ForeignKey("gateways.id", ondelete="SET NULL"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    batch_id: Mapped[str | None] = mapped_column(String(200))
    tag: Mapped[str] = mapped_column(String(200))
    ts: Mapped[int | None] = mapped_column(BigInteger)
    value: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(300))


class RetentionPolicy(Base):
    """How long a tenant's telemetry is kept; absent means the platform default."""

    __tablename__ = "retention_policies"

    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    raw_days: Mapped[int] = mapped_column(Integer)
    rollup_1m_days: Mapped[int] = mapped_column(Integer)
    rollup_1h_days: Mapped[int] = mapped_column(Integer)


class MachineDataMark(Base):
    """New data arrived for a machine from ``from_ms`` on: ingest raises the mark, consumers
    (machine states) clear it once they have caught up. ``version`` tells a consumer whether
    the mark moved while it worked, so it never clears a mark it has not seen."""

    __tablename__ = "machine_data_marks"

    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    from_ms: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(Integer, default=1)

