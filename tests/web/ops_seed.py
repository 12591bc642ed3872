"""A plant with a day of stored operations data, written straight into the database (no gateway, no
state derivation): what the operations pages and their data layer are tested on.

Three machines on two lines. ``cnc-01`` produces now (a 40-minute breakdown without a
reason, a setup with one, a 10-minute idle); ``press-02`` is down now (reasons on some of its
stops, two micro-stops); ``laser-03`` has no states at all. An organization-wide calendar
plans around the clock with a planned stop from 15 minutes ago on, so today's planned busy
time — and with it today's OEE — stays put while a test runs. Two open alarms (critical on
``cnc-01``, warning on ``press-02``) and a cleared one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from commonworks.core.database import Database
from commonworks.operations.models import (
    Alarm,
    AlarmRule,
    AlarmStatus,
    DowntimeReason,
    MachineCount,
    MachineStateInterval,
    Severity,
    ShiftCalendar,
)
from commonworks.operations.service import install_standard_reasons
from commonworks.operations.states import State
from commonworks.telemetry.models import Line, Machine, MachineType, Site

H, M = 3_600_000, 60_000


@dataclass(frozen=True)
class OpsPlant:
    now_ms: int  # when the data was written (the newest full minute before it is M0 below)
    site_id: int
    line_ids: dict[str, int]
    machines: dict[str, int]  # key → id
    breakdown_id: int  # cnc-01's 40-minute breakdown, without a reason
    producing_id: int  # cnc-01's current producing interval
    alarms: dict[str, int]  # "critical", "warning", "cleared" → id
    reasons: dict[str, int]  # code → id


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def seed_operations(db: Database, org_id: int, now_ms: int, *, prefix: str = "") -> OpsPlant:
    """Write the plant for ``org_id``; machine keys get ``prefix`` (to seed two tenants alike)."""
    m0 = now_ms - now_ms % M
    with db.transaction() as session:
        install_standard_reasons(session, org_id)
        reasons = {r.code: r.id for r in session.scalars(select(DowntimeReason).where(DowntimeReason.org_id == org_id))}
        site = Site(org_id=org_id, name=f"{prefix}一号厂区", timezone="Asia/Shanghai")
        session.add(site)
        session.flush()
        lines = {name: Line(org_id=org_id, site_id=site.id, name=name) for name in ("机加线 1", "冲压线")}
        session.add_all(lines.values())
        session.flush()
        machines = {
            "cnc-01": Machine(org_id=org_id, line_id=lines["机加线 1"].id, key=f"{prefix}cnc-01", name="立式加工中心",
                              machine_type=MachineType.cnc_mill, ideal_cycle_times={"支架": 30.0}),
            "press-02": Machine(org_id=org_id, line_id=lines["冲压线"].id, key=f"{prefix}press-02", name="冲床",
                                machine_type=MachineType.press, ideal_cycle_times={"盖板": 6.0}),
            "laser-03": Machine(org_id=org_id, line_id=lines["冲压线"].id, key=f"{prefix}laser-03", name="激光切割机",
                                machine_type=MachineType.laser_cutter),
        }
        session.add_all(machines.values())
        session.flush()
        session.add(ShiftCalendar(
            org_id=org_id, name="全天", timezone="Asia/Shanghai",
            shifts=[{"name": "全天", "start": "00:00", "end": "00:00", "days": [1, 2, 3, 4, 5, 6, 7], "breaks": []}],
            exceptions=[{"kind": "planned_downtime", "start": _iso(now_ms - 15 * M), "end": _iso(now_ms + 48 * H),
                         "note": "测试"}]))
        cnc, press = machines["cnc-01"].id, machines["press-02"].id
        rows = {
            cnc: [(-26 * H, -4 * H, State.producing, None, None),
                  (-4 * H, -3 * H - 20 * M, State.down_unplanned, None, None),
                  (-3 * H - 20 * M, -2 * H, State.producing, None, None),
                  (-2 * H, -H - 45 * M, State.setup, "CHG-PROG", "换新零件程序"),
                  (-H - 45 * M, -50 * M, State.producing, None, None),
                  (-50 * M, -40 * M, State.idle, None, None),
                  (-40 * M, H, State.producing, None, None)],
            press: [(-26 * H, -5 * H, State.producing, None, None),
                    (-5 * H, -4 * H - 10 * M, State.down_unplanned, "BRK-ELEC", None),
                    (-4 * H - 10 * M, -3 * H, State.producing, None, None),
                    (-3 * H, -2 * H - 40 * M, State.setup, "CHG-MOULD", None),
                    (-2 * H - 40 * M, -2 * H, State.producing, None, None),
                    (-2 * H, -H - 55 * M, State.idle, None, None),
                    (-H - 55 * M, -H, State.producing, None, None),
                    (-H, -H + 60_000, State.idle, None, None),
                    (-H + 60_000, -30 * M, State.producing, None, None),
                    (-30 * M, -29 * M, State.idle, None, None),
                    (-29 * M, -25 * M, State.producing, None, None),
                    (-25 * M, H, State.down_unplanned, None, None)],
        }
        stored: dict[tuple[int, int], MachineStateInterval] = {}
        for machine_id, spans in rows.items():
            for a, b, state, code, note in spans:
                row = MachineStateInterval(org_id=org_id, machine_id=machine_id, start_ms=m0 + a, end_ms=m0 + b,
                                           state=state, reason_id=reasons[code] if code else None, note=note)
                session.add(row)
                stored[(machine_id, a)] = row
        # whole hours that ended before the planned stop began: 100 parts an hour, 97 good
        last_hour = (now_ms - 15 * M) // H * H - H
        for machine_id in (cnc, press):
            session.add_all(MachineCount(machine_id=machine_id, org_id=org_id, hour_ms=last_hour - k * H,
                                         produced=100, good=97) for k in range(26))
        rules = {
            "critical": AlarmRule(org_id=org_id, name="主轴温度过高", kind="threshold", machine_id=cnc,
                                  tag="spindle_temp", limit=60, severity=Severity.critical),
            "warning": AlarmRule(org_id=org_id, name="液压油位低", kind="threshold", machine_id=press,
                                 tag="oil_level", direction="below", limit=20, severity=Severity.warning),
            "cleared": AlarmRule(org_id=org_id, name="防护门未关", kind="threshold", machine_id=cnc, tag="door_open",
                                 limit=0.5, severity=Severity.info),
        }
        session.add_all(rules.values())
        session.flush()
        alarms = {
            "critical": Alarm(org_id=org_id, rule_id=rules["critical"].id, machine_id=cnc, status=AlarmStatus.active,
                              severity=Severity.critical, value=72.5, raised_ms=m0 - 20 * M,
                              message=f"主轴温度过高: {prefix}cnc-01.spindle_temp = 72.5 > 60"),
            "warning": Alarm(org_id=org_id, rule_id=rules["warning"].id, machine_id=press, status=AlarmStatus.active,
                             severity=Severity.warning, message=f"液压油位低: {prefix}press-02.oil_level = 14 < 20",
                             value=14.0, raised_ms=m0 - 2 * H, occurrences=3),
            "cleared": Alarm(org_id=org_id, rule_id=rules["cleared"].id, machine_id=cnc, status=AlarmStatus.cleared,
                             severity=Severity.info, message=f"防护门未关: {prefix}cnc-01.door_open = 1 > 0.5",
                             value=1.0, raised_ms=m0 - 5 * H, cleared_ms=m0 - 5 * H + 10 * M),
        }
        session.add_all(alarms.values())
        session.flush()
        return OpsPlant(now_ms=now_ms, site_id=site.id, line_ids={n: ln.id for n, ln in lines.items()},
                        machines={k: m.id for k, m in machines.items()},
                        breakdown_id=stored[(cnc, -4 * H)].id, producing_id=stored[(cnc, -40 * M)].id,
                        alarms={k: a.id for k, a in alarms.items()}, reasons=reasons)
