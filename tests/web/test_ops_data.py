"""The operations pages' data layer and chart options, without a browser.

The data layer acts as the signed-in user through the operations logic the API uses, so
these tests check the API's rules hold in the UI too: another tenant's machine, stop, reason
or alarm is "not found", viewers cannot assign reasons or acknowledge, and the figures are
those of ``kpi_report`` and ``downtime_pareto``. They run on each database backend.
"""

from __future__ import annotations

import doctest
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from commonworks.core.database import Database
from commonworks.core.errors import Forbidden, Invalid, NotFound
from commonworks.core.i18n import gettext_for
from commonworks.core.settings import Settings
from commonworks.operations.models import Alarm, MachineStateInterval
from commonworks.operations.service import kpi_report
from commonworks.telemetry.models import Machine
from commonworks.web import common, ops_charts, ops_data
from commonworks.web.layout import active_path
from commonworks.web.ops_format import duration, local_midnight, percent, text_on, window
from tests.conftest import Tenants
from tests.web.ops_seed import H, M, seed_operations

ZH, EN = gettext_for("zh_CN"), gettext_for("en")
TZ = "Asia/Shanghai"


@pytest.fixture
def ui_context(settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[common.Context]:
    """The pages' process-global context, pointed at this test's database."""
    context = common.Context(settings=settings, db=db)
    monkeypatch.setattr(common, "_context", context)
    yield context


@pytest.fixture
def plant(ui_context: common.Context, tenants: Tenants):  # type: ignore[no-untyped-def]
    return seed_operations(ui_context.db, tenants.a.org_id, int(time.time() * 1000))


# ---------------------------------------------------------------- data layer (per backend)


def test_machine_operations_has_states_stops_and_kpis(plant, tenants: Tenants) -> None:  # type: ignore[no-untyped-def]
    start, end = plant.now_ms - 6 * H, plant.now_ms
    ops = ops_data.machine_operations(tenants.a.viewer.user_id, plant.machines["cnc-01"], start, end)
    assert ops.spans[0].start_ms == start and ops.spans[-1].end_ms == end  # clipped to the range
    assert [(s.state, s.seconds) for s in ops.stops] == [("down_unplanned", 2400), ("setup", 900), ("idle", 600)]
    setup = ops.stops[1]
    assert setup.reason is not None and setup.reason.code == "CHG-PROG" and setup.note == "换新零件程序"
    assert setup.reason.path("zh_CN") == "换型换模 › 换程序与调试"
    assert setup.reason.path("en") == "Changeover › Program change and adjustment"
    # planned around the clock, except from 15 minutes before "now": PBT = 6 h − 15 min
    kpi = ops.kpi
    assert (kpi["pbt_s"], kpi["adot_s"], kpi["aust_s"], kpi["adet_s"], kpi["apt_s"], kpi["failures"]) == (
        20_700, 2_400, 900, 600, 16_800, 1)
    assert ops.calendar_name == "全天"
    assert ops_data.machine_operations(tenants.a.viewer.user_id, plant.machines["laser-03"], start, end).spans == []


def test_another_tenants_ids_are_not_found(plant, tenants: Tenants) -> None:  # type: ignore[no-untyped-def]
    b = tenants.b.owner.user_id
    now = plant.now_ms
    with pytest.raises(NotFound):
        ops_data.machine_operations(b, plant.machines["cnc-01"], now - H, now)
    with pytest.raises(NotFound):
        ops_data.assign_reason(b, plant.breakdown_id, None, "x")
    with pytest.raises(NotFound):
        ops_data.acknowledge_alarm(b, plant.alarms["critical"])
    with pytest.raises(NotFound):
        ops_data.pareto(b, f"machine:{plant.machines['press-02']}", now - H, now)
    with pytest.raises(NotFound):
        ops_data.pareto(b, f"line:{plant.line_ids['冲压线']}", now - H, now)
    overview = ops_data.plant_overview(b, now)
    assert overview.machines == [] and overview.open_alarms == 0
    assert ops_data.alarm_list(b, open_only=False) == [] and ops_data.open_alarm_count(b) == 0
    assert ops_data.reason_choices(b) == [] and ops_data.pareto_scopes(b)[0].key == "all"


def test_assigning_a_reason_persists_and_follows_the_roles(plant, tenants: Tenants,  # type: ignore[no-untyped-def]
                                                           db: Database) -> None:
    a = tenants.a
    choices = ops_data.reason_choices(a.engineer.user_id)
    codes = [c.code for c in choices]
    assert codes[:6] == ["BRK", "BRK-CTRL", "BRK-ELEC", "BRK-HYD", "BRK-MECH", "BRK-TOOL"]  # the tree, in order
    mech = next(c for c in choices if c.code == "BRK-MECH")
    span = ops_data.assign_reason(a.engineer.user_id, plant.breakdown_id, mech.id, "主轴轴承异响")
    engineer_name = "engineer " + a.engineer.email.split("@")[0].split(".", 1)[1]  # as make_tenant names them
    assert (span.reason, span.note, span.reason_by) == (mech, "主轴轴承异响", engineer_name)
    with db.transaction() as session:
        row = session.get(MachineStateInterval, plant.breakdown_id)
        assert row is not None
        assert (row.reason_id, row.reason_by, row.note) == (mech.id, a.engineer.user_id, "主轴轴承异响")
    shown = ops_data.machine_operations(a.viewer.user_id, plant.machines["cnc-01"], plant.now_ms - 6 * H,
                                        plant.now_ms).stops[0]
    assert shown.reason == mech and shown.reason_by is not None and shown.reason_at is not None

    with pytest.raises(Forbidden):  # viewers read only
        ops_data.assign_reason(a.viewer.user_id, plant.breakdown_id, None, None)
    with pytest.raises(Invalid) as producing:  # producing time takes no reason
        ops_data.assign_reason(a.engineer.user_id, plant.producing_id, mech.id, None)
    assert producing.value.field == "reason_id"
    assert ops_data.install_standard_reasons(tenants.b.admin.user_id) > 0
    foreign = ops_data.reason_choices(tenants.b.viewer.user_id)[0]
    with pytest.raises(NotFound):  # another tenant's reason is no reason of yours
        ops_data.assign_reason(a.engineer.user_id, plant.breakdown_id, foreign.id, None)
    with pytest.raises(Forbidden):  # installing the tree is for owners and admins, as in the API
        ops_data.install_standard_reasons(a.engineer.user_id)
    assert ops_data.install_standard_reasons(a.owner.user_id) == 0  # it is there already
    ops_data.assign_reason(a.engineer.user_id, plant.breakdown_id, None, None)
    with db.transaction() as session:
        assert session.get(MachineStateInterval, plant.breakdown_id).reason_id is None  # type: ignore[union-attr]


def test_plant_overview_has_newest_states_todays_kpis_and_open_alarms(plant, tenants: Tenants,  # type: ignore[no-untyped-def]
                                                                      db: Database) -> None:
    now = plant.now_ms
    overview = ops_data.plant_overview(tenants.a.viewer.user_id, now)
    tiles = {m.key: m for m in overview.machines}
    m0 = now - now % M
    assert (tiles["cnc-01"].state, tiles["cnc-01"].state_since_ms) == ("producing", m0 - 40 * M)
    assert (tiles["press-02"].state, tiles["press-02"].state_since_ms) == ("down_unplanned", m0 - 25 * M)
    assert tiles["laser-03"].state is None and tiles["laser-03"].state_since_ms is None
    assert [(t.open_alarms, t.worst_severity) for t in tiles.values()] == [(1, "critical"), (1, "warning"), (0, None)]
    assert overview.open_alarms == 2 and overview.state_counts() == {"producing": 1, "down_unplanned": 1, None: 1}
    assert (tiles["cnc-01"].line_name, tiles["cnc-01"].timezone) == ("机加线 1", TZ)
    with db.transaction() as session:
        machines = list(session.scalars(select(Machine).where(Machine.org_id == tenants.a.org_id)
                                        .order_by(Machine.id)))
        report = kpi_report(session, machines, local_midnight(now, TZ), now)
    assert [tiles[e["key"]].kpi for e in report["machines"]] == report["machines"]
    assert overview.total == report["total"] and overview.day_start_ms == local_midnight(now, TZ)
    total = report["total"]
    doubled = ops_data._roll_up([total, total])  # several time zones: elements and counts add up
    assert doubled["pbt_s"] == 2 * total["pbt_s"] and doubled["availability"] == total["availability"]


def test_pareto_by_scope_duration_and_count(plant, tenants: Tenants) -> None:  # type: ignore[no-untyped-def]
    viewer, now = tenants.a.viewer.user_id, plant.now_ms
    scopes = ops_data.pareto_scopes(viewer)
    press, lines = plant.machines["press-02"], plant.line_ids
    assert [s.key for s in scopes] == [
        "all", f"line:{lines['冲压线']}", f"line:{lines['机加线 1']}", f"machine:{plant.machines['cnc-01']}",
        f"machine:{plant.machines['laser-03']}", f"machine:{press}"]  # one site: no site scope
    assert (scopes[-1].name, scopes[-1].parent) == ("冲床 (press-02)", "一号厂区 · 冲压线")
    groups = ops_data.pareto(viewer, f"machine:{press}", now - 7 * 24 * H, now)
    # press-02's breakdown since 25 minutes ago runs into the planned stop that began 15 minutes ago: only its
    # 10-odd minutes before that are lost time, fewer than the 20-minute mould change
    assert [g["code"] or g["state"] for g in groups] == ["BRK-ELEC", "CHG-MOULD", "down_unplanned", "idle", "MICRO"]
    assert (groups[0]["seconds"], groups[-1]["count"]) == (3000, 2)
    assert 600 <= groups[2]["seconds"] < 660
    assert ops_data.pareto(viewer, f"line:{lines['冲压线']}", now - 7 * 24 * H, now) == groups
    by_count = ops_data.pareto(viewer, f"machine:{press}", now - 7 * 24 * H, now, "count")
    assert [g["code"] or g["state"] for g in by_count] == ["MICRO", "BRK-ELEC", "CHG-MOULD", "down_unplanned", "idle"]
    everything = ops_data.pareto(viewer, "all", now - 7 * 24 * H, now)
    assert sum(g["count"] for g in everything) == 9
    for bad in ("rack:1", "machine:x", "machine"):
        with pytest.raises(Invalid):
            ops_data.pareto(viewer, bad, now - H, now)


def test_alarm_list_open_first_and_acknowledge(plant, tenants: Tenants, db: Database) -> None:  # type: ignore[no-untyped-def]
    a = tenants.a
    open_rows = ops_data.alarm_list(a.viewer.user_id, open_only=True)
    assert [r.id for r in open_rows] == [plant.alarms["critical"], plant.alarms["warning"]]  # most severe first
    assert (open_rows[0].machine_key, open_rows[0].rule_name, open_rows[0].status) == (
        "cnc-01", "主轴温度过高", "active")
    assert open_rows[1].occurrences == 3
    assert [r.id for r in ops_data.alarm_list(a.viewer.user_id, open_only=False)] == [
        plant.alarms["critical"], plant.alarms["warning"], plant.alarms["cleared"]]
    assert ops_data.open_alarm_count(a.viewer.user_id) == 2

    with pytest.raises(Forbidden):
        ops_data.acknowledge_alarm(a.viewer.user_id, plant.alarms["critical"])
    acked = ops_data.acknowledge_alarm(a.engineer.user_id, plant.alarms["critical"])
    assert acked.status == "acknowledged" and acked.acknowledged_by and acked.acknowledged_at is not None
    with db.transaction() as session:
        assert session.get(Alarm, plant.alarms["critical"]).acknowledged_by == a.engineer.user_id  # type: ignore[union-attr]
    with pytest.raises(Invalid):
        ops_data.acknowledge_alarm(a.engineer.user_id, plant.alarms["cleared"])
    assert ops_data.open_alarm_count(a.viewer.user_id) == 2  # acknowledged is still open until it clears


# ---------------------------------------------------------------- pure helpers and chart options


def test_durations_percentages_and_ranges() -> None:
    assert [duration(EN, s) for s in (None, 0, 45, 600, 3_900, 86_400 + 7 * 3_600)] == [
        "—", "0 s", "45 s", "10 min", "1 h 05 min", "1 d 7 h"]
    assert duration(ZH, 3_900) == "1 小时 05 分" and duration(EN, -120) == "−2 min"
    assert (percent(0.71111), percent(None), percent(1.0, 0)) == ("71.1%", "—", "100%")
    now = 1_800_000_000_000  # 2027-01-15 16:00 in Shanghai
    midnight = local_midnight(now, TZ)
    assert now - midnight == 16 * H and local_midnight(now, TZ, 1) == midnight - 24 * H
    assert window("today", now, TZ) == (midnight, now)
    assert window("yesterday", now, TZ) == (midnight - 24 * H, midnight)
    assert window("7d", now, TZ) == (now - 7 * 24 * H, now)
    assert (text_on("#2e7d32"), text_on("#f9a825")) == ("#ffffff", "#212121")
    assert (active_path("/operations/pareto"), active_path("/operations"), active_path("/machines/7"),
            active_path("/")) == ("/operations/pareto", "/operations", "/machines", "/")


def test_waterfall_from_the_time_elements() -> None:
    assert doctest.testmod(ops_charts).failed == 0
    kpi = {"pbt_s": 27_000, "aust_s": 1_200, "adet_s": 0, "adot_s": 2_700, "offline_s": 0, "apt_s": 23_100,
           "pri_pq_s": 20_000, "produced": 1_000, "good": 960, "ideal_cycle_s": 20.0}
    options = ops_charts.waterfall_options(EN, kpi)
    assert options["animation"] is False
    assert options["yAxis"]["data"] == ["Planned busy time", "Setup", "Idle", "Unplanned down", "Offline",
                                        "Actual production time", "Speed loss", "Quality loss", "Fully productive time"]
    base, value = options["series"]
    bars = value["data"]
    assert [b["label"]["formatter"] for b in bars] == ["7 h 30 min", "−20 min", "0 s", "−45 min", "0 s", "6 h 25 min",
                                                       "−52 min", "−13 min", "5 h 20 min"]
    assert base["data"][3] == pytest.approx(23_100 / 3600, abs=1e-4) and bars[3]["value"] == pytest.approx(0.75)
    # no ideal cycle time: the waterfall ends at the actual production time
    assert len(ops_charts.waterfall_options(ZH, {**kpi, "ideal_cycle_s": None})["yAxis"]["data"]) == 6
    faster = ops_charts.waterfall_steps({**kpi, "pri_pq_s": 24_000})  # faster than the ideal cycle: a gain
    assert faster[6] == ("speed", 23_100, 24_000)
    assert ops_charts.waterfall_options(EN, {**kpi, "pri_pq_s": 24_000})["series"][1]["data"][6]["label"][
        "formatter"] == "+15 min"


def test_timeline_and_pareto_options() -> None:
    now = 1_800_000_000_000
    reason = ops_data.ReasonChoice(1, "BRK-MECH", "机械故障", "Mechanical failure", "设备故障", "Breakdown")
    spans = [ops_data.StateSpan(1, now - H, now - 20 * M, "producing", None, None, None, None),
             ops_data.StateSpan(2, now - 20 * M, now, "down_unplanned", reason, "<b>轴承</b>", "王建国", None)]
    options = ops_charts.timeline_options(ZH, spans, lang="zh_CN", tz=TZ, start=now - H, end=now)
    assert options["animation"] is False and options["xAxis"]["min"] == "2027-01-15 15:00:00"
    series = {s["id"]: s for s in options["series"]}
    assert list(series) == ["producing", "idle", "setup", "down_unplanned", "down_planned", "offline"]
    assert (series["down_unplanned"]["name"], series["down_unplanned"]["itemStyle"]["color"]) == ("故障停机", "#d32f2f")
    [down] = series["down_unplanned"]["data"]
    assert down["value"] == ["2027-01-15 15:40:00", "2027-01-15 16:00:00", 0]
    assert "BRK-MECH 设备故障 › 机械故障" in down["tip"] and "&lt;b&gt;轴承&lt;/b&gt;" in down["tip"]  # escaped

    groups = [{"code": "BRK-ELEC", "state": None, "name_zh": "电气故障", "name_en": "Electrical failure",
               "seconds": 3000.0, "count": 1, "share": 0.75, "cumulative_share": 0.75},
              {"code": None, "state": "idle", "name_zh": None, "name_en": None, "seconds": 1000.0, "count": 3,
               "share": 0.25, "cumulative_share": 1.0}]
    pareto = ops_charts.pareto_options(EN, groups, lang="en", by="duration")
    assert pareto["xAxis"]["data"] == ["Electrical failure", "Unassigned: Idle"]
    bars, line = pareto["series"]
    assert [b["value"] for b in bars["data"]] == [pytest.approx(0.833, abs=1e-3), pytest.approx(0.278, abs=1e-3)]
    assert [b["label"]["formatter"] for b in bars["data"]] == ["50 min", "17 min"]
    assert [p["value"] for p in line["data"]] == [75.0, 100.0] and line["yAxisIndex"] == 1
    by_count = ops_charts.pareto_options(ZH, groups, lang="zh_CN", by="count")
    assert by_count["xAxis"]["data"] == ["电气故障", "未归因：待机"]
    assert [b["value"] for b in by_count["series"][0]["data"]] == [1, 3]
