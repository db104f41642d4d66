"""Every table's rows out and back in, as they are: what ``voxpop export`` writes and
``voxpop import voxpop`` restores (ids included, so links between rows hold)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from voxpop.store.schema import metadata, sites

# Not carried: sign-in sessions (everyone signs in again), and the queues of mail and
# webhook calls still to make (drain the worker before exporting), and the day of live
# updates kept for reconnecting readers.
SKIPPED = ("sessions", "outbox", "webhook_deliveries", "events")


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


def _counted(table: sa.Table) -> bool:
    """Whether the table's rows get their ids from a counter (an integer ``id`` key)."""
    pk = list(table.primary_key.columns)
    return len(pk) == 1 and pk[0].name == "id" and isinstance(pk[0].type, sa.Integer)


def high_water(conn: Connection) -> dict[str, int]:
    """name → the highest id each counted table has handed out (skipped tables included):
    ids that were used and deleted since (an outbox row named in a Message-ID, a
    subscription named in a confirmation link) must not be handed out again elsewhere."""
    marks: dict[str, int] = {}
    handed: dict[str, int] = {}
    if conn.dialect.name == "sqlite":
        has = conn.execute(
            sa.text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_sequence'")
        ).first()
        if has:
            handed = {
                str(r[0]): int(r[1])
                for r in conn.execute(sa.text("SELECT name, seq FROM sqlite_sequence"))
            }
    for t in metadata.sorted_tables:
        if not _counted(t):
            continue
        top = conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0
        if conn.dialect.name == "postgresql":
            seq = conn.execute(sa.text(f"SELECT pg_get_serial_sequence('{t.name}', 'id')")).scalar()
            if seq:
                row = conn.execute(sa.text(f"SELECT last_value, is_called FROM {seq}")).one()  # noqa: S608
                handed[str(t.name)] = int(row[0]) if row[1] else 0
        marks[str(t.name)] = max(int(top), handed.get(str(t.name), 0))
    return marks


def set_high_water(conn: Connection, marks: dict[str, int]) -> None:
    """After rows came in with their ids: new rows get ids above both those rows and the
    marks of the database they came from."""
    sqlite = conn.dialect.name == "sqlite"
    for t in metadata.sorted_tables:
        if not _counted(t):
            continue
        top = int(conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0)
        mark = max(top, int(marks.get(t.name, 0)))
        if sqlite:
            if t.dialect_options["sqlite"].get("autoincrement") and mark:
                done = conn.execute(
                    sa.text("UPDATE sqlite_sequence SET seq = :mark WHERE name = :name"),
                    {"mark": mark, "name": t.name},
                )
                if not done.rowcount:
                    conn.execute(
                        sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:name, :mark)"),
                        {"mark": mark, "name": t.name},
                    )
            continue
        conn.execute(
            sa.text(f"SELECT setval(pg_get_serial_sequence('{t.name}', 'id'), :value, :called)"),
            {"value": max(mark, 1), "called": mark > 0},
        )
