"""Request and response shapes: state rules, downtime reasons, machine states, shift calendars."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from commonworks.core.params import RefId
from commonworks.core.schemas import Input
from commonworks.operations.models import AlarmStatus, LossKind, ReasonCategory, Severity
from commonworks.operations.states import State
from commonworks.telemetry.models import MachineType
from commonworks.telemetry.schemas import Name, TimeZone

Suffix = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9_.-]*$",
                              description="tag key after '<machine key>.', e.g. machinery_item_state")]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _clock(value: str) -> str:
    if not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 23:59)")
    return value


Clock = Annotated[str, AfterValidator(_clock), Field(examples=["08:00"])]


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    created_at: datetime
    updated_at: datetime


# ---------------------------------------------------------------- state rules


class _RuleFields(Input):
    kind: Literal["map", "running"] = "map"
    state_tag: Suffix = "machinery_item_state"
    mapping: dict[Annotated[str, Field(min_length=1, max_length=100)], State] = Field(
        default_factory=dict, description="tag value → state; empty: OPC 40001-1 MachineryItemState")
    speed_tag: Suffix = "spindle_speed"
    counter_tag: Suffix = Field(default="part_counter", description="parts made (a counter)")
    good_tag: Suffix | None = Field(default=None, description="good parts (a counter), if the machine has one")
    scrap_tag: Suffix | None = Field(default="scrap_counter", description="else: scrap (a counter)")
    speed_threshold: float = Field(default=0.0, ge=0, le=1e9)
    counter_window_s: float = Field(default=120.0, gt=0, le=86_400)
    offline_after_s: float = Field(default=300.0, ge=10, le=86_400)


class StateRuleCreate(_RuleFields):
    machine_type: MachineType | None = None
    machine_id: RefId | None = None

    @model_validator(mode="after")
    def _one_scope(self) -> StateRuleCreate:
        if (self.machine_type is None) == (self.machine_id is None):
            raise ValueError("a rule is for one machine_id or for one machine_type (give exactly one)")
        return self


class StateRuleUpdate(Input):
    kind: Literal["map", "running"] | None = None
    state_tag: Suffix | None = None
    mapping: dict[Annotated[str, Field(min_length=1, max_length=100)], State] | None = None
    speed_tag: Suffix | None = None
    counter_tag: Suffix | None = None
    good_tag: Suffix | None = None
    scrap_tag: Suffix | None = None
    speed_threshold: float | None = Field(default=None, ge=0, le=1e9)
    counter_window_s: float | None = Field(default=None, gt=0, le=86_400)
    offline_after_s: float | None = Field(default=None, ge=10, le=86_400)


class StateRuleOut(_Out):
    machine_type: str | None
    machine_id: int | None
    kind: str
    state_tag: str
    mapping: dict[str, State]
    speed_tag: str
    counter_tag: str
    good_tag: str | None
    scrap_tag: str | None
    speed_threshold: float
    counter_window_s: float
    offline_after_s: float


# ---------------------------------------------------------------- downtime reasons


class ReasonCreate(Input):
    code: Code
    name_zh: Name
    name_en: Name
    category: ReasonCategory
    loss: LossKind
    parent_id: RefId | None = None
    active: bool = True


class ReasonUpdate(Input):
    code: Code | None = None
    name_zh: Name | None = None
    name_en: Name | None = None
    category: ReasonCategory | None = None
    loss: LossKind | None = None
    parent_id: RefId | None = None
    active: bool | None = None


class ReasonOut(_Out):
    code: str
    name_zh: str
    name_en: str
    category: ReasonCategory
    loss: LossKind
    parent_id: int | None
    active: bool


# ---------------------------------------------------------------- machine states


class StateIntervalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    machine_id: int
    start_ms: int
    end_ms: int
    state: State
    reason_id: int | None
    reason_by: int | None
    reason_at: datetime | None
    note: str | None


class ReasonAssign(Input):
    reason_id: RefId | None = Field(description="a downtime reason of your organization; null removes it")
    note: str | None = Field(default=None, max_length=500)


# ---------------------------------------------------------------- shift calendars


class Shift(Input):
    name: Name
    start: Clock
    end: Clock = Field(description="an end at or before the start runs past midnight")
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=lambda: [1, 2, 3, 4, 5],
                                                          description="ISO weekdays, 1 = Monday")
    breaks: list[tuple[Clock, Clock]] = Field(default_factory=list, description="[start, end] within the shift")

    @model_validator(mode="after")
    def _distinct_days(self) -> Shift:
        if not self.days or len(set(self.days)) != len(self.days):
            raise ValueError("days lists each weekday (1–7) at most once, and at least one")
        return self


# kept as ISO 8601 text inside the calendar's JSON column
StoredTime = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="always")]


class CalendarException(Input):
    kind: Literal["holiday", "planned_downtime"]
    start: StoredTime = Field(description="ISO 8601 with offset")
    end: StoredTime
    note: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> CalendarException:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-10-01T00:00:00+08:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class CalendarCreate(Input):
    name: Name
    timezone: TimeZone = "Asia/Shanghai"
    site_id: RefId | None = None
    line_id: RefId | None = None
    machine_id: RefId | None = None
    shifts: list[Shift] = Field(min_length=1, max_length=20)
    exceptions: list[CalendarException] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _scope(self) -> CalendarCreate:
        if sum(x is not None for x in (self.site_id, self.line_id, self.machine_id)) > 1:
            raise ValueError("a calendar is for the whole organization or for one site, line or machine")
        return self


class CalendarUpdate(Input):
    name: Name | None = None
    timezone: TimeZone | None = None
    shifts: list[Shift] | None = Field(default=None, min_length=1, max_length=20)
    exceptions: list[CalendarException] | None = Field(default=None, max_length=2000)


class CalendarOut(_Out):
    name: str
    timezone: str
    site_id: int | None
    line_id: int | None
    machine_id: int | None
    shifts: list[Shift]
    exceptions: list[CalendarException]


# ---------------------------------------------------------------- alarms


def _webhook(value: str | None) -> str | None:
    if value is not None and not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError("webhook_url must be an http:// or https:// URL")
    return value


Webhook = Annotated[Annotated[str, Field(max_length=500)] | None, AfterValidator(_webhook)]


class AlarmRuleCreate(Input):
    name: Name
    kind: Literal["threshold", "rate", "no_data", "state_duration"]
    machine_id: RefId | None = Field(default=None, description="one machine; or leave out for all (of machine_type)")
    machine_type: MachineType | None = None
    tag: Suffix | None = Field(default=None, description="threshold and rate: the tag key after '<machine key>.'")
    direction: Literal["above", "below"] = "above"
    limit: float | None = Field(default=None, allow_inf_nan=False,
                                description="threshold: the limit; rate: units per second")
    deadband: float = Field(default=0.0, ge=0, allow_inf_nan=False, description="how far back to clear")
    delay_s: float = Field(default=0.0, ge=0, le=86_400, description="bad for at least this long before raising")
    state: State | None = Field(default=None, description="state_duration: the state")
    duration_s: float | None = Field(default=None, gt=0, le=30 * 86_400,
                                     description="no_data / state_duration: how long")
    severity: Severity = Severity.warning
    webhook_url: Webhook = None
    max_notifications_per_hour: int = Field(default=20, ge=0, le=10_000)
    enabled: bool = True

    @model_validator(mode="after")
    def _fits_kind(self) -> AlarmRuleCreate:
        need = {"threshold": ("tag", "limit"), "rate": ("tag", "limit"), "no_data": ("duration_s",),
                "state_duration": ("state", "duration_s")}[self.kind]
        missing = [f for f in need if getattr(self, f) is None]
        if missing:
            raise ValueError(f"a {self.kind} rule needs {' and '.join(missing)}")
        if self.kind == "rate" and self.limit is not None and self.limit <= 0:
            raise ValueError("a rate limit is a positive change per second")
        return self


class AlarmRuleUpdate(Input):
    name: Name | None = None
    limit: float | None = Field(default=None, allow_inf_nan=False)
    direction: Literal["above", "below"] | None = None
    deadband: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    delay_s: float | None = Field(default=None, ge=0, le=86_400)
    duration_s: float | None = Field(default=None, gt=0, le=30 * 86_400)
    severity: Severity | None = None
    webhook_url: Webhook = None
    max_notifications_per_hour: int | None = Field(default=None, ge=0, le=10_000)
    enabled: bool | None = None
    shelved_until: datetime | None = Field(default=None, description="raise nothing until then; null: unshelve")

    @model_validator(mode="after")
    def _aware(self) -> AlarmRuleUpdate:
        if self.shelved_until is not None and self.shelved_until.tzinfo is None:
            raise ValueError("shelved_until needs a UTC offset")
        return self


class AlarmRuleOut(_Out):
    name: str
    kind: str
    machine_id: int | None
    machine_type: str | None
    tag: str | None
    direction: str
    limit: float | None
    deadband: float
    delay_s: float
    state: str | None
    duration_s: float | None
    severity: Severity
    webhook_url: str | None
    max_notifications_per_hour: int
    enabled: bool
    shelved_until: datetime | None


class AlarmOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    rule_id: int
    machine_id: int
    status: AlarmStatus
    severity: Severity
    message: str
    value: float | None
    raised_ms: int
    occurrences: int
    acknowledged_by: int | None
    acknowledged_at: datetime | None
    cleared_ms: int | None
