"""The schema changes only through migrations, identically on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
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


def test_0006_gives_existing_comments_their_articles_site(database: Database) -> None:
    """Upgrading a filled database: every comment gets its article's site. On SQLite the
    table is copied, which a vote or flag referring to a comment must not stop, and
    foreign keys are enforced again afterwards."""
    migrate.downgrade(database, "0005")
    now = "2026-01-01 00:00:00+00"
    with database.engine.begin() as conn:
        run = conn.exec_driver_sql
        run(f"INSERT INTO sites (id, name, created_at) VALUES (1, 'a', '{now}'), (2, 'b', '{now}')")
        run(
            "INSERT INTO articles (id, site_id, uri, created_at) "
            f"VALUES (1, 1, '/a', '{now}'), (2, 2, '/b', '{now}')"
        )
        run(f"INSERT INTO readers (id, created_at) VALUES (1, '{now}')")
        run(
            "INSERT INTO comments (id, article_id, parent_id, root_id, body, html, status, "
            f"created_at) VALUES (1, 1, NULL, NULL, 'a', 'a', 'approved', '{now}'), "
            f"(2, 2, NULL, NULL, 'b', 'b', 'approved', '{now}'), "
            f"(3, 2, 2, 2, 'c', 'c', 'pending', '{now}')"
        )
        run(f"INSERT INTO votes VALUES (1, 1, 1, '{now}')")
        run(
            f"INSERT INTO flags (comment_id, flagger, reason, created_at) VALUES (2, 'r1', 'spam', '{now}')"
        )
    migrate.upgrade(database)
    with database.engine.connect() as conn:
        sites = conn.exec_driver_sql("SELECT id, site_id FROM comments ORDER BY id").all()
        assert [tuple(r) for r in sites] == [(1, 1), (2, 2), (3, 2)]
        if database.is_sqlite:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql("DELETE FROM comments WHERE id = 1")
