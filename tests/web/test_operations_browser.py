"""The operations pages in a real browser: plant overview, machine page (timeline, OEE waterfall,
stop reasons), downtime Pareto and alarms, in Chinese and English.

The data are written straight into the server's database (see :mod:`tests.web.ops_seed`):
three machines with stored states, counts, a calendar, reasons and alarms. The tests run in
order on one server (the reason and the acknowledgement made in one are seen by the later
ones) and keep screenshots in ``var/test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from commonworks.core.auth.models import User
from commonworks.core.database import Database
from commonworks.core.orgs.models import Organization
from commonworks.operations.models import Alarm, MachineStateInterval
from commonworks.operations.service import kpi_report
from commonworks.telemetry.models import Machine
from commonworks.web.ops_format import local_midnight, percent
from tests.web.ops_seed import OpsPlant, seed_operations
from tests.web.support import ARTIFACTS, EMAIL, ORG_ZH, OTHER_EMAIL, VIEWER_EMAIL, Server, log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

TZ = "Asia/Shanghai"


def _database(server: Server) -> Database:
    return Database(f"sqlite:///{(server.data_dir / 'commonworks.db').resolve()}")


@pytest.fixture(scope="module")
def ops(server: Server) -> dict[str, Any]:
    """The seeded plant of the first tenant, and its owner's id."""
    db = _database(server)
    try:
        with db.transaction() as session:
            org_id = session.scalar(select(Organization.id).where(Organization.name_zh == ORG_ZH))
            owner_id = session.scalar(select(User.id).where(User.email == EMAIL))
        assert org_id is not None and owner_id is not None
        plant = seed_operations(db, org_id, int(time.time() * 1000))
    finally:
        db.dispose()
    return {"plant": plant, "org_id": org_id, "owner_id": owner_id}


def _today(server: Server, org_id: int) -> dict[str, str]:
    """Today's OEE per machine key and of the plant ("total"), as the page should show them."""
    db = _database(server)
    try:
        with db.transaction() as session:
            machines = list(session.scalars(select(Machine).where(Machine.org_id == org_id).order_by(Machine.id)))
            now = int(time.time() * 1000)
            report = kpi_report(session, machines, local_midnight(now, TZ), now)
    finally:
        db.dispose()
    return {**{m["key"]: percent(m["oee"]) for m in report["machines"]}, "total": percent(report["total"]["oee"])}


def _context(browser: Browser, locale: str = "zh-CN") -> BrowserContext:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
    context.set_default_timeout(20_000)
    return context


def _nav(page: Page, label: str) -> None:
    page.locator(".q-drawer").get_by_text(label, exact=True).click()


def _chart_option(page: Page, testid: str, check: str) -> None:
    """Wait until the ECharts option of the chart ``testid`` satisfies ``check`` (a JS expression over ``o``)."""
    chart = page.get_by_test_id(testid).element_handle()
    page.wait_for_function("([el, check]) => { const c = getElement(el)?.chart; const o = c && c.getOption();"
                           " return !!o && !!o.series && new Function('o', 'return ' + check)(o); }",
                           arg=[chart, check])


def _quiet(page: Page) -> None:
    """No notification left on the page (a clean screenshot)."""
    expect(page.locator(".q-notification")).to_have_count(0, timeout=15_000)


@pytest.fixture(scope="module")
def owner_page(server: Server, browser: Browser, ops: dict[str, Any]):  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = _context(browser)
    page = context.new_page()
    log_in(page, server.url, EMAIL)
    yield page
    context.close()


