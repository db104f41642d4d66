"""Every table's rows out and back in, as they are: what ``voxpop export`` writes and
``voxpop import voxpop`` restores (ids included, so links between rows hold)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import metadata, sites

# Not carried: sign-in sessions (everyone signs in again), and the queues of mail and
# webhook calls still to make (drain the worker before exporting).
SKIPPED = ("sessions", "outbox", "webhook_deliveries")


def tables() -> list[sa.Table]:
    """The carried tables, each after the tables it refers to."""
    return [t for t in metadata.sorted_tables if t.name not in SKIPPED]


def table(name: str) -> sa.Table | None:
    found = metadata.tables.get(name)
    return None if found is None or name in SKIPPED else found


def rows(conn: Connection, table: sa.Table, batch: int = 1000) -> Iterator[sa.Row[Any]]:
    """The table's rows in primary-key order, streamed (a server-side cursor on
    PostgreSQL), so a big table is never in memory at once."""
    stmt = sa.select(table).order_by(*table.primary_key.columns)
    result = conn.execution_options(stream_results=True, yield_per=batch).execute(stmt)
    yield from result


def holds_data(conn: Connection) -> dict[str, int]:
    """name → row count of the tables (other than sites) that are not empty."""
    counts: dict[str, int] = {}
    for t in metadata.sorted_tables:
        if t.name == "sites":
            continue
        n = conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
        if n:
            counts[t.name] = int(n)
    return counts


def clear_sites(conn: Connection) -> None:
    """Remove the site rows of an otherwise empty database (made by a server's start)."""
    conn.execute(sa.delete(sites))


def insert(conn: Connection, table: sa.Table, batch: list[dict[str, Any]]) -> None:
    if batch:
        conn.execute(sa.insert(table), batch)


def self_references(table: sa.Table) -> list[str]:
    """The table's columns that refer to its own rows (a comment's parent and root)."""
    return [c.name for c in table.columns if any(fk.column.table is table for fk in c.foreign_keys)]


def set_column(
    conn: Connection, table: sa.Table, column: str, pairs: list[tuple[int, int]]
) -> None:
    """Set ``column`` to each pair's value in the row of the pair's id."""
    if pairs:
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values({column: sa.bindparam("value")})
        )
        conn.execute(stmt, [{"row_id": i, "value": v} for i, v in pairs])


def reset_sequences(conn: Connection) -> None:
    """After rows came in with their ids, new rows must get ids above them: PostgreSQL's
    sequences are set to each table's highest id (SQLite keeps track by itself)."""
    if conn.dialect.name != "postgresql":
        return
    for t in tables():
        pk = list(t.primary_key.columns)
        if len(pk) != 1 or pk[0].name != "id" or not isinstance(pk[0].type, sa.Integer):
            continue
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), "  # noqa: S608
                f"COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM {t.name}"
            )
        )
