"""Tables: state rules, machine state intervals, downtime reasons, shift calendars."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from commonworks.core.database import Base, Timestamped, UTCDateTime
from commonworks.core.orgs.models import _enum
from commonworks.operations.states import State


class StateRuleRow(Timestamped, Base):
    """A tenant's rule for the machines of a type, or for one machine (which wins)."""

    __tablename__ = "state_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    machine_type: Mapped[str | None] = mapped_column(String(32))
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="map")
    state_tag: Mapped[str] = mapped_column(String(100), default="machinery_item_state")
    mapping: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    speed_tag: Mapped[str] = mapped_column(String(100), default="spindle_speed")
    counter_tag: Mapped[str] = mapped_column(String(100), default="part_counter")
    good_tag: Mapped[str | None] = mapped_column(String(100))
    scrap_tag: Mapped[str | None] = mapped_column(String(100), default="scrap_counter")
    speed_threshold: Mapped[float] = mapped_column(Double, default=0.0)
    counter_window_s: Mapped[float] = mapped_column(Double, default=120.0)
    offline_after_s: Mapped[float] = mapped_column(Double, default=300.0)


class LossKind(enum.StrEnum):
    """Where a stop's time goes: the six big losses, or planned (outside the KPIs' loss budget)."""

    planned = "planned"
    breakdown = "breakdown"
    setup_adjustment = "setup_adjustment"
    small_stops = "small_stops"
    reduced_speed = "reduced_speed"
    startup_rejects = "startup_rejects"
    production_rejects = "production_rejects"


class ReasonCategory(enum.StrEnum):
    planned = "planned"
    unplanned = "unplanned"
    changeover = "changeover"
    quality = "quality"
    material = "material"
    no_orders = "no_orders"
    personnel = "personnel"
    other = "other"


class DowntimeReason(Timestamped, Base):
    """A node of a tenant's reason-code tree (codes are unique per tenant)."""

    __tablename__ = "downtime_reasons"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("downtime_reasons.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    category: Mapped[ReasonCategory] = mapped_column(_enum(ReasonCategory, "reason_category"))
    loss: Mapped[LossKind] = mapped_column(_enum(LossKind, "loss_kind"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MachineStateInterval(Base):
    """What a machine did from ``start_ms`` to ``end_ms`` (epoch ms); intervals of a machine tile time."""

    __tablename__ = "machine_states"
    __table_args__ = (Index("ix_machine_states_machine_start", "machine_id", "start_ms", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"))
    start_ms: Mapped[int] = mapped_column(BigInteger)
    end_ms: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[State] = mapped_column(_enum(State, "machine_state"))
    reason_id: Mapped[int | None] = mapped_column(ForeignKey("downtime_reasons.id", ondelete="SET NULL"), index=True)
    reason_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reason_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(500))


class StateCursor(Base):
    """How far a machine's states are derived."""

    __tablename__ = "machine_state_cursors"

    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    derived_until_ms: Mapped[int] = mapped_column(BigInteger)


class ShiftCalendar(Timestamped, Base):
    """Shifts (with breaks) per weekday plus dated exceptions, for a tenant or one site, line or machine.

    The most specific calendar applies: machine, then line, then site, then the tenant's own.
    ``shifts`` and ``exceptions`` are validated by :mod:`commonworks.operations.schemas`.
    """

    __tablename__ = "shift_calendars"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("lines.id", ondelete="CASCADE"), index=True)
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    shifts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    exceptions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class MachineCount(Base):
    """Parts a machine made per hour (from its counter tags), kept with its states."""

    __tablename__ = "machine_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    hour_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    produced: Mapped[int] = mapped_column(Integer)
    good: Mapped[int] = mapped_column(Integer)

