"""Read an Isso database: the SQLite file Isso itself writes (``[general] dbpath``).

The format (Isso 0.14.0, ``isso/db/threads.py`` and ``isso/db/comments.py``):

    threads (id INTEGER PRIMARY KEY, uri VARCHAR(256) UNIQUE, title VARCHAR(256))
    comments (tid REFERENCES threads(id), id INTEGER PRIMARY KEY, parent INTEGER,
              created FLOAT NOT NULL, modified FLOAT, mode INTEGER, remote_addr VARCHAR,
              text VARCHAR NOT NULL, author VARCHAR, email VARCHAR, website VARCHAR,
              likes INTEGER DEFAULT 0, dislikes INTEGER DEFAULT 0, voters BLOB NOT NULL,
              notification INTEGER DEFAULT 0)

plus ``preferences`` (Isso's session key), which is not read. Older schemas (before
``PRAGMA user_version`` 4/5) lack ``notification`` or allow a NULL ``text``; both are read.

How it maps:
- a thread → ``Thread(key=id, url=uri, title)``; ``uri`` is the page's path, as the widget
  sent it. The threads that have comments come first, then the comments in ``id`` order.
- ``mode`` → status: 1 accepted → ``approved``, 2 waiting in Isso's moderation queue →
  ``pending``, 4 deleted but kept because replies point at it (Isso empties ``text``,
  ``author`` and ``website``) → ``deleted``, with no e-mail either. Isso writes no other
  mode; another value is a broken file. A comment deleted without replies is no row at all.
- ``text`` is the Markdown the reader typed (Isso renders it at read time) → ``markdown``,
  verbatim, hostile bits included: the import service sanitises it like a new comment.
- ``author``, ``email`` and ``website`` are stored HTML-escaped by Isso's ``POST /new`` and
  ``PUT /id/N`` (``html.escape``), so they are unescaped back to what the reader typed.
- ``created`` / ``modified`` are Unix times (floats) → aware UTC datetimes.
- ``parent``: Isso flattens replies to the top-level comment (``Comments.add``), so a
  thread is at most two deep; a parent is passed on as it is, whatever the depth.
- ``likes`` / ``dislikes`` → ``up`` / ``down``.
- Not read: ``remote_addr`` (no IP ever leaves the source), ``voters`` (a bloom filter of
  voters' networks), ``notification`` (reply e-mails wanted: opt-ins are not imported).

Progress is reported as the share of comment rows read, scaled to the file's size.
"""

from __future__ import annotations

import html
import math
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from voxpop.importers.records import Post, Progress, Record, SourceError, Status, Thread

# The columns read (never ``remote_addr``), checked before reading.
_THREAD_COLUMNS = ("id", "uri", "title")
_COMMENT_COLUMNS = (
    "tid",
    "id",
    "parent",
    "created",
    "modified",
    "mode",
    "text",
    "author",
    "email",
    "website",
    "likes",
    "dislikes",
)
# Every thread, and whether any comment is on it (Isso drops a thread when its last comment
# goes, but one can stay empty when the first comment on a page was refused).
_THREADS = (
    "SELECT id, uri, title, EXISTS (SELECT 1 FROM comments WHERE comments.tid = threads.id)"
    " FROM threads ORDER BY id"
)
_COMMENTS = (
    "SELECT tid, id, parent, created, modified, mode, text, author, email, website, likes,"
    " dislikes FROM comments ORDER BY id"
)
_MODES: dict[int, Status] = {1: "approved", 2: "pending", 4: "deleted"}
_BATCH = 500


def read(path: str, progress: Progress) -> Iterator[Record]:
    size = os.path.getsize(path) if os.path.exists(path) else 0
    db = _open(path)
    try:
        _check_schema(db)
        threads: set[int] = set()
        for key, uri, title, used in _rows(db, _THREADS):
            threads.add(key)
            if used:
                yield _thread(key, uri, title)
        total = _query(db, "SELECT COUNT(*) FROM comments").fetchone()[0]
        for done, row in enumerate(_rows(db, _COMMENTS), 1):
            yield _post(row, threads)
            if done % _BATCH == 0:
                progress(min(size, size * done // max(total, 1)))  # Isso may be writing
        progress(size)
    finally:
        db.close()


def _open(path: str) -> sqlite3.Connection:
    # Read-only, through a URI: nothing is written, not even a journal or a new empty file.
    uri = f"file:{quote(os.path.abspath(path))}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise SourceError(f"cannot open the Isso database: {exc}") from None


def _query(db: sqlite3.Connection, sql: str) -> sqlite3.Cursor:
    try:
        return db.execute(sql)
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"not a readable Isso (SQLite) database: {exc}") from None


def _rows(db: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    cursor = _query(db, sql)
    while True:
        try:
            batch = cursor.fetchmany(_BATCH)
        except sqlite3.DatabaseError as exc:
            raise SourceError(f"the Isso database is damaged: {exc}") from None
        if not batch:
            return
        yield from batch


def _check_schema(db: sqlite3.Connection) -> None:
    for table, wanted in (("threads", _THREAD_COLUMNS), ("comments", _COMMENT_COLUMNS)):
        columns = {row[1] for row in _query(db, f"PRAGMA table_info({table})")}
        if not columns:
            raise SourceError(f"no {table!r} table: this is not an Isso database")
        missing = [name for name in wanted if name not in columns]
        if missing:
            raise SourceError(
                f"the {table!r} table lacks column(s) {', '.join(missing)}: "
                "this is not an Isso database"
            )


def _thread(key: int, uri: Any, title: Any) -> Thread:
    if not isinstance(uri, str) or not uri.strip():
        raise SourceError(f"thread {key} has no uri")
    return Thread(key=str(key), url=uri, title=title if isinstance(title, str) else "")


def _post(row: tuple[Any, ...], threads: set[int]) -> Post:
    tid, key, parent, created, modified, mode, text, author, email, website, up, down = row
    if tid not in threads:
        raise SourceError(f"comment {key} names thread {tid}, which is not in the threads table")
    status = _MODES.get(mode)
    if status is None:
        raise SourceError(
            f"comment {key} has mode {mode!r}; Isso writes 1 (accepted), "
            "2 (in moderation) or 4 (deleted)"
        )
    deleted = status == "deleted"
    return Post(
        key=str(key),
        thread_key=str(tid),
        parent_key=None if parent is None else str(parent),
        created_at=_time(created, key, "created"),
        status=status,
        body="" if deleted or text is None else str(text),
        format="markdown",
        author_name=_unescaped(author),
        author_email=None if deleted else _unescaped(email),
        author_website=_unescaped(website),
        edited_at=None if modified is None else _time(modified, key, "modified"),
        up=_count(up),
        down=_count(down),
    )


def _time(value: Any, key: Any, column: str) -> datetime:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise SourceError(f"comment {key} has {column} {value!r}, which is not a Unix time")


def _unescaped(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return html.unescape(value)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
