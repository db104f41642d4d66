#!/usr/bin/env python3
"""Fill a migrated voxpop PostgreSQL database with many other comments, fast, in SQL.

usage: fill_pg.py [--url URL] [--comments 1000000] [--articles 10000] [--json OUT]

For bench/run's "1,000,000 comments" scenario (and bench/explain.py): the database already
holds the benchmark's own thread; this adds, beside it, a realistic load of other articles
and comments with `INSERT ... SELECT generate_series(...)` (no HTTP, no Python per row):

  readers    200,000 (--readers)
  articles   10,000 (--articles) on two sites: 90 % on the default site (the one the
             benchmark reads), 10 % on a second site `fill-other`; comments per article
             skewed as on a news site: the busiest article gets ~1 % of all comments, the
             median one ~60
  comments   --comments in all (default 1,000,000):
             - three threads with deep nesting, `/fill/nested-10`, `/fill/nested-100`,
               `/fill/nested-1000` (every comment approved; replies up to 8 levels deep):
               what bench/explain.py counts the queries of a thread read on
             - 60 % top-level comments, 30 % replies to them, 10 % replies to replies
             - statuses: 95 % approved, 2 % spam, 1 % rejected, 1.5 % deleted (body
               emptied, as voxpop deletes), 0.5 % shadowed; of the last week's comments
               3 % still pending (the moderation queue)
             - 75 % from a reader (prolific readers write more), 50 % with an e-mail,
               address hashes on the last 30 days' comments, 300-450-character bodies with
               their HTML, spread over two years
  votes      on approved comments, ~0.9 per comment, consistent with each comment's
             up/down counters and Wilson score; one per reader and comment
  ratings    0-60 per article (~20 on average), mostly 4-5 stars; the articles' rating
             counters are set from them
  flags      1-3 open flags on ~0.3 % of approved comments (counters set)
  articles'  comment_count (approved comments) and version set from their comments

Every NOT NULL column of the tables it writes is given a value; before writing, the
script checks the live schema for NOT NULL columns without a default that it does not
know (a newer migration) and stops if there is one. Deterministic (setseed). Then
VACUUM (ANALYZE) the tables written (what autovacuum would do soon after such a load,
done here so that it does not run during the measurement) and CHECKPOINT. Prints the
time of each step; --json writes them.

Needs psycopg (voxpop's venv). The URL is VOXPOP_DATABASE_URL's form (postgresql://...).
"""

import argparse
import json
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta

import psycopg

SENTENCES = [
    "I think the article misses the point about *local* funding.",
    "Thanks for writing this, it matches what we saw in our town last year.",
    "The numbers in the second chart do not add up to **100%**, is that a typo?",
    "Could you link the original report? I would like to read the methodology.",
    "This is exactly why the council should publish its minutes on time.",
    "My neighbour works there and says the situation is more nuanced.",
    "Good reporting, but the headline is a bit sensational.",
    "Does anyone know whether the new rules apply to small businesses too?",
    "The interview with the mayor was the most interesting part for me.",
    "I have lived here for thirty years and never seen anything like it.",
    "Please keep following this story, people need to know what happens next.",
    "The comparison with last year's budget would have helped a lot.",
]

# The columns each INSERT below fills (besides serial ids); checked against the schema.
FILLED = {
    "readers": {"created_at", "verified_at"},
    "articles": {"site_id", "uri", "title", "created_at", "version", "comment_count"},
    "comments": {
        "article_id",
        "site_id",
        "parent_id",
        "root_id",
        "reader_id",
        "author_name",
        "author_email",
        "author_website",
        "body",
        "html",
        "renderer",
        "status",
        "created_at",
        "edited_at",
        "up",
        "down",
        "score",
        "ip_hash",
        "address_key",
        "spam_score",
        "reasons",
        "flags",
    },  # fmt: skip
    "votes": {"comment_id", "reader_id", "value", "created_at"},
    "ratings": {
        "article_id",
        "reader_id",
        "stars",
        "counted",
        "address_hash",
        "created_at",
        "updated_at",
    },  # fmt: skip
    "flags": {"comment_id", "flagger", "reason", "note", "created_at"},
}

