"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from commonworks.core.migrate import alembic_config, current, upgrade
from commonworks.core.models import metadata


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_harmless_and_reports_head(db_url: str) -> None:
    engine = create_engine(db_url)
    upgrade(engine)
    assert current(engine) == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert {"organizations", "users", "api_tokens", "login_failures", "samples", "rollups_1m"} <= set(
        inspect(engine).get_table_names())
    engine.dispose()
