"""Tables. Changed only together with a migration in ``migrations/versions``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

articles = sa.Table(
    "articles",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("uri", sa.String(1024), nullable=False),
    sa.Column("title", sa.String(300), nullable=False, server_default=""),
    # Bumped in the same transaction as every change to the article's thread: caches key on it.
    sa.Column("version", sa.Integer, nullable=False, server_default="0"),
    # Visible comments (approved, or deleted with visible replies are not counted).
    sa.Column("comment_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # Counted ratings, kept in the rating's own transaction: reads never recount.
    sa.Column("rating_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("rating_sum", sa.Integer, nullable=False, server_default="0"),
    *(
        sa.Column(f"rating_{stars}", sa.Integer, nullable=False, server_default="0")
        for stars in range(1, 6)
    ),
    # Number of the article's current text revision; 0 while it has none registered.
    sa.Column("revision", sa.Integer, nullable=False, server_default="0"),
    # No index on the counters: rating and comment writes then update the row in place
    # (PostgreSQL HOT updates) instead of bloating indexes on hot articles.
    sa.UniqueConstraint("site_id", "uri"),
)

# The article's texts as the publisher registered them: inline feedback is anchored to the
# canonical text of one revision and re-anchored, once, when a new one arrives.
revisions = sa.Table(
    "revisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    # Canonical text (code points are what selectors count) and its SHA-256.
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("text_hash", sa.String(64), nullable=False),
    # The editor's questions marked in the HTML: [{"question", "start", "end"}].
    sa.Column("questions", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("article_id", "number"),
)

readers = sa.Table(
    "readers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # When the reader confirmed an e-mail address (trusted beyond the rating allowance).
    sa.Column("verified_at", UTCDateTime, nullable=True),
)

comments = sa.Table(
    "comments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=True),
    # The top-level ancestor; NULL for a top-level comment. One query fetches a page's replies.
    sa.Column("root_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=True),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=True),
    sa.Column("author_name", sa.String(80), nullable=True),
    sa.Column("author_email", sa.String(254), nullable=True),
    sa.Column("author_website", sa.String(500), nullable=True),
    sa.Column("body", sa.Text, nullable=False),
    # Rendered and sanitised once, at write time; reads serve it as it is.
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("renderer", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("edited_at", UTCDateTime, nullable=True),
    sa.Column("up", sa.Integer, nullable=False, server_default="0"),
    sa.Column("down", sa.Integer, nullable=False, server_default="0"),
    # Wilson lower bound of up/(up+down), kept with the counters, for sort=best.
    sa.Column("score", sa.Float, nullable=False, server_default="0"),
    sa.Column("ip_hash", sa.String(64), nullable=True),
    sa.Column("anchor", sa.JSON(none_as_null=True), nullable=True),
    # The anchor's state, outside the JSON so lost feedback can be listed by index.
    sa.Column("anchor_state", sa.String(16), nullable=True),
    sa.Index("ix_comments_top_new", "article_id", "root_id", "created_at", "id"),
    sa.Index("ix_comments_top_best", "article_id", "root_id", "score", "id"),
    sa.Index("ix_comments_root", "root_id", "created_at"),
    sa.Index("ix_comments_parent", "parent_id"),
    sa.Index("ix_comments_reader", "reader_id"),
    sa.Index("ix_comments_anchor_state", "anchor_state", "article_id"),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), primary_key=True),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), primary_key=True),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

ratings = sa.Table(
    "ratings",
    metadata,
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), primary_key=True),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), primary_key=True),
    sa.Column("stars", sa.SmallInteger, nullable=False),
    # False when the address had used its allowance of new raters: stored, not counted.
    sa.Column("counted", sa.Boolean, nullable=False),
    # Day-salted hash of the address the first rating came from (never the address).
    sa.Column("address_hash", sa.String(64), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Index("ix_ratings_address", "article_id", "address_hash"),
    sa.Index("ix_ratings_reader", "reader_id"),
)

# What moderators did, and to what: every moderation verb writes one row.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=True),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.JSON(none_as_null=True), nullable=True),
    sa.Index("ix_audit_at", "at"),
)

# E-mail addresses that asked for notifications. An address is confirmed once (double
# opt-in); the reader who confirmed it may then subscribe it again without another mail.
subscribers = sa.Table(
    "subscribers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # Lower-cased; the only place an address is kept for mailing.
    sa.Column("email", sa.String(254), nullable=False, unique=True),
    sa.Column("language", sa.String(8), nullable=False, server_default="en"),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=True),
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# What an address wants to hear about: every new comment on an article (``thread``), new
# comments below the subscribing reader's own (``replies``) or below one comment
# (``comment``, its id in ``comment_id``; 0 for the other scopes, so that the unique key
# also holds for them), delivered at once or in a daily digest.
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("comment_id", sa.Integer, nullable=False, server_default="0"),
    sa.Column("delivery", sa.String(16), nullable=False, server_default="instant"),
    # The reader who subscribed: whose comments ``replies`` watches.
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=True),
    # NULL until the address owner confirmed this subscription: nothing is sent before.
    sa.Column("confirmed_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("subscriber_id", "article_id", "scope", "comment_id"),
    sa.Index("ix_subscriptions_article", "article_id", "scope", "comment_id"),
    sa.Index("ix_subscriptions_unconfirmed", "confirmed_at", "created_at"),
    # Ids are never reused (SQLite would reuse a deleted highest one): a confirmation link
    # names a subscription by id, and a Message-ID is made of an outbox id.
    sqlite_autoincrement=True,
)

# Mail to send, written in the transaction of what caused it (a comment's approval, a
# subscription) and drained by the workers. ``(subscriber, kind, event)`` is unique: one
# notification per address and comment however many subscriptions matched, and deciding
# twice (an approval replayed) sends nothing twice.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subscriber_id", sa.Integer, sa.ForeignKey("subscribers.id"), nullable=False),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=True),
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=True),
    # Why this address gets it (``thread``, ``replies``, ``comment``) or what it confirms.
    sa.Column("reason", sa.String(16), nullable=True),
    sa.Column("subscription_id", sa.Integer, nullable=True),
    # The reader who asked for a confirmation mail: confirming it trusts that reader.
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), nullable=True),
    # queued → sent | failed | dropped; digest → bundled (into the digest row digest_id).
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
    # A worker's lease: others leave the row alone until it runs out.
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("digest_id", sa.Integer, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("subscriber_id", "kind", "event"),
    sa.Index("ix_outbox_status_due", "status", "due_at"),
    sa.Index("ix_outbox_digest", "digest_id"),
    sa.Index("ix_outbox_subscription", "subscription_id"),
    sqlite_autoincrement=True,
)
