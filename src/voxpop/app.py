"""The ASGI application: settings → context → routes and middleware."""

from __future__ import annotations

import functools
import gc
import logging
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from voxpop import __version__, errors
from voxpop.services import events, threads
from voxpop.services.context import Context, open_context, origin_allowed
from voxpop.services.delivery import Mailer, MailerThread
from voxpop.settings import Settings
from voxpop.store.db import Database
from voxpop.web import (
    admin,
    api,
    events_api,
    feedback_api,
    feeds,
    mail_pages,
    moderation_api,
    pages,
    privacy_api,
    problems,
    ratings_api,
    static_files,
    subscriptions_api,
)
from voxpop.web.cache import ThreadCache
from voxpop.web.fastpath import CachedThreads
from voxpop.web.metrics import MeasureRequests, Operations
from voxpop.web.middleware import CORS, BodyLimit, SecurityHeaders, page_csp

log = logging.getLogger("voxpop")

DESCRIPTION = """Reader engagement for news sites: threaded comments, votes, ratings,
inline feedback and notifications. Errors are `application/problem+json` with a stable
`code`. Readers authenticate with `Authorization: Bearer <reader_token>` (minted by their
first write); moderators with the admin token."""


class VoxpopApp(FastAPI):
    """FastAPI with the cached thread read (web/fastpath.py) in front of it: a hit passes
    through none of Starlette's own layers either (its error middleware wraps every
    ``send``; the application's middleware runs for everything else)."""

    cached_threads: CachedThreads | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fast = self.cached_threads
        if fast is not None and scope["type"] == "http":
            await fast(scope, receive, send)  # which hands anything else to full_stack
        else:
            await super().__call__(scope, receive, send)

    async def full_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings, db: Database | None = None, migrate_on_start: bool = True
) -> FastAPI:
    database = db or Database(settings.database_url, synchronous=settings.sqlite_synchronous)
    if migrate_on_start:
        from voxpop.store import migrate  # Alembic is slow to import: only when needed

        migrate.upgrade(database)
    ctx = open_context(settings, database)
    operations = Operations(ctx)  # /metrics, /readyz

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub = events.Hub(ctx)
        await hub.start()
        ctx.events = hub
        _on_stop_signal(hub.drain)
        _on_stop_signal(operations.mark_draining)  # runs first: /readyz answers 503
        mailer = None
        if settings.mail_worker:
            mailer = MailerThread(Mailer(ctx))
            mailer.start()
            ctx.mail_wakeup = mailer.wake
        yield
        operations.mark_draining()
        ctx.events = None
        await hub.stop()
        if mailer is not None:
            ctx.mail_wakeup = None
            mailer.stop()
        ctx.limiter.close()
        operations.close()
        if ctx.versions is not None:
            ctx.versions.close()
        if db is None:
            database.dispose()

    app = VoxpopApp(
        title="voxpop",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url=None,
    )
    app.state.ctx = ctx
    app.state.thread_cache = ThreadCache()
    app.state.operations = operations
    problems.install(app, html=mail_pages.error_page)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return problems.from_error(errors.VoxpopError("Something went wrong on our side"))

    app.add_exception_handler(Exception, on_unexpected)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        threads.ping(ctx)
        return api.json_response({"status": "ok"})

    app.include_router(operations.router)
    app.include_router(api.router)
    app.include_router(events_api.router)
    app.include_router(ratings_api.router)
    app.include_router(feedback_api.router)
    app.include_router(subscriptions_api.router)
    app.include_router(moderation_api.router)
    app.include_router(privacy_api.router)
    app.include_router(admin.Admin().router)
    app.include_router(static_files.router())
    app.include_router(feeds.router)
    app.include_router(pages.Pages().router)
    app.include_router(mail_pages.MailPages().router)

    schema = api.openapi_document(
        get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        ),
        moderation_api.MODELS,
    )

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response:
        return api.json_response(schema)

    frame_ancestors = sorted({o for s in settings.sites for o in s.origins})
    hsts = settings.public_url.startswith("https:")
    allowed = functools.partial(_any_site_allows, ctx)
    app.add_middleware(SecurityHeaders, page_policy=page_csp(frame_ancestors), hsts=hsts)
    app.add_middleware(CORS, allowed=allowed)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        large_paths=("/api/v1/articles", "/api/v1/anchor", "/api/v1/admin/words", "/admin/words"),
        large_bytes=settings.max_article_bytes,
    )
    app.add_middleware(MeasureRequests, registry=operations.registry)
    # in front of the app: a cached thread read skips every other layer (it adds their
    # headers and records its own metrics; tests/test_operations.py, tests/test_security.py
    # check both)
    app.cached_threads = CachedThreads(
        app.full_stack,
        ctx=ctx,
        cache=app.state.thread_cache,
        registry=operations.registry,
        allowed=allowed,
        hsts=hsts,
    )
    return app


def _on_stop_signal(callback: Callable[[], None]) -> None:
    """Call ``callback`` as soon as the server is told to stop (SIGTERM, SIGINT), before
    the signal's own handler (uvicorn's: stop accepting, wait for open requests).

    Live-update streams never finish by themselves; ending them first lets uvicorn's
    graceful shutdown finish the other requests instead of waiting out its timeout, and
    sends their readers to another process at once. Only from the main thread (where
    uvicorn runs and signal handlers may be set); elsewhere (tests) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)
        if callable(previous):
            signal.signal(signum, _chained(callback, previous))


def _chained(first: Callable[[], None], then: Callable[[int, Any], Any]) -> Any:
    def handler(sig: int, frame: Any) -> None:
        try:
            first()
        finally:  # whatever happens, the server is told to stop
            then(sig, frame)

    return handler


def _any_site_allows(ctx: Context, origin: str) -> bool:
    return any(origin_allowed(ctx.settings, site, origin) for site in ctx.sites.values())


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings from the environment, already migrated."""
    from voxpop import settings as settings_module

    app = create_app(settings_module.load(), migrate_on_start=False)
    # What is loaded now (modules, the app) lives as long as the server process: keep it
    # out of the collector's rounds (collection was 6 % of a comment write's CPU).
    gc.collect()
    gc.freeze()
    return app
