"""Fixtures: the app on each database backend, and tenants with tokens.

Every test that takes ``db_url`` (directly or through ``client``/``tenants``) runs twice:
on SQLite and on PostgreSQL. Each backend is migrated once per session into a template;
SQLite tests copy the template file, PostgreSQL tests share one database made from the
template (``CREATE DATABASE … TEMPLATE``) that is truncated after each test.

Tests that need a large seed (every route of the API, as several tenants) share a
:class:`SeededApp`: seeded once per session and backend, put back to that seed by a copy
whenever a test may have written to it.
"""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from commonworks.app import create_app
from commonworks.core.auth.models import Role, User
from commonworks.core.auth.security import hash_password, issue_access_token
from commonworks.core.codes import credit_code_with_check
from commonworks.core.database import Database
from commonworks.core.migrate import upgrade
from commonworks.core.models import metadata
from commonworks.core.orgs.models import Organization, OrgKind, SizeClass
from commonworks.core.settings import Settings
from tests.services import postgres_url

SECRET = "test-secret-key-with-enough-entropy-0123456789"
PASSWORD = "correct horse battery"

# Tests that take from ten seconds to two minutes each (real servers, simulators, outages, browser stories),
# roughly longest first. `--dist loadgroup` hands out the tests in collection order, so these start first and
# the short tests fill both workers around them, instead of one worker finishing a long test alone at the end.
# The browser stories (chromium and a server: CPU-heavy) come between the outages (mostly waiting), so that
# they seldom share the two cores with the demo's simulators and gateways.
# (pytest 9.2 no longer reads the node id that pytest-xdist 3.8 tags with an `xdist_group` mark, so each test
# is scheduled on its own.)
SLOW_FIRST = (
    "tests/integration/test_demo.py",
    "tests/integration/test_outage.py::test_platform_down",
    "tests/web/test_network_browser.py",
    "tests/integration/test_outage.py",
    "tests/web/test_operations_browser.py",
    "tests/web/test_plant_browser.py",
    "tests/integration/test_demo_operations.py",
    "tests/integration/",
    "tests/web/test_browser.py",
)


@pytest.hookimpl(trylast=True)  # after pytest has grouped the items by backend
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        return next((n for n, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: collection order within each rank


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Backend:
    """One database backend of a test session: a template migrated once, and copies of it."""

    kind: str
    template: str  # SQLite: the migrated file; PostgreSQL: the migrated template database's name
    workdir: Path
    admin: Engine | None = None  # PostgreSQL: a connection to the server's maintenance database
    made: list[str] = field(default_factory=list)  # PostgreSQL databases to drop at the end
    shared_url: str = ""  # PostgreSQL: the database the tests of one worker share, truncated after each test

    def url(self, name: str) -> str:
        if self.admin is None:
            return f"sqlite:///{self.workdir / name}.db"
        return self.admin.url.set(database=name).render_as_string(hide_password=False)

    def copy(self, target: str, source: str | None = None) -> str:
        """Make database ``target`` a copy of ``source`` (of the template when None), replacing it; its URL.

        Nothing may be connected to either database: dispose of their engines first."""
        if self.admin is None:
            path = self.workdir / f"{target}.db"
            for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):  # a stale WAL would be replayed
                leftover.unlink(missing_ok=True)
            shutil.copyfile(self.template if source is None else self.workdir / f"{source}.db", path)
            return self.url(target)
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target}" TEMPLATE "{source or self.template}"'))
        if target not in self.made:
            self.made.append(target)
        return self.url(target)

    def settle(self, name: str) -> None:
        """Fold a closed SQLite database's WAL into its file, so that copying the file copies everything."""
        if self.admin is None:
            with sqlite3.connect(self.workdir / f"{name}.db") as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()


