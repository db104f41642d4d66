"""The cheapest possible read of an article's version, for the cached read path.

On SQLite a dedicated connection per thread (autocommit, WAL: readers never wait for the
writer) answers in microseconds, cheaply enough to ask on the event loop itself. On
PostgreSQL a small set of autocommit connections outside the pool answers with one round
trip (no BEGIN/COMMIT, no pool checkout); at most ``PG_CONNECTIONS`` per process, and as
many asynchronous ones (``get_async``: the event loop awaits the round trip, no thread).
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from voxpop.store.db import Database

_SQLITE = "SELECT version FROM articles WHERE site_id = ? AND uri = ?"
_PG = "SELECT version FROM articles WHERE site_id = %s AND uri = %s"
_SQLITE_LAST_EVENT = "SELECT max(seq) FROM events"
_PG_NUMBERED = b"SELECT version FROM articles WHERE site_id = $1 AND uri = $2"
_PREPARED = b"voxpop_version"
PG_CONNECTIONS = 8


class VersionReader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.inline = db.is_sqlite
        path = db.engine.url.database if db.is_sqlite else None
        # Its own connection sees the server's data only in a database file.
        self.file_backed = bool(path) and path != ":memory:" and not str(path).startswith("file:")
        self._local = threading.local()
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._slots = threading.BoundedSemaphore(PG_CONNECTIONS)
        self._closed = False
        # Asynchronous connections (get_async): used by one coroutine at a time, on
        # whichever event loop asks (psycopg binds them to none); at most PG_CONNECTIONS.
        self._async_lock = threading.Lock()
        self._async_idle: list[Any] = []
        self._async_open = 0

    def _sqlite(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # One plain connection per thread (in practice: the event loop's), outside the
            # pool; closed when its thread ends.
            path = self.db.engine.url.database or ":memory:"
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA query_only = ON")
            conn.execute("PRAGMA busy_timeout = 5000")
            self._local.conn = conn
        return conn

    def get(self, site_id: int, uri: str) -> int | None:
        if self.inline:
            cursor = self._sqlite().cursor()
            try:
                row = cursor.execute(_SQLITE, (site_id, uri)).fetchone()
            finally:
                cursor.close()
            return None if row is None else int(row[0])
        return self._postgres(site_id, uri)

    def last_event(self) -> int:
        """The highest event number (SQLite only: as cheap as ``get``, asked on the loop
        by the live-update hub after each write when no stream is open)."""
        assert self.file_backed, "only a SQLite file answers on the event loop"
        cursor = self._sqlite().cursor()
        try:
            row = cursor.execute(_SQLITE_LAST_EVENT).fetchone()
        finally:
            cursor.close()
        return int(row[0] or 0)

    def _postgres(self, site_id: int, uri: str) -> int | None:
        import psycopg

        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                url = self.db.engine.url.set(drivername="postgresql")
                conn = psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)
            try:
                row = conn.execute(_PG, (site_id, uri)).fetchone()
            except Exception:
                conn.close()
                raise
            if self._closed:  # closed meanwhile: keep nothing open behind the closer's back
                conn.close()
            else:
                self._idle.put(conn)
        return None if row is None else int(row[0])

    async def get_async(self, site_id: int, uri: str) -> int | None:
        """``get`` for the event loop, on PostgreSQL without a thread: the query goes
        straight to libpq (a prepared statement; the loop waits for the socket), which
        costs a fraction of psycopg's cursor machinery on this, the hottest read (SQLite
        answers ``get`` at once). When all of the asynchronous connections are busy, a
        thread asks on a synchronous one."""
        if self.inline:
            return self.get(site_id, uri)
        import psycopg

        with self._async_lock:
            conn = self._async_idle.pop() if self._async_idle else None
            opening = conn is None and self._async_open < PG_CONNECTIONS and not self._closed
            if opening:
                self._async_open += 1
        if conn is None and not opening:
            return await asyncio.to_thread(self._postgres, site_id, uri)
        try:
            if conn is None:
                url = self.db.engine.url.set(drivername="postgresql")
                conn = await psycopg.AsyncConnection.connect(
                    url.render_as_string(hide_password=False),
                    autocommit=True,
                    client_encoding="utf8",  # the URI goes as UTF-8 bytes (uri.encode())
                )
                # psycopg connected it; from here on only its libpq connection is used
                await _exchange(
                    conn.pgconn, lambda: conn.pgconn.send_prepare(_PREPARED, _PG_NUMBERED)
                )
            pgconn = conn.pgconn
            value = await _exchange(
                pgconn,
                lambda: pgconn.send_query_prepared(_PREPARED, [b"%d" % site_id, uri.encode()]),
            )
        except BaseException:
            self._drop_async(conn)
            raise
        with self._async_lock:
            keep = not self._closed
            if keep:
                self._async_idle.append(conn)
        if not keep:
            self._drop_async(conn)
        return None if value is None else int(value)

    def _drop_async(self, conn: Any) -> None:
        with self._async_lock:
            self._async_open -= 1
        if conn is not None:
            # libpq's own close: it needs no event loop (the one it last ran on may be gone)
            conn.pgconn.finish()

    def close(self) -> None:
        self._closed = True
        with self._async_lock:
            idle, self._async_idle = self._async_idle, []
        for conn in idle:
            self._drop_async(conn)
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


async def _exchange(pgconn: Any, send: Callable[[], None]) -> bytes | None:
    """Send one command on a non-blocking libpq connection and wait, on the event loop,
    for its result: the first column of its first row (None without one). Raises
    psycopg's OperationalError when the connection fails, DatabaseError when the command
    does."""
    import psycopg
    from psycopg import pq

    loop = asyncio.get_running_loop()
    fd = pgconn.socket
    done: asyncio.Future[None] = loop.create_future()
    results: list[Any] = []

    def settle(exc: BaseException | None = None) -> None:
        loop.remove_reader(fd)
        loop.remove_writer(fd)
        if not done.done():
            if exc is None:
                done.set_result(None)
            else:
                done.set_exception(exc)

    def readable() -> None:
        try:
            pgconn.consume_input()
            while not pgconn.is_busy():
                result = pgconn.get_result()
                if result is None:
                    settle()
                    return
                results.append(result)
        except Exception as exc:
            settle(exc)

    def writable() -> None:
        try:
            if pgconn.flush() == 0:
                loop.remove_writer(fd)
        except Exception as exc:
            settle(exc)

    send()
    if pgconn.flush() != 0:  # more to send than the socket took at once
        loop.add_writer(fd, writable)
    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
        loop.remove_writer(fd)
    value = None
    for result in results:
        if result.status not in (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK):
            message = result.error_message.decode("utf-8", "replace") or "the query failed"
            raise psycopg.DatabaseError(message)
        if value is None and result.status == pq.ExecStatus.TUPLES_OK and result.ntuples:
            value = result.get_value(0, 0)
    return value