# Moderators work through the queue: what is still pending is from the last week (older
# comments drawn as pending were approved).
STATUS_SQL = """CASE
  WHEN {u} < 0.92 THEN 'approved'
  WHEN {u} < 0.95 THEN CASE WHEN {at} > now() - interval '7 days' THEN 'pending'
                            ELSE 'approved' END
  WHEN {u} < 0.97 THEN 'spam' WHEN {u} < 0.98 THEN 'rejected'
  WHEN {u} < 0.995 THEN 'deleted' ELSE 'shadowed' END"""


def log(msg):
    print(f"[fill {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def dsn(url):
    url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    return url.replace("postgres://", "postgresql://", 1)


def check_schema(conn):
    """Stop if a table we write has a NOT NULL column without default that we do not fill."""
    rows = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_nullable = 'NO' "
        "AND column_default IS NULL AND table_name = ANY(%s)",
        (list(FILLED),),
    ).fetchall()
    keys = {"votes": {"comment_id", "reader_id"}, "ratings": {"article_id", "reader_id"}}
    missing = [
        f"{t}.{c}"
        for t, c in rows
        if c not in FILLED[t] and c not in keys.get(t, set()) and c != "id"
    ]
    if missing:
        raise SystemExit(
            "fill_pg.py: the schema has NOT NULL columns this script does not fill: "
            + ", ".join(sorted(missing))
            + " (a newer migration; add them to bench/fill_pg.py)"
        )
    have = conn.execute("SELECT to_regclass('comments'), to_regclass('votes')").fetchone()
    if None in have:
        raise SystemExit("fill_pg.py: not a migrated voxpop database (no comments/votes table)")


FOREIGN_KEYS = [  # (table, column, referenced table) of every row the fill writes
    ("comments", "article_id", "articles"),
    ("comments", "site_id", "sites"),
    ("comments", "reader_id", "readers"),
    ("comments", "parent_id", "comments"),
    ("comments", "root_id", "comments"),
    ("votes", "comment_id", "comments"),
    ("votes", "reader_id", "readers"),
    ("ratings", "article_id", "articles"),
    ("ratings", "reader_id", "readers"),
    ("flags", "comment_id", "comments"),
    ("articles", "site_id", "sites"),
]


def check_foreign_keys(conn, max_before):
    """Rows whose reference points nowhere, per foreign key (the triggers were skipped)."""
    bad = {}
    for table, column, ref in FOREIGN_KEYS:
        n = conn.execute(
            f"SELECT count(*) FROM {table} t WHERE t.{column} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {ref} r WHERE r.id = t.{column})"
        ).fetchone()[0]
        if n:
            bad[f"{table}.{column}"] = n
    return bad


