"""The machine models behind the simulators: deterministic per seed, and plausible over a simulated week
(output only in shift hours, breakdowns with repairs of 10–60 min, 0.5–5 % scrap, counters that never go back).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from commonworks.connect.simulators.machines import (
    DEFAULT_CALENDAR,
    Activity,
    CncModel,
    CncSnapshot,
    ImmModel,
    ImmSnapshot,
    MachineryItemState,
    Segment,
    ShiftCalendar,
    SimClock,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 1, 5, tzinfo=SHANGHAI)  # 00:00 local
WEEK = 7 * 86400.0
STEP = 60.0


def local(day: int, hour: int, minute: int = 0) -> float:
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).timestamp()


def test_calendar_has_two_shifts_with_lunch_and_dinner_breaks() -> None:
    cal = DEFAULT_CALENDAR
    assert cal.segment_at(local(0, 3)) == (local(0, 0), local(0, 8), Segment.OFF)
    assert cal.segment_at(local(0, 9)) == (local(0, 8), local(0, 12), Segment.WORK)
    assert cal.segment_at(local(0, 12, 30)) == (local(0, 12), local(0, 12, 45), Segment.BREAK)
    assert cal.segment_at(local(0, 16)) == (local(0, 12, 45), local(0, 20), Segment.WORK)  # shift change, no gap
    assert cal.segment_at(local(0, 20, 10))[2] is Segment.BREAK
    assert cal.segment_at(local(0, 23, 59)) == (local(0, 20, 30), local(1, 0), Segment.WORK)
    sundays_off = ShiftCalendar(workdays=frozenset(range(6)))
    assert sundays_off.kind_at(local(6, 10)) is Segment.OFF and sundays_off.kind_at(local(5, 10)) is Segment.WORK


@pytest.mark.parametrize("model_type", [CncModel, ImmModel])
def test_same_seed_same_history_whatever_the_step_pattern(model_type: type[CncModel] | type[ImmModel]) -> None:
    fine, coarse, other = model_type(42, start=MONDAY.timestamp()), model_type(42, start=MONDAY.timestamp()), \
        model_type(43, start=MONDAY.timestamp())
    end = local(1, 15, 17)
    t = MONDAY.timestamp()
    while t < end:
        t += 11.3
        fine.advance_to(min(t, end))
    for t in (local(0, 9), local(1, 13), end):
        last = coarse.advance_to(t)
    assert fine.advance_to(end) == last
    assert other.advance_to(end) != last


def simulate_week(model: CncModel | ImmModel, step: float = STEP) -> list[CncSnapshot] | list[ImmSnapshot]:
    start = MONDAY.timestamp()
    return [model.advance_to(start + i * step) for i in range(int(WEEK / step) + 1)]  # type: ignore[misc]


@pytest.mark.parametrize("model_type", [CncModel, ImmModel])
def test_a_week_produces_only_in_shift_hours(model_type: type[CncModel] | type[ImmModel]) -> None:
    model = model_type(7, start=MONDAY.timestamp())
    snaps = simulate_week(model)
    cal = model.calendar
    transitions = list(model.transitions)
    for here, nxt in pairwise(transitions):
        if here.activity is Activity.PRODUCING:  # production starts in a working segment and stops by its end
            _start, end, kind = cal.segment_at(here.t)
            assert kind is Segment.WORK and nxt.t <= end
    counter = "part_counter" if model_type is CncModel else "shot_counter"
    for a, b in pairwise(snaps):
        if cal.kind_at(a.t) is not Segment.WORK and cal.segment_at(a.t) == cal.segment_at(b.t):
            assert getattr(a, counter) == getattr(b, counter), datetime.fromtimestamp(a.t, SHANGHAI)
    for day in range(7):
        night = model_type(7, start=MONDAY.timestamp())
        assert night.advance_to(local(day, 3)).state is MachineryItemState.NOT_AVAILABLE
        made = getattr(snaps[int((day + 1) * 86400 / STEP)], counter) - getattr(snaps[int(day * 86400 / STEP)], counter)
        assert made > 50, f"day {day}: only {made}"


@pytest.mark.parametrize("model_type", [CncModel, ImmModel])
def test_a_week_has_breakdowns_repaired_in_10_to_60_minutes(model_type: type[CncModel] | type[ImmModel]) -> None:
    model = model_type(3, start=MONDAY.timestamp())
    snaps = simulate_week(model)
    repairs = [(b.t - a.t) / 60 for a, b in pairwise(model.transitions) if a.activity is Activity.DOWN]
    assert model.breakdowns >= 5 and len(repairs) == model.breakdowns
    assert all(10 <= minutes <= 60 for minutes in repairs), repairs
    down = [s for s in snaps if s.activity is Activity.DOWN]
    assert all(s.state is MachineryItemState.OUT_OF_SERVICE and s.alarm_code != 0 and s.alarm_text for s in down)
    assert all(s.alarm_code == 0 for s in snaps if s.activity is not Activity.DOWN)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_week_scraps_between_half_and_five_percent_and_counters_never_go_back(seed: int) -> None:
    cnc = simulate_week(CncModel(seed, start=MONDAY.timestamp()), step=300)
    made = cnc[-1].part_counter - cnc[0].part_counter
    assert 0.005 <= (cnc[-1].scrap_counter - cnc[0].scrap_counter) / made <= 0.05
    assert all(b.part_counter >= a.part_counter and b.scrap_counter >= a.scrap_counter for a, b in pairwise(cnc))

    imm = simulate_week(ImmModel(seed, start=MONDAY.timestamp()), step=300)
    good = imm[-1].good_counter - imm[0].good_counter
    scrap = imm[-1].scrap_counter - imm[0].scrap_counter
    assert 0.005 <= scrap / (good + scrap) <= 0.05
    assert all(b.shot_counter >= a.shot_counter and b.good_counter >= a.good_counter for a, b in pairwise(imm))


def test_changeovers_switch_programs_and_moulds() -> None:
    cnc = CncModel(5, start=MONDAY.timestamp())
    imm = ImmModel(5, start=MONDAY.timestamp())
    programs = {s.program for s in simulate_week(cnc, step=900)}
    moulds = {s.mould for s in simulate_week(imm, step=900)}
    assert len(programs) >= 2 and len(moulds) >= 2
    assert any(t.activity is Activity.SETUP for t in cnc.transitions)
    assert any(t.activity is Activity.SETUP for t in imm.transitions)


def test_cnc_spindle_turns_only_while_cutting() -> None:
    snaps = simulate_week(CncModel(9, start=MONDAY.timestamp()))
    assert all(s.spindle_speed == 0 and s.feed_rate == 0 for s in snaps if s.activity is not Activity.PRODUCING)
    cutting = [s for s in snaps if s.spindle_speed > 0]
    assert cutting and all(s.state is MachineryItemState.EXECUTING and s.feed_rate > 0 for s in cutting)
    loading = [s for s in snaps if s.activity is Activity.PRODUCING and s.spindle_speed == 0]
    assert loading  # load/unload phases of each cycle


def test_imm_heats_up_in_shift_and_cools_down_at_night() -> None:
    imm = ImmModel(4, start=MONDAY.timestamp())
    night = imm.advance_to(local(0, 7, 59))
    assert all(abs(t - 25.0) < 2 for t in night.barrel_temps)
    producing = imm.advance_to(local(0, 10))
    assert producing.activity is Activity.PRODUCING
    setpoints = next(m for m in imm.moulds if m.name == producing.mould).barrel_c
    assert all(abs(t - sp) < 3 for t, sp in zip(producing.barrel_temps, setpoints, strict=True))
    assert producing.cycle_time > 0
    three_hours_after_shift = imm.advance_to(local(1, 3))
    assert all(t < 40 for t in three_hours_after_shift.barrel_temps)


def test_speed_factor_maps_real_seconds_to_simulated_ones() -> None:
    clock = SimClock(speed=3600, real_origin=1000.0, sim_origin=local(0, 8))
    assert clock.at(1000.0) == local(0, 8)
    assert clock.at(1002.0) == local(0, 10)  # two real seconds, two simulated hours
    fast = CncModel(1, start=clock.at(1000.0))
    slow = CncModel(1, start=local(0, 8))
    assert fast.advance_to(clock.at(1002.0)) == slow.advance_to(local(0, 10))
    assert SimClock(speed=1.0, real_origin=5.0).at(6.5) == 6.5
    with pytest.raises(ValueError, match="speed must be positive"):
        SimClock(speed=0)


def test_time_never_runs_backwards() -> None:
    model = CncModel(1, start=local(0, 8))
    later = model.advance_to(local(0, 11))
    assert model.advance_to(local(0, 9)) == later
