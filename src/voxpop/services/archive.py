"""``voxpop export FILE`` and ``voxpop import voxpop FILE``: everything, as one JSON document.

The document::

    {"format": "voxpop", "version": 1, "schema": "0006", "exported_at": "…",
     "tables": {"sites": [{…}, …], "articles": […], …}}

holds every row of every table — sites, articles and their revisions, readers, comments
with their anchors, votes, ratings, subscribers and subscriptions with their consent
state, moderators' accounts and roles, bans, word lists, authors' marks, flags, the spam
classifier's counts, the audit log and the import keys — one row per line, ids
included. Not carried: sign-in sessions, and mail or webhook calls still queued.

The export reads one consistent snapshot and streams (a table is never in memory at
once). The import streams too (ijson), restores ids as they were, and runs in one
transaction: into an empty database only (a server's start may have made site rows;
those are replaced), so that an export → import → export gives the same document.
"""

from __future__ import annotations

import gzip
import os
import zlib
from array import array
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any, cast

import ijson
import orjson
import sqlalchemy as sa
from ijson.common import ObjectBuilder

from voxpop.importers.records import SourceError
from voxpop.store import archive as store
from voxpop.store import migrate
from voxpop.store.db import Database
from voxpop.store.schema import UTCDateTime

FORMAT = "voxpop"
VERSION = 1
_BATCH = 1000
# Called with a table's name and how many of its rows are done.
Progress = Callable[[str, int], None]


def _quiet(_table: str, _done: int) -> None:
    return None


def _open_write(path: str, compress: bool) -> IO[bytes]:
    if compress:
        return cast(IO[bytes], gzip.open(path, "wb", compresslevel=6))
    return open(path, "wb")


def _open_read(path: str) -> IO[bytes]:
    with open(path, "rb") as probe:
        magic = probe.read(2)
    return cast(IO[bytes], gzip.open(path, "rb")) if magic == b"\x1f\x8b" else open(path, "rb")


def _encode(table: sa.Table, row: sa.Row[Any]) -> bytes:
    values: dict[str, Any] = {}
    for column, value in zip(table.columns, row, strict=True):
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        values[str(column.name)] = value
    return orjson.dumps(values)


def export(db: Database, path: str, progress: Progress = _quiet) -> dict[str, int]:
    """Write everything to ``path`` (gzip when it ends in ``.gz``); name → rows written.
    The file appears whole or not at all."""
    counts: dict[str, int] = {}
    partial = f"{path}.partial"
    head: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "schema": migrate.current(db),
        "exported_at": datetime.now(UTC).isoformat(),
    }
    options: dict[str, Any] = {}
    if not db.is_sqlite:
        options["isolation_level"] = "REPEATABLE READ"
    try:
        with _open_write(partial, path.endswith(".gz")) as out, db.engine.connect() as conn:
            conn = conn.execution_options(**options)
            with conn.begin():
                head["sequences"] = store.high_water(conn)
                out.write(orjson.dumps(head)[:-1] + b',\n"tables": {')
                for number, table in enumerate(store.tables()):
                    out.write(b"," if number else b"")
                    out.write(b"\n" + orjson.dumps(table.name) + b": [")
                    done = 0
                    for row in store.rows(conn, table):
                        out.write((b",\n" if done else b"\n") + _encode(table, row))
                        done += 1
                        if done % 10_000 == 0:
                            progress(table.name, done)
                    out.write(b"\n]")
                    counts[table.name] = done
                    progress(table.name, done)
                out.write(b"\n}}\n")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return counts


def _decode(table: sa.Table, number: int, raw: Any) -> dict[str, Any]:
    where = f"table {table.name}, row {number}"
    if not isinstance(raw, dict):
        raise SourceError(f"{where}: a row must be an object")
    row: dict[str, Any] = {}
    for name, value in raw.items():
        column = table.columns.get(name)
        if column is None:
            raise SourceError(f"{where}: unknown column {name!r} (an export of a newer voxpop?)")
        if isinstance(column.type, UTCDateTime) and value is not None:
            try:
                value = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                raise SourceError(f"{where}: {name} is not a date: {value!r}") from None
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
        row[name] = value
    return row


def _rows(
    handle: IO[bytes], schema: str | None, marks: dict[str, int]
) -> Iterator[tuple[str, Any]]:
    """(table name, row object) for every row of the document, streamed; checks the
    document's head first, and fills ``marks`` with its ``sequences``."""
    events = ijson.parse(handle, use_float=True)
    head: dict[str, Any] = {}
    table = ""
    checked = False
    for prefix, event, value in events:
        if prefix in ("format", "version", "schema") and event in ("string", "number"):
            head[prefix] = value
        elif prefix.startswith("sequences.") and event == "number":
            if not isinstance(value, int) or not 0 <= value <= 2**63 - 1:
                raise SourceError(f"{prefix} is not a whole number")
            marks[prefix.removeprefix("sequences.")] = value
        elif prefix == "tables" and event == "start_map":
            _check_head(head, schema)
            checked = True
        elif prefix == "tables" and event == "map_key":
            table = value
        elif prefix == f"tables.{table}.item" and event == "start_map":
            builder = ObjectBuilder()
            builder.event(event, value)
            for inner_prefix, inner_event, inner_value in events:
                builder.event(inner_event, inner_value)
                if inner_prefix == prefix and inner_event == "end_map":
                    break
            yield table, builder.value
        elif prefix == f"tables.{table}.item":
            raise SourceError(f"table {table}: every row must be an object, not {event}")
    if not checked:
        raise SourceError('this is not a voxpop export (no "format" and "tables")')


