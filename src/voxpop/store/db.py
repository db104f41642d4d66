"""Engines and transactions.

``Database.read()`` gives a connection in a read transaction; ``Database.write()`` one in
a write transaction; ``Database.transact(fn)`` runs ``fn(conn)`` in a write transaction and
returns its result — the way services write.

SQLite has one writer at a time. Write transactions start with ``BEGIN IMMEDIATE`` under
a lock: a thread lock in the process and, for a database file, an exclusive ``flock`` on
``<database>.lock`` beside it, so that the writers of every process (``voxpop serve
--workers N``, ``voxpop worker``) queue on the kernel's lock, each woken the moment the
one before commits, instead of failing with "database is locked" or polling in SQLite's
busy handler (which sleeps up to 100 ms at a time). ``transact`` goes further: one writer
thread per process runs every job, and commits the jobs that queued up meanwhile together
(group commit), each in its own savepoint so that one job's error rolls back that job
alone. With ``synchronous="full"`` (VOXPOP_SQLITE_SYNCHRONOUS) a commit returns once the
WAL is fsynced: one fsync per batch. PostgreSQL gets the same writer: writes to one
article would otherwise queue on its row lock one transaction at a time. A batch that
PostgreSQL aborts for a deadlock or a serialization failure is run again (jobs read what
they change, so a rerun is safe).

PostgreSQL may have a streaming read replica (``replica_url``): ``read_replica()`` gives a
connection in a REPEATABLE READ transaction on it (one snapshot for all its statements,
taken by the first). It is never used on its own judgement: the caller decides whether
what it reads there is fresh enough (``services.threads`` checks the article's version),
and reads the primary otherwise. A replica that errors is left alone for a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from voxpop.errors import ConfigurationError

if sys.platform != "win32":
    import fcntl

_WRITE = "voxpop_write"
SYNCHRONOUS = ("normal", "full")
_SAVEPOINT = "voxpop_job"
T = TypeVar("T")
log = logging.getLogger("voxpop.store")
Job = tuple[Callable[[Connection], Any], "Future[Any]"]
LoopJob = tuple[Callable[[Connection], Any], "asyncio.Future[Any]"]
MAX_BATCH = 64


def normalise_url(url: str) -> str:
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _json_text(value: Any) -> str:
    """JSON columns' serialiser: orjson (a tenth of the standard library's time per event
    or spam-feature row); non-string keys become strings, as ``json.dumps`` makes them.
    What orjson refuses (an integer over 64 bits, a lone surrogate) goes to the standard
    library, as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def _json_value(text: str | bytes) -> Any:
    """JSON columns' parser: orjson, and the standard library for what only it reads
    (``NaN``, escaped lone surrogates: rows written by ``json.dumps``)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def create_engine(url: str, synchronous: str = "full") -> Engine:
    """An engine for ``url``; ``synchronous`` is SQLite's (ignored on PostgreSQL)."""
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, not {synchronous!r}")
    url = normalise_url(url)
    json_kwargs: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": _json_value}
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": 30},
            **json_kwargs,
        }
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
        _configure_sqlite(engine, synchronous)
        return engine
    # No pre-ping (a round trip per checkout); recycle instead, and reconnect on error.
    return sa.create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800, **json_kwargs)


def _configure_sqlite(engine: Engine, synchronous: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-16000")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")


def _lock_path(url: str) -> str | None:
    """The writers' lock file beside a SQLite database file (None: in memory)."""
    url = normalise_url(url)
    if not url.startswith("sqlite:///") or url in ("sqlite://", "sqlite:///:memory:"):
        return None
    path = url.removeprefix("sqlite:///").split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return str(Path(path).expanduser().resolve()) + ".lock"


