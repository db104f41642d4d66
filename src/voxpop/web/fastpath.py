"""The hot read: ``GET /api/v1/comments`` served from the thread cache without the framework.

A request whose parameters are all plain and valid, and whose page is cached at the
article's current version, is answered here (ETag and 304 included). Anything else —
an error to report, a page to build — goes on to the API route, which validates fully,
builds the page and fills the cache.

It sits in front of the app (app.py's ``VoxpopApp``): a hit passes through no middleware,
not even Starlette's own, so it adds what they would have added itself — the security
headers and CORS headers (the same functions of web/middleware.py compute them) — and
records itself in the metrics.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from time import perf_counter
from typing import Any, Protocol
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Receive, Scope, Send

from voxpop import errors
from voxpop.model import Filter, Site, Sort
from voxpop.services import threads
from voxpop.services.context import Context
from voxpop.web.cache import Entry, ThreadCache, thread_key
from voxpop.web.middleware import cors_headers, security_headers

log = logging.getLogger(__name__)

PATH = "/api/v1/comments"
_KNOWN = {"uri", "site", "sort", "filter", "limit", "cursor"}
_REMEMBERED = 4096  # query strings and pages whose answers are kept worked out
_REMEMBERED_QUERY = 2048  # bytes: the longest query string kept
_UNSEEN: Any = object()


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


def _params(query: bytes) -> dict[str, str] | None:
    """The query string's parameters, decoded as ``parse_qsl`` decodes them, when it is
    plain: every part a ``name=value`` with a value, no name twice. None otherwise (the
    route then reads it; this path only answers the plain ones). A fraction of
    ``parse_qsl``'s time, which is a tenth of a cached read's."""
    params: dict[str, str] = {}
    if not query:
        return params
    for part in query.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if not value or "=" in value:
            return None
        if "%" in part or "+" in part:
            name, value = unquote_plus(name), unquote_plus(value)
        if name in params:
            return None
        params[name] = value
    return params


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
        # What a query string asks for ((site, uri, cache key), or None: not for this
        # path), and each cached page's answer headers: worked out once, not per request.
        self._targets: dict[bytes, tuple[Site, str, Any] | None] = {}
        self._answers: dict[
            int, tuple[weakref.ref[Entry], bytes, tuple[Any, ...], tuple[Any, ...]]
        ] = {}

    async def _cached(
        self, scope: Scope, etag_asked: bytes | None, origin: str | None
    ) -> tuple[int, tuple[Any, ...], bytes] | None:
        """The answer from the cache (status, headers, body), or None: the app answers."""
        query = scope["query_string"]
        target = self._targets.get(query, _UNSEEN)
        if target is _UNSEEN:
            target = self._target(query)
        if target is None:
            return None
        site, uri, key = target
        try:
            if self.inline:
                version = threads.version(self.ctx, site, uri)
            else:
                version = await self.versions.get(site, uri)
        except (KeyError, ValueError, errors.VoxpopError):
            return None
        except Exception as exc:  # the database: the route answers (and logs) as it can
            log.warning("cached read: the article's version could not be read: %s", exc)
            return None
        entry = self.cache.get(key, version) if version is not None else None
        if entry is None:
            return None
        answer = self._answers.get(id(entry))
        if answer is None or answer[0]() is not entry:
            answer = self._answer(entry)
        if etag_asked is not None and etag_asked == answer[1]:
            status, headers, body = 304, answer[3], b""
        else:
            status, headers, body = 200, answer[2], entry.body
        if origin:
            headers = (*headers, *cors_headers(origin, self.allowed(origin)))
        return status, headers, body

    def _target(self, query: bytes) -> tuple[Site, str, Any] | None:
        params = _params(query)
        target = None
        if params is not None and params.keys() <= _KNOWN and "uri" in params:
            try:
                site = self.ctx.sites[params.get("site", "default")]
                sort = Sort(params.get("sort", "best"))
                filter_ = Filter(params.get("filter", "all"))
                limit = int(params.get("limit", "50"))
                if not 1 <= limit <= threads.MAX_LIMIT or not params.get("limit", "1").isdigit():
                    raise ValueError
                uri = params["uri"]
                key = thread_key(site.id, uri, sort, filter_, limit, params.get("cursor"))
                target = (site, uri, key)
            except (KeyError, ValueError):
                pass
        if len(query) <= _REMEMBERED_QUERY:  # a long one is worked out each time, not kept
            if len(self._targets) >= _REMEMBERED:
                self._targets.clear()
            self._targets[query] = target
        return target

    def _answer(
        self, entry: Entry
    ) -> tuple[weakref.ref[Entry], bytes, tuple[Any, ...], tuple[Any, ...]]:
        etag = entry.etag.encode()
        # tuples: one object serves every request, so nothing may change it
        not_modified = ((b"etag", etag), (b"cache-control", b"no-cache"), *self.security)
        ok = (
            (b"etag", etag),
            (b"cache-control", b"no-cache"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(entry.body)).encode()),
            *self.security,
        )
        if len(self._answers) >= _REMEMBERED:
            self._answers.clear()
        # a weak reference: a page the cache drops is not kept alive here
        answer = self._answers[id(entry)] = (weakref.ref(entry), etag, ok, not_modified)
        return answer

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
        try:
            answer = await self._cached(scope, etag_asked, origin)
        except Exception:  # a fault of this path: the app answers, and reports it
            log.exception("cached read failed; handing the request to the app")
            answer = None
        if answer is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = answer
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.registry.observe("GET", PATH, status, perf_counter() - started)
