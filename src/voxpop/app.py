"""The ASGI application: settings → context → routes and middleware."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.responses import Response

from voxpop import __version__, errors
from voxpop.services import threads
from voxpop.services.context import Context, open_context, origin_allowed
from voxpop.services.delivery import Mailer, MailerThread
from voxpop.settings import Settings
from voxpop.store.db import Database
from voxpop.web import (
    admin,
    api,
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
from voxpop.web.middleware import CORS, BodyLimit, SecurityHeaders, page_csp

log = logging.getLogger("voxpop")

DESCRIPTION = """Reader engagement for news sites: threaded comments, votes, ratings,
inline feedback and notifications. Errors are `application/problem+json` with a stable
`code`. Readers authenticate with `Authorization: Bearer <reader_token>` (minted by their
first write); moderators with the admin token."""


def create_app(
    settings: Settings, db: Database | None = None, migrate_on_start: bool = True
) -> FastAPI:
    database = db or Database(settings.database_url)
    if migrate_on_start:
        from voxpop.store import migrate  # Alembic is slow to import: only when needed

        migrate.upgrade(database)
    ctx = open_context(settings, database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        mailer = None
        if settings.mail_worker:
            mailer = MailerThread(Mailer(ctx))
            mailer.start()
            ctx.mail_wakeup = mailer.wake
        yield
        if mailer is not None:
            ctx.mail_wakeup = None
            mailer.stop()
        ctx.limiter.close()
        if ctx.versions is not None:
            ctx.versions.close()
        if db is None:
            database.dispose()

    app = FastAPI(
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
    problems.install(app, html=mail_pages.error_page)

    async def on_unexpected(_request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        return problems.from_error(errors.VoxpopError("Something went wrong on our side"))

    app.add_exception_handler(Exception, on_unexpected)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        threads.ping(ctx)
        return api.json_response({"status": "ok"})

    app.include_router(api.router)
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
    app.add_middleware(CachedThreads, ctx=ctx, cache=app.state.thread_cache)
    app.add_middleware(
        SecurityHeaders,
        page_policy=page_csp(frame_ancestors),
        hsts=settings.public_url.startswith("https:"),
    )
    app.add_middleware(CORS, allowed=lambda origin: _any_site_allows(ctx, origin))
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        large_paths=("/api/v1/articles", "/api/v1/anchor", "/api/v1/admin/words", "/admin/words"),
        large_bytes=settings.max_article_bytes,
    )
    return app


def _any_site_allows(ctx: Context, origin: str) -> bool:
    return any(origin_allowed(ctx.settings, site, origin) for site in ctx.sites.values())


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings from the environment, already migrated."""
    from voxpop import settings as settings_module

    return create_app(settings_module.load(), migrate_on_start=False)
