"""The admin UI at /admin: server-rendered, every action a plain form (no JavaScript needed;
``/static/admin.js`` adds keyboard shortcuts to the queue).

Sign-in opens a session (cookie ``voxpop_admin``: HttpOnly, SameSite=Strict, Secure behind
HTTPS, path /admin). Every POST carries the session's CSRF token, compared in constant time;
the sign-in form itself is protected by a signed double-submit token.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from voxpop import errors
from voxpop.model import ALL_SITES, MAX_ID, Site
from voxpop.services import access, accounts, moderation, webhooks
from voxpop.services import comments as comment_service
from voxpop.services import queue as queue_service
from voxpop.services.identity import Actor, same
from voxpop.web import csrf
from voxpop.web.deps import actor as request_actor
from voxpop.web.deps import context
from voxpop.web.moderation_api import queue_item
from voxpop.web.pages import ADMIN_HEADERS, env
from voxpop.web.serialize import iso

COOKIE = "voxpop_admin"
LOGIN_COOKIE = "voxpop_login"
HEADERS = ADMIN_HEADERS
ACTIONS = ("approve", "reject", "spam", "delete")
NOTICES = {
    "approve": "Approved.",
    "reject": "Rejected.",
    "spam": "Marked as spam.",
    "delete": "Deleted.",
    "ban": "Author banned.",
    "banned": "Ban added.",
    "lifted": "Ban lifted.",
    "trusted": "Author trusted: their comments skip the queue.",
    "untrusted": "Author no longer trusted.",
    "shadowed": "Author shadow-banned: their comments are visible to themselves only.",
    "unshadowed": "Shadow ban lifted.",
    "words": "Word list saved.",
    "closed": "Comments closed on that article.",
    "reopened": "Comments open again on that article.",
    "account": "Account saved.",
    "retried": "Webhook calls queued again: the worker makes them now.",
}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or context(request).settings.public_url.startswith(
        "https:"
    )


def _page(template: str, status: int = 200, **values: Any) -> HTMLResponse:
    html = env.get_template(template).render(iso=iso, **values)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def _local(target: str | None, default: str = "/admin/queue") -> str:
    """Only a path inside the admin UI: never an open redirect."""
    if not target or not target.startswith("/admin") or target.startswith("//"):
        return default
    if any(c in target for c in "\\\r\n\t") or len(target) > 2000:
        return default
    return target


class Unsigned(Exception):
    """No valid session: GETs go to the sign-in page, POSTs get 401."""


class Admin:
    def __init__(self) -> None:
        self.router = APIRouter(include_in_schema=False)
        r = self.router
        r.add_api_route("/admin", self.home, methods=["GET"])
        r.add_api_route("/admin/login", self.login_page, methods=["GET"])
        r.add_api_route("/admin/login", self.login, methods=["POST"])
        r.add_api_route("/admin/logout", self.logout, methods=["POST"])
        r.add_api_route("/admin/queue", self.queue_page, methods=["GET"])
        r.add_api_route("/admin/comments/{comment_id}", self.act, methods=["POST"])
        r.add_api_route("/admin/bans", self.bans_page, methods=["GET"])
        r.add_api_route("/admin/bans", self.add_ban, methods=["POST"])
        r.add_api_route("/admin/bans/{ban_id}/lift", self.lift_ban, methods=["POST"])
        r.add_api_route("/admin/authors/{reader_id}", self.mark_author, methods=["POST"])
        r.add_api_route("/admin/words", self.words_page, methods=["GET"])
        r.add_api_route("/admin/words", self.save_words, methods=["POST"])
        r.add_api_route("/admin/articles/close", self.close_article, methods=["POST"])
        r.add_api_route("/admin/audit", self.audit_page, methods=["GET"])
        r.add_api_route("/admin/webhooks", self.webhooks_page, methods=["GET"])
        r.add_api_route("/admin/webhooks/retry", self.retry_webhooks, methods=["POST"])
        r.add_api_route("/admin/accounts", self.accounts_page, methods=["GET"])
        r.add_api_route("/admin/accounts", self.save_account, methods=["POST"])

    # -- sessions ---------------------------------------------------------------------

    async def _session(self, request: Request) -> tuple[Actor, str]:
        token = request.cookies.get(COOKIE, "")
        if token:
            ctx = context(request)
            found = await run_in_threadpool(
                accounts.session_actor, ctx, token, request_actor(request, "")
            )
            if found is not None:
                return found
        raise Unsigned

    def _to_login(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/admin/login?" + urlencode({"next": target}), 303)

    async def _form(self, request: Request) -> tuple[Actor, dict[str, str]]:
        """A posted admin form's sender and fields, once its origin and CSRF token check
        out."""
        _check_origin(request)
        try:
            who, token = await self._session(request)
        except Unsigned:
            raise errors.Unauthorized("Your session has ended; sign in again") from None
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        if not same(fields.get("csrf", ""), token):
            raise errors.CSRFFailed()
        return who, fields

    def _site(self, request: Request, who: Actor, name: str | None) -> tuple[Site, list[Site]]:
        ctx = context(request)
        sites = queue_service.staff_sites(ctx, who)
        if not sites:
            raise errors.InsufficientRole("Your account has no role on any site yet")
        if name:
            site = ctx.site(name)
            return site, sites
        return sites[0], sites

    def _chrome(self, request: Request, who: Actor, token: str, **values: Any) -> dict[str, Any]:
        notice = request.query_params.get("done", "")
        return {
            "who": who,
            "csrf": token,
            "notice": NOTICES.get(notice, ""),
            "can": lambda action, site=None: access.allowed(who, action, site),
            **values,
        }

    # -- sign-in ----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return RedirectResponse("/admin/queue", 303)

    async def login_page(
        self,
        request: Request,
        error: str = "",
        status: int = 200,
        name: str = "",
        target: str | None = None,
    ) -> Response:
        ctx = context(request)
        nonce = request.cookies.get(LOGIN_COOKIE) or csrf.new_nonce()
        response = _page(
            "admin/login.html",
            status,
            csrf=csrf.token_for(ctx.settings.secret_key, nonce),
            next=_local(target if target is not None else request.query_params.get("next")),
            error=error,
            username=name,
        )
        response.set_cookie(
            LOGIN_COOKIE, nonce, httponly=True, samesite="strict", secure=_secure(request),
            path="/admin",
        )  # fmt: skip
        return response

    async def login(self, request: Request) -> Response:
        ctx = context(request)
        _check_origin(request)
        form = await request.form()
        fields = {k: str(v) for k, v in form.items() if isinstance(v, str)}
        csrf.check(ctx.settings.secret_key, request.cookies.get(LOGIN_COOKIE), fields.get("csrf"))
        who = request_actor(request, "")
        name = fields.get("username", "")[:48]
        try:
            signed = await run_in_threadpool(
                accounts.login, ctx, name, fields.get("password", ""), who.address
            )
        except errors.LoginFailed as exc:
            return await self.login_page(request, exc.detail, 401, name, fields.get("next"))
        response = RedirectResponse(_local(fields.get("next")), 303)
        response.set_cookie(
            COOKIE, signed.token, max_age=ctx.settings.session_ttl, httponly=True,
            samesite="strict", secure=_secure(request), path="/admin",
        )  # fmt: skip
        response.delete_cookie(LOGIN_COOKIE, path="/admin")
        return response

    async def logout(self, request: Request) -> Response:
        await self._form(request)
        await run_in_threadpool(accounts.logout, context(request), request.cookies[COOKIE])
        response = RedirectResponse("/admin/login", 303)
        response.delete_cookie(COOKIE, path="/admin")
        return response

    # -- the queue --------------------------------------------------------------------

    async def queue_page(self, request: Request) -> Response:
        try:
            who, token = await self._session(request)
        except Unsigned:
            return self._to_login(request)
        q = request.query_params
        site, sites = self._site(request, who, q.get("site"))
        tab = q.get("tab") or "pending"
        page = await run_in_threadpool(
            queue_service.queue, context(request), who, site, tab, q.get("q", ""),
            q.get("author", ""), q.get("article", ""), q.get("cursor") or None,
        )  # fmt: skip
        items = [queue_item(page, r) for r in page.items]
        for item, row in zip(items, page.items, strict=True):
            item["address_key"] = row.address_key
            item["closed"] = row.closed_at is not None
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        filters = {k: q.get(k, "") for k in ("q", "author", "article")}
        return _page(
            "admin/queue.html",
            **self._chrome(
                request, who, token, section="queue", site=site, sites=sites, page=page,
                items=items, tab=tab, tabs=queue_service.TABS, here=here, filters=filters,
                next_url=self._url("/admin/queue", site=site.name, tab=tab, cursor=page.next_cursor,
                                   **filters) if page.next_cursor else None,
                tab_url=lambda t: self._url("/admin/queue", site=site.name, tab=t, **filters),
            ),
        )  # fmt: skip

    @staticmethod
    def _url(path: str, **query: Any) -> str:
        clean = {k: v for k, v in query.items() if v not in (None, "")}
        return path + ("?" + urlencode(clean) if clean else "")

    async def act(self, request: Request, comment_id: int) -> Response:
        who, fields = await self._form(request)
        if not 1 <= comment_id <= MAX_ID:
            raise errors.UnknownComment(f"No comment {comment_id}")
        ctx = context(request)
        action = fields.get("action", "")
        if action in ACTIONS:
            await run_in_threadpool(comment_service.moderate, ctx, who, comment_id, action)
        elif action == "ban":
            days = _days(fields.get("days"))
            await run_in_threadpool(
                moderation.ban_author, ctx, who, comment_id, days, fields.get("reason", "")
            )
            if fields.get("also") == "spam":
                await run_in_threadpool(comment_service.moderate, ctx, who, comment_id, "spam")
        else:
            raise errors.ValidationFailed("Choose approve, reject, spam, delete or ban")
        return _back(fields, action)

    # -- bans, authors, words, articles -----------------------------------------------

    async def _site_page(
        self,
        request: Request,
        section: str,
        read: Any,
        name: str,
    ) -> Response:
        """A page about one site (its bans, its word lists): sign-in, the site, what
        ``read(ctx, actor, site)`` finds, rendered as ``admin/<section>.html`` with it as
        ``name``."""
        try:
            who, token = await self._session(request)
        except Unsigned:
            return self._to_login(request)
        site, sites = self._site(request, who, request.query_params.get("site"))
        found = await run_in_threadpool(read, context(request), who, site)
        return _page(
            f"admin/{section}.html",
            **self._chrome(
                request, who, token, section=section, site=site, sites=sites,
                here=self._url(f"/admin/{section}", site=site.name), **{name: found},
            ),
        )  # fmt: skip

    async def bans_page(self, request: Request) -> Response:
        return await self._site_page(request, "bans", moderation.bans, "bans")

    async def add_ban(self, request: Request) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        site = ctx.site(fields.get("site") or "default")
        await run_in_threadpool(
            moderation.ban, ctx, who, site, fields.get("kind", ""), fields.get("value", ""),
            _days(fields.get("days")), fields.get("reason", ""),
        )  # fmt: skip
        return _back(fields, "banned", self._url("/admin/bans", site=site.name))

    async def lift_ban(self, request: Request, ban_id: int) -> Response:
        who, fields = await self._form(request)
        if not 1 <= ban_id <= MAX_ID:
            raise errors.NotFound(f"No ban {ban_id}")
        await run_in_threadpool(moderation.lift_ban, context(request), who, ban_id)
        return _back(fields, "lifted", "/admin/bans")

    async def mark_author(self, request: Request, reader_id: int) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        site = ctx.site(fields.get("site") or "default")
        mark, value = fields.get("mark", ""), fields.get("value") == "on"
        if mark not in ("trusted", "shadowed"):
            raise errors.ValidationFailed("Choose trusted or shadowed", field="mark")
        await run_in_threadpool(
            moderation.mark_author, ctx, who, site, reader_id,
            value if mark == "trusted" else None, value if mark == "shadowed" else None,
        )  # fmt: skip
        return _back(fields, mark if value else "un" + mark)

    async def words_page(self, request: Request) -> Response:
        return await self._site_page(request, "words", moderation.words, "lists")

    async def save_words(self, request: Request) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        site = ctx.site(fields.get("site") or "default")
        entries = fields.get("words", "").splitlines()
        await run_in_threadpool(
            moderation.set_words, ctx, who, site, fields.get("kind", ""), entries
        )
        return _back(fields, "words", self._url("/admin/words", site=site.name))

    async def close_article(self, request: Request) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        site = ctx.site(fields.get("site") or "default")
        closed = fields.get("closed") == "on"
        await run_in_threadpool(
            moderation.close_article, ctx, who, site, fields.get("uri", ""), closed
        )
        return _back(fields, "closed" if closed else "reopened")

    # -- audit and accounts -----------------------------------------------------------

    async def audit_page(self, request: Request) -> Response:
        try:
            who, token = await self._session(request)
        except Unsigned:
            return self._to_login(request)
        q = request.query_params
        site, sites = self._site(request, who, q.get("site"))
        before = _positive(q.get("before"))
        rows = await run_in_threadpool(
            queue_service.audit_log, context(request), who, site, before, 101, q.get("action", "")
        )
        more = len(rows) > 100
        rows = rows[:100]
        older = (
            self._url("/admin/audit", site=site.name, before=rows[-1]["id"], action=q.get("action"))
            if more
            else None
        )
        return _page(
            "admin/audit.html",
            **self._chrome(
                request, who, token, section="audit", site=site, sites=sites, entries=rows,
                older=older, action=q.get("action", ""),
                here=self._url("/admin/audit", site=site.name),
            ),
        )  # fmt: skip

    async def webhooks_page(self, request: Request) -> Response:
        try:
            who, token = await self._session(request)
        except Unsigned:
            return self._to_login(request)
        q = request.query_params
        site, sites = self._site(request, who, q.get("site"))
        status = q.get("status") or None
        counts, rows = await run_in_threadpool(
            webhooks.deliveries, context(request), who, site, status,
            _positive(q.get("before")), 101,
        )  # fmt: skip
        older = None
        if len(rows) > 100:
            rows = rows[:100]
            older = self._url(
                "/admin/webhooks", site=site.name, status=status, before=rows[-1]["id"]
            )
        return _page(
            "admin/webhooks.html",
            **self._chrome(
                request, who, token, section="webhooks", site=site, sites=sites, rows=rows,
                counts=counts, shown=status or "", older=older,
                here=self._url("/admin/webhooks", site=site.name, status=status),
            ),
        )  # fmt: skip

    async def retry_webhooks(self, request: Request) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        site = ctx.site(fields.get("site") or "default")
        ids = None
        if fields.get("id"):
            one = _positive(fields["id"])
            if one is None:
                raise errors.ValidationFailed("id is a delivery id", field="id")
            ids = [one]
        await run_in_threadpool(webhooks.retry, ctx, who, site, ids)
        return _back(fields, "retried", self._url("/admin/webhooks", site=site.name))

    async def accounts_page(self, request: Request) -> Response:
        try:
            who, token = await self._session(request)
        except Unsigned:
            return self._to_login(request)
        ctx = context(request)
        rows = await run_in_threadpool(accounts.accounts, ctx, who)
        return _page(
            "admin/accounts.html",
            **self._chrome(
                request, who, token, section="accounts", accounts=rows,
                sites=[ALL_SITES, *ctx.sites], here="/admin/accounts", site=None,
            ),
        )  # fmt: skip

    async def save_account(self, request: Request) -> Response:
        who, fields = await self._form(request)
        ctx = context(request)
        access.require(who, "accounts.manage", None)
        site, role = accounts.role_on(
            fields.get("site", ALL_SITES), fields.get("role"), set(ctx.sites)
        )
        name = fields.get("username", "")
        if fields.get("password"):
            await run_in_threadpool(
                accounts.create_account, ctx, who.audit_name, name, fields["password"],
                [(site, role)],
            )  # fmt: skip
        elif fields.get("disabled") in ("on", "off"):
            await run_in_threadpool(
                accounts.set_disabled, ctx, who, name, fields["disabled"] == "on"
            )
        else:
            await run_in_threadpool(accounts.set_role, ctx, who, name, site, role)
        return _back(fields, "account", "/admin/accounts")


def _check_origin(request: Request) -> None:
    """A second layer under the CSRF token: a browser's POST must come from this server's
    own pages (``Origin``, or ``Sec-Fetch-Site`` when a browser sends no Origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            raise errors.CSRFFailed("The form did not come from this site")
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin not in (own, context(request).settings.public_url):
        raise errors.CSRFFailed("The form did not come from this site")


def _days(raw: str | None) -> int | None:
    if raw is None or raw.strip() in ("", "0", "forever"):
        return None
    days = raw.strip()
    if not (days.isascii() and days.isdigit() and len(days) <= 5):
        raise errors.ValidationFailed("days is a whole number of days", field="days")
    return int(days)


def _positive(raw: str | None) -> int | None:
    if raw is None or not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        return None
    return int(raw) if 1 <= int(raw) <= MAX_ID else None


def _back(fields: dict[str, str], done: str, default: str = "/admin/queue") -> Response:
    """Back to the page the form was on, saying what was done."""
    parts = urlsplit(_local(fields.get("back"), default))
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "done"] + [("done", done)]
    return RedirectResponse(f"{parts.path}?{urlencode(query)}", 303)
