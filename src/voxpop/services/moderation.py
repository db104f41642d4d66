"""Moderation: the policy that gives a new comment its status, and the moderators' verbs —
bans, word lists, trusted and shadow-banned authors, closing an article, readers' flags —
with the queue and the audit log they work from.

The policy, in order (``judge``): a closed article or a banned reader, address or e-mail
is refused (403); a banned word rejects the comment (422); a shadow-banned author's comment
is ``shadowed`` (shown to them only); under ``none`` everything else is approved. Otherwise
a spam probability from the heuristics and the site's own classifier (and Akismet, when
configured) sends certain spam to the spam folder, and trusted authors pass. ``pre`` holds
the rest; ``auto`` holds a comment with many links, a suspect word, a spam score over
VOXPOP_SPAM_HOLD or (VOXPOP_HOLD_NEW_AUTHORS) a first comment, and approves the rest.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import MAX_ID, CommentStatus, Moderation, Site
from voxpop.services import access, events, inputs, webhooks
from voxpop.services.context import Context
from voxpop.services.identity import Actor, email_key
from voxpop.services.render import count_links
from voxpop.spam import bayes, heuristics
from voxpop.spam.tokens import features as spam_features
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import moderation as store

WORD_KINDS = ("banned", "suspect")
MAX_WORDS = 2000
BAN_KINDS = ("reader", "address", "email")
FLAG_REASONS = ("spam", "abuse", "off_topic", "other")
REPEATS = 2  # earlier copies of a body (same reader or address, a day) that count as spam
_WORDS_TTL = 10.0  # seconds another process's word-list change may take to be seen here


@dataclass(frozen=True, slots=True)
class Judgement:
    status: CommentStatus
    reasons: tuple[str, ...]
    spam_score: float | None


@dataclass(frozen=True, slots=True)
class Signals:
    """What the policy learns about a new comment before its transaction."""

    features: frozenset[str]
    honeypot: str | None = None
    elapsed: float | None = None
    links: int = 0
    akismet: bool | None = None  # Akismet's verdict, when it is configured and answered


# --- word lists ----------------------------------------------------------------------


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _pattern(entries: Sequence[str]) -> re.Pattern[str] | None:
    if not entries:
        return None
    alternatives = "|".join(re.escape(w) for w in sorted(entries, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


class WordLists:
    """Each site's word lists as compiled patterns, re-read after a short while (another
    process may have changed them) and at once after a change made here."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[float, dict[str, re.Pattern[str] | None]]] = {}

    def patterns(self, conn: Connection, site_id: int) -> dict[str, re.Pattern[str] | None]:
        cached = self._cache.get(site_id)
        if cached is not None and time.monotonic() - cached[0] < _WORDS_TTL:
            return cached[1]
        lists = store.word_lists(conn, site_id)
        compiled = {kind: _pattern(lists.get(kind, [])) for kind in WORD_KINDS}
        self._cache[site_id] = (time.monotonic(), compiled)
        return compiled

    def forget(self, site_id: int) -> None:
        self._cache.pop(site_id, None)


def matches(pattern: re.Pattern[str] | None, *texts: str | None) -> list[str]:
    if pattern is None:
        return []
    found: list[str] = []
    for text in texts:
        if text:
            found.extend(m.group(0) for m in pattern.finditer(_fold(text)))
    return sorted(set(found))


# --- the policy ----------------------------------------------------------------------


def signals(
    body: str,
    name: str | None,
    website: str | None,
    links: int,
    honeypot: str | None = None,
    elapsed: float | None = None,
) -> Signals:
    return Signals(frozenset(spam_features(body, name, website)), honeypot, elapsed, links)


def ban_keys(
    ctx: Context, actor: Actor, reader_id: int | None, email: str | None
) -> list[tuple[str, str]]:
    keys = [("address", actor.address_key)]
    if reader_id is not None:
        keys.append(("reader", str(reader_id)))
    if email:
        keys.append(("email", email_key(ctx.settings.secret_key, email)))
    return keys


def check_open(conn: Connection, article_id: int | None) -> None:
    if article_id is not None and store.is_closed(conn, article_id):
        raise errors.CommentsClosed("This article takes no new comments")