def nested_thread(n, rng, t0):
    """Rows (parent index or None, created_at) of one deeply nested, all-approved thread."""
    rows, depth = [], []
    for i in range(n):
        if i < 3 or rng.random() < 0.35:
            rows.append((None, t0 + timedelta(minutes=i)))
            depth.append(0)
            continue
        # a reply to one of the 20 latest comments that is not yet 8 levels deep
        choices = [j for j in range(max(0, i - 20), i) if depth[j] < 8]
        parent = rng.choice(choices)
        rows.append((parent, t0 + timedelta(minutes=i)))
        depth.append(depth[parent] + 1)
    return rows, max(depth)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("VOXPOP_DATABASE_URL", ""))
    ap.add_argument("--comments", type=int, default=1_000_000)
    ap.add_argument("--articles", type=int, default=10_000)
    ap.add_argument("--readers", type=int, default=200_000)
    ap.add_argument("--site", default="default", help="the site most of it goes to")
    ap.add_argument("--seed", type=float, default=0.4242)
    ap.add_argument("--no-vacuum", action="store_true", help="ANALYZE only, no VACUUM")
    ap.add_argument("--json", help="write the step times and row counts here")
    ap.add_argument("--explain-steps", action="store_true", help="print each step's plan")
    a = ap.parse_args()
    if not a.url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        raise SystemExit("fill_pg.py: --url (or VOXPOP_DATABASE_URL) must be postgresql://...")
    nested_sizes = (10, 100, 1000)
    bulk = a.comments - sum(nested_sizes)
    if bulk < 1000 or a.articles < 10:
        raise SystemExit("fill_pg.py: need at least 2,110 comments and 10 articles")
    n_tops, n_r1 = int(bulk * 0.6), int(bulk * 0.3)

    times, counts = {}, {}
    conn = psycopg.connect(dsn(a.url), autocommit=True)
    check_schema(conn)
    # As a superuser, skip the per-row foreign-key triggers (a third of the insert time)
    # and check every foreign key once at the end instead; as the app's role, keep them.
    try:
        conn.execute("SET session_replication_role = replica")
        fk_triggers = False
    except psycopg.errors.InsufficientPrivilege:
        fk_triggers = True
    conn.execute("SET temp_buffers = '512MB'")  # the plan tables stay in memory
    conn.execute("SET work_mem = '256MB'")
    conn.execute("SET maintenance_work_mem = '512MB'")
    site = conn.execute("SELECT id FROM sites WHERE name = %s", (a.site,)).fetchone()
    if site is None:
        raise SystemExit(f"fill_pg.py: no site {a.site!r} (start voxpop once to create it)")
    site_id = site[0]
    if conn.execute("SELECT 1 FROM articles WHERE uri LIKE '/fill/%%' LIMIT 1").fetchone():
        raise SystemExit("fill_pg.py: this database is already filled (/fill/ articles exist)")
    max_before = conn.execute("SELECT coalesce(max(id), 0) FROM comments").fetchone()[0]
    t_all = time.perf_counter()

    def step(name, sql, params=None):
        t = time.perf_counter()
        with conn.transaction():
            conn.execute("SELECT setseed(%s)", (a.seed,))
            if a.explain_steps:  # diagnosing the fill itself: where its time goes
                plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
                log(f"{name}:\n" + "\n".join(r[0] for r in plan))
                n = -1
            else:
                n = conn.execute(sql, params).rowcount
        times[name] = round(time.perf_counter() - t, 2)
        counts[name] = n
        log(f"{name}: {n:,} rows in {times[name]:.1f} s")
        return n

    with conn.transaction():
        conn.execute(
            "INSERT INTO sites (name, created_at) VALUES ('fill-other', now()) "
            "ON CONFLICT (name) DO NOTHING"
        )
    other_id = conn.execute("SELECT id FROM sites WHERE name = 'fill-other'").fetchone()[0]
    conn.execute(
        "CREATE TEMP TABLE fill_readers (rn int PRIMARY KEY, id int);"
        "CREATE TEMP TABLE fill_articles (rn int PRIMARY KEY, id int, site_id int, "
        "  created_at timestamptz);"
        "CREATE TEMP TABLE fill_plan (g int PRIMARY KEY, article_id int, site_id int, "
        "  parent_g int, root_g int, at timestamptz, u float8);"
        "CREATE TEMP TABLE fill_ids (g int, id int);"
        # Wilson lower bound, as voxpop.services.threads.wilson
        "CREATE FUNCTION pg_temp.wilson(up int, down int) RETURNS float8 LANGUAGE sql "
        "IMMUTABLE AS $$ SELECT CASE WHEN up + down = 0 THEN 0::float8 ELSE "
        "(up::float8 / (up + down) + 3.8416 / (2 * (up + down)) - 1.96 * sqrt("
        "(up::float8 / (up + down)) * (1 - up::float8 / (up + down)) / (up + down)"
        " + 3.8416 / (4 * (up + down)::float8 * (up + down)))) / (1 + 3.8416 / (up + down)) "
        "END $$"
    )
    # an SQL array literal, inside statements that have parameters: % doubled
    quoted = ",".join("'" + t.replace("'", "''").replace("%", "%%") + "'" for t in SENTENCES)
    sentences = f"(ARRAY[{quoted}])"

    step(
        "readers",
        "WITH ins AS (INSERT INTO readers (created_at, verified_at) "
        "  SELECT now() - random() * interval '730 days', "
        "         CASE WHEN random() < 0.1 THEN now() - interval '1 day' END "
        "  FROM generate_series(1, %(n)s::int) RETURNING id) "
        "INSERT INTO fill_readers SELECT row_number() OVER (ORDER BY id), id FROM ins",
        {"n": a.readers},
    )
    step(
        "articles",
        "WITH ins AS (INSERT INTO articles (site_id, uri, title, created_at, version, "
        "    comment_count) "
        "  SELECT CASE WHEN g %% 10 = 0 THEN %(other)s ELSE %(site)s END, "
        "         '/fill/article-' || g, 'Fill article ' || g, "
        "         now() - interval '730 days' + g * (interval '729 days' / %(n)s), 1, 0 "
        "  FROM generate_series(1, %(n)s::int) g RETURNING id, site_id, created_at) "
        "INSERT INTO fill_articles "
        "SELECT row_number() OVER (ORDER BY id), id, site_id, created_at FROM ins",
        {"n": a.articles, "site": site_id, "other": other_id},
    )

    # The bulk: first a plan (which article, which parent, when) in a temporary table, then
    # ids in order of time, as a live database hands them out, then one INSERT in id order.
    step(
        "plan: top-level",
        """INSERT INTO fill_plan (g, article_id, site_id, parent_g, root_g, at, u)
           SELECT p.g, fa.id, fa.site_id, NULL, NULL,
                  least(fa.created_at + random() * interval '3 days', now()), random()
           FROM (SELECT g, 1 + floor(power(random(), 2) * %(articles)s)::int AS rn
                 FROM generate_series(1, %(n)s::int) g) p
           JOIN fill_articles fa USING (rn)""",
        {"n": n_tops, "articles": a.articles},
    )
    step(
        "plan: replies",
        """INSERT INTO fill_plan (g, article_id, site_id, parent_g, root_g, at, u)
           SELECT p.g, t.article_id, t.site_id, t.g, t.g,
                  least(t.at + random() * interval '1 day', now()), random()
           FROM (SELECT g, 1 + floor(power(random(), 2) * %(tops)s)::int AS pick
                 FROM generate_series(%(g0)s::int, %(g1)s::int) g) p
           JOIN fill_plan t ON t.g = p.pick""",
        {"tops": n_tops, "g0": n_tops + 1, "g1": n_tops + n_r1},
    )
    step(
        "plan: replies to replies",
        """INSERT INTO fill_plan (g, article_id, site_id, parent_g, root_g, at, u)
           SELECT p.g, r.article_id, r.site_id, r.g, r.root_g,
                  least(r.at + random() * interval '1 day', now()), random()
           FROM (SELECT g, %(r0)s + floor(random() * %(r1)s)::int AS pick
                 FROM generate_series(%(g0)s::int, %(g1)s::int) g) p
           JOIN fill_plan r ON r.g = p.pick""",
        {"r0": n_tops + 1, "r1": n_r1, "g0": n_tops + n_r1 + 1, "g1": bulk},
    )
    step(
        "plan: ids by time",
        """INSERT INTO fill_ids (g, id)
           SELECT g, %(base)s + row_number() OVER (ORDER BY at, g) FROM fill_plan""",
        {"base": max_before},
    )
    conn.execute("CREATE UNIQUE INDEX ON fill_ids (g); ANALYZE fill_plan; ANALYZE fill_ids")
    step(
        "comments",
        f"""INSERT INTO comments (id, article_id, site_id, parent_id, root_id, reader_id,
              author_name, author_email, author_website, body, html, renderer, status,
              created_at, edited_at, up, down, score, ip_hash, address_key, spam_score,
              reasons, flags)
            SELECT i.id, p.article_id, p.site_id, pi.id, ri.id,
                   (SELECT fr.id FROM fill_readers fr WHERE fr.rn = v.reader_rn),
                   CASE WHEN s.status = 'deleted' THEN NULL ELSE 'Reader ' || (p.g %% 5000) END,
                   CASE WHEN s.status <> 'deleted' AND v.r < 0.5
                        THEN 'reader' || (p.g %% 5000) || '@example.org' END,
                   CASE WHEN s.status <> 'deleted' AND v.r < 0.05
                        THEN 'https://example.org/~r' || (p.g %% 5000) END,
                   CASE WHEN s.status = 'deleted' THEN '' ELSE s.body END,
                   CASE WHEN s.status = 'deleted' THEN '' ELSE '<p>' || s.body || '</p>' END,
                   1, s.status, p.at,
                   CASE WHEN v.r > 0.97 THEN p.at + interval '10 minutes' END,
                   v.up, v.down, pg_temp.wilson(v.up, v.down),
                   CASE WHEN p.at > now() - interval '30 days'
                        THEN md5(p.g::text) || md5(p.at::text) END,
                   CASE WHEN p.at > now() - interval '30 days'
                        THEN md5((p.g %% 50000)::text) END,
                   CASE WHEN s.status IN ('spam', 'pending') THEN 0.5 + v.r / 2
                        ELSE v.r / 4 END,
                   CASE WHEN s.status = 'spam' THEN 'links,spam'
                        WHEN s.status = 'pending' THEN 'new_author' END,
                   -- open flags on ~0.3 %% of approved comments (rows added below)
                   CASE WHEN s.status = 'approved' AND (p.g::bigint * 7919) %% 1000 < 3
                        THEN 1 + p.g %% 3 ELSE 0 END
            FROM fill_plan p
            JOIN fill_ids i ON i.g = p.g
            LEFT JOIN fill_ids pi ON pi.g = p.parent_g
            LEFT JOIN fill_ids ri ON ri.g = p.root_g,
            LATERAL (SELECT {STATUS_SQL.format(u="p.u", at="p.at")} AS status,
                            {sentences}[1 + (p.g * 7) %% 12] || ' '
                            || {sentences}[1 + (p.g * 5) %% 12] || ' '
                            || {sentences}[1 + (p.g * 11) %% 12] || ' (note '
                            || md5(p.g::text) || ')'
                            || CASE WHEN p.g %% 5 = 0
                                 THEN E'\\n\\nSource: [the report](https://example.org/report/'
                                      || p.g || ').' ELSE '' END AS body) s,
            LATERAL (SELECT
                       CASE WHEN s.status = 'approved'
                            THEN floor(power(random() + 0 * p.g, 3) * 4)::int ELSE 0 END AS up,
                       CASE WHEN s.status = 'approved'
                            THEN floor(power(random(), 3) * 2)::int ELSE 0 END AS down,
                       CASE WHEN random() < 0.75
                            THEN 1 + floor(power(random(), 1.5) * %(readers)s)::int
                       END AS reader_rn,
                       random() AS r) v
            ORDER BY i.id""",
        {"readers": a.readers},
    )
    with conn.transaction():
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('comments', 'id'), "
            "(SELECT max(id) FROM comments))"
        )

    # The three deeply nested threads, row by row (1,110 rows).
    t = time.perf_counter()
    rng = random.Random(a.seed)
    t0 = datetime.now(UTC) - timedelta(days=1)
    depths = {}
    with conn.transaction():
        for size in nested_sizes:
            art = conn.execute(
                "INSERT INTO articles (site_id, uri, title, created_at, version, comment_count) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
                (site_id, f"/fill/nested-{size}", f"Nested {size}", t0, size, size),
            ).fetchone()[0]
            rows, depths[size] = nested_thread(size, rng, t0)
            ids, roots = [], []
            for i, (parent, at) in enumerate(rows):
                pid = ids[parent] if parent is not None else None
                rid = (roots[parent] or ids[parent]) if parent is not None else None
                body = " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(3))
                body += f" (nested note #{i})"
                up, down = rng.choice((0, 0, 0, 1, 2, 5)), rng.choice((0, 0, 0, 1))
                cid = conn.execute(
                    "INSERT INTO comments (article_id, site_id, parent_id, root_id, reader_id, "
                    "author_name, body, html, renderer, status, created_at, up, down, score, "
                    "flags) VALUES (%s, %s, %s, %s, (SELECT id FROM fill_readers WHERE rn = %s), "
                    "%s, %s, %s, 1, 'approved', %s, %s, %s, pg_temp.wilson(%s, %s), 0) "
                    "RETURNING id",
                    (art, site_id, pid, rid, 1 + i % a.readers, f"Reader {i % 40}", body,
                     f"<p>{body}</p>", at, up, down, up, down),
                ).fetchone()[0]  # fmt: skip
                ids.append(cid)
                roots.append(rid)
    times["nested threads"] = round(time.perf_counter() - t, 2)
    counts["nested threads"] = sum(nested_sizes)
    log(f"nested threads {nested_sizes} (max depth {depths}) in {times['nested threads']} s")

    step(
        "votes",
        """INSERT INTO votes (comment_id, reader_id, value, created_at)
            SELECT c.id, fr.id, CASE WHEN k <= c.up THEN 1 ELSE -1 END,
                   c.created_at + k * interval '1 minute'
            FROM comments c
            CROSS JOIN LATERAL generate_series(1, c.up + c.down) k
            JOIN fill_readers fr
              ON fr.rn = 1 + ((c.id::bigint * 7919 + k * 104729) %% %(readers)s)
            WHERE c.id > %(max_before)s AND c.up + c.down > 0""",
        {"max_before": max_before, "readers": a.readers},
    )
    step(
        "ratings",
        """INSERT INTO ratings (article_id, reader_id, stars, counted, address_hash,
                                 created_at, updated_at)
            SELECT fa.id, fr.id, s.stars, random() < 0.97, NULL, s.at, s.at
            FROM fill_articles fa
            CROSS JOIN LATERAL generate_series(1, floor(power(random() + 0 * fa.rn, 2)
                                                        * 61)::int) k
            JOIN fill_readers fr
              ON fr.rn = 1 + ((fa.id::bigint * 7919 + k * 104729) %% %(readers)s)
            CROSS JOIN LATERAL (
              SELECT CASE WHEN u < 0.05 THEN 1 WHEN u < 0.12 THEN 2 WHEN u < 0.27 THEN 3
                          WHEN u < 0.6 THEN 4 ELSE 5 END AS stars,
                     least(fa.created_at + u2 * interval '5 days', now()) AS at
              FROM (SELECT random() + 0 * k AS u, random() AS u2) d) s""",
        {"readers": a.readers},
    )
    step(
        "flags",
        """INSERT INTO flags (comment_id, flagger, reason, note, created_at)
           SELECT c.id, 'r' || (c.id %% 100000 + k),
                  (ARRAY['spam', 'abuse', 'off_topic', 'other'])[1 + (c.id + k) %% 4], '',
                  c.created_at + k * interval '1 hour'
           FROM comments c CROSS JOIN LATERAL generate_series(1, c.flags) k
           WHERE c.id > %(max_before)s AND c.flags > 0""",
        {"max_before": max_before},
    )
    step(
        "article counters",
        """UPDATE articles a SET comment_count = s.approved, version = s.total + 1,
                  rating_count = coalesce(r.n, 0), rating_sum = coalesce(r.total, 0),
                  rating_1 = coalesce(r.s1, 0), rating_2 = coalesce(r.s2, 0),
                  rating_3 = coalesce(r.s3, 0), rating_4 = coalesce(r.s4, 0),
                  rating_5 = coalesce(r.s5, 0)
           FROM (SELECT article_id, count(*) AS total,
                        count(*) FILTER (WHERE status = 'approved') AS approved
                 FROM comments WHERE id > %(max_before)s GROUP BY article_id) s
           LEFT JOIN (SELECT article_id, count(*) AS n, sum(stars) AS total,
                             count(*) FILTER (WHERE stars = 1) AS s1,
                             count(*) FILTER (WHERE stars = 2) AS s2,
                             count(*) FILTER (WHERE stars = 3) AS s3,
                             count(*) FILTER (WHERE stars = 4) AS s4,
                             count(*) FILTER (WHERE stars = 5) AS s5
                      FROM ratings WHERE counted GROUP BY article_id) r USING (article_id)
           WHERE a.id = s.article_id""",
        {"max_before": max_before},
    )
    if not fk_triggers:
        t = time.perf_counter()
        conn.execute("SET session_replication_role = origin")
        bad = check_foreign_keys(conn, max_before)
        times["foreign key check"] = round(time.perf_counter() - t, 2)
        if bad:
            raise SystemExit(f"fill_pg.py: foreign keys violated: {bad}")
        log(f"foreign keys checked: none violated ({times['foreign key check']} s)")
    fill_s = time.perf_counter() - t_all
    t = time.perf_counter()
    tables = "comments, votes, ratings, readers, articles, flags, sites"
    conn.execute(("ANALYZE " if a.no_vacuum else "VACUUM (ANALYZE) ") + tables)
    times["vacuum analyze"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    try:
        conn.execute("CHECKPOINT")
        times["checkpoint"] = round(time.perf_counter() - t, 2)
    except psycopg.errors.InsufficientPrivilege:
        log("no CHECKPOINT: the role needs pg_checkpoint (bench/run grants it)")
        times["checkpoint"] = 0.0
    total = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE root_id IS NULL), "
        "count(*) FILTER (WHERE status = 'approved') FROM comments WHERE id > %s",
        (max_before,),
    ).fetchone()
    sizes = conn.execute(
        "SELECT pg_size_pretty(pg_total_relation_size('comments')), "
        "pg_size_pretty(pg_total_relation_size('votes')), "
        "pg_size_pretty(pg_database_size(current_database()))"
    ).fetchone()
    busiest = conn.execute(
        "SELECT max(comment_count), percentile_disc(0.5) WITHIN GROUP (ORDER BY comment_count) "
        "FROM articles WHERE uri LIKE '/fill/article-%%'"
    ).fetchone()
    out = {
        "comments": total[0],
        "top_level": total[1],
        "approved": total[2],
        "articles": a.articles + len(nested_sizes),
        "readers": a.readers,
        "rows": counts,
        "seconds": times,
        "fill_seconds": round(fill_s, 1),
        "foreign_key_triggers": fk_triggers,
        "total_seconds": round(time.perf_counter() - t_all, 1),
        "comments_size": sizes[0],
        "votes_size": sizes[1],
        "database_size": sizes[2],
        "busiest_article_approved": busiest[0],
        "median_article_approved": busiest[1],
        "nested_depths": depths,
    }
    log(
        f"filled {out['comments']:,} comments ({out['top_level']:,} top-level, "
        f"{out['approved']:,} approved), {counts['votes']:,} votes, {counts['ratings']:,} "
        f"ratings in {fill_s:.1f} s; VACUUM ANALYZE {times['vacuum analyze']:.1f} s, "
        f"CHECKPOINT {times['checkpoint']:.1f} s; comments table {sizes[0]}, votes {sizes[1]}, "
        f"database {sizes[2]}"
    )
    print(json.dumps(out))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
