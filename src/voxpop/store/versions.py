"""The cheapest possible read of an article's version, for the cached read path.

On SQLite a dedicated connection (autocommit, WAL: readers never wait for the writer)
answers in microseconds, cheaply enough to ask on the event loop itself; on PostgreSQL the
lookup goes through the pool like any read.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

from voxpop.store import articles as article_store
from voxpop.store.db import Database

_SQL = "SELECT version FROM articles WHERE site_id = ? AND uri = ?"


class VersionReader:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.inline = db.is_sqlite
        self._local = threading.local()

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
                row = cursor.execute(_SQL, (site_id, uri)).fetchone()
            finally:
                cursor.close()
            return None if row is None else int(row[0])
        with self.db.read() as conn:
            return article_store.version(conn, site_id, uri)
