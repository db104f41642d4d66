"""Reading threads: a page of top-level comments with all their replies, a reader's own
votes and editable comments, articles' summaries, and the versions caches key on.

Read replica (PostgreSQL, ``VOXPOP_DATABASE_REPLICA_URL``): a thread page is read from the
replica only if the replica has the article at the version the primary has now, or later.
The version is read from the primary for each request anyway (the thread cache is checked
against it); the page is then read on the replica in one REPEATABLE READ transaction whose
first statement reads the article and its version there. Replica behind, down or erroring:
the page is read from the primary (``db.replica_fallbacks`` counts it). Every write bumps
the version in its own transaction, so no reader, the writer included, ever sees a thread
older than the last write acknowledged before its request.
"""

from __future__ import annotations

import base64
import enum
import math
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import (
    MAX_ID,
    Article,
    ArticleSummary,
    Comment,
    Filter,
    RatingTally,
    Site,
    Sort,
    ThreadPage,
)
from voxpop.services import inputs
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import articles as article_store
from voxpop.store import comments as comment_store
from voxpop.store import ratings as rating_store
from voxpop.store import votes as vote_store
from voxpop.store.db import ReplicaUnavailable

MAX_LIMIT = 1000


def wilson(up: int, down: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval for the share of up-votes."""
    n = up + down
    if n == 0:
        return 0.0
    p = up / n
    denominator = 1 + z * z / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / denominator


def encode_cursor(sort: Sort, key: tuple[Any, int]) -> str:
    value, last = key
    raw = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(orjson.dumps([sort.value, raw, last])).decode().rstrip("=")


def decode_cursor(sort: Sort, cursor: str) -> tuple[Any, int]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        kind, raw, last = data
        if kind != sort.value or not isinstance(last, int) or isinstance(last, bool):
            raise ValueError
        if not 0 <= last <= MAX_ID:
            raise ValueError
        if sort is Sort.BEST:
            if not isinstance(raw, int | float) or isinstance(raw, bool):
                raise ValueError
            return (float(raw), last)
        value = datetime.fromisoformat(raw)
        if value.tzinfo is None:
            raise ValueError
        return (value, last)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise errors.InvalidCursor(
            "The cursor does not belong to this listing; start again without one"
        ) from None


class _Unknown(enum.Enum):
    VERSION = 0


ASK = _Unknown.VERSION  # thread(version=...): not known yet, ask the primary if need be


class _Behind(Exception):
    """The replica has not yet replayed the article's current version."""


_Read = tuple[Article | None, list[Comment], list[Comment], bool]


def thread(
    ctx: Context,
    site: Site,
    uri: str,
    sort: Sort = Sort.BEST,
    filter_: Filter = Filter.ALL,
    limit: int = 50,
    cursor: str | None = None,
    version: int | None | Literal[_Unknown.VERSION] = ASK,
) -> ThreadPage:
    """One page of top-level comments with all their replies: two queries in all after
    the article's row. ``version``: the article's version just read from the primary, if
    the caller has it (None: no such article); needed only when there is a read replica."""
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.ValidationFailed(f"limit must be from 1 to {MAX_LIMIT}", field="limit")
    after = decode_cursor(sort, cursor) if cursor else None
    path = inputs.uri(uri)
    if ctx.db.replica_url is None:
        with ctx.db.read() as conn:
            article, tops, below, more = _read(conn, site, path, sort, filter_, limit, after)
    else:
        if version is ASK:
            assert ctx.versions is not None
            version = ctx.versions.get(site.id, path)
        article, tops, below, more = _read_fresh(
            ctx, site, path, sort, filter_, limit, after, version
        )
    if article is None:
        return ThreadPage(None, [], None, 0)
    next_cursor = None
    if more:
        last = tops[-1]
        key: tuple[Any, int] = (
            (wilson(last.up, last.down), last.id)
            if sort is Sort.BEST
            else (last.created_at, last.id)
        )
        next_cursor = encode_cursor(sort, key)
    items = _assemble(tops, below)
    return ThreadPage(article, items, next_cursor, article.comment_count)


def _read(
    conn: Connection,
    site: Site,
    path: str,
    sort: Sort,
    filter_: Filter,
    limit: int,
    after: tuple[Any, int] | None,
    at_least: int | None = None,
) -> _Read:
    """The article (its version read first), one page of top-level comments (one more
    than ``limit`` tells whether there are more) and their replies. ``at_least``: raise
    ``_Behind`` unless the article is there at that version or later."""
    article = article_store.get(conn, site.id, path)
    if at_least is not None and (article is None or article.version < at_least):
        raise _Behind
    if article is None:
        return None, [], [], False
    tops = comment_store.top_level(conn, article.id, sort, after, limit + 1, filter_)
    more = len(tops) > limit
    tops = tops[:limit]
    below = comment_store.replies(conn, [c.id for c in tops])
    return article, tops, below, more


def _read_fresh(
    ctx: Context,
    site: Site,
    path: str,
    sort: Sort,
    filter_: Filter,
    limit: int,
    after: tuple[Any, int] | None,
    version: int | None,
) -> _Read:
    """Read on the replica if it has ``version`` (the primary's), else on the primary."""
    db = ctx.db
    if version is not None:  # None: the primary has no such article; nothing to offload
        try:
            with db.read_replica() as conn:
                found = _read(conn, site, path, sort, filter_, limit, after, at_least=version)
        except (_Behind, ReplicaUnavailable):
            db.count_replica_read(served=False)
        else:
            db.count_replica_read(served=True)
            return found
    with db.read() as conn:
        return _read(conn, site, path, sort, filter_, limit, after)


MAX_NEST = 30  # replies deeper than this are listed under their ancestor at this depth


def _assemble(tops: list[Comment], below: list[Comment]) -> list[Comment]:
    """Nest replies under their parents (oldest first), capping the nesting at MAX_NEST,
    and drop deleted comments left with no replies. Iterative: any depth is safe."""
    by_id = {c.id: c for c in tops}
    depth = {c.id: 0 for c in tops}
    holder: dict[int, Comment] = {}  # where a reply was attached
    for reply in below:
        by_id[reply.id] = reply
    for reply in below:
        parent = by_id.get(reply.parent_id or -1)
        if parent is None or parent.id not in depth:  # parent hidden by moderation
            parent = by_id.get(reply.root_id or -1)
            if parent is None:
                continue
        d = depth[parent.id] + 1
        home = parent if d <= MAX_NEST else holder[parent.id]
        depth[reply.id] = min(d, MAX_NEST)
        holder[reply.id] = home
        home.replies.append(reply)
    for reply in reversed(below):
        if reply.is_deleted and not reply.replies and reply.id in holder:
            holder[reply.id].replies.remove(reply)
    return [c for c in tops if not c.is_deleted or c.replies]


def mine(
    ctx: Context, site: Site, actor: Actor, uri: str
) -> tuple[dict[int, int], dict[int, datetime]]:
    """The reader's votes on an article, and their comments they may still change with
    the moment each stops being changeable."""
    if actor.reader_id is None:
        return {}, {}
    path = inputs.uri(uri)
    since = ctx.clock().timestamp() - ctx.settings.edit_window
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None:
            return {}, {}
        own = comment_store.by_reader(conn, article.id, actor.reader_id)
        votes = vote_store.mine(conn, actor.reader_id, article.id)
    window = timedelta(seconds=ctx.settings.edit_window)
    editable = {
        c.id: c.created_at + window
        for c in own
        if c.created_at.timestamp() >= since and not c.is_deleted
    }
    return votes, editable


def summaries(ctx: Context, site: Site, uris: list[str]) -> list[ArticleSummary]:
    paths = [inputs.uri(u) for u in uris]
    with ctx.db.read() as conn:
        found = article_store.summaries(conn, site.id, paths)
    out = []
    for original, path in zip(uris, paths, strict=True):
        row = found.get(path)
        if row is None:
            out.append(ArticleSummary(original, 0, 0, RatingTally.EMPTY))
            continue
        tally = rating_store.tally_of(row)
        out.append(ArticleSummary(original, int(row["comment_count"]), int(row["feedback"]), tally))
    return out


def version(ctx: Context, site: Site, uri: str) -> int | None:
    """The article's version (None if unknown): what a cached thread is checked against.
    On SQLite it is cheap enough to ask from the event loop (``versions_inline``)."""
    assert ctx.versions is not None
    return ctx.versions.get(site.id, inputs.uri(uri))


async def version_async(ctx: Context, site: Site, uri: str) -> int | None:
    """``version`` for the event loop (PostgreSQL: the round trip awaited there)."""
    assert ctx.versions is not None
    return await ctx.versions.get_async(site.id, inputs.uri(uri))


def versions_inline(ctx: Context) -> bool:
    return ctx.versions is not None and ctx.versions.inline


def ping(ctx: Context) -> None:
    """Raise if the database does not answer (health check)."""
    with ctx.db.read() as conn:
        article_store.ping(conn)
