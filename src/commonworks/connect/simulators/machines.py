"""Seeded, deterministic behaviour of simulated machines: a CNC machining centre and an injection-moulding machine.

The models are plain Python (no I/O) and shared by the protocol simulators. Each one is an event-stepped state
machine: ``advance_to(t)`` processes only the events (cycle ends, shift boundaries, breakdowns, repairs, setups)
between the last call and ``t`` and returns a frozen snapshot, so stepping thousands of machines at 10 Hz is cheap.
Behaviour follows a two-shift calendar (08:00–16:00 and 16:00–24:00 Asia/Shanghai, lunch and dinner breaks, every
day unless ``workdays`` says otherwise); lots of a program (CNC) or mould (IMM) followed by a changeover; breakdowns
with an exponential time-to-failure counted in *operating* time and lognormal repair times clipped to 10–60 min;
1–3 % scrap, occasional slow cycles, and (IMM) heater warm-up and cool-down. All randomness comes from one
``random.Random`` per machine and is drawn only at events, in event order, so a seed gives the same history whatever
the step pattern. Instantaneous noise (spindle speed, temperatures) is a hash of (seed, time), not a draw. Times
are *simulated* epoch seconds; :class:`SimClock` maps wall time to simulated time with a ``speed`` factor so a demo
can fast-forward. Not modelled: operators, tool wear, energy, material consumption, maintenance plans.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum, StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

HOUR = 3600.0
MINUTE = 60.0
_EPS = 1e-6


class MachineryItemState(IntEnum):
    """OPC 40001-1 MachineryItemState, numbered in the order the specification lists the states."""

    NOT_AVAILABLE = 0
    OUT_OF_SERVICE = 1
    NOT_EXECUTING = 2
    EXECUTING = 3

    @property
    def label(self) -> str:
        """The state's browse name in OPC 40001-1 (``NotAvailable`` …)."""
        return _STATE_LABELS[self]


_STATE_LABELS = {
    MachineryItemState.NOT_AVAILABLE: "NotAvailable",
    MachineryItemState.OUT_OF_SERVICE: "OutOfService",
    MachineryItemState.NOT_EXECUTING: "NotExecuting",
    MachineryItemState.EXECUTING: "Executing",
}


class Activity(StrEnum):
    """What the machine is doing, finer than :class:`MachineryItemState`."""

    PRODUCING = "producing"
    IDLE = "idle"  # switched on, not producing: break, waiting for material, warming up
    SETUP = "setup"  # changeover to the next program or mould
    DOWN = "down"  # breakdown until repaired
    OFF = "off"  # outside shift hours, switched off


ACTIVITY_STATE: dict[Activity, MachineryItemState] = {
    Activity.PRODUCING: MachineryItemState.EXECUTING,
    Activity.IDLE: MachineryItemState.NOT_EXECUTING,
    Activity.SETUP: MachineryItemState.NOT_EXECUTING,
    Activity.DOWN: MachineryItemState.OUT_OF_SERVICE,
    Activity.OFF: MachineryItemState.NOT_AVAILABLE,
}

IMM_STATE_REGISTER: dict[Activity, int] = {
    Activity.OFF: 0,
    Activity.IDLE: 1,
    Activity.SETUP: 2,
    Activity.PRODUCING: 3,
    Activity.DOWN: 4,
}
"""The IMM's machine-status register code per activity (what a controller exposes over Modbus)."""


# --- calendar ------------------------------------------------------------------------------------------------------

class Segment(StrEnum):
    WORK = "work"
    BREAK = "break"
    OFF = "off"