def check_not_banned(
    ctx: Context, conn: Connection, site: Site, keys: list[tuple[str, str]], now: datetime
) -> None:
    ban = store.active_ban(conn, site.id, keys, now)
    if ban is None:
        return
    until = f"until {ban.until:%Y-%m-%d %H:%M} UTC" if ban.until else "for good"
    raise errors.Banned(f"You cannot comment on this site {until}")


def judge(
    ctx: Context,
    conn: Connection,
    site: Site,
    actor: Actor,
    reader_id: int | None,
    body: str,
    name: str | None,
    email: str | None,
    sig: Signals,
    now: datetime,
) -> Judgement:
    """The status a new comment gets (see the module's docstring). Runs in the comment's
    transaction, after the article and the reader are known."""
    check_not_banned(ctx, conn, site, ban_keys(ctx, actor, reader_id, email), now)
    patterns = ctx.words.patterns(conn, site.id)
    if matches(patterns["banned"], body, name):
        raise errors.CommentRejected(
            "Your comment contains words this site does not accept; rephrase it", field="body"
        )
    mark = store.author_mark(conn, site.id, reader_id) if reader_id is not None else None
    if mark is not None and mark.shadowed:
        return Judgement(CommentStatus.SHADOWED, ("shadowed",), None)
    if site.moderation is Moderation.NONE:
        return Judgement(CommentStatus.APPROVED, (), None)
    trusted = mark is not None and bool(mark.trusted)
    # One earlier copy is a reader posting twice, a short "+1" or "thanks" is no campaign;
    # a campaign repeats a longer text, again and again.
    repeats: list[str] = []
    if len(body.split()) >= heuristics.REPEAT_MIN_WORDS:
        since = now - timedelta(days=1)
        recent = store.recent_bodies(conn, reader_id, actor.address_key, since)
        # Near-same texts have near-same lengths: a cheap test first. Only whether REPEATS
        # copies are there matters, so the search stops at that many.
        alike = [b for b in recent if len(body) <= 2 * len(b) and len(b) <= 2 * len(body)]
        repeats = heuristics.repeats(body, alike, REPEATS)
    evidence = heuristics.assess(
        body,
        honeypot=sig.honeypot,
        elapsed_seconds=sig.elapsed,
        links=sig.links,
        recent_bodies=repeats if len(repeats) >= REPEATS else (),
        too_fast_seconds=ctx.settings.min_submit_seconds,
    )
    verdict = bayes.verdict(sig.features, _counts(conn, site.id, sig.features))
    score, reasons = heuristics.combine(verdict.score, evidence)
    if sig.akismet:
        score, reasons = max(score, 0.99), [*reasons, "akismet"]
    held = (list(reasons) or ["spam_score"]) if score >= ctx.settings.spam_hold else []
    if score >= ctx.settings.spam_reject and not trusted:
        return Judgement(CommentStatus.SPAM, tuple(reasons), score)
    if trusted:
        return Judgement(CommentStatus.APPROVED, ("trusted",), score)
    if site.moderation is Moderation.PRE:
        return Judgement(CommentStatus.PENDING, ("pre", *held), score)
    if sig.links >= heuristics.MANY_LINKS and "links" not in held:
        held.append("links")
    if matches(patterns["suspect"], body, name):
        held.append("suspect_word")
    if ctx.settings.hold_new_authors and (
        reader_id is None or store.approved_count(conn, site.id, reader_id) == 0
    ):
        held.append("new_author")
    if held:
        return Judgement(CommentStatus.PENDING, tuple(held), score)
    return Judgement(CommentStatus.APPROVED, (), score)


def _counts(conn: Connection, site_id: int, features: frozenset[str]) -> bayes.Counts:
    counts = store.token_counts(conn, site_id, sorted(features))
    docs_spam, docs_ham = counts.pop(store.DOCS, (0, 0))
    return bayes.Counts(spam_docs=docs_spam, ham_docs=docs_ham, tokens=counts)


def forget_lessons(conn: Connection, comment_ids: Sequence[int]) -> None:
    """Unlearn what the classifier learnt from these comments (their text is about to
    change or go): its counts then hold only what is still there."""
    for row in store.trained_of(conn, comment_ids):
        tokens = sorted(spam_features(row.body, row.author_name, row.author_website))
        was_spam = row.trained == "spam"
        store.learn(conn, int(row.site_id), tokens, -int(was_spam), -int(not was_spam))
    store.clear_trained(conn, comment_ids)