def step_overview_tiles_show_state_oee_and_alarms(server: Server, owner_page: Page, ops: dict[str, Any]) -> None:
    page = owner_page
    _nav(page, "生产总览")
    expect(page).to_have_url(f"{server.url}/operations")
    cnc, press, laser = (page.get_by_test_id(f"ops-tile-{k}") for k in ("cnc-01", "press-02", "laser-03"))
    expect(cnc.get_by_test_id("tile-state")).to_have_text("生产中")
    expect(cnc.get_by_test_id("tile-state")).to_have_css("background-color", "rgb(46, 125, 50)")
    expect(press.get_by_test_id("tile-state")).to_have_text("故障停机")
    expect(press.get_by_test_id("tile-state")).to_have_css("background-color", "rgb(211, 47, 47)")
    expect(laser.get_by_test_id("tile-state")).to_have_text("无状态数据")
    today = _today(server, ops["org_id"])
    expect(cnc.get_by_test_id("tile-oee")).to_have_text(today["cnc-01"])
    expect(press.get_by_test_id("tile-oee")).to_have_text(today["press-02"])
    expect(laser.get_by_test_id("tile-oee")).to_have_text("—")  # no ideal cycle time: no OEE
    expect(page.get_by_test_id("plant-oee")).to_contain_text(today["total"])
    expect(page.get_by_test_id("plant-oee")).to_contain_text("按无产出计入：laser-03")  # why the plant OEE is low
    expect(cnc.get_by_test_id("tile-alarms")).to_have_text("未处理报警：1")
    expect(laser.get_by_test_id("tile-alarms")).to_have_text("无未处理报警")
    expect(page.get_by_test_id("plant-alarms")).to_contain_text("2")
    states = page.get_by_test_id("plant-states")
    for chip in ("生产中 · 1", "故障停机 · 1", "无状态数据 · 1"):
        expect(states.get_by_text(chip)).to_be_visible()
    expect(page.get_by_test_id("alarm-count")).to_have_text("2")  # the bell in the header
    expect(page.get_by_test_id("nav-badge-alarms")).to_have_text("2")
    page.screenshot(path=ARTIFACTS / "operations-zh.png", full_page=True)

    page.locator("header").get_by_text("English").click()
    expect(page.get_by_text("Plant OEE today")).to_be_visible()
    expect(cnc.get_by_test_id("tile-state")).to_have_text("Producing")
    expect(press.get_by_test_id("tile-state")).to_have_text("Unplanned down")
    expect(laser.get_by_test_id("tile-state")).to_have_text("No state data")
    expect(cnc.get_by_test_id("tile-alarms")).to_have_text("Open alarms: 1")
    expect(page.locator(".q-drawer").get_by_text("Plant overview", exact=True)).to_be_visible()
    expect(page.get_by_text("生产中")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "operations-en.png", full_page=True)
    page.locator("header").get_by_text("中文").click()
    expect(cnc.get_by_test_id("tile-state")).to_have_text("生产中")

    cnc.click()
    expect(page).to_have_url(f"{server.url}/machines/{ops['plant'].machines['cnc-01']}")


