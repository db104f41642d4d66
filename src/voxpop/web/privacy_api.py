"""The JSON API of privacy, v1: a reader's export and erasure, an operator's purge."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel
from starlette.responses import Response

from voxpop.model import MAX_ID
from voxpop.services import privacy as privacy_service
from voxpop.web import serialize
from voxpop.web.api import SiteQ, _errors, json_response
from voxpop.web.deps import actor, context, known_query

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

PRIVATE = {"Cache-Control": "private, no-store"}
DOWNLOAD = {**PRIVATE, "Content-Disposition": 'attachment; filename="voxpop-export.json"'}
ReaderId = Annotated[int, Path(ge=1, le=MAX_ID, description="a reader's id")]


class ExportedReaderOut(BaseModel):
    id: int
    created_at: str
    verified_at: str | None


class ExportedAuthorOut(BaseModel):
    name: str | None
    email: str | None
    website: str | None


class ExportedCommentOut(BaseModel):
    id: int
    site: str
    uri: str
    parent_id: int | None
    body: str
    html: str
    status: Literal["approved", "pending", "rejected", "spam", "deleted"]
    author: ExportedAuthorOut
    created_at: str
    edited_at: str | None
    anchor: dict[str, Any] | None


class ExportedVoteOut(BaseModel):
    comment_id: int
    value: Literal[-1, 1]
    created_at: str


class ExportedRatingOut(BaseModel):
    site: str
    uri: str
    stars: int
    counted: bool
    created_at: str
    updated_at: str


class ExportedSubscriptionOut(BaseModel):
    email: str
    site: str
    uri: str
    scope: Literal["thread", "replies", "comment"]
    comment_id: int | None
    delivery: Literal["instant", "digest"]
    confirmed_at: str | None
    created_at: str


class ExportedFlagOut(BaseModel):
    comment_id: int
    reason: str
    note: str
    created_at: str


class ExportOut(BaseModel):
    reader: ExportedReaderOut
    comments: list[ExportedCommentOut]
    votes: list[ExportedVoteOut]
    ratings: list[ExportedRatingOut]
    subscriptions: list[ExportedSubscriptionOut]
    flags: list[ExportedFlagOut]
    exported_at: str


class ErasedOut(BaseModel):
    comments: int
    votes: int
    ratings: int
    subscriptions: int


def _export(data: privacy_service.Export) -> dict[str, Any]:
    iso = serialize.iso
    return {
        "reader": {
            "id": data.reader.id,
            "created_at": iso(data.reader.created_at),
            "verified_at": iso(data.reader.verified_at),
        },
        "comments": [
            {
                "id": c.id,
                "site": c.site,
                "uri": c.uri,
                "parent_id": c.parent_id,
                "body": c.body,
                "html": c.html,
                "status": c.status,
                "author": {
                    "name": c.author_name,
                    "email": c.author_email,
                    "website": c.author_website,
                },
                "created_at": iso(c.created_at),
                "edited_at": iso(c.edited_at),
                "anchor": c.anchor,
            }
            for c in data.comments
        ],
        "votes": [
            {"comment_id": v.comment_id, "value": v.value, "created_at": iso(v.created_at)}
            for v in data.votes
        ],
        "ratings": [
            {
                "site": r.site,
                "uri": r.uri,
                "stars": r.stars,
                "counted": r.counted,
                "created_at": iso(r.created_at),
                "updated_at": iso(r.updated_at),
            }
            for r in data.ratings
        ],
        "subscriptions": [
            {
                "email": s.email,
                "site": s.site,
                "uri": s.uri,
                "scope": s.scope,
                "comment_id": s.comment_id,
                "delivery": s.delivery,
                "confirmed_at": iso(s.confirmed_at),
                "created_at": iso(s.created_at),
            }
            for s in data.subscriptions
        ],
        "flags": [
            {
                "comment_id": f.comment_id,
                "reason": f.reason,
                "note": f.note,
                "created_at": iso(f.created_at),
            }
            for f in data.flags
        ],
        "exported_at": iso(data.exported_at),
    }


@router.get(
    "/me/export",
    response_model=ExportOut,
    responses=_errors(401, 404, 422),
    summary="Everything stored of the calling reader, as a JSON download",
)
def export(request: Request) -> Response:
    ctx = context(request)
    data = privacy_service.export(ctx, actor(request))
    return json_response(_export(data), headers=DOWNLOAD)


@router.delete(
    "/me",
    response_model=ErasedOut,
    responses=_errors(401, 422),
    summary="Erase the calling reader's comments (left as placeholders), votes, ratings "
    "and subscriptions",
)
def delete_me(request: Request) -> Response:
    ctx = context(request)
    erased = privacy_service.delete_me(ctx, actor(request))
    return json_response(erased, headers=PRIVATE)


@router.post(
    "/admin/authors/{reader_id}/purge",
    response_model=ErasedOut,
    responses=_errors(401, 403, 404, 422),
    summary="Erase one reader's comments, votes, ratings and subscriptions on a site (moderators)",
)
def purge_author(request: Request, reader_id: ReaderId, site: SiteQ = "default") -> Response:
    ctx = context(request)
    erased = privacy_service.purge_author(ctx, actor(request), ctx.site(site), reader_id)
    return json_response(erased, headers=PRIVATE)
