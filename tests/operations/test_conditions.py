"""Alarm conditions (pure): deadband, delay, direction, rate of change, state across batches."""

from __future__ import annotations

import numpy as np

from commonworks.operations.conditions import Condition, ConditionState, evaluate

S = 1000


def run(condition, batches, state=None):  # type: ignore[no-untyped-def]
    state = state or ConditionState()
    events = []
    for ts, values in batches:
        new, state = evaluate(condition, state, np.array(ts) * S, np.array(values, dtype=float))
        events += [(e.kind, e.ts // S, e.since // S, e.value) for e in new]
    return events, state


def test_flicker_around_the_limit_raises_once_and_clears_past_the_deadband() -> None:
    c = Condition("threshold", 80.0, deadband=2.0)
    events, state = run(c, [([0, 1, 2, 3, 4, 5, 6], [79, 81, 79.5, 80.5, 78.5, 79.9, 77.9])])
    # raised at 1 s (81 > 80); 79.5, 80.5, 78.5 and 79.9 stay above 78, so it clears only at 6 s (77.9)
    assert events == [("raise", 1, 1, 81.0), ("clear", 6, 6, 77.9)]
    assert not state.active


def test_delay_needs_the_value_bad_for_the_whole_delay() -> None:
    c = Condition("threshold", 80.0, delay_ms=10_000)
    events, _ = run(c, [([0, 4, 8, 12, 16, 20, 24], [81, 81, 79, 81, 81, 81, 81])])
    # bad from 0 s, interrupted at 8 s; bad again from 12 s, raised at 24 s (12 s ≥ 10 s after 12 s)
    assert events == [("raise", 24, 12, 81.0)]


def test_the_delay_runs_across_batches() -> None:
    c = Condition("threshold", 80.0, delay_ms=10_000)
    events, state = run(c, [([0, 5], [85, 85])])
    assert events == [] and state.pending_since == 0
    events, state = run(c, [([9, 11], [85, 86])], state)
    assert events == [("raise", 11, 0, 86.0)] and state.active and state.since == 0


def test_below_a_limit() -> None:
    c = Condition("threshold", 2.0, direction="below", deadband=0.5)  # e.g. assist gas pressure in bar
    events, _ = run(c, [([0, 1, 2, 3], [3.0, 1.8, 2.3, 2.6])])
    assert events == [("raise", 1, 1, 1.8), ("clear", 3, 3, 2.6)]


def test_rate_of_change_uses_the_sample_before_the_batch() -> None:
    c = Condition("rate", 5.0)  # more than 5 units per second
    events, state = run(c, [([0, 1, 2], [10, 11, 12])])
    assert events == [] and state.last_value == 12
    events, state = run(c, [([4, 5, 6], [30, 31, 32])], state)
    # 12 → 30 in 2 s is 9/s: raised at 4 s; 30 → 31 in 1 s is 1/s: cleared at 5 s
    assert events == [("raise", 4, 4, 30.0), ("clear", 5, 5, 31.0)]


def test_no_crossing_is_no_event_and_the_last_sample_is_kept() -> None:
    events, state = run(Condition("threshold", 100.0), [([0, 1, 2], [1, 2, 3])])
    assert events == [] and (state.last_ts, state.last_value, state.active) == (2 * S, 3.0, False)
