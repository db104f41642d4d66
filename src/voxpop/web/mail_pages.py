"""The pages behind the links in notification mails: confirm a subscription, unsubscribe,
manage one's subscriptions.

Their URLs carry signed tokens (the token is the proof: no cookies, no CSRF token), and
they answer in HTML whatever the client accepts (a mail client's one-click POST sends no
Accept header), errors included, never cached, indexed or sent on in a Referer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from voxpop import errors
from voxpop.model import MAX_ID
from voxpop.services import subscriptions as subscription_service
from voxpop.services.context import Context
from voxpop.store.subscriptions import Subscription
from voxpop.web import pages
from voxpop.web.deps import context
from voxpop.web.i18n import Translator, pick
from voxpop.web.pages import env

MAIL_PAGES = frozenset({"/subscriptions/confirm", "/subscriptions/manage", "/unsubscribe"})
PRIVATE_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
MANAGE_NOTICES = ("cancelled", "cancelled_all", "instant", "digest", "unchanged")


class MailPages:
    def __init__(self) -> None:
        self.router = APIRouter(include_in_schema=False)
        r = self.router
        r.add_api_route("/subscriptions/confirm", self.confirm_page, methods=["GET"])
        r.add_api_route("/unsubscribe", self.unsubscribe_page, methods=["GET"])
        r.add_api_route("/unsubscribe", self.unsubscribe_post, methods=["POST"])
        r.add_api_route("/subscriptions/manage", self.manage_page, methods=["GET"])
        r.add_api_route("/subscriptions/manage", self.manage_post, methods=["POST"])

    async def confirm_page(self, request: Request) -> Response:
        """Double opt-in: the confirmation mail's link confirms (again: harmlessly)."""
        ctx = context(request)
        token = _mail_token(request)
        done = await run_in_threadpool(subscription_service.confirm, ctx, token)
        sub = done.subscription
        site = ctx.sites.get(sub.site)
        t = _mail_translator(request, site.language if site else None)
        return _private_page(
            "subscription_confirmed.html",
            t=t,
            already=done.already,
            scope=sub.scope if sub.scope in subscription_service.SCOPES else "thread",
            delivery="digest" if sub.delivery == "digest" else "instant",
            article=_article_link(ctx, sub),
            manage_url=_manage_url(request, done.manage_token),
        )

    async def unsubscribe_page(self, request: Request) -> Response:
        """What the unsubscribe link would cancel, and the button that does it (a GET
        changes nothing: link scanners in mail systems open every link)."""
        ctx = context(request)
        token = _mail_token(request)
        seen = await run_in_threadpool(subscription_service.describe, ctx, token)
        return _private_page(
            "unsubscribe.html",
            t=_mail_translator(request, seen.language),
            done=False,
            title=seen.title,
            anything_left=seen.cancelled > 0,
            action=_self_url(request, "/unsubscribe", token),
            manage_url=_manage_url(request, seen.manage_token),
        )

    async def unsubscribe_post(self, request: Request) -> Response:
        """The button, and RFC 8058 one-click: a mail client POSTs
        ``List-Unsubscribe=One-Click`` without cookies or a CSRF token (the signed token is
        the proof). Idempotent."""
        ctx = context(request)
        token = _mail_token(request, await _form_fields(request))
        done = await run_in_threadpool(subscription_service.unsubscribe, ctx, token)
        return _private_page(
            "unsubscribe.html",
            t=_mail_translator(request, done.language),
            done=True,
            title=done.title,
            cancelled=done.cancelled,
            manage_url=_manage_url(request, done.manage_token),
        )

    async def manage_page(self, request: Request) -> Response:
        ctx = context(request)
        token = _mail_token(request)
        seen = await run_in_threadpool(subscription_service.overview, ctx, token)
        done = request.query_params.get("done")
        rows = [
            {
                "id": s.id,
                "scope": s.scope if s.scope in subscription_service.SCOPES else "thread",
                "delivery": "digest" if s.delivery == "digest" else "instant",
                "active": s.confirmed_at is not None,
                **_article_link(ctx, s),
            }
            for s in seen.subscriptions
        ]
        return _private_page(
            "subscriptions_manage.html",
            t=_mail_translator(request, seen.subscriber.language),
            email=seen.subscriber.email,
            subscriptions=rows,
            notice=done if done in MANAGE_NOTICES else None,
            action=_self_url(request, "/subscriptions/manage", token),
        )

    async def manage_post(self, request: Request) -> Response:
        """The manage page's forms (the token is the proof, as in the mail's link); then
        back to the page, which says what was done."""
        ctx = context(request)
        fields = await _form_fields(request)
        token = _mail_token(request, fields)
        action = fields.get("action", "")
        raw_id = fields.get("subscription_id", "")
        subscription_id = _id_or_none(raw_id)
        delivery = fields.get("delivery") or None
        changed = await run_in_threadpool(
            subscription_service.change, ctx, token, action, subscription_id, delivery
        )
        if action == "cancel_all":
            notice = "cancelled_all"
        elif not changed:
            notice = "unchanged"
        else:
            notice = "cancelled" if action == "cancel" else str(delivery)
        target = _self_url(request, "/subscriptions/manage", token, done=notice)
        return RedirectResponse(target, status_code=303, headers=PRIVATE_HEADERS)


