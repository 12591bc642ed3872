"""The demo's simulated machines, fast-forwarded through a day, against the platform's operations figures.

The demo's simulated machines are seeded models (:mod:`commonworks.connect.simulators.machines`, the very
code the demo's OPC UA and Modbus servers serve) that log every change of activity with its exact time
(``model.transitions``) and count parts and scrap. Here two of the demo's machines — ``cnc-01`` (Hefei,
OPC UA) and ``imm-01`` (Qingdao, Modbus) — run through Monday 2026-03-02 from 07:00 to 01:00 the next
morning in simulated time (deterministic: same seeds as ``commonworks demo``), read once a simulated
second as the demo gateways read them, and their samples go through the real ingest API of a platform
seeded exactly as ``commonworks demo`` seeds it (its tags, state rules, two-shift calendar and alarm
rules). Every five simulated minutes the server's upkeep runs as it would (states brought up to "now",
timed alarm rules evaluated). Then the platform's states, KPIs, Pareto and alarms are compared with what the
simulator's own log says happened.

Timing: a sample at second ``k`` reports the model's state at ``k``, so a change at time ``t`` is seen
at ``ceil(t)`` — every boundary the platform derives lies 0–1 s after the true one ("± one sample
period"). Times spent in a state can therefore differ from the truth by at most one second per
boundary inside the planned busy time; that is the tolerance of the availability check.

Reading by exception: the real OPC UA gateway delivers a value only when it changes, and the simulated CNC
changes none during a breakdown or a changeover — silence that the platform would take for ``offline`` after
its state rule's timeout (300 s). So while the session is healthy the gateway re-sends each tag's unchanged
value every ``republish_s`` seconds, stamped with the current time (:mod:`commonworks.connect.base`).
``fast_forward(..., by_exception=...)`` reads a machine that way: a tag's value goes out when it differs from
the last one sent, or when it has gone ``republish_s`` seconds unsent (the period taken from the demo's own
gateway configuration, as ``commonworks demo`` writes it) — the real gateway's timer checks at least once a
second, so it re-sends within a second after that, which changes no state.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from commonworks.app import create_app
from commonworks.connect.config import load_config
from commonworks.connect.simulators.imm_modbus import _mould_number
from commonworks.connect.simulators.machines import Activity, CncModel, ImmModel, Transition
from commonworks.core.settings import Settings
from commonworks.demo import DEMO_PASSWORD, seed, seed_factories
from commonworks.operations.alarms import evaluate_timed
from commonworks.operations.derive import refresh_states

ZONE = ZoneInfo("Asia/Shanghai")
DAY = int(datetime(2026, 3, 2, tzinfo=ZONE).timestamp())  # Monday 2026-03-02 00:00 Shanghai, epoch seconds
SIM_START, SIM_END = DAY + 7 * 3600, DAY + 25 * 3600  # 07:00 to 01:00 the next day
UPKEEP_S = 300  # the server's upkeep runs every 10 s; every 5 simulated minutes keeps the test quick
INGEST_S = 600  # the gateways deliver ten simulated minutes per batch
OWNERS = {"gw-hefei-cnc": "owner@hefei-cnc.cn", "gw-qingdao-imm": "owner@hairun-mould.cn"}
MS = 1000

# The demo calendar (DEMO_SHIFTS, and the simulator's own): 08:00–16:00 and 16:00–24:00 with breaks
# 12:00–12:45 and 20:00–20:30, every day. Planned busy time of the day, worked out by hand:
# 4 h + 7 h 15 min + 3 h 30 min = 14 h 45 min = 53,100 s.
PBT = [
    (DAY + 8 * 3600, DAY + 12 * 3600),
    (DAY + 12 * 3600 + 45 * 60, DAY + 20 * 3600),
    (DAY + 20 * 3600 + 30 * 60, DAY + 24 * 3600),
]
PBT_S = 53_100

# What the platform should make of the simulator's activities (the demo maps the CNC's Activity tag,
# the IMM's status register 0 off, 1 idle, 2 setup, 3 producing, 4 down): switched off in shift time is
# lost time (idle), a breakdown unplanned down time.
EXPECTED_STATE = {
    Activity.PRODUCING: "producing",
    Activity.IDLE: "idle",
    Activity.SETUP: "setup",
    Activity.DOWN: "down_unplanned",
    Activity.OFF: "idle",
}


@dataclass
class SimMachine:
    """One demo machine's model and how its gateway reads it: tag suffix → value of a snapshot."""

    key: str
    gateway: str
    model: CncModel | ImmModel
    reads: dict[str, Callable[[Any], Any]]
    counts: Callable[[Any], tuple[int, int]]  # (parts made, scrap parts) so far, as the counters say