def _make_backend(kind: str, workdir: Path) -> Backend:
    if kind == "sqlite":
        path = workdir / "template.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()
        return Backend("sqlite", str(path), workdir)
    admin = create_engine(make_url(postgres_url()), isolation_level="AUTOCOMMIT")
    made = Backend("postgresql", f"commonworks_template_{uuid.uuid4().hex[:8]}", workdir, admin)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{made.template}"'))
    made.made.append(made.template)
    db = Database(made.url(made.template))
    upgrade(db.engine)
    db.dispose()
    made.shared_url = made.copy(f"commonworks_test_{uuid.uuid4().hex[:8]}")
    return made


@pytest.fixture(scope="session")
def _backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Backend]]:
    """The backends made so far, kept for the whole session: pytest tears ``backend`` down whenever the tests
    of a worker move from one backend to the other, and migrating again each time would be wasted."""
    made: dict[str, Backend] = {}
    yield made
    for one in made.values():
        if one.admin is not None:
            with one.admin.connect() as conn:
                for name in reversed(one.made):
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            one.admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _backends: dict[str, Backend]
) -> Backend:
    if request.param not in _backends:
        _backends[request.param] = _make_backend(request.param, tmp_path_factory.mktemp(f"db-{request.param}"))
    return _backends[request.param]


@pytest.fixture
def db_url(backend: Backend, tmp_path: Path) -> Iterator[str]:
    if backend.kind == "sqlite":
        target = tmp_path / "commonworks.db"
        shutil.copyfile(backend.template, target)
        yield f"sqlite:///{target}"
        return
    source = backend.shared_url
    yield source
    engine = create_engine(source)
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path, secret_key=SECRET, ui=False)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    application = create_app(settings, ui=False)
    yield application
    application.state.db.dispose()


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as c:
        yield c


@pytest.fixture
def db(app) -> Database:  # type: ignore[no-untyped-def]
    return app.state.db


@dataclass
class Member:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class Tenant:
    org_id: int
    name: str
    credit_code: str
    owner: Member
    admin: Member
    engineer: Member
    viewer: Member


_serial = iter(range(1, 10_000))


def make_tenant(
    db: Database,
    password_hash: str,
    *,
    name: str,
    kind: OrgKind = OrgKind.manufacturer,
    region: str = "340100",
    minutes: int = 60,
) -> Tenant:
    n = next(_serial)
    credit_code = credit_code_with_check(f"9134010{n:03d}MA2N0C0"[:17])
    with db.transaction() as session:
        org = Organization(
            name_zh=name,
            name_en=None,
            credit_code=credit_code,
            region_code=region,
            industry_code="C34",
            size_class=SizeClass.small,
            kind=kind,
        )
        session.add(org)
        session.flush()
        members = {}
        for role in Role:
            email = f"{role.value}.{n}@factory{n}.cn"
            user = User(
                org_id=org.id, email=email, display_name=f"{role.value} {n}", password_hash=password_hash, role=role
            )
            session.add(user)
            session.flush()
            token, _ = issue_access_token(user_id=user.id, org_id=org.id, key=SECRET, minutes=minutes)
            members[role.value] = Member(user_id=user.id, email=email, token=token)
        org_id = org.id
    return Tenant(org_id=org_id, name=name, credit_code=credit_code, **members)


@dataclass
class Tenants:
    a: Tenant
    b: Tenant
    operator: Tenant
    government: Tenant


def make_tenants(db: Database, password_hash: str, *, minutes: int = 60) -> Tenants:
    return Tenants(
        a=make_tenant(db, password_hash, name="甲工厂 sentinel-A", minutes=minutes),
        b=make_tenant(db, password_hash, name="乙工厂", minutes=minutes),
        operator=make_tenant(db, password_hash, name="平台运营方", kind=OrgKind.platform_operator, minutes=minutes),
        government=make_tenant(db, password_hash, name="经信局", kind=OrgKind.government, minutes=minutes),
    )


@pytest.fixture
def tenants(db: Database, password_hash: str) -> Tenants:
    return make_tenants(db, password_hash)


@pytest.fixture
def app_client_factory(settings: Settings):  # type: ignore[no-untyped-def]
    """A client for an app built after the test has put data in the database by other means."""
    made: list[TestClient] = []

    def make() -> TestClient:
        made.append(TestClient(create_app(settings, ui=False)))
        return made[-1]

    yield make
    for c in made:
        c.app.state.db.dispose()