def _check_head(head: dict[str, Any], schema: str | None) -> None:
    if head.get("format") != FORMAT:
        raise SourceError('this is not a voxpop export ("format" is not "voxpop")')
    if head.get("version") != VERSION:
        raise SourceError(f"export format version {head.get('version')!r} is not {VERSION}")
    theirs = head.get("schema")
    if isinstance(theirs, str) and schema is not None and theirs > schema:
        raise SourceError(
            f"the export was made by a newer voxpop (schema {theirs}, this one has {schema}); "
            "upgrade voxpop first"
        )


def restore(db: Database, path: str, progress: Progress = _quiet) -> dict[str, int]:
    """Read a document of ``export`` into this (empty, migrated) database, in one
    transaction; name → rows restored. Raises ``SourceError`` and restores nothing when
    the file is broken or the database is not empty."""
    counts: dict[str, int] = {}
    schema = migrate.head(db)
    with db.write() as conn:
        full = store.holds_data(conn)
        if full:
            held = ", ".join(f"{n} {name}" for name, n in sorted(full.items()))
            raise SourceError(
                f"the database already holds data ({held}); an export is restored into an "
                "empty database: point VOXPOP_DATABASE_URL at a new one"
            )
        store.clear_sites(conn)
        with _open_read(path) as handle:
            current: sa.Table | None = None
            batch: list[dict[str, Any]] = []
            links = _Links()
            marks: dict[str, int] = {}
            try:
                for name, raw in _rows(handle, schema, marks):
                    if current is None or name != current.name:
                        _flush(conn, current, batch, counts, progress, links)
                        current = store.table(name)
                        if current is None:
                            raise SourceError(f"unknown table {name!r} in the export")
                        if name in counts:
                            raise SourceError(f"table {name!r} appears twice in the export")
                        counts[name] = 0
                    batch.append(_decode(current, counts[name] + len(batch) + 1, raw))
                    if len(batch) >= _BATCH:
                        _flush(conn, current, batch, counts, progress, links)
                _flush(conn, current, batch, counts, progress, links)
            except ijson.JSONError as exc:
                raise SourceError(f"the file is not valid JSON: {exc}") from None
            except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError) as exc:
                raise SourceError(f"the file is cut short or damaged: {exc}") from None
            except OSError as exc:
                raise SourceError(f"the file cannot be read: {exc.strerror or exc}") from None
        links.apply(conn)
        store.set_high_water(conn, marks)
    return counts


class _Links:
    """A row may refer to a row of its own table that comes later (an imported reply whose
    parent was found after it has the lower id): such columns go in empty and are set once
    every row is in. Kept compactly, one integer array per column."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, str], tuple[array[int], array[int]]] = {}

    def hold(self, table: sa.Table, batch: list[dict[str, Any]]) -> None:
        for column in store.self_references(table):
            key = (table.name, column)
            for row in batch:
                value = row.get(column)
                if value is not None and "id" in row:
                    ids, values = self.pending.setdefault(key, (array("q"), array("q")))
                    ids.append(row["id"])
                    values.append(value)
                    row[column] = None

    def apply(self, conn: sa.Connection) -> None:
        for (name, column), (ids, values) in self.pending.items():
            table = store.table(name)
            assert table is not None
            for start in range(0, len(ids), _BATCH):
                part = zip(ids[start : start + _BATCH], values[start : start + _BATCH], strict=True)
                try:
                    store.set_column(conn, table, column, list(part))
                except sa.exc.IntegrityError:
                    raise SourceError(
                        f"table {name}: some {column} values name rows that are not there"
                    ) from None


def _flush(
    conn: sa.Connection,
    table: sa.Table | None,
    batch: list[dict[str, Any]],
    counts: dict[str, int],
    progress: Progress,
    links: _Links,
) -> None:
    if table is None or not batch:
        return
    first = counts[table.name] + 1
    links.hold(table, batch)
    try:
        with conn.begin_nested():
            store.insert(conn, table, batch)
    except (sa.exc.IntegrityError, sa.exc.DataError, sa.exc.StatementError) as exc:
        reason = str(getattr(exc, "orig", exc)).splitlines()[0][:300]
        raise SourceError(
            f"table {table.name}, rows {first}–{first + len(batch) - 1}: {reason}"
        ) from None
    counts[table.name] += len(batch)
    progress(table.name, counts[table.name])
    batch.clear()
