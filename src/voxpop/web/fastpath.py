"""The hot read: ``GET /api/v1/comments`` served from the thread cache without the framework.

A request whose parameters are all plain and valid, and whose page is cached at the
article's current version, is answered here (ETag and 304 included). Anything else —
an error to report, a page to build — goes on to the API route, which validates fully,
builds the page and fills the cache.

It is the outermost layer of the app: a hit passes through no other middleware, so it
adds what they would have added itself — the security headers and CORS headers (the same
functions of web/middleware.py compute them) — and records itself in the metrics.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from voxpop import errors
from voxpop.model import Filter, Site, Sort
from voxpop.services import threads
from voxpop.services.context import Context
from voxpop.web.cache import ThreadCache, thread_key
from voxpop.web.middleware import cors_headers, security_headers

PATH = "/api/v1/comments"
_KNOWN = {"uri", "site", "sort", "filter", "limit", "cursor"}


class FreshVersions:
    """Article versions for the cached read on PostgreSQL, where each is a round trip:
    the requests for one article that arrive while no query for it has been sent yet
    share the next one. A request never takes the answer of a query sent before it
    arrived, so it sees every write acknowledged before it (read-your-writes, whichever
    process took the write); a popular article costs one query per round trip, not one
    per request (bench/README.md: the PostgreSQL cached read)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        # per event loop: (site id, uri) -> the answer of the next query, not sent yet
        self._next: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[tuple[int, str], asyncio.Future[int | None]]
        ] = weakref.WeakKeyDictionary()
        self._asking: set[asyncio.Task[None]] = set()

    async def get(self, site: Site, uri: str) -> int | None:
        loop = asyncio.get_running_loop()
        waiting = self._next.setdefault(loop, {})
        key = (site.id, uri)
        answer = waiting.get(key)
        if answer is None:
            answer = waiting[key] = loop.create_future()
            task = loop.create_task(self._ask(waiting, key, site, uri, answer))
            self._asking.add(task)
            task.add_done_callback(self._asking.discard)
        return await asyncio.shield(answer)  # a caller that goes away leaves it to the rest

    async def _ask(
        self,
        waiting: dict[tuple[int, str], asyncio.Future[int | None]],
        key: tuple[int, str],
        site: Site,
        uri: str,
        answer: asyncio.Future[int | None],
    ) -> None:
        # From here on, a request for this article waits for the query after this one.
        del waiting[key]
        try:
            value = await threads.version_async(self.ctx, site, uri)
        except Exception as exc:
            answer.set_exception(exc)
            answer.add_done_callback(_retrieved)  # however many callers are left to hear
        else:
            answer.set_result(value)


def _retrieved(done: asyncio.Future[Any]) -> None:
    if not done.cancelled():
        done.exception()


class Observer(Protocol):
    def observe(self, method: str, route: Any, status: int, seconds: float) -> None: ...


class CachedThreads:
    def __init__(
        self,
        app: ASGIApp,
        ctx: Context,
        cache: ThreadCache,
        registry: Observer,
        allowed: Callable[[str], bool],
        hsts: bool,
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.cache = cache
        self.registry = registry
        self.allowed = allowed
        self.inline = threads.versions_inline(ctx)
        self.versions = FreshVersions(ctx)
        # SecurityHeaders' additions to a JSON answer (or a 304) without any of its own
        self.security = security_headers(b"application/json", set(), b"", hsts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        etag_asked = origin = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                etag_asked = value
            elif name == b"origin":
                origin = value.decode("latin-1")
            elif name in (b"content-length", b"transfer-encoding"):
                await self.app(scope, receive, send)  # a body: the app's limits apply
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
                version = await self.versions.get(site, uri)
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
        if etag_asked is not None and etag_asked.decode("latin-1") == entry.etag:
            status, body = 304, b""
        else:
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
        headers += self.security
        if origin:
            headers += cors_headers(origin, self.allowed(origin))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.registry.observe("GET", PATH, status, perf_counter() - started)
