"""Adapter for voxpop's public API v1 (docs/api.md).

Copied from the project's shared benchmark harness (shared/bench/adapters/voxpop.py).
Changed: the POST load sends the same comment as the Isso adapter's POST load (a
~320-character Markdown text, an author name and e-mail, a title), so that both servers
render and store the same text.

  readiness:   GET  /healthz
  thread read: GET  /api/v1/comments?uri=<uri>&limit=1000   (the whole thread, as Isso's read)
  new comment: POST /api/v1/comments  {"uri", "body", "author_name", ["parent_id"]}

Seeding posts each comment from its own loopback source address (127.0.x.y), so a
per-address rate limit does not stop it, and then checks that one GET returns every
seeded comment (a paged answer would not be the same work as Isso's whole-thread read).

Options (--adapter-opt k=v):
  reply_every=K   every K-th seeded comment replies to one of the 5 latest top-level ones
  query=...       extra query string for the GET
"""

import http.client
import json
import urllib.parse

from adapters.isso import _SENTENCES, _lua_quote, _text  # the same texts as the Isso workload


def ready_path(opts):
    return "/healthz"


def thread_get_path(uri, opts):
    q = urllib.parse.urlencode({"uri": uri, "limit": 1000})
    if opts.get("query"):
        q += "&" + opts["query"]
    return "/api/v1/comments?" + q


def _call(base, method, path, body, source):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(
            method,
            path,
            body=data,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        r = conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def _count(items):
    n = 0
    for c in items or []:
        n += 1
        replies = c.get("replies") if isinstance(c, dict) else None
        if isinstance(replies, dict):
            replies = replies.get("items")
        n += _count(replies)
    return n


def seed(base, uri, n, opts):
    reply_every = int(opts.get("reply_every", 0) or 0)
    roots = []
    for i in range(n):
        body = {
            "uri": uri,
            "body": _text(i),
            "author_name": f"Reader {i % 50}",
            "title": f"Bench article {uri}",
        }
        if reply_every and roots and i % reply_every == reply_every - 1:
            body["parent_id"] = roots[-1 - (i % min(5, len(roots)))]
        source = f"127.0.{1 + i // 250}.{1 + i % 250}"
        status, doc = _call(base, "POST", "/api/v1/comments", body, source)
        if status not in (200, 201, 202):
            raise RuntimeError(f"seed POST returned {status}: {doc}")
        cid = (doc or {}).get("id") or ((doc or {}).get("comment") or {}).get("id")
        if "parent_id" not in body:
            roots.append(cid)
    if n:
        status, doc = _call(base, "GET", thread_get_path(uri, opts), None, "127.0.0.1")
        got = _count((doc or {}).get("items"))
        if status != 200 or got != n:
            raise RuntimeError(f"thread read returned {got} of {n} comments (status {status})")
    return n


def post_request(uri, opts):
    """The Isso adapter's POST load, in voxpop's field names (same text, name, e-mail)."""
    text = "Load-test comment %d. " + " ".join(_SENTENCES[:3]) + " Regards, bench %d."
    body = {
        "uri": uri,
        "body": "@TEXT@",
        "author_name": "Bench %d",
        "author_email": "bench%d@example.org",
        "title": "Post target",
    }
    lua_fmt = json.dumps(body).replace('"@TEXT@"', json.dumps(text))
    lua_fmt = lua_fmt.replace("%", "%%").replace("%%d", "%d")  # keep only the %d placeholders
    return {
        "method": "POST",
        "path": "/api/v1/comments",
        "headers": {"Content-Type": "application/json"},
        "lua_body_expr": f"string.format({_lua_quote(lua_fmt)}, n, n % 50, n % 50, n % 50)",
    }