def error_page(request: Request, exc: errors.VoxpopError) -> Response | None:
    """The HTML error page of any page: the mails' pages get their own (always), every
    other page that of ``pages.error_page`` (when a browser asks for HTML)."""
    if request.url.path in MAIL_PAGES:
        return _mail_error_page(request, exc)
    return pages.error_page(request, exc)


def _mail_error_page(request: Request, exc: errors.VoxpopError) -> Response:
    """The error pages of the mails' links: always HTML, in the reader's language, saying
    what to do next."""
    t = _mail_translator(request, None)
    title, detail = exc.title, exc.detail
    if isinstance(exc, errors.InvalidToken):
        title, detail = t("err_token_title"), t("err_token")
    elif isinstance(exc, errors.TokenExpired):
        hours = max(1, context(request).settings.confirm_ttl // 3600)
        title, detail = t("err_expired_title"), t("err_expired", hours=hours)
    elif isinstance(exc, errors.UnknownSubscription):
        title, detail = t("err_unknown_title"), t("err_unknown")
    html = env.get_template("subscription_error.html").render(t=t, title=title, detail=detail)
    headers = dict(PRIVATE_HEADERS)
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    return HTMLResponse(html, status_code=exc.status, headers=headers)


def _mail_token(request: Request, fields: dict[str, str] | None = None) -> str:
    """The signed token of a mail's link: in the query string, or a posted ``token``."""
    token = (request.query_params.get("token") or (fields or {}).get("token") or "").strip()
    if not token or len(token) > 200:
        raise errors.InvalidToken("The link is incomplete; open it from the mail again")
    return token


def _mail_translator(request: Request, language: str | None) -> Translator:
    """``?lang=``, else the subscriber's or site's language, else the default site's."""
    if language is None:
        default = context(request).sites.get("default")
        language = default.language if default else "en"
    return Translator(pick(request.query_params.get("lang"), language))


def _self_url(request: Request, path: str, token: str, **extra: str) -> str:
    """A link back to one of the mails' pages, keeping a chosen ``?lang=`` (if valid)."""
    query = {"token": token}
    lang = pick(request.query_params.get("lang"), "")
    if lang:
        query["lang"] = lang
    return f"{path}?{urlencode({**query, **extra})}"


def _manage_url(request: Request, token: str) -> str:
    return _self_url(request, "/subscriptions/manage", token)


def _article_link(ctx: Context, sub: Subscription) -> dict[str, str]:
    site = ctx.sites.get(sub.site)
    url = subscription_service.links(ctx).article(site, sub.uri)
    return {"title": sub.title or sub.uri, "url": url}


def _private_page(template: str, **values: Any) -> Response:
    """A page whose URL holds a token: never cached, never indexed, never in a Referer."""
    html = env.get_template(template).render(**values)
    return HTMLResponse(html, headers=PRIVATE_HEADERS)


async def _form_fields(request: Request) -> dict[str, str]:
    """A posted form's text fields; nothing when the body is not a form (a one-click POST
    may come as multipart/form-data, urlencoded, or even empty)."""
    try:
        form = await request.form()
    except (HTTPException, ValueError):  # a malformed multipart body: 400 from Starlette
        return {}
    return {k: str(v) for k, v in form.items() if isinstance(v, str)}


def _id_or_none(raw: str) -> int | None:
    """A posted id; None when it is missing or not an id (the service then says so)."""
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if 1 <= value <= MAX_ID else None
