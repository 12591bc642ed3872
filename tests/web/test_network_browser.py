"""The network in a real browser: a supplier shares its capability and spare capacity, a buyer in another
enterprise posts an RFQ and sees the supplier among its explained matches, the supplier quotes, the
buyer orders, the order runs on the supplier's machine and the buyer watches the parts being counted.

Two seeded enterprises: the machining company (``EMAIL``) is the supplier, the sheet-metal shop
(``OTHER_EMAIL``) the buyer. The supplier's machine, its part counter and its gateway are set up
through the API (the plant pages have their own story); everything of the network is done in the
browser; the machine's counter readings arrive through ``/api/v1/ingest`` with the gateway's
credential, as the simulated machine's gateway sends them. One story, in order, in one test;
screenshots in Chinese and English go to ``var/test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from tests.web.support import ARTIFACTS, EMAIL, ORG_ZH, OTHER_EMAIL, OTHER_ORG_ZH, PASSWORD, Server, log_in

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ZONE = ZoneInfo("Asia/Shanghai")
COUNTER = "vmc-01.part_count"
TITLE = "铝合金支架 CNC 加工 500 件"
HEFEI, WUHU = (31.82, 117.23), (31.35, 118.43)  # 125 km apart


def _api_login(base: str, email: str) -> dict[str, str]:
    response = httpx.post(f"{base}/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _post(base: str, path: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    response = httpx.post(f"{base}/api/v1{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def _ingest(base: str, token: str, batch_id: str, points: list[tuple[int, float]]) -> None:
    """Counter readings as the gateway of the supplier's (simulated) machine sends them."""
    batch = {
        "batch_id": batch_id,
        "series": [{"tag": COUNTER, "ts": [t for t, _ in points], "v": [v for _, v in points]}],
    }
    response = httpx.post(f"{base}/api/v1/ingest", json=batch, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == len(points), response.text


def _context(browser: Browser) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    context.set_default_timeout(20_000)
    return context


def _nav(page: Page, label: str) -> None:
    page.locator(".q-drawer").get_by_text(label, exact=True).click()


def _dialog(page: Page) -> Locator:
    return page.locator(".q-dialog").last


def _field(element: Locator) -> Locator:
    """The whole Quasar field around an input (Quasar puts a ``data-testid`` on the input itself when
    there is one): where its label and its error message are."""
    return element.locator("xpath=ancestor-or-self::label[contains(@class, 'q-field')][1]")


def _choose(page: Page, field: Locator, option: str, *, typed: str | None = None) -> None:
    """Pick ``option`` of a select (typing ``typed`` first into a filterable one, whose test id is on its input)."""
    field.click()
    if typed is not None:
        field.fill(typed)
    page.locator(".q-menu .q-item").get_by_text(option, exact=True).click()


def _close_menu(page: Page) -> None:
    page.keyboard.press("Escape")
    expect(page.locator(".q-menu")).to_have_count(0)


def _quiet(page: Page) -> None:
    expect(page.locator(".q-notification")).to_have_count(0, timeout=15_000)


def _english(page: Page) -> None:
    page.locator("header").get_by_text("English").click()


def _chinese(page: Page) -> None:
    page.locator("header").get_by_text("中文").click()


def _chart_option(page: Page, testid: str, check: str) -> None:
    """Wait until the ECharts option of the chart ``testid`` satisfies ``check`` (a JS expression over ``o``)."""
    chart = page.get_by_test_id(testid).element_handle()
    page.wait_for_function(
        "([el, check]) => { const c = getElement(el)?.chart; const o = c && c.getOption();"
        " return !!o && !!o.series && new Function('o', 'return ' + check)(o); }",
        arg=[chart, check],
    )


@pytest.fixture(scope="module")
def world(server: Server, browser: Browser):  # type: ignore[no-untyped-def]
    """The supplier's machine with its part counter and gateway (through the API); a browser for each side."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    base = server.url
    supplier_api, buyer_api = _api_login(base, EMAIL), _api_login(base, OTHER_EMAIL)
    for headers, (lat, lon) in ((supplier_api, HEFEI), (buyer_api, WUHU)):  # where each enterprise is
        org_id = httpx.get(f"{base}/api/v1/me", headers=headers).json()["org_id"]
        located = httpx.patch(f"{base}/api/v1/orgs/{org_id}", json={"latitude": lat, "longitude": lon}, headers=headers)
        assert located.status_code == 200, located.text
    site = _post(base, "/sites", {"name": "一号厂区", "timezone": "Asia/Shanghai"}, supplier_api)
    line = _post(base, "/lines", {"site_id": site["id"], "name": "机加线 1"}, supplier_api)
    machine = _post(
        base,
        "/machines",
        {"line_id": line["id"], "key": "vmc-01", "name": "立式加工中心", "machine_type": "cnc_mill"},
        supplier_api,
    )
    tag = _post(
        base,
        "/tags",
        {"key": COUNTER, "name": "零件计数", "unit": "{count}", "data_type": "int", "machine_id": machine["id"]},
        supplier_api,
    )
    gateway = _post(base, "/gateways", {"key": "gw-hefei-1", "name": "一号车间网关"}, supplier_api)
    contexts = [_context(browser), _context(browser)]
    supplier, buyer = (c.new_page() for c in contexts)
    log_in(supplier, base, EMAIL)
    log_in(buyer, base, OTHER_EMAIL)
    yield {
        "base": base,
        "supplier": supplier,
        "buyer": buyer,
        "supplier_api": supplier_api,
        "machine_id": machine["id"],
        "tag_id": tag["id"],
        "gateway_token": gateway["token"],
    }
    for context in contexts:
        context.close()


# ---------------------------------------------------------------- the supplier shares what it can do


def step_supplier_fills_its_profile_and_a_capability(world: dict[str, Any]) -> None:
    page, base = world["supplier"], world["base"]
    _nav(page, "能力档案")
    expect(page).to_have_url(f"{base}/network/profile")
    expect(page.get_by_text("暂无制造能力")).to_be_visible()
    card = page.get_by_test_id("profile-card")
    card.get_by_test_id("profile-published").click()
    card.get_by_label("企业介绍（中文）").fill("精密数控加工：铝合金、不锈钢零件，五轴与三轴加工中心，小批量快速交付。")
    card.get_by_label("企业介绍（英文）").fill("Precision CNC machining of aluminium and stainless parts.")
    _choose(page, card.get_by_test_id("profile-certifications"), "ISO 9001 · 质量管理体系")
    _close_menu(page)
    card.get_by_label("常规交货周期（天）").fill("10")
    card.get_by_test_id("profile-save").click()
    expect(page.get_by_text("档案已保存。")).to_be_visible()

    page.get_by_test_id("add-capability").click()
    dialog = _dialog(page)
    expect(dialog.get_by_text("新增制造能力")).to_be_visible()
    _choose(page, dialog.get_by_test_id("capability-process"), "分离/切削 › 铣削", typed="铣削")
    _choose(page, dialog.get_by_test_id("capability-materials"), "铝合金", typed="铝")
    _close_menu(page)
    dialog.get_by_label("加工范围 X（mm）").fill("800")
    dialog.get_by_label("加工范围 Y（mm）").fill("500")
    dialog.get_by_label("加工范围 Z（mm）").fill("500")
    dialog.get_by_label("最高精度 ±（mm）").fill("0.01")
    dialog.get_by_label("每小时价格（元）").fill("180")
    dialog.get_by_label("最小批量").fill("100")
    dialog.get_by_label("最大批量（留空：不限）").fill("50")
    _choose(page, dialog.get_by_test_id("capability-machines"), "立式加工中心 (vmc-01)")
    _close_menu(page)
    dialog.get_by_test_id("capability-save").click()
    # the API's schema refuses an inverted batch range; nothing is saved
    expect(dialog.get_by_text("batch_max (50) is below batch_min (100)", exact=False)).to_be_visible()
    dialog.get_by_label("最大批量（留空：不限）").fill("5000")
    dialog.get_by_test_id("capability-save").click()
    expect(dialog).to_be_hidden()
    item = page.get_by_test_id("capabilities-card").locator("[data-testid^=capability-]").first
    expect(item).to_contain_text("分离/切削 › 铣削")
    expect(item).to_contain_text("铝合金")
    expect(item).to_contain_text("加工范围 800 × 500 × 500 mm · 精度 ±0.01 mm · 批量 100 – 5,000 · ¥180/小时")
    expect(item).to_contain_text("设备：立式加工中心 (vmc-01)")
    _quiet(page)
    page.reload()  # stored, not just shown
    expect(page.get_by_test_id("profile-published")).to_have_attribute("aria-checked", "true")
    expect(page.get_by_test_id("profile-certifications")).to_contain_text("ISO 9001")
    page.screenshot(path=ARTIFACTS / "network-profile-zh.png", full_page=True)
    _english(page)
    expect(page.get_by_text("Network profile")).to_be_visible()
    expect(item).to_contain_text("Separating › Milling")
    expect(item).to_contain_text("Aluminium alloy")
    page.screenshot(path=ARTIFACTS / "network-profile-en.png", full_page=True)
    _chinese(page)


def step_supplier_publishes_spare_capacity(world: dict[str, Any]) -> None:
    """No shift calendar: the machine is planned around the clock (24 h a day) and has no state history, so
    all 24 h are free; published at most 8 h a day for 28 days = 224 h."""
    page, base = world["supplier"], world["base"]
    _nav(page, "空闲产能")
    expect(page).to_have_url(f"{base}/network/capacity")
    card = page.locator("[data-testid^=capacity-]").filter(has=page.get_by_test_id(re.compile("^publish-")))
    expect(card.get_by_text("分离/切削 › 铣削")).to_be_visible()
    capability = card.get_attribute("data-testid").removeprefix("capacity-")  # type: ignore[union-attr]
    world["capability_id"] = int(capability)
    expect(page.get_by_test_id(f"capacity-free-28-{capability}")).to_have_text("672 h")
    expect(page.get_by_test_id(f"capacity-published-{capability}")).to_have_text("未发布")
    _chart_option(
        page,
        f"capacity-chart-{capability}",
        "o.series.length === 4 && o.series.find((s) => s.id === 'free').data.length === 28"
        " && o.series.find((s) => s.id === 'free').data[0] === 24"
        " && o.series.find((s) => s.id === 'shift').data[0] === 24",
    )
    page.get_by_test_id(f"publish-{capability}").click()
    dialog = _dialog(page)
    expect(dialog.get_by_label("每小时价格（元）")).to_have_value("180")  # the capability's price
    dialog.get_by_label("每天最多小时数（留空：不限）").fill("8")
    dialog.get_by_test_id("publish-save").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("已发布 28 天共 224 小时。")).to_be_visible()
    expect(page.get_by_test_id(f"capacity-published-{capability}")).to_have_text("224 h · ¥180/h")
    _chart_option(page, f"capacity-chart-{capability}", "o.series.find((s) => s.id === 'published')?.data[0] === 8")
    page.get_by_text("按设备（1）").click()
    expect(page.get_by_text("常规负荷未知（尚无状态历史）：按零计算")).to_be_visible()
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "network-capacity-zh.png", full_page=True)
    _english(page)
    _chart_option(page, f"capacity-chart-{capability}", "o.series[0].name === 'Booked'")
    expect(page.get_by_test_id(f"capacity-free-28-{capability}")).to_have_text("672 h")
    page.screenshot(path=ARTIFACTS / "network-capacity-en.png", full_page=True)
    _chinese(page)


# ---------------------------------------------------------------- the buyer posts an RFQ and sees matches


def step_buyer_posts_an_rfq_and_sees_explained_matches(world: dict[str, Any]) -> None:
    page, base = world["buyer"], world["base"]
    due = datetime.now(ZONE).date() + timedelta(days=20)
    world["due"] = due
    _nav(page, "需求与报价")
    expect(page).to_have_url(f"{base}/network/demands")
    expect(page.get_by_text("您还没有发布需求。")).to_be_visible()
    page.get_by_test_id("post-demand").click()
    dialog = _dialog(page)
    expect(dialog.get_by_text("发布需求")).to_be_visible()
    # the kind decides the fields: a technical problem asks no process, a part RFQ does
    dialog.get_by_test_id("demand-kind").get_by_text("技术难题").click()
    expect(dialog.get_by_test_id("demand-process")).to_be_hidden()
    dialog.get_by_test_id("demand-kind").get_by_text("零件询价").click()
    expect(dialog.get_by_test_id("demand-process")).to_be_visible()
    dialog.get_by_test_id("demand-title").fill(TITLE)
    dialog.get_by_test_id("demand-save").click()
    for field in ("demand-process", "demand-quantity", "demand-due"):
        expect(_field(dialog.get_by_test_id(field))).to_contain_text("必填。")
    _choose(page, dialog.get_by_test_id("demand-process"), "分离/切削 › 铣削", typed="铣削")
    _choose(page, dialog.get_by_test_id("demand-material"), "6061 铝合金", typed="6061")
    dialog.get_by_test_id("demand-quantity").fill("500")
    dialog.get_by_label("零件尺寸 X（mm）").fill("120")
    dialog.get_by_label("零件尺寸 Y（mm）").fill("80")
    dialog.get_by_label("零件尺寸 Z（mm）").fill("30")
    dialog.get_by_label("公差 ±（mm）").fill("0.05")
    dialog.get_by_test_id("demand-hours").fill("20")
    dialog.get_by_test_id("demand-due").fill(due.isoformat())
    dialog.get_by_test_id("demand-budget").fill("30000")
    dialog.get_by_test_id("demand-text").fill("6061-T6 铝合金支架，阳极氧化，数控铣削加工。")
    dialog.get_by_test_id("demand-save").click()
    expect(page).to_have_url(re.compile(rf"{base}/network/demands/\d+$"), timeout=20_000)
    world["demand_url"] = page.url
    expect(page.get_by_test_id("demand-status")).to_have_text("报价中")
    facts = page.get_by_test_id("demand-facts")
    expect(facts).to_contain_text("120 × 80 × 30 mm")
    expect(facts).to_contain_text(due.isoformat())
    expect(facts).to_contain_text("¥30,000")

    # the supplier is matched, with every hard constraint passed and a score broken down by component
    matches = page.get_by_test_id("matches-card")
    supplier = matches.locator("[data-testid^=match-]").filter(has_text=ORG_ZH)
    expect(supplier).to_have_count(1, timeout=60_000)  # the first ranking builds the index (and loads jieba)
    expect(supplier).to_contain_text("#1")
    for name, label in (
        ("process", "工艺"),
        ("material", "材料"),
        ("envelope", "加工范围"),
        ("tolerance", "公差"),
        ("batch", "批量"),
        ("capacity", "交期前产能"),
    ):
        chip = supplier.locator(f"[data-testid$=-{name}]")
        expect(chip).to_have_text(f"✓ {label}")
    expect(supplier).to_contain_text("¥180/小时")
    expect(supplier).to_contain_text("交期前空闲")
    expect(supplier).to_contain_text("暂无信誉")
    supplier.locator("[data-testid$=-capacity]").hover()
    # the reason in Chinese, with the numbers of this demand (20 h)
    expect(page.locator(".q-tooltip")).to_have_text(re.compile(r"^第 \d+ 天前空闲 [\d,.]+ 小时 ≥ 所需 20 小时$"))
    _chart_option(page, "score-chart", f"o.yAxis[0].data[0] === '#1 {ORG_ZH}' && o.series.length >= 3")
    expect(page.get_by_test_id("quote-table")).to_contain_text("暂无报价。")
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "network-demand-zh.png", full_page=True)
    _english(page)
    expect(page.get_by_text("Matched suppliers")).to_be_visible()
    expect(supplier.locator("[data-testid$=-capacity]")).to_have_text("✓ Capacity before the due date")
    _chart_option(page, "score-chart", "o.series[0].name === 'Text relevance'")
    page.screenshot(path=ARTIFACTS / "network-demand-en.png", full_page=True)
    _chinese(page)


# ---------------------------------------------------------------- the supplier quotes, the buyer orders


def step_supplier_quotes_from_the_market(world: dict[str, Any]) -> None:
    page, base = world["supplier"], world["base"]
    _nav(page, "需求与报价")
    page.get_by_test_id("demand-tabs").get_by_text("需求市场").click()
    rows = page.get_by_test_id("demand-table-market").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(TITLE)
    expect(rows.first).to_contain_text(OTHER_ORG_ZH)
    expect(rows.first).to_contain_text("零件询价 · 铣削 · 6061 铝合金")
    demand_id = world["demand_url"].rsplit("/", 1)[1]
    page.get_by_test_id(f"quote-{demand_id}").click()
    dialog = _dialog(page)
    expect(dialog.get_by_text("采购方预算：¥30,000")).to_be_visible()
    dialog.get_by_test_id("quote-price").fill("26000")
    dialog.get_by_test_id("quote-lead-time").fill("12")
    dialog.get_by_test_id("quote-note").fill("含阳极氧化")
    dialog.get_by_test_id("quote-save").click()
    expect(dialog).to_be_hidden()
    expect(rows.first).to_contain_text("已提交 · ¥26,000")
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "network-market-zh.png", full_page=True)
    _english(page)
    market = page.get_by_test_id("demand-table-market").locator("tbody tr").first
    expect(market).to_contain_text("Submitted · ¥26,000")
    expect(market).to_contain_text("Part RFQ · Milling · 6061 aluminium")
    page.screenshot(path=ARTIFACTS / "network-market-en.png", full_page=True)
    _chinese(page)

    page.goto(world["demand_url"])  # the supplier sees its own quote, not the matches
    expect(page.get_by_test_id("own-quote")).to_contain_text("¥26,000")
    expect(page.get_by_test_id("own-quote-status")).to_have_text("已提交")
    expect(page.get_by_test_id("matches-card")).to_have_count(0)
    expect(page.get_by_test_id("quotes-card")).to_have_count(0)
    assert page.url.startswith(base)


def step_buyer_accepts_the_quote(world: dict[str, Any]) -> None:
    page, base = world["buyer"], world["base"]
    page.goto(world["demand_url"])
    rows = page.get_by_test_id("quote-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(ORG_ZH)
    expect(rows.first).to_contain_text("¥26,000")
    expect(rows.first).to_contain_text("12 天")
    expect(rows.first).to_contain_text("含阳极氧化")
    rows.first.get_by_role("button", name="接受报价").click()
    dialog = page.get_by_test_id("agree-dialog")
    expect(dialog).to_contain_text(f"{ORG_ZH} 报价 ¥26,000，12 天交货。")
    dialog.get_by_test_id("agree").click()
    expect(page).to_have_url(re.compile(rf"{base}/network/orders/\d+$"))
    world["order_url"] = page.url
    world["order_id"] = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_test_id("order-status")).to_have_text("待排产")
    expect(page.get_by_test_id("progress-made")).to_have_text("— / 500")
    expect(page.get_by_test_id("progress-note")).to_have_text("供应方将订单安排到设备上后开始计数。")
    facts = page.get_by_test_id("order-facts")
    expect(facts).to_contain_text(world["due"].isoformat())
    expect(facts).not_to_contain_text("立式加工中心")


# ---------------------------------------------------------------- it runs on the supplier's machine


def step_supplier_runs_the_order_on_its_machine(world: dict[str, Any]) -> None:
    page, base = world["supplier"], world["base"]
    now = int(datetime.now().timestamp() * 1000)
    _ingest(base, world["gateway_token"], "gw-hefei-1:000000000001", [(now - 60_000, 100.0)])  # before the order
    _nav(page, "订单")
    expect(page).to_have_url(f"{base}/network/orders")
    rows = page.get_by_test_id("order-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("供应方")
    expect(rows.first).to_contain_text(OTHER_ORG_ZH)
    rows.first.get_by_role("link", name=TITLE).click()
    expect(page).to_have_url(world["order_url"])
    bind = page.get_by_test_id("bind-card")
    _choose(page, bind.get_by_test_id("bind-machine"), "立式加工中心 (vmc-01)")
    expect(bind.get_by_test_id("bind-counter")).to_contain_text(f"零件计数 ({COUNTER})")  # the counter, chosen
    bind.get_by_test_id("bind-save").click()
    expect(page.get_by_test_id("order-status")).to_have_text("生产中")
    facts = page.get_by_test_id("order-facts")
    expect(facts).to_contain_text("立式加工中心 (vmc-01)")
    expect(facts).to_contain_text(COUNTER)
    expect(page.get_by_test_id("progress-made")).to_have_text("0 / 500")

    order = httpx.get(f"{base}/api/v1/network/orders/{world['order_id']}", headers=world["supplier_api"]).json()
    t0 = order["bound_ms"]
    world["t0"] = t0
    # 10 + 10 parts, the counter resets, then 5 + 10 more: 35 parts in 210 s
    _ingest(
        base,
        world["gateway_token"],
        "gw-hefei-1:000000000002",
        [(t0 + 30_000, 110.0), (t0 + 90_000, 120.0), (t0 + 150_000, 5.0), (t0 + 210_000, 15.0)],
    )
    expect(page.get_by_test_id("progress-made")).to_have_text("35 / 500")  # the page refreshes itself


def step_buyer_watches_the_progress(world: dict[str, Any]) -> None:
    """35 parts in 210 s is 600 parts an hour; the 465 left take 46.5 min more: well before the due date."""
    page = world["buyer"]
    page.goto(world["order_url"])
    expect(page.get_by_test_id("order-status")).to_have_text("生产中")
    expect(page.get_by_test_id("progress-made")).to_have_text("35 / 500")
    expect(page.get_by_test_id("progress-rate")).to_have_text("600 件/小时")
    finish = datetime.fromtimestamp((world["t0"] + 210_000 + 2_790_000) / 1000, ZONE).strftime("%Y-%m-%d %H:%M:%S")
    expect(page.get_by_test_id("progress-finish")).to_have_text(finish)
    expect(page.get_by_test_id("progress-on-track")).to_have_text("可按期完成")
    expect(page.get_by_test_id("progress-note")).to_contain_text("7% · 最近计数")
    facts = page.get_by_test_id("order-facts")
    expect(facts).not_to_contain_text("立式加工中心")  # the buyer never sees the supplier's machine
    expect(facts).not_to_contain_text(COUNTER)
    expect(page.get_by_test_id("bind-card")).to_have_count(0)
    _quiet(page)
    page.screenshot(path=ARTIFACTS / "network-order-zh.png", full_page=True)
    _english(page)
    expect(page.get_by_test_id("progress-rate")).to_have_text("600 parts/h")
    expect(page.get_by_test_id("progress-on-track")).to_have_text("On track for the due date")
    page.screenshot(path=ARTIFACTS / "network-order-en.png", full_page=True)
    _chinese(page)
    expect(page.get_by_test_id("progress-made")).to_have_text("35 / 500")

    _nav(page, "订单")
    rows = page.get_by_test_id("order-table").locator("tbody tr")
    expect(rows.first).to_contain_text("采购方")
    expect(page.get_by_test_id(f"order-made-{world['order_id']}")).to_contain_text("35 / 500")
    page.screenshot(path=ARTIFACTS / "network-orders-zh.png", full_page=True)
    _english(page)
    expect(rows.first).to_contain_text("In production")
    page.screenshot(path=ARTIFACTS / "network-orders-en.png", full_page=True)
    _chinese(page)
    page.goto(world["order_url"])


# ---------------------------------------------------------------- delivery, acceptance, rating


def step_delivery_and_acceptance(world: dict[str, Any]) -> None:
    supplier, buyer = world["supplier"], world["buyer"]
    supplier.get_by_test_id("deliver").click()
    dialog = supplier.get_by_test_id("deliver-dialog")
    expect(dialog.get_by_test_id("deliver-dialog-quantity")).to_have_value("35")
    dialog.get_by_test_id("deliver-dialog-quantity").fill("480")
    dialog.get_by_test_id("deliver-dialog-save").click()
    expect(supplier.get_by_test_id("order-status")).to_have_text("已交付")

    # the buyer's open page notices the delivery by itself
    expect(buyer.get_by_test_id("order-status")).to_have_text("已交付")
    buyer.get_by_test_id("accept-delivery").click()
    dialog = buyer.get_by_test_id("accept-dialog")
    expect(dialog).to_contain_text("已交付 480 件。")
    dialog.get_by_test_id("accept-dialog-quantity").fill("481")
    dialog.get_by_test_id("accept-dialog-save").click()
    expect(_field(dialog.get_by_test_id("accept-dialog-quantity"))).to_contain_text("不能超过交付数量（480）。")
    dialog.get_by_test_id("accept-dialog-quantity").fill("470")
    dialog.get_by_test_id("accept-dialog-save").click()
    expect(buyer.get_by_test_id("order-status")).to_have_text("已完成")
    facts = buyer.get_by_test_id("order-facts")
    expect(facts).to_contain_text("480 件")
    expect(facts).to_contain_text("470 件")
    rating = buyer.get_by_test_id("rating-card")
    rating.locator(".q-rating__icon-container").nth(3).click()
    rating.get_by_label("评语（选填）").fill("交期准时，质量稳定")
    rating.get_by_test_id("rating-save").click()
    expect(buyer.get_by_text("感谢您的评价。")).to_be_visible()
    _quiet(buyer)
    buyer.screenshot(path=ARTIFACTS / "network-order-accepted-zh.png", full_page=True)

    buyer.reload()  # the supplier's reputation now has one accepted order: on time, 470 / 480 good
    card = buyer.get_by_test_id("supplier-reputation")
    expect(card).to_contain_text("100%")
    expect(card).to_contain_text("98%")
    expect(card).to_contain_text("4 (1)")


def step_awarded_demand_leaves_the_market(world: dict[str, Any]) -> None:
    page, base = world["supplier"], world["base"]
    page.goto(f"{base}/network/demands?tab=market")
    expect(page.get_by_test_id("demand-table-market")).to_contain_text("目前没有其他企业的开放需求。")
    page.goto(f"{base}/network/orders/99999999")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    page.goto(f"{base}/network/demands/abc")
    expect(page.get_by_test_id("not-found")).to_be_visible()


def test_network_story(server: Server, browser: Browser, world: dict[str, Any]) -> None:
    """Supplier profile and capacity → buyer's RFQ with explained matches → quote → order → progress from the
    supplier's machine counter → delivery and acceptance; the steps share the two pages, so one test in order."""
    try:
        _story(world)
    except BaseException:
        for side in ("supplier", "buyer"):  # what each side saw when it failed
            world[side].screenshot(path=ARTIFACTS / f"network-failed-{side}.png", full_page=True)
        raise


def _story(world: dict[str, Any]) -> None:
    step_supplier_fills_its_profile_and_a_capability(world)
    step_supplier_publishes_spare_capacity(world)
    step_buyer_posts_an_rfq_and_sees_explained_matches(world)
    step_supplier_quotes_from_the_market(world)
    step_buyer_accepts_the_quote(world)
    step_supplier_runs_the_order_on_its_machine(world)
    step_buyer_watches_the_progress(world)
    step_delivery_and_acceptance(world)
    step_awarded_demand_leaves_the_market(world)


def test_network_pages_need_a_signed_in_user(server: Server) -> None:
    for path in (
        "/network/profile",
        "/network/capacity",
        "/network/demands",
        "/network/demands/1",
        "/network/orders",
        "/network/orders/1",
    ):
        response = httpx.get(f"{server.url}{path}")
        assert response.status_code in (302, 303, 307), path
        assert response.headers["location"].endswith("/login")
