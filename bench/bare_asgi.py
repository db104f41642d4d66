#!/usr/bin/env python3
"""A bare ASGI app serving, from memory, the exact responses captured from voxpop.

usage: .venv/bin/python bench/bare_asgi.py --host H --port P --captures DIR

bench/run's baseline for a cached thread read: the same bytes (status line, voxpop's own
headers, body) for the same request line, with no framework, no routing, no cache lookup
and no version check: one dictionary lookup per request. It runs under uvicorn with the
options `voxpop serve` gives it (src/voxpop/cli.py: one worker, `server_header=False`,
`proxy_headers=False`, no access log, log level warning, uvicorn's automatic choice of
event loop and HTTP parser: uvloop and httptools when installed, as they are in the
project's venv), so the two differ only in what the application does.

DIR holds what bench_thread_get.sh --capture-dir saved from a voxpop server after seeding:
per thread size N, `nN.path` (the request target, path and query), `nN.headers` (the
response head as curl -D wrote it) and `nN.body`. Each response is served with the
captured headers in their order, except `date` (uvicorn adds its own, as it does for
voxpop). `GET /healthz` answers 200 for the harness's readiness check; anything else 404.
"""

import argparse
import os
import sys

DROP = {b"date", b"server", b"transfer-encoding", b"connection", b"keep-alive"}


def load(captures):
    responses = {}
    for name in sorted(os.listdir(captures)):
        if not name.endswith(".path"):
            continue
        stem = os.path.join(captures, name[: -len(".path")])
        with open(stem + ".path", "rb") as f:
            target = f.read().strip()
        with open(stem + ".headers", "rb") as f:
            head = f.read().split(b"\r\n")
        with open(stem + ".body", "rb") as f:
            body = f.read()
        status = int(head[0].split()[1])
        headers = []
        for line in head[1:]:
            if b":" in line:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k not in DROP:
                    headers.append((k, v.strip()))
        length = dict(headers).get(b"content-length")
        if length is not None and int(length) != len(body):
            raise SystemExit(f"{stem}: content-length {length!r} but {len(body)} body bytes")
        responses[target] = (status, headers, body)
    if not responses:
        raise SystemExit(f"bare_asgi.py: no captured responses in {captures}")
    return responses


RESPONSES = {}
HEALTH = (
    200,
    [(b"content-type", b"application/json"), (b"content-length", b"15")],
    b'{"status":"ok"}',
)
MISSING = (404, [(b"content-length", b"0")], b"")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    target = scope["raw_path"]
    if scope["query_string"]:
        target += b"?" + scope["query_string"]
    status, headers, body = RESPONSES.get(target) or (
        HEALTH if scope["path"] == "/healthz" else MISSING
    )
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--captures", required=True)
    a = ap.parse_args()
    RESPONSES.update(load(a.captures))
    for target, (status, headers, body) in RESPONSES.items():
        print(
            f"bare_asgi: {target.decode()} -> {status}, {len(headers)} headers, {len(body)} bytes",
            file=sys.stderr,
        )
    import uvicorn

    # As `voxpop serve` runs uvicorn (src/voxpop/cli.py), one worker.
    uvicorn.run(
        app,
        host=a.host,
        port=a.port,
        workers=1,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
