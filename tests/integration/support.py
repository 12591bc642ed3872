"""Real processes for the fault tests: the platform server, a gateway, the counting device.

The device is the counting test device (:mod:`tests.connect.counter`), so every sample the
gateway read is known and "stored exactly once" can be checked sample by sample.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

from commonworks.core.codes import credit_code_with_check
from commonworks.core.database import Database
from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
from commonworks.telemetry.models import DataType, Gateway, Tag
from commonworks.telemetry.service import new_gateway_token
from tests.connect.counter import SUBPROCESS_MODULE, counter_device
from tests.services import free_port

REPO = Path(__file__).resolve().parents[2]
OUTAGE_S = float(os.environ.get("COMMONWORKS_FAULT_OUTAGE_S", "60"))
TAGS, RATE = 20, 100  # 2,000 samples/s
START_TS = (time.time_ns() // 1_000_000) - 3_600_000  # an hour ago: inside every validity window


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(extra)
    return env


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Platform:
    """The API server (uvicorn) in a subprocess on a fixed port, stoppable and restartable."""

    def __init__(self, db_url: str, data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = child_env(COMMONWORKS_DATABASE_URL=db_url, COMMONWORKS_DATA_DIR=str(data_dir),
                             COMMONWORKS_UI="false", COMMONWORKS_SECRET_KEY="fault-test-secret-0123456789abcdef")
        self.log = data_dir / "platform.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "commonworks.app:create_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "warning"], env=self.env, stdout=log, stderr=log)

        def up() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the platform to start", 60)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        self.process.wait(30)


class GatewayProcess:
    """``commonworks gateway run`` in a subprocess, with the counting device registered."""

    def __init__(self, config: dict[str, Any], directory: Path) -> None:
        self.status_port = config["gateway"]["status"]["port"]
        self.path = directory / "gateway.yaml"
        self.path.write_text(yaml.safe_dump(config, allow_unicode=True))
        self.log = directory / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        code = (f"from commonworks.connect.config import register_protocol; "
                f"register_protocol('counter', {SUBPROCESS_MODULE!r}); "
                f"from commonworks.connect.cli import gateway_app; "
                f"gateway_app(['run', '--config', {str(self.path)!r}])")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=child_env(), stdout=log,
                                            stderr=log)
        wait_for(lambda: self.status() is not None, "the gateway's status endpoint", 60)

    def status(self) -> dict[str, Any] | None:
        assert self.process is not None and self.process.poll() is None, self.log.read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{self.status_port}/status", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(30)


def seed(db_url: str, *, keys: list[str], gateway_key: str) -> str:
    from commonworks.core.migrate import upgrade

    db = Database(db_url)
    upgrade(db.engine)
    secret, prefix, digest = new_gateway_token()
    with db.transaction() as session:
        org = Organization(name_zh="故障测试工厂", credit_code=credit_code_with_check("91340100MA2N0C0Q0"),
                           region_code="340100", industry_code="C34", size_class=SizeClass.small,
                           kind=OrgKind.manufacturer)
        session.add(org)
        session.flush()
        session.add_all([Tag(org_id=org.id, key=k, name=k, unit="{count}", data_type=DataType.int) for k in keys])
        session.add(Gateway(org_id=org.id, key=gateway_key, name="fault", token_hash=digest, token_prefix=prefix))
    db.dispose()
    return secret


def gateway_config(directory: Path, *, transport: str, url: str, token: str, ticks: int) -> dict[str, Any]:
    return {"gateway": {"key": "gw-fault", "platform": {"transport": transport, "url": url, "token": token},
                        "buffer": {"path": str(directory / "buffer.db")},
                        "batch": {"max_samples": 5000, "max_delay_ms": 100},
                        "status": {"host": "127.0.0.1", "port": free_port()}},
            "devices": [counter_device("dev", TAGS, rate=RATE, ticks=ticks, start_ts=START_TS)]}


def stored(db_url: str) -> dict[str, tuple[int, int, int, int]]:
    """Per tag: (rows, distinct ts, min value, max value)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT t.key, count(*), count(DISTINCT s.ts), min(s.value), max(s.value) "
                                 "FROM samples s JOIN tags t ON t.id = s.tag_id GROUP BY t.key")).all()
    engine.dispose()
    return {key: (n, distinct, int(lo), int(hi)) for key, n, distinct, lo, hi in rows}


def assert_every_tick_stored_once(db_url: str, ticks: int) -> None:
    found = stored(db_url)
    expected = {f"dev.t{i}": (ticks, ticks, 0, ticks - 1) for i in range(TAGS)}
    assert found == expected, f"stored (rows, distinct ts, min, max) per tag {found} != {expected}"


def drained(gateway: GatewayProcess, ticks: int) -> Callable[[], bool]:
    def check() -> bool:
        doc = gateway.status() or {}
        device = (doc.get("devices") or [{}])[0]
        return (device.get("samples_read") == ticks * TAGS and doc.get("queue_size") == 0
                and doc.get("in_memory") == 0)
    return check


