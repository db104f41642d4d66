"""Server-rendered pages: the no-JavaScript thread, its fragment and the demo newsroom.
The pages behind the links in notification mails are in ``mail_pages``."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from voxpop import errors
from voxpop.model import MAX_ID, Filter, Rating, Site, Sort
from voxpop.services import comments as comment_service
from voxpop.services import feedback as feedback_service
from voxpop.services import moderation as moderation_service
from voxpop.services import ratings as rating_service
from voxpop.services import threads
from voxpop.services.context import Context
from voxpop.services.identity import Actor, reader_token, same, sign
from voxpop.web import csrf, demo
from voxpop.web.deps import actor, akismet_client, context
from voxpop.web.i18n import Translator, pick
from voxpop.web.serialize import iso

READER_COOKIE = "voxpop_reader"
TEMPLATES = Path(__file__).parent / "templates"
# The admin pages: never cached, never framed (not even by the sites), scripts only from
# here, and forms only to here.
ADMIN_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.globals["iso"] = iso


def _enum(kind: type[Sort], raw: str | None, default: Sort) -> Sort:
    try:
        return kind(raw) if raw else default
    except ValueError:
        return default


def _int(raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        value = int(str(raw))
    except ValueError:
        raise errors.ValidationFailed("Not a number", field="parent_id") from None
    if not 1 <= value <= MAX_ID:
        raise errors.ValidationFailed("Not a valid id", field="parent_id")
    return value


def thread_url(uri: str, site: str, **extra: Any) -> str:
    query = {"uri": uri, **({"site": site} if site != "default" else {})}
    query.update({k: v for k, v in extra.items() if v is not None})
    return "/comments?" + urlencode(query)


def feed_url(uri: str, site: str) -> str:
    """The path of the article's Atom feed of comments (``/feeds/comments.atom``)."""
    query = {"uri": uri, **({"site": site} if site != "default" else {})}
    return "/feeds/comments.atom?" + urlencode(query)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or str(
        request.app.state.ctx.settings.public_url
    ).startswith("https:")


