"""Two ``voxpop serve`` processes on one PostgreSQL database, sharing the real Redis.

The module-scoped ``cluster`` fixture starts both servers once (tests/procs.py) on a
database of their own, with rate limits off, moderation ``none``, the admin token
``ADMIN`` and ``127.0.0.1`` as a trusted proxy: a test names its readers' addresses with
``X-Forwarded-For`` (``address(i)``), so per-address rules (the ratings' allowance of new
raters per address) see distinct people. Tests add to it; each uses an article of its own
(``new_uri``) so that they do not see each other's writes.

``test_votes_and_ratings_across_two_servers_are_exact``: 200 new readers, half on each
server and all at once, vote on one comment and rate its article; every fourth changes
both once, on the other server. Every request must be acknowledged, and the tallies both
servers give afterwards (and the database's own rows) must equal the ones computed from
what was acknowledged.

``test_a_comment_posted_to_one_server_reaches_a_reader_of_the_other``: live updates across
processes (Redis as the doorbell): a comment posted to A reaches B's event stream, and
both streams carry the same numbered events for a vote taken by B and a rating by A.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from voxpop.store import migrate
from voxpop.store.db import Database

from .procs import Server, fresh_postgres
from .sse import Listener

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(240)]

SECRET = "cluster-test-secret-key-0123456789abcdef"
ADMIN = "cluster-admin-token-0123456789abcdef"
READERS = 200


@dataclass(frozen=True)
class TwoServers:
    a: Server
    b: Server
    database_url: str
    redis_url: str

    @property
    def servers(self) -> tuple[Server, Server]:
        return (self.a, self.b)


@pytest.fixture(scope="module")
def cluster(postgres_url: str, redis_url: str) -> Iterator[TwoServers]:
    """Two started servers on one fresh PostgreSQL database and the shared Redis."""
    with fresh_postgres(postgres_url, "voxpop_cluster") as url:
        db = Database(url)
        try:
            migrate.upgrade(db)  # once, here: two servers migrating at once would race
        finally:
            db.dispose()
        env = {
            "VOXPOP_DATABASE_URL": url,
            "VOXPOP_REDIS_URL": redis_url,
            "VOXPOP_SECRET_KEY": SECRET,  # the same key: a token minted by A is good on B
            "VOXPOP_ADMIN_TOKEN": ADMIN,
            "VOXPOP_RATE_LIMITS": "off",
            "VOXPOP_MODERATION": "none",
            "VOXPOP_TRUSTED_PROXIES": "127.0.0.1",
            "VOXPOP_MAIL_WORKER": "off",
        }
        a = Server(env, name="voxpop-a")
        b = Server(env, name="voxpop-b")
        try:
            starts = [threading.Thread(target=s.start) for s in (a, b)]
            for t in starts:
                t.start()
            for t in starts:
                t.join()
            for s in (a, b):
                assert s.running, f"{s.name} did not start:\n{s.tail()}"
            yield TwoServers(a, b, url, redis_url)
        finally:
            a.cleanup()
            b.cleanup()


def new_uri(prefix: str) -> str:
    return f"/cluster/{prefix}-{uuid.uuid4().hex[:12]}"


def address(i: int) -> str:
    """A distinct client address per reader number, for X-Forwarded-For."""
    return f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


class Clients:
    """httpx clients per thread and server (a Client is not shared between threads)."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def __call__(self, server: Server) -> httpx.Client:
        mine: dict[str, httpx.Client] = self._local.__dict__.setdefault("clients", {})
        client = mine.get(server.url)
        if client is None:
            client = httpx.Client(base_url=server.url, timeout=30)
            mine[server.url] = client
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        for client in self._all:
            client.close()


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


@dataclass
class Reader:
    number: int
    first: Server
    other: Server
    vote: int
    stars: int
    revote: int | None
    restars: int | None
    token: str | None = None
    acked_vote: int = 0
    acked_stars: int | None = None


def run_all(tasks: list[Callable[[], None]], workers: int = 16) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(t) for t in tasks]:
            future.result()


