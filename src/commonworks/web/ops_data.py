"""What the operations pages read and write, as the signed-in user (see :mod:`commonworks.web.data`).

Reads and writes go through the operations logic the API uses — :func:`service.machine_states`,
:func:`service.scoped_machines`, :func:`service.kpi_report`, :func:`service.downtime_pareto`,
:func:`service.assign_reason`, :func:`alarms.acknowledge` — so tenant scoping (another
tenant's id is "not found") and the writer roles are the API's own. Everything returned is
plain data (dataclasses and dicts), never live ORM rows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, tenant_scoped
from commonworks.core.auth.models import MANAGERS, User
from commonworks.core.crud import check_writer
from commonworks.core.errors import Invalid
from commonworks.operations import alarms as alarm_service
from commonworks.operations import service
from commonworks.operations.kpi import ProductionCounts, TimeElements, report_entry
from commonworks.operations.models import (
    Alarm,
    AlarmRule,
    AlarmStatus,
    DowntimeReason,
    MachineStateInterval,
    ShiftCalendar,
)
from commonworks.operations.schemas import ReasonAssign
from commonworks.telemetry.models import Line, Machine, Site
from commonworks.web.common import tenant_session
from commonworks.web.data import DEFAULT_TIMEZONE, org_timezone
from commonworks.web.ops_format import SEVERITY_RANK, STOP_STATES, local_midnight

# ---------------------------------------------------------------- reasons and stops


@dataclass(frozen=True)
class ReasonChoice:
    """A downtime reason with its parent's names (the tree is two levels deep)."""

    id: int
    code: str
    name_zh: str
    name_en: str
    parent_name_zh: str | None
    parent_name_en: str | None

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh_CN" else self.name_en

    def path(self, lang: str) -> str:
        """``设备故障 › 机械故障``: the parent's name, then its own."""
        parent = self.parent_name_zh if lang == "zh_CN" else self.parent_name_en
        return f"{parent} › {self.name(lang)}" if parent else self.name(lang)


@dataclass(frozen=True)
class StateSpan:
    """A stored state interval, clipped to the range asked for, with its stop reason."""

    id: int
    start_ms: int
    end_ms: int
    state: str
    reason: ReasonChoice | None
    note: str | None
    reason_by: str | None  # display name of who assigned the reason
    reason_at: datetime | None

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000

    @property
    def is_stop(self) -> bool:
        return self.state in STOP_STATES


def _reason_choices(session: Session, caller: Principal, ids: set[int] | None = None) -> dict[int, ReasonChoice]:
    query = tenant_scoped(select(DowntimeReason), DowntimeReason, caller)
    rows = {r.id: r for r in session.scalars(query)}
    chosen = rows if ids is None else {i: rows[i] for i in ids if i in rows}
    out = {}
    for reason in chosen.values():
        parent = rows.get(reason.parent_id) if reason.parent_id is not None else None
        out[reason.id] = ReasonChoice(reason.id, reason.code, reason.name_zh, reason.name_en,
                                      parent.name_zh if parent else None, parent.name_en if parent else None)
    return out


def reason_choices(user_id: int) -> list[ReasonChoice]:
    """The organization's active reasons in tree order: each top-level reason, then its children (by code)."""
    with tenant_session(user_id) as (session, caller):
        rows = list(session.scalars(tenant_scoped(select(DowntimeReason), DowntimeReason, caller)
                                    .where(DowntimeReason.active.is_(True)).order_by(DowntimeReason.code)))
        choices = _reason_choices(session, caller, {r.id for r in rows})
    top = [r for r in rows if r.parent_id is None or r.parent_id not in choices]
    ordered: list[ReasonChoice] = []
    for parent in top:
        ordered.append(choices[parent.id])
        ordered += [choices[r.id] for r in rows if r.parent_id == parent.id]
    return ordered


def install_standard_reasons(user_id: int) -> int:
    """Add the standard reason tree (owners and admins, as ``POST /downtime-reasons/standard``); how many were added."""
    with tenant_session(user_id) as (session, caller):
        check_writer(caller, MANAGERS)
        return service.install_standard_reasons(session, caller.org_id)