def demo_machines() -> list[SimMachine]:
    return [
        SimMachine(
            "cnc-01",
            "gw-hefei-cnc",
            CncModel(seed=11, start=SIM_START),
            {  # seeds as in demo.FACTORIES
                "activity": lambda s: s.activity.value,
                "machinery_item_state": lambda s: int(s.state),
                "part_counter": lambda s: s.part_counter,
                "scrap_counter": lambda s: s.scrap_counter,
                "alarm_code": lambda s: s.alarm_code,
                "program_name": lambda s: s.program,  # the part tag
            },
            lambda s: (s.part_counter, s.scrap_counter),
        ),
        SimMachine(
            "imm-01",
            "gw-qingdao-imm",
            ImmModel(seed=21, start=SIM_START),
            {
                "machine_status": lambda s: s.state_register,
                "machinery_item_state": lambda s: int(s.state),
                "shot_counter": lambda s: s.shot_counter,
                "good_counter": lambda s: s.good_counter,
                "scrap_counter": lambda s: s.scrap_counter,
                "alarm_code": lambda s: s.alarm_code,
                "mould_number": lambda s: _mould_number(s.mould),  # the part tag
            },
            lambda s: (s.good_counter + s.scrap_counter, s.scrap_counter),
        ),
    ]


# ---------------------------------------------------------------- the simulator's log, by hand


def sample_time(t: float) -> int:
    """When a gateway reading once a second first sees a change at ``t`` (epoch ms)."""
    return math.ceil(t) * MS


def truth_intervals(transitions: list[Transition], end_s: int, *, on_grid: bool) -> list[tuple[int, int, str]]:
    """(start ms, end ms, platform state) from the model's log, neighbours of equal state merged; at the
    exact times, or as a once-a-second reading sees them (``on_grid``)."""
    moments = [(sample_time(tr.t) if on_grid else round(tr.t * MS), EXPECTED_STATE[tr.activity]) for tr in transitions]
    out: list[list[Any]] = []
    for (t, state), (t_next, _) in zip(moments, [*moments[1:], (end_s * MS, None)], strict=True):
        if t_next <= t:
            continue  # over before the next reading
        if out and out[-1][2] == state:
            out[-1][1] = t_next
        else:
            out.append([t, t_next, state])
    return [(a, b, s) for a, b, s in out]


def in_pbt(a: int, b: int) -> int:
    """Milliseconds of [a, b) inside the day's planned busy time."""
    return sum(max(0, min(b, e * MS) - max(a, s * MS)) for s, e in PBT)


# ---------------------------------------------------------------- the run


@dataclass
class Run:
    client: TestClient
    headers: dict[str, dict[str, str]]  # machine key → its factory owner's auth header
    machine_ids: dict[str, int]
    machines: list[SimMachine]
    counts_at: dict[str, dict[int, tuple[int, int]]]  # machine → second → (parts, scrap) read then


