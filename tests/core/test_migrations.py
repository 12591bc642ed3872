"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from commonworks.core.migrate import current, upgrade
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
    assert current(engine) == "0001"
    assert {"organizations", "users", "api_tokens", "login_failures"} <= set(inspect(engine).get_table_names())
    engine.dispose()
