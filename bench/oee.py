"""Machine KPIs (ISO 22400-2: availability, effectiveness, quality, OEE, TEEP, MTBF, MTTR) and the
machine page API, measured in one run per database backend.

Rows, per backend (SQLite always; PostgreSQL when COMMONWORKS_TEST_DATABASE_URL or
COMMONWORKS_BENCH_DATABASE_URL is set):

1. ``kpi_report`` (in-process, through a Session) for 200 machines × 30 days from the stored
   state intervals (``machine_states``), hourly counts (``machine_counts``) and shift calendars —
   target < 1 s.
2. Baseline, the same KPIs recomputed from raw 1 Hz samples (a state tag and two counters per
   machine) for a subset of the machines: ``refresh_machine`` from scratch over the subset's window,
   then ``kpi_report``; reported per machine-day against the stored path, and checked to give the
   very same KPIs as the stored intervals (the raw samples encode them exactly). A further row
   times only reading those raw samples into numpy: a floor under any raw-data path.
3. The machine page API against a running platform server (uvicorn, its own process): one machine
   with 30 days of 1 Hz data on four tags, states and counts; each endpoint the page calls, over
   the last 8 h, 24 h, 7 days and 30 days — p50/p95 per endpoint, target p95 < 100 ms. The
   server runs as configured by default, so its machine-state upkeep (every 10 s) runs too.
The KPI query reads (start, end, state) from the covering index ``ix_machine_states_cover``.

The data is synthetic but shaped like a machine shop (seeded RNG, so runs are comparable): a
two-shift calendar (早班 08:00–16:00, 中班 16:00–24:00, Monday to Saturday, 30-minute meal
breaks; one holiday and a four-hour maintenance window as exceptions), an assembly line on a
day-shift calendar of its own; per machine runs of production with micro-stops, changeovers,
a couple of breakdowns a day, planned tool changes and the odd network outage (offline).
Seeding (bulk ``executemany`` / binary ``COPY``) is not measured.

Run: ``.venv/bin/python bench/oee.py [--quick] [--only sqlite|postgresql]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
from sqlalchemy import select, text

from commonworks.core.database import Database
from commonworks.operations.calendar import PlannedTime, planned_time
from commonworks.operations.states import State
from commonworks.operations.timemodel import STATE_CODE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import drop_database, fresh_database, platform, server_env, table, workdir

ZONE = ZoneInfo("Asia/Shanghai")
S, MIN, H, DAY = 1000, 60_000, 3_600_000, 86_400_000
SEED = 22400
KPI_TARGET_S = 1.0
PAGE_TARGET_MS = 100.0

PROD, IDLE, SETUP = STATE_CODE[State.producing], STATE_CODE[State.idle], STATE_CODE[State.setup]
DOWN, PLANNED, OFFLINE = STATE_CODE[State.down_unplanned], STATE_CODE[State.down_planned], STATE_CODE[State.offline]
STATE_NAME = {c: s.value for s, c in STATE_CODE.items()}
# The controller's status register as the raw state tag reports it (0 = switched off, 2 = ready):
# a tenant state rule maps it to the six states (see the rules seeded below).
REGISTER = np.zeros(len(STATE_CODE), dtype=np.float64)
REGISTER[[PROD, IDLE, SETUP, DOWN, PLANNED]] = [3, 2, 4, 1, 5]
REGISTER_MAP = {"0": "idle", "1": "down_unplanned", "2": "idle", "3": "producing", "4": "setup", "5": "down_planned"}

RUN_MEAN_S = 540  # production runs: 60 s + exponential with this mean …
STOPS = [  # … each followed by a stop: (probability, state, duration sampler in seconds)
    (0.024, DOWN, lambda r: int(r.lognormal(np.log(25 * 60), 0.6))),  # breakdowns, ~2 a day
    (0.016, SETUP, lambda r: int(r.uniform(20, 60) * 60)),  # changeovers within the shift
    (0.010, PLANNED, lambda r: int(r.uniform(8, 20) * 60)),  # planned tool changes
    (1.000, IDLE, lambda r: 20 + int(r.exponential(90))),  # micro-stops: material, chips, measuring
]
OUTAGES_PER_DAY = 0.2  # gateway network outages (offline), 6–40 min each
SCRAP_RATE = 0.02


@dataclass(frozen=True)
class Size:
    machines: int
    days: int
    raw_machines: int
    raw_days: int
    page_days: int
    rounds: int
    runs: int


FULL = Size(machines=200, days=30, raw_machines=5, raw_days=3, page_days=30, rounds=50, runs=5)
QUICK = Size(machines=20, days=7, raw_machines=2, raw_days=1, page_days=3, rounds=5, runs=3)


# ---------------------------------------------------------------- the plant and its calendars

TWO_SHIFTS = [{"name": "早班", "start": "08:00", "end": "16:00", "days": [1, 2, 3, 4, 5, 6],
               "breaks": [["12:00", "12:30"]]},
              {"name": "中班", "start": "16:00", "end": "00:00", "days": [1, 2, 3, 4, 5, 6],
               "breaks": [["20:00", "20:30"]]}]
DAY_SHIFT = [{"name": "白班", "start": "08:00", "end": "17:00", "days": [1, 2, 3, 4, 5],
              "breaks": [["12:00", "13:00"]]}]
LINES = [("机加一线", "cnc_mill"), ("机加二线", "cnc_lathe"), ("注塑线", "injection_moulding"),
         ("装配线", "welding_robot")]


def local_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, ZONE).isoformat()


def exceptions(p0: int) -> list[dict[str, str]]:
    """A public holiday and a four-hour maintenance window (08:00–12:00) inside the period."""
    holiday, maintenance = p0 + 9 * DAY, p0 + 17 * DAY + 8 * H
    return [{"kind": "holiday", "start": local_iso(holiday), "end": local_iso(holiday + DAY), "note": "节假日"},
            {"kind": "planned_downtime", "start": local_iso(maintenance), "end": local_iso(maintenance + 4 * H),
             "note": "设备保养"}]


@dataclass
class Plan:
    """What the benchmark seeds: the KPI period, the raw window, the page machine's window."""

    size: Size
    p0: int  # KPI period [p0, p1): days ending on the latest Monday 00:00 in Shanghai
    p1: int
    w0: int  # raw-sample window [w0, p1) of the subset
    n0: int  # page machine data [n0, n1), ending about now
    n1: int
    org_id: int = 0
    token: str = ""
    machine_ids: list[int] = field(default_factory=list)
    raw_ids: list[int] = field(default_factory=list)
    page_id: int = 0
    page_tags: dict[str, int] = field(default_factory=dict)
    intervals: int = 0
    count_rows: int = 0
    raw_samples: int = 0
    page_samples: int = 0
    page_intervals: int = 0


