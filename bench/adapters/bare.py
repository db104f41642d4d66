"""Adapter for bench/bare_asgi.py: the bare ASGI baseline serving voxpop's captured bytes.

Nothing to seed: "seeding" a thread size checks that the bare server answers voxpop's
request for that thread (the same path and query as the voxpop adapter's read) with the
captured response, byte for byte (body and every captured header but `date`), and fails
otherwise. There is no write endpoint.

Options (--adapter-opt k=v):
  captures=DIR   the directory bench_thread_get.sh --capture-dir filled (required)
"""

import http.client
import os
import urllib.parse

from adapters import voxpop


def ready_path(opts):
    return "/healthz"


def thread_get_path(uri, opts):
    return voxpop.thread_get_path(uri, opts)


def _captured(uri, opts):
    captures = opts.get("captures") or ""
    path = thread_get_path(uri, opts)
    for name in sorted(os.listdir(captures)):
        if name.endswith(".path"):
            stem = os.path.join(captures, name[: -len(".path")])
            with open(stem + ".path") as f:
                if f.read().strip() == path:
                    with open(stem + ".headers", "rb") as h, open(stem + ".body", "rb") as b:
                        return path, h.read(), b.read()
    raise SystemExit(f"bare adapter: no captured response for {path} in {captures!r}")


def seed(base, uri, n, opts):
    path, head, body = _captured(uri, opts)
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        got = r.read()
        got_headers = [(k.lower(), v) for k, v in r.getheaders() if k.lower() != "date"]
    finally:
        conn.close()
    want = [
        (k.strip().lower(), v.strip())
        for k, _, v in (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:])
        if _ and k.strip().lower() != "date"
    ]
    if got != body or got_headers != want:
        raise RuntimeError(
            f"bare server's answer to {path} differs from voxpop's: {len(got)} vs {len(body)} "
            f"bytes, headers {got_headers} vs {want}"
        )
    return n


def post_request(uri, opts):
    raise SystemExit("bare adapter has no write endpoint")