def rejudge_edit(
    ctx: Context, conn: Connection, comment_id: int, status: CommentStatus, body: str
) -> tuple[CommentStatus, str | None] | None:
    """An author's edit goes through the word lists and the spam checks again: a banned
    word refuses it (422); under ``pre`` an approved comment goes back to the queue, under
    ``auto`` when the new text would have been held. Returns (status, reasons) when the
    status changes, None otherwise. The classifier forgets what it learnt of the old text."""
    extra = store.comment_extra(conn, comment_id)
    site_id = store.site_of_comment(conn, comment_id)
    site = ctx.site_by_id(site_id)
    if extra is None or site is None:
        return None
    patterns = ctx.words.patterns(conn, site.id)
    if matches(patterns["banned"], body):
        raise errors.CommentRejected(
            "Your comment contains words this site does not accept; rephrase it", field="body"
        )
    forget_lessons(conn, [comment_id])
    if status is not CommentStatus.APPROVED or site.moderation is Moderation.NONE:
        return None
    reader = store.reader_of_comment(conn, comment_id)
    mark = store.author_mark(conn, site.id, reader) if reader is not None else None
    if mark is not None and mark.trusted:
        return None
    if site.moderation is Moderation.PRE:
        return CommentStatus.PENDING, "pre,edited"
    links = count_links(body)
    evidence = heuristics.assess(body, honeypot=None, elapsed_seconds=None, links=links)
    sig = frozenset(spam_features(body, extra.author_name, extra.author_website))
    verdict = bayes.verdict(sig, _counts(conn, site.id, sig))
    score, reasons = heuristics.combine(verdict.score, evidence)
    held = (list(reasons) or ["spam_score"]) if score >= ctx.settings.spam_hold else []
    if links >= heuristics.MANY_LINKS and "links" not in held:
        held.append("links")
    if matches(patterns["suspect"], body):
        held.append("suspect_word")
    if not held:
        return None
    return CommentStatus.PENDING, ",".join(["edited", *held])[:200]


def learn(conn: Connection, site_id: int, extra: Any, target: CommentStatus) -> str | None:
    """Teach the classifier a moderator's decision (spam or approved), unlearning what it
    learnt of the comment before; returns what the comment now counts as."""
    label = {CommentStatus.SPAM: "spam", CommentStatus.APPROVED: "ham"}.get(target)
    if label is None or extra is None or extra.trained == label or not extra.body:
        return None
    tokens = sorted(spam_features(extra.body, extra.author_name, extra.author_website))
    if extra.trained in ("spam", "ham"):
        was_spam = extra.trained == "spam"
        store.learn(conn, site_id, tokens, -1 if was_spam else 0, 0 if was_spam else -1)
    store.learn(conn, site_id, tokens, int(label == "spam"), int(label == "ham"))
    return label


# --- readers' flags ------------------------------------------------------------------


def flag(
    ctx: Context, site: Site, actor: Actor, comment_id: int, reason: str, note: str = ""
) -> None:
    """A reader reports a comment. One flag per reader (or address) and comment; replays
    change nothing. Enough flags from different readers take it back to the queue."""
    if reason not in FLAG_REASONS:
        raise errors.ValidationFailed(
            "reason must be one of " + ", ".join(FLAG_REASONS), field="reason"
        )
    note = inputs.clean_text(note) if note else ""  # normalising may lengthen it: check after
    if len(note) > 500:
        raise errors.ValidationFailed("A note has at most 500 characters", field="note")
    ctx.limiter.hit("flag:" + actor.key, ctx.settings.flag_rate)
    if actor.reader_id is not None:
        ctx.limiter.hit("flag:a" + actor.address, ctx.settings.flag_rate)
    now = ctx.clock()
    flagger = f"r{actor.reader_id}" if actor.reader_id is not None else f"a{actor.address_key}"
    threshold = ctx.settings.flag_threshold

    def txn(conn: Connection) -> None:
        from voxpop.store import comments as comment_store

        comment = comment_store.get_for_update(conn, comment_id)
        site_id = store.site_of_comment(conn, comment_id) if comment else None
        if comment is None or site_id != site.id or comment.status is not CommentStatus.APPROVED:
            raise errors.UnknownComment(f"No comment {comment_id} to flag")
        if actor.reader_id is not None and comment.reader_id == actor.reader_id:
            raise errors.OwnComment("You cannot flag your own comment")
        added = store.add_flag(
            conn, comment_id=comment_id, flagger=flagger, reason=reason, note=note,
            address_key=actor.address_key or None, created_at=now,
        )  # fmt: skip
        if not added:
            return
        count = store.count_open_flags(conn, comment_id)
        # Readers cost nothing to make: flags from one address count once towards a hold.
        flaggers = store.count_flagging_addresses(conn, comment_id)
        hold = (
            threshold > 0
            and flaggers >= threshold
            and site.moderation is not Moderation.NONE
            and comment.status is CommentStatus.APPROVED
        )
        values: dict[str, Any] = {"flags": count}
        if hold:
            extra = store.comment_extra(conn, comment_id)
            earlier = [r for r in ((extra.reasons if extra else None) or "").split(",") if r]
            reasons = ",".join([*earlier, "flags"])[:200]
            values.update(status=CommentStatus.PENDING.value, reasons=reasons)
        comment_store.update(conn, comment_id, **values)
        if hold:
            article_store.touch(conn, comment.article_id, -1)
            webhooks.comment_moderated(
                ctx, conn, site, comment_id, comment.status, CommentStatus.PENDING, "flags", now
            )
            events.comment_removed(ctx, conn, comment.article_id, comment_id)

    ctx.db.transact(txn)
    webhooks.wake(ctx, site)
    ctx.wake_events()


