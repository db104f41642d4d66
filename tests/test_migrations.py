"""The schema changes only through migrations, identically on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from voxpop.store import migrate
from voxpop.store.db import Database
from voxpop.store.schema import metadata


def test_models_match_the_migrations(database: Database) -> None:
    with database.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_migrations_go_down_and_up_again(database: Database) -> None:
    assert migrate.current(database) == migrate.head(database)
    migrate.downgrade(database, "base")
    assert migrate.current(database) is None
    migrate.upgrade(database)
    assert migrate.current(database) == migrate.head(database)


def test_upgrade_is_idempotent(database: Database) -> None:
    migrate.upgrade(database)
    migrate.upgrade(database)
    assert migrate.current(database) == migrate.head(database)
