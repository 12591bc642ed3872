"""Machine states from tag samples (pure: arrays in, intervals out; no database).

A machine is in one of six states at any time — the vocabulary of the ISO 22400-2 time
model used by :mod:`commonworks.operations` and the ``commonworks kpi`` tool:

==============  ===========================================================================
producing       making parts (ISO 22400: actual production time)
idle            switched on, not producing, not set up, not broken (delay time)
setup           changeover / setting up (setup time)
down_unplanned  breakdown, fault (down time)
down_planned    planned maintenance or a planned stop reported by the machine
offline         no data from the machine for longer than its rule's timeout
==============  ===========================================================================

A :class:`StateRule` says how a machine's tags give its state:

``map``
    one tag's value looks up a state — the OPC 40001-1 ``MachineryItemState`` (0
    NotAvailable, 1 OutOfService, 2 NotExecuting, 3 Executing), an injection moulder's
    Modbus status register, a controller's state text. Values not in the table count as
    ``idle``: the machine is on but in no state the rule knows.
``running``
    spindle (or drive) speed above a threshold *and* the part counter rising within a
    window → ``producing``; otherwise ``idle`` — for machines that expose no state at all.

Samples hold their value until the next one (OPC UA and Sparkplug report by
exception). Presence is judged separately, from *any* tag of the machine: a gap in its
data longer than ``offline_after_s`` is ``offline``, from the last sample before the
gap to the first sample after it, and so is the time after the newest sample once the
timeout has passed. So a machine read by exception must not hold every value for longer than
the timeout while it is connected: an OPC UA subscription delivers nothing while a machine
stands still (down, being set up), and unless its gateway re-sends unchanged values, its rule
needs an ``offline_after_s`` longer than its longest stop, or those stops turn ``offline``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

import numpy as np


class State(StrEnum):
    producing = "producing"
    idle = "idle"
    setup = "setup"
    down_unplanned = "down_unplanned"
    down_planned = "down_planned"
    offline = "offline"


STATES: tuple[State, ...] = tuple(State)
_CODE = {s: i for i, s in enumerate(STATES)}
OFFLINE_CODE = _CODE[State.offline]

# OPC 40001-1 MachineryItemState. NotAvailable means switched off or in energy saving: during planned
# time that is time lost (idle), not a fault and not a plan the platform knows of.
OPC_40001_1: dict[str, State] = {"0": State.idle, "1": State.down_unplanned, "2": State.idle, "3": State.producing,
                                 "NotAvailable": State.idle, "OutOfService": State.down_unplanned,
                                 "NotExecuting": State.idle, "Executing": State.producing}


@dataclass(frozen=True)
class StateRule:
    """How one machine's tags give its state. Tag names are key suffixes: ``<machine key>.<suffix>``."""

    kind: Literal["map", "running"] = "map"
    state_tag: str = "machinery_item_state"
    mapping: Mapping[str, State] = field(default_factory=lambda: dict(OPC_40001_1))
    speed_tag: str = "spindle_speed"
    # Parts made (produced), also what the running rule watches; None for a machine that counts its good and
    # its scrap parts but no total — an injection moulder whose shot counter counts cycles, not parts:
    # produced = good + scrap then.
    counter_tag: str | None = "part_counter"
    good_tag: str | None = None  # a good-parts counter, if the machine has one …
    scrap_tag: str | None = "scrap_counter"  # … else good = produced − scrap
    speed_threshold: float = 0.0
    counter_window_s: float = 120.0
    offline_after_s: float = 300.0

    def source_tags(self) -> tuple[str, ...]:
        if self.kind == "map":
            return (self.state_tag,)
        return (self.speed_tag, self.counter_tag) if self.counter_tag else (self.speed_tag,)


@dataclass(frozen=True)
class Interval:
    start_ms: int
    end_ms: int
    state: State

    @property
    def seconds(self) -> float:
        return (self.end_ms - self.start_ms) / 1000


def tag_suffix(tag_key: str, machine_key: str) -> str:
    """The name rules use for a machine's tag: its key after ``<machine key>.`` (the whole key otherwise).

    >>> tag_suffix("cnc-01.spindle_speed", "cnc-01"), tag_suffix("hall.temperature", "cnc-01")
    ('spindle_speed', 'hall.temperature')
    """
    return tag_key.removeprefix(f"{machine_key}.")


