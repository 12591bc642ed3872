"""Tables: state rules, machine state intervals, downtime reasons, shift calendars."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Double, ForeignKey, Index, Integer, String, UniqueConstraint, text
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
    __table_args__ = (Index("ix_machine_states_machine_start", "machine_id", "start_ms", unique=True),
                      # covering: KPIs over many machines read (start, end, state) from the index alone
                      Index("ix_machine_states_cover", "machine_id", "start_ms", "end_ms", "state"))

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
    """Parts a machine made per hour (from its counter tags), kept with its states.

    ``planned_run_s`` is the planned run time (ISO 22400's PRI × PQ) of the ``own_cycle_parts`` of them whose
    part — the value of the machine's part tag when they were counted — has its own ideal cycle time; the
    other parts are valued at the machine's fastest ideal cycle when a report is made. Rows stored before
    these columns existed have them null: all their parts are valued that way.
    """

    __tablename__ = "machine_counts"
    __table_args__ = {"sqlite_with_rowid": False}

    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    hour_ms: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    produced: Mapped[int] = mapped_column(Integer)
    good: Mapped[int] = mapped_column(Integer)
    planned_run_s: Mapped[float | None] = mapped_column(Double)
    own_cycle_parts: Mapped[int | None] = mapped_column(Integer)


class Severity(enum.StrEnum):
    info = "info"
    warning = "warning"
    critical = "critical"


class AlarmRule(Timestamped, Base):
    """When to raise an alarm: on a tag suffix of one machine, or of every machine (of a type).

    kind ``threshold`` / ``rate`` are evaluated on ingest; ``no_data`` (nothing from the
    machine for ``duration_s``) and ``state_duration`` (``state`` held longer than
    ``duration_s``) by the periodic upkeep.
    """

    __tablename__ = "alarm_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    machine_id: Mapped[int | None] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    machine_type: Mapped[str | None] = mapped_column(String(32))
    tag: Mapped[str | None] = mapped_column(String(100))  # key suffix, for threshold and rate
    direction: Mapped[str] = mapped_column(String(8), default="above")
    limit: Mapped[float | None] = mapped_column(Double)
    deadband: Mapped[float] = mapped_column(Double, default=0.0)
    delay_s: Mapped[float] = mapped_column(Double, default=0.0)
    state: Mapped[str | None] = mapped_column(String(20))  # for state_duration
    duration_s: Mapped[float | None] = mapped_column(Double)  # for no_data and state_duration
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "alarm_severity"), default=Severity.warning)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    max_notifications_per_hour: Mapped[int] = mapped_column(Integer, default=20)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    shelved_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AlarmConditionState(Base):
    """A rule's condition state per machine, carried from one ingest to the next."""

    __tablename__ = "alarm_conditions"

    rule_id: Mapped[int] = mapped_column(ForeignKey("alarm_rules.id", ondelete="CASCADE"), primary_key=True)
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), primary_key=True)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_since: Mapped[int | None] = mapped_column(BigInteger)
    since: Mapped[int | None] = mapped_column(BigInteger)
    last_ts: Mapped[int | None] = mapped_column(BigInteger)
    last_value: Mapped[float | None] = mapped_column(Double)


class AlarmStatus(enum.StrEnum):
    active = "active"
    acknowledged = "acknowledged"
    cleared = "cleared"


class Alarm(Base):
    """One alarm: raised, perhaps acknowledged, then cleared. At most one open (not cleared) per rule and machine."""

    __tablename__ = "alarms"
    __table_args__ = (Index("ix_alarms_open", "rule_id", "machine_id", unique=True,
                            sqlite_where=text("status != 'cleared'"), postgresql_where=text("status != 'cleared'")),
                      Index("ix_alarms_org_raised", "org_id", "raised_ms"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    rule_id: Mapped[int] = mapped_column(ForeignKey("alarm_rules.id", ondelete="CASCADE"))
    machine_id: Mapped[int] = mapped_column(ForeignKey("machines.id", ondelete="CASCADE"), index=True)
    status: Mapped[AlarmStatus] = mapped_column(_enum(AlarmStatus, "alarm_status"))
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "alarm_severity"))
    message: Mapped[str] = mapped_column(String(300))
    value: Mapped[float | None] = mapped_column(Double)
    raised_ms: Mapped[int] = mapped_column(BigInteger)  # when the condition began
    occurrences: Mapped[int] = mapped_column(Integer, default=1)  # re-raised soon after clearing: same alarm
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_ms: Mapped[int | None] = mapped_column(BigInteger)


class AlarmNotification(Base):
    """A webhook call to make (outbox): retried with back-off until delivered or given up."""

    __tablename__ = "alarm_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    event: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_ms: Mapped[int] = mapped_column(BigInteger, index=True)
    delivered_ms: Mapped[int | None] = mapped_column(BigInteger)
    failed: Mapped[bool] = mapped_column(Boolean, default=False)
    last_error: Mapped[str | None] = mapped_column(String(300))
