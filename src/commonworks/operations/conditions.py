"""Alarm conditions over a tag's samples (pure): thresholds with hysteresis and delay, rate of change.

A condition is a small state machine fed with a tag's samples in time order. It is
*normal*, *pending* (the bad value has been seen, but not yet for ``delay_ms``) or
*active*. It raises when it has been bad for at least ``delay_ms`` and clears only when
the value is back past the limit by the ``deadband`` — so a signal that flickers around
its limit raises once, not once per sample (ISA-18.2's deadband and on-delay).

``threshold``
    bad while the value is above (or below) ``limit``; clears at ``limit − deadband``
    (or ``limit + deadband``).
``rate``
    bad while the value changes faster than ``limit`` units per second between two
    samples (in either direction); clears when the rate is at most ``limit − deadband``.

Most batches cross no limit: that case is one vectorised test, no Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Condition:
    kind: Literal["threshold", "rate"]
    limit: float
    direction: Literal["above", "below"] = "above"
    deadband: float = 0.0
    delay_ms: int = 0


@dataclass(frozen=True)
class ConditionState:
    active: bool = False
    pending_since: int | None = None  # when the value turned bad (not raised yet)
    since: int | None = None  # when the active alarm's bad period began
    last_ts: int | None = None
    last_value: float | None = None


@dataclass(frozen=True)
class Event:
    kind: Literal["raise", "clear"]
    ts: int  # when it was decided (a sample's time)
    since: int  # raise: when the value turned bad; clear: = ts
    value: float


def _measure(condition: Condition, state: ConditionState, ts: np.ndarray,
             values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, measured quantity, values) the limits apply to."""
    if condition.kind == "threshold":
        return ts, values, values
    prev_ts = np.concatenate([[state.last_ts], ts[:-1]]) if state.last_ts is not None else ts[:-1]
    prev_v = np.concatenate([[state.last_value], values[:-1]]) if state.last_value is not None else values[:-1]
    cur_ts, cur_v = (ts, values) if state.last_ts is not None else (ts[1:], values[1:])
    dt = (cur_ts - prev_ts) / 1000
    rate = np.where(dt > 0, np.abs(cur_v - prev_v) / np.where(dt > 0, dt, 1), 0.0)
    return cur_ts, rate, cur_v


def evaluate(condition: Condition, state: ConditionState, ts: np.ndarray,
             values: np.ndarray) -> tuple[list[Event], ConditionState]:
    """Feed samples (sorted by time, newer than the state's last) to a condition.

    A high-temperature alarm at 80 °C with a 2 °C deadband and a 10 s delay; the value
    flickers around 80 and raises once, at the first sample 10 s after it went bad, and
    clears only below 78:

    >>> c = Condition("threshold", 80.0, deadband=2.0, delay_ms=10_000)
    >>> ts = np.array([0, 5, 10, 15, 20, 25, 30, 35]) * 1000
    >>> v = np.array([79.0, 81.0, 79.5, 81.0, 80.5, 81.0, 79.0, 77.5])
    >>> events, s = evaluate(c, ConditionState(), ts, v)
    >>> [(e.kind, e.ts // 1000, e.since // 1000) for e in events], s.active
    ([('raise', 25, 15), ('clear', 35, 35)], False)
    """
    if len(ts) == 0:
        return [], state
    at, measured, shown = _measure(condition, state, ts, values)
    last = replace(state, last_ts=int(ts[-1]), last_value=float(values[-1]))
    if len(at) == 0:
        return [], last
    sign = 1.0 if condition.direction == "above" or condition.kind == "rate" else -1.0
    bad = sign * measured > sign * condition.limit
    good = sign * measured < sign * (condition.limit - sign * condition.deadband) if condition.deadband else ~bad
    if not state.active and state.pending_since is None and not bad.any():
        return [], last
    if state.active and not good.any():
        return [], last
    events: list[Event] = []
    active, pending, since = state.active, state.pending_since, state.since
    for t, b, g, v in zip(at.tolist(), bad.tolist(), good.tolist(), shown.tolist(), strict=True):
        if active:
            if g:
                events.append(Event("clear", t, t, v))
                active, pending, since = False, None, None
        elif b:
            pending = t if pending is None else pending
            if t - pending >= condition.delay_ms:
                events.append(Event("raise", t, pending, v))
                active, since, pending = True, pending, None
        else:
            pending = None
    return events, replace(last, active=active, pending_since=pending, since=since)
