"""The store's write path: group commit on SQLite isolates each job in a savepoint."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.db import Database
from voxpop.store.schema import readers


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
