"""The hot read: ``GET /api/v1/comments`` served from the thread cache without the framework.

A request whose parameters are all plain and valid, and whose page is cached at the
article's current version, is answered here (ETag and 304 included). Anything else —
an error to report, a page to build — goes on to the API route, which validates fully,
builds the page and fills the cache.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from anyio import to_thread
from starlette.types import ASGIApp, Receive, Scope, Send

from voxpop import errors
from voxpop.model import Filter, Sort
from voxpop.services import threads
from voxpop.services.context import Context
from voxpop.web.cache import ThreadCache, thread_key

PATH = "/api/v1/comments"
_KNOWN = {"uri", "site", "sort", "filter", "limit", "cursor"}


class CachedThreads:
    def __init__(self, app: ASGIApp, ctx: Context, cache: ThreadCache) -> None:
        self.app = app
        self.ctx = ctx
        self.cache = cache
        self.inline = threads.versions_inline(ctx)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if (
            not params.keys() <= _KNOWN
            or len(params) != scope["query_string"].count(b"=")
            or ("uri" not in params)
        ):
            await self.app(scope, receive, send)
            return
        try:
            site = self.ctx.sites[params.get("site", "default")]
            sort = Sort(params.get("sort", "best"))
            filter_ = Filter(params.get("filter", "all"))
            limit = int(params.get("limit", "50"))
            if not 1 <= limit <= threads.MAX_LIMIT or not params.get("limit", "1").isdigit():
                raise ValueError
            uri = params["uri"]
            key = thread_key(site.id, uri, sort, filter_, limit, params.get("cursor"))
            if self.inline:
                version = threads.version(self.ctx, site, uri)
            else:
                version = await to_thread.run_sync(threads.version, self.ctx, site, uri)
        except (KeyError, ValueError, errors.VoxpopError):
            await self.app(scope, receive, send)
            return
        entry = self.cache.get(key, version) if version is not None else None
        if entry is None:
            await self.app(scope, receive, send)
            return
        headers = [
            (b"etag", entry.etag.encode()),
            (b"cache-control", b"no-cache"),
        ]
        status = 200
        body = entry.body
        for name, value in scope["headers"]:
            if name == b"if-none-match" and value.decode("latin-1") == entry.etag:
                status, body = 304, b""
        if status == 200:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
