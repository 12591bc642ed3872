"""Keeping the stored machine-state intervals current (the database side of :mod:`.states`).

Ingest raises a machine's new-data mark (``machine_data_marks``) with the earliest
timestamp it stored; :func:`refresh_states` recomputes each marked machine's intervals
from there — or from where it stopped last time, whichever is earlier — up to now, from
the samples themselves. Recomputing from stored samples makes the result independent of
arrival order: a gateway's backlog that lands hours late replaces the ``offline`` it
left behind. Machines without a mark are extended to now as well, so a machine that
went silent turns ``offline`` once its rule's timeout has passed.

Reasons that people assigned to stops survive a recomputation: a new interval takes the
reason of the old interval of the same state it overlaps most.

Presence (is the machine sending anything?) comes from the 1-minute rollups of all the
machine's numeric tags: a minute with data counts from its newest sample, so an offline
span is exact at its start and at most a minute short at its end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from commonworks.operations.counts import HOUR_MS, HourCount, cycles_at, hourly_counts
from commonworks.operations.models import MachineCount, MachineStateInterval, StateCursor, StateRuleRow
from commonworks.operations.states import OPC_40001_1, Interval, State, StateRule, derive, tag_suffix
from commonworks.telemetry.models import Machine, MachineDataMark, MachineType, Rollup1m, Sample, Tag

log = logging.getLogger(__name__)

# Injection moulding machines expose their controller's status register (EUROMAP 77-like codes
# as the demo moulders use them); everything else defaults to OPC 40001-1 MachineryItemState.
# Their shot counter counts cycles, each making one part per cavity, while the good and scrap
# counters count parts: parts made are good + scrap (counting shots as parts set 8 good parts of
# an 8-cavity shot against 1 produced, and the quality ratio was 1 whatever the scrap).
IMM_STATUS: dict[str, State] = {"0": State.idle, "1": State.idle, "2": State.setup, "3": State.producing,
                                "4": State.down_unplanned}
DEFAULT_RULES: dict[str, StateRule] = {
    MachineType.injection_moulding.value: StateRule(state_tag="machine_status", mapping=IMM_STATUS,
                                                    counter_tag=None, good_tag="good_counter",
                                                    scrap_tag="scrap_counter"),
}
DEFAULT_RULE = StateRule(mapping=OPC_40001_1)
FIRST_LOOKBACK_MS = 7 * 86_400_000  # a machine's first derivation starts at most a week back
IDLE_REFRESH_MS = 60_000  # a machine without new data is extended to now at most this often


def rule_from_row(row: StateRuleRow) -> StateRule:
    mapping = {str(k): State(v) for k, v in (row.mapping or {}).items()} or dict(OPC_40001_1)
    kind = "running" if row.kind == "running" else "map"
    return StateRule(kind=kind, state_tag=row.state_tag, mapping=mapping, speed_tag=row.speed_tag,
                     counter_tag=row.counter_tag, good_tag=row.good_tag, scrap_tag=row.scrap_tag,
                     speed_threshold=row.speed_threshold,
                     counter_window_s=row.counter_window_s, offline_after_s=row.offline_after_s)


def rule_for(session: Session, machine: Machine) -> StateRule:
    """The machine's own rule, else its tenant's rule for its type, else the built-in default."""
    rows = session.scalars(select(StateRuleRow).where(
        StateRuleRow.org_id == machine.org_id,
        (StateRuleRow.machine_id == machine.id)
        | ((StateRuleRow.machine_id.is_(None)) & (StateRuleRow.machine_type == machine.machine_type.value)))).all()
    own = [r for r in rows if r.machine_id == machine.id]
    if own or rows:
        return rule_from_row((own or rows)[0])
    return DEFAULT_RULES.get(machine.machine_type.value, DEFAULT_RULE)


@dataclass(frozen=True)
class _MachineTags:
    all_ids: list[int]
    by_suffix: dict[str, int]


def _machine_tags(session: Session, machine: Machine) -> _MachineTags:
    rows = session.execute(select(Tag.id, Tag.key).where(Tag.machine_id == machine.id)).all()
    by_suffix = {tag_suffix(key, machine.key): tag_id for tag_id, key in rows}
    return _MachineTags([r[0] for r in rows], by_suffix)


def _samples(session: Session, tag_id: int, start_ms: int, end_ms: int) -> tuple[np.ndarray, list[Any]]:
    """A tag's samples in [start_ms, end_ms], preceded by the last one before start_ms (the state in force)."""
    columns = (Sample.ts, Sample.value, Sample.text)
    rows = session.execute(select(*columns).where(Sample.tag_id == tag_id, Sample.ts < start_ms)
                           .order_by(Sample.ts.desc()).limit(1)).all()
    rows += session.execute(select(*columns).where(Sample.tag_id == tag_id, Sample.ts >= start_ms,
                                                   Sample.ts <= end_ms).order_by(Sample.ts)).all()
    ts = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    return ts, [r[2] if r[2] is not None else r[1] for r in rows]


