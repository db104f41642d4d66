"""Bring another system's comments in: ``voxpop import disqus|wordpress|isso|remark42``.

A reader (``voxpop.importers.<source>``) streams the file as records; this writes them in
ONE transaction, so a file found broken half-way leaves nothing behind, and ``dry_run``
does all the work and rolls it back. Every thread and post is remembered by the source's
own id (table ``imported``): running the same import again adds nothing.

How records become rows:
- A thread's URL becomes the article's ``uri``: its path, percent-encoded as a browser
  sends it, query and fragment dropped (``keep_query`` keeps the query), unless
  ``uri_map`` names the URL. Articles that exist
  already (the same uri on the site) get the imported comments added to them.
- A post's body becomes the Markdown a reader would have typed (HTML is converted by
  ``importers.markdown``), rendered and sanitised by the same renderer as a new comment.
  Deleted posts keep their place in the thread but not their text. Statuses, dates, names
  and vote counts are kept; e-mail addresses and websites that would be refused from a
  reader are dropped; addresses (IPs) are never read.
- A reply whose parent comes later in the file is linked at the end; a reply whose parent
  is missing or on another thread becomes a top-level comment (counted as ``orphans``).
- Nothing is judged by the moderation policy, nobody is notified, no webhook is called:
  this is history, not news. Each touched article's count and version are put right, so
  every cached thread is refreshed.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.importers.records import Post, Reader, SourceError, Thread
from voxpop.model import MAX_ID, Site
from voxpop.services import inputs
from voxpop.services.context import Context
from voxpop.services.conversion import Converter, Ticket
from voxpop.services.render import RENDERER
from voxpop.services.threads import wilson
from voxpop.store import articles as article_store
from voxpop.store import imports as store

SOURCES = ("disqus", "wordpress", "isso", "remark42")
_BATCH = 500
# Past this many posts, bodies are converted in worker processes.
_PARALLEL = 2_000
_PATH_SAFE = "/!$&'()*+,;=:@-._~"


@dataclass
class Summary:
    source: str
    site: str
    dry_run: bool = False
    threads: int = 0
    articles_created: int = 0
    posts: int = 0
    created: int = 0
    already: int = 0
    orphans: int = 0
    dropped_emails: int = 0
    dropped_websites: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


Progress = Callable[[int, Summary], None]


def reader(source: str) -> Reader:
    if source not in SOURCES:
        raise errors.ValidationFailed(
            f"Unknown source {source!r}; choose one of {', '.join(SOURCES)}", field="source"
        )
    module = importlib.import_module(f"voxpop.importers.{source}")
    read: Reader = module.read
    return read


def load_uri_map(path: str) -> dict[str, str]:
    """A CSV file of ``source URL,uri`` lines (``#`` starts a comment)."""
    mapping: dict[str, str] = {}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(enumerate(csv.reader(handle), 1))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise SourceError(f"cannot read the uri map {path}: {reason}") from None
    for number, row in rows:
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) != 2:
            raise SourceError("a uri map line needs two columns: source URL,uri", number)
        try:
            mapping[row[0].strip()] = inputs.uri(row[1])
        except errors.ValidationFailed as exc:
            raise SourceError(f"{row[1]!r} is not a page path: {exc.detail}", number) from None
    return mapping


def uri_for(url: str, uri_map: dict[str, str], keep_query: bool) -> str:
    """The rule: the mapped uri when the URL is mapped, else the URL's path."""
    url = url.strip()
    if url in uri_map:
        return uri_map[url]
    parts = urlsplit(url)
    # Percent-encoded as a browser's location.pathname is (what the widget sends), whether
    # the source kept ``/東京`` or ``/%E6%9D%B1%E4%BA%AC``.
    path = re.sub(r"%2[fF]", "\x00", re.sub(r"/{2,}", "/", parts.path or "/"))  # keep %2F
    path = quote(unquote(path), safe=_PATH_SAFE).replace("%00", "%2F")
    if keep_query and parts.query:
        path += "?" + parts.query
    return inputs.uri(path)


class _DryRun(Exception):
    pass


