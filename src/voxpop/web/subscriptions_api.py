"""The JSON API of notifications, v1: subscribing, and the operators' view of the outbox."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from voxpop.model import MAX_ID
from voxpop.services import delivery
from voxpop.services import subscriptions as subscription_service
from voxpop.services.identity import reader_token
from voxpop.web import body, serialize
from voxpop.web.api import _errors, json_response
from voxpop.web.deps import actor, context, known_query
from voxpop.web.schemas import (
    OutboxOut,
    OutboxRetryIn,
    RetriedOut,
    SubscribedOut,
    SubscriptionIn,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

PRIVATE = {"Cache-Control": "private, no-store"}
ACCEPTED = (
    "If this address needs confirming, a mail with a link is on its way; notifications "
    "start once the subscription is confirmed."
)


@router.post(
    "/subscriptions",
    status_code=202,
    response_model=SubscribedOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422, 429),
    summary="Subscribe an e-mail address to an article's new comments (double opt-in)",
    openapi_extra=body.documented(SubscriptionIn),
)
async def subscribe(request: Request) -> Response:
    payload = await body.parse(request, SubscriptionIn)
    ctx = context(request)
    site = ctx.site(payload.site)
    ctx.check_origin(site, request.headers.get("origin"))
    wanted = subscription_service.Request(
        uri=payload.uri,
        email=payload.email,
        scope=payload.scope,
        delivery=payload.delivery,
        comment_id=payload.comment_id,
        title=payload.title,
        language=payload.lang,
    )
    done = await run_in_threadpool(
        subscription_service.subscribe, ctx, site, actor(request), wanted
    )
    data: dict[str, Any] = {"status": "accepted", "detail": ACCEPTED}
    if done.minted:
        data["reader_token"] = reader_token(ctx.settings.secret_key, done.reader_id)
    return json_response(data, 202, PRIVATE)


def _item(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "status": row["status"],
        "to": row["email"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "due_at": serialize.iso(row["due_at"]),
        "sent_at": serialize.iso(row["sent_at"]),
        "created_at": serialize.iso(row["created_at"]),
        "article_id": row["article_id"],
        "comment_id": row["comment_id"],
        "reason": row["reason"],
    }


Status = Literal["queued", "sent", "failed", "dropped", "digest", "bundled"]


@router.get(
    "/admin/outbox",
    response_model=OutboxOut,
    responses=_errors(401, 403, 422),
    summary="The mail outbox: counts per status and the latest rows, failing ones with "
    "their last error (moderators)",
)
def outbox(
    request: Request,
    status: Status | None = None,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="rows older than this id")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    ctx = context(request)
    counts, rows = delivery.outbox(ctx, actor(request), status, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    data = {
        "counts": counts,
        "items": [_item(r) for r in rows],
        "next_before": rows[-1]["id"] if more and rows else None,
    }
    return json_response(data, headers=PRIVATE)


@router.post(
    "/admin/outbox/retry",
    response_model=RetriedOut,
    responses=_errors(400, 401, 403, 413, 415, 422),
    summary="Queue failed mails again, due now (moderators)",
    openapi_extra=body.documented(OutboxRetryIn),
)
async def retry(request: Request) -> Response:
    payload = await body.parse(request, OutboxRetryIn)
    ctx = context(request)
    queued = await run_in_threadpool(delivery.retry, ctx, actor(request), payload.ids)
    return json_response({"queued": queued}, headers=PRIVATE)