def make_plan(size: Size) -> Plan:
    now = datetime.now(ZONE)
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    p1 = int(monday.timestamp() * 1000)
    n1 = (time.time_ns() // 1_000_000) // MIN * MIN
    return Plan(size=size, p0=p1 - size.days * DAY, p1=p1, w0=p1 - size.raw_days * DAY,
                n0=n1 - size.page_days * DAY, n1=n1)


# ---------------------------------------------------------------- a machine's month, second by second


@dataclass
class Simulated:
    """One machine over [g0, g1): its state every second, and the seconds at which parts were finished."""

    g0: int
    codes: np.ndarray  # int8 state code per second
    in_shift: np.ndarray  # bool per second
    parts: np.ndarray  # second offsets of finished parts (sorted)
    scrap: np.ndarray  # bool per part

    def intervals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(start_ms, end_ms, code) of the state intervals: neighbours of equal state merged."""
        codes = self.codes
        starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
        ends = np.append(starts[1:], len(codes))
        return self.g0 + starts * S, self.g0 + ends * S, codes[starts]

    def hourly(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(hour_ms, produced, good) of the hours with parts."""
        hour = (self.g0 + self.parts * S) // H * H
        hours, index = np.unique(hour, return_inverse=True)
        produced = np.bincount(index, minlength=len(hours))
        scrap = np.bincount(index, weights=self.scrap, minlength=len(hours)).astype(np.int64)
        return hours, produced, produced - scrap

    def counter(self, parts: np.ndarray) -> np.ndarray:
        """A part counter read every second, reset to zero at local midnight."""
        n = len(self.codes)
        cum = np.cumsum(np.bincount(parts, minlength=n)[:n])
        first_midnight = datetime.fromtimestamp(self.g0 / 1000, ZONE).replace(hour=0, minute=0, second=0)
        first = (int(first_midnight.timestamp() * 1000) - self.g0) // S
        resets = np.arange(first if first >= 0 else first + 86_400, n, 86_400)
        before = np.concatenate([[0], cum])[np.concatenate([[0], resets])]  # parts made before each reset
        which = np.searchsorted(resets, np.arange(n), side="right")
        return (cum - before[which]).astype(np.float64)

    def raw(self, lo: int, hi: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The 1 Hz samples a gateway would have stored for seconds [lo, hi): ts (ms) and values per tag.

        Nothing is sent while offline, except the first offline second, which still reports the
        state before the outage (the last sample before a silence); the platform then derives
        offline from the last sample before the gap to the first one after it.
        """
        codes = self.codes
        off = codes == OFFLINE
        first_off = off & np.concatenate([[True], ~off[:-1]])
        send = np.flatnonzero(~off | first_off)
        send = send[(send >= lo) & (send < hi)]
        value_codes = codes.copy()
        heads = np.flatnonzero(first_off)
        value_codes[heads] = codes[np.maximum(heads - 1, 0)]
        register = REGISTER[value_codes]
        register[(value_codes == IDLE) & ~self.in_shift] = 0.0  # switched off outside the shifts
        values = {"machinery_item_state": register[send], "part_counter": self.counter(self.parts)[send],
                  "scrap_counter": self.counter(self.parts[self.scrap])[send]}
        return self.g0 + send * S, values


def simulate(seed: int, g0: int, g1: int, planned: PlannedTime, cycle_s: int) -> Simulated:
    rng = np.random.default_rng(seed)
    n = (g1 - g0) // S
    codes = np.full(n, IDLE, dtype=np.int8)
    in_shift = np.zeros(n, dtype=bool)
    spans = [((a - g0) // S, (b - g0) // S) for a, b in planned.shifts]
    for a, b in spans:
        in_shift[a:b] = True
        t = a
        if rng.random() < 0.3:  # a changeover at the start of the shift
            d = int(rng.uniform(15, 45) * 60)
            codes[t:min(t + d, b)] = SETUP
            t += d
        while t < b:
            run = 60 + int(rng.exponential(RUN_MEAN_S))
            codes[t:min(t + run, b)] = PROD
            t += run
            u = rng.random()
            for p, state, duration in STOPS:
                if u < p:
                    d = duration(rng)
                    codes[t:min(t + d, b)] = state
                    t += d
                    break
                u -= p
    for a_ms, b_ms in planned.planned_down:
        a, b = (a_ms - g0) // S, (b_ms - g0) // S
        if b - a > 2 * 3600:
            codes[a:b] = PLANNED  # the maintenance window
        elif rng.random() < 0.7:
            codes[a:b] = IDLE  # meal break (the rest keep running through it)
    long_spans = [(a, b) for a, b in spans if b - a > 3 * 3600]
    for _ in range(rng.poisson(OUTAGES_PER_DAY * n / 86_400) if long_spans else 0):
        a, b = long_spans[int(rng.integers(len(long_spans)))]
        d = int(rng.uniform(6, 40) * 60)
        s = int(rng.integers(a, b - d))
        codes[s:s + d] = OFFLINE
    # parts: one every actual cycle through each production run (no part carried over a stop)
    change = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.append(change, n)
    producing = codes[starts] == PROD
    run_start, run_end = starts[producing], ends[producing]
    per_run = np.maximum((run_end - run_start - 1) // cycle_s, 0)
    total = int(per_run.sum())
    offset = np.arange(total) - np.repeat(np.cumsum(per_run) - per_run, per_run) + 1
    parts = np.repeat(run_start, per_run) + cycle_s * offset
    return Simulated(g0=g0, codes=codes, in_shift=in_shift, parts=parts, scrap=rng.random(total) < SCRAP_RATE)


# ---------------------------------------------------------------- seeding (not measured)


@dataclass
class MachineSpec:
    key: str
    line: int
    ideal_s: float | None
    cycle_s: int


def machine_specs(count: int) -> list[MachineSpec]:
    rng = np.random.default_rng(SEED)
    specs = []
    for i in range(count):
        line = min(i * len(LINES) // count, len(LINES) - 1)
        ideal = float(rng.choice([18, 24, 30, 42, 55, 75, 96]))
        specs.append(MachineSpec(key=f"m{i + 1:03d}", line=line, ideal_s=None if i % 20 == 19 else ideal,
                                 cycle_s=round(ideal * rng.uniform(1.05, 1.35))))
    return specs


def _insert(db: Database, table_name: str, columns: list[str], rows: list[tuple[Any, ...]] | Any) -> None:
    """Bulk rows into a table: executemany on SQLite, binary-free COPY on PostgreSQL."""
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.is_sqlite:
            cur.executemany(f"INSERT INTO {table_name} ({', '.join(columns)}) VALUES "
                            f"({', '.join('?' * len(columns))})", rows)
        else:
            with cur.copy(f"COPY {table_name} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _insert_samples(db: Database, tag_id: int, ts: np.ndarray, values: np.ndarray) -> None:
    """Samples of one tag and their 1-minute and 1-hour rollups, computed as ingest computes them."""
    from commonworks.telemetry import storage

    tag_ids = np.full(len(ts), tag_id, dtype=np.int64)
    chunk = 1_000_000
    if db.is_sqlite:
        for i in range(0, len(ts), chunk):
            _insert(db, "samples", ["tag_id", "ts", "value"],
                    zip(tag_ids[i:i + chunk].tolist(), ts[i:i + chunk].tolist(), values[i:i + chunk].tolist(),
                        strict=True))
    else:
        with db.transaction() as session:
            storage.ensure_partitions(session, int(ts[0]), int(ts[-1]))
            cur = session.connection().connection.driver_connection.cursor()
            for i in range(0, len(ts), chunk):
                with cur.copy("COPY samples (tag_id, ts, value, text) FROM STDIN (FORMAT BINARY)") as copy:
                    copy.write(storage.copy_buffer(tag_ids[i:i + chunk], ts[i:i + chunk], values[i:i + chunk], []))
    for name, width in (("rollups_1m", storage.MINUTE_MS), ("rollups_1h", storage.HOUR_MS)):
        cols = storage.aggregate(tag_ids, ts, values, width)
        _insert(db, name, ["tag_id", "bucket", "count", "sum", "min", "max", "last_ts", "last_value"],
                zip(*cols, strict=True))


def seed(url: str, plan: Plan, specs: list[MachineSpec]) -> None:
    from commonworks.core.auth.models import Role, User
    from commonworks.core.auth.security import hash_password, issue_access_token
    from commonworks.core.codes import credit_code_with_check
    from commonworks.core.migrate import upgrade
    from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
    from commonworks.operations.models import ShiftCalendar, StateCursor, StateRuleRow
    from commonworks.telemetry.models import DataType, Line, Machine, MachineType, Site, Tag

    db = Database(url)
    upgrade(db.engine)
    size = plan.size
    with db.transaction() as session:
        org = Organization(name_zh="基准测试机加工厂", credit_code=credit_code_with_check("91340100MA2N0C0Q0"),
                           region_code="340100", industry_code="C34", size_class=SizeClass.medium,
                           kind=OrgKind.manufacturer)
        session.add(org)
        session.flush()
        plan.org_id = org.id
        user = User(org_id=org.id, email="owner@bench.cn", display_name="厂长", password_hash=hash_password("bench"),
                    role=Role.owner)
        site = Site(org_id=org.id, name="一号厂区", timezone="Asia/Shanghai")
        session.add_all([user, site])
        session.flush()
        lines = [Line(org_id=org.id, site_id=site.id, name=name) for name, _ in LINES]
        session.add_all(lines)
        session.flush()
        cal_ex = exceptions(plan.p0)
        session.add_all([
            ShiftCalendar(org_id=org.id, name="两班制", timezone="Asia/Shanghai", shifts=TWO_SHIFTS, exceptions=cal_ex),
            ShiftCalendar(org_id=org.id, name="装配白班", timezone="Asia/Shanghai", line_id=lines[3].id,
                          shifts=DAY_SHIFT, exceptions=cal_ex)])
        session.add_all(StateRuleRow(org_id=org.id, machine_type=kind, kind="map", state_tag="machinery_item_state",
                                     mapping=REGISTER_MAP, counter_tag="part_counter", scrap_tag="scrap_counter")
                        for _, kind in LINES)
        machines = [Machine(org_id=org.id, line_id=lines[s.line].id, key=s.key, name=f"{LINES[s.line][0]} {s.key}",
                            machine_type=MachineType(LINES[s.line][1]),
                            ideal_cycle_times={"main": s.ideal_s} if s.ideal_s else {}) for s in specs]
        page = Machine(org_id=org.id, line_id=lines[0].id, key="page-01", name="DMG MORI DMU 50（机台页）",
                       machine_type=MachineType.cnc_mill, ideal_cycle_times={"bracket": 42.0, "flange": 55.0})
        session.add_all([*machines, page])
        session.flush()
        plan.machine_ids = [m.id for m in machines]
        plan.page_id = page.id
        plan.raw_ids = plan.machine_ids[:size.raw_machines]
        raw_tags: dict[int, dict[str, int]] = {}
        for m in [*machines[:size.raw_machines], page]:
            suffixes = ["machinery_item_state", "part_counter", "scrap_counter"] if m is not page else \
                ["machinery_item_state", "part_counter", "spindle_speed", "spindle_temperature"]
            tags = [Tag(org_id=org.id, machine_id=m.id, key=f"{m.key}.{sfx}", name=sfx,
                        unit={"spindle_speed": "/min", "spindle_temperature": "Cel"}.get(sfx, "1"),
                        data_type=DataType.float if sfx.startswith("spindle") else DataType.int)
                    for sfx in suffixes]
            session.add_all(tags)
            session.flush()
            raw_tags[m.id] = {t.name: t.id for t in tags}
        plan.page_tags = raw_tags[page.id]
        plan.token = issue_access_token(user_id=user.id, org_id=org.id, minutes=600,
                                        key=server_env(url, Path("."))["COMMONWORKS_SECRET_KEY"])[0]
        calendars = {"two": TWO_SHIFTS, "day": DAY_SHIFT}
    planned = {name: planned_time(shifts, cal_ex, "Asia/Shanghai", plan.p0, plan.p1)
               for name, shifts in calendars.items()}

    # state intervals and hourly counts of every machine, stored in time order across machines (as live
    # derivation writes them), in one go
    interval_cols: list[list[np.ndarray]] = [[], [], [], []]
    count_rows: list[tuple[int, int, int, int, int]] = []
    for i, (spec, machine_id) in enumerate(zip(specs, plan.machine_ids, strict=True)):
        sim = simulate(SEED + i, plan.p0, plan.p1, planned["day" if spec.line == 3 else "two"], spec.cycle_s)
        a, b, c = sim.intervals()
        for col, values in zip(interval_cols, (np.full(len(a), machine_id), a, b, c), strict=True):
            col.append(values)
        hours, produced, good = sim.hourly()
        count_rows += zip([machine_id] * len(hours), hours.tolist(), [plan.org_id] * len(hours), produced.tolist(),
                          good.tolist(), strict=True)
        if machine_id in plan.raw_ids:
            ts, values = sim.raw((plan.w0 - plan.p0) // S - 600, len(sim.codes))
            for suffix, v in values.items():
                _insert_samples(db, raw_tags[machine_id][suffix], ts, v)
                plan.raw_samples += len(ts)
    m_col, a_col, b_col, c_col = (np.concatenate(c) for c in interval_cols)
    order = np.lexsort((m_col, a_col))
    names = np.array([STATE_NAME[k] for k in range(len(STATE_NAME))], dtype=object)
    plan.intervals = len(order)
    plan.count_rows = len(count_rows)

    # the page machine: 30 days up to about now, its states and counts, four tags at 1 Hz
    page_planned = planned_time(TWO_SHIFTS, cal_ex, "Asia/Shanghai", plan.n0, plan.n1)
    sim = simulate(SEED - 1, plan.n0, plan.n1, page_planned, 48)
    pa, pb, pc = sim.intervals()
    order_rows = zip([plan.org_id] * len(order), m_col[order].tolist(), a_col[order].tolist(),
                     b_col[order].tolist(), names[c_col[order]].tolist(), strict=True)
    _insert(db, "machine_states", ["org_id", "machine_id", "start_ms", "end_ms", "state"], order_rows)
    _insert(db, "machine_states", ["org_id", "machine_id", "start_ms", "end_ms", "state"],
            zip([plan.org_id] * len(pa), [plan.page_id] * len(pa), pa.tolist(), pb.tolist(), names[pc].tolist(),
                strict=True))
    hours, produced, good = sim.hourly()
    count_rows += zip([plan.page_id] * len(hours), hours.tolist(), [plan.org_id] * len(hours), produced.tolist(),
                      good.tolist(), strict=True)
    _insert(db, "machine_counts", ["machine_id", "hour_ms", "org_id", "produced", "good"], count_rows)
    plan.page_intervals = len(pa)
    ts, values = sim.raw(0, len(sim.codes))
    rng = np.random.default_rng(SEED + 7)
    producing = sim.codes[(ts - plan.n0) // S] == PROD
    values["spindle_speed"] = np.where(producing, rng.normal(8000, 40, len(ts)).round(1), 0.0)
    window = 600  # the spindle warms up over ten minutes of cutting
    cum = np.concatenate([[0.0], np.cumsum(producing, dtype=np.float64)])
    share = (cum[1:] - cum[np.maximum(np.arange(1, len(ts) + 1) - window, 0)]) / window
    values["spindle_temperature"] = (24 + 14 * share + rng.normal(0, 0.15, len(ts))).round(2)
    for suffix, tag_id in plan.page_tags.items():
        _insert_samples(db, tag_id, ts, values[suffix])
        plan.page_samples += len(ts)
    # the platform has derived all this already: cursors where the data ends, so the server's
    # state upkeep only extends the live edge, as it would in production
    with db.transaction() as session:
        session.add_all(StateCursor(machine_id=m, org_id=plan.org_id, derived_until_ms=plan.p1) for m in plan.raw_ids)
        session.add(StateCursor(machine_id=plan.page_id, org_id=plan.org_id, derived_until_ms=plan.n1))
    if not db.is_sqlite:  # what autovacuum would have done by now
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in ("machine_states", "machine_counts", "samples", "rollups_1m", "rollups_1h", "tags",
                         "machines"):
                conn.execute(text(f"VACUUM ANALYZE {name}"))
    db.dispose()


# ---------------------------------------------------------------- 1. and 2.: KPIs, stored and from raw


def _machines(session: Any, ids: list[int]) -> list[Any]:
    from commonworks.telemetry.models import Machine

    return list(session.scalars(select(Machine).where(Machine.id.in_(ids)).order_by(Machine.id)))


def time_kpi(db: Database, ids: list[int], start: int, end: int, runs: int,
             cpu: list[float] | None = None) -> tuple[list[float], dict[str, Any]]:
    """Seconds of ``kpi_report`` per run (after one warm-up), each in a fresh session; and the report.
    ``cpu`` collects this process's CPU seconds per run (all of it on SQLite; the client's share on PostgreSQL)."""
    from commonworks.operations.service import kpi_report

    times = []
    report: dict[str, Any] = {}
    for run in range(runs + 1):
        with db.sessions() as session:
            machines = _machines(session, ids)
            t, c = time.perf_counter(), time.process_time()
            report = kpi_report(session, machines, start, end)
            if run:
                times.append(time.perf_counter() - t)
                if cpu is not None:
                    cpu.append(time.process_time() - c)
    return times, report


def raw_path(db: Database, plan: Plan) -> tuple[float, float, dict[str, Any], dict[str, Any]]:
    """(derive seconds, kpi seconds, KPIs from raw, KPIs from the stored intervals) for the subset's window.

    Derivation from scratch: ``refresh_machine`` from the window start replaces the stored intervals and
    counts of the window with what the raw samples give; the transaction is rolled back afterwards.
    """
    from commonworks.operations.derive import refresh_machine
    from commonworks.operations.service import kpi_report

    with db.sessions() as session:
        machines = _machines(session, plan.raw_ids)
        stored = kpi_report(session, machines, plan.w0, plan.p1)
        t0 = time.perf_counter()
        for machine in machines:
            refresh_machine(session, machine, now_ms=plan.p1, from_ms=plan.w0)
        session.flush()
        t1 = time.perf_counter()
        derived = kpi_report(session, machines, plan.w0, plan.p1)
        t2 = time.perf_counter()
        session.rollback()
    return t1 - t0, t2 - t1, derived, stored


def raw_fetch_floor(db: Database, plan: Plan) -> float:
    """Seconds just to read the subset's raw samples of the window into numpy, straight from the driver:
    a floor under any recomputation from raw data, however clever."""
    from commonworks.telemetry.models import Tag

    with db.sessions() as session:
        tag_ids = list(session.scalars(select(Tag.id).where(Tag.machine_id.in_(plan.raw_ids))))
        driver = session.connection().connection.driver_connection
        t = time.perf_counter()
        for tag_id in tag_ids:
            cur = driver.cursor(binary=True) if not db.is_sqlite else driver.cursor()  # type: ignore[union-attr]
            rows = cur.execute(f"SELECT ts, value FROM samples WHERE tag_id = {int(tag_id)} AND ts >= {plan.w0} "
                               f"AND ts <= {plan.p1} ORDER BY ts").fetchall()
            pairs = np.fromiter(chain.from_iterable(rows), np.float64, 2 * len(rows)).reshape(-1, 2)
            assert len(pairs) > 0
        return time.perf_counter() - t


def compare(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, list[str]]:
    """How many numbers were compared, and the differences."""
    diffs = []
    compared = 0
    for x, y in zip([*a["machines"], a["total"]], [*b["machines"], b["total"]], strict=True):
        for k, v in x.items():
            compared += 1
            w = y[k]
            same = v == w if not isinstance(v, float) or not isinstance(w, float) else abs(v - w) <= 1e-9 * max(
                1.0, abs(v))
            if not same:
                diffs.append(f"{x.get('key', 'total')}.{k}: {v} != {w}")
    return compared, diffs


# ---------------------------------------------------------------- 3.: the machine page API


def page_requests(plan: Plan, end: int) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(endpoint, range, path, params) of one page visit per range, as the page calls them."""
    out: list[tuple[str, str, str, dict[str, Any]]] = [("latest", "-", f"/api/v1/machines/{plan.page_id}/latest", {})]
    for label, span in (("8h", 8 * H), ("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)):
        window = {"start": end - span, "end": end}
        out += [("states", label, f"/api/v1/machines/{plan.page_id}/states", window),
                ("kpi", label, "/api/v1/operations/kpi", {"machine_id": plan.page_id, **window}),
                ("pareto", label, "/api/v1/operations/downtime/pareto", {"machine_id": plan.page_id, **window})]
        out += [("series", label, f"/api/v1/tags/{tag_id}/series", window) for tag_id in plan.page_tags.values()]
    return out


def measure_page(base: str, plan: Plan, rounds: int) -> dict[tuple[str, str], list[float]]:
    """Milliseconds per (endpoint, range): ``rounds`` page visits per range, requests one after another."""
    end = time.time_ns() // 1_000_000 // S * S
    requests = page_requests(plan, end)
    latencies: dict[tuple[str, str], list[float]] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {plan.token}"}, timeout=60) as client:
        for name, _, path, params in requests:  # warm-up: imports, caches, first connection
            response = client.get(path, params=params)
            assert response.status_code == 200, (name, path, response.text[:500])
        for _ in range(rounds):
            for name, label, path, params in requests:
                t = time.perf_counter()
                response = client.get(path, params=params)
                body = response.content
                latencies.setdefault((name, label), []).append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200 and body, (name, label, response.text[:500])
    return latencies


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(np.ceil(q * len(ordered))) - 1)]


# ---------------------------------------------------------------- main


def run_backend(kind: str, size: Size, specs: list[MachineSpec], summary: list[list[str]],
                result: dict[str, str]) -> None:
    directory = workdir()
    url = fresh_database(kind, directory)
    if url is None:
        summary.append([f"{kind}: skipped (no PostgreSQL configured)", "", "", ""])
        return
    plan = make_plan(size)
    try:
        t = time.perf_counter()
        seed(url, plan, specs)
        seeded = time.perf_counter() - t
        print(f"[{kind}] seeded in {seeded:.0f} s: {plan.intervals:,} intervals, {plan.count_rows:,} count rows, "
              f"{plan.raw_samples:,} raw subset samples, {plan.page_samples:,} page samples", flush=True)
        db = Database(url)
        cpu: list[float] = []
        times, report = time_kpi(db, plan.machine_ids, plan.p0, plan.p1, size.runs, cpu)
        assert len(report["machines"]) == size.machines
        kpi_s = statistics.median(times)
        print(f"[{kind}] kpi_report {size.machines}×{size.days}: median {kpi_s:.3f} s, best {min(times):.3f} s "
              f"({', '.join(f'{x:.3f}' for x in times)}); CPU of this process median {statistics.median(cpu):.3f} s",
              flush=True)
        sub_times, _ = time_kpi(db, plan.raw_ids, plan.w0, plan.p1, size.runs)
        derive_s, raw_kpi_s, derived, stored = raw_path(db, plan)
        compared, diffs = compare(derived, stored)
        floor_s = raw_fetch_floor(db, plan)
        db.dispose()
        raw_md = size.raw_machines * size.raw_days
        stored_md = size.machines * size.days
        raw_per_md = (derive_s + raw_kpi_s) / raw_md
        stored_per_md = kpi_s / stored_md
        sub_per_md = statistics.median(sub_times) / raw_md
        check = "identical" if not diffs else f"{len(diffs)} DIFFER"
        print(f"[{kind}] raw path {size.raw_machines}×{size.raw_days}: derive {derive_s:.2f} s + "
              f"kpi {raw_kpi_s:.3f} s; check: {compared} KPI numbers {check}", flush=True)
        for line in diffs[:20]:
            print("   ", line)
        total = report["total"]
        summary += [
            [f"{kind}: KPIs {size.machines} machines × {size.days} d from stored intervals "
             f"({plan.intervals:,} intervals, {plan.count_rows:,} hourly counts)",
             f"{kpi_s:.3f} s (best {min(times):.3f})", f"< {KPI_TARGET_S:.0f} s",
             f"OEE {total['oee']:.3f}, A {total['availability']:.3f}"],
            [f"{kind}:   per machine-day, stored path", f"{stored_per_md * 1e6:.0f} µs", "", "1"],
            [f"{kind}:   per machine-day, stored path on the subset ({size.raw_machines} × {size.raw_days} d)",
             f"{sub_per_md * 1e6:.0f} µs", "", f"{sub_per_md / stored_per_md:.1f}"],
            [f"{kind}:   per machine-day, from raw 1 Hz samples ({size.raw_machines} machines × {size.raw_days} d, "
             f"{plan.raw_samples:,} samples: derive {derive_s:.1f} s + KPIs {raw_kpi_s:.2f} s)",
             f"{raw_per_md * 1e6:,.0f} µs", "", f"{raw_per_md / stored_per_md:,.0f}"],
            [f"{kind}:   per machine-day, only reading those raw samples into numpy (driver cursor; a floor "
             "for any raw path)", f"{floor_s / raw_md * 1e6:,.0f} µs", "", f"{floor_s / raw_md / stored_per_md:,.0f}"],
            [f"{kind}:   check: KPIs from raw = KPIs from stored intervals", f"{compared} numbers {check}", "", ""],
        ]
        result[f"kpi_{size.machines}x{size.days}_{kind}_s"] = f"{kpi_s:.3f}"
        result[f"kpi_raw_ratio_{kind}"] = f"{raw_per_md / stored_per_md:.0f}"
        result[f"kpi_raw_check_{kind}"] = "ok" if not diffs else "DIFF"

        with platform(url, directory) as base:
            latencies = measure_page(base, plan, size.rounds)
        rows = []
        by_endpoint: dict[str, list[float]] = {}
        for (name, label), values in latencies.items():
            by_endpoint.setdefault(name, []).extend(values)
            rows.append([name, label, str(len(values)), f"{pct(values, 0.5):.1f}", f"{pct(values, 0.95):.1f}",
                         f"{max(values):.1f}"])
        table(f"[{kind}] machine page API, ms per request (page machine: {plan.page_samples:,} samples on "
              f"{len(plan.page_tags)} tags over {size.page_days} d, {plan.page_intervals:,} intervals)",
              ["endpoint", "range", "n", "p50", "p95", "max"], rows)
        everything = [v for values in latencies.values() for v in values]
        for name, values in by_endpoint.items():
            summary.append([f"{kind}: page API {name}", f"p50 {pct(values, 0.5):.1f} / p95 {pct(values, 0.95):.1f} ms",
                            f"p95 < {PAGE_TARGET_MS:.0f} ms", ""])
            result[f"page_{name}_p95_ms_{kind}"] = f"{pct(values, 0.95):.1f}"
        summary.append([f"{kind}: page API, all {len(everything)} requests",
                        f"p50 {pct(everything, 0.5):.1f} / p95 {pct(everything, 0.95):.1f} ms",
                        f"p95 < {PAGE_TARGET_MS:.0f} ms", ""])
        result[f"page_p95_ms_{kind}"] = f"{pct(everything, 0.95):.1f}"

    finally:
        drop_database(url)
        shutil.rmtree(directory, ignore_errors=True)  # a full run leaves ~300 MB of SQLite behind otherwise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one backend only")
    parser.add_argument("--rounds", type=int, help="page visits per range (default 50, quick 5)")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    if args.rounds:
        size = replace(size, rounds=args.rounds)
    specs = machine_specs(size.machines)
    summary: list[list[str]] = []
    result: dict[str, str] = {}
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        run_backend(kind, size, specs, summary, result)
    table("Machine KPIs and the machine page (ratio: time per machine-day against the stored path)",
          ["what", "measured", "target", "ratio / note"], summary)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