def test_votes_and_ratings_across_two_servers_are_exact(cluster: TwoServers) -> None:
    a, b = cluster.servers
    uri = new_uri("votes")
    clients = Clients()
    try:
        author = {"X-Forwarded-For": address(0)}
        posted = ok(
            clients(a).post(
                "/api/v1/comments", json={"uri": uri, "body": "Vote on me"}, headers=author
            ),
            201,
        )
        comment_id = int(posted["id"])

        readers = []
        for i in range(1, READERS + 1):
            first, other = (a, b) if i % 2 else (b, a)
            vote = 1 if i % 3 else -1
            stars = 1 + i % 7 % 5  # more ones and twos than the rest
            changes = i % 4 == 0
            # Changers flip their vote, or (every third of them) withdraw it, and move
            # their rating by one or two stars, on the other server.
            revote = (0 if i % 3 == 0 else -vote) if changes else None
            restars = 1 + (i + 1 + i % 2) % 5 if changes else None
            readers.append(Reader(i, first, other, vote, stars, revote, restars))

        def act(reader: Reader) -> None:
            headers = {"X-Forwarded-For": address(reader.number)}
            client = clients(reader.first)
            tally = ok(
                client.put(
                    f"/api/v1/comments/{comment_id}/vote",
                    json={"value": reader.vote},
                    headers=headers,
                )
            )
            assert tally["mine"] == reader.vote
            reader.token = tally["reader_token"]  # minted by the first write
            reader.acked_vote = reader.vote
            headers["Authorization"] = f"Bearer {reader.token}"
            rating = ok(
                client.put(
                    "/api/v1/ratings", json={"uri": uri, "stars": reader.stars}, headers=headers
                )
            )
            assert rating["mine"] == reader.stars and "reader_token" not in rating
            reader.acked_stars = reader.stars
            client = clients(reader.other)
            if reader.revote is not None:
                tally = ok(
                    client.put(
                        f"/api/v1/comments/{comment_id}/vote",
                        json={"value": reader.revote},
                        headers=headers,
                    )
                )
                assert tally["mine"] == reader.revote
                reader.acked_vote = reader.revote
            if reader.restars is not None:
                rating = ok(
                    client.put(
                        "/api/v1/ratings",
                        json={"uri": uri, "stars": reader.restars},
                        headers=headers,
                    )
                )
                assert rating["mine"] == reader.restars
                reader.acked_stars = reader.restars

        started = time.monotonic()
        run_all([functools.partial(act, r) for r in readers])
        elapsed = time.monotonic() - started

        tokens = {r.token for r in readers}
        assert len(tokens) == READERS, "two readers were given one identity"
        up = sum(r.acked_vote == 1 for r in readers)
        down = sum(r.acked_vote == -1 for r in readers)
        ratings = [r.acked_stars for r in readers if r.acked_stars is not None]
        histogram = [Counter(ratings)[s] for s in range(1, 6)]
        assert up and down and all(histogram)  # every bucket is exercised

        for server in (a, b):
            client = clients(server)
            thread = ok(client.get("/api/v1/comments", params={"uri": uri}))
            [item] = [c for c in thread["items"] if c["id"] == comment_id]
            assert item["votes"] == {"up": up, "down": down}, server.name
            assert ok(client.get(f"/api/v1/comments/{comment_id}"))["votes"] == {
                "up": up,
                "down": down,
            }
            rating = ok(client.get("/api/v1/ratings", params={"uri": uri}))
            assert rating == {
                "average": sum(ratings) / len(ratings),
                "count": len(ratings),
                "histogram": histogram,
                "mine": None,
            }, server.name
            summary = ok(client.get("/api/v1/articles/summary", params={"uri": uri}))
            assert summary[uri]["rating"]["count"] == len(ratings)
            assert summary[uri]["rating"]["histogram"] == histogram

        # The kept aggregates agree with the rows they count.
        db = Database(cluster.database_url)
        try:
            with db.engine.connect() as conn:
                rows = conn.execute(
                    sa.text(
                        "SELECT value, count(*) FROM votes WHERE comment_id = :c GROUP BY value"
                    ),
                    {"c": comment_id},
                ).all()
                assert {int(v): int(n) for v, n in rows} == {1: up, -1: down}
                rows = conn.execute(
                    sa.text(
                        "SELECT r.stars, count(*) FROM ratings r JOIN articles a ON a.id = r.article_id "
                        "WHERE a.uri = :u AND r.counted GROUP BY r.stars"
                    ),
                    {"u": uri},
                ).all()
                counted = {int(s): int(n) for s, n in rows}
                assert [counted.get(s, 0) for s in range(1, 6)] == histogram
        finally:
            db.dispose()
        print(
            f"\n{READERS} readers on two servers: {up} up, {down} down, "
            f"{len(ratings)} ratings {histogram}, "
            f"{sum(r.revote is not None for r in readers)} changed their vote and rating; "
            f"{elapsed:.1f} s for the requests"
        )
    finally:
        clients.close()


def test_a_comment_posted_to_one_server_reaches_a_reader_of_the_other(
    cluster: TwoServers,
) -> None:
    """Live updates across processes: B's reader hears of A's comment (through Redis),
    and of votes and ratings taken by either; the order and numbers agree on both."""
    uri = new_uri("live")
    on_a = Listener(f"{cluster.a.url}/api/v1/events?{httpx.QueryParams(uri=uri)}")
    on_b = Listener(f"{cluster.b.url}/api/v1/events?{httpx.QueryParams(uri=uri)}")
    try:
        assert on_a.status == on_b.status == 200
        started = time.monotonic()
        r = httpx.post(
            cluster.a.url + "/api/v1/comments",
            json={"uri": uri, "body": "written on A"},
            headers={"X-Forwarded-For": address(1)},
        )
        assert r.status_code == 201, r.text
        posted = r.json()
        heard = on_b.until("comment", timeout=10)
        # Through Redis, not the one-second look without it (which is off here: Redis is
        # configured, and the sweep is five seconds).
        assert time.monotonic() - started < 3
        assert heard.json()["id"] == posted["id"]
        assert heard.json()["html"] == posted["html"]
        r = httpx.put(
            f"{cluster.b.url}/api/v1/comments/{posted['id']}/vote",
            json={"value": 1},
            headers={"X-Forwarded-For": address(2)},
        )
        assert r.status_code == 200, r.text
        r = httpx.put(
            f"{cluster.a.url}/api/v1/ratings",
            json={"uri": uri, "stars": 5},
            headers={"X-Forwarded-For": address(3)},
        )
        assert r.status_code == 200, r.text
        seen = {}
        for listener in (on_a, on_b):
            got = [listener.until("comment")] if listener is on_a else [heard]
            got += [listener.until("vote"), listener.until("rating")]
            assert got[1].json() == {"id": posted["id"], "votes": {"up": 1, "down": 0}}
            assert got[2].json()["count"] == 1 and got[2].json()["average"] == 5
            seen[listener.url] = [m.id for m in got]
        # One numbering, whichever process took the write or is telling it.
        assert seen[on_a.url] == seen[on_b.url]
    finally:
        on_a.close()
        on_b.close()
