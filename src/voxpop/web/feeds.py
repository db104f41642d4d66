"""Atom feeds (RFC 4287) of approved comments: ``GET /feeds/comments.atom?uri=&site=`` for
an article, and without ``uri`` for a whole site.

Written with ElementTree, which escapes every text and attribute; characters XML 1.0
forbids (control characters, lone surrogates) are dropped first. An article's feed is
cached and tagged by the article's version, so a feed reader's ``If-None-Match`` is
answered with 304 after one cheap version read.
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.responses import Response

from voxpop import __version__
from voxpop.model import Site
from voxpop.services import feeds as feed_service
from voxpop.services.context import Context
from voxpop.services.subscriptions import links
from voxpop.store.feeds import FeedItem
from voxpop.web.cache import Entry, ThreadCache
from voxpop.web.deps import context
from voxpop.web.pages import feed_url, thread_url
from voxpop.web.serialize import iso

ATOM = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml; charset=utf-8"
CACHE_CONTROL = "public, max-age=60"
# Bump when the rendering changes, so that feed readers' ETags stop matching.
FORMAT = "1"
ANONYMOUS = "Anonymous"
# Not allowed in XML 1.0 (C0 controls but tab, LF, CR; surrogates; U+FFFE, U+FFFF), or
# discouraged there (DEL, C1 controls).
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

router = APIRouter(include_in_schema=False)


@router.get("/feeds/comments.atom")
def comments_feed(request: Request) -> Response:
    """An article's feed with ``uri``, the site's without; ``site`` defaults to
    ``default``. Unknown site or article: 404; a malformed uri: 422."""
    q = request.query_params
    ctx = context(request)
    site = ctx.site(q.get("site") or "default")
    uri = q.get("uri")
    if uri is None:
        return _site_feed(request, ctx, site)
    return _article_feed(request, ctx, site, uri)


def _article_feed(request: Request, ctx: Context, site: Site, uri: str) -> Response:
    current = feed_service.article_version(ctx, site, uri)
    etag = _etag(ctx, site, "a", str(current))
    if _fresh(request, etag):
        return _not_modified(etag)
    cache: ThreadCache = request.app.state.thread_cache
    key = ("feed", site.id, uri)
    entry = cache.get(key, current)
    if entry is None:
        feed = feed_service.of_article(ctx, site, uri)
        assert feed.article is not None
        version = feed.article.version
        entry = Entry(version, _etag(ctx, site, "a", str(version)), render(ctx, feed))
        cache.put(key, entry)
    if _fresh(request, entry.etag):
        return _not_modified(entry.etag)
    return _ok(entry.etag, entry.body)


def _site_feed(request: Request, ctx: Context, site: Site) -> Response:
    feed = feed_service.of_site(ctx, site)
    etag = _etag(ctx, site, "s", feed.version)
    if _fresh(request, etag):
        return _not_modified(etag)
    return _ok(etag, render(ctx, feed))


# -- HTTP ----------------------------------------------------------------------------


def _etag(ctx: Context, site: Site, kind: str, version: str) -> str:
    """A weak ETag of the feed's version, and of what else its text depends on (the
    format, the public URL, the site's origins and title)."""
    salt = "\n".join([FORMAT, ctx.settings.public_url, site.title, *site.origins])
    digest = hashlib.blake2b(salt.encode(), digest_size=4).hexdigest()
    return f'W/"feed-{kind}{site.id}-{version}-{digest}"'


def _fresh(request: Request, etag: str) -> bool:
    """Whether ``If-None-Match`` names the current version (weak comparison, RFC 9110)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in header.split(","))


def _not_modified(etag: str) -> Response:
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": CACHE_CONTROL})


def _ok(etag: str, body: bytes) -> Response:
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    return Response(body, media_type=MEDIA_TYPE, headers=headers)


# -- links ---------------------------------------------------------------------------


def article_link(ctx: Context, site: Site, uri: str) -> tuple[str, str]:
    """Where readers read an article's comments, and the prefix of a comment's anchor
    there: the article on the site's first origin, as in mails (the widget's
    ``#voxpop-c<id>``), or, for a site without origins, the thread page here (``#c<id>``)."""
    if site.origins:
        return links(ctx).article(site, uri), "voxpop-c"
    return ctx.settings.public_url + thread_url(uri, site.name), "c"


def self_link(ctx: Context, site: Site, uri: str | None) -> str:
    if uri is not None:
        return ctx.settings.public_url + feed_url(uri, site.name)
    query = urlencode({"site": site.name}) if site.name != "default" else ""
    return f"{ctx.settings.public_url}/feeds/comments.atom" + (f"?{query}" if query else "")


def entry_id(ctx: Context, item: FeedItem) -> str:
    """A tag URI (RFC 4151) of the public URL's host, the comment's day of posting and its
    id: neither an edit nor a restart changes it."""
    base = urlsplit(ctx.settings.public_url)
    host = (base.hostname or "localhost").lower()
    path = quote(base.path.rstrip("/"), safe="/")
    day = item.created_at.astimezone(UTC).strftime("%Y-%m-%d")
    return f"tag:{host},{day}:{path}/comment/{item.id}"


# -- XML -----------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _ILLEGAL.sub("", text)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        element.text = _clean(text)
    return element


def _updated(item: FeedItem) -> datetime:
    return item.edited_at or item.created_at


def render(ctx: Context, feed: feed_service.Feed) -> bytes:
    """The feed as an Atom 1.0 document, UTF-8."""
    site, article = feed.site, feed.article
    root = ET.Element("feed", {"xmlns": ATOM})
    if article is not None:
        _add(root, "id", self_link(ctx, site, article.uri))
        _add(root, "title", f"Comments on “{article.title or article.uri}”")
        alternate: str | None = article_link(ctx, site, article.uri)[0]
        latest = article.created_at
    else:
        _add(root, "id", self_link(ctx, site, None))
        _add(root, "title", f"Comments on {site.title}")
        alternate = site.origins[0] + "/" if site.origins else None
        latest = ctx.clock()
    if feed.items:
        latest = max(_updated(item) for item in feed.items)
    _add(root, "updated", iso(latest))
    _add(
        root,
        "link",
        rel="self",
        type="application/atom+xml",
        href=self_link(ctx, site, article.uri if article else None),
    )
    if alternate is not None:
        _add(root, "link", rel="alternate", type="text/html", href=alternate)
    _add(root, "generator", "voxpop", version=__version__)
    pages: dict[str, tuple[str, str]] = {}
    for item in feed.items:
        page = pages.get(item.article_uri)
        if page is None:
            page = pages[item.article_uri] = article_link(ctx, site, item.article_uri)
        url, anchor = page
        author = item.author_name or ANONYMOUS
        entry = _add(root, "entry")
        _add(entry, "id", entry_id(ctx, item))
        _add(entry, "title", f"{author} on {item.article_title or item.article_uri}")
        _add(_add(entry, "author"), "name", author)
        _add(entry, "published", iso(item.created_at))
        _add(entry, "updated", iso(_updated(item)))
        _add(entry, "link", rel="alternate", type="text/html", href=f"{url}#{anchor}{item.id}")
        _add(entry, "content", item.html, type="html")
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document
