"""Moderation: bans, word lists, author marks, flags, the spam classifier's counts, and
the queue with each comment's context. Every listing is one query (no N+1)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

from voxpop.store.direct import Direct
from voxpop.store.schema import articles, authors, bans, comments, flags, spam_tokens, words
from voxpop.store.upsert import insert_ignore, insert_ignore_many

# --- bans ----------------------------------------------------------------------------


def add_ban(conn: Connection, **values: Any) -> int:
    return int(conn.execute(sa.insert(bans).values(**values).returning(bans.c.id)).scalar_one())


# Statements on the hot path of every post are built once: SQLAlchemy then reuses their
# compiled form (building one costs more than running it).
_ACTIVE_BAN = (
    sa.select(bans)
    .where(
        bans.c.site_id == sa.bindparam("site_id"),
        # The index is (site_id, value): three point lookups, whatever the number of bans.
        bans.c.value.in_([sa.bindparam("reader"), sa.bindparam("address"), sa.bindparam("email")]),
        sa.or_(
            *(
                sa.and_(bans.c.kind == kind, bans.c.value == sa.bindparam(kind))
                for kind in ("reader", "address", "email")
            )
        ),
        bans.c.lifted_at.is_(None),
        sa.or_(bans.c.until.is_(None), bans.c.until > sa.bindparam("now")),
    )
    .order_by(bans.c.until.is_(None).desc(), bans.c.until.desc())
    .limit(1)
)
# Every post asks, and almost never finds one: the question on the driver's cursor, the
# ban itself through SQLAlchemy when there is one.
_ACTIVE_BAN_ID = Direct(_ACTIVE_BAN.with_only_columns(bans.c.id))


def active_ban(
    conn: Connection, site_id: int, keys: Iterable[tuple[str, str]], now: datetime
) -> Any | None:
    """The longest-running active ban among (kind, value) pairs (kinds: reader, address,
    email), or None."""
    values: dict[str, Any] = {"reader": None, "address": None, "email": None}
    values.update((k, v) for k, v in keys if v)
    if not any(values.values()):
        return None
    found = _ACTIVE_BAN_ID.first(conn, {"site_id": site_id, "now": now, **values})
    return None if found is None else get_ban(conn, int(found[0]))


def get_ban(conn: Connection, ban_id: int) -> Any | None:
    return conn.execute(sa.select(bans).where(bans.c.id == ban_id)).first()


def lift_ban(conn: Connection, ban_id: int, now: datetime) -> None:
    conn.execute(sa.update(bans).where(bans.c.id == ban_id).values(lifted_at=now))


def list_bans(conn: Connection, site_id: int, now: datetime, limit: int = 500) -> list[Any]:
    stmt = (
        sa.select(bans)
        .where(
            bans.c.site_id == site_id,
            bans.c.lifted_at.is_(None),
            sa.or_(bans.c.until.is_(None), bans.c.until > now),
        )
        .order_by(bans.c.id.desc())
        .limit(limit)
    )
    return list(conn.execute(stmt))


# --- words ---------------------------------------------------------------------------


def word_lists(conn: Connection, site_id: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"banned": [], "suspect": []}
    stmt = sa.select(words.c.kind, words.c.word).where(words.c.site_id == site_id)
    for row in conn.execute(stmt.order_by(words.c.word)):
        out.setdefault(str(row.kind), []).append(str(row.word))
    return out


def replace_words(
    conn: Connection, site_id: int, kind: str, new: Sequence[str], now: datetime
) -> None:
    conn.execute(sa.delete(words).where(words.c.site_id == site_id, words.c.kind == kind))
    for word in new:
        insert_ignore(conn, words, site_id=site_id, kind=kind, word=word, created_at=now)


# --- authors -------------------------------------------------------------------------


_AUTHOR_MARK = sa.select(authors.c.trusted, authors.c.shadowed).where(
    authors.c.site_id == sa.bindparam("site_id"), authors.c.reader_id == sa.bindparam("reader")
)


def author_mark(conn: Connection, site_id: int, reader_id: int) -> Any | None:
    return conn.execute(_AUTHOR_MARK, {"site_id": site_id, "reader": reader_id}).first()


def set_author_mark(
    conn: Connection, site_id: int, reader_id: int, now: datetime, **marks: bool
) -> None:
    inserted = insert_ignore(
        conn, authors, site_id=site_id, reader_id=reader_id, trusted=False, shadowed=False,
        updated_at=now,
    )  # fmt: skip
    del inserted
    conn.execute(
        sa.update(authors)
        .where(authors.c.site_id == site_id, authors.c.reader_id == reader_id)
        .values(updated_at=now, **marks)
    )


def approved_count(conn: Connection, site_id: int, reader_id: int) -> int:
    """How many of the reader's comments on the site are approved (new author: 0)."""
    stmt = (
        sa.select(sa.func.count())
        .select_from(comments.join(articles, articles.c.id == comments.c.article_id))
        .where(
            comments.c.reader_id == reader_id,
            articles.c.site_id == site_id,
            comments.c.status == "approved",
        )
    )
    return int(conn.execute(stmt).scalar_one())