def step_machine_page_timeline_waterfall_and_a_stop_reason(server: Server, owner_page: Page,
                                                           ops: dict[str, Any]) -> None:
    page, plant = owner_page, ops["plant"]
    assert isinstance(plant, OpsPlant)
    page.goto(f"{server.url}/machines/{plant.machines['cnc-01']}")
    page.get_by_test_id("range").get_by_text("24 小时").click()
    # seven intervals in the last 24 hours, across the producing / down / setup / idle series
    _chart_option(page, "state-timeline", "o.series.reduce((n, s) => n + s.data.length, 0) === 7")
    _chart_option(page, "oee-waterfall", "o.yAxis[0].data.join('|') === '计划运行时间|换型调机|待机|故障停机|离线|"
                                         "实际生产时间|速度损失|质量损失|完全有效生产时间'")
    expect(page.get_by_test_id("kpi-oee")).to_contain_text(re.compile(r"\d+\.\d%"))
    expect(page.get_by_test_id("kpi-mttr")).to_contain_text("40 分钟")
    expect(page.get_by_test_id("kpi-plan")).to_contain_text("班次日历：全天")
    stops = page.get_by_test_id("stop-table").locator("tbody tr")
    expect(stops).to_have_count(3)
    expect(stops.first).to_contain_text("故障停机")  # longest first
    expect(stops.first).to_contain_text("40 分钟")
    expect(stops.first).to_contain_text("尚未填写原因")
    expect(stops.nth(1)).to_contain_text("换型换模 › 换程序与调试")

    page.get_by_test_id(f"assign-{plant.breakdown_id}").click()
    dialog = page.get_by_test_id("reason-dialog")
    expect(dialog.get_by_text("停机原因")).to_be_visible()
    dialog.get_by_test_id("reason-select").click()
    page.locator(".q-menu .q-item").get_by_text("BRK-MECH · 设备故障 › 机械故障", exact=True).click()
    dialog.get_by_test_id("reason-note").fill("主轴轴承异响")
    dialog.get_by_test_id("reason-save").click()
    expect(dialog).to_be_hidden()
    reason = page.get_by_test_id(f"stop-reason-{plant.breakdown_id}")
    expect(reason).to_contain_text("BRK-MECH")
    expect(reason).to_contain_text("设备故障 › 机械故障")
    expect(stops.first).to_contain_text("主轴轴承异响")
    expect(stops.first).to_contain_text("王建国")
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "machine-ops-zh.png", full_page=True)

    page.reload()  # the reason is stored, not just shown
    page.get_by_test_id("range").get_by_text("24 小时").click()
    expect(page.get_by_test_id(f"stop-reason-{plant.breakdown_id}")).to_contain_text("设备故障 › 机械故障")
    db = _database(server)
    try:
        with db.transaction() as session:
            row = session.get(MachineStateInterval, plant.breakdown_id)
            assert row is not None
            assert (row.reason_id, row.reason_by, row.note) == (plant.reasons["BRK-MECH"], ops["owner_id"],
                                                                "主轴轴承异响")
    finally:
        db.dispose()

    page.locator("header").get_by_text("English").click()
    page.get_by_test_id("range").get_by_text("24 h").click()
    _chart_option(page, "oee-waterfall", "o.yAxis[0].data[0] === 'Planned busy time'")
    expect(page.get_by_text("State timeline")).to_be_visible()
    expect(page.get_by_test_id(f"stop-reason-{plant.breakdown_id}")).to_contain_text("Breakdown › Mechanical failure")
    page.screenshot(path=ARTIFACTS / "machine-ops-en.png", full_page=True)
    page.locator("header").get_by_text("中文").click()
    expect(page.get_by_text("状态时间线")).to_be_visible()


def step_pareto_lists_the_groups_in_order(server: Server, owner_page: Page, ops: dict[str, Any]) -> None:
    page = owner_page
    _nav(page, "停机帕累托")
    expect(page).to_have_url(f"{server.url}/operations/pareto")
    page.get_by_test_id("pareto-scope").click()
    page.locator(".q-menu .q-item").get_by_text("设备：冲床 (press-02) · 一号厂区 · 冲压线", exact=True).click()
    names = ["电气故障", "换模", "未归因：故障停机", "未归因：待机", "短暂停机（未归因）"]
    rows = page.get_by_test_id("pareto-table").locator("tbody tr")
    expect(rows).to_have_count(5)
    for i, name in enumerate(names):
        expect(rows.nth(i)).to_contain_text(name)
    expect(rows.first).to_contain_text("BRK-ELEC")
    expect(rows.first).to_contain_text("50 分钟")
    expect(rows.last).to_contain_text("100.0%")
    _chart_option(page, "pareto-chart", f"o.xAxis[0].data.join('|') === {'|'.join(names)!r}"
                                        " && o.series[1].data.length === 5")
    page.screenshot(path=ARTIFACTS / "pareto-zh.png", full_page=True)

    page.get_by_test_id("pareto-measure").get_by_text("按停机次数").click()
    expect(rows.first).to_contain_text("短暂停机（未归因）")
    expect(rows.nth(1)).to_contain_text("电气故障")
    page.get_by_test_id("pareto-scope").click()
    page.locator(".q-menu .q-item").get_by_text("全部设备", exact=True).click()
    expect(rows).to_have_count(7)  # cnc-01's breakdown has a reason now: one group more than before