@dataclass
class Plant:
    site_id: int
    line_id: int
    machine_id: int
    tags: dict[str, int]
    gateway_id: int
    gateway_token: str

    @property
    def gateway_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.gateway_token}"}


def make_plant(
    client: TestClient,
    member: Member,
    *,
    prefix: str = "cnc-01",
    gateway_key: str = "gw-a",
    allow_create_tags: bool = False,
) -> Plant:
    """A site, a line, one CNC machine with four tags, and a gateway — created through the API."""
    h = member.headers

    def post(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=h)
        assert response.status_code == 201, response.text
        return response.json()

    site = post("/api/v1/sites", {"name": f"{prefix} 一号厂区", "timezone": "Asia/Shanghai"})
    line = post("/api/v1/lines", {"site_id": site["id"], "name": "机加线 1"})
    machine = post(
        "/api/v1/machines",
        {
            "line_id": line["id"],
            "key": prefix,
            "name": "DMG MORI 立式加工中心",
            "machine_type": "cnc_mill",
            "ideal_cycle_times": {"bracket": 42.0},
        },
    )
    tags = {}
    for key, unit, data_type in (
        ("spindle_speed", "/min", "float"),
        ("part_count", "{count}", "int"),
        ("program", "1", "string"),
        ("running", "1", "bool"),
    ):
        tag = post(
            "/api/v1/tags",
            {"key": f"{prefix}.{key}", "name": key, "unit": unit, "data_type": data_type, "machine_id": machine["id"]},
        )
        tags[key] = tag["id"]
    gateway = post("/api/v1/gateways", {"key": gateway_key, "name": "车间网关", "allow_create_tags": allow_create_tags})
    return Plant(
        site_id=site["id"],
        line_id=line["id"],
        machine_id=machine["id"],
        tags=tags,
        gateway_id=gateway["id"],
        gateway_token=gateway["token"],
    )


class SeededApp:
    """The app on a database of its own, seeded once per session and backend, and put back to that seed
    before each test that follows one which may have written.

    For tests that need a large seed (every route of the API, as several tenants) and would otherwise spend
    seconds making it per test. The seed is put back by a file copy (SQLite) or ``CREATE DATABASE …
    TEMPLATE`` (PostgreSQL), so every test starts from exactly the seeded rows, ids and tokens. The app's
    background upkeep is off: between a test's requests nothing changes the data but those requests.
    """

    def __init__(
        self,
        backend: Backend,
        label: str,
        data_dir: Path,
        password_hash: str,
        seed: Callable[[TestClient, Tenants], None] | None = None,
    ) -> None:
        self.backend = backend
        self.name = f"commonworks_{label}_{uuid.uuid4().hex[:8]}"
        settings = Settings(
            database_url=backend.copy(self.name),
            data_dir=data_dir,
            secret_key=SECRET,
            ui=False,
            retention_interval_s=0,
            states_interval_s=0,
        )
        self.app = create_app(settings, ui=False)
        self.client = TestClient(self.app)
        self.client.__enter__()
        self.tenants = make_tenants(self.app.state.db, password_hash, minutes=24 * 60)
        if seed is not None:
            seed(self.client, self.tenants)
        self.app.state.db.dispose()
        backend.settle(self.name)
        backend.copy(f"{self.name}_seed", self.name)
        self.dirty = False

    def fresh(self, *, writes: bool) -> TestClient:
        """The client, on exactly the seeded data. ``writes=False`` only for a test that sends GET requests alone
        (the next test then uses the same data without a copy)."""
        if self.dirty:
            self.app.state.db.dispose()
            self.backend.copy(self.name, f"{self.name}_seed")
        self.dirty = writes
        return self.client

    def untouched(self) -> None:
        """Say that every request of this test was refused before any handler ran: nothing to copy back."""
        self.dirty = False

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.app.state.db.dispose()
