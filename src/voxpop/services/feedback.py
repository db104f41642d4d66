"""Inline feedback: comments anchored to a passage of an article's registered text.

The publisher registers an article's text (``register``); each change is a revision and
re-anchors the article's feedback once, here on the server (``voxpop.anchoring``: diff
first, verify second). A reader's new feedback is checked against the current revision
(``check_anchor``): a quote that is not in the text is refused, so nothing is stored
against text it was not written about. ``locate`` answers where feedback lies in some
other text (a page that differs from the registered revision) and stores nothing.

A stored anchor is ``{"selector": [...], "state", "original": {"selector": [...]},
"revision": n, "method": "..."}``: ``selector`` is valid for ``revision`` (empty when the
passage is lost), ``original`` is what the reader selected and never changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.anchoring import html as anchor_html
from voxpop.anchoring import selectors as sel
from voxpop.anchoring.canonical import canonical_text
from voxpop.anchoring.reanchor import Locator, Note, Result, reanchor
from voxpop.model import Site
from voxpop.services import access, inputs
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import articles as article_store
from voxpop.store import audit as audit_store
from voxpop.store import moderation as moderation_store
from voxpop.store import revisions as revision_store

MAX_TEXT = 1_000_000  # code points of an article's canonical text
LOST = ("orphaned", "ambiguous")


@dataclass(frozen=True, slots=True)
class Registered:
    """What registering a text did: the revision and where the feedback now stands.
    ``anchored`` includes ``modified`` ones; anchored + orphaned + ambiguous is all the
    article's feedback; ``moved`` counts the anchored ones whose position changed."""

    uri: str
    revision: int
    created: bool
    anchored: int
    orphaned: int
    ambiguous: int
    moved: int
    modified: int


@dataclass(frozen=True, slots=True)
class Located:
    comment_id: int
    start: int | None
    end: int | None
    state: str


@dataclass(frozen=True, slots=True)
class ArticleText:
    uri: str
    title: str
    revision: int
    questions: list[dict[str, Any]]
    revised_at: datetime | None


@dataclass(frozen=True, slots=True)
class Found:
    """Where a passage lies in a text (``start``/``end`` None when it was not found)."""

    start: int | None
    end: int | None
    state: str
    method: str


def _found(result: Result) -> Found:
    position = result.selectors.position if result.selectors else None
    if position is None:
        return Found(None, None, result.state.value, result.method.value)
    return Found(position.start, position.end, result.state.value, result.method.value)


def reanchor_many(
    old: str, new: str, notes: list[tuple[sel.Selectors, sel.Selectors | None]]
) -> list[Found]:
    """Each note (original, current on ``old`` or None when lost there) on ``new``: one
    diff for all of them."""
    return [_found(r) for r in reanchor(old, new, [Note(o, c) for o, c in notes])]


