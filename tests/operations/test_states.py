"""Machine states from samples: worked examples of the pure derivation (no database)."""

from __future__ import annotations

import numpy as np

from commonworks.operations.derive import IMM_STATUS
from commonworks.operations.states import (
    OPC_40001_1,
    State,
    StateRule,
    derive,
    intervals,
    map_states,
    offline_gaps,
)

S = 1000
MIN = 60 * S


def every_minute(start: int, end: int) -> np.ndarray:
    return np.arange(start, end + 1, MIN, dtype=np.int64)


def spans(result) -> list[tuple[int, int, str]]:  # type: ignore[no-untyped-def]
    return [(i.start_ms // S, i.end_ms // S, i.state.value) for i in result]


def test_opc_40001_1_states_make_contiguous_intervals() -> None:
    # Executing at 0 s, OutOfService at 600 s, Executing at 900 s, NotExecuting at 1,200 s; data every minute
    ts = np.array([0, 600, 900, 1200]) * S
    result = derive(StateRule(), {"machinery_item_state": (ts, [3, 1, 3, 2])}, every_minute(0, 1800 * S), 0,
                    1800 * S)
    assert spans(result) == [(0, 600, "producing"), (600, 900, "down_unplanned"), (900, 1200, "producing"),
                             (1200, 1800, "idle")]
    assert sum(i.seconds for i in result) == 1800  # the intervals tile the range


def test_a_repeated_state_does_not_split_an_interval() -> None:
    ts = np.array([0, 60, 120, 180]) * S
    result = derive(StateRule(), {"machinery_item_state": (ts, [3, 3, 3, 3])}, every_minute(0, 300 * S), 0,
                    300 * S)
    assert spans(result) == [(0, 300, "producing")]


def test_silence_longer_than_the_timeout_is_offline_then_the_state_in_force_resumes() -> None:
    # state samples: Executing at 0; data every minute until 600 s, nothing until 1,500 s, then every minute
    presence = np.concatenate([every_minute(0, 600 * S), every_minute(1500 * S, 1800 * S)])
    result = derive(StateRule(offline_after_s=300), {"machinery_item_state": (np.array([0]), [3])}, presence, 0,
                    1800 * S)
    assert spans(result) == [(0, 600, "producing"), (600, 1500, "offline"), (1500, 1800, "producing")]


def test_a_short_silence_is_not_offline() -> None:
    presence = np.array([0, 200, 400]) * S  # gaps of 200 s, timeout 300 s
    assert offline_gaps(presence, 0, 600 * S, 300) == []


def test_the_machine_is_offline_now_once_the_timeout_has_passed() -> None:
    result = derive(StateRule(offline_after_s=300), {"machinery_item_state": (np.array([0]), [3])},
                    every_minute(0, 1000 * S), 0, 1800 * S)
    assert spans(result)[-1] == (960, 1800, "offline")  # last data at 960 s (every minute), 840 s of silence


def test_the_state_before_the_range_carries_into_it() -> None:
    # OutOfService since 100 s; the range starts at 1,000 s with no new state sample until 1,300 s
    ts = np.array([100, 1300]) * S
    result = derive(StateRule(), {"machinery_item_state": (ts, [1, 3])}, every_minute(0, 2000 * S), 1000 * S,
                    2000 * S)
    assert spans(result) == [(1000, 1300, "down_unplanned"), (1300, 2000, "producing")]


def test_without_any_state_the_start_is_offline_until_the_first_sample() -> None:
    result = intervals(np.array([50 * S]), map_states([3], OPC_40001_1), 0, 100 * S)
    assert spans(result) == [(0, 50, "offline"), (50, 100, "producing")]


def test_state_names_and_unknown_values() -> None:
    codes = map_states(["Executing", "OutOfService", 7, 3.0], OPC_40001_1)
    assert [list(State)[c] for c in codes] == [State.producing, State.down_unplanned, State.idle, State.producing]


def test_injection_moulder_status_register_knows_setup() -> None:
    ts = np.array([0, 300, 1200, 1500]) * S
    rule = StateRule(state_tag="machine_status", mapping=IMM_STATUS)
    result = derive(rule, {"machine_status": (ts, [3, 2, 3, 4])}, every_minute(0, 1800 * S), 0, 1800 * S)
    assert spans(result) == [(0, 300, "producing"), (300, 1200, "setup"), (1200, 1500, "producing"),
                             (1500, 1800, "down_unplanned")]


def test_running_rule_needs_speed_and_a_rising_counter() -> None:
    # spindle at 8,000 rpm from 0 s; the counter rises at 60 s and 120 s, then stops; spindle stops at 600 s
    rule = StateRule(kind="running", speed_threshold=100, counter_window_s=90)
    samples = {"spindle_speed": (np.array([0, 600]) * S, [8000.0, 0.0]),
               "part_counter": (np.array([0, 60, 120, 400]) * S, [10, 11, 12, 12])}
    result = derive(rule, samples, every_minute(0, 900 * S), 0, 900 * S)
    # producing from the first rise (60 s) until 90 s after the last rise (120 + 90 = 210 s)
    assert spans(result) == [(0, 60, "idle"), (60, 210, "producing"), (210, 900, "idle")]