class Pages:
    def __init__(self) -> None:
        self._registered: set[str] = set()
        self.router = APIRouter(include_in_schema=False)
        r = self.router
        r.add_api_route("/comments", self.thread_page, methods=["GET"])
        r.add_api_route("/comments", self.post_form, methods=["POST"])
        r.add_api_route("/comments/vote", self.vote_form, methods=["POST"])
        r.add_api_route("/comments/rate", self.rate_form, methods=["POST"])
        r.add_api_route("/comments/flag", self.flag_form, methods=["POST"])
        r.add_api_route("/comments/fragment", self.fragment, methods=["GET"])
        r.add_api_route("/", self.newsroom, methods=["GET"])
        r.add_api_route("/demo/{slug}", self.demo_article, methods=["GET"])

    # -- the thread without JavaScript ------------------------------------------------

    async def _render_thread(
        self,
        request: Request,
        uri: str,
        site: Site,
        sort: Sort,
        cursor: str | None,
        status: int = 200,
        **extra: Any,
    ) -> Response:
        ctx = context(request)
        page = await run_in_threadpool(threads.thread, ctx, site, uri, sort, Filter.ALL, 50, cursor)
        rating = None
        if site.rating.enabled:
            rating = await run_in_threadpool(rating_service.get, ctx, site, _reader(request), uri)
        t = Translator(pick(request.query_params.get("lang"), site.language))
        closed = await run_in_threadpool(moderation_service.is_closed, ctx, site, uri)
        nonce = request.cookies.get(csrf.COOKIE) or csrf.new_nonce()
        title = page.article.title if page.article and page.article.title else uri
        html = env.get_template("comments.html").render(
            t=t,
            page=page,
            uri=uri,
            site=site.name,
            sort=sort.value,
            sorts=[s.value for s in Sort],
            title=title,
            csrf_token=csrf.token_for(ctx.settings.secret_key, nonce),
            thread_url=thread_url,
            feed_url=feed_url,
            reply_to=extra.pop("reply_to", None),
            rating=rating,
            rating_policy=site.rating,
            closed=closed,
            started=_started(ctx),
            **extra,
        )
        response = HTMLResponse(html, status_code=status)
        response.headers["Cache-Control"] = "private, no-store"
        if request.cookies.get(csrf.COOKIE) != nonce:
            response.set_cookie(
                csrf.COOKIE,
                nonce,
                httponly=True,
                samesite="lax",
                secure=_secure(request),
                path="/comments",
            )
        return response

    async def thread_page(self, request: Request) -> Response:
        q = request.query_params
        ctx = context(request)
        uri = q.get("uri")
        if not uri:
            raise errors.ValidationFailed("Add ?uri=/path/of/the/article", field="uri")
        site = ctx.site(q.get("site") or "default")
        sort = _enum(Sort, q.get("sort"), Sort.BEST)
        reply_to = _int(q.get("reply")) if q.get("reply", "").isdigit() else None
        posted = q.get("posted")
        notice = None
        if posted in ("approved", "pending"):
            notice = "posted_" + posted
        elif q.get("voted"):
            notice = "voted"
        elif q.get("flagged"):
            notice = "flagged"
        elif q.get("rated") in ("saved", "removed"):
            notice = "rating_" + q["rated"]
        return await self._render_thread(
            request, uri, site, sort, q.get("cursor") or None, reply_to=reply_to, notice=notice
        )

    async def post_form(self, request: Request) -> Response:
        ctx, fields, site, uri, sort = await _read_form(request)
        try:
            who = _form_actor(request, fields)
            new = comment_service.NewComment(
                uri=uri,
                body=fields.get("body", ""),
                parent_id=_int(fields.get("parent_id")),
                title=fields.get("title"),
                author_name=fields.get("author_name"),
                author_email=fields.get("author_email"),
                author_website=fields.get("author_website"),
                notify=fields.get("notify") or None,
                honeypot=fields.get("homepage") or None,
                elapsed=_elapsed(ctx, fields.get("started")),
                client=akismet_client(request),
            )
            posted = await run_in_threadpool(comment_service.post, ctx, site, who, new)
        except errors.VoxpopError as exc:
            if not uri:
                raise
            return await self._render_thread(
                request,
                uri,
                site,
                sort,
                None,
                status=exc.status,
                error=exc.detail,
                form=fields,
                reply_to=_safe_int(fields.get("parent_id")),
            )
        target = thread_url(uri, site.name, sort=sort.value, posted=posted.comment.status.value)
        response = RedirectResponse(f"{target}#c{posted.comment.id}", status_code=303)
        _remember_reader(request, response, posted.reader_id)
        return response

    async def vote_form(self, request: Request) -> Response:
        ctx, fields, site, uri, sort = await _read_form(request)
        who = _form_actor(request, fields)
        comment_id = _int(fields.get("comment_id"))
        if comment_id is None or fields.get("value") not in ("-1", "0", "1"):
            raise errors.ValidationFailed("Choose a comment and a vote", field="value")
        _tally, reader_id, minted = await run_in_threadpool(
            comment_service.vote, ctx, who, comment_id, int(fields["value"])
        )
        target = thread_url(uri or "/", site.name, sort=sort.value, voted="1")
        response = RedirectResponse(f"{target}#c{comment_id}", status_code=303)
        if minted:
            _remember_reader(request, response, reader_id)
        return response

    async def flag_form(self, request: Request) -> Response:
        """Report a comment to the moderators with a plain form."""
        ctx, fields, site, uri, sort = await _read_form(request)
        who = _form_actor(request, fields)
        comment_id = _int(fields.get("comment_id"))
        if comment_id is None:
            raise errors.ValidationFailed("Choose a comment to report", field="comment_id")
        await run_in_threadpool(
            moderation_service.flag, ctx, site, who, comment_id, fields.get("reason", ""),
            fields.get("note", ""),
        )  # fmt: skip
        target = thread_url(uri or "/", site.name, sort=sort.value, flagged="1")
        return RedirectResponse(f"{target}#c{comment_id}", status_code=303)

    async def rate_form(self, request: Request) -> Response:
        """Rate (``stars``) or withdraw one's rating (``remove``) with a plain form."""
        ctx, fields, site, uri, sort = await _read_form(request)
        try:
            who = _form_actor(request, fields)
            if fields.get("remove"):
                await run_in_threadpool(rating_service.remove, ctx, site, who, uri)
                rated, minted_id = "removed", None
            else:
                stars = fields.get("stars", "")
                if stars not in ("1", "2", "3", "4", "5"):
                    raise errors.ValidationFailed("Choose from one to five stars", field="stars")
                done = await run_in_threadpool(
                    rating_service.rate, ctx, site, who, uri, int(stars), fields.get("title")
                )
                rated, minted_id = "saved", done.reader_id if done.minted else None
        except errors.VoxpopError as exc:
            if not uri:
                raise
            return await self._render_thread(
                request, uri, site, sort, None, status=exc.status, rating_error=exc.detail
            )
        target = thread_url(uri, site.name, sort=sort.value, rated=rated)
        response = RedirectResponse(f"{target}#vp-rating", status_code=303)
        if minted_id is not None:
            _remember_reader(request, response, minted_id)
        return response

    async def fragment(self, request: Request) -> Response:
        q = request.query_params
        ctx = context(request)
        uri = q.get("uri")
        if not uri:
            raise errors.ValidationFailed("Add ?uri=/path/of/the/article", field="uri")
        site = ctx.site(q.get("site") or "default")
        page = await run_in_threadpool(
            threads.thread, ctx, site, uri, Sort.BEST, Filter.ALL, 50, None
        )
        t = Translator(pick(q.get("lang"), site.language))
        rating = None
        if site.rating.enabled:
            # Publicly cacheable: the true tally, never a reader's own view of it.
            nobody = Actor(None, False, "")
            rating = await run_in_threadpool(rating_service.get, ctx, site, nobody, uri)
        title = page.article.title if page.article and page.article.title else uri
        html = env.get_template("fragment.html").render(
            t=t,
            page=page,
            rating=rating,
            json_ld=_json_ld(ctx.settings.public_url, uri, title, rating),
            uri=uri,
            site=site.name,
            thread_url=thread_url,
            public_url=ctx.settings.public_url,
        )
        return HTMLResponse(html, headers={"Cache-Control": "public, max-age=60"})

    # -- the demo newsroom ------------------------------------------------------------

    def _demo_on(self, request: Request) -> None:
        if not context(request).settings.demo:
            raise errors.NotFound("The demo site is off (VOXPOP_DEMO=off)")

    async def newsroom(self, request: Request) -> Response:
        self._demo_on(request)
        ctx = context(request)
        site = ctx.site("default")
        summaries = await run_in_threadpool(
            threads.summaries, ctx, site, [a.uri for a in demo.ARTICLES]
        )
        counts = {s.uri: s.comments for s in summaries}
        ratings = {s.uri: s.rating for s in summaries}
        t = Translator(pick(request.query_params.get("lang"), site.language))
        html = env.get_template("newsroom.html").render(
            t=t, articles=demo.ARTICLES, counts=counts, ratings=ratings, title=site.title
        )
        return HTMLResponse(html)

    async def demo_article(self, request: Request, slug: str) -> Response:
        self._demo_on(request)
        article = demo.BY_SLUG.get(slug)
        if article is None:
            raise errors.NotFound(f"No demo article {slug!r}")
        ctx = context(request)
        site = ctx.site("default")
        if article.slug not in self._registered:
            # The demo's articles are registered like any publisher's, once per process:
            # an edited demo text becomes a revision and its feedback is re-anchored.
            await run_in_threadpool(
                feedback_service.register,
                ctx,
                Actor(None, True, "demo"),
                site,
                article.uri,
                article.title,
                None,
                str(article.html()),
            )
            self._registered.add(article.slug)
        t = Translator(pick(request.query_params.get("lang"), site.language))
        html = env.get_template("article.html").render(
            t=t, article=article, thread_url=thread_url, lang=t.lang
        )
        return HTMLResponse(html)


