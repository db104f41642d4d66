"""The JSON API of article ratings, v1: the reader's verbs, the ranking, the moderators'."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from voxpop.model import MAX_ID, Rating
from voxpop.services import ratings as rating_service
from voxpop.services.identity import reader_token
from voxpop.web import body, serialize
from voxpop.web.api import SiteQ, Uri, _errors, json_response
from voxpop.web.deps import actor, context, known_query
from voxpop.web.schemas import (
    AdminRatingsOut,
    MyRatingOut,
    RatingIn,
    RemovedOut,
    StoredRatingOut,
    TopOut,
)

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

PRIVATE = {"Cache-Control": "private, no-store"}
ReaderQ = Annotated[int, Query(ge=1, le=MAX_ID, description="a reader's id")]


def _mine(rating: Rating) -> dict[str, Any]:
    return {**serialize.tally(rating.tally), "mine": rating.mine}


@router.get(
    "/ratings",
    response_model=MyRatingOut,
    responses=_errors(401, 404, 422),
    summary="An article's rating and the calling reader's own stars",
)
def get_rating(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    ctx = context(request)
    rating = rating_service.get(ctx, ctx.site(site), actor(request), uri)
    return json_response(_mine(rating), headers=PRIVATE)


@router.put(
    "/ratings",
    response_model=MyRatingOut,
    responses=_errors(400, 401, 403, 404, 409, 413, 415, 422, 429),
    summary="Rate an article 1–5 stars (re-rating replaces)",
    openapi_extra=body.documented(RatingIn),
)
def put_rating(request: Request, payload: RatingIn) -> Response:
    ctx = context(request)
    site = ctx.site(payload.site)
    ctx.check_origin(site, request.headers.get("origin"))
    rated = rating_service.rate(
        ctx, site, actor(request), payload.uri, payload.stars, payload.title
    )
    data = _mine(rated.rating)
    if rated.minted:
        data["reader_token"] = reader_token(ctx.settings.secret_key, rated.reader_id)
    return json_response(data, headers=PRIVATE)


@router.delete(
    "/ratings",
    response_model=MyRatingOut,
    responses=_errors(401, 403, 404, 409, 422, 429),
    summary="Withdraw one's rating of an article",
)
def delete_rating(request: Request, uri: Uri, site: SiteQ = "default") -> Response:
    ctx = context(request)
    target = ctx.site(site)
    ctx.check_origin(target, request.headers.get("origin"))
    rating = rating_service.remove(ctx, target, actor(request), uri)
    return json_response(_mine(rating), headers=PRIVATE)


@router.get(
    "/articles/top",
    response_model=TopOut,
    responses=_errors(404, 422),
    summary="A site's best-rated articles, ranked by a damped (Bayesian) average",
)
def top(
    request: Request,
    by: Literal["rating"] = "rating",
    site: SiteQ = "default",
    limit: Annotated[int, Query(ge=1, le=rating_service.TOP_LIMIT)] = 20,
) -> Response:
    ctx = context(request)
    ranked = rating_service.top(ctx, ctx.site(site), limit)
    items = [
        {"uri": r.uri, "title": r.title, **serialize.tally(r.tally), "score": r.score}
        for r in ranked
    ]
    return json_response({"by": by, "items": items}, headers={"Cache-Control": "no-cache"})


def _stored(item: rating_service.StoredRating) -> dict[str, Any]:
    return StoredRatingOut(
        reader_id=item.reader_id,
        uri=item.uri,
        stars=item.stars,
        counted=item.counted,
        created_at=serialize.iso(item.created_at) or "",
        updated_at=serialize.iso(item.updated_at) or "",
    ).model_dump()


@router.get(
    "/admin/ratings",
    response_model=AdminRatingsOut,
    responses=_errors(400, 401, 403, 404, 422),
    summary="Every rating of an article, or of a reader (moderators)",
)
def admin_ratings(
    request: Request,
    uri: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    reader: ReaderQ | None = None,
    site: SiteQ = "default",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    ctx = context(request)
    target = ctx.site(site)
    who = actor(request)
    data: dict[str, Any]
    if uri is not None:
        tally, items = rating_service.of_article(ctx, who, target, uri, limit, offset)
        data = {"rating": serialize.tally(tally), "items": [_stored(i) for i in items]}
    else:
        reader_id = rating_service.require_reader(reader)
        items = rating_service.of_reader(ctx, who, target, reader_id)
        data = {"rating": None, "items": [_stored(i) for i in items]}
    return json_response(data, headers=PRIVATE)


@router.delete(
    "/admin/ratings",
    response_model=RemovedOut,
    responses=_errors(400, 401, 403, 404, 422),
    summary="Remove a reader's rating of an article, or all their ratings (moderators)",
)
def admin_remove(
    request: Request,
    reader: ReaderQ,
    uri: Annotated[str | None, Query(min_length=1, max_length=1024)] = None,
    site: SiteQ = "default",
) -> Response:
    ctx = context(request)
    removed = rating_service.moderator_remove(ctx, actor(request), ctx.site(site), reader, uri)
    return json_response({"removed": removed})
