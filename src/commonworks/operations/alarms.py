"""Alarms: rules evaluated on ingest and by the upkeep, a lifecycle, webhook notifications.

Lifecycle: a rule's condition raises an alarm (``active``); someone acknowledges it
(``acknowledged``, who and when); the condition clears it (``cleared``). There is at most
one open alarm per rule and machine — a partial unique index says so — and a condition
that comes back within :data:`REOPEN_WITHIN_MS` of clearing reopens the same alarm
(``occurrences`` + 1) instead of making a new one, so a flapping signal makes no flood.
Deadband and delay in the rule (see :mod:`.conditions`) keep most flapping out in the
first place.

Threshold and rate rules are evaluated on ingest, in the ingest's transaction, from the
samples just stored (:func:`on_ingest`, registered with :mod:`commonworks.telemetry.hooks`).
``no_data`` and ``state_duration`` rules depend on time passing and are evaluated by the
server's upkeep (:func:`evaluate_timed`).

A shelved rule (``shelved_until`` in the future) raises nothing. Every raise and clear of
a rule with a ``webhook_url`` queues a notification (outbox table) unless the rule has
already queued ``max_notifications_per_hour`` in the past hour; :func:`deliver_due`
posts them and retries failures with growing pauses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commonworks.core.auth.deps import Principal, get_in_tenant
from commonworks.core.crud import EDITORS, check_writer
from commonworks.core.database import Database, utcnow
from commonworks.core.errors import Invalid
from commonworks.operations.conditions import Condition, ConditionState, Event, evaluate
from commonworks.operations.models import (
    Alarm,
    AlarmConditionState,
    AlarmNotification,
    AlarmRule,
    AlarmStatus,
    MachineStateInterval,
)
from commonworks.operations.states import tag_suffix
from commonworks.telemetry import hooks
from commonworks.telemetry.models import Machine, Rollup1m, Tag

log = logging.getLogger(__name__)

REOPEN_WITHIN_MS = 60_000
RETRY_AFTER_S = (10, 30, 120, 600, 1800)  # then the notification is given up (and stays visible as failed)
ON_INGEST = ("threshold", "rate")
TIMED = ("no_data", "state_duration")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _live(rule: AlarmRule) -> bool:
    return rule.enabled and (rule.shelved_until is None or rule.shelved_until <= utcnow())


def condition_of(rule: AlarmRule) -> Condition:
    return Condition(kind="rate" if rule.kind == "rate" else "threshold", limit=float(rule.limit or 0.0),
                     direction="below" if rule.direction == "below" else "above", deadband=rule.deadband or 0.0,
                     delay_ms=int((rule.delay_s or 0) * 1000))


# ---------------------------------------------------------------- lifecycle


def _queue(session: Session, rule: AlarmRule, alarm: Alarm, event: str, now_ms: int) -> None:
    if not rule.webhook_url:
        return
    hour_ago = now_ms - 3_600_000
    sent = session.scalar(select(func.count(AlarmNotification.id)).join(Alarm, Alarm.id == AlarmNotification.alarm_id)
                          .where(Alarm.rule_id == rule.id, AlarmNotification.created_ms >= hour_ago)) or 0
    if sent >= rule.max_notifications_per_hour:
        log.warning("alarm rule %s: more than %d notifications in an hour; not notifying %s of alarm %s",
                    rule.id, rule.max_notifications_per_hour, event, alarm.id)
        return
    payload = {"event": event, "alarm_id": alarm.id, "rule_id": rule.id, "rule": rule.name,
               "machine_id": alarm.machine_id, "severity": alarm.severity.value, "status": alarm.status.value,
               "message": alarm.message, "value": alarm.value, "raised_ms": alarm.raised_ms,
               "cleared_ms": alarm.cleared_ms, "occurrences": alarm.occurrences}
    session.add(AlarmNotification(org_id=alarm.org_id, alarm_id=alarm.id, event=event, url=rule.webhook_url,
                                  payload=payload, created_ms=now_ms, next_attempt_ms=now_ms))


def raise_alarm(session: Session, rule: AlarmRule, machine_id: int, *, since_ms: int, value: float | None,
                message: str, now_ms: int) -> Alarm:
    """Open (or reopen, or keep) the rule's alarm for the machine."""
    alarm = session.scalar(select(Alarm).where(Alarm.rule_id == rule.id, Alarm.machine_id == machine_id)
                           .order_by(Alarm.id.desc()).limit(1))
    if alarm is not None and alarm.status is not AlarmStatus.cleared:
        return alarm  # already open: one alarm per rule and machine
    if alarm is not None and alarm.cleared_ms is not None and since_ms - alarm.cleared_ms <= REOPEN_WITHIN_MS:
        alarm.status, alarm.cleared_ms, alarm.value, alarm.message = AlarmStatus.active, None, value, message
        alarm.acknowledged_by = alarm.acknowledged_at = None
        alarm.occurrences += 1
        session.flush()
        _queue(session, rule, alarm, "reopened", now_ms)
        return alarm
    alarm = Alarm(org_id=rule.org_id, rule_id=rule.id, machine_id=machine_id, status=AlarmStatus.active,
                  severity=rule.severity, message=message[:300], value=value, raised_ms=since_ms)
    session.add(alarm)
    session.flush()
    _queue(session, rule, alarm, "raised", now_ms)
    return alarm


