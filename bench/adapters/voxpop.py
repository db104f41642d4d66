"""Adapter for voxpop's public API v1 (docs/api.md).

Copied from the project's shared benchmark harness (shared/bench/adapters/voxpop.py).
Changed: the POST load sends the same comment as the Isso adapter's POST load (a
~320-character Markdown text, an author name and e-mail, a title), so that both servers
render and store the same text; each thread is seeded from its own addresses; and
thread_get_uncached (cache-miss reads) is added.

  readiness:   GET  /healthz
  thread read: GET  /api/v1/comments?uri=<uri>&limit=1000   (the whole thread, as Isso's read)
  new comment: POST /api/v1/comments  {"uri", "body", "author_name", ["parent_id"]}

Seeding posts each comment from its own loopback source address (127.0.x.y, different
for each thread: comment i of every thread has the same text, and the same text sent
again and again from one address is held by moderation as "repeated"), so a per-address
rate limit does not stop it, and then checks that one GET returns every
seeded comment (a paged answer would not be the same work as Isso's whole-thread read).

Cache-miss reads (bench_thread_get.sh --uncached): every request reads the same whole
thread with a `cursor` no request used before: a keyset position (sort best, score N, id
0) above every comment's score (scores are <= 1), so each returns the whole thread in the
same order as the plain read, and N is new for every request (a random number per wrk
run, then a counter). voxpop's thread cache is keyed by the request, cursor included, so
every such read misses it and builds the page (the article's version, the article, the
top-level comments, their replies, the JSON), and puts it in the cache, evicting another.

Options (--adapter-opt k=v):
  reply_every=K   every K-th seeded comment replies to one of the 5 latest top-level ones
  query=...       extra query string for the GET
"""

import base64
import http.client
import json
import urllib.parse
import zlib

from adapters.isso import _SENTENCES, _lua_quote, _text  # the same texts as the Isso workload


def ready_path(opts):
    return "/healthz"


def thread_get_path(uri, opts):
    q = urllib.parse.urlencode({"uri": uri, "limit": 1000})
    if opts.get("query"):
        q += "&" + opts["query"]
    return "/api/v1/comments?" + q


_UNCACHED_LUA = r"""
-- every request: the thread with a cursor never used before (see adapters/voxpop.py)
local prefix = %s
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local function b64url(s)  -- unpadded, as voxpop writes and reads its cursors
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    for k = 1, 2 + (b and 1 or 0) + (c and 1 or 0) do
      local x = math.floor(n / 2 ^ (18 - 6 * (k - 1))) %% 64
      out[#out + 1] = alphabet:sub(x + 1, x + 1)
    end
  end
  return table.concat(out)
end
local nonce, counter = 0, 0
init = function(args)
  local f = io.open("/proc/sys/kernel/random/uuid", "r")
  nonce = tonumber(f:read("*l"):sub(1, 7), 16)  -- a new one per wrk run
  f:close()
end
request = function()
  counter = counter + 1
  local json = string.format('["best",%%.0f,0]', 2 + nonce * 1000000 + counter)
  return wrk.format(nil, prefix .. b64url(json))
end
"""


def _cursor(n):
    raw = json.dumps(["best", n, 0], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def thread_get_uncached(uri, opts):
    """(an example request, the wrk Lua that makes every request a new cursor's)."""
    prefix = thread_get_path(uri, opts) + "&cursor="
    quoted = '"' + prefix.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return prefix + _cursor(2), _UNCACHED_LUA % quoted


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


def _source(uri, i):
    """The loopback address of the i-th seeded comment of a thread: its own per thread
    too. The threads share their texts (comment i of every thread is the same), and
    voxpop's moderation holds a text one address sends again and again ("repeated")."""
    k = (zlib.crc32(uri.encode()) % 40_000 + i) % 63_750
    return f"127.0.{1 + k // 250}.{1 + k % 250}"


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
        source = _source(uri, i)
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
