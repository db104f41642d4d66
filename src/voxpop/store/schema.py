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
    # Set while the article takes no new comments (a moderator closed it).
    sa.Column("closed_at", UTCDateTime, nullable=True),
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
    # The article's site, kept on the comment (an article never changes site): a site's
    # feed and moderation queue read the site's comments by index, not every site's.
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
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
    # A keyed hash of the address that stays the same across days (``ip_hash`` is salted per
    # day): what an address ban matches. Both are forgotten after VOXPOP_ADDRESS_RETENTION.
    sa.Column("address_key", sa.String(32), nullable=True),
    # The spam probability at posting time, and why the policy held or rejected it
    # (comma-separated reason codes, e.g. ``links,new_author``).
    sa.Column("spam_score", sa.Float, nullable=True),
    sa.Column("reasons", sa.String(200), nullable=True),
    # What the classifier learnt from this comment (``spam``/``ham``), so that a later
    # decision can unlearn it: the model follows the moderators' latest word.
    sa.Column("trained", sa.String(8), nullable=True),
    # Readers' flags not yet resolved by a moderator.
    sa.Column("flags", sa.Integer, nullable=False, server_default="0"),
    sa.Index("ix_comments_root", "root_id", "created_at"),
    sa.Index("ix_comments_parent", "parent_id"),
    sa.Index("ix_comments_reader", "reader_id"),
    sa.Index("ix_comments_anchor_state", "anchor_state", "article_id"),
    # One status across every site, newest first. The queue and the site's feed read
    # ix_comments_site_status instead; no query in store/ filters by status alone now.
    sa.Index("ix_comments_status", "status", "created_at"),
    # An article's newest approved comments, replies included (its Atom feed).
    sa.Index("ix_comments_article_status", "article_id", "status", "created_at", "id"),
    # A site's newest comments of one status: its Atom feed and its moderation queue.
    sa.Index("ix_comments_site_status", "site_id", "status", "created_at", "id"),
    sa.Index("ix_comments_flagged", "flags", "created_at"),
    # A site's flagged comments, newest first (the queue's flagged tab).
    sa.Index(
        "ix_comments_site_flagged",
        "site_id",
        "created_at",
        "id",
        sqlite_where=sa.text("flags > 0"),
        postgresql_where=sa.text("flags > 0"),
    ),
    # An article's visible inline feedback (the summary's count).
    sa.Index(
        "ix_comments_feedback",
        "article_id",
        sqlite_where=sa.text("anchor IS NOT NULL AND status = 'approved'"),
        postgresql_where=sa.text("anchor IS NOT NULL AND status = 'approved'"),
    ),
    # A reader's or an address's recent comments (the repetition check of every post).
    sa.Index("ix_comments_address_key", "address_key", "created_at"),
    sa.Index("ix_comments_reader_recent", "reader_id", "created_at"),
    # The comments that still hold an address hash: what the retention job goes through.
    sa.Index(
        "ix_comments_addressed",
        "created_at",
        sqlite_where=sa.text("ip_hash IS NOT NULL OR address_key IS NOT NULL"),
        postgresql_where=sa.text("ip_hash IS NOT NULL OR address_key IS NOT NULL"),
    ),
)

# A page of an article's top-level comments in the order asked (best: score, then oldest;
# new/old: date), read in index order for a LIMIT instead of sorting all of them: O(page)
# on a 10,000-comment article. Partial: replies (root_id set) are read by ix_comments_root.
sa.Index(
    "ix_comments_top_best",
    comments.c.article_id,
    comments.c.score.desc(),
    comments.c.id,
    sqlite_where=sa.text("root_id IS NULL"),
    postgresql_where=sa.text("root_id IS NULL"),
)
sa.Index(
    "ix_comments_top_new",
    comments.c.article_id,
    comments.c.created_at,
    comments.c.id,
    sqlite_where=sa.text("root_id IS NULL"),
    postgresql_where=sa.text("root_id IS NULL"),
)

votes = sa.Table(
    "votes",
    metadata,
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), primary_key=True),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), primary_key=True),
    sa.Column("value", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    # A reader's votes (their own votes on an article, erasure).
    sa.Index("ix_votes_reader", "reader_id"),
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
    # The ratings that still hold an address hash: what the retention job goes through.
    sa.Index(
        "ix_ratings_addressed",
        "created_at",
        sqlite_where=sa.text("address_hash IS NOT NULL"),
        postgresql_where=sa.text("address_hash IS NOT NULL"),
    ),
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


# Moderators and admins. Passwords are Argon2id hashes; usernames are lower-cased.
accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("username", sa.String(48), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_login_at", UTCDateTime, nullable=True),
    sa.Column("disabled_at", UTCDateTime, nullable=True),
)

# An account's role on a site (``*``: every site): ``moderator`` or ``admin``.
account_roles = sa.Table(
    "account_roles",
    metadata,
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), primary_key=True),
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
)

# Signed-in sessions of the admin UI. The cookie holds a random token; only its SHA-256 is
# kept here, so a copy of the database signs nobody in.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
    sa.Column("csrf", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_sessions_account", "account_id"),
    sa.Index("ix_sessions_expires", "expires_at"),
)