def _owner_headers(client: TestClient, email: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def fast_forward(
    client: TestClient,
    db: Any,
    directory: Path,
    machines: list[SimMachine],
    *,
    until: int = SIM_END,
    by_exception: frozenset[str] = frozenset(),
) -> Run:
    """Read the models once a simulated second from SIM_START to ``until``, ingest, run the upkeep.

    Machines named in ``by_exception`` are read as the gateway reads an OPC UA subscription: a change, or the
    unchanged value again once it has gone its device's ``republish_s`` seconds unsent; the others as a Modbus
    poll does: every reading.
    """
    tokens = json.loads((directory / "credentials.json").read_text())
    republish_s = demo_republish_s(directory)
    last: dict[str, Any] = {}
    sent_at: dict[str, int] = {}
    counts_at: dict[str, dict[int, tuple[int, int]]] = {m.key: {} for m in machines}
    for chunk in range(SIM_START, until, INGEST_S):
        batches: dict[str, list[dict[str, Any]]] = {}
        for m in machines:
            columns: dict[str, tuple[list[int], list[Any]]] = {suffix: ([], []) for suffix in m.reads}
            for second in range(chunk, chunk + INGEST_S):
                snapshot = m.model.advance_to(float(second))
                counts_at[m.key][second] = m.counts(snapshot)
                for suffix, read in m.reads.items():
                    value = read(snapshot)
                    tag = f"{m.key}.{suffix}"
                    if m.key in by_exception and last.get(tag) == value:
                        period = republish_s[m.key]
                        if not period or second - sent_at[tag] < period:
                            continue  # unchanged, and sent not long ago (or re-sending is off)
                    last[tag] = value
                    sent_at[tag] = second
                    columns[suffix][0].append(second * MS)
                    columns[suffix][1].append(value)
            batches.setdefault(m.gateway, []).extend(
                {"tag": f"{m.key}.{suffix}", "ts": ts, "v": vs} for suffix, (ts, vs) in columns.items() if ts
            )
        for gateway, series in batches.items():
            response = client.post(
                "/api/v1/ingest",
                json={"batch_id": f"{gateway}-{chunk}", "series": series},
                headers={"Authorization": f"Bearer {tokens[gateway]}"},
            )
            assert response.status_code == 200 and not response.json()["rejected_count"], response.text
        for now in range(chunk + UPKEEP_S, chunk + INGEST_S + 1, UPKEEP_S):  # the server's upkeep, at "now"
            with db.transaction() as session:
                refresh_states(session, now_ms=now * MS)
            with db.transaction() as session:
                evaluate_timed(session, now_ms=now * MS)
    ids = {}
    headers = {}
    for m in machines:
        headers[m.key] = _owner_headers(client, OWNERS[m.gateway])
        listed = client.get("/api/v1/machines", params={"limit": 100}, headers=headers[m.key]).json()["items"]
        ids[m.key] = next(x["id"] for x in listed if x["key"] == m.key)
    return Run(client, headers, ids, machines, counts_at)


def demo_republish_s(directory: Path) -> dict[str, float]:
    """Each demo device's re-send period (0: none), from the gateway configurations the demo wrote."""
    return {
        device.name: getattr(device, "republish_s", 0.0)
        for path in sorted(directory.glob("gw-*.yaml"))
        for device in load_config(path).devices
    }


@pytest.fixture
def demo_platform(db_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Any, Path]]:
    """A platform seeded as ``commonworks demo`` seeds it; its own upkeep off (the test runs it in simulated
    time)."""
    settings = Settings(
        database_url=db_url,
        data_dir=tmp_path,
        secret_key="demo-operations-test-secret-0123456789",
        ui=False,
        states_interval_s=0,
        retention_interval_s=0,
    )
    app = create_app(settings, ui=False)
    directory = tmp_path / "demo"
    with TestClient(app) as client:
        with app.state.db.transaction() as session:
            seed(session)
            seed_factories(session, directory, "http://127.0.0.1:1")
        yield client, app.state.db, directory


# ---------------------------------------------------------------- the checks


def _states(run: Run, key: str, start: int, end: int) -> list[dict[str, Any]]:
    response = run.client.get(
        f"/api/v1/machines/{run.machine_ids[key]}/states",
        params={"start": start * MS, "end": end * MS},
        headers=run.headers[key],
    )
    assert response.status_code == 200, response.text
    return response.json()


def _kpi(run: Run, key: str, start: int = DAY, end: int = DAY + 86_400) -> dict[str, Any]:
    response = run.client.get(
        "/api/v1/operations/kpi",
        params={"start": start * MS, "end": end * MS, "machine_id": run.machine_ids[key]},
        headers=run.headers[key],
    )
    assert response.status_code == 200, response.text
    [entry] = response.json()["machines"]
    return entry


def _breakdowns(m: SimMachine) -> list[tuple[float, float, int]]:
    """(start, end, alarm code) of every breakdown in the log, in epoch seconds."""
    log = list(m.model.transitions)
    return [(a.t, b.t, a.alarm_code) for a, b in pairwise(log) if a.activity is Activity.DOWN]


