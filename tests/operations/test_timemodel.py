"""The ISO 22400-2 time model: states and a calendar cut into time elements, hand-checked and
against a brute-force second-by-second reference."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commonworks.operations.kpi import ProductionCounts, TimeElements, kpis
from commonworks.operations.states import STATES, State
from commonworks.operations.timemodel import (
    PartCounts,
    Period,
    Spans,
    StateLog,
    production_counts,
    time_elements,
)

MIN = 60_000  # ms
DAY = Period(0, 1_440 * MIN)


def at(hh: int, mm: int = 0) -> int:
    return (hh * 60 + mm) * MIN


SHIFT = Spans.of([(0, at(6), at(14))])
BREAK = Spans.of([(0, at(10), at(10, 30))])


def elements(log: StateLog, period: Period = DAY, shifts: Spans = SHIFT,
             planned_downtime: Spans = BREAK, machines: int = 1) -> list[TimeElements]:
    return time_elements(machines=machines, period=period, states=log, shifts=shifts,
                         planned_downtime=planned_downtime)


def test_every_state_lands_in_its_element() -> None:
    """Shift 06:00–14:00 with a break 10:00–10:30, the whole day as period (CT = 1,440 min).

    states                          inside PBT goes to
    05:30–06:20 setup               06:00–06:20 AUST 20 (before the shift: nothing)
    06:20–07:00 producing           APT 40
    07:00–07:30 down_unplanned      ADOT 30, failure 1
    07:30–09:50 producing           APT 140
    09:50–10:10 down_unplanned  ┐   ADOT 10 (09:50–10:00; the rest is in the break)
    10:10–10:40 down_unplanned  ┘   ADOT 10 (10:30–10:40); touching: still failure 2
    10:40–11:00 idle                ADET 20
    11:00–11:30 down_planned        PDOT 30
    11:30–13:00 producing           APT 90
    13:00–13:20 offline             offline 20
    13:20–13:40 (no state)          offline 20
    13:40–14:30 producing           APT 20 (after the shift: nothing)

    POT = 480, PDOT = 30 + 30 = 60, PBT = 420 = APT 290 + AUST 20 + ADET 20 + ADOT 50 + offline 40 (minutes).
    """
    log = StateLog.of([
        (0, at(5, 30), at(6, 20), "setup"), (0, at(6, 20), at(7), "producing"),
        (0, at(7), at(7, 30), "down_unplanned"), (0, at(7, 30), at(9, 50), "producing"),
        (0, at(9, 50), at(10, 10), "down_unplanned"), (0, at(10, 10), at(10, 40), "down_unplanned"),
        (0, at(10, 40), at(11), "idle"), (0, at(11), at(11, 30), "down_planned"),
        (0, at(11, 30), at(13), "producing"), (0, at(13), at(13, 20), "offline"),
        (0, at(13, 40), at(14, 30), "producing"),
    ])
    [te] = elements(log)
    assert te == TimeElements(ct=1_440 * 60, pot=480 * 60, pdot=60 * 60, apt=290 * 60, aust=20 * 60, adet=20 * 60,
                              adot=50 * 60, offline=40 * 60, failures=2)
    assert te.pbt == 420 * 60


def test_producing_through_the_break_is_planned_down_time() -> None:
    """Producing 06:00–14:00 without a stop: the plan wins, so APT = 480 − 30 = 450 min, PDOT = 30 min,
    and availability is 100 %, not 480/450."""
    [te] = elements(StateLog.of([(0, at(6), at(14), "producing")]))
    assert (te.pot, te.pdot, te.apt) == (480 * 60, 30 * 60, 450 * 60)
    assert kpis(te, ProductionCounts()).availability == 1


def test_down_planned_inside_the_planned_break_counts_once() -> None:
    """down_planned 09:45–10:30 over the 10:00–10:30 break: PDOT = 15 (state) + 30 (calendar) = 45 min."""
    log = StateLog.of([(0, at(6), at(9, 45), "producing"), (0, at(9, 45), at(10, 30), "down_planned"),
                       (0, at(10, 30), at(14), "producing")])
    [te] = elements(log)
    assert (te.pdot, te.pbt, te.apt, te.offline) == (45 * 60, 435 * 60, 435 * 60, 0)


def test_time_without_any_state_is_offline() -> None:
    """No states at all: the whole PBT (450 min) is offline; APT 0, so availability 0."""
    [te] = elements(StateLog.of([]))
    assert (te.pbt, te.offline, te.apt) == (450 * 60, 450 * 60, 0)


def test_overlapping_shifts_count_once_and_downtime_outside_shifts_is_nothing() -> None:
    """Shifts 06:00–14:00 listed twice plus 13:00–15:00: POT = 06:00–15:00 = 540 min.
    Planned downtime 20:00–21:00 lies outside every shift: PDOT stays 0."""
    shifts = Spans.of([(0, at(6), at(14)), (0, at(6), at(14)), (0, at(13), at(15))])
    [te] = elements(StateLog.of([]), shifts=shifts, planned_downtime=Spans.of([(0, at(20), at(21))]))
    assert (te.pot, te.pdot) == (540 * 60, 0)


def test_a_breakdown_belongs_to_the_period_of_its_first_planned_busy_moment() -> None:
    """down_unplanned 10:20–10:50 starts in the 10:00–10:30 break; its first PBT moment is 10:30.
    Split the day at 10:25: the failure is in the second half only, ADOT 20 min there."""
    log = StateLog.of([(0, at(10, 20), at(10, 50), "down_unplanned")])
    [morning] = elements(log, period=Period(0, at(10, 25)))
    [rest] = elements(log, period=Period(at(10, 25), DAY.end_ms))
    assert (morning.failures, morning.adot) == (0, 0)
    assert (rest.failures, rest.adot) == (1, 20 * 60)
    [after] = elements(log, period=Period(at(10, 35), DAY.end_ms))
    assert (after.failures, after.adot) == (0, 15 * 60)  # began (in PBT) before this period


def test_a_breakdown_entirely_outside_the_shifts_is_no_failure() -> None:
    [te] = elements(StateLog.of([(0, at(20), at(21), "down_unplanned")]))
    assert (te.failures, te.adot) == (0, 0)


def test_machines_are_independent() -> None:
    """Machine 1 has no shift: POT 0 and no availability; machine 0 is unaffected by machine 1's states."""
    log = StateLog.of([(0, at(6), at(14), "producing"), (1, at(6), at(14), "down_unplanned")])
    zero, one = elements(log, machines=2)
    assert zero.apt == 450 * 60
    assert (one.pot, one.failures) == (0, 0)
    assert kpis(one, ProductionCounts()).availability is None


