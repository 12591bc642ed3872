"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from commonworks.core.migrate import alembic_config, current, upgrade
from commonworks.core.models import metadata


def _not_a_daily_partition(name: str | None, type_: str, _parent: object) -> bool:
    # the daily partitions of samples are made at run time by ingest (an earlier test may have made some)
    return not (type_ == "table" and name is not None and re.fullmatch(r"samples_d\d+", name))


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "include_name": _not_a_daily_partition})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_upgrade_twice_is_harmless_and_reports_head(db_url: str) -> None:
    engine = create_engine(db_url)
    upgrade(engine)
    assert current(engine) == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
    assert {"organizations", "users", "api_tokens", "login_failures", "samples", "rollups_1m"} <= set(
        inspect(engine).get_table_names())
    engine.dispose()