def assign_reason(user_id: int, interval_id: int, reason_id: int | None, note: str | None) -> StateSpan:
    """Give a stop its reason and note (engineers and above; producing time takes none)."""
    data = ReasonAssign(reason_id=reason_id, note=note)
    with tenant_session(user_id) as (session, caller):
        row = service.assign_reason(session, caller, interval_id, data)
        reasons = _reason_choices(session, caller, {row.reason_id} if row.reason_id else set())
        return StateSpan(row.id, row.start_ms, row.end_ms, row.state.value, reasons.get(row.reason_id or 0), row.note,
                         caller.user.display_name, row.reason_at)


# ---------------------------------------------------------------- one machine


@dataclass(frozen=True)
class MachineOps:
    """A machine's states, stops and KPIs over [start, end)."""

    start_ms: int
    end_ms: int
    spans: list[StateSpan]
    kpi: dict[str, Any]  # one machine's entry of :func:`service.kpi_report`
    calendar_name: str | None  # None: no shift calendar, planned around the clock

    @property
    def stops(self) -> list[StateSpan]:
        return [s for s in self.spans if s.is_stop]


def _names(session: Session, caller: Principal, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(tenant_scoped(select(User.id, User.display_name), User, caller)
                           .where(User.id.in_(user_ids)))
    return {user_id: name for user_id, name in rows}


def machine_operations(user_id: int, machine_id: int, start_ms: int, end_ms: int) -> MachineOps:
    """States (clipped to the range), stop reasons, and the ISO 22400 elements and KPIs of one machine."""
    with tenant_session(user_id) as (session, caller):
        rows = service.machine_states(session, caller, machine_id, start_ms, end_ms)
        machines = service.scoped_machines(session, caller, machine_id=machine_id)
        [entry] = service.kpi_report(session, machines, start_ms, end_ms)["machines"]
        reasons = _reason_choices(session, caller, {r.reason_id for r in rows if r.reason_id is not None})
        people = _names(session, caller, {r.reason_by for r in rows if r.reason_by is not None})
        calendar = session.get(ShiftCalendar, entry["calendar_id"]) if entry["calendar_id"] is not None else None
        spans = [StateSpan(r.id, r.start_ms, r.end_ms, r.state.value,
                           reasons.get(r.reason_id) if r.reason_id is not None else None, r.note,
                           people.get(r.reason_by) if r.reason_by is not None else None, r.reason_at) for r in rows]
        return MachineOps(start_ms, end_ms, spans, entry, calendar.name if calendar else None)


# ---------------------------------------------------------------- the plant overview


@dataclass(frozen=True)
class MachineNow:
    """One machine on the overview: its newest stored state, today's KPIs, its open alarms."""

    machine_id: int
    key: str
    name: str
    machine_type: str
    line_name: str
    site_name: str
    timezone: str
    state: str | None  # None: no state stored yet
    state_since_ms: int | None
    state_until_ms: int | None
    kpi: dict[str, Any]
    open_alarms: int
    worst_severity: str | None


@dataclass(frozen=True)
class Overview:
    machines: list[MachineNow]
    total: dict[str, Any]  # roll-up of today's elements over all machines
    timezone: str
    day_start_ms: int  # the local midnight of ``timezone`` the day's figures start at
    now_ms: int

    @property
    def open_alarms(self) -> int:
        return sum(m.open_alarms for m in self.machines)

    def state_counts(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = defaultdict(int)
        for m in self.machines:
            counts[m.state] += 1
        return dict(counts)


def _latest_states(session: Session, machine_ids: list[int], now_ms: int) -> dict[int, MachineStateInterval]:
    """The newest interval of each machine that has begun by ``now_ms`` (one index lookup per machine)."""
    if not machine_ids:
        return {}
    newest = (select(func.max(MachineStateInterval.start_ms))
              .where(MachineStateInterval.machine_id == Machine.id, MachineStateInterval.start_ms <= now_ms)
              .correlate(Machine).scalar_subquery())
    starts = [(m, s) for m, s in session.execute(select(Machine.id, newest).where(Machine.id.in_(machine_ids)))
              if s is not None]
    if not starts:
        return {}
    rows = session.scalars(select(MachineStateInterval).where(or_(*(
        and_(MachineStateInterval.machine_id == m, MachineStateInterval.start_ms == s) for m, s in starts))))
    return {r.machine_id: r for r in rows}


def _roll_up(totals: list[dict[str, Any]]) -> dict[str, Any]:
    """One roll-up from several (summed elements and counts, as :func:`service.kpi_report` does)."""
    elements = sum((TimeElements(ct=t["ct_s"], pot=t["pot_s"], pdot=t["pdot_s"], apt=t["apt_s"], aust=t["aust_s"],
                                 adet=t["adet_s"], adot=t["adot_s"], offline=t["offline_s"], failures=t["failures"])
                    for t in totals), TimeElements())
    counts = sum((ProductionCounts(pq=t["produced"], gq=t["good"], pri_pq=t["pri_pq_s"]) for t in totals),
                 ProductionCounts())
    return report_entry(elements, counts)


def plant_overview(user_id: int, now_ms: int) -> Overview:
    """Every machine's newest state, KPIs since its site's local midnight, open alarms; and the plant's roll-up."""
    with tenant_session(user_id) as (session, caller):
        machines = service.scoped_machines(session, caller)
        places = {line_id: (line_name, site_name, tz) for line_id, line_name, site_name, tz in session.execute(
            tenant_scoped(select(Line.id, Line.name, Site.name, Site.timezone).join(Site, Site.id == Line.site_id),
                          Line, caller))}
        by_zone: dict[str, list[Machine]] = defaultdict(list)
        for machine in machines:
            by_zone[places.get(machine.line_id, ("", "", DEFAULT_TIMEZONE))[2]].append(machine)
        entries: dict[int, dict[str, Any]] = {}
        totals = []
        for tz, group in by_zone.items():
            start = local_midnight(now_ms, tz)
            report = service.kpi_report(session, group, start, max(now_ms, start + 1))
            entries.update({e["machine_id"]: e for e in report["machines"]})
            totals.append(report["total"])
        latest = _latest_states(session, [m.id for m in machines], now_ms)
        alarms: dict[int, list[str]] = defaultdict(list)
        for machine_id, severity in session.execute(tenant_scoped(select(Alarm.machine_id, Alarm.severity), Alarm,
                                                                  caller).where(Alarm.status != AlarmStatus.cleared)):
            alarms[machine_id].append(severity.value)
        rows = []
        for m in machines:
            line_name, site_name, tz = places.get(m.line_id, ("", "", DEFAULT_TIMEZONE))
            state = latest.get(m.id)
            severities = alarms.get(m.id, [])
            rows.append(MachineNow(
                machine_id=m.id, key=m.key, name=m.name, machine_type=m.machine_type.value, line_name=line_name,
                site_name=site_name, timezone=tz, state=state.state.value if state else None,
                state_since_ms=state.start_ms if state else None, state_until_ms=state.end_ms if state else None,
                kpi=entries[m.id], open_alarms=len(severities),
                worst_severity=min(severities, key=lambda s: SEVERITY_RANK.get(s, 9)) if severities else None))
        tz = org_timezone(session, caller)
        return Overview(machines=rows, total=totals[0] if len(totals) == 1 else _roll_up(totals), timezone=tz,
                        day_start_ms=local_midnight(now_ms, tz), now_ms=now_ms)


# ---------------------------------------------------------------- downtime Pareto


@dataclass(frozen=True)
class ScopeChoice:
    key: str  # "all", "site:<id>", "line:<id>", "machine:<id>"
    kind: str
    name: str
    parent: str  # where it is: the site of a line, "site · line" of a machine


def pareto_scopes(user_id: int) -> list[ScopeChoice]:
    """The organization's sites, lines and machines, to scope the Pareto to."""
    with tenant_session(user_id) as (session, caller):
        sites = {s.id: s.name for s in session.scalars(tenant_scoped(select(Site), Site, caller).order_by(Site.name))}
        lines = list(session.scalars(tenant_scoped(select(Line), Line, caller).order_by(Line.name)))
        machines = list(session.scalars(tenant_scoped(select(Machine), Machine, caller).order_by(Machine.key)))
    line_of = {ln.id: ln for ln in lines}
    out = [ScopeChoice("all", "all", "", "")]
    out += [ScopeChoice(f"site:{i}", "site", name, "") for i, name in sites.items()] if len(sites) > 1 else []
    out += [ScopeChoice(f"line:{ln.id}", "line", ln.name, sites.get(ln.site_id, "")) for ln in lines]
    for m in machines:
        line = line_of.get(m.line_id)
        where = f"{sites.get(line.site_id, '')} · {line.name}" if line else ""
        out.append(ScopeChoice(f"machine:{m.id}", "machine", f"{m.name} ({m.key})", where))
    return out


def _scope(key: str) -> dict[str, int]:
    if key == "all":
        return {}
    kind, _sep, number = key.partition(":")
    if kind not in ("site", "line", "machine") or not number.isdigit():
        raise Invalid(f"unknown scope {key!r}", field="scope")
    return {f"{kind}_id": int(number)}


def pareto(user_id: int, scope: str, start_ms: int, end_ms: int, by: str = "duration") -> list[dict[str, Any]]:
    """Stops of the scope in [start, end) grouped by reason, largest first (:func:`service.downtime_pareto`)."""
    with tenant_session(user_id) as (session, caller):
        machines = service.scoped_machines(session, caller, **_scope(scope))
        return service.downtime_pareto(session, machines, start_ms, end_ms, by=by)


def timezone(user_id: int) -> str:
    """The organization's time zone (its first site's) for times that belong to no one site."""
    with tenant_session(user_id) as (session, caller):
        return org_timezone(session, caller)


# ---------------------------------------------------------------- alarms


@dataclass(frozen=True)
class AlarmRow:
    id: int
    machine_id: int
    machine_key: str
    machine_name: str
    rule_name: str
    status: str
    severity: str
    message: str
    value: float | None
    raised_ms: int
    occurrences: int
    acknowledged_by: str | None  # display name
    acknowledged_at: datetime | None
    cleared_ms: int | None

    @property
    def is_open(self) -> bool:
        return self.status != AlarmStatus.cleared.value


def _alarm_rows(session: Session, caller: Principal, alarms: list[Alarm]) -> list[AlarmRow]:
    machines = {m.id: m for m in session.scalars(select(Machine).where(
        Machine.id.in_({a.machine_id for a in alarms})))} if alarms else {}
    rules = {rule_id: name for rule_id, name in session.execute(select(AlarmRule.id, AlarmRule.name).where(
        AlarmRule.id.in_({a.rule_id for a in alarms})))} if alarms else {}
    people = _names(session, caller, {a.acknowledged_by for a in alarms if a.acknowledged_by is not None})
    out = []
    for a in alarms:
        machine = machines.get(a.machine_id)
        out.append(AlarmRow(
            id=a.id, machine_id=a.machine_id, machine_key=machine.key if machine else "",
            machine_name=machine.name if machine else "", rule_name=rules.get(a.rule_id, ""), status=a.status.value,
            severity=a.severity.value, message=a.message, value=a.value, raised_ms=a.raised_ms,
            occurrences=a.occurrences,
            acknowledged_by=people.get(a.acknowledged_by) if a.acknowledged_by is not None else None,
            acknowledged_at=a.acknowledged_at, cleared_ms=a.cleared_ms))
    return out


ALARMS_SHOWN = 200


def alarm_list(user_id: int, *, open_only: bool, limit: int = ALARMS_SHOWN) -> list[AlarmRow]:
    """Open alarms first (most severe, then newest), then — unless ``open_only`` — the cleared ones, newest first."""
    with tenant_session(user_id) as (session, caller):
        query = tenant_scoped(select(Alarm), Alarm, caller)
        if open_only:
            query = query.where(Alarm.status != AlarmStatus.cleared)
        cleared = case((Alarm.status == AlarmStatus.cleared, 1), else_=0)
        severity = case(*((Alarm.severity == s, rank) for s, rank in SEVERITY_RANK.items()), else_=9)
        open_severity = case((Alarm.status == AlarmStatus.cleared, 0), else_=severity)
        query = query.order_by(cleared, open_severity, Alarm.raised_ms.desc(), Alarm.id.desc()).limit(limit)
        return _alarm_rows(session, caller, list(session.scalars(query)))


def open_alarm_count(user_id: int) -> int:
    with tenant_session(user_id) as (session, caller):
        return session.scalar(tenant_scoped(select(func.count()).select_from(Alarm), Alarm, caller)
                              .where(Alarm.status != AlarmStatus.cleared)) or 0


def acknowledge_alarm(user_id: int, alarm_id: int) -> AlarmRow:
    """Acknowledge an open alarm (engineers and above; who and when are kept)."""
    with tenant_session(user_id) as (session, caller):
        alarm = alarm_service.acknowledge(session, caller, alarm_id)
        return _alarm_rows(session, caller, [alarm])[0]
