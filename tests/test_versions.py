"""store/versions.py: the article version the cached read checks, on the real databases
(PostgreSQL's asynchronous read goes straight to libpq: it is tested against the server)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from voxpop.store import articles as article_store
from voxpop.store import sites as site_store
from voxpop.store.db import Database
from voxpop.store.schema import articles
from voxpop.store.versions import PG_CONNECTIONS, VersionReader


def _article(db: Database, uri: str) -> tuple[int, int]:
    with db.write() as conn:
        site = site_store.ensure(conn, ["default"])["default"]
        article = article_store.get_or_create(conn, site, uri, "")
        return site, article.id


def _bump(db: Database, article_id: int) -> int:
    with db.write() as conn:
        conn.execute(
            sa.update(articles)
            .where(articles.c.id == article_id)
            .values(version=articles.c.version + 1)
        )
        return int(
            conn.execute(sa.select(articles.c.version).where(articles.c.id == article_id)).scalar()
        )


def test_the_version_read_on_the_loop_sees_every_committed_change(database: Database) -> None:
    site_id, article_id = _article(database, "/versions/seen")
    reader = VersionReader(database)

    async def run() -> None:
        first = await reader.get_async(site_id, "/versions/seen")
        assert first == reader.get(site_id, "/versions/seen")
        assert first is not None
        for _ in range(3):  # each answer is the committed one, never an earlier answer
            now = _bump(database, article_id)
            assert await reader.get_async(site_id, "/versions/seen") == now
        assert now == first + 3
        assert await reader.get_async(site_id, "/versions/unknown") is None
        # a URI with quotes, backslashes and non-ASCII is a parameter, never SQL
        odd = "/versions/'; DROP TABLE articles; --\\ é ✓"
        _article(database, odd)
        assert await reader.get_async(site_id, odd) is not None

    try:
        asyncio.run(run())
    finally:
        reader.close()


def test_more_concurrent_reads_than_connections_all_get_the_answer(database: Database) -> None:
    site_id, article_id = _article(database, "/versions/many")
    now = _bump(database, article_id)
    reader = VersionReader(database)
    in_threads: list[str] = []
    on_a_thread = reader._postgres

    def counted(site: int, uri: str) -> int | None:
        in_threads.append(uri)
        return on_a_thread(site, uri)

    reader._postgres = counted  # type: ignore[method-assign]

    async def run() -> list[int | None]:
        return await asyncio.gather(
            *(reader.get_async(site_id, "/versions/many") for _ in range(PG_CONNECTIONS * 4))
        )

    try:
        assert asyncio.run(run()) == [now] * (PG_CONNECTIONS * 4)
        if not database.is_sqlite:  # the connections all busy: the rest asked on threads
            assert reader._async_open == PG_CONNECTIONS
            assert in_threads
    finally:
        reader.close()


def test_a_connection_the_server_drops_fails_one_read_and_the_next_reconnects(
    postgres_db: Database,
) -> None:
    with postgres_db.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE articles, sites RESTART IDENTITY CASCADE")
    site_id, article_id = _article(postgres_db, "/versions/dropped")
    now = _bump(postgres_db, article_id)
    reader = VersionReader(postgres_db)

    async def run() -> None:
        assert await reader.get_async(site_id, "/versions/dropped") == now
        assert reader._async_open == 1
        pid = reader._async_idle[0].pgconn.backend_pid
        with postgres_db.engine.begin() as conn:  # the server ends that connection
            ended = conn.exec_driver_sql("SELECT pg_terminate_backend(%(pid)s)", {"pid": pid})
            assert ended.scalar() is True
        await asyncio.sleep(0.2)
        with pytest.raises(Exception):  # noqa: B017 - psycopg's OperationalError, whatever its text
            await reader.get_async(site_id, "/versions/dropped")
        assert reader._async_open == 0  # the broken connection is gone, not reused
        assert await reader.get_async(site_id, "/versions/dropped") == now

    try:
        asyncio.run(run())
    finally:
        reader.close()
