"""The store's write path: group commit on SQLite isolates each job in a savepoint."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store import articles as article_store
from voxpop.store import comments as comment_store
from voxpop.store import moderation as moderation_store
from voxpop.store import readers as reader_store
from voxpop.store.db import Database
from voxpop.store.schema import articles, readers, sites


def test_failing_jobs_roll_back_alone_and_the_rest_commit(database: Database) -> None:
    start = threading.Barrier(16)

    def job(i: int) -> int:
        def txn(conn: Connection) -> int:
            conn.execute(sa.insert(readers).values(id=1000 + i, created_at=datetime.now(UTC)))
            if i % 4 == 0:
                raise ValueError(f"job {i} fails after writing")
            return i

        start.wait()
        return database.transact(txn)

    outcomes: dict[int, object] = {}
    with ThreadPoolExecutor(16) as pool:
        futures = {i: pool.submit(job, i) for i in range(16)}
        for i, future in futures.items():
            try:
                outcomes[i] = future.result()
            except ValueError as exc:
                outcomes[i] = exc
    assert [i for i, v in outcomes.items() if isinstance(v, ValueError)] == [0, 4, 8, 12]
    with database.read() as conn:
        stored = sorted(r.id - 1000 for r in conn.execute(sa.select(readers.c.id)))
    assert stored == [i for i in range(16) if i % 4]


def test_a_job_sees_what_earlier_jobs_wrote(database: Database) -> None:
    def add(conn: Connection) -> int:
        conn.execute(sa.insert(readers).values(created_at=datetime.now(UTC)))
        return int(conn.execute(sa.select(sa.func.count()).select_from(readers)).scalar_one())

    counts = [database.transact(add) for _ in range(3)]
    assert counts == [1, 2, 3]


def test_errors_reach_the_caller_with_their_type(database: Database) -> None:
    def boom(conn: Connection) -> None:
        raise KeyError("nope")

    with pytest.raises(KeyError):
        database.transact(boom)
    assert database.transact(lambda conn: 42) == 42


# --- comment writes on the event loop (transact_async(on_loop=True)) -------------------


def _reader_job(reader_id: int, fail: bool = False) -> Callable[[Connection], int]:
    def txn(conn: Connection) -> int:
        conn.execute(sa.insert(readers).values(id=reader_id, created_at=datetime.now(UTC)))
        if fail:
            raise ValueError(f"job {reader_id} fails after writing")
        return reader_id

    return txn


def _reader_ids(database: Database) -> list[int]:
    with database.read() as conn:
        return sorted(int(r.id) for r in conn.execute(sa.select(readers.c.id)))


def test_loop_jobs_are_batched_and_a_failing_one_rolls_back_alone(database: Database) -> None:
    commits: list[int] = []
    sa.event.listen(database.engine, "commit", lambda conn: commits.append(1))

    async def main() -> list[object]:
        jobs = [
            database.transact_async(_reader_job(i, fail=i % 4 == 0), on_loop=True)
            for i in range(1, 17)
        ]
        return await asyncio.gather(*jobs, return_exceptions=True)

    outcomes = asyncio.run(main())
    if database.is_sqlite:
        assert len(commits) == 1  # the 16 jobs queued together: one transaction, one fsync
    failed = [i for i, v in enumerate(outcomes, 1) if isinstance(v, ValueError)]
    assert failed == [4, 8, 12, 16]
    kept = [i for i in range(1, 17) if i % 4]
    assert [v for v in outcomes if not isinstance(v, ValueError)] == kept
    assert _reader_ids(database) == kept


def test_a_loop_write_is_committed_when_its_caller_hears_of_it(database: Database) -> None:
    async def main() -> list[int]:
        seen = []
        for i in range(1, 6):
            await database.transact_async(_reader_job(i), on_loop=True)
            seen.append(len(_reader_ids(database)))  # another connection sees it at once
        return seen

    assert asyncio.run(main()) == [1, 2, 3, 4, 5]


def test_a_cancelled_caller_does_not_undo_its_write_or_keep_the_lock(database: Database) -> None:
    async def main() -> int:
        task = asyncio.ensure_future(database.transact_async(_reader_job(7), on_loop=True))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the next write gets the lock and both are there
        return await database.transact_async(_reader_job(8), on_loop=True)

    assert asyncio.run(main()) == 8
    assert _reader_ids(database) == [7, 8]
    with database.write() as conn:  # no lock left behind
        conn.execute(sa.insert(readers).values(id=9, created_at=datetime.now(UTC)))


def test_loop_writes_wait_for_another_writer_without_blocking_the_loop(
    sqlite_database: Database,
) -> None:
    database = sqlite_database
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with database.write() as conn:
            conn.execute(sa.insert(readers).values(id=1, created_at=datetime.now(UTC)))
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)

    async def main() -> tuple[int, int]:
        write = asyncio.ensure_future(database.transact_async(_reader_job(2), on_loop=True))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        release.set()
        return ticks, await asyncio.wait_for(write, 10)

    try:
        assert asyncio.run(main()) == (20, 2)
    finally:
        release.set()
        holder.join(10)
    assert _reader_ids(database) == [1, 2]


def test_loop_writes_and_writer_thread_writes_take_turns(sqlite_database: Database) -> None:
    database = sqlite_database

    async def main() -> list[int]:
        on_loop = [database.transact_async(_reader_job(i), on_loop=True) for i in range(1, 101)]
        threads = [asyncio.to_thread(database.transact, _reader_job(i)) for i in range(101, 201)]
        return await asyncio.gather(*on_loop, *threads)

    assert sorted(asyncio.run(main())) == list(range(1, 201))
    assert _reader_ids(database) == list(range(1, 201))


# --- statements on the driver's cursor (store/direct.py) match SQLAlchemy's -----------


def test_direct_statements_answer_as_sqlalchemy_does(database: Database) -> None:
    now = datetime.now(UTC)
    key = "k" * 32
    with database.write() as conn:
        site = int(
            conn.execute(
                sa.insert(sites).values(name="direct", created_at=now).returning(sites.c.id)
            ).scalar_one()
        )
        article = int(
            conn.execute(
                sa.insert(articles)
                .values(site_id=site, uri="/direct", created_at=now)
                .returning(articles.c.id)
            ).scalar_one()
        )
        reader = reader_store.create(conn)
        assert reader_store.exists(conn, reader)
        assert not moderation_store.is_closed(conn, article)
        inserted = [
            comment_store.insert(
                conn,
                article_id=article,
                site_id=site,
                reader_id=reader,
                body=body,
                html=f"<p>{body}</p>",
                status="approved",
                address_key=key,
                author_name="Ana",
                author_website="https://ana.example",
                created_at=now - timedelta(minutes=3 - i),
            )  # fmt: skip
            for i, body in enumerate(["first text", "second text", "third text"])
        ]
        moderation_store.learn(conn, site, ["alpha", "beta"], spam=1, ham=0)
        moderation_store.learn(conn, site, ["beta"], spam=0, ham=1)
        moderation_store.add_ban(
            conn, site_id=site, kind="address", value=key, reason="test",
            created_by="test", created_at=now, until=now + timedelta(hours=1),
        )  # fmt: skip
        article_store.touch(conn, article, 2)
    with database.read() as conn:
        # a comment inserted on the driver's cursor is the one SQLAlchemy reads back
        assert inserted == [comment_store.get(conn, c.id) for c in inserted]
        since = now - timedelta(minutes=10)
        assert moderation_store.recent_bodies(conn, reader, key, since) == [
            "third text", "second text", "first text"
        ]  # fmt: skip
        later = now - timedelta(seconds=150)  # the UTC datetime compares as stored
        assert moderation_store.recent_bodies(conn, None, key, later) == [
            "third text",
            "second text",
        ]
        counts = moderation_store.token_counts(conn, site, ["beta", "alpha", "gamma"])
        assert counts == {"alpha": (1, 0), "beta": (1, 1), moderation_store.DOCS: (1, 1)}
        ban = moderation_store.active_ban(conn, site, [("address", key)], now)
        assert ban is not None and ban.until == now + timedelta(hours=1)
        after = now + timedelta(hours=2)
        assert moderation_store.active_ban(conn, site, [("address", key)], after) is None
        row = conn.execute(
            sa.select(articles.c.version, articles.c.comment_count).where(articles.c.id == article)
        ).one()
        assert (row.version, row.comment_count) == (1, 2)
    with database.write() as conn:
        conn.execute(sa.update(articles).where(articles.c.id == article).values(closed_at=now))
        assert moderation_store.is_closed(conn, article)


def test_json_columns_read_and_write_what_the_standard_library_did() -> None:
    from voxpop.store.db import _json_text, _json_value

    assert _json_value(_json_text({1: "é", "k": [1, 2]})) == {"1": "é", "k": [1, 2]}
    assert _json_value(_json_text(2**70)) == 2**70  # beyond orjson's 64 bits
    assert _json_value('{"x": NaN}')["x"] != _json_value('{"x": NaN}')["x"]  # json.dumps's NaN
    assert _json_value('"\\ud800"') == "\ud800"  # an escaped lone surrogate
