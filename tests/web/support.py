"""What the browser tests share: the seeded accounts, a server process per module, signing in."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from commonworks.core import migrate
from commonworks.core.auth.schemas import UserCreate
from commonworks.core.auth.service import create_user
from commonworks.core.codes import credit_code_with_check
from commonworks.core.database import Database
from commonworks.core.orgs import service as orgs
from commonworks.core.orgs.schemas import OrgCreate, OwnerIn

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
EMAIL = "owner@hefei-precision.example.com"
PASSWORD = "Sp1ndle-speed-12000"
ORG_ZH = "合肥精工机械有限公司"
ORG_EN = "Hefei Precision Machinery Co., Ltd."
VIEWER_EMAIL = "staff4@hefei-precision.example.com"  # the seeded viewer of the first tenant
OTHER_EMAIL = "owner@wuhu-sheet.example.com"  # owner of a second tenant
OTHER_ORG_ZH = "芜湖恒信钣金制造有限公司"
MAX_FAILURES = 3
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        message = "chromium is not installed (apt-get install chromium fonts-wqy-microhei)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(data_dir: Path) -> None:
    """Two tenants: a machining company (owner, admin, three engineers, a viewer) and a sheet-metal shop."""
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
            orgs.create(session=session, data=OrgCreate(
                name_zh=OTHER_ORG_ZH, name_en="Wuhu Hengxin Sheet Metal Co., Ltd.",
                credit_code=credit_code_with_check("91340200MA2T7U8W9"), region_code="340200",
                industry_code="C33", size_class="micro",
                owner=OwnerIn(email=OTHER_EMAIL, display_name="赵磊", password=PASSWORD)))
    finally:
        db.dispose()


def wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


@dataclass(frozen=True)
class Server:
    url: str
    data_dir: Path


@contextmanager
def run_server(data_dir: Path) -> Iterator[Server]:
    """uvicorn with the whole app (API + UI) in a subprocess on a free port, on a seeded SQLite file."""
    seed(data_dir)
    port = free_port()
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


def log_in(page: Page, base: str, email: str, password: str = PASSWORD) -> None:
    """Sign in through the login page (in whatever language the page is in)."""
    page.goto(f"{base}/login")
    page.locator("input[type=email]").fill(email)
    password_input = page.locator("input[type=password]")
    password_input.fill(password)
    password_input.press("Enter")
    expect(page).to_have_url(f"{base}/")