class _ProcessLock:
    """An exclusive ``flock`` on a file, taken around every write transaction of this
    process (the thread lock keeps the process to one at a time), so that the processes
    sharing a SQLite file take turns. ``flock`` blocks in the kernel and wakes a waiter as
    soon as the holder lets go; the lock dies with its process, whatever happens to it."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._failed = False

    def _file(self) -> int | None:
        # One open file per process: a lock taken through a descriptor inherited across
        # fork() would be shared with the parent, not held against it. Read-only is enough
        # for flock, so a lock file another user created serves as well.
        if self._fd is None or self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                if not self._failed:
                    self._failed = True
                    log.warning("no writers' lock file (%s): SQLite's busy timeout only", exc)
                return None
            self._pid = os.getpid()
        return self._fd

    def acquire(self, blocking: bool = True) -> bool:
        """Take the lock (wait for it, or only if it is free at once); True when held.
        Without a lock file there is nothing to take: True."""
        fd = self._file()
        if fd is None:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        fd = self._file()
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    @contextmanager
    def held(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


def _run_jobs(
    conn: Connection, batch: Sequence[tuple[Callable[[Connection], Any], Any]]
) -> list[tuple[Any, bool, Any]]:
    """Run each job in its own savepoint: (its future, ok, its value or error). A job's
    error undoes its work alone; a deadlock or serialization failure (PostgreSQL) is
    raised, for the whole batch to be run again."""
    outcomes: list[tuple[Any, bool, Any]] = []
    # The savepoints go straight to the driver: through SQLAlchemy (``begin_nested``)
    # they cost as much as a job's own statements.
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        for fn, done in batch:
            try:
                cursor.execute(f"SAVEPOINT {_SAVEPOINT}")
                value = fn(conn)
                cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
            except Exception as exc:  # the job's own error: its work undone
                if _retryable(exc):
                    raise
                cursor.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                cursor.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                outcomes.append((done, False, exc))
            else:
                outcomes.append((done, True, value))
    finally:
        cursor.close()
    return outcomes


class _LoopBatches:
    """SQLite write jobs of one event loop (``transact_async(on_loop=True)``): one task
    runs what has queued up, up to MAX_BATCH jobs, in one transaction on the loop, then
    commits it in a thread (the fsync), then the next batch. The jobs' futures are
    settled after the commit, so a caller never hears of a write that is not durable."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pending: list[LoopJob] = []
        self.task: asyncio.Task[None] | None = None

    def submit(self, fn: Callable[[Connection], Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self.pending.append((fn, done))
        if self.task is None:
            self.task = loop.create_task(self._drain())
        return done

    async def _drain(self) -> None:
        try:
            while self.pending:
                # The requests already under way queue their jobs first: one batch.
                await asyncio.sleep(0)
                batch, self.pending = self.pending[:MAX_BATCH], self.pending[MAX_BATCH:]
                await self._one(batch)
        finally:
            self.task = None
            for _fn, done in self.pending:  # the loop is closing: nothing ran them
                _settle(done, False, RuntimeError("the server stopped before the write"))
            self.pending = []

    async def _one(self, batch: list[LoopJob]) -> None:
        try:
            await self.db._take_write_locks()
            try:
                commit = self.db._commit_on_loop(batch)
            except BaseException:
                self.db._drop_write_locks()
                raise
            # shielded: whatever happens to this task, the commit (and the locks'
            # release) runs to its end
            outcomes = await asyncio.shield(asyncio.to_thread(commit))
        except BaseException as exc:  # the transaction failed: every job in it failed
            failed = (
                exc
                if isinstance(exc, Exception)
                else RuntimeError("the server stopped before the write's outcome was known")
            )
            if isinstance(exc, Exception):
                log.exception("write batch of %d failed", len(batch))
            for _fn, done in batch:
                _settle(done, False, failed)
            if not isinstance(exc, Exception):
                raise
            return
        for done, ok, value in outcomes:
            _settle(done, ok, value)


def _settle(done: Any, ok: bool, value: Any) -> None:
    """Give a job's caller its outcome, unless the caller went away (a cancelled
    request): the write stands, and nobody is told."""
    if done.done():
        return
    try:
        if ok:
            done.set_result(value)
        else:
            done.set_exception(value)
    except (InvalidStateError, asyncio.InvalidStateError):
        pass  # cancelled between the check and now, from the caller's thread


async def _wait_in_thread(acquire: Callable[[], Any], release: Callable[[], None]) -> None:
    """``acquire()`` in a thread; if the waiter is cancelled meanwhile, the lock the
    thread still gets is let go of."""
    waiting = asyncio.ensure_future(asyncio.to_thread(acquire))
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        waiting.add_done_callback(
            lambda f: release() if not f.cancelled() and f.exception() is None else None
        )
        raise


def _retryable(exc: Exception) -> bool:
    """A deadlock or serialization failure (PostgreSQL SQLSTATE 40P01, 40001)."""
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return code in ("40P01", "40001")


REPLICA_RETRY_AFTER = 5.0  # seconds a replica that failed is left alone
_POSTGRES = ("postgresql://", "postgresql+psycopg://", "postgres://")


class ReplicaUnavailable(Exception):
    """No replica is configured, it failed a moment ago, or it failed now (the cause)."""


def check_replica_url(url: str, replica_url: str) -> None:
    """A replica needs a PostgreSQL primary, and is itself PostgreSQL."""
    if not url.startswith(_POSTGRES):
        raise ConfigurationError(
            "VOXPOP_DATABASE_REPLICA_URL needs a PostgreSQL primary; VOXPOP_DATABASE_URL "
            "is SQLite, which has no read replicas"
        )
    if not replica_url.startswith(_POSTGRES):
        raise ConfigurationError(
            "VOXPOP_DATABASE_REPLICA_URL must be a postgresql:// URL of a streaming replica "
            "of VOXPOP_DATABASE_URL"
        )


def _create_replica_engine(url: str) -> Engine:
    # REPEATABLE READ: the version a page is checked by and the page itself come from one
    # snapshot (a hot standby allows it). A short connect timeout: an unreachable replica
    # costs a request two seconds at most, then is left alone for REPLICA_RETRY_AFTER.
    return sa.create_engine(
        normalise_url(url),
        pool_size=20,
        max_overflow=20,
        pool_recycle=1800,
        isolation_level="REPEATABLE READ",
        connect_args={"connect_timeout": 2},
    )


class Database:
    def __init__(
        self, url: str, replica_url: str | None = None, synchronous: str | None = None
    ) -> None:
        """``synchronous``: SQLite's ``normal`` or ``full``; None: VOXPOP_SQLITE_SYNCHRONOUS
        as the settings read it (the environment, the TOML file, the default)."""
        if synchronous is None:
            from voxpop.settings import sqlite_synchronous

            synchronous = sqlite_synchronous()
        self.url = url
        self.synchronous = synchronous
        self.engine = create_engine(url, synchronous)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = threading.Lock()
        lock_path = _lock_path(url) if self.is_sqlite and sys.platform != "win32" else None
        self._process_lock = _ProcessLock(lock_path) if lock_path else None
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
        self._loop_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopBatches] = (
            weakref.WeakKeyDictionary()
        )
        self._init_replica(replica_url)

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
                if self._process_lock is None:
                    with conn.begin():
                        yield conn
                else:
                    with self._process_lock.held(), conn.begin():
                        yield conn
            finally:
                conn.info.pop(_WRITE, None)

    async def _take_write_locks(self) -> None:
        """``write()``'s locks for the event loop: taken at once when free (the usual
        case), else waited for in a thread so that the loop serves other requests."""
        if not self._write_lock.acquire(blocking=False):
            await _wait_in_thread(self._write_lock.acquire, self._write_lock.release)
        try:
            lock = self._process_lock
            if lock is not None and not lock.acquire(blocking=False):
                await _wait_in_thread(lock.acquire, lock.release)
        except BaseException:
            self._write_lock.release()
            raise

    def _drop_write_locks(self) -> None:
        try:
            if self._process_lock is not None:
                self._process_lock.release()
        finally:
            self._write_lock.release()

    def transact(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn(conn)`` in a write transaction, committed when this returns."""
        self._start_writer()
        done: Future[T] = Future()
        self._jobs.put((fn, done))
        return done.result()

    async def transact_async(self, fn: Callable[[Connection], T], on_loop: bool = False) -> T:
        """``transact`` for the event loop: wait for the commit without holding a thread.

        ``on_loop`` (SQLite; for short jobs, such as a comment's): run the job on the
        event loop itself, batched with the jobs that queue up meanwhile, and only the
        commit (its fsync) in a thread. In the writer thread, every statement lets go of
        the GIL and the loop takes it, often for milliseconds, while the writer holds the
        lock every process waits for; on the loop the batch runs without a hand-over:
        1.3-1.4x the durable comment writes per second (bench/README.md)."""
        if on_loop and self.is_sqlite:
            loop = asyncio.get_running_loop()
            batches = self._loop_batches.get(loop)
            if batches is None:
                batches = self._loop_batches[loop] = _LoopBatches(self)
            value: T = await batches.submit(fn)
            return value
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
                    outcomes = _run_jobs(conn, batch)
                break
            except Exception as exc:  # the transaction failed: every job in it failed
                if _retryable(exc) and attempt < 3:
                    log.warning("write batch of %d retried: %s", len(batch), exc)
                    continue
                log.exception("write batch of %d failed", len(batch))
                for _fn, done in batch:
                    _settle(done, False, exc)
                return
        for done, ok, value in outcomes:
            _settle(done, ok, value)

    def _commit_on_loop(self, batch: list[LoopJob]) -> Callable[[], list[tuple[Any, bool, Any]]]:
        """Begin, run ``batch`` here (on the event loop), and return a function that
        commits and then lets go of the write locks, for a thread (the next writer, of
        any process, need not wait for this loop's turn). The caller holds the locks;
        when this raises, they are still the caller's to drop."""
        conn = self.engine.connect()
        conn.info[_WRITE] = True
        try:
            transaction = conn.begin()
            outcomes = _run_jobs(conn, batch)
        except BaseException:
            conn.info.pop(_WRITE, None)
            conn.close()  # rolls back
            raise

        def commit() -> list[tuple[Any, bool, Any]]:
            try:
                transaction.commit()
            finally:
                conn.info.pop(_WRITE, None)
                try:
                    conn.close()
                finally:
                    self._drop_write_locks()
            return outcomes

        return commit

    # -- read replica (PostgreSQL only) ----------------------------------------------------

    def _init_replica(self, replica_url: str | None) -> None:
        self.replica_url: str | None = None
        self._replica: Engine | None = None
        self._replica_lock = threading.Lock()
        self._replica_down_until = 0.0
        # For metrics: pages read on the replica, and reads meant for it that went to
        # the primary (replica behind, down or erroring).
        self.replica_reads = 0
        self.replica_fallbacks = 0
        if replica_url:
            self.attach_replica(replica_url)

    def attach_replica(self, replica_url: str) -> None:
        """Use ``replica_url`` for ``read_replica()``; connected on first use."""
        check_replica_url(self.url, replica_url)
        self.replica_url = replica_url

    @property
    def replica_engine(self) -> Engine:
        if self.replica_url is None:
            raise ReplicaUnavailable("no read replica is configured")
        with self._replica_lock:
            if self._replica is None:
                self._replica = _create_replica_engine(self.replica_url)
            return self._replica

    @contextmanager
    def read_replica(self) -> Iterator[Connection]:
        """A read transaction (REPEATABLE READ) on the replica. Raises
        ``ReplicaUnavailable`` when there is none, when it failed less than
        ``REPLICA_RETRY_AFTER`` seconds ago, or when it fails now (a database error
        inside the block included); any other exception passes through unchanged."""
        if self.replica_url is None or time.monotonic() < self._replica_down_until:
            raise ReplicaUnavailable("the read replica is not in use")
        try:
            with self.replica_engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            self._replica_down_until = time.monotonic() + REPLICA_RETRY_AFTER
            log.warning(
                "read replica failed, reading the primary for %gs: %s", REPLICA_RETRY_AFTER, exc
            )
            raise ReplicaUnavailable(str(exc)) from exc

    def count_replica_read(self, served: bool) -> None:
        """Count a read meant for the replica: ``served`` there, or fell back."""
        with self._replica_lock:
            if served:
                self.replica_reads += 1
            else:
                self.replica_fallbacks += 1

    def dispose(self) -> None:
        if self._replica is not None:
            self._replica.dispose()
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join(timeout=10)
            self._writer = None
        self.engine.dispose()
        if self._process_lock is not None:
            self._process_lock.close()
