"""Reader identities as the write verbs need them."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import readers as reader_store


def ensure_reader(ctx: Context, conn: Connection, actor: Actor) -> tuple[int, bool]:
    """The actor's reader id, minting one when they have none (or an unknown one)."""
    reader_id = actor.reader_id
    if reader_id is not None and (
        ctx.readers.get(reader_id) or reader_store.exists(conn, reader_id)
    ):
        return reader_id, False
    return reader_store.create(conn), True