def check_breakdowns_and_changeovers_are_state_intervals_at_the_right_times(day: Run) -> None:
    for m in day.machines:
        log = list(m.model.transitions)
        truth = [
            (round(a.t * MS), round(b.t * MS), EXPECTED_STATE[a.activity])
            for a, b in pairwise(log)
            if a.activity in (Activity.DOWN, Activity.SETUP)
        ]
        assert sum(s == "down_unplanned" for *_, s in truth) >= 2 and sum(s == "setup" for *_, s in truth) >= 2, (
            "the day should hold breakdowns and changeovers to compare"
        )
        derived = [
            (s["start_ms"], s["end_ms"], s["state"])
            for s in _states(day, m.key, SIM_START, SIM_END)
            if s["state"] in ("down_unplanned", "setup")
        ]
        assert len(derived) == len(truth), (m.key, derived, truth)
        for (a, b, state), (da, db, dstate) in zip(truth, derived, strict=True):
            assert dstate == state and 0 <= da - a < MS and 0 <= db - b < MS, (m.key, (a, b, state), (da, db, dstate))
        # and the whole timeline is the log as a once-a-second reading sees it
        grid = truth_intervals(log, SIM_END, on_grid=True)
        everything = [(s["start_ms"], s["end_ms"], s["state"]) for s in _states(day, m.key, SIM_START, SIM_END)]
        assert everything == grid


def check_kpis_match_the_simulators_log(day: Run) -> None:
    for m in day.machines:
        entry = _kpi(day, m.key)
        log = list(m.model.transitions)
        exact = truth_intervals(log, SIM_END, on_grid=False)

        def seconds(state: str, intervals: list[tuple[int, int, str]] = exact) -> float:
            return sum(in_pbt(a, b) for a, b, s in intervals if s == state) / MS

        assert (entry["pot_s"], entry["pdot_s"], entry["pbt_s"]) == (16 * 3600, 4500, PBT_S)
        # every boundary inside the planned busy time may be seen up to 1 s late (see the module docstring)
        boundaries = sum(any(s * MS < a < e * MS for s, e in PBT) for a, _, _ in exact[1:])
        tolerance_s = boundaries * 1.0
        assert abs(entry["apt_s"] - seconds("producing")) <= tolerance_s
        assert abs(entry["aust_s"] - seconds("setup")) <= tolerance_s
        assert abs(entry["adot_s"] - seconds("down_unplanned")) <= tolerance_s
        assert abs(entry["availability"] - seconds("producing") / PBT_S) <= tolerance_s / PBT_S
        assert entry["offline_s"] == 0
        # failures: the breakdowns that reach into the planned busy time of the day
        reaching = [(a, b) for a, b, _ in _breakdowns(m) if in_pbt(round(a * MS), round(b * MS)) > 0]
        assert entry["failures"] == len(reaching) >= 2

        # quality: the counters' increments over the day's readings (07:00:00 … 23:59:59), in parts
        counts = day.counts_at[m.key]
        parts = counts[DAY + 86_399][0] - counts[SIM_START][0]
        scrap = counts[DAY + 86_399][1] - counts[SIM_START][1]
        assert parts > 100 and scrap > 0
        assert (entry["produced"], entry["good"]) == (parts, parts - scrap)
        assert entry["quality"] == pytest.approx((parts - scrap) / parts, abs=1e-12)


def check_the_pareto_ranks_the_days_downtime(day: Run) -> None:
    for m in day.machines:
        response = day.client.get(
            "/api/v1/operations/downtime/pareto",
            params={"start": DAY * MS, "end": (DAY + 86_400) * MS, "machine_id": day.machine_ids[m.key]},
            headers=day.headers[m.key],
        )
        assert response.status_code == 200, response.text
        rows = response.json()
        # the log as read once a second: stop time inside the planned busy time, grouped by state (none has a
        # reason yet; none is shorter than the 120 s of a micro-stop)
        grid = truth_intervals(list(m.model.transitions), SIM_END, on_grid=True)
        expected: dict[str, list[float]] = {}
        for a, b, state in grid:
            if state != "producing" and in_pbt(a, b) > 0:
                assert b - a >= 120 * MS
                group = expected.setdefault(state, [0.0, 0])
                group[0] += in_pbt(a, b) / MS
                group[1] += 1
        ranked = sorted(expected.items(), key=lambda kv: -kv[1][0])
        assert [(r["state"], r["seconds"], r["count"]) for r in rows] == [(s, sec, n) for s, (sec, n) in ranked]
        assert {"setup", "down_unplanned"} <= {r["state"] for r in rows}
        # and its stop time is the KPIs' lost time, element by element
        entry = _kpi(day, m.key)
        by_state = {r["state"]: r["seconds"] for r in rows}
        assert (by_state.get("setup", 0), by_state.get("down_unplanned", 0), by_state.get("idle", 0)) == (
            entry["aust_s"],
            entry["adot_s"],
            entry["adet_s"],
        )


