"""``GET /api/v1/events``: an article's live updates as Server-Sent Events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import StreamingResponse

from voxpop.services import events
from voxpop.web.api import SiteQ, Uri, _errors
from voxpop.web.deps import context, known_query

router = APIRouter(prefix="/api/v1", dependencies=[Depends(known_query)])

MAX_STREAMS = 10_000  # per process; past it a new stream is told to come back in 15 s

STREAM_DESCRIPTION = """A `text/event-stream` that stays open. Events (`id:` is a number
that only grows; a reconnecting EventSource sends the last as `Last-Event-ID` and gets
what it missed): `comment` (a comment became visible: the comment as in a thread read),
`edit` (a visible comment's text changed: the comment), `remove` (`{"id"}`: deleted,
hidden or held), `vote` (`{"id", "votes": {"up", "down"}}`), `rating` (`{"average",
"count", "histogram"}`), `reset` (too much was missed: reload the thread). Comment lines
(`: ping`) keep the connection alive. Nothing unapproved or uncommitted is ever sent.
When the server process stops, the stream ends after `retry: 500`: reconnect. A process
that is shutting down or holds as many streams as it can answers with an empty stream
and a `retry:` (1 s, 15 s): EventSource comes back then."""


@router.get(
    "/events",
    summary="An article's live updates (Server-Sent Events)",
    description=STREAM_DESCRIPTION,
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **_errors(400, 404, 422),
    },
)
async def stream(
    request: Request,
    uri: Uri,
    site: SiteQ = "default",
    last_event_id: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="resume after this event (for a new EventSource)"),
    ] = None,
    last_event_id_header: Annotated[
        str | None, Header(alias="Last-Event-ID", include_in_schema=False)
    ] = None,
) -> StreamingResponse:
    ctx = context(request)
    hub: events.Hub | None = ctx.events
    target = ctx.site(site)
    path = events.path(uri)
    if hub is None or hub.closing or hub.connections >= MAX_STREAMS:
        # Not a 503: EventSource gives up for good on any answer but 200. A stream that
        # ends at once after a ``retry`` makes it come back later (through the load
        # balancer: to another process, when this one is shutting down).
        wait = 1000 if hub is None or hub.closing else 15000
        return StreamingResponse(
            iter((f"retry: {wait}\n\n".encode(),)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )
    after = last_event_id
    if last_event_id_header is not None:
        header = last_event_id_header.strip()
        if header.isascii() and header.isdigit() and len(header) <= 18:
            after = int(header)
    stream = hub.open(target.id, path, after)
    try:
        missed: list[events.Event] | None = []
        if after is not None:
            article_id = await to_thread.run_sync(events.article_id, ctx, target, path)
            missed = await hub.replay(article_id, after)
    except BaseException:
        hub.close(stream)
        raise

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in events.follow(hub, stream, missed):
                yield chunk
        finally:
            hub.close(stream)

    return StreamingResponse(
        body(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
