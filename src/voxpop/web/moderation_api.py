"""The JSON API of moderation, v1: readers' flags, and the moderators' queue, bans, author
marks, word lists, closed articles, audit log and webhook delivery log (admin token as a
bearer; the admin UI at /admin calls the same services with a signed-in session)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from voxpop import errors
from voxpop.model import MAX_ID
from voxpop.services import moderation, webhooks
from voxpop.services import queue as queue_service
from voxpop.web import body, serialize
from voxpop.web.api import _errors, json_response
from voxpop.web.deps import actor, context, known_query
from voxpop.web.schemas import _IN, RetriedOut, SiteName

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])
PRIVATE = {"Cache-Control": "private, no-store"}

Id = Annotated[int, Path(ge=1, le=MAX_ID)]
SiteQ = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class FlagIn(BaseModel):
    model_config = _IN
    reason: Literal["spam", "abuse", "off_topic", "other"]
    note: Annotated[str, Field(max_length=500)] = ""


class FlaggedOut(BaseModel):
    status: Literal["received"]


class BanIn(BaseModel):
    model_config = _IN
    site: SiteName = "default"
    kind: Literal["reader", "address", "email"]
    value: Annotated[str, Field(min_length=1, max_length=254)]
    days: Annotated[int, Field(ge=0, le=36500, description="0 or absent: for good")] | None = None
    reason: Annotated[str, Field(max_length=500)] = ""


class AuthorBanIn(BaseModel):
    model_config = _IN
    days: Annotated[int, Field(ge=0, le=36500)] | None = None
    reason: Annotated[str, Field(max_length=500)] = ""


class BanOut(BaseModel):
    id: int
    kind: str
    value: str
    reason: str
    created_by: str
    created_at: str
    until: str | None


class BansOut(BaseModel):
    items: list[BanOut]


class BannedOut(BaseModel):
    bans: list[int]


class AuthorMarkIn(BaseModel):
    model_config = _IN
    site: SiteName = "default"
    trusted: bool | None = None
    shadowed: bool | None = None


class WordsIn(BaseModel):
    model_config = _IN
    site: SiteName = "default"
    kind: Literal["banned", "suspect"]
    words: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=2000)]


class WordsOut(BaseModel):
    banned: list[str]
    suspect: list[str]


class CloseIn(BaseModel):
    model_config = _IN
    site: SiteName = "default"
    uri: Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s\x00-\x1f\x7f]+$")]
    closed: bool


class DoneOut(BaseModel):
    status: Literal["ok"]


class QueueItemOut(BaseModel):
    id: int
    status: str
    uri: str
    title: str
    parent_id: int | None
    parent_author: str | None
    reader_id: int | None
    author: dict[str, str | None]
    body: str
    html: str
    created_at: str
    spam_score: float | None
    reasons: list[str]
    flags: list[dict[str, str]]
    history: dict[str, int]
    trusted: bool
    shadowed: bool


class QueueOut(BaseModel):
    tab: str
    counts: dict[str, int]
    items: list[QueueItemOut]
    next_cursor: str | None


class AuditEntryOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any] | None


class AuditOut(BaseModel):
    items: list[AuditEntryOut]
    next_before: int | None


class WebhookRetryIn(BaseModel):
    # Unknown keys are refused: ``{"id": [5]}`` (for ``ids``) would retry every failed call.
    model_config = ConfigDict(strict=True, extra="forbid")
    site: SiteName | None = Field(
        default=None, description="the site whose calls to retry; omitted: every site"
    )
    ids: Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=1000)] | None = (
        Field(default=None, description="deliveries to queue again; omitted: every failed one")
    )


class WebhookDeliveryOut(BaseModel):
    id: int
    site: str | None
    event: str
    url: str
    status: Literal["queued", "sent", "failed"]
    attempts: int
    response_status: int | None
    last_error: str | None
    created_at: str
    sent_at: str | None
    due_at: str


class WebhooksOut(BaseModel):
    counts: dict[str, int]
    items: list[WebhookDeliveryOut]
    next_cursor: str | None


MODELS = (FlagIn, BanIn, AuthorBanIn, AuthorMarkIn, WordsIn, CloseIn, WebhookRetryIn)


@router.post(
    "/comments/{comment_id}/flag",
    status_code=202,
    response_model=FlaggedOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422, 429),
    summary="Flag a comment for the moderators, with a reason (once per reader)",
    openapi_extra=body.documented(FlagIn),
)
async def flag(request: Request, comment_id: Id, site: SiteQ = "default") -> Response:
    payload = await body.parse(request, FlagIn)
    ctx = context(request)
    target = ctx.site(site)
    ctx.check_origin(target, request.headers.get("origin"))
    await run_in_threadpool(
        moderation.flag, ctx, target, actor(request), comment_id, payload.reason, payload.note
    )
    return json_response({"status": "received"}, 202, PRIVATE)


def queue_item(page: queue_service.QueuePage, row: Any) -> dict[str, Any]:
    mark = page.marks.get(row.reader_id) if row.reader_id is not None else None
    return {
        "id": row.id,
        "status": row.status,
        "uri": row.uri,
        "title": row.title,
        "parent_id": row.parent_id,
        "parent_author": row.parent_author,
        "reader_id": row.reader_id,
        "author": {
            "name": row.author_name,
            "email": row.author_email,
            "website": row.author_website,
        },
        "body": row.body,
        "html": row.html,
        "created_at": serialize.iso(row.created_at) or "",
        "spam_score": row.spam_score,
        "reasons": [r for r in (row.reasons or "").split(",") if r],
        "flags": [
            {"reason": f.reason, "note": f.note, "at": serialize.iso(f.created_at) or ""}
            for f in page.flags.get(row.id, [])
        ],
        "history": page.histories.get(row.reader_id, {}) if row.reader_id is not None else {},
        "trusted": bool(mark and mark.trusted),
        "shadowed": bool(mark and mark.shadowed),
    }


@router.get(
    "/admin/queue",
    response_model=QueueOut,
    responses=_errors(400, 401, 403, 404, 422),
    summary="The moderation queue: a tab's comments with their context (moderators)",
)
def queue(
    request: Request,
    site: SiteQ = "default",
    tab: Literal["pending", "flagged", "spam", "rejected", "shadowed", "approved"] = "pending",
    q: Annotated[str, Query(max_length=200)] = "",
    author: Annotated[str, Query(max_length=200)] = "",
    article: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    ctx = context(request)
    page = queue_service.queue(
        ctx, actor(request), ctx.site(site), tab, q, author, article, cursor, limit
    )
    data = {
        "tab": page.tab,
        "counts": page.counts,
        "items": [queue_item(page, r) for r in page.items],
        "next_cursor": page.next_cursor,
    }
    return json_response(data, headers=PRIVATE)


@router.post(
    "/admin/bans",
    status_code=201,
    response_model=BannedOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Ban a reader, an address key or an e-mail address from a site (moderators)",
    openapi_extra=body.documented(BanIn),
)
async def create_ban(request: Request) -> Response:
    p = await body.parse(request, BanIn)
    ctx = context(request)
    ban_id = await run_in_threadpool(
        moderation.ban, ctx, actor(request), ctx.site(p.site), p.kind, p.value, p.days, p.reason
    )
    return json_response({"bans": [ban_id]}, 201, PRIVATE)


@router.post(
    "/admin/comments/{comment_id}/ban",
    status_code=201,
    response_model=BannedOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422),
    summary="Ban a comment's author: their reader and their address (moderators)",
    openapi_extra=body.documented(AuthorBanIn),
)
async def ban_author(request: Request, comment_id: Id) -> Response:
    p = await body.parse(request, AuthorBanIn)
    ctx = context(request)
    made = await run_in_threadpool(
        moderation.ban_author, ctx, actor(request), comment_id, p.days, p.reason
    )
    return json_response({"bans": made}, 201, PRIVATE)


def ban_item(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "value": row.value,
        "reason": row.reason,
        "created_by": row.created_by,
        "created_at": serialize.iso(row.created_at) or "",
        "until": serialize.iso(row.until),
    }


@router.get(
    "/admin/bans",
    response_model=BansOut,
    responses=_errors(401, 403, 404, 422),
    summary="A site's active bans (moderators)",
)
def list_bans(request: Request, site: SiteQ = "default") -> Response:
    ctx = context(request)
    rows = moderation.bans(ctx, actor(request), ctx.site(site))
    return json_response({"items": [ban_item(r) for r in rows]}, headers=PRIVATE)


@router.delete(
    "/admin/bans/{ban_id}",
    status_code=204,
    responses=_errors(401, 403, 404, 422),
    summary="Lift a ban (moderators)",
)
def lift_ban(request: Request, ban_id: Id) -> Response:
    moderation.lift_ban(context(request), actor(request), ban_id)
    return Response(status_code=204)


@router.put(
    "/admin/authors/{reader_id}",
    response_model=DoneOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Trust an author (their comments skip the queue) or shadow-ban them (moderators)",
    openapi_extra=body.documented(AuthorMarkIn),
)
async def mark_author(request: Request, reader_id: Id) -> Response:
    p = await body.parse(request, AuthorMarkIn)
    ctx = context(request)
    await run_in_threadpool(
        moderation.mark_author, ctx, actor(request), ctx.site(p.site), reader_id,
        p.trusted, p.shadowed,
    )  # fmt: skip
    return json_response({"status": "ok"}, headers=PRIVATE)


@router.get(
    "/admin/words",
    response_model=WordsOut,
    responses=_errors(401, 403, 404, 422),
    summary="A site's banned and suspect word lists (admins)",
)
def get_words(request: Request, site: SiteQ = "default") -> Response:
    ctx = context(request)
    return json_response(moderation.words(ctx, actor(request), ctx.site(site)), headers=PRIVATE)


@router.put(
    "/admin/words",
    response_model=WordsOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Replace one of a site's word lists (admins)",
    openapi_extra=body.documented(WordsIn),
)
async def put_words(request: Request) -> Response:
    p = await body.parse(request, WordsIn)
    ctx = context(request)
    who, site = actor(request), ctx.site(p.site)
    await run_in_threadpool(moderation.set_words, ctx, who, site, p.kind, p.words)
    lists = await run_in_threadpool(moderation.words, ctx, who, site)
    return json_response(lists, headers=PRIVATE)


@router.post(
    "/admin/articles/close",
    response_model=DoneOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Close an article's comments, or open them again (moderators)",
    openapi_extra=body.documented(CloseIn),
)
async def close_article(request: Request) -> Response:
    p = await body.parse(request, CloseIn)
    ctx = context(request)
    await run_in_threadpool(
        moderation.close_article, ctx, actor(request), ctx.site(p.site), p.uri, p.closed
    )
    return json_response({"status": "ok"}, headers=PRIVATE)


def audit_item(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "at": serialize.iso(row["at"]) or "",
        "actor": row["actor"],
        "action": row["action"],
        "target": row["target"],
        "detail": row["detail"],
    }


@router.get(
    "/admin/audit",
    response_model=AuditOut,
    responses=_errors(401, 403, 404, 422),
    summary="The audit log, newest first: who did what (moderators)",
)
def audit(
    request: Request,
    site: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    action: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    ctx = context(request)
    rows = queue_service.audit_log(
        ctx, actor(request), ctx.site(site) if site else None, before, limit + 1, action
    )
    more = len(rows) > limit
    rows = rows[:limit]
    data = {
        "items": [audit_item(r) for r in rows],
        "next_before": rows[-1]["id"] if more and rows else None,
    }
    return json_response(data, headers=PRIVATE)


# -- webhooks ------------------------------------------------------------------------------


def webhook_item(ctx: Any, row: Any) -> dict[str, Any]:
    site = ctx.site_by_id(row["site_id"])
    return {
        "id": row["id"],
        "site": site.name if site else None,
        "event": row["event"],
        "url": row["url"],
        "status": row["status"],
        "attempts": row["attempts"],
        "response_status": row["response_status"],
        "last_error": row["last_error"],
        "created_at": serialize.iso(row["created_at"]),
        "sent_at": serialize.iso(row["sent_at"]),
        "due_at": serialize.iso(row["due_at"]),
    }


def _before(cursor: str | None) -> int | None:
    """A listing's cursor is the id below which the next page starts."""
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 10):
        raise errors.InvalidCursor("The cursor does not belong to this listing")
    return int(cursor)