_RECENT_BY_ADDRESS = Direct(
    sa.select(comments.c.id, comments.c.body)
    .where(
        comments.c.address_key == sa.bindparam("who"),
        comments.c.created_at >= sa.bindparam("since"),
    )
    .order_by(comments.c.created_at.desc())
    .limit(sa.bindparam("limit"))
)
_RECENT_BY_READER = Direct(
    sa.select(comments.c.id, comments.c.body)
    .where(
        comments.c.reader_id == sa.bindparam("who"), comments.c.created_at >= sa.bindparam("since")
    )
    .order_by(comments.c.created_at.desc())
    .limit(sa.bindparam("limit"))
)


def recent_bodies(
    conn: Connection, reader_id: int | None, address_key: str, since: datetime, limit: int = 20
) -> list[str]:
    """Bodies of the latest comments by this reader or from this address (the repetition
    check): two index range scans of at most ``limit`` rows each, however prolific."""
    found: dict[int, str] = {}
    for stmt, who in ((_RECENT_BY_ADDRESS, address_key), (_RECENT_BY_READER, reader_id)):
        if who:
            rows = stmt.rows(conn, {"who": who, "since": since, "limit": limit})
            found.update((int(i), str(body)) for i, body in rows)
    return [found[i] for i in sorted(found, reverse=True)[:limit]]


# --- flags ---------------------------------------------------------------------------


def add_flag(conn: Connection, **values: Any) -> bool:
    """Record a flag; False when this flagger already flagged the comment."""
    return bool(insert_ignore(conn, flags, **values).rowcount)


def count_flagging_addresses(conn: Connection, comment_id: int) -> int:
    """Open flags counted once per address they came from (a flag of unknown origin
    counts on its own)."""
    who = sa.func.coalesce(flags.c.address_key, flags.c.flagger)
    stmt = sa.select(sa.func.count(sa.distinct(who))).where(
        flags.c.comment_id == comment_id, flags.c.resolved_at.is_(None)
    )
    return int(conn.execute(stmt).scalar_one())


def count_open_flags(conn: Connection, comment_id: int) -> int:
    stmt = sa.select(sa.func.count()).where(
        flags.c.comment_id == comment_id, flags.c.resolved_at.is_(None)
    )
    return int(conn.execute(stmt).scalar_one())


def resolve_flags(conn: Connection, comment_id: int, now: datetime) -> None:
    conn.execute(
        sa.update(flags)
        .where(flags.c.comment_id == comment_id, flags.c.resolved_at.is_(None))
        .values(resolved_at=now)
    )
    conn.execute(sa.update(comments).where(comments.c.id == comment_id).values(flags=0))


def flags_of(conn: Connection, comment_ids: Sequence[int]) -> dict[int, list[Any]]:
    if not comment_ids:
        return {}
    stmt = (
        sa.select(flags.c.comment_id, flags.c.reason, flags.c.note, flags.c.created_at)
        .where(flags.c.comment_id.in_(list(comment_ids)), flags.c.resolved_at.is_(None))
        .order_by(flags.c.id)
    )
    out: dict[int, list[Any]] = {}
    for row in conn.execute(stmt):
        out.setdefault(int(row.comment_id), []).append(row)
    return out


# --- the spam classifier's counts ----------------------------------------------------

DOCS = "__docs__"


