"""Engines and transactions.

``Database.read()`` gives a connection in a read transaction; ``Database.write()`` one in
a write transaction; ``Database.transact(fn)`` runs ``fn(conn)`` in a write transaction and
returns its result — the way services write.

SQLite has one writer at a time. In a process, write transactions take a lock and start
with ``BEGIN IMMEDIATE``, so concurrent writers queue instead of failing with "database is
locked"; across processes the busy timeout does the same. ``transact`` goes further: one
writer thread per process runs every job, and commits the jobs that queued up meanwhile
together (group commit), each in its own savepoint so that one job's error rolls back that
job alone. PostgreSQL gets the same writer: writes to one article would otherwise queue on
its row lock one transaction at a time. A batch that PostgreSQL aborts for a deadlock or a
serialization failure is run again (jobs read what they change, so a rerun is safe).
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

_WRITE = "voxpop_write"
T = TypeVar("T")
log = logging.getLogger("voxpop.store")
Job = tuple[Callable[[Connection], Any], "Future[Any]"]
MAX_BATCH = 64


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def create_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = url.removeprefix("sqlite:///")
            if path:
                Path(path).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
            # As many pooled connections as the server has request threads (anyio's 40):
            # an overflow connection is closed when returned, and opening one (with its
            # PRAGMAs) cost /healthz and the summary read a third of their time.
            kwargs["pool_size"] = 40
            kwargs["max_overflow"] = 8
        engine = sa.create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # No pre-ping (a round trip per checkout); recycle instead, and reconnect on error.
    return sa.create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-16000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")


def _retryable(exc: Exception) -> bool:
    """A deadlock or serialization failure (PostgreSQL SQLSTATE 40P01, 40001)."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        # SQLite reads are short and CPU-bound: with dozens of request threads reading at
        # once they mostly fight over the GIL (a 20-article summary served half as many
        # requests per second with 40 readers as with 2). A few read slots per core keep
        # the throughput; PostgreSQL reads wait on the network and are not limited.
        slots = max(2, os.cpu_count() or 2) if self.is_sqlite else 1_000_000
        self._read_slots = threading.BoundedSemaphore(slots)
        self._reading = threading.local()
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._writer_started = threading.Lock()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        nested = getattr(self._reading, "active", False)
        if not nested:
            self._read_slots.acquire()
            self._reading.active = True
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        finally:
            if not nested:
                self._reading.active = False
                self._read_slots.release()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        if not self.is_sqlite:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.connect() as conn:
            conn.info[_WRITE] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_WRITE, None)

    def transact(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction, committed when this returns."""
        self._start_writer()
        done: Future[T] = Future()
        self._jobs.put((fn, done))
        return done.result()

    async def transact_async(self, fn: Callable[[Connection], T]) -> T:
        """``transact`` for the event loop: wait for the commit without holding a thread."""
        self._start_writer()
        done: Future[T] = Future()
        self._jobs.put((fn, done))
        return await asyncio.wrap_future(done)

    def _start_writer(self) -> None:
        if self._writer is not None:
            return
        with self._writer_started:
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_loop, name="voxpop-sqlite-writer", daemon=True
                )
                self._writer.start()

    def _write_loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._commit_batch(batch)
            if stop:
                return

    def _commit_batch(self, batch: list[Job]) -> None:
        for attempt in range(1, 4):
            outcomes: list[tuple[Future[Any], bool, Any]] = []
            try:
                with self.write() as conn:
                    for fn, done in batch:
                        try:
                            with conn.begin_nested():
                                outcomes.append((done, True, fn(conn)))
                        except Exception as exc:  # the job's own error: its savepoint undone
                            if _retryable(exc):
                                raise
                            outcomes.append((done, False, exc))
                break
            except Exception as exc:  # the transaction failed: every job in it failed
                if _retryable(exc) and attempt < 3:
                    log.warning("write batch of %d retried: %s", len(batch), exc)
                    continue
                log.exception("write batch of %d failed", len(batch))
                for _fn, done in batch:
                    done.set_exception(exc)
                return
        for done, ok, value in outcomes:
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

    def dispose(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join(timeout=10)
            self._writer = None
        self.engine.dispose()