@dataclass(frozen=True)
class ShiftCalendar:
    """Shift hours in local time; seconds after local midnight, ``24 * HOUR`` meaning the next midnight."""

    shifts: tuple[tuple[float, float], ...] = ((8 * HOUR, 16 * HOUR), (16 * HOUR, 24 * HOUR))
    breaks: tuple[tuple[float, float], ...] = (
        (12 * HOUR, 12 * HOUR + 45 * MINUTE),  # lunch
        (20 * HOUR, 20 * HOUR + 30 * MINUTE),  # dinner
    )
    workdays: frozenset[int] = frozenset(range(7))  # Monday = 0
    tz: str = "Asia/Shanghai"

    def segment_at(self, t: float) -> tuple[float, float, Segment]:
        """The (start, end, kind) of the calendar segment containing ``t`` (start <= t < end)."""
        day = datetime.fromtimestamp(t, ZoneInfo(self.tz)).date()
        starts, segments = _day_segments(self, day.toordinal())
        i = bisect.bisect_right(starts, t) - 1
        if i < 0:  # only possible right at a DST jump; the previous day covers it
            starts, segments = _day_segments(self, day.toordinal() - 1)
            i = len(segments) - 1
        return segments[i]

    def kind_at(self, t: float) -> Segment:
        return self.segment_at(t)[2]


@lru_cache(maxsize=256)
def _day_segments(calendar: ShiftCalendar, ordinal: int) -> tuple[list[float], list[tuple[float, float, Segment]]]:
    """One local day cut into work/break/off segments (epoch seconds), cached because events hit the same days."""
    day = date.fromordinal(ordinal)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(calendar.tz))

    def at(offset: float) -> float:  # wall-clock arithmetic, so a DST day still ends at the next midnight
        return (midnight + timedelta(seconds=offset)).timestamp()

    cuts = {0.0, 24 * HOUR}
    if day.weekday() in calendar.workdays:
        for a, b in (*calendar.shifts, *calendar.breaks):
            cuts.update((a, b))
    offsets = sorted(c for c in cuts if 0 <= c <= 24 * HOUR)

    def kind(mid: float) -> Segment:
        if day.weekday() not in calendar.workdays or not any(a <= mid < b for a, b in calendar.shifts):
            return Segment.OFF
        return Segment.BREAK if any(a <= mid < b for a, b in calendar.breaks) else Segment.WORK

    segments: list[tuple[float, float, Segment]] = []
    for a, b in itertools.pairwise(offsets):
        k = kind((a + b) / 2)
        if segments and segments[-1][2] == k:  # 16:00 joins the two shifts into one working stretch
            segments[-1] = (segments[-1][0], at(b), k)
        else:
            segments.append((at(a), at(b), k))
    return [s[0] for s in segments], segments


DEFAULT_CALENDAR = ShiftCalendar()


# --- clock and noise -----------------------------------------------------------------------------------------------

@dataclass
class SimClock:
    """Simulated epoch seconds from wall time: ``speed`` simulated seconds pass per real second.

    >>> clock = SimClock(speed=60, real_origin=1000.0, sim_origin=5000.0)
    >>> clock.at(1010.0)  # ten real seconds are ten simulated minutes
    5600.0
    """

    speed: float = 1.0
    real_origin: float = field(default_factory=time.time)
    sim_origin: float | None = None

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError("speed must be positive")
        if self.sim_origin is None:
            self.sim_origin = self.real_origin

    def at(self, real_t: float) -> float:
        assert self.sim_origin is not None
        return self.sim_origin + (real_t - self.real_origin) * self.speed

    def now(self) -> float:
        return self.at(time.time())


_MASK64 = (1 << 64) - 1


