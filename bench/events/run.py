#!/usr/bin/env python3
"""bench/events/run.py - what idle live-update streams cost, and how fast a change reaches them.

    python bench/events/run.py [--streams 2000] [--idle 20] [--database sqlite|pg-url]

Starts `voxpop serve` (one process, SQLite in a temporary directory unless --database
gives a PostgreSQL URL), then:

  baseline  the server's RSS and CPU with no stream open (the same process, before)
  open      --streams connections to GET /api/v1/events?uri=/bench (plain sockets, one
            thread reading them all with selectors), spread over 10 articles
  idle      --idle seconds with every stream open and nothing happening: the server's
            CPU (cores) over that time, and its RSS: per-stream memory = (RSS with the
            streams - RSS before) / streams
  fan-out   one comment posted to each of the 10 articles in turn: the time from the
            POST's answer until the last of that article's streams has the event
            (median and worst over the 10), and every stream must get exactly its own
  close     the streams are closed; the server's connection count goes back to 0
            (GET /metrics' voxpop_sse_connections, when the metrics endpoint exists)

Prints a table and exits 0; 1 when a stream missed or got a wrong event. The figures
compare against the same server's own baseline, measured in the same run. Needs the
project's .venv (this script re-runs itself with .venv/bin/python) and `ulimit -n` above
--streams + 100 (raised here when the hard limit allows).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_PY = ROOT / ".venv" / "bin" / "python"
ARTICLES = 10


def _reexec() -> None:
    if Path(sys.executable).resolve() != VENV_PY.resolve() and VENV_PY.exists():
        os.execv(str(VENV_PY), [str(VENV_PY), *sys.argv])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start")


def _post(url: str, uri: str, body: str) -> int:
    request = urllib.request.Request(
        url + "/api/v1/comments",
        data=json.dumps({"uri": uri, "body": body}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as r:
        return int(json.loads(r.read())["id"])


def _connections(url: str) -> str:
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("voxpop_sse_connections "):
                    return line.split()[1]
    except OSError:
        pass
    return "-"


class Streams:
    """Many event streams read by one thread (here: the caller's) with a selector."""

    def __init__(self, port: int, count: int) -> None:
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytes] = {}
        self.article: dict[socket.socket, int] = {}
        for i in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            article = i % ARTICLES
            sock.sendall(
                f"GET /api/v1/events?uri=/bench/{article} HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
            )
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ)
            self.buffers[sock] = b""
            self.article[sock] = article

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for key, _ in self.selector.select(left):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                self.buffers[sock] += data

    def opened(self) -> int:
        return sum(b"retry: 3000" in b for b in self.buffers.values())

    def got(self, comment_id: int) -> list[socket.socket]:
        needle = f'"id":{comment_id},'.encode()
        return [s for s, b in self.buffers.items() if b"event: comment" in b and needle in b]

    def close(self) -> None:
        for sock in list(self.buffers):
            self.selector.unregister(sock)
            sock.close()


def main() -> int:
    _reexec()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--idle", type=float, default=20.0)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.streams + 200
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    work = Path(tempfile.mkdtemp(prefix="voxpop-bench-events-"))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "VOXPOP_DATABASE_URL": args.database or f"sqlite:///{work / 'events.db'}",
        "VOXPOP_RATE_LIMITS": "off",
        "VOXPOP_ENV": "dev",
        "VOXPOP_DEMO": "off",
        "VOXPOP_MODERATION": "none",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/voxpop"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(work / "server.log", "wb"),  # noqa: SIM115
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard)),
    )
    failed = False
    try:
        _wait_ready(url)
        for article in range(ARTICLES):  # the articles exist, as on a real site
            _post(url, f"/bench/{article}", "first")
        time.sleep(2)
        cpu0, rss0 = _proc_stat(server.pid)
        time.sleep(5)
        cpu1, _ = _proc_stat(server.pid)
        base_cores = (cpu1 - cpu0) / 5
        started = time.monotonic()
        streams = Streams(port, args.streams)
        streams.pump(3)
        while streams.opened() < args.streams and time.monotonic() - started < 60:
            streams.pump(1)
        open_seconds = time.monotonic() - started
        opened = streams.opened()
        connected = _connections(url)
        cpu2, rss2 = _proc_stat(server.pid)
        streams.pump(args.idle)
        cpu3, rss3 = _proc_stat(server.pid)
        idle_cores = (cpu3 - cpu2) / args.idle
        delays: list[float] = []
        for article in range(ARTICLES):
            comment_id = _post(url, f"/bench/{article}", f"news {article}")
            answered = time.monotonic()
            expected = {s for s, a in streams.article.items() if a == article}
            while time.monotonic() - answered < 15:
                streams.pump(0.005)
                got = set(streams.got(comment_id))
                if got >= expected:
                    break
            delays.append(time.monotonic() - answered)
            got = set(streams.got(comment_id))
            if got != expected:
                failed = True
                print(f"article {article}: {len(got & expected)} of {len(expected)} streams "
                      f"got comment {comment_id}; {len(got - expected)} others did")  # fmt: skip
        streams.close()
        time.sleep(2)
        after = _connections(url)
        per_stream_kib = (rss3 - rss0) * 1024 / max(1, opened)
        rows = [
            ("streams open", f"{opened} of {args.streams} in {open_seconds:.1f} s"),
            ("voxpop_sse_connections (open / after close)", f"{connected} / {after}"),
            ("server RSS before / with streams", f"{rss0:.0f} MiB / {rss3:.0f} MiB"),
            ("memory per idle stream", f"{per_stream_kib:.1f} KiB"),
            ("server CPU idle, no streams", f"{base_cores:.3f} cores"),
            (f"server CPU idle, {opened} streams", f"{idle_cores:.3f} cores"),
            (
                f"comment → last of {args.streams // ARTICLES} streams (median / worst)",
                f"{statistics.median(delays) * 1000:.0f} ms / {max(delays) * 1000:.0f} ms",
            ),
        ]
        print("| measure | value |\n|---|---|")
        for name, value in rows:
            print(f"| {name} | {value} |")
        print(
            f"(rss at open: {rss2:.0f} MiB; database {env['VOXPOP_DATABASE_URL'].split('@')[-1]})"
        )
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