def clear_alarm(session: Session, rule: AlarmRule, machine_id: int, *, at_ms: int, now_ms: int) -> Alarm | None:
    alarm = session.scalar(select(Alarm).where(Alarm.rule_id == rule.id, Alarm.machine_id == machine_id,
                                               Alarm.status != AlarmStatus.cleared))
    if alarm is None:
        return None
    alarm.status, alarm.cleared_ms = AlarmStatus.cleared, at_ms
    session.flush()
    _queue(session, rule, alarm, "cleared", now_ms)
    return alarm


def acknowledge(session: Session, caller: Principal, alarm_id: int) -> Alarm:
    """Acknowledge an open alarm (who and when are kept); a cleared one is closed already."""
    check_writer(caller, EDITORS)
    alarm = get_in_tenant(session, Alarm, alarm_id, caller, what="alarm")
    if alarm.status is AlarmStatus.cleared:
        raise Invalid(f"alarm {alarm_id} is cleared already", field="alarm_id")
    if alarm.status is AlarmStatus.active:
        alarm.status = AlarmStatus.acknowledged
        alarm.acknowledged_by, alarm.acknowledged_at = caller.user.id, utcnow()
        rule = session.get(AlarmRule, alarm.rule_id)
        if rule is not None:
            _queue(session, rule, alarm, "acknowledged", _now_ms())
    session.flush()
    return alarm


def _message(rule: AlarmRule, tag: str, event: Event) -> str:
    if rule.kind == "rate":
        return f"{rule.name}: {tag} changes {event.value:.6g} — faster than {rule.limit:g}/s"
    sign = ">" if rule.direction == "above" else "<"
    return f"{rule.name}: {tag} = {event.value:.6g} {sign} {rule.limit:g}"


# ---------------------------------------------------------------- on ingest


def on_ingest(session: Session, org_id: int, stored: hooks.StoredSamples) -> None:
    """Run the tenant's threshold and rate rules over the samples just stored."""
    rules = [r for r in session.scalars(select(AlarmRule).where(AlarmRule.org_id == org_id,
                                                               AlarmRule.kind.in_(ON_INGEST))) if _live(r)]
    if not rules:
        return
    rows = session.execute(select(Tag.id, Tag.key, Machine.id, Machine.key, Machine.machine_type)
                           .join(Machine, Machine.id == Tag.machine_id)
                           .where(Tag.id.in_(list(stored)))).all()
    now_ms = _now_ms()
    for tag_id, tag_key, machine_id, machine_key, machine_type in rows:
        suffix = tag_suffix(tag_key, machine_key)
        for rule in rules:
            if rule.tag != suffix or (rule.machine_id is not None and rule.machine_id != machine_id) or (
                    rule.machine_type is not None and rule.machine_type != machine_type.value):
                continue
            ts, values = stored[tag_id]
            _apply(session, rule, machine_id, tag_key, ts, values, now_ms)


def _apply(session: Session, rule: AlarmRule, machine_id: int, tag_key: str, ts: np.ndarray, values: np.ndarray,
           now_ms: int) -> None:
    row = session.get(AlarmConditionState, (rule.id, machine_id))
    state = ConditionState() if row is None else ConditionState(
        active=row.active, pending_since=row.pending_since, since=row.since, last_ts=row.last_ts,
        last_value=row.last_value)
    if state.last_ts is not None and len(ts) and ts[0] <= state.last_ts:
        newer = ts > state.last_ts  # late samples (a backlog older than what was seen) do not rewrite history
        ts, values = ts[newer], values[newer]
    events, state = evaluate(condition_of(rule), state, ts, values)
    for event in events:
        if event.kind == "raise":
            raise_alarm(session, rule, machine_id, since_ms=event.since, value=event.value,
                        message=_message(rule, tag_key, event), now_ms=now_ms)
        else:
            clear_alarm(session, rule, machine_id, at_ms=event.ts, now_ms=now_ms)
    if row is None:
        row = AlarmConditionState(rule_id=rule.id, machine_id=machine_id)
        session.add(row)
    row.active, row.pending_since, row.since = state.active, state.pending_since, state.since
    row.last_ts, row.last_value = state.last_ts, state.last_value


