"""Helpers the benchmark scripts share: a platform server in a subprocess, a seeded tenant, tables.

Benchmarks only talk to servers they start themselves on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_database(kind: str, workdir: Path) -> str | None:
    """A new empty database URL: a SQLite file, or a new PostgreSQL database when one is configured."""
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}"
    base = os.environ.get("COMMONWORKS_BENCH_DATABASE_URL") or os.environ.get("COMMONWORKS_TEST_DATABASE_URL")
    if not base:
        return None
    admin_url = make_url(base)
    name = f"commonworks_bench_{os.getpid()}_{int(time.time())}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def server_env(url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"COMMONWORKS_DATABASE_URL": url, "COMMONWORKS_DATA_DIR": str(data_dir), "COMMONWORKS_UI": "false",
                "COMMONWORKS_SECRET_KEY": "bench-secret-key-0123456789-0123456789", **extra})
    return env


@contextmanager
def platform(url: str, data_dir: Path) -> Iterator[str]:
    """Migrate the database and run the API server (one uvicorn process); yields its base URL."""
    env = server_env(url, data_dir)
    subprocess.run([sys.executable, "-m", "commonworks", "db", "upgrade"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    port = free_port()
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "commonworks.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                             "--no-access-log"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / "server.log").read_text())
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def seed_tenant(url: str, *, tags: list[str], gateway_key: str = "gw-bench") -> str:
    """An organization with the given tags and a gateway; returns the gateway credential."""
    from commonworks.core.codes import credit_code_with_check
    from commonworks.core.database import Database
    from commonworks.core.migrate import upgrade
    from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
    from commonworks.telemetry.models import DataType, Gateway, Tag
    from commonworks.telemetry.service import new_gateway_token

    db = Database(url)
    upgrade(db.engine)
    secret, prefix, digest = new_gateway_token()
    with db.transaction() as session:
        org = Organization(name_zh="基准测试工厂", credit_code=credit_code_with_check("91340100MA2N0C0Q0"),
                           region_code="340100", industry_code="C34", size_class=SizeClass.small,
                           kind=OrgKind.manufacturer)
        session.add(org)
        session.flush()
        session.execute(Tag.__table__.insert(), [
            {"org_id": org.id, "key": key, "name": key, "unit": "1", "data_type": DataType.float.value,
             "auto_created": False} for key in tags])
        session.add(Gateway(org_id=org.id, key=gateway_key, name="bench", token_hash=digest, token_prefix=prefix))
    db.dispose()
    return secret


def stored_samples(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM samples")).scalar_one()
    engine.dispose()
    return int(n)


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="commonworks-bench-"))


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)))