def check_seeded_alarm_rules_fire_for_the_breakdowns(day: Run) -> None:
    for m in day.machines:
        response = day.client.get(
            "/api/v1/alarms", params={"machine_id": day.machine_ids[m.key], "limit": 100}, headers=day.headers[m.key]
        )
        assert response.status_code == 200, response.text
        alarms = response.json()["items"]
        rules = {
            r["id"]: r["name"]
            for r in day.client.get("/api/v1/alarm-rules", headers=day.headers[m.key]).json()["items"]
        }
        by_rule: dict[str, list[dict[str, Any]]] = {}
        for alarm in sorted(alarms, key=lambda a: a["raised_ms"]):
            by_rule.setdefault(rules[alarm["rule_id"]], []).append(alarm)
        downs = _breakdowns(m)
        # "报警代码" (alarm code above 0, no delay): one alarm per breakdown, raised and cleared with it
        coded = by_rule.get("报警代码", [])
        assert [(a["raised_ms"], a["cleared_ms"], a["value"]) for a in coded] == [
            (sample_time(a), sample_time(b), float(code)) for a, b, code in downs
        ]
        assert all(a["status"] == "cleared" for a in coded)
        # "设备故障超过 30 分钟" (down_unplanned held 30 min): only for the breakdowns that long, from their start
        long = [a for a in by_rule.get("设备故障超过 30 分钟", [])]
        assert [a["raised_ms"] for a in long] == [sample_time(a) for a, b, _ in downs if b - a > 1800 + UPKEEP_S]
        # the gateways read every second: no "no data" alarm
        assert "设备无数据" not in by_rule
    assert any(b - a > 1800 + UPKEEP_S for m in day.machines for a, b, _ in _breakdowns(m)), (
        "the day should hold a breakdown longer than 30 minutes"
    )


def check_the_moulders_effectiveness_counts_parts_not_shots(day: Run) -> None:
    """imm-01 (seed 21) runs three moulds; its ideal cycle times are per part — shot cycle ÷ cavities, × 0.9 (the
    demo's ideal share) — because operations counts parts (good + scrap), each valued at the ideal cycle time of
    the mould in the machine (its ``mould_number`` register, the machine's part tag):

    ================  ============  ========  ========  =========================
    mould             mould number  shot (s)  cavities  ideal per part (s)
    ================  ============  ========  ========  =========================
    M310-GEAR-PA66    310           26        4         26 / 4 × 0.9 = 5.85
    M101-CAP-28MM-PP  101           18        8         18 / 8 × 0.9 = 2.025
    M412-CRATE-HDPE   412           55        1         55 / 1 × 0.9 = 49.5
    ================  ============  ========  ========  =========================

    From 14:00 to 21:00 the machine moulds caps (M101) only: a shot takes 18 s × 1.02 on average (cycles vary
    ±5 %, and 4 % of them are slowed by 1.2–1.8×, 1.5× on average: 0.96 × 1 + 0.04 × 1.5 = 1.02) and makes 8
    parts, so a part takes 18.36 / 8 = 2.295 s while producing and effectiveness is 2.025 / 2.295 = 0.882. (Per
    shot, 16.2 s against a part every 2.3 s, it would read 7.1.)
    """
    replay = ImmModel(seed=21, start=SIM_START)  # the same machine again, to ask which mould it ran when
    moulds = {
        replay.advance_to(float(t)).mould for t in range(SIM_START, DAY + 21 * 3600 + 1, 60) if t >= DAY + 14 * 3600
    }
    assert moulds == {"M101-CAP-28MM-PP"}
    response = day.client.get("/api/v1/machines", params={"limit": 100}, headers=day.headers["imm-01"])
    assert response.status_code == 200, response.text
    [machine] = [m for m in response.json()["items"] if m["key"] == "imm-01"]
    assert machine["ideal_cycle_times"] == {"310": 5.85, "101": 2.025, "412": 49.5}
    assert machine["part_tag_key"] == "imm-01.mould_number"
    caps = _kpi(day, "imm-01", DAY + 14 * 3600, DAY + 21 * 3600)
    assert caps["produced"] > 5000 and caps["parts_without_own_cycle"] == 0
    assert caps["effectiveness"] == pytest.approx(2.025 * caps["produced"] / caps["apt_s"], rel=1e-9)
    assert caps["effectiveness"] == pytest.approx(0.882, abs=0.01)
    # over the whole day the gears and crates are valued at their own ideal cycle times, not the caps' 2.025 s:
    # about as effective as the caps, and not one part valued at the fastest mould's time
    whole = _kpi(day, "imm-01")
    assert whole["parts_without_own_cycle"] == 0
    assert 0.8 < whole["effectiveness"] <= 1