def _noise(seed: int, t: float, channel: int = 0) -> float:
    """Deterministic noise in [-1, 1) for (seed, t at 0.1 s, channel); splitmix64 so no RNG state is consumed."""
    x = (seed * 0x9E3779B97F4A7C15 + int(t * 10) * 0xBF58476D1CE4E5B9 + channel * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK64
    x ^= x >> 31
    return x / 2.0**63 - 1.0


# --- alarms --------------------------------------------------------------------------------------------------------

CNC_ALARMS: tuple[tuple[int, str], ...] = (
    (401, "Servo not ready, X axis"),
    (1001, "Spindle overload"),
    (2002, "Coolant pressure low"),
    (3003, "Tool breakage detected"),
    (4004, "Hydraulic pressure low"),
    (5005, "Door interlock fault"),
)
IMM_ALARMS: tuple[tuple[int, str], ...] = (
    (101, "Heater band fault, zone 2"),
    (102, "Hydraulic oil temperature high"),
    (103, "Mould protection triggered"),
    (104, "Ejector not retracted"),
    (105, "Nozzle blocked"),
)


# --- the shared event engine ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Transition:
    """The machine entered ``activity`` at simulated time ``t`` (alarm code set while down)."""

    t: float
    activity: Activity
    alarm_code: int = 0


@dataclass
class _Task:
    activity: Activity
    seconds: float


class _MachineModel(ABC):
    """Event engine shared by the machine types; subclasses say what a cycle, a lot and a changeover are."""

    kind = "machine"
    mtbf_s = 5 * HOUR
    repair_median_s = 25 * MINUTE
    repair_sigma = 0.45
    repair_min_s = 10 * MINUTE
    repair_max_s = 60 * MINUTE
    slow_cycle_probability = 0.04
    alarms: tuple[tuple[int, str], ...] = ()

    def __init__(self, seed: int, start: float, calendar: ShiftCalendar = DEFAULT_CALENDAR) -> None:
        self.seed = seed
        self.calendar = calendar
        # A string seed is hashed with SHA-512 by ``random``: stable across processes, distinct per machine kind.
        self._rng = random.Random(f"{self.kind}:{seed}")
        self._t = start
        self._since = start
        self._ttf = self._draw_ttf()
        self._tasks: deque[_Task] = deque()
        self._cycle_left: float | None = None
        self._cycle_total = 0.0
        self._down_until: float | None = None
        self._alarm: tuple[int, str] = (0, "")
        self._activity = Activity.OFF
        self._seg_end = start
        self._seg_is_work = False
        self.transitions: deque[Transition] = deque(maxlen=10_000)
        """Recent activity changes, oldest first (bounded): for tests, demos and debugging."""
        self.breakdowns = 0
        self._setup_initial(start)
        self._decide(start, initial=True)

    # hooks ------------------------------------------------------------------------------------------------------
    @abstractmethod
    def _setup_initial(self, t: float) -> None:
        """Provided by each kind of machine."""

    @abstractmethod
    def _draw_cycle(self) -> float:
        """Provided by each kind of machine."""

    @abstractmethod
    def _complete_cycle(self, t: float) -> None:
        """Provided by each kind of machine."""

    def _abort_cycle(self, t: float) -> None:  # noqa: B027  (an optional hook: doing nothing is right by default)
        """A breakdown ends the running cycle; the part in the machine is lost."""

    def _power(self, t: float, on: bool) -> None:  # noqa: B027  (an optional hook)
        """Called when the machine is switched on (entering shift hours) or off."""

    # draws ------------------------------------------------------------------------------------------------------
    def _draw_ttf(self) -> float:
        return self._rng.expovariate(1.0 / self.mtbf_s)

    def _draw_repair(self) -> float:
        raw = self._rng.lognormvariate(math.log(self.repair_median_s), self.repair_sigma)
        return min(max(raw, self.repair_min_s), self.repair_max_s)

    def _cycle_with_variation(self, nominal: float) -> float:
        factor = 1.0 + max(-0.05, min(0.05, self._rng.gauss(0.0, 0.015)))
        if self._rng.random() < self.slow_cycle_probability:  # a jam, a re-clamp, a cautious operator
            factor *= self._rng.uniform(1.2, 1.8)
        return nominal * factor

    # engine -----------------------------------------------------------------------------------------------------
    @property
    def activity(self) -> Activity:
        return self._activity

    @property
    def t(self) -> float:
        return self._t

    def _next_event(self) -> float:
        if self._activity is Activity.DOWN:
            assert self._down_until is not None
            return self._down_until
        nxt = self._seg_end
        if self._activity is Activity.PRODUCING:
            assert self._cycle_left is not None
            nxt = min(nxt, self._since + self._cycle_left, self._since + self._ttf)
        elif self._tasks and self._seg_is_work:
            nxt = min(nxt, self._since + self._tasks[0].seconds)
        return nxt

    def _run_until(self, t: float) -> None:
        while (nxt := self._next_event()) <= t:
            self._handle_event(nxt)
        self._t = t

    def _handle_event(self, t: float) -> None:
        elapsed = t - self._since
        self._t = t
        if self._activity is Activity.DOWN:
            self._down_until = None
            self._alarm = (0, "")
            self._ttf = self._draw_ttf()
        elif self._activity is Activity.PRODUCING:
            assert self._cycle_left is not None
            self._ttf -= elapsed
            self._cycle_left -= elapsed
            if self._ttf <= _EPS:
                self._break_down(t)
                return
            if self._cycle_left <= _EPS:
                self._cycle_left = None
                self._complete_cycle(t)
        elif self._tasks and self._seg_is_work:
            self._tasks[0].seconds -= elapsed
            if self._tasks[0].seconds <= _EPS:
                self._tasks.popleft()
        self._decide(t)

    def _break_down(self, t: float) -> None:
        self.breakdowns += 1
        self._abort_cycle(t)
        self._cycle_left = None
        self._alarm = self._rng.choice(self.alarms)
        self._down_until = t + self._draw_repair()
        self._enter(t, Activity.DOWN)

    def _decide(self, t: float, initial: bool = False) -> None:
        """Choose the activity at ``t`` after an event (never called while down)."""
        _, end, kind = self.calendar.segment_at(t)
        self._seg_end = end
        self._seg_is_work = kind is Segment.WORK
        was_on = self._activity is not Activity.OFF
        if kind is Segment.OFF:
            activity = Activity.OFF
        elif kind is Segment.BREAK:
            activity = Activity.IDLE
        elif self._tasks:
            activity = self._tasks[0].activity
        else:
            if self._cycle_left is None:
                self._cycle_total = self._cycle_left = self._draw_cycle()
            activity = Activity.PRODUCING
        is_on = activity is not Activity.OFF
        if is_on != was_on and not initial:
            self._power(t, is_on)
            if is_on and self._tasks and kind is Segment.WORK:  # power-on may have queued a warm-up
                activity = self._tasks[0].activity
        self._enter(t, activity)

    def _enter(self, t: float, activity: Activity) -> None:
        self._since = t
        if activity is not self._activity or not self.transitions:
            self.transitions.append(Transition(t, activity, self._alarm[0]))
        self._activity = activity

    def _cycle_progress(self, t: float) -> float:
        if self._activity is not Activity.PRODUCING or self._cycle_left is None or self._cycle_total <= 0:
            return 0.0
        return 1.0 - (self._cycle_left - (t - self._since)) / self._cycle_total


# --- CNC -----------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CncProgram:
    name: str
    cycle_s: float
    spindle_rpm: float
    feed_mm_min: float
    scrap_rate: float


CNC_PROGRAMS: tuple[CncProgram, ...] = (
    CncProgram("O1001-FLANGE", 95.0, 8000.0, 1200.0, 0.008),
    CncProgram("O1002-SHAFT", 140.0, 4500.0, 800.0, 0.012),
    CncProgram("O2010-HOUSING", 260.0, 10000.0, 2400.0, 0.015),
    CncProgram("O3005-BRACKET", 70.0, 12000.0, 3000.0, 0.006),
    CncProgram("O4100-VALVE-BODY", 210.0, 6000.0, 1500.0, 0.018),
)


@dataclass(frozen=True, slots=True)
class CncSnapshot:
    t: float
    state: MachineryItemState
    activity: Activity
    program: str
    part_counter: int
    scrap_counter: int
    spindle_speed: float  # rpm
    feed_rate: float  # mm/min
    alarm_code: int  # 0 = none
    alarm_text: str


class CncModel(_MachineModel):
    """A CNC machining centre running lots of a few part programs.

    >>> m = CncModel(seed=7, start=1_767_225_600.0)  # 2026-01-01 08:00 Asia/Shanghai
    >>> m.advance_to(1_767_225_600.0 + 3600).state.label
    'Executing'
    """

    kind = "cnc"
    mtbf_s = 5 * HOUR
    alarms = CNC_ALARMS
    cutting_fraction = 0.85  # the rest of a cycle is load/unload with the spindle stopped
    setup_median_s = 30 * MINUTE

    def _setup_initial(self, t: float) -> None:
        # Each machine runs its own variant of the catalogue: a few programs, cycle times within ±15 %.
        chosen = self._rng.sample(CNC_PROGRAMS, k=3)
        self.programs = tuple(
            CncProgram(p.name, p.cycle_s * self._rng.uniform(0.85, 1.15), p.spindle_rpm, p.feed_mm_min, p.scrap_rate)
            for p in chosen
        )
        self._program_index = 0
        self._lot_left = self._draw_lot()
        self.part_counter = self._rng.randrange(10_000, 90_000)
        self.scrap_counter = int(self.part_counter * 0.015)

    @property
    def program(self) -> CncProgram:
        return self.programs[self._program_index]

    def _draw_lot(self) -> int:
        return self._rng.randint(40, 250)

    def _draw_cycle(self) -> float:
        return self._cycle_with_variation(self.program.cycle_s)

    def _complete_cycle(self, t: float) -> None:
        self.part_counter += 1
        if self._rng.random() < self.program.scrap_rate:
            self.scrap_counter += 1
        self._lot_left -= 1
        if self._lot_left <= 0:
            self._program_index = (self._program_index + 1) % len(self.programs)
            self._lot_left = self._draw_lot()
            if self._rng.random() < 0.2:  # raw material for the next lot not at the machine yet
                self._tasks.append(_Task(Activity.IDLE, self._rng.lognormvariate(math.log(12 * MINUTE), 0.5)))
            setup = self._rng.lognormvariate(math.log(self.setup_median_s), 0.3)
            self._tasks.append(_Task(Activity.SETUP, min(max(setup, 15 * MINUTE), 90 * MINUTE)))

    def _abort_cycle(self, t: float) -> None:
        self.part_counter += 1  # the half-machined part still counts, as scrap
        self.scrap_counter += 1

    def advance_to(self, t: float) -> CncSnapshot:
        """Process events up to simulated time ``t`` (earlier times are clamped) and return the state at ``t``."""
        self._run_until(max(t, self._t))
        t = self._t
        spindle = feed = 0.0
        if self._activity is Activity.PRODUCING and self._cycle_progress(t) < self.cutting_fraction:
            spindle = self.program.spindle_rpm * (1.0 + 0.01 * _noise(self.seed, t, 1))
            feed = self.program.feed_mm_min * (1.0 + 0.03 * _noise(self.seed, t, 2))
        return CncSnapshot(
            t=t, state=ACTIVITY_STATE[self._activity], activity=self._activity, program=self.program.name,
            part_counter=self.part_counter, scrap_counter=self.scrap_counter,
            spindle_speed=round(spindle, 1), feed_rate=round(feed, 1),
            alarm_code=self._alarm[0], alarm_text=self._alarm[1],
        )


# --- injection moulding machine ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Mould:
    name: str
    cycle_s: float
    cavities: int
    barrel_c: tuple[float, float, float, float]  # set points, zone 1 (feed) to zone 4 (nozzle side)
    mould_c: float
    scrap_rate: float  # per part


IMM_MOULDS: tuple[Mould, ...] = (
    Mould("M101-CAP-28MM-PP", 18.0, 8, (190.0, 200.0, 210.0, 215.0), 35.0, 0.012),
    Mould("M205-HOUSING-ABS", 38.0, 2, (215.0, 225.0, 235.0, 240.0), 60.0, 0.02),
    Mould("M310-GEAR-PA66", 26.0, 4, (265.0, 275.0, 280.0, 285.0), 80.0, 0.018),
    Mould("M412-CRATE-HDPE", 55.0, 1, (200.0, 215.0, 225.0, 230.0), 30.0, 0.01),
)
AMBIENT_C = 25.0


@dataclass(frozen=True, slots=True)
class ImmSnapshot:
    t: float
    state: MachineryItemState
    activity: Activity
    state_register: int  # IMM_STATE_REGISTER code
    mould: str
    cycle_time: float  # s, last completed cycle (0 before the first)
    barrel_temps: tuple[float, float, float, float]  # °C
    mould_temp: float  # °C
    shot_counter: int
    good_counter: int
    scrap_counter: int
    alarm_code: int
    alarm_text: str


class ImmModel(_MachineModel):
    """An injection-moulding machine running lots of shots per mould, with heater dynamics."""

    kind = "imm"
    mtbf_s = 4 * HOUR
    alarms = IMM_ALARMS
    setup_median_s = 45 * MINUTE
    warmup_s = 20 * MINUTE
    heat_tau_s = 6 * MINUTE  # heaters reach set point within a warm-up
    cool_tau_s = 45 * MINUTE
    startup_scrap_shots = 3  # the first shots after a start are purged

    def _setup_initial(self, t: float) -> None:
        self.moulds = tuple(self._rng.sample(IMM_MOULDS, k=3))
        self._mould_index = 0
        self._lot_left = self._draw_lot()
        self.shot_counter = self._rng.randrange(100_000, 900_000)
        self.scrap_counter = int(self.shot_counter * 0.02)
        self.good_counter = self.shot_counter * 2 - self.scrap_counter
        self.last_cycle_s = 0.0
        self._purge_left = 0
        on = self.calendar.kind_at(t) is not Segment.OFF
        # Heaters: temperatures relax exponentially from (t0, temps0) towards the target of the current on/off state.
        self._heat_on = on
        self._heat_t0 = t
        self._temps0 = self._target() if on else (AMBIENT_C,) * 5

    @property
    def mould(self) -> Mould:
        return self.moulds[self._mould_index]

    def _draw_lot(self) -> int:
        return self._rng.randint(400, 2500)

    def _draw_cycle(self) -> float:
        return self._cycle_with_variation(self.mould.cycle_s)

    def _target(self) -> tuple[float, ...]:
        m = self.mould
        return (*m.barrel_c, m.mould_c)

    def _temps(self, t: float) -> tuple[float, ...]:
        target = self._target() if self._heat_on else (AMBIENT_C,) * 5
        decay = math.exp(-(t - self._heat_t0) / (self.heat_tau_s if self._heat_on else self.cool_tau_s))
        return tuple(x + (x0 - x) * decay for x, x0 in zip(target, self._temps0, strict=True))

    def _reanchor(self, t: float, on: bool) -> None:
        self._temps0 = self._temps(t)
        self._heat_t0 = t
        self._heat_on = on

    def _power(self, t: float, on: bool) -> None:
        self._reanchor(t, on)
        if on:
            self._tasks.appendleft(_Task(Activity.IDLE, self.warmup_s))
            self._purge_left = self.startup_scrap_shots

    def _complete_cycle(self, t: float) -> None:
        m = self.mould
        self.shot_counter += 1
        self.last_cycle_s = self._cycle_total
        if self._purge_left > 0:
            self._purge_left -= 1
            scrap = m.cavities
        else:
            scrap = sum(1 for _ in range(m.cavities) if self._rng.random() < m.scrap_rate)
        self.scrap_counter += scrap
        self.good_counter += m.cavities - scrap
        self._lot_left -= 1
        if self._lot_left <= 0:
            self._reanchor(t, self._heat_on)
            self._mould_index = (self._mould_index + 1) % len(self.moulds)
            self._lot_left = self._draw_lot()
            self._purge_left = self.startup_scrap_shots
            setup = self._rng.lognormvariate(math.log(self.setup_median_s), 0.3)
            self._tasks.append(_Task(Activity.SETUP, min(max(setup, 20 * MINUTE), 2 * HOUR)))

    def _abort_cycle(self, t: float) -> None:
        self._purge_left = self.startup_scrap_shots

    def advance_to(self, t: float) -> ImmSnapshot:
        """Process events up to simulated time ``t`` (earlier times are clamped) and return the state at ``t``."""
        self._run_until(max(t, self._t))
        t = self._t
        temps = self._temps(t)
        noisy = [round(x + 0.4 * _noise(self.seed, t, 10 + i), 1) for i, x in enumerate(temps)]
        return ImmSnapshot(
            t=t, state=ACTIVITY_STATE[self._activity], activity=self._activity,
            state_register=IMM_STATE_REGISTER[self._activity], mould=self.mould.name,
            cycle_time=round(self.last_cycle_s, 2),
            barrel_temps=(noisy[0], noisy[1], noisy[2], noisy[3]), mould_temp=noisy[4],
            shot_counter=self.shot_counter, good_counter=self.good_counter, scrap_counter=self.scrap_counter,
            alarm_code=self._alarm[0], alarm_text=self._alarm[1],
        )
