"""The web UI in a real browser: Debian's chromium driven by Playwright against a uvicorn subprocess."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from commonworks.core import migrate
from commonworks.core.auth.schemas import UserCreate
from commonworks.core.auth.service import create_user
from commonworks.core.codes import credit_code_with_check
from commonworks.core.database import Database
from commonworks.core.orgs import service as orgs
from commonworks.core.orgs.schemas import OrgCreate, OwnerIn

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
EMAIL = "owner@hefei-precision.example.com"
PASSWORD = "Sp1ndle-speed-12000"
ORG_ZH = "合肥精工机械有限公司"
ORG_EN = "Hefei Precision Machinery Co., Ltd."
MAX_FAILURES = 3
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install chromium fonts-wqy-microhei)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _seed(data_dir: Path) -> None:
    db = Database(f"sqlite:///{(data_dir / 'commonworks.db').resolve()}")
    try:
        migrate.upgrade(db.engine)
        with db.transaction() as session:
            org = orgs.create(session=session, data=OrgCreate(
                name_zh=ORG_ZH, name_en=ORG_EN, credit_code=credit_code_with_check("91340100MA2N0C0Q0"),
                region_code="340100", industry_code="C34", size_class="small",
                owner=OwnerIn(email=EMAIL, display_name="王建国", password=PASSWORD)))
            for n, role in enumerate(("admin", "engineer", "engineer", "engineer", "viewer")):
                create_user(session=session, org_id=org.id, data=UserCreate(
                    email=f"staff{n}@hefei-precision.example.com", display_name=f"员工{n}",
                    password=PASSWORD, role=role))
    finally:
        db.dispose()


def _wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("web-data")
    _seed(data_dir)
    port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if k != "PYTEST_CURRENT_TEST" and not k.startswith(("COMMONWORKS_", "NICEGUI_"))}
    env.update(COMMONWORKS_DATA_DIR=str(data_dir), COMMONWORKS_DATABASE_URL="",
               COMMONWORKS_LOGIN_MAX_FAILURES=str(MAX_FAILURES))
    log = (data_dir / "server.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "commonworks.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}:\n{(data_dir / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"server did not answer:\n{(data_dir / 'server.log').read_text()}")
            time.sleep(0.2)
        yield Server(base, data_dir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


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
        _wait_for(lambda: any((server.data_dir / "nicegui").glob("storage-user-*.json")))
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
