"""The web UI in a real browser: Debian's chromium driven by Playwright against a uvicorn subprocess."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.web.support import ARTIFACTS, EMAIL, MAX_FAILURES, ORG_EN, ORG_ZH, PASSWORD, Server, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_api_errors_stay_json_beside_the_ui(server: Server) -> None:
    unknown = httpx.get(f"{server.url}/api/v1/no-such-thing")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    wrong_method = httpx.delete(f"{server.url}/api/v1/health")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"
    home = httpx.get(f"{server.url}/")
    assert home.status_code in (302, 303, 307)
    assert home.headers["location"].endswith("/login")


def test_login_home_and_language_switch(server: Server, browser: Browser) -> None:
    base = server.url
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 820}, locale="zh-CN")
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/")
        expect(page).to_have_url(f"{base}/login")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.screenshot(path=ARTIFACTS / "login-zh.png")

        email = page.get_by_label("邮箱")
        password = page.get_by_label("密码")
        email.fill(EMAIL)
        password.fill("not-the-password")
        page.get_by_role("button", name="登录", exact=True).click()
        expect(page.get_by_text("邮箱或密码不正确。")).to_be_visible()
        expect(page).to_have_url(f"{base}/login")

        password.fill(PASSWORD)
        password.press("Enter")
        expect(page).to_have_url(f"{base}/")
        expect(page.get_by_text("共享制造")).to_be_visible()
        expect(page.get_by_text("共同创造价值，共同分享价值")).to_be_visible()
        expect(page.locator("header").get_by_text(ORG_ZH)).to_be_visible()
        expect(page.get_by_text("安徽省合肥市 · 340100")).to_be_visible()
        expect(page.get_by_text("小型企业")).to_be_visible()
        expect(page.get_by_text("即将上线").first).to_be_visible()
        expect(page.locator(".nicegui-echart canvas")).to_have_count(1)
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.screenshot(path=ARTIFACTS / "home-zh.png", full_page=True)
        wait_for(lambda: any((server.data_dir / "nicegui").glob("storage-user-*.json")))
        assert not (server.data_dir / ".nicegui").exists()

        page.locator("header").get_by_text("English").click()
        expect(page.get_by_text("Network", exact=True)).to_be_visible()
        expect(page.get_by_text("Create value together, share it")).to_be_visible()
        expect(page.locator("header").get_by_text(ORG_EN)).to_be_visible()
        expect(page.get_by_text("Small enterprise")).to_be_visible()
        expect(page.get_by_text("共享制造")).to_have_count(0)
        expect(page.locator(".nicegui-echart canvas")).to_have_count(1)
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.screenshot(path=ARTIFACTS / "home-en.png", full_page=True)

        page.locator("header").get_by_text("中文").click()
        expect(page.get_by_text("共享制造")).to_be_visible()
        expect(page.get_by_text("Network", exact=True)).to_have_count(0)

        page.get_by_role("button", name="退出登录").click()
        expect(page).to_have_url(f"{base}/login")
        page.goto(f"{base}/")
        expect(page).to_have_url(f"{base}/login")
    finally:
        context.close()


def test_login_is_rate_limited(server: Server, browser: Browser) -> None:
    base = server.url
    context = browser.new_context(locale="en")
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(f"{base}/login")
        page.get_by_text("English").click()
        expect(page.get_by_role("button", name="Log in", exact=True)).to_be_visible()
        page.get_by_label("E-mail address").fill("nobody@example.com")
        password = page.get_by_label("Password")
        for _ in range(MAX_FAILURES):
            password.fill("wrong password")
            password.press("Enter")
            expect(password).to_have_value("")
            expect(page.get_by_text("The e-mail address or password is incorrect.")).to_be_visible()
        password.fill("wrong password")
        password.press("Enter")
        expect(page.get_by_text(re.compile(r"^Too many failed attempts\. Try again in \d+ seconds\.$"))) \
            .to_be_visible()
    finally:
        context.close()