def step_acknowledging_an_alarm_records_who(server: Server, owner_page: Page, ops: dict[str, Any]) -> None:
    page, alarms = owner_page, ops["plant"].alarms
    _nav(page, "报警")
    expect(page).to_have_url(f"{server.url}/alarms")
    rows = page.get_by_test_id("alarm-table").locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("严重")
    expect(rows.first).to_contain_text("主轴温度过高")
    expect(rows.nth(1)).to_contain_text("液压油位低")
    critical = page.get_by_test_id(f"alarm-status-{alarms['critical']}")
    expect(critical).to_contain_text("未确认")

    page.get_by_test_id(f"ack-{alarms['critical']}").click()
    expect(critical).to_contain_text("已确认")
    expect(critical).to_contain_text("王建国")
    expect(page.get_by_test_id(f"ack-{alarms['critical']}")).to_have_count(0)
    expect(page.get_by_test_id("alarm-summary")).to_have_text("2 条未处理，其中 1 条未确认")
    db = _database(server)
    try:
        with db.transaction() as session:
            alarm = session.get(Alarm, alarms["critical"])
            assert alarm is not None
            assert (alarm.status.value, alarm.acknowledged_by) == ("acknowledged", ops["owner_id"])
            assert alarm.acknowledged_at is not None
    finally:
        db.dispose()

    page.get_by_test_id("alarm-filter").get_by_text("全部").click()
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id(f"alarm-status-{alarms['cleared']}")).to_contain_text("已恢复")
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "alarms-zh.png", full_page=True)

    page.locator("header").get_by_text("English").click()
    expect(page.get_by_test_id(f"alarm-status-{alarms['critical']}")).to_contain_text("Acknowledged")
    expect(page.get_by_test_id(f"alarm-status-{alarms['warning']}")).to_contain_text("Unacknowledged")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(1)
    page.screenshot(path=ARTIFACTS / "alarms-en.png", full_page=True)
    page.locator("header").get_by_text("中文").click()
    expect(page.get_by_text("报警信息")).to_be_visible()


def step_viewers_read_and_other_tenants_see_nothing(server: Server, browser: Browser, ops: dict[str, Any]) -> None:
    plant = ops["plant"]
    context = _context(browser)
    page = context.new_page()
    try:
        log_in(page, server.url, VIEWER_EMAIL)
        page.goto(f"{server.url}/machines/{plant.machines['cnc-01']}")
        page.get_by_test_id("range").get_by_text("24 小时").click()
        expect(page.get_by_test_id("stop-table").locator("tbody tr")).to_have_count(3)
        expect(page.get_by_test_id(f"stop-reason-{plant.breakdown_id}")).to_contain_text("机械故障")
        expect(page.locator("[data-testid^=assign-]")).to_have_count(0)
        page.goto(f"{server.url}/alarms")
        expect(page.get_by_test_id("alarm-table").locator("tbody tr")).to_have_count(2)
        expect(page.locator("[data-testid^=ack-]")).to_have_count(0)
    finally:
        context.close()

    context = _context(browser)
    page = context.new_page()
    try:
        log_in(page, server.url, OTHER_EMAIL)
        page.goto(f"{server.url}/machines/{plant.machines['cnc-01']}")
        expect(page.get_by_test_id("not-found")).to_be_visible()
        page.goto(f"{server.url}/operations")
        expect(page.get_by_text("暂无设备")).to_be_visible()
        expect(page.get_by_test_id("alarm-count")).to_be_hidden()
        page.goto(f"{server.url}/alarms")
        expect(page.get_by_text("暂无未处理报警。")).to_be_visible()
        page.goto(f"{server.url}/operations/pareto")
        expect(page.get_by_text("该时间范围内没有停机", exact=True)).to_be_visible()
    finally:
        context.close()


def test_operations_story(server: Server, browser: Browser, owner_page: Page, ops: dict[str, Any]) -> None:
    """The steps in order, in one test: later steps see the reason and the acknowledgement made by earlier ones
    (as separate tests they could be split by another browser module running between them)."""
    step_overview_tiles_show_state_oee_and_alarms(server, owner_page, ops)
    step_machine_page_timeline_waterfall_and_a_stop_reason(server, owner_page, ops)
    step_pareto_lists_the_groups_in_order(server, owner_page, ops)
    step_acknowledging_an_alarm_records_who(server, owner_page, ops)
    step_viewers_read_and_other_tenants_see_nothing(server, browser, ops)


def test_operations_pages_need_a_signed_in_user(server: Server) -> None:
    for path in ("/operations", "/operations/pareto", "/alarms"):
        response = httpx.get(f"{server.url}{path}")
        assert response.status_code in (302, 303, 307), path
        assert response.headers["location"].endswith("/login")
