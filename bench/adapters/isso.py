"""Adapter for Isso (pip package `isso`, tested with 0.14.0).

Copied from the project's shared benchmark harness (shared/bench/adapters/isso.py);
only reformatted for the project's ruff settings.

API used (all JSON):
  readiness:   GET  /info
  thread read: GET  /?uri=<thread uri>            (Isso's `fetch` view, whole thread)
  new comment: POST /new?uri=<thread uri>
               body {"text", "author", "email", "title", ["parent"]}
Isso creates the thread on its first comment; "title" avoids Isso fetching the
page from the configured site to read one.  Content-Type must be application/json
(Isso's CSRF check).  Origin matches `host` in isso-bench.cfg (only used to
choose the CORS origin Isso echoes back; Isso does not reject other origins).

Options (--opt k=v, passed through bench_thread_get.sh --adapter-opt):
  reply_every=K   every K-th seeded comment is a reply to one of the 5 latest
                  top-level comments (default 0: all top-level)
  authors=A       number of distinct seeded authors/e-mails (default 50)
  query=...       extra query string appended to the GET (e.g. "limit=20&nested_limit=5")
"""

import json
import urllib.parse
import urllib.request

ORIGIN = "http://127.0.0.1:9"

_SENTENCES = [
    "I think the article misses the point about *local* funding.",
    "Thanks for writing this, it matches what we saw in our town last year.",
    "The numbers in the second chart do not add up to **100%**, is that a typo?",
    "Could you link the original report? I would like to read the methodology.",
    "This is exactly why the council should publish its minutes on time.",
    "My neighbour works there and says the situation is more nuanced.",
    "Good reporting, but the headline is a bit sensational.",
    "Does anyone know whether the new rules apply to small businesses too?",
]


def _text(i):
    """Deterministic ~300-450 character Markdown comment."""
    parts = [_SENTENCES[(i + k) % len(_SENTENCES)] for k in range(3)]
    text = " ".join(parts) + f" (reader note #{i})"
    if i % 5 == 0:
        text += f"\n\nSource: [the report](https://example.org/report/{i})."
    if i % 7 == 0:
        text = "> " + _SENTENCES[i % len(_SENTENCES)] + "\n\n" + text
    text += "\n\n" + _SENTENCES[(i * 3) % len(_SENTENCES)]
    return text


def ready_path(opts):
    return "/info"


def thread_get_path(uri, opts):
    q = urllib.parse.urlencode({"uri": uri})
    if opts.get("query"):
        q += "&" + opts["query"]
    return "/?" + q


def _post(base, uri, body):
    req = urllib.request.Request(
        base + "/new?" + urllib.parse.urlencode({"uri": uri}),
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Origin": ORIGIN},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        if r.status not in (201, 202):
            raise RuntimeError(f"seed POST returned {r.status}")
        return json.load(r)


def seed(base, uri, n, opts):
    reply_every = int(opts.get("reply_every", 0) or 0)
    authors = max(1, int(opts.get("authors", 50)))
    roots = []
    for i in range(n):
        a = i % authors
        body = {
            "text": _text(i),
            "author": f"Reader {a}",
            "email": f"reader{a}@example.org",
            "title": f"Bench article {uri}",
        }
        if reply_every and roots and i % reply_every == reply_every - 1:
            body["parent"] = roots[-1 - (i % min(len(roots), 5))]
        rv = _post(base, uri, body)
        if body.get("parent") is None:
            roots.append(rv["id"])
    return n


def post_request(uri, opts):
    """Spec for the POST load: the Lua expression builds a ~320-char body from counter n."""
    text = "Load-test comment %d. " + " ".join(_SENTENCES[:3]) + " Regards, bench %d."
    lua_fmt = json.dumps(
        {
            "text": "@TEXT@",
            "author": "Bench %d",
            "email": "bench%d@example.org",
            "title": "Post target",
        }
    ).replace('"@TEXT@"', json.dumps(text))
    lua_fmt = lua_fmt.replace("%", "%%").replace("%%d", "%d")  # keep only the %d placeholders
    return {
        "method": "POST",
        "path": "/new?" + urllib.parse.urlencode({"uri": uri}),
        "headers": {"Content-Type": "application/json", "Origin": ORIGIN},
        "lua_body_expr": f"string.format({_lua_quote(lua_fmt)}, n, n % 50, n % 50, n % 50)",
    }


def _lua_quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