# --- bans, marks, words, closing -----------------------------------------------------


def _site_by_id(ctx: Context, site_id: int) -> Site:
    site = ctx.site_by_id(site_id)
    if site is None:
        raise errors.UnknownSite("The comment's site is no longer configured")
    return site


def _until(now: datetime, days: int | None) -> datetime | None:
    if days is None or days == 0:
        return None
    if not 1 <= days <= 36500:
        raise errors.ValidationFailed("days must be from 1 to 36500, or 0 for good", field="days")
    return now + timedelta(days=days)


def ban(
    ctx: Context,
    actor: Actor,
    site: Site,
    kind: str,
    value: str,
    days: int | None = None,
    reason: str = "",
) -> int:
    """Ban a reader (value: reader id), an address (value: an address key from a comment)
    or an e-mail address (value: the address) on a site, for ``days`` (None/0: for good)."""
    access.require(actor, "ban.manage", site.name)
    if kind not in BAN_KINDS:
        raise errors.ValidationFailed("kind must be reader, address or email", field="kind")
    value = value.strip()
    is_id = value.isascii() and value.isdigit() and len(value) <= 10
    if kind == "reader" and not (is_id and 1 <= int(value) <= MAX_ID):
        raise errors.ValidationFailed("A reader ban names a reader id", field="value")
    if kind == "address" and not re.fullmatch(r"[0-9a-f]{32}", value):
        raise errors.ValidationFailed("An address ban names an address key", field="value")
    if kind == "email":
        value = email_key(ctx.settings.secret_key, inputs.email(value) or "")
    reason = inputs.clean_text(reason)[:500] if reason else ""
    now = ctx.clock()
    until = _until(now, days)

    def txn(conn: Connection) -> int:
        ban_id = store.add_ban(
            conn, site_id=site.id, kind=kind, value=value, reason=reason,
            created_by=actor.audit_name, created_at=now, until=until,
        )  # fmt: skip
        audit_store.record(
            conn, now, actor.audit_name, "ban.create", f"{kind}:{value}", site.id,
            {"ban": ban_id, "until": until.isoformat() if until else None, "reason": reason},
        )  # fmt: skip
        return ban_id

    return ctx.db.transact(txn)


def ban_author(
    ctx: Context, actor: Actor, comment_id: int, days: int | None = None, reason: str = ""
) -> list[int]:
    """Ban the author of a comment: their reader, and their address while it is known."""
    with ctx.db.read() as conn:
        site_id = store.site_of_comment(conn, comment_id)
        extra = store.comment_extra(conn, comment_id)
        from voxpop.store import comments as comment_store

        comment = comment_store.get(conn, comment_id)
    if site_id is None or comment is None or extra is None:
        raise errors.UnknownComment(f"No comment {comment_id}")
    site = _site_by_id(ctx, site_id)
    access.require(actor, "ban.manage", site.name)
    made = []
    if comment.reader_id is not None:
        made.append(ban(ctx, actor, site, "reader", str(comment.reader_id), days, reason))
    if extra.address_key:
        made.append(ban(ctx, actor, site, "address", extra.address_key, days, reason))
    if not made:
        raise errors.Conflict("Nothing is known of this comment's author to ban")
    return made