def check_a_slow_program_is_judged_by_its_own_ideal_cycle(day: Run) -> None:
    """cnc-01 (seed 11) runs its own variants of three programs; the demo's ideal cycle times are 0.9 × theirs:

    =================  ============  ================================
    program            nominal (s)   ideal (s)
    =================  ============  ================================
    O3005-BRACKET      76.96         0.9 × 76.96 = 69.3 (the fastest)
    O2010-HOUSING      281.83        0.9 × 281.83 = 253.6
    O1002-SHAFT        158.50        0.9 × 158.50 = 142.7
    =================  ============  ================================

    From 12:00 to 18:00 it machines housings only (the bracket lot ends at 11:38, a changeover follows): a
    housing takes 281.83 × 1.02 = 287.5 s on average while producing (see the moulder above for the 1.02), so
    effectiveness is 253.6 / 287.5 = 0.882. Valued at the fastest program's 69.3 s, as before the machine had
    a part tag, it read 69.3 / 287.5 = 0.24 — and a bracket-only stretch valued at the old demo's 95 s
    "支架" family read 95 / (76.96 × 1.02) = 1.21, above 1.
    """
    replay = CncModel(seed=11, start=SIM_START)
    programs = {replay.advance_to(float(t)).program for t in range(SIM_START, DAY + 18 * 3600 + 1, 60)
                if t >= DAY + 12 * 3600}
    assert programs == {"O2010-HOUSING"}
    housings = _kpi(day, "cnc-01", DAY + 12 * 3600, DAY + 18 * 3600)
    counts = day.counts_at["cnc-01"]
    parts = counts[DAY + 18 * 3600 - 1][0] - counts[DAY + 12 * 3600 - 1][0]  # readings 12:00:00 … 17:59:59
    assert housings["produced"] == parts > 50 and housings["parts_without_own_cycle"] == 0
    assert housings["ideal_cycle_s"] == 69.3  # the fastest, used only for parts of an unknown program
    assert housings["effectiveness"] == pytest.approx(253.6 * parts / housings["apt_s"], rel=1e-9)
    assert housings["effectiveness"] == pytest.approx(0.882, abs=0.04)  # some 70 parts: one jam moves it 0.01


def check_no_machine_is_more_than_fully_effective(day: Run) -> None:
    for m in day.machines:
        entry = _kpi(day, m.key)
        assert entry["parts_without_own_cycle"] == 0
        assert 0.8 <= entry["effectiveness"] <= 0.95, (m.key, entry["effectiveness"])


def test_a_simulated_day_shows_up_in_states_kpis_pareto_and_alarms(demo_platform: tuple[TestClient, Any, Path]) -> None:
    client, db, directory = demo_platform
    # one run (minutes of work), four sets of checks; the CNC read as its OPC UA gateway reads it
    day = fast_forward(client, db, directory, demo_machines(), by_exception=frozenset({"cnc-01"}))
    check_breakdowns_and_changeovers_are_state_intervals_at_the_right_times(day)
    check_kpis_match_the_simulators_log(day)
    check_the_pareto_ranks_the_days_downtime(day)
    check_seeded_alarm_rules_fire_for_the_breakdowns(day)
    check_the_moulders_effectiveness_counts_parts_not_shots(day)
    check_a_slow_program_is_judged_by_its_own_ideal_cycle(day)
    check_no_machine_is_more_than_fully_effective(day)