def error_page(request: Request, exc: errors.VoxpopError) -> Response | None:
    """A browser on one of the pages gets an HTML error page; API clients get problem+json.
    The mails' pages have their own: ``mail_pages.error_page`` answers for those and hands
    every other page's error on to this."""
    if request.url.path.startswith("/api/"):
        return None
    if "text/html" not in request.headers.get("accept", ""):
        return None
    if request.url.path == "/admin" or request.url.path.startswith("/admin/"):
        html = env.get_template("admin/error.html").render(
            who=None, title=exc.title, detail=exc.detail, status=exc.status,
            signin=isinstance(exc, errors.Unauthorized),
        )  # fmt: skip
        return HTMLResponse(html, status_code=exc.status, headers=ADMIN_HEADERS)
    t = Translator(pick(request.query_params.get("lang"), "en"))
    html = env.get_template("error.html").render(t=t, title=exc.title, detail=exc.detail)
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.RateLimited) else None
    return HTMLResponse(html, status_code=exc.status, headers=headers)


async def _read_form(request: Request) -> tuple[Context, dict[str, str], Site, str, Sort]:
    """A posted form's text fields, and the site, article and sort it names."""
    ctx = context(request)
    form = await request.form()
    fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    site = ctx.site(fields.get("site") or "default")
    return ctx, fields, site, fields.get("uri", ""), _enum(Sort, fields.get("sort"), Sort.BEST)