def test_counts_belong_to_the_period_where_they_end() -> None:
    """Rows ending 06:00 (= period start: before), 10:00, 14:00 (= period end: inside) and 15:00 (after):
    06:00–14:00 holds 200 + 300 parts; ΣPRI·PQ = 200 × 20 + 300 × 30 = 13,000 s."""
    rows = PartCounts.of([(0, at(5), at(6), 100, 100, 20.0), (0, at(6), at(10), 200, 190, 20.0),
                          (0, at(10), at(14), 300, 290, 30.0), (0, at(14), at(15), 50, 50, 30.0)])
    [pc] = production_counts(machines=1, period=Period(at(6), at(14)), counts=rows)
    assert pc == ProductionCounts(pq=500, gq=480, pri_pq=13_000.0)


@pytest.mark.parametrize(("log", "message"), [
    (StateLog.of([(0, at(6), at(8), "producing"), (0, at(7), at(9), "idle")]), "overlap"),
    (StateLog.of([(0, at(8), at(6), "producing")]), "ends before it starts"),
    (StateLog.of([(3, at(6), at(8), "producing")]), "machine index"),
])
def test_bad_state_logs_raise(log: StateLog, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        elements(log)


def test_bad_counts_raise() -> None:
    with pytest.raises(ValueError, match="good ≤ produced"):
        production_counts(machines=1, period=DAY, counts=PartCounts.of([(0, 0, 1, 10, 11, 1.0)]))


# --- against a brute-force reference ------------------------------------------------------------

T = 40  # the timeline is [0, T) seconds


@dataclass(frozen=True)
class Plan:
    machines: int
    shifts: list[tuple[int, int, int]]
    planned_downtime: list[tuple[int, int, int]]
    states: list[tuple[int, int, int, State]]
    counts: list[tuple[int, int, int, int, int, float]]

    def log(self) -> StateLog:
        return StateLog.of((m, a * 1000, b * 1000, s) for m, a, b, s in self.states)

    def spans(self, rows: list[tuple[int, int, int]]) -> Spans:
        return Spans.of((m, a * 1000, b * 1000) for m, a, b in rows)

    def elements(self, start: int, end: int) -> list[TimeElements]:
        return time_elements(machines=self.machines, period=Period(start * 1000, end * 1000), states=self.log(),
                             shifts=self.spans(self.shifts), planned_downtime=self.spans(self.planned_downtime))

    def production(self, start: int, end: int) -> list[ProductionCounts]:
        rows = PartCounts.of((m, a * 1000, b * 1000, p, g, c) for m, a, b, p, g, c in self.counts)
        return production_counts(machines=self.machines, period=Period(start * 1000, end * 1000), counts=rows)


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    machines = draw(st.integers(1, 3))

    def spans(least: int, most: int) -> list[tuple[int, int, int]]:
        out = []
        for m in range(machines):
            for _ in range(draw(st.integers(least, most))):
                a = draw(st.integers(0, T))
                out.append((m, a, draw(st.integers(a, T))))
        return out

    states, counts = [], []
    for m in range(machines):
        cuts = sorted(set(draw(st.lists(st.integers(0, T), min_size=2, max_size=12))))
        for a, b in pairwise(cuts):
            state = draw(st.sampled_from([*STATES, None]))  # None: a gap without a state
            if state is not None:
                states.append((m, a, b, state))
        ends = sorted(set(draw(st.lists(st.integers(0, T), max_size=4))))
        for a, b in zip([0, *ends], ends, strict=False):
            produced = draw(st.integers(0, 50))
            counts.append((m, a, b, produced, draw(st.integers(0, produced)), draw(st.sampled_from([0.5, 2.0, 3.0]))))
    return Plan(machines, spans(1, 3), spans(0, 2), states, counts)


def reference(plan: Plan, start: int, end: int) -> list[TimeElements]:
    """Second by second: classify every second of every machine, count."""
    out = []
    for m in range(plan.machines):
        def covered(rows: list[tuple[int, int, int]], t: int, m: int = m) -> bool:
            return any(mm == m and a <= t < b for mm, a, b in rows)

        def state(t: int, m: int = m) -> State | None:
            return next((s for mm, a, b, s in plan.states if mm == m and a <= t < b), None)

        def busy(t: int) -> bool:
            return covered(plan.shifts, t) and not covered(plan.planned_downtime, t) and state(t) != State.down_planned

        e = {"pot": 0, "pdot": 0, "apt": 0, "aust": 0, "adet": 0, "adot": 0, "offline": 0}
        for t in range(start, end):
            if not covered(plan.shifts, t):
                continue
            e["pot"] += 1
            if not busy(t):
                e["pdot"] += 1
                continue
            e[{State.producing: "apt", State.setup: "aust", State.idle: "adet",
               State.down_unplanned: "adot"}.get(state(t), "offline")] += 1  # type: ignore[arg-type]
        failures, t = 0, 0
        while t < T:  # runs of down_unplanned seconds; count where the run first meets PBT
            if state(t) != State.down_unplanned:
                t += 1
                continue
            first_busy = None
            while t < T and state(t) == State.down_unplanned:
                if first_busy is None and busy(t):
                    first_busy = t
                t += 1
            failures += first_busy is not None and start <= first_busy < end
        out.append(TimeElements(ct=end - start, failures=failures, **e))
    return out


@settings(max_examples=150, deadline=None)
@given(plan=plans(), data=st.data())
def test_time_elements_match_a_second_by_second_count(plan: Plan, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, T - 1))
    end = data.draw(st.integers(start + 1, T))
    got = plan.elements(start, end)
    assert got == reference(plan, start, end)
    for te in got:
        assert te.pbt == te.apt + te.aust + te.adet + te.adot + te.offline