def test_cnc_read_by_exception_keeps_its_changeover(demo_platform: tuple[TestClient, Any, Path]) -> None:
    """cnc-01 read as its gateway really reads it (by exception, unchanged values re-sent every minute): its
    18-minute changeover before lunch — not one value changes in it — stays ``setup``, not ``offline``."""
    client, db, directory = demo_platform
    assert demo_republish_s(directory)["cnc-01"] == 60.0  # the demo's OPC UA devices, by default
    [cnc] = [m for m in demo_machines() if m.key == "cnc-01"]
    until = DAY + 12 * 3600  # the morning: a changeover from 11:41:22 to 12:00 (18 min without a new value)
    run = fast_forward(client, db, directory, [cnc], until=until, by_exception=frozenset({"cnc-01"}))
    states = _states(run, "cnc-01", SIM_START, until)
    setups = [(s["start_ms"], s["end_ms"]) for s in states if s["state"] == "setup"]
    truth = truth_intervals(list(cnc.model.transitions), until, on_grid=True)
    assert [(a, b) for a, b, state in truth if state == "setup"] == [(sample_time(DAY + 42_082.476), until * MS)]
    assert setups == [(a, b) for a, b, state in truth if state == "setup"]
    # and the whole morning is what a reading every second sees: never offline
    assert [(s["start_ms"], s["end_ms"], s["state"]) for s in states] == truth


def test_demo_ideal_cycle_times_are_the_simulators_own_a_little_faster() -> None:
    """The worked examples in :mod:`commonworks.demo`, and every demo machine by the same rule: an ideal cycle time
    for each program (CNC) or mould number (moulder) the machine's simulator runs, 0.9 × its nominal cycle (per
    part for a moulder: shot cycle ÷ cavities), keyed by the values of the machine's part tag."""
    import doctest

    import commonworks.demo as demo

    result = doctest.testmod(demo)
    assert result.attempted >= 2 and result.failed == 0
    for factory in demo.FACTORIES:
        for machine in factory.machines:
            if machine.simulator == "imm_modbus":
                assert machine.part_tag == f"{machine.key}.mould_number"
                moulds = ImmModel(seed=machine.seed, start=SIM_START).moulds
                expected = {str(_mould_number(m.name)): 0.9 * m.cycle_s / m.cavities for m in moulds}
            else:
                assert machine.part_tag == f"{machine.key}.program_name"
                programs = CncModel(seed=machine.seed, start=SIM_START).programs
                expected = {p.name: 0.9 * p.cycle_s for p in programs}
            assert machine.cycle_times.keys() == expected.keys(), machine.key
            for part, seconds in expected.items():
                assert machine.cycle_times[part] == pytest.approx(seconds, abs=0.05), (machine.key, part)


def test_every_demo_machine_is_at_most_fully_effective_over_the_day() -> None:
    """Every demo machine's simulator run through the day (no platform: the model's own log and counters), its
    parts valued at the demo's ideal cycle time of the program or mould they were made with, over its producing
    time in the planned busy time — the effectiveness the platform computes (checked against it for cnc-01 and
    imm-01 above). A demo whose ideal cycle times did not match its simulators showed more than 1."""
    import commonworks.demo as demo

    for factory in demo.FACTORIES:
        for machine in factory.machines:
            model: CncModel | ImmModel
            if machine.simulator == "imm_modbus":
                model = ImmModel(seed=machine.seed, start=SIM_START)

                def read(s: Any) -> tuple[int, str]:
                    return s.good_counter + s.scrap_counter, str(_mould_number(s.mould))
            else:
                model = CncModel(seed=machine.seed, start=SIM_START)

                def read(s: Any) -> tuple[int, str]:
                    return s.part_counter, s.program
            planned = 0.0
            before = read(model.advance_to(float(SIM_START)))
            for second in range(SIM_START + 1, DAY + 86_400):
                now = read(model.advance_to(float(second)))
                planned += (now[0] - before[0]) * machine.cycle_times[before[1]]  # the part in force before
                before = now
            apt = sum(in_pbt(a, b) for a, b, s in truth_intervals(list(model.transitions), SIM_END, on_grid=False)
                      if s == "producing") / MS
            assert 0.8 <= planned / apt <= 0.95, (machine.key, planned / apt)