def lift_ban(ctx: Context, actor: Actor, ban_id: int) -> None:
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        row = store.get_ban(conn, ban_id)
        if row is None:
            raise errors.NotFound(f"No ban {ban_id}")
        access.require(actor, "ban.manage", _site_by_id(ctx, int(row.site_id)).name)
        if row.lifted_at is None:
            store.lift_ban(conn, ban_id, now)
            audit_store.record(
                conn, now, actor.audit_name, "ban.lift", f"{row.kind}:{row.value}",
                int(row.site_id), {"ban": ban_id},
            )  # fmt: skip

    ctx.db.transact(txn)


def bans(ctx: Context, actor: Actor, site: Site) -> list[Any]:
    access.require(actor, "ban.manage", site.name)
    with ctx.db.read() as conn:
        return store.list_bans(conn, site.id, ctx.clock())


def mark_author(
    ctx: Context,
    actor: Actor,
    site: Site,
    reader_id: int,
    trusted: bool | None = None,
    shadowed: bool | None = None,
) -> None:
    access.require(actor, "author.mark", site.name)
    if not 1 <= reader_id <= MAX_ID:
        raise errors.ValidationFailed("Not a reader id", field="reader_id")
    marks = {k: v for k, v in (("trusted", trusted), ("shadowed", shadowed)) if v is not None}
    if not marks:
        raise errors.ValidationFailed("Say what to mark: trusted or shadowed", field="trusted")
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        from voxpop.store import readers as reader_store

        if not reader_store.exists(conn, reader_id):
            raise errors.NotFound(f"No reader {reader_id}")
        store.set_author_mark(conn, site.id, reader_id, now, **marks)
        for name, value in marks.items():
            action = {"trusted": "author.trust", "shadowed": "author.shadow"}[name]
            audit_store.record(
                conn, now, actor.audit_name, action if value else action.replace(".", ".un"),
                f"reader:{reader_id}", site.id,
            )  # fmt: skip

    ctx.db.transact(txn)


def words(ctx: Context, actor: Actor, site: Site) -> dict[str, list[str]]:
    access.require(actor, "words.manage", site.name)
    with ctx.db.read() as conn:
        return store.word_lists(conn, site.id)


def set_words(ctx: Context, actor: Actor, site: Site, kind: str, entries: Sequence[str]) -> int:
    """Replace one of a site's word lists (entries: words or phrases, one each)."""
    access.require(actor, "words.manage", site.name)
    if kind not in WORD_KINDS:
        raise errors.ValidationFailed("kind must be banned or suspect", field="kind")
    cleaned = sorted({_fold(e).strip() for e in entries if e.strip()})
    if len(cleaned) > MAX_WORDS:
        raise errors.ValidationFailed(f"A list holds at most {MAX_WORDS} entries", field="words")
    for entry in cleaned:
        if len(entry) > 100 or any(unicodedata.category(ch) in ("Cc", "Cf") for ch in entry):
            raise errors.ValidationFailed(
                "An entry is one word or phrase of at most 100 characters", field="words"
            )
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        store.replace_words(conn, site.id, kind, cleaned, now)
        audit_store.record(
            conn, now, actor.audit_name, "words.update", f"words:{kind}", site.id,
            {"count": len(cleaned)},
        )  # fmt: skip

    ctx.db.transact(txn)
    ctx.words.forget(site.id)
    return len(cleaned)


def close_article(ctx: Context, actor: Actor, site: Site, uri: str, closed: bool) -> None:
    access.require(actor, "article.close", site.name)
    path = inputs.uri(uri)
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        article = article_store.get(conn, site.id, path)
        if article is None:
            raise errors.UnknownArticle(f"No article {path}")
        store.set_closed(conn, article.id, now if closed else None)
        action = "article.close" if closed else "article.reopen"
        audit_store.record(conn, now, actor.audit_name, action, f"article:{path}", site.id)

    ctx.db.transact(txn)


def is_closed(ctx: Context, site: Site, uri: str) -> bool:
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, inputs.uri(uri))
        return article is not None and store.closed_at(conn, article.id) is not None