def run(
    ctx: Context,
    source: str,
    path: str,
    *,
    site: str = "default",
    dry_run: bool = False,
    uri_map: dict[str, str] | None = None,
    keep_query: bool = False,
    progress: Progress | None = None,
    processes: int | None = None,
) -> Summary:
    """Import ``path`` (a file of ``source``'s) into ``site``. Raises ``SourceError`` (and
    imports nothing) when the file is broken. ``processes``: how many worker processes
    convert bodies once the import is big (default: one per core; 1: none)."""
    read = reader(source)
    target = ctx.site(site)
    summary = Summary(source=source, site=target.name, dry_run=dry_run)
    started = time.monotonic()
    job = _Import(ctx, target, f"{source}:{target.name}", summary, uri_map or {}, keep_query)

    def report(done: int) -> None:
        if progress is not None:
            progress(done, summary)

    workers = (os.cpu_count() or 1) if processes is None else processes
    converter = Converter(workers, _PARALLEL)
    try:
        with ctx.db.write() as conn:
            job.conn = conn
            job.write(read(path, report), converter)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    finally:
        converter.close()
    summary.seconds = time.monotonic() - started
    return summary


class _Import:
    def __init__(
        self,
        ctx: Context,
        site: Site,
        source: str,
        summary: Summary,
        uri_map: dict[str, str],
        keep_query: bool,
    ) -> None:
        self.ctx = ctx
        self.site = site
        self.source = source
        self.summary = summary
        self.uri_map = uri_map
        self.keep_query = keep_query
        self.now = ctx.clock()
        self.conn: Connection
        # Threads of the file not yet needed, and the article of each one that was.
        self.declared: dict[str, Thread] = {}
        self.threads: dict[str, int] = {}
        self.touched: set[int] = set()
        # (comment id, parent key, article id) of replies whose parent was not there yet.
        self.deferred: list[tuple[int, str, int]] = []

    def write(self, records: Iterable[Thread | Post], converter: Converter) -> None:
        """Read on while the batch before is converted, then store that one."""
        batch: list[Post] = []
        waiting: tuple[list[Post], Ticket] | None = None
        for record in records:
            if isinstance(record, Thread):
                self.thread(record)
                continue
            batch.append(record)
            if len(batch) >= _BATCH:
                ticket = converter.submit(batch)
                if waiting is not None:
                    self.posts(*waiting)
                waiting, batch = (batch, ticket), []
        if waiting is not None:
            self.posts(*waiting)
        self.posts(batch, converter.submit(batch))
        self.link_deferred()
        store.recount(self.conn, self.touched)

    def thread(self, thread: Thread) -> None:
        """Remember a thread; its article is found or made at its first post."""
        self.summary.threads += 1
        if thread.key not in self.threads:
            self.declared.setdefault(thread.key, thread)

    def article_for(self, thread_key: str, post_key: str) -> int:
        found = self.threads.get(thread_key)
        if found is not None:
            return found
        thread = self.declared.pop(thread_key, None)
        if thread is None:
            raise SourceError(
                f"post {post_key} names thread {thread_key}, which the file does not define "
                "before it"
            )
        key = _key("t", thread.key)
        known = store.known(self.conn, self.source, [key]).get(key)
        if known is not None:
            self.threads[thread.key] = known
            return known
        try:
            uri = uri_for(thread.url, self.uri_map, self.keep_query)
        except (errors.ValidationFailed, ValueError):  # urlsplit: ValueError on "http://[::1"
            raise SourceError(
                f"thread {thread.key}: {thread.url!r} is not a page URL; map it to a uri "
                "with --uri-map"
            ) from None
        title = inputs.clean_text(thread.title)[:300]
        existing = article_store.get(self.conn, self.site.id, uri)
        article = existing or article_store.get_or_create(self.conn, self.site.id, uri, title)
        if existing is None:
            self.summary.articles_created += 1
        elif title and not existing.title:
            article_store.set_title(self.conn, existing.id, title)
        if thread.closed:
            store.close(self.conn, article.id, self.now)
        self.threads[thread.key] = article.id
        store.remember(self.conn, self.source, [(key, article.id)], self.now)
        return article.id

    def posts(self, batch: list[Post], ticket: Ticket) -> None:
        if not batch:
            return
        converted = ticket()
        wanted = [_key("p", p.key) for p in batch]
        wanted += [_key("p", p.parent_key) for p in batch if p.parent_key]
        known = store.known(self.conn, self.source, wanted)
        # id → (root id, article id) of what the known keys and this batch hold.
        where = store.placement(self.conn, known.values()) if known else {}
        fresh: list[tuple[str, int]] = []
        for post, (body, html) in zip(batch, converted, strict=True):
            self.summary.posts += 1
            key = _key("p", post.key)
            if key in known:
                self.summary.already += 1
                continue
            article_id = self.article_for(post.thread_key, post.key)
            parent_id = root_id = None
            deferred_parent: str | None = None
            if post.parent_key:
                parent_id = known.get(_key("p", post.parent_key))
                if parent_id is None:
                    deferred_parent = post.parent_key
                else:
                    root, parent_article = where[parent_id]
                    if parent_article != article_id:
                        parent_id = None
                        self.summary.orphans += 1
                    else:
                        root_id = root
            values = self.values(post, article_id, parent_id, root_id)
            comment_id = store.insert_comment(self.conn, {**values, "body": body, "html": html})
            known[key] = comment_id
            where[comment_id] = (root_id or comment_id, article_id)
            fresh.append((key, comment_id))
            if deferred_parent is not None:
                self.deferred.append((comment_id, deferred_parent, article_id))
            self.touched.add(article_id)
            self.summary.created += 1
            self.summary.statuses[post.status] += 1
        store.remember(self.conn, self.source, fresh, self.now)

    def values(
        self, post: Post, article_id: int, parent_id: int | None, root_id: int | None
    ) -> dict[str, Any]:
        up, down = (min(max(0, n), MAX_ID) for n in (post.up, post.down))
        return {
            "article_id": article_id,
            "site_id": self.site.id,
            "parent_id": parent_id,
            "root_id": root_id,
            "reader_id": None,
            "author_name": inputs.clean_text(post.author_name or "")[:80] or None,
            "author_email": self.email(post.author_email),
            "author_website": self.website(post.author_website),
            "renderer": RENDERER,
            "status": post.status,
            "created_at": post.created_at,
            "edited_at": post.edited_at,
            "up": up,
            "down": down,
            "score": wilson(up, down),
            "flags": 0,
        }

    def email(self, value: str | None) -> str | None:
        try:
            return inputs.email(value)
        except errors.ValidationFailed:
            self.summary.dropped_emails += 1
            return None

    def website(self, value: str | None) -> str | None:
        try:
            return inputs.website(value)
        except errors.ValidationFailed:
            self.summary.dropped_websites += 1
            return None

    def link_deferred(self) -> None:
        """Hang the replies whose parents came later under them, then give every moved
        subtree its true top-level comment."""
        if not self.deferred:
            return
        parents = store.known(self.conn, self.source, [_key("p", k) for _, k, _ in self.deferred])
        linked: list[int] = []
        for comment_id, parent_key, article_id in self.deferred:
            parent_id = parents.get(_key("p", parent_key))
            if parent_id is None or store.article_of(self.conn, parent_id) != article_id:
                self.summary.orphans += 1
                continue
            store.set_parent(self.conn, comment_id, parent_id)
            linked.append(comment_id)
        for comment_id in linked:
            store.move_subtree(self.conn, comment_id, self.top_of(comment_id))

    def top_of(self, comment_id: int) -> int:
        seen = {comment_id}
        current = store.parent_of(self.conn, comment_id)
        assert current is not None
        while True:
            if current in seen:
                raise SourceError("some replies name each other as parents (a cycle)")
            seen.add(current)
            above = store.parent_of(self.conn, current)
            if above is None:
                return current
            current = above


def _key(kind: str, raw: str) -> str:
    """The key a thread (``t``) or post (``p``) is remembered by: the source's id, or its
    SHA-256 when it is long (Remark42 names threads by their URL)."""
    if len(raw) <= 180:
        return f"{kind}:{raw}"
    return f"{kind}#{hashlib.sha256(raw.encode()).hexdigest()}"
