"""The JSON API of inline feedback, v1: article texts, anchoring, W3C annotations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from voxpop.model import Comment, Filter, Sort
from voxpop.services import feedback as feedback_service
from voxpop.services import threads
from voxpop.web import body, serialize
from voxpop.web.api import CommentId, SiteQ, Uri, _errors, json_response
from voxpop.web.deps import actor, context, known_query
from voxpop.web.schemas import (
    AnchorAt,
    AnchorOut,
    ArticleIn,
    ArticleOut,
    LocatedOut,
    LocateIn,
    LostOut,
    RegisteredOut,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

ANNOTATION_CONTEXT = "http://www.w3.org/ns/anno.jsonld"
ANNOTATION_MEDIA = f'application/ld+json; profile="{ANNOTATION_CONTEXT}"'


@router.put(
    "/articles",
    response_model=RegisteredOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422),
    summary="Register or update an article's text; re-anchors its inline feedback (admin)",
    openapi_extra=body.documented(ArticleIn),
)
async def put_article(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    payload = await body.parse(request, ArticleIn)
    ctx = context(request)
    done = await _in_thread(
        feedback_service.register,
        ctx,
        actor(request),
        ctx.site(site),
        uri,
        payload.title,
        payload.text,
        payload.html,
    )
    return json_response(
        {
            "uri": done.uri,
            "revision": done.revision,
            "created": done.created,
            "anchored": done.anchored,
            "orphaned": done.orphaned,
            "ambiguous": done.ambiguous,
            "moved": done.moved,
            "modified": done.modified,
        }
    )


@router.get(
    "/articles",
    response_model=ArticleOut,
    responses=_errors(404, 422),
    summary="An article's title, current revision and the editor's questions",
)
def get_article(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    ctx = context(request)
    found = feedback_service.article_text(ctx, ctx.site(site), uri)
    return json_response(
        {
            "uri": found.uri,
            "title": found.title,
            "revision": found.revision,
            "questions": found.questions,
        },
        headers={"Cache-Control": "no-cache"},
    )


@router.post(
    "/anchor",
    response_model=list[LocatedOut],
    responses=_errors(400, 404, 413, 415, 422, 429),
    summary="Where each inline feedback of an article lies in a given text; stores nothing",
    openapi_extra=body.documented(LocateIn),
)
async def locate(request: Request) -> Response:
    payload = await body.parse(request, LocateIn)
    ctx = context(request)
    found = await _in_thread(
        feedback_service.locate,
        ctx,
        ctx.site(payload.site),
        actor(request),
        payload.uri,
        payload.text,
        payload.html,
    )
    return json_response(
        [
            {"comment_id": f.comment_id, "start": f.start, "end": f.end, "state": f.state}
            for f in found
        ]
    )


@router.get(
    "/annotations",
    responses={
        200: {
            "description": "A W3C Web Annotation AnnotationPage (JSON-LD)",
            "content": {"application/ld+json": {"schema": {"type": "object"}}},
        },
        **_errors(400, 404, 422),
    },
    summary="An article's inline feedback as W3C Web Annotations",
)
def annotation_page(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    ctx = context(request)
    target = ctx.site(site)
    page = threads.thread(ctx, target, uri, Sort.OLD, Filter.FEEDBACK, threads.MAX_LIMIT, None)
    base = ctx.settings.public_url
    path = page.article.uri if page.article else uri
    source = base + path if path.startswith("/") else path
    revised = None
    if page.article is not None and page.article.revision:
        revised = feedback_service.article_text(ctx, target, path).revised_at
    items = [_annotation(base, source, revised, c) for c in _flatten(page.items) if c.anchor]
    document = {
        "@context": ANNOTATION_CONTEXT,
        "id": f"{base}/api/v1/annotations?uri={quote(path, safe='/')}",
        "type": "AnnotationPage",
        "startIndex": 0,
        "items": items,
    }
    return Response(
        orjson.dumps(document),
        media_type=ANNOTATION_MEDIA,
        headers={"Cache-Control": "no-cache"},
    )


def _flatten(items: list[Comment]) -> list[Comment]:
    out: list[Comment] = []
    stack = list(reversed(items))
    while stack:
        c = stack.pop()
        if not c.is_deleted:
            out.append(c)
        stack.extend(reversed(c.replies))
    return out


def _annotation(base: str, source: str, revised: datetime | None, c: Comment) -> dict[str, Any]:
    """One feedback as a W3C Annotation. Its target holds the selectors valid for the
    article's current revision (TimeState: when that revision was registered) or, for
    feedback whose passage was lost, the reader's original ones (as of their writing)."""
    anchor: dict[str, Any] = dict(c.anchor or {})
    lost = anchor.get("state") in feedback_service.LOST or not anchor.get("selector")
    selectors = (anchor.get("original") or {}).get("selector") if lost else anchor["selector"]
    target: dict[str, Any] = {"source": source, "selector": selectors}
    created = serialize.iso(c.created_at)
    as_of = created
    if not lost and anchor.get("revision") and revised is not None:
        as_of = serialize.iso(revised)
    target["state"] = {"type": "TimeState", "sourceDate": as_of}
    item: dict[str, Any] = {
        "@context": ANNOTATION_CONTEXT,
        "id": f"{base}/api/v1/comments/{c.id}",
        "type": "Annotation",
        "motivation": "commenting",
        "created": created,
        "body": {"type": "TextualBody", "value": c.html, "format": "text/html"},
        "target": target,
    }
    if c.edited_at is not None:
        item["modified"] = serialize.iso(c.edited_at)
    if c.author.name:
        item["creator"] = {"type": "Person", "name": c.author.name}
    return item


@router.get(
    "/admin/feedback",
    response_model=LostOut,
    responses=_errors(401, 403, 404, 422),
    summary="Inline feedback whose passage was lost (orphaned or ambiguous) (moderators)",
)
def lost_feedback(
    request: Request,
    site: SiteQ = "default",
    uri: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
) -> Response:
    ctx = context(request)
    found = feedback_service.lost(ctx, actor(request), ctx.site(site), uri)
    return json_response(
        {"items": [{"uri": u, "comment_id": i, "anchor": a} for u, i, a in found]},
        headers={"Cache-Control": "private, no-store"},
    )


@router.put(
    "/admin/comments/{comment_id}/anchor",
    response_model=AnchorOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422),
    summary="Attach inline feedback by hand to a passage of the current text (moderators)",
    openapi_extra=body.documented(AnchorAt),
)
async def reattach(request: Request, comment_id: CommentId) -> Response:
    payload = await body.parse(request, AnchorAt)
    ctx = context(request)
    anchor = await _in_thread(
        feedback_service.reattach, ctx, actor(request), comment_id, payload.start, payload.end
    )
    return json_response(anchor)


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await run_in_threadpool(fn, *args)
