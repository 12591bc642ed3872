"""Fixtures: the app on each database backend, and tenants with tokens.

Every test that takes ``db_url`` (directly or through ``client``/``tenants``) runs twice:
on SQLite and on PostgreSQL. SQLite tests copy a migrated template file; PostgreSQL tests
share one migrated database that is truncated after each test.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
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


@pytest.fixture(scope="session")
def password_hash() -> str:
    return hash_password(PASSWORD)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(kind, url of a migrated template or shared test database)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        db = Database(f"sqlite:///{path}")
        upgrade(db.engine)
        db.dispose()
        yield "sqlite", str(path)
        return
    admin_url = make_url(postgres_url())
    name = f"commonworks_test_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    try:
        yield "postgresql", url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_url(backend: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    kind, source = backend
    if kind == "sqlite":
        target = tmp_path / "commonworks.db"
        shutil.copyfile(source, target)
        yield f"sqlite:///{target}"
        return
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


def make_tenant(db: Database, password_hash: str, *, name: str, kind: OrgKind = OrgKind.manufacturer,
                region: str = "340100") -> Tenant:
    n = next(_serial)
    credit_code = credit_code_with_check(f"9134010{n:03d}MA2N0C0"[:17])
    with db.transaction() as session:
        org = Organization(name_zh=name, name_en=None, credit_code=credit_code, region_code=region,
                           industry_code="C34", size_class=SizeClass.small, kind=kind)
        session.add(org)
        session.flush()
        members = {}
        for role in Role:
            email = f"{role.value}.{n}@factory{n}.cn"
            user = User(org_id=org.id, email=email, display_name=f"{role.value} {n}",
                        password_hash=password_hash, role=role)
            session.add(user)
            session.flush()
            token, _ = issue_access_token(user_id=user.id, org_id=org.id, key=SECRET, minutes=60)
            members[role.value] = Member(user_id=user.id, email=email, token=token)
        org_id = org.id
    return Tenant(org_id=org_id, name=name, credit_code=credit_code, **members)


@dataclass
class Tenants:
    a: Tenant
    b: Tenant
    operator: Tenant
    government: Tenant


@pytest.fixture
def tenants(db: Database, password_hash: str) -> Tenants:
    return Tenants(
        a=make_tenant(db, password_hash, name="甲工厂 sentinel-A"),
        b=make_tenant(db, password_hash, name="乙工厂"),
        operator=make_tenant(db, password_hash, name="平台运营方", kind=OrgKind.platform_operator),
        government=make_tenant(db, password_hash, name="经信局", kind=OrgKind.government),
    )


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


def make_plant(client: TestClient, member: Member, *, prefix: str = "cnc-01", gateway_key: str = "gw-a",
               allow_create_tags: bool = False) -> Plant:
    """A site, a line, one CNC machine with four tags, and a gateway — created through the API."""
    h = member.headers

    def post(path: str, body: dict) -> dict:
        response = client.post(path, json=body, headers=h)
        assert response.status_code == 201, response.text
        return response.json()

    site = post("/api/v1/sites", {"name": f"{prefix} 一号厂区", "timezone": "Asia/Shanghai"})
    line = post("/api/v1/lines", {"site_id": site["id"], "name": "机加线 1"})
    machine = post("/api/v1/machines", {"line_id": line["id"], "key": prefix, "name": "DMG MORI 立式加工中心",
                                        "machine_type": "cnc_mill", "ideal_cycle_times": {"bracket": 42.0}})
    tags = {}
    for key, unit, data_type in (("spindle_speed", "/min", "float"), ("part_count", "{count}", "int"),
                                 ("program", "1", "string"), ("running", "1", "bool")):
        tag = post("/api/v1/tags", {"key": f"{prefix}.{key}", "name": key, "unit": unit, "data_type": data_type,
                                    "machine_id": machine["id"]})
        tags[key] = tag["id"]
    gateway = post("/api/v1/gateways", {"key": gateway_key, "name": "车间网关", "allow_create_tags": allow_create_tags})
    return Plant(site_id=site["id"], line_id=line["id"], machine_id=machine["id"], tags=tags,
                 gateway_id=gateway["id"], gateway_token=gateway["token"])
