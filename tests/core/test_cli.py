"""The command line: onboarding works, user mistakes end with exit code 2 and a one-line reason."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from commonworks.cli import app
from commonworks.core.codes import credit_code_with_check
from commonworks.core.database import Database
from commonworks.core.orgs.models import Organization
from commonworks.core.settings import get_settings

CODE = credit_code_with_check("91340200MA2T7U8W9")


@pytest.fixture
def cli(db_url: str, tmp_path, monkeypatch) -> Iterator[CliRunner]:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COMMONWORKS_DATABASE_URL", db_url)
    monkeypatch.setenv("COMMONWORKS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def run(cli: CliRunner, *args: str):  # type: ignore[no-untyped-def]
    return cli.invoke(app, list(args), catch_exceptions=False)


ORG = ["org", "create", "--name-zh", "芜湖恒信钣金制造有限公司", "--credit-code", CODE, "--region", "340200",
       "--industry", "C33", "--size", "micro"]


def test_org_and_user_create_then_login(cli, app_client_factory) -> None:  # type: ignore[no-untyped-def]
    created = run(cli, *ORG, "--owner-email", "zhao.lei@hengxin-sheet.cn", "--owner-password", "sheet-metal-1")
    assert created.exit_code == 0, created.output
    assert "created organization" in created.output
    user = run(cli, "user", "create", "--org", CODE, "--email", "qc@hengxin-sheet.cn", "--name", "质检",
               "--role", "engineer", "--password", "quality-check")
    assert user.exit_code == 0, user.output
    client = app_client_factory()
    for email, password in (("zhao.lei@hengxin-sheet.cn", "sheet-metal-1"), ("qc@hengxin-sheet.cn", "quality-check")):
        assert client.post("/api/v1/auth/login", json={"email": email, "password": password}).status_code == 200


@pytest.mark.parametrize(("args", "message"), [
    (["--credit-code", CODE[:-1] + ("0" if CODE[-1] != "0" else "1")], "credit_code: check character"),
    (["--region", "999999"], "region_code: 999999 is not an administrative region code"),
    (["--industry", "C99"], "industry_code: division 99 does not exist"),
])
def test_bad_org_input_exits_2_naming_the_field(cli, args, message) -> None:  # type: ignore[no-untyped-def]
    argv = list(ORG)
    flag = args[0]
    argv[argv.index(flag) + 1] = args[1]
    result = run(cli, *argv)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_enum_and_unknown_org_exit_2(cli) -> None:  # type: ignore[no-untyped-def]
    assert run(cli, *ORG[:-1], "giant").exit_code == 2
    result = run(cli, "user", "create", "--org", "424242", "--email", "a@b.cn", "--name", "x",
                 "--password", "long-enough")
    assert result.exit_code == 2 and "no organization" in result.output


def test_duplicate_credit_code_exits_2_and_keeps_the_first(cli, db_url) -> None:  # type: ignore[no-untyped-def]
    assert run(cli, *ORG).exit_code == 0
    again = run(cli, *[a if a != "芜湖恒信钣金制造有限公司" else "冒名" for a in ORG])
    assert again.exit_code == 2 and "already exists" in again.output
    db = Database(db_url)
    with db.transaction() as session:
        assert session.scalars(select(Organization.name_zh)).all() == ["芜湖恒信钣金制造有限公司"]
    db.dispose()


def test_demo_seeds_idempotently(cli) -> None:  # type: ignore[no-untyped-def]
    first = run(cli, "demo", "--no-serve")
    assert first.exit_code == 0, first.output
    assert "owner@hefei-cnc.cn" in first.output and "commonworks-demo" in first.output
    second = run(cli, "demo", "--no-serve")
    assert second.exit_code == 0
    assert second.output.count("owner@hefei-cnc.cn") == 1
