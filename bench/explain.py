#!/usr/bin/env python3
"""Query plans of voxpop's hot queries, and the number of queries a thread read makes.

usage: .venv/bin/python bench/explain.py [--url URL] [--site default] [--slow-ms 10]
                                         [--json OUT] [--markdown OUT]

URL defaults to VOXPOP_DATABASE_URL (PostgreSQL: EXPLAIN ANALYZE is PostgreSQL's). Made for
the database bench/run fills with 1,000,000 comments (bench/fill_pg.py), usable against any
voxpop database on PostgreSQL: it only reads (the write it explains, a vote, runs in a
transaction that is rolled back), and it needs no HTTP server.

1. The SQL is voxpop's own: each hot path is called through its service function (the
   thread page, the article version, the article summary, the ratings, the moderation
   queue, the feeds, a comment by id, a vote) while a SQLAlchemy `before_cursor_execute`
   listener records every statement with its parameters. The vote runs against a
   stand-in for the database's writer that rolls its transaction back. The cached read's
   version check does not go through SQLAlchemy (store/versions.py, one psycopg
   round trip): its statement is taken from that module.
2. Each recorded statement is run again as `EXPLAIN (ANALYZE, BUFFERS)` with the same
   parameters (a path's statements in one transaction, rolled back), and its plan
   printed. Flagged: a Seq Scan on comments, votes or ratings, and any statement whose
   execution took more than --slow-ms.
3. Queries per thread read: for the threads `/fill/nested-10`, `-100` and `-1000` (nested
   replies up to 8 levels deep; bench/fill_pg.py makes them; otherwise the articles
   whose comment counts are nearest), the statements of one `threads.thread` call, and of
   two `GET /api/v1/comments?uri=...&limit=1000` through voxpop's ASGI app in this process
   (the first builds the page, the second is served from the cache), counting the
   version reads too. The counts must not grow with the number of comments (no N+1).

The targets are picked from the data: the site's busiest article (most comments), an
approved comment of it, a reader who wrote on it, and 20 articles for the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import secrets
import sys
import time
from contextlib import contextmanager
from dataclasses import replace

HERE = os.path.dirname(os.path.abspath(__file__))
SCAN = re.compile(r"(Parallel )?Seq Scan on (comments|votes|ratings)\b")
EXEC = re.compile(r"Execution Time: ([\d.]+) ms")
WRITES = ("INSERT", "UPDATE", "DELETE")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("VOXPOP_DATABASE_URL", ""))
    ap.add_argument("--site", default="default")
    ap.add_argument("--slow-ms", type=float, default=10.0, help="flag statements slower than")
    ap.add_argument("--json", help="write the findings as JSON here")
    ap.add_argument("--markdown", help="write the summary tables (Markdown) here")
    ap.add_argument("--plans", action="store_true", help="print every plan (default: flagged)")
    return ap.parse_args()


class Recorder:
    """Every statement SQLAlchemy sends, while recording."""

    def __init__(self, engine):
        import sqlalchemy as sa

        self.on = False
        self.statements = []
        sa.event.listen(engine, "before_cursor_execute", self._hook)

    def _hook(self, conn, cursor, statement, parameters, context, executemany):
        if self.on:
            self.statements.append((statement, parameters))

    @contextmanager
    def capture(self):
        self.statements = []
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


class RollbackWriter:
    """Stands in for Database in a write verb: runs the job in a transaction, rolls back."""

    def __init__(self, db):
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def transact(self, fn):
        with self._db.engine.connect() as conn:
            trans = conn.begin()
            try:
                return fn(conn)
            finally:
                trans.rollback()


def explain(db, statements, slow_ms):
    """EXPLAIN (ANALYZE, BUFFERS) each statement, in order, in one rolled-back transaction."""
    out = []
    with db.engine.connect() as conn:
        trans = conn.begin()
        try:
            for sql, params in statements:
                verb = sql.lstrip().split(None, 1)[0].upper()
                if verb not in ("SELECT", "WITH", *WRITES):
                    continue  # SAVEPOINT and the like
                rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()
                plan = "\n".join(r[0] for r in rows)
                m = EXEC.search(plan)
                ms = float(m.group(1)) if m else 0.0
                flags = sorted({f"Seq Scan on {x.group(2)}" for x in SCAN.finditer(plan)})
                if ms > slow_ms:
                    flags.append(f"{ms:.1f} ms > {slow_ms:g} ms")
                out.append(
                    {"sql": sql, "params": _jsonable(params), "plan": plan, "ms": ms,
                     "flags": flags}
                )  # fmt: skip
        finally:
            trans.rollback()
    return out


def _jsonable(params):
    if isinstance(params, dict):
        return {k: _jsonable(v) for k, v in params.items()}
    if isinstance(params, list | tuple):
        return [_jsonable(v) for v in params]
    if isinstance(params, int | float | str | bool) or params is None:
        return params
    return str(params)


def one_line(sql, width=110):
    text = " ".join(sql.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main():
    a = parse_args()
    if not a.url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise SystemExit("explain.py: --url (or VOXPOP_DATABASE_URL) must be postgresql://...")
    env = dict(os.environ, VOXPOP_DATABASE_URL=a.url, VOXPOP_RATE_LIMITS="off")
    env.setdefault("VOXPOP_SECRET_KEY", secrets.token_urlsafe(24))  # no dev secret file
    env.setdefault("VOXPOP_MAIL_WORKER", "off")

    import sqlalchemy as sa

    from voxpop import settings as settings_module
    from voxpop.model import Filter, Sort
    from voxpop.services import comments as comment_service
    from voxpop.services import feeds, queue, ratings, threads
    from voxpop.services.context import open_context
    from voxpop.services.identity import Actor
    from voxpop.store import versions as versions_store
    from voxpop.store.db import Database
    from voxpop.store.schema import articles, comments

    settings = settings_module.load(env)
    db = Database(settings.database_url)
    if db.is_sqlite:
        raise SystemExit("explain.py: PostgreSQL only")
    # open_context makes sure every configured site has its row: a no-op on a database
    # voxpop has run on.
    ctx = open_context(settings, db)
    site = ctx.site(a.site)
    rec = Recorder(db.engine)

    # ------------------------------------------------------------- targets from the data
    with db.engine.connect() as conn:
        total = conn.execute(
            sa.select(sa.func.count()).select_from(comments).where(comments.c.site_id == site.id)
        ).scalar_one()
        all_comments = conn.execute(
            sa.text("SELECT reltuples::bigint FROM pg_class WHERE relname = 'comments'")
        ).scalar_one()
        busiest = conn.execute(
            sa.select(articles.c.id, articles.c.uri, articles.c.comment_count)
            .where(articles.c.site_id == site.id)
            .order_by(articles.c.comment_count.desc())
            .limit(1)
        ).first()
        if busiest is None:
            raise SystemExit(f"explain.py: site {a.site!r} has no articles")
        some_uris = list(
            conn.execute(
                sa.select(articles.c.uri)
                .where(articles.c.site_id == site.id)
                .order_by(articles.c.comment_count.desc())
                .limit(20)
            ).scalars()
        )
        target = conn.execute(
            sa.select(comments.c.id, comments.c.reader_id)
            .where(
                comments.c.article_id == busiest.id,
                comments.c.status == "approved",
                comments.c.reader_id.is_not(None),
            )
            .order_by(comments.c.id.desc())
            .limit(1)
        ).first()
        voter = conn.execute(
            sa.text(
                "SELECT r.id FROM readers r WHERE r.id <> :author AND NOT EXISTS "
                "(SELECT 1 FROM votes v WHERE v.comment_id = :c AND v.reader_id = r.id) "
                "ORDER BY r.id LIMIT 1"
            ),
            {"author": target.reader_id if target else 0, "c": target.id if target else 0},
        ).scalar()
        nested = {}
        for size in (10, 100, 1000):
            row = (
                conn.execute(
                    sa.select(articles.c.uri, articles.c.comment_count).where(
                        articles.c.site_id == site.id, articles.c.uri == f"/fill/nested-{size}"
                    )
                ).first()
                or conn.execute(
                    sa.select(articles.c.uri, articles.c.comment_count)
                    .where(articles.c.site_id == site.id)
                    .order_by(sa.func.abs(articles.c.comment_count - size))
                    .limit(1)
                ).first()
            )
            nested[size] = (row.uri, int(row.comment_count))
    if target is None:
        raise SystemExit("explain.py: the busiest article has no approved comment by a reader")
    reader = Actor(reader_id=target.reader_id, moderator=False, address="explain")
    moderator = Actor(reader_id=None, moderator=True, address="explain")
    print(
        f"Database: {all_comments:,} comments (estimate), {total:,} on site {a.site!r}; "
        f"busiest article {busiest.uri} ({busiest.comment_count:,} approved comments)"
    )

    # ------------------------------------------------------------- the hot paths
    page = threads.thread(ctx, site, busiest.uri, Sort.BEST, Filter.ALL, 50)
    cursor = page.next_cursor
    voting = replace(ctx, db=RollbackWriter(db))
    top_limits = itertools.count(19)
    paths = [
        ("thread page: best, 50 top-level + their replies (busiest article)",
         lambda: threads.thread(ctx, site, busiest.uri, Sort.BEST, Filter.ALL, 50)),
        ("thread page 2: best, after a cursor",
         lambda: threads.thread(ctx, site, busiest.uri, Sort.BEST, Filter.ALL, 50, cursor)),
        ("thread page: new, 50",
         lambda: threads.thread(ctx, site, busiest.uri, Sort.NEW, Filter.ALL, 50)),
        (f"thread, whole: {nested[1000][0]}, limit 1000",
         lambda: threads.thread(ctx, site, nested[1000][0], Sort.BEST, Filter.ALL, 1000)),
        ("article summary: 20 uris",
         lambda: threads.summaries(ctx, site, some_uris)),
        ("ratings summary: an article's tally and the reader's own stars",
         lambda: ratings.get(ctx, site, reader, busiest.uri)),
        ("ratings: site's top 20 by damped average",  # a new limit each call: not memoised
         lambda: ratings.top(ctx, site, next(top_limits))),
        ("reader's own votes and comments on an article (/me)",
         lambda: threads.mine(ctx, site, reader, busiest.uri)),
        ("moderation queue: pending tab, first page",
         lambda: queue.queue(ctx, moderator, site, "pending")),
        ("moderation queue: flagged tab, first page",
         lambda: queue.queue(ctx, moderator, site, "flagged")),
        ("site feed: newest 50 approved",
         lambda: feeds.of_site(ctx, site)),
        ("article feed: newest 50 approved (busiest article)",
         lambda: feeds.of_article(ctx, site, busiest.uri)),
        ("comment by id",
         lambda: comment_service.get(ctx, reader, target.id)),
        ("vote: upsert (rolled back)",
         lambda: comment_service.vote(
             voting, Actor(reader_id=voter, moderator=False, address="explain"), target.id, 1)),
    ]  # fmt: skip
    results = []
    for name, call in paths:
        call()  # once to warm the caches, as a hot path is
        with rec.capture() as stmts:
            call()
        plans = explain(db, list(stmts), a.slow_ms)
        results.append({"path": name, "statements": plans})
    # The cached read's check: one statement outside SQLAlchemy.
    with db.engine.connect() as conn:
        trans = conn.begin()
        sql = versions_store._PG.replace("%s", "%(site)s", 1).replace("%s", "%(uri)s", 1)
        conn.exec_driver_sql(sql, {"site": site.id, "uri": busiest.uri}).all()
        trans.rollback()
    results.insert(
        0,
        {
            "path": "article version: the cached read's check (store/versions.py)",
            "statements": explain(db, [(sql, {"site": site.id, "uri": busiest.uri})], a.slow_ms),
        },
    )

    # ------------------------------------------------------------- queries per thread read
    counts = count_queries(ctx, db, rec, site, settings, nested, threads, Sort, Filter)

    # ------------------------------------------------------------- report
    flagged = 0
    for r in results:
        print()
        print(f"## {r['path']}: {len(r['statements'])} statement(s)")
        for i, s in enumerate(r["statements"], 1):
            mark = f"  FLAGGED: {', '.join(s['flags'])}" if s["flags"] else ""
            flagged += bool(s["flags"])
            print(f"[{i}] {s['ms']:.3f} ms{mark}")
            print("    " + one_line(s["sql"], 400))
            if a.plans or s["flags"]:
                print("    params: " + one_line(json.dumps(s["params"]), 300))
                print("    " + s["plan"].replace("\n", "\n    "))
    md = summary_markdown(results, counts, a.slow_ms)
    print()
    print(md)
    print(
        f"{flagged} statement(s) flagged (Seq Scan on comments/votes/ratings, or over "
        f"{a.slow_ms:g} ms)."
    )
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(md)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(
                {
                    "comments": all_comments,
                    "site_comments": total,
                    "busiest": [busiest.uri, busiest.comment_count],
                    "paths": results,
                    "queries_per_read": counts,
                    "flagged": flagged,
                },
                f,
                indent=1,
            )
    db.dispose()
    return 0


def count_queries(ctx, db, rec, site, settings, nested, threads, Sort, Filter):
    """Statements per thread read: the service call, and the HTTP read through the app."""
    from voxpop.app import create_app

    app = create_app(settings, db, migrate_on_start=False)
    actx = app.state.ctx
    version_reads = [0]
    real_get = actx.versions.get
    real_get_async = actx.versions.get_async

    def counted_get(site_id, uri):
        version_reads[0] += 1
        return real_get(site_id, uri)

    async def counted_get_async(site_id, uri):
        # the cached read's path on PostgreSQL (web/fastpath.py), awaited on the loop
        version_reads[0] += 1
        return await real_get_async(site_id, uri)

    actx.versions.get = counted_get
    actx.versions.get_async = counted_get_async
    out = []
    for size, (uri, approved) in nested.items():
        with rec.capture() as stmts:
            page = threads.thread(ctx, site, uri, Sort.BEST, Filter.ALL, 1000)
        n_items = _count_items(page.items)
        service = len(stmts)
        http = []
        for _ in range(2):  # the first read builds the page, the second is a cache hit
            version_reads[0] = 0
            path = "/api/v1/comments?" + _qs({"uri": uri, "limit": "1000"})
            with rec.capture() as stmts:
                t = time.perf_counter()
                status, body = asyncio.run(_asgi_get(app, path))
                ms = (time.perf_counter() - t) * 1e3
            if status != 200:
                raise SystemExit(f"explain.py: GET {path} answered {status}: {body[:200]!r}")
            got = _count_items(json.loads(body)["items"])
            http.append(
                {"sql": len(stmts), "version_reads": version_reads[0], "ms": round(ms, 1),
                 "comments": got, "statements": [one_line(s, 160) for s, _ in stmts]}
            )  # fmt: skip
        out.append(
            {
                "size": size,
                "uri": uri,
                "approved": approved,
                "comments_read": n_items,
                "depth": _depth(page.items),
                "service_sql": service,
                "http_miss": http[0],
                "http_hit": http[1],
            }
        )
    return out


def _qs(d):
    from urllib.parse import urlencode

    return urlencode(d)


async def _asgi_get(app, path_qs):
    path, _, qs = path_qs.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": qs.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"accept", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def _count_items(items):
    n = 0
    for c in items:
        n += 1
        replies = c.get("replies") if isinstance(c, dict) else c.replies
        if isinstance(replies, dict):
            replies = replies.get("items")
        n += _count_items(replies or [])
    return n


def _depth(items, d=0):
    return max((_depth(c.replies, d + 1) for c in items), default=d)


def summary_markdown(results, counts, slow_ms):
    lines = [
        "| hot path | statements | slowest ms | total ms | flags |",
        "|---|---:|---:|---:|---|",
    ]
    for r in results:
        st = r["statements"]
        flags = "; ".join(
            f"[{i}] {', '.join(s['flags'])}" for i, s in enumerate(st, 1) if s["flags"]
        )
        lines.append(
            f"| {r['path']} | {len(st)} | {max((s['ms'] for s in st), default=0):.2f} | "
            f"{sum(s['ms'] for s in st):.2f} | {flags or 'none'} |"
        )
    lines += [
        "",
        "| thread | comments read | levels | service: SQL | HTTP 1st read: SQL + "
        "version reads | HTTP 2nd read (cached): SQL + version reads |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in counts:
        m, h = c["http_miss"], c["http_hit"]
        lines.append(
            f"| {c['uri']} | {c['comments_read']} | {c['depth']} | {c['service_sql']} | "
            f"{m['sql']} + {m['version_reads']} | {h['sql']} + {h['version_reads']} |"
        )
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