# Who may not comment on a site, until when (NULL: for good). ``kind`` is ``reader`` (value:
# the reader id), ``address`` (the comment's ``address_key``) or ``email`` (a keyed hash of
# the lower-cased address).
bans = sa.Table(
    "bans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("value", sa.String(64), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False, server_default=""),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("until", UTCDateTime, nullable=True),
    sa.Column("lifted_at", UTCDateTime, nullable=True),
    sa.Index("ix_bans_lookup", "site_id", "value"),
    sqlite_autoincrement=True,
)

# A site's word lists: ``banned`` words reject a comment, ``suspect`` words hold it.
words = sa.Table(
    "words",
    metadata,
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), primary_key=True),
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("word", sa.String(100), primary_key=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# What moderators decided about a reader on a site: trusted (skips the queue) or
# shadow-banned (their comments are visible to themselves only).
authors = sa.Table(
    "authors",
    metadata,
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), primary_key=True),
    sa.Column("reader_id", sa.Integer, sa.ForeignKey("readers.id"), primary_key=True),
    sa.Column("trusted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("shadowed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# Readers' flags on comments: one per comment and flagger (``r<reader id>`` or
# ``a<address key>``), resolved when a moderator decides on the comment. ``address_key``
# is where the flag came from: flags from one address count once towards hiding a comment
# (readers cost nothing to make), and it is forgotten after VOXPOP_ADDRESS_RETENTION.
flags = sa.Table(
    "flags",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("comment_id", sa.Integer, sa.ForeignKey("comments.id"), nullable=False),
    sa.Column("flagger", sa.String(40), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("note", sa.String(500), nullable=False, server_default=""),
    sa.Column("address_key", sa.String(32), nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("comment_id", "flagger"),
    sa.Index("ix_flags_flagger", "flagger"),
    sa.Index(
        "ix_flags_addressed",
        "created_at",
        sqlite_where=sa.text("address_key IS NOT NULL"),
        postgresql_where=sa.text("address_key IS NOT NULL"),
    ),
)

# The spam classifier's counts per site: for each token, in how many spam and ham comments
# it appeared. The token ``__docs__`` counts the comments themselves.
spam_tokens = sa.Table(
    "spam_tokens",
    metadata,
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), primary_key=True),
    sa.Column("token", sa.String(64), primary_key=True),
    sa.Column("spam", sa.Integer, nullable=False, server_default="0"),
    sa.Column("ham", sa.Integer, nullable=False, server_default="0"),
)

# What an import brought in, keyed by the source's own ids (``source``: ``disqus:<site>``,
# ``isso:<site>``, ...; ``key``: ``t:<thread id>`` → an article, ``p:<post id>`` → a comment).
# Running an import again finds its keys here and adds nothing twice.
imported = sa.Table(
    "imported",
    metadata,
    sa.Column("source", sa.String(80), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("local_id", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

# Webhook calls to make, written in the transaction of the change they announce and
# delivered by the outbox workers with retries; also the operators' delivery log.
# ``(url, event_key)`` is unique: deciding twice (a moderation replayed) calls once.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("site_id", sa.Integer, sa.ForeignKey("sites.id"), nullable=True),
    sa.Column("url", sa.String(2000), nullable=False),
    # ``comment.created``, ``comment.moderated``, ``rating.created``, ...
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("event_key", sa.String(100), nullable=False),
    # The exact body that is signed and sent (JSON).
    sa.Column("payload", sa.Text, nullable=False),
    # queued → sent | failed.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.String(500), nullable=True),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("claimed_until", UTCDateTime, nullable=True),
    sa.Column("sent_at", UTCDateTime, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("url", "event_key"),
    sa.Index("ix_webhook_deliveries_status_due", "status", "due_at"),
    sa.Index("ix_webhook_deliveries_created", "created_at"),
    sqlite_autoincrement=True,
)

# Live updates (``GET /api/v1/events``): a row per change a reader may see, written in the
# change's transaction, kept a day for replay. ``seq`` orders them as they became
# visible: on SQLite it is set in the (single) writer's transaction; on PostgreSQL rows are
# written without it and a sequencer numbers them after their commit, one sequencer at a
# time (an advisory lock), so a reader who has seen ``seq`` N has seen every row below it.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=True, unique=True),
    sa.Column("article_id", sa.Integer, sa.ForeignKey("articles.id"), nullable=False),
    # ``comment``, ``edit``, ``remove``, ``vote``, ``rating``.
    sa.Column("kind", sa.String(16), nullable=False),
    # The comment it is about (erasure removes the rows of a reader's comments).
    sa.Column("comment_id", sa.Integer, nullable=True),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_events_article_seq", "article_id", "seq"),
    sa.Index(
        "ix_events_unsequenced",
        "id",
        postgresql_where=sa.text("seq IS NULL"),
        sqlite_where=sa.text("seq IS NULL"),
    ),
    sa.Index("ix_events_created", "created_at"),
    sa.Index("ix_events_comment", "comment_id"),
    sqlite_autoincrement=True,
)