def value_key(value: Any) -> str:
    """The lookup key of a sample value: integral numbers without a fraction, text as is.

    >>> value_key(3.0), value_key(True), value_key("Executing")
    ('3', '1', 'Executing')
    """
    if isinstance(value, str):
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else repr(number)


def map_states(values: Sequence[Any], mapping: Mapping[str, State]) -> np.ndarray:
    """State codes for values through a rule's table (unknown values → idle)."""
    idle = _CODE[State.idle]
    return np.fromiter((_CODE[mapping[k]] if (k := value_key(v)) in mapping else idle for v in values),
                       dtype=np.int8, count=len(values))


def running_states(speed_ts: np.ndarray, speed: np.ndarray, counter_ts: np.ndarray, counter: np.ndarray,
                   rule: StateRule) -> tuple[np.ndarray, np.ndarray]:
    """(ts, state codes) of the ``running`` rule at every sample time of either tag.

    Producing while the last speed is above the threshold and the counter rose within
    ``counter_window_s`` before that moment; idle otherwise.

    >>> r = StateRule(kind="running", speed_threshold=100, counter_window_s=60)
    >>> ts, codes = running_states(np.array([0, 10_000]), np.array([0.0, 900.0]),
    ...                            np.array([0, 30_000, 200_000]), np.array([5.0, 6.0, 6.0]), r)
    >>> ts.tolist(), [STATES[c].value for c in codes]
    ([0, 10000, 30000, 90000, 200000], ['idle', 'idle', 'producing', 'idle', 'idle'])
    """
    window = int(rule.counter_window_s * 1000)
    rises = counter_ts[1:][np.diff(counter) > 0]
    # a rise keeps the machine "counting" until window ms later: those ends are moments too
    ts = np.unique(np.concatenate([speed_ts, counter_ts, rises + window]))
    if len(speed_ts):
        i = np.searchsorted(speed_ts, ts, side="right") - 1
        spinning = (i >= 0) & (speed[np.maximum(i, 0)] > rule.speed_threshold)
    else:
        spinning = np.zeros(len(ts), dtype=bool)
    j = np.searchsorted(rises, ts, side="right") - 1
    counting = (j >= 0) & (ts - rises[np.maximum(j, 0)] < window) if len(rises) else np.zeros(len(ts), dtype=bool)
    codes = np.where(spinning & counting, _CODE[State.producing], _CODE[State.idle]).astype(np.int8)
    return ts, codes


def offline_gaps(data_ts: np.ndarray, start_ms: int, end_ms: int, offline_after_s: float) -> list[tuple[int, int]]:
    """Spans without data longer than the timeout, within [start_ms, end_ms).

    ``data_ts`` are the sorted moments the machine sent anything (any tag). A gap runs
    from the last moment before it to the first after it; the time after the newest
    moment is a gap too once it exceeds the timeout (the machine is offline *now*).

    >>> offline_gaps(np.array([0, 60_000, 1_000_000]), 0, 2_000_000, 300)
    [(60000, 1000000), (1000000, 2000000)]
    """
    limit = offline_after_s * 1000
    if len(data_ts) == 0:
        return [(start_ms, end_ms)] if end_ms - start_ms > limit else []
    gaps: list[tuple[int, int]] = []
    if data_ts[0] - start_ms > limit:  # pass the last moment before start_ms to judge the start
        gaps.append((start_ms, int(data_ts[0])))
    for k in np.flatnonzero(np.diff(data_ts) > limit):
        gaps.append((int(data_ts[k]), int(data_ts[k + 1])))
    if end_ms - data_ts[-1] > limit:
        gaps.append((int(data_ts[-1]), end_ms))
    return [(max(a, start_ms), min(b, end_ms)) for a, b in gaps if min(b, end_ms) > max(a, start_ms)]


