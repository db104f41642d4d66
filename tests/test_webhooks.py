"""Webhooks: signed events for comments, feedback and ratings, decided in the writer's
transaction, delivered by the outbox workers with retries, per site, and logged for admins.

Every test sends to a real HTTP receiver (``http.server`` on a free loopback port) that
records what it was sent and answers what the test tells it to.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxpop import __version__
from voxpop.errors import ConfigurationError
from voxpop.model import Role
from voxpop.services import webhook_delivery, webhooks
from voxpop.services.context import open_context
from voxpop.services.delivery import Mailer, MailerThread, Stats
from voxpop.services.webhook_delivery import MAX_ATTEMPTS
from voxpop.settings import load
from voxpop.store import webhooks as webhook_store
from voxpop.store.db import Database

from .conftest import ADMIN, AppFactory, build_settings, drain, post, rows
from .test_accounts import admin_client, make_account, sign_in

SECRET = "webhook-secret-shared-with-the-receiver"
AUTH = {"Authorization": f"Bearer {ADMIN}"}


# --- a real receiver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event(self) -> str:
        return self.headers["x-voxpop-event"]


class Receiver:
    """Records every POST; answers each with the next of ``answers`` (then 200)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: list[int | tuple[int, dict[str, str]]] = []
        self.delay = 0.0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the http.server interface
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.calls.append(Call(self.path, headers, body))
                    answer = receiver.answers.pop(0) if receiver.answers else 200
                if receiver.delay:
                    time.sleep(receiver.delay)
                status, extra = answer if isinstance(answer, tuple) else (answer, {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                text = b"ok" if status < 300 else b"receiver says no\n<html>"
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/voxpop"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def of(self, event: str) -> list[Call]:
        return [c for c in self.calls if c.event == event]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()


@pytest.fixture
def client(make_client: AppFactory, receiver: Receiver) -> TestClient:
    return make_client(webhook_url=receiver.url, webhook_secret=SECRET, moderation="none")


def verify(secret: str, call: Call) -> bool:
    """What a receiver does (docs/api.md): HMAC-SHA256 of the exact body, compared in
    constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), call.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, call.headers.get("x-voxpop-signature", ""))


def deliveries(client: TestClient) -> list[Any]:
    return rows(client.database, "SELECT * FROM webhook_deliveries ORDER BY id")  # type: ignore[attr-defined]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def moderate(client: TestClient, comment_id: int, action: str) -> Any:
    r = client.post(
        f"/api/v1/admin/comments/{comment_id}/moderate", json={"action": action}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def due_at(row: Any) -> datetime:
    """A row's ``due_at`` (raw SQL gives SQLite's text, PostgreSQL's aware datetime)."""
    value = row.due_at
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# --- what is sent -----------------------------------------------------------------------------


def test_a_new_comment_is_posted_signed_without_personal_data(
    client: TestClient, receiver: Receiver
) -> None:
    r = post(
        client,
        body="A *fine* point",
        author_name="Ann",
        author_email="ann@example.org",
        author_website="https://ann.example",
        title="Budget vote",
    )
    assert r.status_code == 201
    comment = r.json()
    assert receiver.calls == []  # decided in the transaction, sent by the worker

    drain(client)

    [call] = receiver.calls
    assert call.path == "/hooks/voxpop"
    [row] = deliveries(client)
    assert call.headers["content-type"] == "application/json"
    assert call.headers["user-agent"] == f"voxpop/{__version__}"
    assert call.headers["x-voxpop-event"] == "comment.created"
    assert call.headers["x-voxpop-delivery"] == str(row.id)
    assert verify(SECRET, call)
    assert not verify("another-secret", call)
    assert call.body == row.payload.encode()  # the stored body, byte for byte

    event = call.json()
    assert event["event"] == "comment.created"
    assert event["site"] == "default"
    assert event["id"].startswith("evt_")
    assert event["created_at"].endswith("Z")
    data = event["data"]
    assert data["article"] == {"uri": "/story", "title": "Budget vote"}
    assert data["comment"] == {
        "id": comment["id"],
        "parent_id": None,
        "uri": "/story",
        "author": {"name": "Ann", "website": "https://ann.example"},
        "html": "<p>A <em>fine</em> point</p>",
        "status": "approved",
        "created_at": comment["created_at"],
        "edited_at": None,
        "anchor": None,
    }
    # Nothing that identifies the reader beyond what the page shows.
    stored = rows(client.database, "SELECT ip_hash, address_key FROM comments")[0]  # type: ignore[attr-defined]
    text = call.body.decode()
    assert "ann@example.org" not in text
    assert stored.ip_hash not in text
    assert stored.address_key not in text
    assert "testclient" not in text  # the raw client address
    assert row.status == "sent" and row.attempts == 1 and row.response_status == 200
    assert row.sent_at is not None and row.last_error is None
    drain(client)
    assert len(receiver.calls) == 1  # nothing is due twice


def test_held_and_spam_comments_are_announced_with_their_status(
    make_client: AppFactory, receiver: Receiver
) -> None:
    client = make_client(webhook_url=receiver.url, webhook_secret=SECRET, moderation="pre")
    held = post(client, body="Please look at this").json()
    drain(client)
    [call] = receiver.of("comment.created")
    assert call.json()["data"]["comment"]["status"] == "pending"
    assert call.json()["data"]["comment"]["id"] == held["id"]


def test_moderation_is_announced_with_from_to_and_actor(
    make_client: AppFactory, receiver: Receiver
) -> None:
    client = make_client(webhook_url=receiver.url, webhook_secret=SECRET, moderation="pre")
    cid = post(client, body="Wait for me").json()["id"]
    moderate(client, cid, "approve")
    client.clock.advance(seconds=1)  # type: ignore[attr-defined]
    moderate(client, cid, "reject")
    client.clock.advance(seconds=1)  # type: ignore[attr-defined]
    moderate(client, cid, "approve")
    drain(client)

    moved = [c.json()["data"] for c in receiver.of("comment.moderated")]
    assert [(d["from"], d["to"]) for d in moved] == [
        ("pending", "approved"),
        ("approved", "rejected"),
        ("rejected", "approved"),
    ]
    assert {d["actor"]["kind"] for d in moved} == {"moderator"}
    assert [d["comment"]["status"] for d in moved] == ["approved", "rejected", "approved"]
    ids = {c.json()["id"] for c in receiver.of("comment.moderated")}
    assert len(ids) == 3  # three decisions, three events

    moderate(client, cid, "delete")
    drain(client)
    [gone] = [c.json()["data"] for c in receiver.of("comment.moderated")][3:]
    assert (gone["from"], gone["to"]) == ("approved", "deleted")
    assert gone["comment"]["html"] == "" and gone["comment"]["author"]["name"] is None


def test_a_replayed_moderation_calls_once(client: TestClient, receiver: Receiver) -> None:
    cid = post(client, body="Held, then rejected").json()["id"]
    moderate(client, cid, "reject")
    moderate(client, cid, "reject")  # the moderator's click, sent again: nothing changes
    drain(client)
    assert len(receiver.of("comment.moderated")) == 1

    # The same decision queued twice (the same key) is one row and one call.
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")
    for _ in range(2):
        queued = ctx.db.transact(
            lambda conn: webhooks.enqueue(ctx, conn, site, "comment.moderated", {}, "replay:1")
        )
    assert queued is False
    drain(client)
    assert len([r for r in deliveries(client) if r.event_key == "replay:1"]) == 1
    assert len(receiver.of("comment.moderated")) == 2


def test_edits_and_deletes_by_the_author(client: TestClient, receiver: Receiver) -> None:
    made = post(client, body="First words", author_name="Bo").json()
    token = made["reader_token"]
    r = client.patch(
        f"/api/v1/comments/{made['id']}", json={"body": "Better words"}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    assert client.delete(f"/api/v1/comments/{made['id']}", headers=bearer(token)).status_code in (
        200,
        204,
    )
    drain(client)

    [edited] = receiver.of("comment.edited")
    data = edited.json()["data"]
    assert data["comment"]["html"] == "<p>Better words</p>"
    assert data["comment"]["edited_at"] is not None
    assert data["actor"] == {"kind": "author"}
    [deleted] = receiver.of("comment.deleted")
    data = deleted.json()["data"]
    assert data["from"] == "approved"
    assert data["actor"] == {"kind": "author"}
    assert data["comment"]["id"] == made["id"]
    assert data["comment"]["status"] == "deleted"
    assert data["comment"]["html"] == "" and data["comment"]["author"]["name"] is None
    assert receiver.of("comment.moderated") == []
    assert [c.event for c in receiver.calls] == [
        "comment.created",
        "comment.edited",
        "comment.deleted",
    ]


def test_an_edit_held_by_the_policy_is_also_a_moderation(
    make_client: AppFactory, receiver: Receiver
) -> None:
    client = make_client(webhook_url=receiver.url, webhook_secret=SECRET, moderation="pre")
    made = post(client, body="Approved at first").json()
    moderate(client, made["id"], "approve")
    client.clock.advance(seconds=1)  # type: ignore[attr-defined]
    r = client.patch(
        f"/api/v1/comments/{made['id']}",
        json={"body": "Changed after approval"},
        headers=bearer(made["reader_token"]),
    )
    assert r.status_code == 200
    drain(client)
    moved = [c.json()["data"] for c in receiver.of("comment.moderated")]
    assert [(d["from"], d["to"], d["actor"]["kind"]) for d in moved] == [
        ("pending", "approved", "moderator"),
        ("approved", "pending", "policy"),
    ]
    [edited] = receiver.of("comment.edited")
    assert edited.json()["data"]["comment"]["status"] == "pending"


def test_enough_flags_are_announced_as_a_moderation_by_flags(
    make_client: AppFactory, receiver: Receiver
) -> None:
    client = make_client(
        webhook_url=receiver.url, webhook_secret=SECRET, trusted_proxies="testclient"
    )
    target = post(client, body="Something controversial here").json()
    for n in range(3):
        flagger = post(client, uri=f"/f{n}", body="I flag").json()["reader_token"]
        r = client.post(
            f"/api/v1/comments/{target['id']}/flag",
            json={"reason": "abuse"},
            headers={**bearer(flagger), "X-Forwarded-For": f"198.51.100.{n + 1}"},
        )
        assert r.status_code == 202
    drain(client)
    [held] = receiver.of("comment.moderated")
    data = held.json()["data"]
    assert (data["from"], data["to"], data["actor"]) == ("approved", "pending", {"kind": "flags"})


def test_inline_feedback_is_its_own_event(client: TestClient, receiver: Receiver) -> None:
    anchor = {"selector": [{"type": "TextQuoteSelector", "exact": "the budget"}]}
    r = post(client, body="Which budget?", anchor=anchor)
    assert r.status_code == 201, r.text
    drain(client)
    [call] = receiver.calls
    assert call.event == "feedback.created"
    stored = call.json()["data"]["comment"]["anchor"]
    assert stored == r.json()["anchor"]  # as the API shows it
    assert stored["selector"][0]["exact"] == "the budget"
    assert stored["state"] == "anchored"


def test_ratings_carry_the_aggregate_and_an_opaque_rater(
    client: TestClient, receiver: Receiver
) -> None:
    assert post(client).status_code == 201
    first = client.put("/api/v1/ratings", json={"uri": "/story", "stars": 4}).json()
    token = first["reader_token"]
    other = client.put("/api/v1/ratings", json={"uri": "/story", "stars": 2}).json()
    client.put("/api/v1/ratings", json={"uri": "/story", "stars": 5}, headers=bearer(token))
    client.put("/api/v1/ratings", json={"uri": "/story", "stars": 5}, headers=bearer(token))
    r = client.delete("/api/v1/ratings", params={"uri": "/story"}, headers=bearer(token))
    assert r.status_code == 200
    drain(client)

    events = [c.json() for c in receiver.calls if c.event.startswith("rating.")]
    assert [e["event"] for e in events] == [
        "rating.created",
        "rating.created",
        "rating.updated",  # the same stars again changed nothing: no event
        "rating.deleted",
    ]
    created, second, updated, deleted = (e["data"] for e in events)
    assert created["article"] == {"uri": "/story", "title": None}
    assert created["rating"]["stars"] == 4 and created["rating"]["counted"] is True
    assert created["aggregate"] == {"average": 4.0, "count": 1, "histogram": [0, 0, 0, 1, 0]}
    assert second["aggregate"]["count"] == 2
    assert updated["rating"]["stars"] == 5 and updated["rating"]["previous_stars"] == 4
    assert updated["aggregate"] == {"average": 3.5, "count": 2, "histogram": [0, 1, 0, 0, 1]}
    assert deleted["rating"]["stars"] == 5 and deleted["actor"] == {"kind": "reader"}
    assert deleted["aggregate"] == {"average": 2.0, "count": 1, "histogram": [0, 1, 0, 0, 0]}
    # One reader, one opaque id; another reader, another; neither is the reader id.
    assert created["rating"]["rater"] == updated["rating"]["rater"] == deleted["rating"]["rater"]
    assert second["rating"]["rater"] != created["rating"]["rater"]
    rater = created["rating"]["rater"]
    assert len(rater) == 28 and rater.startswith("rtr_")
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    reader_id = int(token.split(".")[1])
    assert rater == webhooks.rater(ctx, ctx.site("default"), reader_id)  # a keyed hash
    assert set(created["rating"]) == {"rater", "stars", "previous_stars", "counted"}
    assert other["reader_token"] not in json.dumps(events)


# --- what is not sent -------------------------------------------------------------------------


def test_a_comment_refused_by_the_policy_announces_nothing(
    client: TestClient, receiver: Receiver
) -> None:
    r = client.put(
        "/api/v1/admin/words", json={"kind": "banned", "words": ["scumbag"]}, headers=AUTH
    )
    assert r.status_code == 200
    refused = post(client, body="You scumbag")
    assert refused.status_code == 422
    drain(client)
    assert receiver.calls == []
    assert deliveries(client) == []


def test_a_rolled_back_write_announces_nothing(client: TestClient, receiver: Receiver) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")

    def refused(conn: Any) -> None:
        webhooks.enqueue(ctx, conn, site, "comment.created", {"n": 1}, "rolled-back:1")
        raise RuntimeError("the change is refused after it was announced")

    with pytest.raises(RuntimeError):
        ctx.db.transact(refused)
    ctx.db.transact(
        lambda conn: webhooks.enqueue(ctx, conn, site, "comment.created", {"n": 2}, "kept:2")
    )
    drain(client)
    assert [r.event_key for r in deliveries(client)] == ["kept:2"]
    assert [c.json()["data"] for c in receiver.calls] == [{"n": 2}]


def test_a_site_without_a_webhook_queues_nothing(make_client: AppFactory) -> None:
    client = make_client(moderation="none")
    post(client)
    client.put("/api/v1/ratings", json={"uri": "/story", "stars": 3})
    assert deliveries(client) == []


# --- retries ------------------------------------------------------------------------------------


def test_a_server_error_is_retried_with_backoff_then_sent(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [500]
    post(client)
    stats = drain(client)
    assert stats.webhooks.retried == 1
    [row] = deliveries(client)
    assert (row.status, row.attempts, row.response_status) == ("queued", 1, 500)
    assert row.last_error.startswith("HTTP 500: receiver says no")
    now = client.clock.now  # type: ignore[attr-defined]
    assert now + timedelta(seconds=14) <= due_at(row) <= now + timedelta(seconds=31)

    assert drain(client).webhooks.claimed == 0  # not due yet
    client.clock.advance(minutes=1)  # type: ignore[attr-defined]
    assert drain(client).webhooks.sent == 1

    [row] = deliveries(client)
    assert (row.status, row.attempts, row.response_status) == ("sent", 2, 200)
    assert row.last_error is None
    first, second = receiver.calls
    assert first.body == second.body  # the same event, the same id
    assert first.headers["x-voxpop-delivery"] == second.headers["x-voxpop-delivery"]
    assert verify(SECRET, second)


def test_a_client_error_fails_at_once(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [404]
    post(client)
    assert drain(client).webhooks.failed == 1
    [row] = deliveries(client)
    assert (row.status, row.attempts, row.response_status) == ("failed", 1, 404)
    client.clock.advance(days=1)  # type: ignore[attr-defined]
    drain(client)
    assert len(receiver.calls) == 1


def test_too_many_requests_waits_as_long_as_the_receiver_asks(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [(429, {"Retry-After": "3600"})]
    post(client)
    drain(client)
    [row] = deliveries(client)
    assert (row.status, row.response_status) == ("queued", 429)
    assert due_at(row) >= client.clock.now + timedelta(seconds=3600)  # type: ignore[attr-defined]


def test_an_unreachable_receiver_is_retried_then_given_up(make_client: AppFactory) -> None:
    client = make_client(webhook_url=f"http://127.0.0.1:{free_port()}/gone", webhook_secret=SECRET)
    post(client, body="one")
    post(client, body="two")
    assert drain(client).webhooks.retried == 2
    first, second = deliveries(client)
    assert (first.status, first.attempts, first.response_status) == ("queued", 1, None)
    assert first.last_error == "connection refused"
    # The pass called the URL once: its other call waits, said why.
    assert second.last_error == "not called: connection refused moments before"
    assert second.status == "queued"

    db = client.database  # type: ignore[attr-defined]
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE webhook_deliveries SET attempts = {MAX_ATTEMPTS - 1}")
    client.clock.advance(hours=7)  # type: ignore[attr-defined]
    assert drain(client).webhooks.failed == 2
    assert {(r.status, r.attempts) for r in deliveries(client)} == {("failed", MAX_ATTEMPTS)}


def test_a_worker_prunes_old_calls_with_the_mail_retention(
    client: TestClient, receiver: Receiver
) -> None:
    receiver.answers = [200, 404]
    post(client, body="sent")
    post(client, body="failed")
    drain(client)
    receiver.answers = [500]
    post(client, body="queued")
    drain(client)
    assert sorted(r.status for r in deliveries(client)) == ["failed", "queued", "sent"]
    client.clock.advance(days=31)  # type: ignore[attr-defined]
    mailer = Mailer(client.app.state.ctx)  # type: ignore[attr-defined]
    asyncio.run(mailer.prune())
    assert [r.status for r in deliveries(client)] == ["queued"]


# --- several workers ----------------------------------------------------------------------------


def test_two_workers_never_make_one_call_twice(make_client: AppFactory, receiver: Receiver) -> None:
    client = make_client(webhook_url=receiver.url, webhook_secret=SECRET, moderation="none")
    for n in range(12):
        post(client, uri=f"/s{n}", body=f"comment {n}")
    receiver.delay = 0.1  # calls overlap the other worker's claims
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    # A second worker as another process would be: its own connections and writer.
    other_db = Database(ctx.db.url)
    other = open_context(ctx.settings, other_db)
    other.clock = ctx.clock
    try:
        workers = [Mailer(ctx, name="worker-a"), Mailer(other, name="worker-b")]
        results: list[Any] = []

        def run(worker: Mailer) -> None:
            async def passes() -> Any:  # small batches: the two workers take turns
                total = Stats()
                while True:
                    stats = await worker.drain_once(batch=3)
                    total.add(stats)
                    if stats.webhooks.claimed == 0:
                        await worker.sender.close()
                        return total

            results.append(asyncio.run(passes()))

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        other.limiter.close()
        assert other.versions is not None
        other.versions.close()
        other_db.dispose()

    delivered = [c.headers["x-voxpop-delivery"] for c in receiver.calls]
    assert len(delivered) == 12
    assert len(set(delivered)) == 12
    assert sum(r.webhooks.sent for r in results) == 12
    assert all(r.webhooks.sent > 0 for r in results)  # both worked, on disjoint calls
    assert {(r.status, r.attempts) for r in deliveries(client)} == {("sent", 1)}


def test_a_claimed_call_is_left_to_its_worker_until_the_lease_runs_out(
    client: TestClient, receiver: Receiver
) -> None:
    post(client)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    now = ctx.clock()
    until = now + timedelta(seconds=ctx.settings.mail_lease)
    site_ids = [ctx.site("default").id]
    [held] = ctx.db.transact(
        lambda conn: webhook_store.claim(conn, "crashed", now, until, 10, site_ids)
    )
    assert drain(client).webhooks.claimed == 0
    assert receiver.calls == []
    client.clock.advance(seconds=ctx.settings.mail_lease + 1)  # type: ignore[attr-defined]
    assert drain(client).webhooks.sent == 1
    [row] = deliveries(client)
    assert (row.id, row.status, row.attempts) == (held.id, "sent", 2)


def test_the_server_s_own_worker_sends_at_once_after_the_commit(
    make_client: AppFactory, receiver: Receiver
) -> None:
    client = make_client(webhook_url=receiver.url, webhook_secret=SECRET, mail_poll="600")
    with client:  # runs the app's lifespan: its in-process worker
        time.sleep(0.3)  # the worker's first look found nothing; it now waits 600 s
        post(client)
        deadline = time.monotonic() + 10
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [c.event for c in receiver.calls] == ["comment.created"]


# --- per site ---------------------------------------------------------------------------------


def test_each_site_sends_to_its_own_url_with_its_own_secret(
    make_client: AppFactory, receiver: Receiver, tmp_path: Path
) -> None:
    tribune = Receiver().start()
    try:
        config = tmp_path / "voxpop.toml"
        config.write_text(
            f'[sites.tribune]\nwebhook_url = "{tribune.url}"\n'
            'webhook_secret = "the-tribune-s-own-secret"\n'
            "[sites.quiet]\n"
        )
        client = make_client(
            config=str(config), webhook_url=receiver.url, webhook_secret=SECRET, moderation="none"
        )
        post(client, body="on default")
        post(client, body="on the tribune", site="tribune")
        post(client, body="on the quiet site", site="quiet")
        drain(client)
    finally:
        tribune.stop()

    [mine] = receiver.calls
    [theirs] = tribune.calls
    assert mine.json()["site"] == "default"
    assert "on default" in mine.json()["data"]["comment"]["html"]
    assert theirs.json()["site"] == "tribune"
    assert "on the tribune" in theirs.json()["data"]["comment"]["html"]
    assert verify(SECRET, mine) and not verify(SECRET, theirs)
    assert verify("the-tribune-s-own-secret", theirs)
    assert len(deliveries(client)) == 2  # the quiet site has no webhook


# --- the operators' log ------------------------------------------------------------------------


def test_the_admin_log_lists_pages_and_retries(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [200, 404, 200]
    for n in range(3):
        post(client, body=f"comment {n}")
    drain(client)
    ok, failed, ok2 = deliveries(client)

    r = client.get("/api/v1/admin/webhooks", params={"site": "default"}, headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    log = r.json()
    assert log["counts"] == {"queued": 0, "sent": 2, "failed": 1}
    assert [i["id"] for i in log["items"]] == [ok2.id, failed.id, ok.id]  # newest first
    item = log["items"][1]
    assert item == {
        "id": failed.id,
        "site": "default",
        "event": "comment.created",
        "url": receiver.url,
        "status": "failed",
        "attempts": 1,
        "response_status": 404,
        "last_error": "HTTP 404: receiver says no <html>",
        "created_at": item["created_at"],
        "sent_at": None,
        "due_at": item["due_at"],
    }
    assert log["next_cursor"] is None

    page1 = client.get("/api/v1/admin/webhooks", params={"limit": 2}, headers=AUTH).json()
    assert [i["id"] for i in page1["items"]] == [ok2.id, failed.id]
    page2 = client.get(
        "/api/v1/admin/webhooks", params={"limit": 2, "cursor": page1["next_cursor"]}, headers=AUTH
    ).json()
    assert [i["id"] for i in page2["items"]] == [ok.id] and page2["next_cursor"] is None
    only = client.get("/api/v1/admin/webhooks", params={"status": "failed"}, headers=AUTH).json()
    assert [i["id"] for i in only["items"]] == [failed.id]
    bad = client.get("/api/v1/admin/webhooks", params={"cursor": "nope"}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_cursor"

    # A reader may not look.
    token = post(client).json()["reader_token"]
    refused = client.get("/api/v1/admin/webhooks", headers=bearer(token))
    assert refused.status_code == 403

    r = client.post("/api/v1/admin/webhooks/retry", json={"ids": [failed.id]}, headers=AUTH)
    assert r.json() == {"queued": 1}
    drain(client)
    row = next(r for r in deliveries(client) if r.id == failed.id)
    assert (row.status, row.attempts, row.response_status) == ("sent", 1, 200)
    assert client.post("/api/v1/admin/webhooks/retry", json={}, headers=AUTH).json() == {
        "queued": 0
    }
    audit = rows(client.database, "SELECT action, target FROM audit ORDER BY id")  # type: ignore[attr-defined]
    assert ("webhook.retry", str(failed.id)) in [(a.action, a.target) for a in audit]


def test_the_admin_page_is_for_admins(client: TestClient, receiver: Receiver) -> None:
    client = admin_client(client)
    receiver.answers = [404]
    post(client)
    drain(client)
    [failed] = deliveries(client)
    make_account(client, "boss", [("default", Role.ADMIN)])
    make_account(client, "mod", [("default", Role.MODERATOR)])
    boss, mod = sign_in(client, "boss"), sign_in(client, "mod")

    page = client.get("/admin/webhooks?site=default", headers=boss.headers)
    assert page.status_code == 200
    assert "comment.created" in page.text and receiver.url in page.text
    assert "HTTP 404" in page.text and SECRET not in page.text
    assert 'action="/admin/webhooks/retry"' in page.text
    assert (
        'href="/admin/webhooks?site=default"'
        in client.get("/admin/queue", headers=boss.headers).text
    )

    refused = client.get("/admin/webhooks?site=default", headers=mod.headers)
    assert refused.status_code == 403
    assert "/admin/webhooks" not in client.get("/admin/queue", headers=mod.headers).text

    retried = client.post(
        "/admin/webhooks/retry",
        data={"csrf": boss.csrf, "site": "default", "id": str(failed.id)},
        headers=boss.headers,
    )
    assert retried.status_code == 303
    assert retried.headers["location"].startswith("/admin/webhooks?site=default")
    [row] = deliveries(client)
    assert (row.status, row.attempts) == ("queued", 0)
    drain(client)
    assert deliveries(client)[0].status == "sent"


# --- configuration -----------------------------------------------------------------------------


def test_a_webhook_needs_a_secret_and_an_http_url(tmp_path: Path) -> None:
    base = {"VOXPOP_SECRET_KEY": "x" * 32}
    with pytest.raises(ConfigurationError) as info:
        load(environ={**base, "VOXPOP_WEBHOOK_URL": "https://hooks.example/voxpop"})
    assert "VOXPOP_WEBHOOK_SECRET" in info.value.detail
    assert "set VOXPOP_WEBHOOK_SECRET" in info.value.detail
    for url in ("ftp://hooks.example/x", "hooks.example/x", "https://user:pw@hooks.example/"):
        with pytest.raises(ConfigurationError) as info:
            load(environ={**base, "VOXPOP_WEBHOOK_URL": url, "VOXPOP_WEBHOOK_SECRET": "s" * 20})
        assert "VOXPOP_WEBHOOK_URL" in info.value.detail

    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.tribune]\nwebhook_url = "https://hooks.tribune.example/"\n')
    with pytest.raises(ConfigurationError) as info:
        load(environ={**base, "VOXPOP_CONFIG": str(config)})
    assert "sites.tribune.webhook_secret" in info.value.detail

    lease = {"VOXPOP_SMTP_TIMEOUT": "5", "VOXPOP_MAIL_LEASE": "20"}
    load(environ={**base, **lease})  # fine without a webhook
    with pytest.raises(ConfigurationError, match="VOXPOP_MAIL_LEASE"):
        load(
            environ={
                **base,
                **lease,
                "VOXPOP_WEBHOOK_URL": "https://hooks.example/",
                "VOXPOP_WEBHOOK_SECRET": "s" * 20,
            }
        )

    config.write_text(
        '[sites.tribune]\nwebhook_url = "https://hooks.tribune.example/"\n'
        'webhook_secret = "tribune-secret"\n'
    )
    s = load(
        environ={
            **base,
            "VOXPOP_CONFIG": str(config),
            "VOXPOP_WEBHOOK_URL": "http://127.0.0.1:9/hook",
            "VOXPOP_WEBHOOK_SECRET": "default-secret",
        }
    )
    default, tribune = s.site("default"), s.site("tribune")
    assert default is not None and tribune is not None
    assert (default.webhook_url, default.webhook_secret) == (
        "http://127.0.0.1:9/hook",
        "default-secret",
    )
    assert (tribune.webhook_url, tribune.webhook_secret) == (
        "https://hooks.tribune.example/",
        "tribune-secret",
    )
    assert "tribune-secret" not in repr(s)  # secrets stay out of logs and tracebacks
    assert build_settings("sqlite://").site("default").webhook_url == ""  # type: ignore[union-attr]


# --- a slow receiver ---------------------------------------------------------------------------


class Dripper:
    """A receiver that reads the call, starts a 200 answer and then sends one header line
    every ``every`` seconds, for up to ``dripping`` seconds: each step is quick, the
    answer never ends. Notes when the caller has hung up."""

    def __init__(self, every: float = 0.2, dripping: float = 15.0) -> None:
        self.every = every
        self.dripping = dripping
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.started: list[float] = []  # monotonic times of each connection
        self.hung_up: list[float] = []  # … and of the caller closing it
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.closing = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/hooks/slow"

    def start(self) -> Dripper:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.closing = True
        self.listener.close()

    def _serve(self) -> None:
        while not self.closing:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        self.started.append(time.monotonic())
        with conn:
            conn.settimeout(5)
            seen = b""
            while b"\r\n\r\n" not in seen:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                seen += chunk
            ends = time.monotonic() + self.dripping
            try:
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                n = 0
                while time.monotonic() < ends and not self.closing:
                    time.sleep(self.every)
                    n += 1
                    conn.sendall(f"X-Drip-{n}: .\r\n".encode())
                conn.sendall(b"Content-Length: 0\r\n\r\n")
            except OSError:  # the caller hung up
                self.hung_up.append(time.monotonic())


@pytest.fixture
def dripper() -> Iterator[Dripper]:
    d = Dripper().start()
    yield d
    d.stop()


def test_a_receiver_that_never_finishes_its_answer_is_cut_off_at_the_budget(
    dripper: Dripper,
) -> None:
    begun = time.monotonic()
    answer = webhook_delivery.post(dripper.url, b"{}", {"Connection": "close"}, 1.0, 1.5)
    took = time.monotonic() - begun
    assert answer.status is None
    assert answer.error == "no complete answer within 1.5 s: cut off"
    assert 1.4 <= took < 3.0  # each step was quick; the whole call was not
    # The connection was really closed (the thread is not still reading).
    deadline = time.monotonic() + 3
    while not dripper.hung_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert dripper.hung_up and dripper.hung_up[0] - begun < 3.0


def test_a_slow_receiver_never_holds_the_mail(
    make_client: AppFactory, dripper: Dripper, inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_delivery, "TIMEOUT", 1.0)  # a step: never reached here
    monkeypatch.setattr(webhook_delivery, "BUDGET", 3.0)  # a call: always reached here
    client = make_client(
        webhook_url=dripper.url,
        webhook_secret=SECRET,
        smtp_url=inbox.url,
        moderation="none",
        mail_poll="30",
    )
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    thread = MailerThread(Mailer(ctx))
    thread.start()
    ctx.mail_wakeup = thread.wake
    try:
        assert post(client).status_code == 201  # a call to the dripping receiver
        deadline = time.monotonic() + 5
        while not dripper.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert dripper.started, "the worker never called the receiver"
        called = dripper.started[0]
        # While that call drags on, a mail is queued: it goes at once.
        r = client.post(
            "/api/v1/subscriptions",
            json={"uri": "/story", "email": "reader@example.org", "scope": "thread"},
        )
        assert r.status_code == 202, r.text
        [mail] = inbox.wait_for(1, timeout=10)
        mailed = time.monotonic()
        assert mail.to == ["reader@example.org"]
        assert mailed - called < 2.0  # well before the call's budget ran out
        assert not dripper.hung_up  # the call was still under way meanwhile
        # The call itself ends with its budget: cut off, to be tried again.
        deadline = time.monotonic() + 6
        while not dripper.hung_up and time.monotonic() < deadline:
            time.sleep(0.05)
        assert dripper.hung_up and dripper.hung_up[0] - called < 4.0
        deadline = time.monotonic() + 5
        while deliveries(client)[0].last_error is None and time.monotonic() < deadline:
            time.sleep(0.05)
        [row] = deliveries(client)
        assert (row.status, row.attempts) == ("queued", 1)
        assert row.last_error == "no complete answer within 3 s: cut off"
    finally:
        thread.stop()


# --- where a call goes ------------------------------------------------------------------------


def test_a_call_queued_before_the_url_changed_goes_to_the_new_url(
    client: TestClient, receiver: Receiver
) -> None:
    post(client, body="queued for the old URL")
    [queued] = deliveries(client)
    assert queued.url == receiver.url
    moved = Receiver().start()
    try:
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        old = ctx.site("default")
        # The operator moved the webhook; the worker now runs with the new settings.
        ctx.sites["default"] = replace(
            old, webhook_url=moved.url + "?token=new", webhook_secret="the-new-secret"
        )
        assert drain(client).webhooks.sent == 1
    finally:
        moved.stop()
    assert receiver.calls == []
    [call] = moved.calls
    assert call.path == "/hooks/voxpop?token=new"
    assert verify("the-new-secret", call)
    assert call.body == queued.payload.encode()
    [row] = deliveries(client)
    assert (row.status, row.url) == ("sent", receiver.url)  # the log keeps where it was meant
    log = client.get("/api/v1/admin/webhooks", headers=AUTH).json()
    assert log["items"][0]["url"] == receiver.url


def test_a_worker_without_the_site_s_webhook_leaves_its_calls_queued(
    client: TestClient, receiver: Receiver
) -> None:
    post(client, body="queued while the site had a webhook")
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    hooked = ctx.site("default")
    ctx.sites["default"] = replace(hooked, webhook_url="", webhook_secret="")
    stats = drain(client)
    assert stats.webhooks.claimed == 0
    [row] = deliveries(client)
    assert (row.status, row.attempts, row.last_error) == ("queued", 0, None)
    assert receiver.calls == []

    admin = admin_client(client)
    make_account(admin, "boss", [("default", Role.ADMIN)])
    boss = sign_in(admin, "boss")
    page = admin.get("/admin/webhooks?site=default", headers=boss.headers)
    assert page.status_code == 200
    assert "1 queued call waits for a webhook" in page.text

    ctx.sites["default"] = hooked  # configured again: the call is made
    assert drain(client).webhooks.sent == 1
    assert [c.event for c in receiver.calls] == ["comment.created"]


# --- small things ------------------------------------------------------------------------------


def test_the_retry_body_refuses_unknown_keys(client: TestClient, receiver: Receiver) -> None:
    receiver.answers = [404, 404]
    post(client, body="one")
    post(client, body="two")
    drain(client)
    first, second = deliveries(client)
    r = client.post("/api/v1/admin/webhooks/retry", json={"id": [first.id]}, headers=AUTH)
    assert r.status_code == 422, r.text  # a typo of "ids" would retry every failed call
    assert "id" in r.text
    assert {row.status for row in deliveries(client)} == {"failed"}
    r = client.post("/api/v1/admin/webhooks/retry", json={"ids": [first.id]}, headers=AUTH)
    assert r.json() == {"queued": 1}


def test_the_log_never_shows_the_url_s_query_or_credentials(
    make_client: AppFactory, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(webhook_url=receiver.url + "?token=s3cr3t-t0ken", webhook_secret=SECRET)
    receiver.answers = [404]
    post(client)
    with caplog.at_level(logging.WARNING, logger="voxpop.webhooks"):
        assert drain(client).webhooks.failed == 1
    assert "failed after 1 attempt(s)" in caplog.text
    assert receiver.url in caplog.text
    assert "s3cr3t" not in caplog.text
    assert webhook_delivery.shown("https://u:pw@hooks.example:8443/x/y?token=t#f") == (
        "https://hooks.example:8443/x/y"
    )