# The tokens go as one parameter, a JSON array on SQLite (``json_each``) and an array on
# PostgreSQL (``= ANY``): an expanding ``IN`` list is compiled anew for each length, which
# cost a post 100-160 µs more than the lookup itself.
_COUNTS_SELECT = sa.select(spam_tokens.c.token, spam_tokens.c.spam, spam_tokens.c.ham)
_COUNTS = {
    "sqlite": Direct(
        _COUNTS_SELECT.where(
            spam_tokens.c.site_id == sa.bindparam("site_id"),
            spam_tokens.c.token.in_(
                sa.select(sa.column("value")).select_from(
                    sa.func.json_each(sa.bindparam("tokens", type_=sa.JSON))
                )
            ),
        )
    ),
    "postgresql": Direct(
        _COUNTS_SELECT.where(
            spam_tokens.c.site_id == sa.bindparam("site_id"),
            spam_tokens.c.token == sa.func.any(sa.bindparam("tokens", type_=ARRAY(sa.Text))),
        )
    ),
}


def token_counts(
    conn: Connection, site_id: int, tokens: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """(spam, ham) counts of the given tokens and of ``__docs__`` (the comment totals)."""
    wanted = sorted({*tokens, DOCS})
    rows = _COUNTS[conn.dialect.name].rows(conn, {"site_id": site_id, "tokens": wanted})
    return {str(token): (int(spam), int(ham)) for token, spam, ham in rows}


def learn(conn: Connection, site_id: int, tokens: Sequence[str], spam: int, ham: int) -> None:
    """Add ``spam``/``ham`` (±1) to each token's counts and to the comment totals (never
    below zero): one executemany to create missing rows, one UPDATE."""
    wanted = sorted({*tokens, DOCS})
    rows = [{"site_id": site_id, "token": t, "spam": 0, "ham": 0} for t in wanted]
    insert_ignore_many(conn, spam_tokens, rows)
    larger = sa.func.max if conn.dialect.name == "sqlite" else sa.func.greatest
    conn.execute(
        sa.update(spam_tokens)
        .where(spam_tokens.c.site_id == site_id, spam_tokens.c.token.in_(wanted))
        .values(spam=larger(spam_tokens.c.spam + spam, 0), ham=larger(spam_tokens.c.ham + ham, 0))
    )


# --- the queue -----------------------------------------------------------------------

TABS = ("pending", "flagged", "spam", "rejected", "shadowed", "approved")


def _tab_condition(tab: str) -> Any:
    if tab == "flagged":
        return sa.and_(comments.c.flags > 0, comments.c.status.in_(("approved", "pending")))
    return comments.c.status == tab


def queue(
    conn: Connection,
    site_id: int,
    tab: str,
    text: str = "",
    author: str = "",
    article: str = "",
    before: tuple[datetime, int] | None = None,
    limit: int = 50,
) -> list[Any]:
    """A page of the tab's comments, newest first, each with its article and parent."""
    parent = comments.alias("parent")
    c = comments.c
    stmt = (
        sa.select(
            c.id,
            c.article_id,
            c.parent_id,
            c.reader_id,
            c.author_name,
            c.author_email,
            c.author_website,
            c.body,
            c.html,
            c.status,
            c.created_at,
            c.edited_at,
            c.up,
            c.down,
            c.spam_score,
            c.reasons,
            c.flags,
            c.address_key,
            c.anchor,
            articles.c.uri,
            articles.c.title,
            articles.c.closed_at,
            parent.c.author_name.label("parent_author"),
            parent.c.body.label("parent_body"),
        )  # fmt: skip
        .select_from(
            comments.join(articles, articles.c.id == c.article_id).outerjoin(
                parent, parent.c.id == c.parent_id
            )
        )
        # ix_comments_site_status (site_id, status, created_at, id): the site's rows only.
        .where(c.site_id == site_id, _tab_condition(tab))
    )
    if text:
        stmt = stmt.where(c.body.icontains(text, autoescape=True))
    if author:
        if author.isascii() and author.isdigit() and len(author) <= 10:
            stmt = stmt.where(c.reader_id == int(author))
        else:
            stmt = stmt.where(c.author_name.icontains(author, autoescape=True))
    if article:
        stmt = stmt.where(articles.c.uri.icontains(article, autoescape=True))
    if before is not None:
        at, last = before
        stmt = stmt.where(sa.or_(c.created_at < at, sa.and_(c.created_at == at, c.id < last)))
    stmt = stmt.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
    return list(conn.execute(stmt))


def tab_counts(conn: Connection, site_id: int) -> dict[str, int]:
    """How many comments each tab holds (approved is not counted: it is everything)."""
    out = {}
    for tab in TABS:
        if tab == "approved":
            continue
        stmt = sa.select(sa.func.count()).where(comments.c.site_id == site_id, _tab_condition(tab))
        out[tab] = int(conn.execute(stmt).scalar_one())
    return out


def histories(
    conn: Connection, site_id: int, reader_ids: Sequence[int]
) -> dict[int, dict[str, int]]:
    """For each reader: how many of their comments on the site are in each status."""
    if not reader_ids:
        return {}
    stmt = (
        sa.select(comments.c.reader_id, comments.c.status, sa.func.count().label("n"))
        .where(comments.c.site_id == site_id, comments.c.reader_id.in_(sorted(set(reader_ids))))
        .group_by(comments.c.reader_id, comments.c.status)
    )
    out: dict[int, dict[str, int]] = {}
    for row in conn.execute(stmt):
        out.setdefault(int(row.reader_id), {})[str(row.status)] = int(row.n)
    return out


def marks_of(conn: Connection, site_id: int, reader_ids: Sequence[int]) -> dict[int, Any]:
    if not reader_ids:
        return {}
    stmt = sa.select(authors).where(
        authors.c.site_id == site_id, authors.c.reader_id.in_(sorted(set(reader_ids)))
    )
    return {int(r.reader_id): r for r in conn.execute(stmt)}


def site_of_comment(conn: Connection, comment_id: int) -> int | None:
    stmt = (
        sa.select(articles.c.site_id)
        .select_from(comments.join(articles, articles.c.id == comments.c.article_id))
        .where(comments.c.id == comment_id)
    )
    value = conn.execute(stmt).scalar()
    return int(value) if value is not None else None


def comment_extra(conn: Connection, comment_id: int) -> Any | None:
    """The moderation columns of a comment (not part of the public Comment)."""
    c = comments.c
    stmt = sa.select(
        c.address_key, c.author_email, c.spam_score, c.reasons, c.trained, c.flags, c.body,
        c.author_name, c.author_website,
    ).where(c.id == comment_id)  # fmt: skip
    return conn.execute(stmt).first()


def reader_of_comment(conn: Connection, comment_id: int) -> int | None:
    value = conn.execute(
        sa.select(comments.c.reader_id).where(comments.c.id == comment_id)
    ).scalar()
    return int(value) if value is not None else None


def trained_of(conn: Connection, comment_ids: Sequence[int]) -> list[Any]:
    """The comments among these that taught the classifier, with what it learnt from."""
    if not comment_ids:
        return []
    stmt = (
        sa.select(
            comments.c.id,
            comments.c.body,
            comments.c.author_name,
            comments.c.author_website,
            comments.c.trained,
            articles.c.site_id,
        )  # fmt: skip
        .select_from(comments.join(articles, articles.c.id == comments.c.article_id))
        .where(comments.c.id.in_(list(comment_ids)), comments.c.trained.is_not(None))
    )
    return list(conn.execute(stmt))


def clear_trained(conn: Connection, comment_ids: Sequence[int]) -> None:
    if comment_ids:
        conn.execute(
            sa.update(comments).where(comments.c.id.in_(list(comment_ids))).values(trained=None)
        )


def set_closed(conn: Connection, article_id: int, at: datetime | None) -> None:
    conn.execute(
        sa.update(articles)
        .where(articles.c.id == article_id)
        .values(closed_at=at, version=articles.c.version + 1)
    )


_CLOSED = sa.select(articles.c.closed_at).where(articles.c.id == sa.bindparam("article_id"))
_IS_CLOSED = Direct(
    sa.select(articles.c.id).where(
        articles.c.id == sa.bindparam("article_id"), articles.c.closed_at.is_not(None)
    )
)


def is_closed(conn: Connection, article_id: int) -> bool:
    """Whether the article takes no new comments (every post asks)."""
    return _IS_CLOSED.first(conn, {"article_id": article_id}) is not None


def closed_at(conn: Connection, article_id: int) -> datetime | None:
    value = conn.execute(_CLOSED, {"article_id": article_id}).scalar()
    return value if isinstance(value, datetime) else None