def intervals(ts: np.ndarray, codes: np.ndarray, start_ms: int, end_ms: int, *,
              gaps: Sequence[tuple[int, int]] = (), before: State | None = None) -> list[Interval]:
    """Contiguous intervals covering [start_ms, end_ms) from state changes at ``ts``.

    The state before the first sample is ``before`` (the state at ``start_ms`` carried
    over from earlier data) or, when unknown, offline. Offline gaps override the
    states; neighbours of equal state are merged.

    >>> codes = map_states([3, 3, 1, 3], OPC_40001_1)
    >>> [(i.start_ms, i.end_ms, i.state.value) for i in intervals(np.array([0, 10, 20, 30]), codes, 0, 50)]
    [(0, 20, 'producing'), (20, 30, 'down_unplanned'), (30, 50, 'producing')]
    """
    if end_ms <= start_ms:
        return []
    inside = (ts >= start_ms) & (ts < end_ms)
    ts, codes = ts[inside], codes[inside]
    first = _CODE[before] if before is not None else OFFLINE_CODE
    if len(ts) == 0 or ts[0] > start_ms:
        ts = np.concatenate([[start_ms], ts])
        codes = np.concatenate([[first], codes]).astype(np.int8)
    # overlay the gaps: each becomes a run of offline, after which the state in force resumes
    if gaps:
        extra_ts, extra_codes = [], []
        for a, b in gaps:
            k = int(np.searchsorted(ts, b, side="right")) - 1  # the state in force at b
            extra_ts += [a, b]
            extra_codes += [OFFLINE_CODE, int(codes[k]) if k >= 0 else OFFLINE_CODE]
        inner = np.ones(len(ts), dtype=bool)
        for a, b in gaps:
            inner &= ~((ts >= a) & (ts < b))
        ts = np.concatenate([ts[inner], np.array(extra_ts, dtype=np.int64)])
        codes = np.concatenate([codes[inner], np.array(extra_codes, dtype=np.int8)])
        order = np.argsort(ts, kind="stable")
        ts, codes = ts[order], codes[order]
        # a gap's resume point equal to end_ms, or two points at one moment: the later one wins
        keep = np.append(ts[1:] != ts[:-1], True)
        ts, codes = ts[keep], codes[keep]
        inside = ts < end_ms
        ts, codes = ts[inside], codes[inside]
    change = np.ones(len(ts), dtype=bool)
    change[1:] = codes[1:] != codes[:-1]
    starts = ts[change].tolist()
    states = codes[change].tolist()
    ends = [*starts[1:], end_ms]
    return [Interval(int(a), int(b), STATES[c]) for a, b, c in zip(starts, ends, states, strict=True) if b > a]


def derive(rule: StateRule, samples: Mapping[str, tuple[np.ndarray, list[Any]]], data_ts: np.ndarray,
           start_ms: int, end_ms: int, *, before: State | None = None) -> list[Interval]:
    """A machine's intervals over [start_ms, end_ms) from its source samples and data presence.

    ``samples`` maps a rule's tag suffix to (sorted ts, values) — including, for a map
    rule, the last sample before ``start_ms`` so the state at the start is known.
    """
    if rule.kind == "map":
        ts, values = samples.get(rule.state_tag, (np.empty(0, dtype=np.int64), []))
        codes = map_states(values, rule.mapping)
        if len(ts) and ts[0] < start_ms:  # the carried-over state at the start
            k = int(np.searchsorted(ts, start_ms, side="right")) - 1
            before = STATES[int(codes[k])]
            ts, codes = ts[k + 1:], codes[k + 1:]
    else:
        speed_ts, speed = samples.get(rule.speed_tag, (np.empty(0, dtype=np.int64), []))
        count_ts, count = samples.get(rule.counter_tag, (np.empty(0, dtype=np.int64), []))
        ts, codes = running_states(np.asarray(speed_ts), np.asarray(speed, dtype=float), np.asarray(count_ts),
                                   np.asarray(count, dtype=float), rule)
        if len(ts) and ts[0] < start_ms:
            k = int(np.searchsorted(ts, start_ms, side="right")) - 1
            before = STATES[int(codes[k])]
            ts, codes = ts[k + 1:], codes[k + 1:]
    gaps = offline_gaps(data_ts, start_ms, end_ms, rule.offline_after_s)
    return intervals(np.asarray(ts, dtype=np.int64), codes, start_ms, end_ms, gaps=gaps, before=before)
