"""The JSON API, v1. Each route parses, calls one service, renders."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.responses import Response

from voxpop.model import MAX_ID, Filter, Sort
from voxpop.services import comments as comment_service
from voxpop.services import threads
from voxpop.services.identity import reader_token
from voxpop.web import body, serialize
from voxpop.web.cache import Entry, ThreadCache, thread_key
from voxpop.web.deps import actor, akismet_client, context, known_query
from voxpop.web.problems import PROBLEM
from voxpop.web.schemas import (
    AnchorAt,
    ArticleIn,
    CommentIn,
    CommentOut,
    CommentPatch,
    ConfigOut,
    LocateIn,
    MeOut,
    ModerateIn,
    OutboxRetryIn,
    PostedOut,
    Problem,
    RatingIn,
    SubscriptionIn,
    SummaryOut,
    TallyOut,
    ThreadOut,
    VoteIn,
)

JSON = "application/json"


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": "a problem"} for code in codes}


def openapi_document(
    schema: dict[str, Any], extra_models: tuple[type[BaseModel], ...] = ()
) -> dict[str, Any]:
    """Make every documented error what it really is: problem+json with our Problem shape."""
    problem_ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status.startswith(("4", "5")):
                    response["content"] = {PROBLEM: {"schema": problem_ref}}
                    response.setdefault("description", "a problem")
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    models: tuple[type[BaseModel], ...] = (
        Problem,
        CommentIn,
        VoteIn,
        RatingIn,
        ArticleIn,
        LocateIn,
        AnchorAt,
        SubscriptionIn,
        OutboxRetryIn,
        *extra_models,
    )
    for model in models:
        document = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(document.pop("$defs", {}))
        components[model.__name__] = document
    return schema


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type=JSON, headers=headers)


router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

Uri = Annotated[
    str,
    Query(
        min_length=1,
        max_length=1024,
        pattern=r"^[^\s\x00-\x1f\x7f]+$",
        description="the article's path (or URL)",
    ),
]
CommentId = Annotated[int, Path(ge=1, le=MAX_ID, description="a comment's id")]
SiteQ = Annotated[str, Query(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


@router.get(
    "/comments",
    response_model=ThreadOut,
    responses={304: {"description": "Not modified (ETag)"}, **_errors(400, 404, 422)},
    summary="A page of an article's thread",
)
def list_comments(
    request: Request,
    uri: Uri,
    site: SiteQ = "default",
    sort: Sort = Sort.BEST,
    filter: Filter = Filter.ALL,
    limit: Annotated[int, Query(ge=1, le=threads.MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    ctx = context(request)
    target = ctx.site(site)
    cache: ThreadCache = request.app.state.thread_cache
    key = thread_key(target.id, uri, sort, filter, limit, cursor)
    current = threads.version(ctx, target, uri)
    entry = cache.get(key, current) if current is not None else None
    if entry is None:
        page = threads.thread(ctx, target, uri, sort, filter, limit, cursor, version=current)
        body = orjson.dumps(serialize.thread(page))
        version = page.article.version if page.article else 0
        entry = Entry(version, f'W/"{target.id}-{version}-{len(body)}"', body)
        if page.article is not None:
            cache.put(key, entry)
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache"}
    if request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type=JSON, headers=headers)


class _Lean(APIRoute):
    """A route whose endpoint takes the request and makes the response itself (the hot
    write): called without FastAPI's dependency solving, which has nothing to solve for it
    but would run the router's ``known_query`` in a worker thread; here it runs inline."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        # Nothing else to solve: the endpoint takes only the request.
        assert [d.dependency for d in self.dependencies] == [known_query]
        endpoint = self.endpoint

        async def handle(request: Request) -> Response:
            known_query(request)
            response: Response = await endpoint(request)
            return response

        return handle


async def post_comment(request: Request) -> Response:
    payload = await body.parse(request, CommentIn)
    ctx = context(request)
    site = ctx.site(payload.site)
    ctx.check_origin(site, request.headers.get("origin"))
    who = actor(request)
    new = comment_service.NewComment(
        uri=payload.uri,
        body=payload.body,
        parent_id=payload.parent_id,
        title=payload.title,
        author_name=payload.author_name,
        author_email=payload.author_email,
        author_website=payload.author_website,
        anchor=payload.anchor.model_dump() if payload.anchor else None,
        notify=payload.notify,
        honeypot=payload.honeypot,
        elapsed=payload.elapsed,
        client=akismet_client(request),
    )
    posted = await comment_service.post_async(ctx, site, who, new)
    data = serialize.comment(posted.comment)
    data["depth"] = 0 if posted.comment.parent_id is None else 1
    data["reader_token"] = reader_token(ctx.settings.secret_key, posted.reader_id)
    until = posted.comment.created_at.timestamp() + ctx.settings.edit_window
    data["editable_until"] = serialize.iso_ts(until)
    return json_response(data, 201, {"Location": f"/api/v1/comments/{posted.comment.id}"})


