"""Feeds of comments: an article's or a site's newest approved comments (Atom, in web)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from voxpop import errors
from voxpop.model import Article, Site
from voxpop.services import inputs
from voxpop.services.context import Context
from voxpop.store import articles as article_store
from voxpop.store import feeds as feed_store
from voxpop.store.feeds import FeedItem

LIMIT = 50


@dataclass(frozen=True, slots=True)
class Feed:
    site: Site
    # The article of an article's feed; None for the site's feed.
    article: Article | None
    items: list[FeedItem]
    # Changes whenever what the feed shows may have changed: an ETag is made of it.
    version: str


def article_version(ctx: Context, site: Site, uri: str) -> int:
    """The article's version alone, read cheaply: what a cached feed is checked against."""
    path = inputs.uri(uri)
    assert ctx.versions is not None
    version = ctx.versions.get(site.id, path)
    if version is None:
        raise errors.UnknownArticle(f"No article {path} on site {site.name!r}")
    return version


def of_article(ctx: Context, site: Site, uri: str, limit: int = LIMIT) -> Feed:
    """The article's newest approved comments, replies included, newest first. Its
    version is the article's: every change to the thread bumps it."""
    path = inputs.uri(uri)
    with ctx.db.read() as conn:
        article = article_store.get(conn, site.id, path)
        if article is None:
            raise errors.UnknownArticle(f"No article {path} on site {site.name!r}")
        items = feed_store.of_article(conn, article.id, limit)
    return Feed(site, article, items, str(article.version))


def of_site(ctx: Context, site: Site, limit: int = LIMIT) -> Feed:
    """The site's newest approved comments across its articles, newest first. Its version
    digests which comments are in it and their articles' versions (bumped by every edit,
    approval, removal or new title), so it changes exactly when the feed may have."""
    with ctx.db.read() as conn:
        items = feed_store.of_site(conn, site.id, limit)
    digest = hashlib.blake2b(digest_size=12)
    for item in items:
        digest.update(f"{item.id}:{item.article_id}:{item.article_version};".encode())
    return Feed(site, None, items, digest.hexdigest())