def _form_actor(request: Request, fields: dict[str, str]) -> Actor:
    """The form's sender, once its CSRF token checks out."""
    secret = context(request).settings.secret_key
    csrf.check(secret, request.cookies.get(csrf.COOKIE), fields.get("csrf"))
    return actor(request, request.cookies.get(READER_COOKIE) or None)


def _reader(request: Request) -> Actor:
    """The reader behind the page's cookie; a stale or forged cookie is just nobody."""
    try:
        return actor(request, request.cookies.get(READER_COOKIE) or None)
    except errors.Unauthorized:
        return actor(request, "")


def _remember_reader(request: Request, response: Response, reader_id: int) -> None:
    secret = context(request).settings.secret_key
    response.set_cookie(
        READER_COOKIE,
        reader_token(secret, reader_id),
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/comments",
    )


def _json_ld(public_url: str, uri: str, title: str, rating: Rating | None) -> str | None:
    """schema.org AggregateRating for search engines: only with at least one rating."""
    if rating is None or not rating.tally.count or rating.tally.average is None:
        return None
    url = public_url + uri if uri.startswith("/") else uri
    data = {
        "@context": "https://schema.org",
        "@type": "Article",
        "@id": url,
        "url": url,
        "headline": title,
        "aggregateRating": {
            "@type": "AggregateRating",
            "ratingValue": round(rating.tally.average, 2),
            "ratingCount": rating.tally.count,
            "bestRating": 5,
            "worstRating": 1,
        },
    }
    # Inside <script>, "</" and "<!--" must not appear: escape every "<", ">" and "&".
    text = orjson.dumps(data).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _started(ctx: Context) -> str:
    """When the form was shown, signed: the post's time to submit is a spam signal."""
    stamp = str(int(ctx.clock().timestamp() * 1000))
    return f"{stamp}.{sign(ctx.settings.secret_key, 'form-started', stamp)}"


def _elapsed(ctx: Context, raw: str | None) -> float | None:
    """Seconds since the form was shown; None when the stamp is missing or forged."""
    stamp, _, signature = (raw or "").partition(".")
    if not stamp.isdigit() or len(stamp) > 16:
        return None
    if not same(sign(ctx.settings.secret_key, "form-started", stamp), signature):
        return None
    return ctx.clock().timestamp() - int(stamp) / 1000


def _safe_int(raw: str | None) -> int | None:
    try:
        return _int(raw)
    except errors.VoxpopError:
        return None