def locate_many(
    text: str,
    notes: list[tuple[sel.Selectors, sel.Selectors | None]],
    base: str | None = None,
) -> list[Found]:
    """Each note (original, selectors valid for ``base``) in ``text``: through one diff
    from ``base`` when given (the registered revision the page differs from), else by the
    gated search; the same gates either way."""
    locator = Locator(text, base=base)
    return [_found(locator.locate(c or o, original=o)) for o, c in notes]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def canonical(text: str | None, html: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The canonical text of what a publisher or a page sent, and the editor's questions
    marked in HTML (``<mark data-voxpop-question="…">``)."""
    if (text is None) == (html is None):
        raise errors.ValidationFailed("Send the article as text or as html", field="text")
    if html is not None:
        found, marks = anchor_html.questions(html)
        result = found.text
        questions = [
            {
                "question": q.question,
                "selector": sel.to_json(sel.make(result, q.start, q.end))["selector"],
            }
            for q in marks
        ]
    else:
        assert text is not None
        result, questions = canonical_text(text).text, []
    if len(result) > MAX_TEXT:
        raise errors.ValidationFailed(
            f"An article's text is at most {MAX_TEXT} characters", field="text"
        )
    return result, questions


def anchor_json(found: Found, original: dict[str, Any], revision: int, text: str) -> dict[str, Any]:
    selector: list[dict[str, Any]] = []
    if found.start is not None and found.end is not None:
        selector = sel.to_json(sel.make(text, found.start, found.end))["selector"]
    return {
        "selector": selector,
        "state": found.state,
        "original": original,
        "revision": revision,
        "method": found.method,
    }


def _position(anchor: dict[str, Any]) -> tuple[int, int] | None:
    for item in anchor.get("selector") or []:
        if item.get("type") == sel.POSITION_TYPE:
            return int(item["start"]), int(item["end"])
    return None


# -- publishers ------------------------------------------------------------------------


def register(
    ctx: Context,
    actor: Actor,
    site: Site,
    uri: str,
    title: str | None,
    text: str | None,
    html: str | None,
) -> Registered:
    """Register the article's text as a new revision (unless it is unchanged) and
    re-anchor its feedback against it."""
    access.require(actor, "article.register", site.name)
    path = inputs.uri(uri)
    clean_title = inputs.title(title)
    new_text, questions = canonical(text, html)
    digest = _hash(new_text)
    now = ctx.clock()

    for _ in range(8):
        # Re-anchoring is CPU work: done outside the writer, then stored if nothing changed.
        with ctx.db.read() as conn:
            article = article_store.get(conn, site.id, path)
            current = revision_store.latest(conn, article.id) if article else None
            notes = revision_store.feedback(conn, article.id) if article else []
        seen = current.number if current else 0
        unchanged = current is not None and current.text_hash == digest
        if unchanged:
            assert current is not None
            assert article is not None
            if current.questions == questions and clean_title in ("", article.title):
                return _count(path, seen, False, {f.id: f.anchor for f in notes}, {})
        number = seen if unchanged else seen + 1
        anchors = {} if unchanged else _reanchor(current, new_text, number, notes)

        stored = _RevisionWrite(
            site.id,
            path,
            clean_title,
            seen,
            number,
            new_text,
            digest,
            questions,
            anchors,
            frozenset(f.id for f in notes),
            now,
        )
        if ctx.db.transact(stored):
            before = {f.id: f.anchor for f in notes}
            return _count(path, number, not unchanged, {**before, **anchors}, before)
    raise errors.Conflict("The article changed while it was being registered; try again")


@dataclass(frozen=True, slots=True)
class _RevisionWrite:
    """Store a computed revision, unless another one came first (then: False)."""

    site_id: int
    path: str
    title: str
    seen: int
    number: int
    text: str
    digest: str
    questions: list[dict[str, Any]]
    anchors: dict[int, dict[str, Any]]
    note_ids: frozenset[int]
    now: Any

    def __call__(self, conn: Connection) -> bool:
        row = article_store.get_or_create(conn, self.site_id, self.path, self.title)
        if self.title and row.title != self.title:
            article_store.set_title(conn, row.id, self.title)
        latest = revision_store.latest(conn, row.id)
        if (latest.number if latest else 0) != self.seen:
            return False
        if (
            self.number != self.seen
            and {f.id for f in revision_store.feedback(conn, row.id)} != self.note_ids
        ):
            return False  # feedback arrived meanwhile: re-anchor it too
        if self.number == self.seen:
            revision_store.set_questions(conn, row.id, self.seen, self.questions)
        else:
            revision_store.insert(
                conn, row.id, self.number, self.text, self.digest, self.questions, self.now
            )
            revision_store.set_anchors(conn, self.anchors)
        article_store.touch(conn, row.id)
        return True


def _reanchor(
    current: revision_store.Revision | None,
    new_text: str,
    number: int,
    notes: list[revision_store.Feedback],
) -> dict[int, dict[str, Any]]:
    """New anchors for every note, always scored against the reader's original selectors.
    Notes of the previous revision go through one diff of the two texts (lost ones too, as
    ``current=None``, so a passage that comes back is found); notes made before any text
    was registered are searched for in the first one."""
    out: dict[int, dict[str, Any]] = {}
    follow: list[tuple[revision_store.Feedback, sel.Selectors, sel.Selectors | None]] = []
    search: list[tuple[revision_store.Feedback, sel.Selectors]] = []
    for note in notes:
        original = _original(note)
        if original is None:
            # Stored before selectors were validated as now, and unreadable: lost for good.
            out[note.id] = anchor_json(_NOWHERE, note.anchor.get("original", {}), number, new_text)
        elif current is not None and note.anchor.get("revision") == current.number:
            lost = note.anchor.get("state") in LOST
            follow.append((note, original, None if lost else _current(note)))
        else:
            search.append((note, original))
    if follow:
        assert current is not None
        found = reanchor_many(current.text, new_text, [(o, c) for _, o, c in follow])
        for (note, _, _), result in zip(follow, found, strict=True):
            out[note.id] = anchor_json(result, note.anchor["original"], number, new_text)
    if search:
        found = locate_many(new_text, [(o, None) for _, o in search])
        for (note, _), result in zip(search, found, strict=True):
            out[note.id] = anchor_json(result, note.anchor["original"], number, new_text)
    return out


_NOWHERE = Found(None, None, "orphaned", "none")


def _original(note: revision_store.Feedback) -> sel.Selectors | None:
    try:
        return sel.parse(note.anchor.get("original"))
    except sel.AnchorError:
        return None


def _current(note: revision_store.Feedback) -> sel.Selectors | None:
    try:
        return sel.parse({"selector": note.anchor.get("selector")})
    except sel.AnchorError:
        return None


def _count(
    uri: str,
    revision: int,
    created: bool,
    anchors: dict[int, dict[str, Any]],
    before: dict[int, dict[str, Any]],
) -> Registered:
    states = [a.get("state") for a in anchors.values()]
    moved = 0
    for comment_id, anchor in anchors.items():
        if anchor.get("state") in LOST or comment_id not in before:
            continue
        old = before[comment_id]
        if old.get("state") not in LOST and _position(old) != _position(anchor):
            moved += 1
    return Registered(
        uri=uri,
        revision=revision,
        created=created,
        anchored=sum(s in ("anchored", "modified") for s in states),
        orphaned=states.count("orphaned"),
        ambiguous=states.count("ambiguous"),
        moved=moved,
        modified=states.count("modified"),
    )


def article_text(ctx: Context, site: Site, uri: str) -> ArticleText:
    path = inputs.uri(uri)
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        current = revision_store.latest(conn, article.id) if article else None
    if article is None:
        return ArticleText(path, "", 0, [], None)  # not known yet: nothing registered
    if current is None:
        return ArticleText(path, article.title, 0, [], None)
    return ArticleText(path, article.title, current.number, current.questions, current.created_at)


# -- readers ---------------------------------------------------------------------------


def check_anchor(ctx: Context, site: Site, uri: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The anchor to store for a reader's new feedback. Against a registered text the
    passage must be found (``422 anchor_not_found`` otherwise) and its selectors are
    stored as found there; without one, the selectors are kept as given until the
    article's first revision re-anchors them."""
    try:
        given = sel.parse(raw)
    except sel.AnchorError as exc:
        raise errors.ValidationFailed(exc.message, field=f"anchor.{exc.field}") from None
    if given.quote is None:
        raise errors.ValidationFailed(
            "Inline feedback needs a TextQuoteSelector: the quoted passage", field="anchor"
        )
    original = sel.to_json(given)
    path = inputs.uri(uri)
    current = _current_text(ctx, site, path)
    if current is None:
        return {
            "selector": original["selector"],
            "state": "anchored",
            "original": original,
            "revision": 0,
            "method": "unverified",
        }
    number, text = current
    found = locate_many(text, [(given, None)])[0]
    if found.state in LOST:
        raise errors.AnchorNotFound(
            "The selected passage is not in the article's current text; reload and select again"
        )
    return anchor_json(found, original, number, text)


def _current_text(ctx: Context, site: Site, path: str) -> tuple[int, str] | None:
    """(revision, canonical text) of the article's current revision, if it has one."""
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None or not article.revision:
            return None
        cached = ctx.texts.get((site.id, path))
        if cached and cached[0] == article.id and cached[1] == article.revision:
            return cached[1], cached[2]
        current = revision_store.latest(conn, article.id)
    if current is None:
        return None
    ctx.texts.put((site.id, path), (article.id, current.number, current.text))
    return current.number, current.text


def locate(
    ctx: Context, site: Site, actor: Actor, uri: str, text: str | None, html: str | None
) -> list[Located]:
    """Where each piece of the article's feedback lies in ``text`` (a page's own text):
    followed through one diff from the registered revision when there is one, otherwise
    searched for; scored against the original selectors with the same gates as
    re-anchoring. Stores nothing; cached per article version and text hash."""
    page_text, _questions = canonical(text, html)
    path = inputs.uri(uri)
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None:
            raise errors.UnknownArticle(f"No article {path}", field="uri")
        key = (article.id, article.version, len(page_text), _hash(page_text))
        cached: list[Located] | None = ctx.located.get(key)
        if cached is not None:
            return cached
        ctx.limiter.hit("anchor:a" + actor.address, ctx.settings.anchor_rate)
        current = revision_store.latest(conn, article.id) if article.revision else None
        notes = [
            n
            for n in revision_store.feedback(conn, article.id)
            if n.status == "approved" and _original(n) is not None
        ]
    pairs: list[tuple[sel.Selectors, sel.Selectors | None]] = []
    for note in notes:
        original = _original(note)
        assert original is not None
        valid_for_base = (
            current is not None
            and note.anchor.get("revision") == current.number
            and note.anchor.get("state") not in LOST
        )
        pairs.append((original, _current(note) if valid_for_base else None))
    found = locate_many(page_text, pairs, base=current.text if current else None)
    result = [Located(n.id, f.start, f.end, f.state) for n, f in zip(notes, found, strict=True)]
    ctx.located.put(key, result)
    return result


# -- moderators ------------------------------------------------------------------------


def lost(
    ctx: Context, actor: Actor, site: Site, uri: str | None
) -> list[tuple[str, int, dict[str, Any]]]:
    """Orphaned and ambiguous feedback of the site (or one article): (uri, id, anchor)."""
    access.require(actor, "feedback.manage", site.name)
    path = inputs.uri(uri) if uri else None
    with ctx.db.read() as conn:
        return revision_store.lost(conn, site.id, path)


def _site_of(ctx: Context, comment_id: int) -> str | None:
    """The name of a comment's site (None when there is no such comment)."""
    with ctx.db.read() as conn:
        site_id = moderation_store.site_of_comment(conn, comment_id)
    site = ctx.site_by_id(site_id)
    return site.name if site else None


def reattach(ctx: Context, actor: Actor, comment_id: int, start: int, end: int) -> dict[str, Any]:
    """A moderator attaches feedback by hand to ``[start, end)`` of the current text."""
    access.require(actor, "feedback.manage", _site_of(ctx, comment_id))
    now = ctx.clock()

    def txn(conn: Connection) -> dict[str, Any]:
        found = revision_store.feedback_one(conn, comment_id)
        if found is None:
            raise errors.UnknownComment(f"No inline feedback {comment_id}")
        article_id, note = found
        current = revision_store.latest(conn, article_id)
        if current is None:
            raise errors.ValidationFailed("The article has no registered text to attach to")
        try:
            made = sel.make(current.text, start, end)
        except sel.AnchorError as exc:
            raise errors.ValidationFailed(exc.message, field="start") from None
        anchor = {
            "selector": sel.to_json(made)["selector"],
            "state": "anchored",
            "original": note.anchor["original"],
            "revision": current.number,
            "method": "manual",
        }
        revision_store.set_anchors(conn, {comment_id: anchor})
        article_store.touch(conn, article_id)
        audit_store.record(
            conn,
            now,
            actor.audit_name,
            "feedback.reattach",
            f"comment:{comment_id}",
            None,
            {"from": note.anchor.get("state"), "start": start, "end": end},
        )
        return anchor

    result: dict[str, Any] = ctx.db.transact(txn)
    return result