@settings(max_examples=150, deadline=None)
@given(plan=plans(), data=st.data())
def test_splitting_the_period_rolls_up_to_the_whole(plan: Plan, data: st.DataObject) -> None:
    """Elements, failures and counts of [a, c) and [c, b) add up to those of [a, b), and so do the KPIs
    computed from the sums."""
    a = data.draw(st.integers(0, T - 2))
    b = data.draw(st.integers(a + 2, T))
    c = data.draw(st.integers(a + 1, b - 1))
    whole, first, second = plan.elements(a, b), plan.elements(a, c), plan.elements(c, b)
    assert [x + y for x, y in zip(first, second, strict=True)] == whole
    counts = [x + y for x, y in zip(plan.production(a, c), plan.production(c, b), strict=True)]
    assert [(p.pq, p.gq) for p in counts] == [(p.pq, p.gq) for p in plan.production(a, b)]
    assert [p.pri_pq for p in counts] == pytest.approx([p.pri_pq for p in plan.production(a, b)])
    total = kpis(sum(whole, TimeElements()), sum(plan.production(a, b), ProductionCounts()))
    split = kpis(sum(first + second, TimeElements()), sum(counts, ProductionCounts()))
    assert split.as_dict() == pytest.approx(total.as_dict())


def test_numpy_inputs_work_without_copies_of_python_lists() -> None:
    """The columnar form the database feed uses: int64 ms and int8 codes straight from arrays."""
    log = StateLog(machine=np.zeros(2, dtype=np.int64), start_ms=np.array([at(6), at(10)]),
                   end_ms=np.array([at(10), at(14)]), state=np.array([0, 0], dtype=np.int8))
    [te] = elements(log)
    assert te.apt == 450 * 60