def install() -> None:
    """Have ingest evaluate alarm rules (the app and the ingest worker call this at start)."""
    hooks.after_store(on_ingest)


# ---------------------------------------------------------------- timed rules


def evaluate_timed(session: Session, *, now_ms: int) -> int:
    """``no_data`` and ``state_duration`` rules of every tenant; returns how many alarms changed."""
    changed = 0
    for rule in session.scalars(select(AlarmRule).where(AlarmRule.kind.in_(TIMED))):
        if not _live(rule):
            continue
        query = select(Machine).where(Machine.org_id == rule.org_id)
        if rule.machine_id is not None:
            query = query.where(Machine.id == rule.machine_id)
        if rule.machine_type is not None:
            query = query.where(Machine.machine_type == rule.machine_type)
        limit_ms = int((rule.duration_s or 0) * 1000)
        for machine in session.scalars(query):
            since, value, message = _timed_condition(session, rule, machine, now_ms, limit_ms)
            if since is not None:
                was_open = session.scalar(select(Alarm.id).where(Alarm.rule_id == rule.id,
                                                                 Alarm.machine_id == machine.id,
                                                                 Alarm.status != AlarmStatus.cleared))
                raise_alarm(session, rule, machine.id, since_ms=since, value=value, message=message, now_ms=now_ms)
                changed += was_open is None
            elif clear_alarm(session, rule, machine.id, at_ms=now_ms, now_ms=now_ms) is not None:
                changed += 1
    return changed


def _timed_condition(session: Session, rule: AlarmRule, machine: Machine, now_ms: int,
                     limit_ms: int) -> tuple[int | None, float | None, str]:
    if rule.kind == "no_data":
        tag_ids = select(Tag.id).where(Tag.machine_id == machine.id)
        last = session.scalar(select(func.max(Rollup1m.last_ts)).where(Rollup1m.tag_id.in_(tag_ids)))
        if last is not None and now_ms - last > limit_ms:
            silent = (now_ms - last) // 1000
            return last, float(silent), f"{rule.name}: no data from {machine.key} for {silent} s"
        return None, None, ""
    current = session.scalar(select(MachineStateInterval).where(MachineStateInterval.machine_id == machine.id)
                             .order_by(MachineStateInterval.start_ms.desc()).limit(1))
    if current is not None and current.state.value == rule.state and now_ms - current.start_ms > limit_ms:
        held = (now_ms - current.start_ms) / 1000
        return current.start_ms, held, f"{rule.name}: {machine.key} {rule.state} for {int(held)} s"
    return None, None, ""


# ---------------------------------------------------------------- webhook delivery


def deliver_due(db: Database, *, now_ms: int | None = None, post: Callable[..., Any] | None = None,
                batch: int = 50) -> dict[str, int]:
    """POST due notifications (no transaction is held during the calls); failures are retried later."""
    now_ms = _now_ms() if now_ms is None else now_ms
    with db.transaction() as session:
        due = [(n.id, n.url, n.payload) for n in session.scalars(
            select(AlarmNotification).where(AlarmNotification.delivered_ms.is_(None),
                                            AlarmNotification.failed.is_(False),
                                            AlarmNotification.next_attempt_ms <= now_ms)
            .order_by(AlarmNotification.next_attempt_ms).limit(batch))]
    if not due:
        return {"delivered": 0, "failed": 0}
    results: dict[int, str | None] = {}
    with httpx.Client(timeout=5.0) as client:
        send = post or client.post
        for note_id, url, payload in due:
            try:
                response = send(url, json=payload)
                results[note_id] = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                results[note_id] = f"{type(exc).__name__}: {exc}"[:300]
    counts = {"delivered": 0, "failed": 0}
    with db.transaction() as session:
        for note_id, error in results.items():
            note = session.get(AlarmNotification, note_id)
            if note is None:
                continue
            note.attempts += 1
            if error is None:
                note.delivered_ms = now_ms
                counts["delivered"] += 1
                continue
            note.last_error = error
            counts["failed"] += 1
            if note.attempts > len(RETRY_AFTER_S):
                note.failed = True
                log.error("giving up notification %s to %s after %d attempts: %s", note.id, note.url, note.attempts,
                          error)
            else:
                note.next_attempt_ms = now_ms + RETRY_AFTER_S[note.attempts - 1] * 1000
    return counts