router.add_api_route(
    "/comments",
    post_comment,
    methods=["POST"],
    status_code=201,
    response_model=PostedOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422, 429),
    summary="Post a comment or a reply",
    openapi_extra=body.documented(CommentIn),
    route_class_override=_Lean,
)


@router.get(
    "/comments/{comment_id}",
    response_model=CommentOut,
    responses=_errors(401, 404, 410, 422),
    summary="One comment (held ones only for their author and moderators; 410 once deleted)",
)
def get_comment(request: Request, comment_id: CommentId) -> Response:
    ctx = context(request)
    comment = comment_service.get(ctx, actor(request), comment_id)
    return json_response(serialize.comment(comment), headers={"Cache-Control": "no-cache"})


@router.patch(
    "/comments/{comment_id}",
    response_model=CommentOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422),
    summary="Edit one's comment within the edit window",
)
def edit_comment(request: Request, comment_id: CommentId, payload: CommentPatch) -> Response:
    ctx = context(request)
    updated = comment_service.edit(ctx, actor(request), comment_id, payload.body)
    return json_response(serialize.comment(updated))


@router.delete(
    "/comments/{comment_id}",
    status_code=204,
    response_class=Response,
    responses=_errors(401, 403, 404, 409),
    summary="Delete one's comment within the edit window",
)
def delete_comment(request: Request, comment_id: CommentId) -> Response:
    ctx = context(request)
    comment_service.delete(ctx, actor(request), comment_id)
    return Response(status_code=204)


@router.put(
    "/comments/{comment_id}/vote",
    response_model=TallyOut,
    responses=_errors(400, 401, 403, 404, 413, 415, 422, 429),
    summary="Vote a comment up or down, or withdraw the vote",
    openapi_extra=body.documented(VoteIn),
)
def vote_comment(request: Request, comment_id: CommentId, payload: VoteIn) -> Response:
    ctx = context(request)
    tally, reader_id, minted = comment_service.vote(ctx, actor(request), comment_id, payload.value)
    data: dict[str, Any] = {"up": tally.up, "down": tally.down, "mine": tally.mine}
    if minted:
        data["reader_token"] = reader_token(ctx.settings.secret_key, reader_id)
    return json_response(data)


@router.get(
    "/me",
    response_model=MeOut,
    responses=_errors(401, 404, 422),
    summary="The calling reader's votes and editable comments on an article",
)
def me(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    ctx = context(request)
    votes, editable = threads.mine(ctx, ctx.site(site), actor(request), uri)
    return json_response(
        {
            "votes": {str(k): v for k, v in votes.items()},
            "editable": sorted(editable),
            "editable_until": {str(k): serialize.iso(v) for k, v in editable.items()},
            "edit_window": ctx.settings.edit_window,
        },
        headers={"Cache-Control": "private, no-store"},
    )


@router.get(
    "/articles/summary",
    response_model=dict[str, SummaryOut],
    responses=_errors(404, 422),
    summary="Counts and rating of many articles at once, keyed by uri",
)
def summary(
    request: Request,
    uri: Annotated[list[str], Query(min_length=1, max_length=100)],
    site: SiteQ = "default",
) -> Response:
    ctx = context(request)
    out = {}
    for item in threads.summaries(ctx, ctx.site(site), uri):
        out[item.uri] = {
            "comments": item.comments,
            "feedback": item.feedback,
            "rating": serialize.tally(item.rating),
        }
    return json_response(out)


@router.get(
    "/config",
    response_model=ConfigOut,
    responses=_errors(404, 422),
    summary="What the widget needs to know about a site",
)
def config(request: Request, site: SiteQ = "default") -> Response:
    ctx = context(request)
    target = ctx.site(site)
    return json_response(
        {
            "site": target.name,
            "language": target.language,
            "moderation": target.moderation.value,
            "edit_window": ctx.settings.edit_window,
            "max_comment_chars": ctx.settings.max_comment_chars,
            "ratings": {
                "enabled": target.rating.enabled,
                "guests": target.rating.guests,
                "changes": target.rating.changes,
            },
        }
    )


@router.post(
    "/admin/comments/{comment_id}/moderate",
    response_model=CommentOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422),
    summary="Approve, reject, mark as spam or delete a comment (moderators)",
)
def moderate(request: Request, comment_id: CommentId, payload: ModerateIn) -> Response:
    ctx = context(request)
    updated = comment_service.moderate(ctx, actor(request), comment_id, payload.action)
    return json_response(serialize.comment(updated))