@router.get(
    "/admin/webhooks",
    response_model=WebhooksOut,
    responses=_errors(400, 401, 403, 404, 422),
    summary="The webhook delivery log, newest first: each call, its attempts and last "
    "error (admins)",
)
def webhook_log(
    request: Request,
    site: SiteQ | None = None,
    status: Literal["queued", "sent", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=16)] = None,
) -> Response:
    ctx = context(request)
    counts, rows = webhooks.deliveries(
        ctx, actor(request), ctx.site(site) if site else None, status, _before(cursor), limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    data = {
        "counts": counts,
        "items": [webhook_item(ctx, r) for r in rows],
        "next_cursor": str(rows[-1]["id"]) if more and rows else None,
    }
    return json_response(data, headers=PRIVATE)


@router.post(
    "/admin/webhooks/retry",
    response_model=RetriedOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Queue failed webhook calls again, due now (admins)",
    openapi_extra=body.documented(WebhookRetryIn),
)
async def retry_webhooks(request: Request) -> Response:
    p = await body.parse(request, WebhookRetryIn)
    ctx = context(request)
    site = ctx.site(p.site) if p.site else None
    queued = await run_in_threadpool(webhooks.retry, ctx, actor(request), site, p.ids)
    return json_response({"queued": queued}, headers=PRIVATE)
