"""What moderators read: the moderation queue (a tab of comments, each with its context)
and the audit log. The verbs they act with are in ``services.moderation``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from voxpop import errors
from voxpop.model import MAX_ID, Site
from voxpop.services import access
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import audit as audit_store
from voxpop.store import moderation as store

QUEUE_PAGE = 50
TABS = store.TABS


@dataclass(frozen=True, slots=True)
class QueuePage:
    tab: str
    items: list[Any]
    histories: dict[int, dict[str, int]]
    marks: dict[int, Any]
    flags: dict[int, list[Any]]
    counts: dict[str, int]
    next_cursor: str | None


def _queue_cursor(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    at, _, last = raw.rpartition("~")
    try:
        value = datetime.fromisoformat(at)
        number = int(last)
    except ValueError:
        raise errors.InvalidCursor("The cursor does not belong to this queue") from None
    if value.tzinfo is None or not 0 <= number <= MAX_ID:
        raise errors.InvalidCursor("The cursor does not belong to this queue")
    return value, number


def queue(
    ctx: Context,
    actor: Actor,
    site: Site,
    tab: str = "pending",
    text: str = "",
    author: str = "",
    article: str = "",
    cursor: str | None = None,
    limit: int = QUEUE_PAGE,
) -> QueuePage:
    access.require(actor, "queue.view", site.name)
    if tab not in store.TABS:
        raise errors.ValidationFailed("tab must be one of " + ", ".join(store.TABS), field="tab")
    if not 1 <= limit <= 200:
        raise errors.ValidationFailed("limit must be from 1 to 200", field="limit")
    for field, value in (("q", text), ("author", author), ("article", article)):
        if len(value) > 200:
            raise errors.ValidationFailed("Search for at most 200 characters", field=field)
    before = _queue_cursor(cursor)
    with ctx.db.read() as conn:
        rows = store.queue(conn, site.id, tab, text, author, article, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        readers = [int(r.reader_id) for r in rows if r.reader_id is not None]
        histories = store.histories(conn, site.id, readers)
        marks = store.marks_of(conn, site.id, readers)
        flags = store.flags_of(conn, [int(r.id) for r in rows])
        counts = store.tab_counts(conn, site.id)
    next_cursor = None
    if more and rows:
        next_cursor = f"{rows[-1].created_at.isoformat()}~{rows[-1].id}"
    return QueuePage(tab, rows, histories, marks, flags, counts, next_cursor)


def audit_log(
    ctx: Context,
    actor: Actor,
    site: Site | None,
    before: int | None = None,
    limit: int = 100,
    action: str = "",
) -> list[Any]:
    """Newest entries first: one site's, or (``site`` None, for those with a role on every
    site) all of them, server-wide ones (accounts, privacy) included."""
    access.require(actor, "audit.view", site.name if site else None)
    if before is not None and not 1 <= before <= MAX_ID:
        raise errors.ValidationFailed("before must be an entry id", field="before")
    if not 1 <= limit <= 1000:
        raise errors.ValidationFailed("limit must be from 1 to 1000", field="limit")
    with ctx.db.read() as conn:
        return audit_store.page(conn, site.id if site else None, before, limit, action[:64])


def staff_sites(ctx: Context, actor: Actor) -> list[Site]:
    """The sites the actor may moderate, in configuration order."""
    return [s for s in ctx.sites.values() if access.allowed(actor, "queue.view", s.name)]