def _presence(session: Session, tag_ids: list[int], start_ms: int, end_ms: int, gap_ms: int) -> np.ndarray:
    """Moments the machine sent data (sorted): the newest sample of every minute with data, and
    the exact first sample after each silence longer than ``gap_ms``."""
    if not tag_ids:
        return np.empty(0, dtype=np.int64)
    rows = session.execute(select(func.max(Rollup1m.last_ts)).where(
        Rollup1m.tag_id.in_(tag_ids), Rollup1m.bucket >= start_ms - 60_000, Rollup1m.bucket <= end_ms)
        .group_by(Rollup1m.bucket)).all()
    moments = np.unique(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
    firsts = []
    for k in np.flatnonzero(np.diff(moments) > gap_ms):
        after, until = int(moments[k]), int(moments[k + 1])
        first = session.scalar(select(func.min(Sample.ts)).where(Sample.tag_id.in_(tag_ids), Sample.ts > after,
                                                                 Sample.ts <= until))
        if first is not None:
            firsts.append(first)
    return np.unique(np.concatenate([moments, np.array(firsts, dtype=np.int64)])) if firsts else moments


def _first_data(session: Session, tag_ids: list[int]) -> int | None:
    if not tag_ids:
        return None
    return session.scalar(select(func.min(Rollup1m.bucket)).where(Rollup1m.tag_id.in_(tag_ids)))


def refresh_machine(session: Session, machine: Machine, *, now_ms: int, from_ms: int | None = None) -> int:
    """Recompute one machine's intervals from ``from_ms`` (or where it stopped) to now; returns how many."""
    cursor = session.get(StateCursor, machine.id)
    tags = _machine_tags(session, machine)
    rule = rule_for(session, machine)
    timeout_ms = int(rule.offline_after_s * 1000)
    candidates = [x for x in (from_ms, cursor.derived_until_ms - timeout_ms if cursor else None) if x is not None]
    if candidates:
        # from a timeout before the cursor: whether the machine fell silent just before it is only known now
        start = min(candidates)
    else:
        first = _first_data(session, tags.all_ids)
        if first is None:
            return 0
        start = max(first, now_ms - FIRST_LOOKBACK_MS)
    holder = session.scalar(select(MachineStateInterval).where(
        MachineStateInterval.machine_id == machine.id, MachineStateInterval.start_ms <= start)
        .order_by(MachineStateInterval.start_ms.desc()).limit(1))
    if holder is not None and holder.state is State.offline and holder.end_ms > start:
        start = holder.start_ms  # late data may fill an offline span anywhere in it: recompute it whole
    end = max(now_ms, start)
    samples = {suffix: _samples(session, tags.by_suffix[suffix], start, end)
               for suffix in rule.source_tags() if suffix in tags.by_suffix}
    presence = _presence(session, tags.all_ids, start - timeout_ms, end, timeout_ms)
    new = derive(rule, samples, presence, start, end)
    _replace(session, machine, start, new)
    _recount(session, machine, rule, tags, start - start % HOUR_MS, end)
    if cursor is None:
        session.add(StateCursor(machine_id=machine.id, org_id=machine.org_id, derived_until_ms=end))
    else:
        cursor.derived_until_ms = end
    return len(new)


def _replace(session: Session, machine: Machine, start: int, new: list[Interval]) -> None:
    """Store ``new`` (which covers [start, now)) in place of what was stored from ``start`` on."""
    mine = MachineStateInterval.machine_id == machine.id
    later = session.scalars(select(MachineStateInterval).where(mine, MachineStateInterval.start_ms >= start)).all()
    reasons = [o for o in later if o.reason_id is not None or o.note]
    session.execute(delete(MachineStateInterval).where(mine, MachineStateInterval.start_ms >= start))
    previous = session.scalar(select(MachineStateInterval).where(mine, MachineStateInterval.start_ms < start)
                              .order_by(MachineStateInterval.start_ms.desc()).limit(1))
    if previous is not None and previous.end_ms > start:
        previous.end_ms = start  # cut where the recomputation begins
    session.flush()
    rows: list[MachineStateInterval] = []
    for interval in new:
        if not rows and previous is not None and previous.state == interval.state and previous.end_ms == start:
            previous.end_ms = interval.end_ms  # the stored interval simply goes on
            continue
        row = MachineStateInterval(org_id=machine.org_id, machine_id=machine.id, start_ms=interval.start_ms,
                                   end_ms=interval.end_ms, state=interval.state)
        best, overlap = None, 0
        for old in reasons:
            shared = min(old.end_ms, interval.end_ms) - max(old.start_ms, interval.start_ms)
            if old.state == interval.state and shared > overlap:
                best, overlap = old, shared
        if best is not None:
            row.reason_id, row.reason_by, row.reason_at, row.note = (best.reason_id, best.reason_by,
                                                                     best.reason_at, best.note)
        rows.append(row)
    session.add_all(rows)
    session.flush()


def _recount(session: Session, machine: Machine, rule: StateRule, tags: _MachineTags, start: int, end: int) -> None:
    """Recompute the machine's hourly part counts from ``start`` (an hour) on, with the planned run time of the
    parts whose part (the value of the machine's part tag) has its own ideal cycle time."""
    part_tag = tag_suffix(machine.part_tag_key, machine.key) if machine.part_tag_key else None
    part_samples = _samples(session, tags.by_suffix[part_tag], start, end) if part_tag in tags.by_suffix else None
    cycles = {str(k): float(v) for k, v in (machine.ideal_cycle_times or {}).items()}

    def counts(suffix: str | None) -> dict[int, HourCount]:
        if suffix is None or suffix not in tags.by_suffix:
            return {}
        ts, values = _samples(session, tags.by_suffix[suffix], start, end)
        numeric = np.array([v if isinstance(v, int | float) else np.nan for v in values], dtype=np.float64)
        ok = np.isfinite(numeric)
        ts, numeric = ts[ok], numeric[ok]
        cycle = cycles_at(ts, part_samples[0], part_samples[1], cycles) if part_samples is not None else None
        return hourly_counts(ts, numeric, start, cycle)

    def added(a: dict[int, HourCount], b: dict[int, HourCount]) -> dict[int, HourCount]:
        zero = HourCount(0, 0.0, 0)
        return {h: HourCount(*(x + y for x, y in zip(a.get(h, zero), b.get(h, zero), strict=True)))
                for h in a.keys() | b.keys()}

    if rule.counter_tag is None:  # good and scrap parts are counted, all parts are not
        good_counts = counts(rule.good_tag)
        produced = added(good_counts, counts(rule.scrap_tag))
        good = {h: c.parts for h, c in good_counts.items()}
    else:
        produced = counts(rule.counter_tag)
        if rule.good_tag is not None:
            good = {h: c.parts for h, c in counts(rule.good_tag).items()}
        else:
            scrap = counts(rule.scrap_tag)
            good = {h: c.parts - (scrap[h].parts if h in scrap else 0) for h, c in produced.items()}
    session.execute(delete(MachineCount).where(MachineCount.machine_id == machine.id, MachineCount.hour_ms >= start))
    session.add_all(MachineCount(machine_id=machine.id, hour_ms=h, org_id=machine.org_id, produced=c.parts,
                                 good=max(0, min(c.parts, good.get(h, 0))), planned_run_s=c.planned_run_s,
                                 own_cycle_parts=c.own_cycle_parts)
                    for h, c in sorted(produced.items()) if c.parts > 0)
    session.flush()


def refresh_states(session: Session, *, now_ms: int, machine_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Bring every machine (or the given ones) up to ``now_ms``; clears the marks it has caught up with."""
    marks = {m.machine_id: (m.from_ms, m.version) for m in session.scalars(select(MachineDataMark))}
    query = select(Machine).order_by(Machine.id)
    if machine_ids is not None:
        query = query.where(Machine.id.in_(list(machine_ids)))
    machines = session.scalars(query).all()
    done = intervals = 0
    cursors = dict(session.execute(select(StateCursor.machine_id, StateCursor.derived_until_ms)).all())
    for machine in machines:
        mark = marks.get(machine.id)
        if mark is None and machine_ids is None and now_ms - cursors.get(machine.id, 0) < IDLE_REFRESH_MS:
            continue  # nothing new and recently extended: the live edge can wait (offline shows within a minute)
        intervals += refresh_machine(session, machine, now_ms=now_ms, from_ms=mark[0] if mark else None)
        if mark is not None:
            session.execute(delete(MachineDataMark).where(MachineDataMark.machine_id == machine.id,
                                                          MachineDataMark.version == mark[1]))
        done += 1
    return {"machines": done, "intervals": intervals}
