"""Privacy through the HTTP API, on SQLite and PostgreSQL: a reader's export and erasure,
an operator's purge of an author on one site, and the retention of address hashes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop.services import privacy as privacy_service
from voxpop.services.identity import reader_token
from voxpop.services.subscriptions import confirm_token
from voxpop.services.threads import wilson
from voxpop.store import webhooks as webhook_store
from voxpop.store.db import Database
from voxpop.web import privacy_api

from .conftest import ADMIN, SECRET, AppFactory, drain, post, rows
from .test_webhooks import SECRET as HOOK_SECRET
from .test_webhooks import Receiver, verify

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}
TEXT = "The council voted to keep the library open late on weekdays for a trial year."


def passage() -> dict[str, Any]:
    quote = {"exact": "open late on weekdays", "prefix": "the library ", "suffix": " for a"}
    return {"selector": [{"type": "TextQuoteSelector", **quote}]}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def reader_of(token: str) -> int:
    return int(token.split(".")[1])


def with_privacy(client: TestClient) -> TestClient:
    """The app with the privacy routes (once ``create_app`` includes them, as it is)."""
    app: Any = client.app
    if not any(getattr(r, "path", None) == "/api/v1/me/export" for r in app.routes):
        app.include_router(privacy_api.router)
    return client


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return with_privacy(make_client())


@pytest.fixture
def two_sites(make_client: AppFactory, tmp_path: Any) -> TestClient:
    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.other]\norigins = ["https://other.example"]\n')
    return with_privacy(make_client(config=str(config)))


def db(client: TestClient) -> Database:
    database: Database = client.database  # type: ignore[attr-defined]
    return database


def ok(response: Any, status: int = 201) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def vote(client: TestClient, token: str, comment_id: int, value: int) -> None:
    r = client.put(
        f"/api/v1/comments/{comment_id}/vote", json={"value": value}, headers=auth(token)
    )
    ok(r, 200)


def rate(client: TestClient, token: str | None, stars: int, **extra: Any) -> str:
    body = {"uri": "/story", "stars": stars, **extra}
    r = client.put("/api/v1/ratings", json=body, headers=auth(token) if token else {})
    data = ok(r, 200)
    return token or str(data["reader_token"])


def subscribe(client: TestClient, token: str, email: str, **extra: Any) -> None:
    body = {"uri": "/story", "email": email, "scope": "thread", **extra}
    ok(client.post("/api/v1/subscriptions", json=body, headers=auth(token)), 202)


def confirm(client: TestClient, email: str, reader_id: int) -> None:
    """Follow the confirmation link of ``email``'s subscription as ``reader_id``."""
    (sub_id,) = rows(
        db(client),
        "SELECT s.id FROM subscriptions s JOIN subscribers b ON b.id = s.subscriber_id "
        f"WHERE b.email = '{email}'",
    )[0]
    expires = int(client.clock.now.timestamp()) + 3600  # type: ignore[attr-defined]
    token = confirm_token(SECRET, sub_id, reader_id, expires)
    r = client.get("/subscriptions/confirm", params={"token": token})
    assert r.status_code == 200, r.text


@dataclass
class World:
    alice: str  # reader tokens
    bob: str
    carol: str
    a_top_replied: int  # Alice's comments
    a_top_alone: int
    a_reply: int
    a_feedback: int
    b_top: int  # Bob's
    b_reply: int
    c_top: int  # Carol's


def build(client: TestClient) -> World:
    """Three readers on /story (and Alice on /other): comments, replies, feedback, votes
    both ways, ratings, subscriptions confirmed and not, mail queued."""
    r = client.put(
        "/api/v1/articles",
        params={"uri": "/story"},
        json={"title": "Late library", "text": TEXT},
        headers=ADMIN_HEADERS,
    )
    ok(r, 200)
    b = ok(post(client, body="Bob first"))
    bob, b_top = b["reader_token"], b["id"]
    a = ok(
        post(
            client,
            body="Alice on top",
            author_name="Alice",
            author_email="alice@example.com",
            author_website="https://alice.example",
            notify="thread",
        )
    )
    alice, a_top_replied = a["reader_token"], a["id"]
    b_reply = ok(post(client, bob, body="Bob replies to Alice", parent_id=a_top_replied))["id"]
    a_top_alone = ok(post(client, alice, body="Alice alone"))["id"]
    a_reply = ok(post(client, alice, body="Alice replies to Bob", parent_id=b_top))["id"]
    anchor = passage()
    a_feedback = ok(post(client, alice, body="Alice on a passage", anchor=anchor))["id"]
    c = ok(post(client, body="Carol here"))
    carol, c_top = c["reader_token"], c["id"]

    vote(client, alice, b_top, 1)
    vote(client, carol, b_top, 1)
    vote(client, alice, b_reply, -1)
    vote(client, carol, a_top_replied, -1)
    vote(client, bob, c_top, 1)

    rate(client, alice, 5)
    rate(client, bob, 3)
    rate(client, alice, 4, uri="/other", title="Other")

    subscribe(client, bob, "bob@example.com")
    subscribe(client, alice, "alice2@example.com", uri="/other")
    confirm(client, "alice@example.com", reader_of(alice))
    ok(post(client, carol, body="Carol again: Alice hears of it"))
    return World(
        alice, bob, carol, a_top_replied, a_top_alone, a_reply, a_feedback, b_top, b_reply, c_top
    )


def export(client: TestClient, token: str) -> Any:
    r = client.get("/api/v1/me/export", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


def assert_aggregates_exact(database: Database) -> None:
    """Every counter the erasure touched equals a recount from the rows themselves."""
    for cid, up, down, score, ups, downs in rows(
        database,
        "SELECT c.id, c.up, c.down, c.score,"
        " (SELECT count(*) FROM votes v WHERE v.comment_id = c.id AND v.value = 1),"
        " (SELECT count(*) FROM votes v WHERE v.comment_id = c.id AND v.value = -1)"
        " FROM comments c",
    ):
        assert (up, down) == (ups, downs), f"comment {cid}"
        assert score == pytest.approx(wilson(ups, downs)), f"comment {cid}"
    histogram = ", ".join(f"a.rating_{s}" for s in range(1, 6))
    recounted = ", ".join(
        f"(SELECT count(*) FROM ratings r WHERE r.article_id = a.id AND r.counted"
        f" AND r.stars = {s})"
        for s in range(1, 6)
    )
    for row in rows(
        database,
        f"SELECT a.id, a.comment_count, a.rating_count, a.rating_sum, {histogram},"
        " (SELECT count(*) FROM comments c WHERE c.article_id = a.id AND c.status = 'approved'),"
        " (SELECT count(*) FROM ratings r WHERE r.article_id = a.id AND r.counted),"
        " (SELECT coalesce(sum(r.stars), 0) FROM ratings r"
        "  WHERE r.article_id = a.id AND r.counted),"
        f" {recounted} FROM articles a",
    ):
        article, stored, recount = row[0], row[1:9], row[9:]
        assert tuple(stored[:3]) == tuple(recount[:3]), f"article {article}"
        assert tuple(stored[3:]) == tuple(recount[3:]), f"article {article} histogram"


# -- export --------------------------------------------------------------------------------


def test_export_holds_exactly_the_readers_own_data(client: TestClient) -> None:
    w = build(client)
    r = client.get("/api/v1/me/export", headers=auth(w.alice))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="voxpop-export.json"'
    assert r.headers["cache-control"] == "private, no-store"
    data = r.json()
    assert set(data) == {
        "reader", "comments", "votes", "ratings", "subscriptions", "flags", "exported_at"
    }  # fmt: skip
    assert data["reader"]["id"] == reader_of(w.alice)
    assert data["reader"]["verified_at"] is not None  # she confirmed alice@example.com
    mine = [w.a_top_replied, w.a_top_alone, w.a_reply, w.a_feedback]
    assert [c["id"] for c in data["comments"]] == mine
    first = data["comments"][0]
    assert first["site"] == "default" and first["uri"] == "/story"
    assert first["body"] == "Alice on top" and "Alice on top" in first["html"]
    assert first["author"] == {
        "name": "Alice",
        "email": "alice@example.com",
        "website": "https://alice.example",
    }
    assert first["status"] == "approved" and first["parent_id"] is None
    assert first["edited_at"] is None and first["anchor"] is None
    assert data["comments"][2]["parent_id"] == w.b_top
    assert data["comments"][3]["anchor"]["state"] == "anchored"
    assert [(v["comment_id"], v["value"]) for v in data["votes"]] == [
        (w.b_top, 1),
        (w.b_reply, -1),
    ]
    assert [(r["site"], r["uri"], r["stars"], r["counted"]) for r in data["ratings"]] == [
        ("default", "/story", 5, True),
        ("default", "/other", 4, True),
    ]
    subs = {(s["email"], s["uri"], s["scope"]): s for s in data["subscriptions"]}
    assert set(subs) == {
        ("alice@example.com", "/story", "thread"),
        ("alice2@example.com", "/other", "thread"),
    }
    assert subs["alice@example.com", "/story", "thread"]["confirmed_at"] is not None
    assert subs["alice2@example.com", "/other", "thread"]["confirmed_at"] is None
    assert subs["alice2@example.com", "/other", "thread"]["delivery"] == "instant"

    other = export(client, w.bob)
    assert [c["id"] for c in other["comments"]] == [w.b_top, w.b_reply]
    assert [(v["comment_id"], v["value"]) for v in other["votes"]] == [(w.c_top, 1)]
    assert [r["stars"] for r in other["ratings"]] == [3]
    assert [s["email"] for s in other["subscriptions"]] == ["bob@example.com"]
    assert "alice@example.com" not in str(other) and "alice2" not in str(other)


def test_export_takes_one_query_per_table_however_much_there_is(client: TestClient) -> None:
    w = build(client)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db(client).engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        export(client, w.alice)  # four comments, two votes, two ratings, two subscriptions
        many = len(statements)
        statements.clear()
        export(client, w.carol)  # two comments, one vote
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert 5 <= many == len(statements) <= 7  # reader, comments, votes, ratings, subscriptions


def test_export_of_a_reader_with_nothing_yet(client: TestClient) -> None:
    token = rate(client, None, 4, uri="/fresh", title="Fresh")
    r = client.delete("/api/v1/ratings", params={"uri": "/fresh"}, headers=auth(token))
    assert r.status_code == 200
    data = export(client, token)
    assert data["comments"] == data["votes"] == data["ratings"] == data["subscriptions"] == []
    assert data["reader"]["verified_at"] is None


# -- a reader's erasure --------------------------------------------------------------------


def test_erasure_leaves_placeholders_and_exact_aggregates(client: TestClient) -> None:
    w = build(client)
    before = {
        r[0]: r[1:] for r in rows(db(client), "SELECT id, body, author_name, status FROM comments")
    }
    waiting = rows(
        db(client),
        "SELECT o.kind, o.status FROM outbox o JOIN subscribers b ON b.id = o.subscriber_id"
        " WHERE b.email = 'alice@example.com'",
    )
    assert ("notify", "queued") in waiting  # Carol's second comment, for Alice's address
    shown = client.get("/api/v1/comments", params={"uri": "/story", "sort": "old"}).json()
    assert shown["total"] == 8  # cached now: the erasure must make it stale

    r = client.delete("/api/v1/me", headers=auth(w.alice))
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    assert r.json() == {"comments": 4, "votes": 2, "ratings": 2, "subscriptions": 2}

    # The thread: her replied-to comment stays as a placeholder, the rest vanish.
    thread = client.get("/api/v1/comments", params={"uri": "/story", "sort": "old"}).json()
    tops = {c["id"]: c for c in thread["items"]}
    assert w.a_top_alone not in tops and w.a_feedback not in tops
    placeholder = tops[w.a_top_replied]
    assert placeholder["deleted"] and placeholder["html"] == ""
    assert placeholder["author"] == {"name": None, "website": None}
    assert [c["id"] for c in placeholder["replies"]] == [w.b_reply]
    assert tops[w.b_top]["replies"] == []
    assert thread["total"] == 4  # Bob's two, Carol's two
    assert (
        client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()["/story"][
            "feedback"
        ]
        == 0
    )

    # Her rows: emptied, no address, no anchor; everyone else's untouched.
    for cid, body, name, email, website, html, status, ip, key, anchor, state in rows(
        db(client),
        "SELECT id, body, author_name, author_email, author_website, html, status, ip_hash,"
        " address_key, anchor, anchor_state FROM comments"
        f" WHERE reader_id = {reader_of(w.alice)}",
    ):
        assert (body, html, status) == ("", "", "deleted"), cid
        assert name is email is website is ip is key is anchor is state is None, cid
    for cid, *now in rows(db(client), "SELECT id, body, author_name, status FROM comments"):
        if cid not in (w.a_top_replied, w.a_top_alone, w.a_reply, w.a_feedback):
            assert tuple(now) == tuple(before[cid]), cid

    # Counters: Bob's top comment lost her up-vote, his reply her down-vote.
    votes = {r[0]: (r[1], r[2]) for r in rows(db(client), "SELECT id, up, down FROM comments")}
    assert votes[w.b_top] == (1, 0) and votes[w.b_reply] == (0, 0)
    assert votes[w.a_top_replied] == (0, 1)  # Carol's vote on her comment stays
    assert_aggregates_exact(db(client))
    rating = client.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert rating["count"] == 1 and rating["average"] == 3
    assert client.get("/api/v1/ratings", params={"uri": "/other"}).json()["count"] == 0

    # Subscriptions: hers gone with the address she confirmed and its mail; the address
    # she only asked for stays (it counts confirmation mails) with its mail dropped.
    assert rows(db(client), "SELECT count(*) FROM subscriptions")[0][0] == 1
    emails = [r[0] for r in rows(db(client), "SELECT email FROM subscribers ORDER BY email")]
    assert emails == ["alice2@example.com", "bob@example.com"]
    mail = rows(
        db(client),
        "SELECT b.email, o.kind, o.status FROM outbox o"
        " JOIN subscribers b ON b.id = o.subscriber_id ORDER BY o.id",
    )
    assert ("alice2@example.com", "confirm", "dropped") in mail
    assert all(status != "queued" for email, _kind, status in mail if email.startswith("alice"))
    assert ("bob@example.com", "confirm", "queued") in mail
    verified = rows(db(client), f"SELECT verified_at FROM readers WHERE id = {reader_of(w.alice)}")
    assert verified == [(None,)]

    name = f"reader:{reader_of(w.alice)}"
    (audit,) = rows(db(client), "SELECT actor, action, target, site_id, detail FROM audit")
    assert tuple(audit[:4]) == (name, "privacy.delete", name, None)
    detail = audit[4] if isinstance(audit[4], dict) else json.loads(audit[4])
    assert detail == {"comments": 4, "votes": 2, "ratings": 2, "subscriptions": 2}

    # Again: nothing left, no error. The token still works, as an empty reader.
    again = client.delete("/api/v1/me", headers=auth(w.alice))
    assert again.json() == {"comments": 0, "votes": 0, "ratings": 0, "subscriptions": 0}
    left = export(client, w.alice)
    assert left["votes"] == left["ratings"] == left["subscriptions"] == []
    assert {c["status"] for c in left["comments"]} == {"deleted"}
    assert {c["body"] for c in left["comments"]} == {""}
    posted = ok(post(client, w.alice, body="Back again"))
    assert posted["reader_token"] == w.alice
    assert_aggregates_exact(db(client))


def test_erasure_of_comments_deleted_before_still_clears_them(client: TestClient) -> None:
    anchor = passage()
    ok(
        client.put(
            "/api/v1/articles",
            params={"uri": "/story"},
            json={"title": "Late library", "text": TEXT},
            headers=ADMIN_HEADERS,
        ),
        200,
    )
    a = ok(post(client, body="on a passage", anchor=anchor))
    token = a["reader_token"]
    assert client.delete(f"/api/v1/comments/{a['id']}", headers=auth(token)).status_code == 204
    left = rows(db(client), f"SELECT ip_hash, anchor FROM comments WHERE id = {a['id']}")[0]
    assert left[0] is not None and left[1] is not None  # a plain delete keeps them
    count = rows(db(client), "SELECT comment_count FROM articles")[0][0]
    r = client.delete("/api/v1/me", headers=auth(token))
    assert r.json()["comments"] == 1
    assert rows(db(client), f"SELECT ip_hash, anchor FROM comments WHERE id = {a['id']}") == [
        (None, None)
    ]
    assert rows(db(client), "SELECT comment_count FROM articles")[0][0] == count
    assert client.delete("/api/v1/me", headers=auth(token)).json()["comments"] == 0


def test_erasure_of_a_held_comment_keeps_the_count(make_client: AppFactory) -> None:
    client = with_privacy(make_client(moderation="pre"))
    held = ok(post(client, body="waiting"))
    assert held["status"] == "pending"
    r = client.delete("/api/v1/me", headers=auth(held["reader_token"]))
    assert r.json()["comments"] == 1
    assert rows(db(client), "SELECT comment_count, status FROM articles, comments") == [
        (0, "deleted")
    ]


def test_erasure_of_an_unknown_reader_is_nothing(client: TestClient) -> None:
    token = reader_token(SECRET, 424242)
    r = client.delete("/api/v1/me", headers=auth(token))
    assert r.status_code == 200
    assert r.json() == {"comments": 0, "votes": 0, "ratings": 0, "subscriptions": 0}
    r = client.get("/api/v1/me/export", headers=auth(token))
    assert r.status_code == 404 and r.json()["code"] == "unknown_reader"


# -- an operator's purge -------------------------------------------------------------------


def test_purge_is_limited_to_one_site(two_sites: TestClient) -> None:
    client = two_sites
    a = ok(post(client, body="Alice at home"))
    alice = a["reader_token"]
    b = ok(post(client, body="Bob at home"))
    a_other = ok(post(client, alice, body="Alice away", uri="/a", site="other", title="A"))
    b_other = ok(post(client, b["reader_token"], body="Bob away", uri="/a", site="other"))
    vote(client, alice, b["id"], 1)
    vote(client, alice, b_other["id"], -1)
    rate(client, alice, 5)
    rate(client, alice, 2, uri="/a", site="other")
    subscribe(client, alice, "alice@example.com")
    subscribe(client, alice, "alice@example.com", uri="/a", site="other")
    reader = reader_of(alice)

    r = client.post(
        f"/api/v1/admin/authors/{reader}/purge", params={"site": "other"}, headers=ADMIN_HEADERS
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "private, no-store"
    assert r.json() == {"comments": 1, "votes": 1, "ratings": 1, "subscriptions": 1}

    status = dict(rows(db(client), "SELECT id, status FROM comments"))
    assert status[a_other["id"]] == "deleted" and status[a["id"]] == "approved"
    assert status[b_other["id"]] == "approved"
    data = export(client, alice)
    assert [(v["comment_id"], v["value"]) for v in data["votes"]] == [(b["id"], 1)]
    assert [(r["site"], r["stars"]) for r in data["ratings"]] == [("default", 5)]
    assert [(s["site"], s["uri"]) for s in data["subscriptions"]] == [("default", "/story")]
    other = client.get("/api/v1/ratings", params={"uri": "/a", "site": "other"}).json()
    assert other["count"] == 0
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 1
    assert_aggregates_exact(db(client))
    mail = rows(db(client), "SELECT status FROM outbox WHERE kind = 'confirm' ORDER BY id")
    assert mail == [("queued",), ("dropped",)]

    (audit,) = rows(db(client), "SELECT actor, action, target, site_id FROM audit")
    other_id = rows(db(client), "SELECT id FROM sites WHERE name = 'other'")[0][0]
    assert tuple(audit) == ("admin-token", "author.purge", f"reader:{reader}", other_id)
    again = client.post(
        f"/api/v1/admin/authors/{reader}/purge", params={"site": "other"}, headers=ADMIN_HEADERS
    )
    assert again.json() == {"comments": 0, "votes": 0, "ratings": 0, "subscriptions": 0}
    r = client.post(f"/api/v1/admin/authors/{reader}/purge", headers=ADMIN_HEADERS)
    assert r.json() == {"comments": 1, "votes": 1, "ratings": 1, "subscriptions": 1}
    assert_aggregates_exact(db(client))


# -- permissions and bad input -------------------------------------------------------------


def test_purge_needs_a_moderator(client: TestClient) -> None:
    token = ok(post(client))["reader_token"]
    path = f"/api/v1/admin/authors/{reader_of(token)}/purge"
    r = client.post(path)
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"
    assert r.headers["content-type"] == "application/problem+json"
    r = client.post(path, headers=auth(token))
    assert r.status_code == 403 and r.json()["code"] == "not_moderator"
    assert rows(db(client), "SELECT status FROM comments") == [("approved",)]


@pytest.mark.parametrize(
    ("reader", "status", "code"),
    [
        ("999999", 404, "unknown_reader"),
        (str(2**31 - 1), 404, "unknown_reader"),
        ("0", 422, "validation_error"),
        ("-1", 422, "validation_error"),
        (str(2**31), 422, "validation_error"),
        (str(2**70), 422, "validation_error"),
        ("abc", 422, "validation_error"),
    ],
)
def test_purge_refuses_readers_that_are_not_there(
    client: TestClient, reader: str, status: int, code: str
) -> None:
    r = client.post(f"/api/v1/admin/authors/{reader}/purge", headers=ADMIN_HEADERS)
    assert r.status_code == status and r.json()["code"] == code


def test_purge_refuses_an_unknown_site_and_unknown_parameters(client: TestClient) -> None:
    token = ok(post(client))["reader_token"]
    path = f"/api/v1/admin/authors/{reader_of(token)}/purge"
    r = client.post(path, params={"site": "nowhere"}, headers=ADMIN_HEADERS)
    assert r.status_code == 404 and r.json()["code"] == "unknown_site"
    r = client.post(path, params={"site": "bad site"}, headers=ADMIN_HEADERS)
    assert r.status_code == 422
    r = client.post(path, params={"sites": "default"}, headers=ADMIN_HEADERS)
    assert r.status_code == 422 and r.json()["field"] == "sites"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer r1.1.forgedsignature",
        f"Bearer {reader_token('another-secret-of-another-server', 1)}",
        "Bearer r1.x.y",
        "Bearer not-a-token",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        f"Bearer {ADMIN}",  # a moderator has no data of their own here
    ],
)
def test_own_data_needs_a_valid_reader_token(client: TestClient, header: str | None) -> None:
    token = ok(post(client))["reader_token"]
    headers = {"Authorization": header} if header else {}
    for method, path in (("GET", "/api/v1/me/export"), ("DELETE", "/api/v1/me")):
        r = client.request(method, path, headers=headers)
        assert r.status_code == 401, (method, header)
        assert r.json()["code"] == "unauthorized"
        assert r.headers["content-type"] == "application/problem+json"
    assert rows(db(client), "SELECT status FROM comments") == [("approved",)]
    assert export(client, token)["comments"][0]["status"] == "approved"


def test_own_data_refuses_unknown_parameters(client: TestClient) -> None:
    token = ok(post(client))["reader_token"]
    r = client.get("/api/v1/me/export", params={"format": "csv"}, headers=auth(token))
    assert r.status_code == 422 and r.json()["field"] == "format"
    r = client.delete("/api/v1/me", params={"site": "default"}, headers=auth(token))
    assert r.status_code == 422
    assert rows(db(client), "SELECT status FROM comments") == [("approved",)]


# -- address hashes ------------------------------------------------------------------------


def test_old_address_hashes_are_forgotten_and_tallies_stay(client: TestClient) -> None:
    ctx: Any = client.app.state.ctx  # type: ignore[attr-defined]
    old = ok(post(client, body="long ago"))
    rate(client, old["reader_token"], 4)
    client.clock.advance(days=31)  # type: ignore[attr-defined]
    new = ok(post(client, body="today"))
    rate(client, new["reader_token"], 2)
    rate(client, None, 5)  # a second rater from the same address, today
    summary = client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()

    assert privacy_service.forget_old_addresses(ctx) == 2

    hashes = {
        r[0]: r[1:] for r in rows(db(client), "SELECT id, ip_hash, address_key FROM comments")
    }
    assert hashes[old["id"]] == (None, None)
    assert None not in hashes[new["id"]]
    rated = rows(db(client), "SELECT stars, address_hash FROM ratings ORDER BY stars")
    assert [(stars, h is None) for stars, h in rated] == [(2, False), (4, True), (5, False)]
    assert client.get("/api/v1/articles/summary", params={"uri": "/story"}).json() == summary
    # The per-address allowance (3 new raters a day) still counts today's: a third
    # counts, a fourth does not.
    rate(client, None, 1)
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 4
    rate(client, None, 3)
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 4
    assert privacy_service.forget_old_addresses(ctx) == 0


# -- flags, the classifier, shadow bans ----------------------------------------------------


def test_flags_are_exported_and_erased_with_their_counts(client: TestClient) -> None:
    target = ok(post(client, None, body="a comment others report"))
    flagger = ok(post(client, None, uri="/elsewhere", body="I report things"))["reader_token"]
    r = client.post(
        f"/api/v1/comments/{target['id']}/flag",
        json={"reason": "abuse", "note": "my own words"},
        headers=auth(flagger),
    )
    assert r.status_code == 202
    assert [(f["reason"], f["note"]) for f in export(client, flagger)["flags"]] == [
        ("abuse", "my own words")
    ]
    assert rows(client.database, f"SELECT flags FROM comments WHERE id = {target['id']}")[0][0] == 1  # type: ignore[attr-defined]
    assert client.delete("/api/v1/me", headers=auth(flagger)).status_code == 200
    assert rows(client.database, "SELECT count(*) FROM flags")[0][0] == 0  # type: ignore[attr-defined]
    assert rows(client.database, f"SELECT flags FROM comments WHERE id = {target['id']}")[0][0] == 0  # type: ignore[attr-defined]
    assert export(client, flagger)["flags"] == []


def test_erasing_unlearns_what_the_classifier_learnt_from_the_words(client: TestClient) -> None:
    author = ok(post(client, None, body="zebra quokka narwhal okapi", author_name="Zed Quill"))
    token = author["reader_token"]
    held = ok(
        post(
            client,
            token,
            body="see http://a.ex http://b.ex http://c.ex zebra",
            author_name="Zed Quill",
        )
    )
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert (
        client.post(
            f"/api/v1/admin/comments/{held['id']}/moderate", json={"action": "spam"}, headers=admin
        ).status_code
        == 200
    )
    learnt = rows(client.database, "SELECT token, spam FROM spam_tokens WHERE spam > 0")  # type: ignore[attr-defined]
    assert "zebra" in {t for t, _ in learnt} and "author:zed" in {t for t, _ in learnt}
    assert client.delete("/api/v1/me", headers=auth(token)).status_code == 200
    left = rows(client.database, "SELECT token FROM spam_tokens WHERE spam > 0 OR ham > 0")  # type: ignore[attr-defined]
    assert left == []


def test_a_shadow_ban_stays_a_shadow_ban_in_the_export(client: TestClient) -> None:
    author = ok(post(client, None, body="before"))
    token = author["reader_token"]
    admin = {"Authorization": f"Bearer {ADMIN}"}
    client.put(f"/api/v1/admin/authors/{reader_of(token)}", json={"shadowed": True}, headers=admin)
    ok(post(client, token, body="after the shadow ban"))
    statuses = {c["body"]: c["status"] for c in export(client, token)["comments"]}
    assert statuses == {"before": "approved", "after the shadow ban": "approved"}


# -- webhooks ------------------------------------------------------------------------------


@pytest.fixture
def hook() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def calls_stored(client: TestClient) -> list[Any]:
    return rows(db(client), "SELECT event, event_key, payload, status FROM webhook_deliveries")


def test_erasure_takes_the_readers_data_out_of_webhook_calls_and_announces_it(
    make_client: AppFactory, hook: Receiver
) -> None:
    client = make_client(webhook_url=hook.url, webhook_secret=HOOK_SECRET, moderation="none")
    ok(
        client.put(
            "/api/v1/articles",
            params={"uri": "/story"},
            json={"title": "Late library", "text": TEXT},
            headers=ADMIN_HEADERS,
        ),
        200,
    )
    a = ok(post(client, body="Alice's secret words", author_name="Alice Liddell"))
    alice = a["reader_token"]
    feedback = ok(post(client, alice, body="Alice on a passage", anchor=passage()))
    mistake = ok(post(client, alice, body="Alice's mistake"))
    bob = ok(post(client, body="Bob's words", author_name="Bob"))
    rate(client, alice, 5)
    rate(client, bob["reader_token"], 3)
    drain(client)
    assert len(hook.calls) == 6  # sent: four comments, two ratings
    [alice_rated] = [
        c for c in hook.of("rating.created") if c.json()["data"]["rating"]["stars"] == 5
    ]
    alice_rater = alice_rated.json()["data"]["rating"]["rater"]
    # Queued, not sent yet: her edit, a moderation of her feedback, her own delete, a rerating.
    ok(client.patch(f"/api/v1/comments/{a['id']}", json={"body": "Alice's edited words"},
                    headers=auth(alice)), 200)  # fmt: skip
    r = client.post(
        f"/api/v1/admin/comments/{feedback['id']}/moderate",
        json={"action": "reject"},
        headers=ADMIN_HEADERS,
    )
    ok(r, 200)
    assert client.delete(f"/api/v1/comments/{mistake['id']}", headers=auth(alice)).is_success
    rate(client, alice, 4)
    assert {row.status for row in calls_stored(client)} == {"sent", "queued"}

    ok(client.delete("/api/v1/me", headers=auth(alice)), 200)

    # Nothing of hers is left in any call, queued or sent; Bob's stay as they were.
    stored = calls_stored(client)
    text = " ".join(row.payload for row in stored)
    for hers in ("secret words", "Alice Liddell", "edited words", "on a passage", "mistake"):
        assert hers not in text
    assert "open late on weekdays" not in text  # her anchor
    kept = [(row.event, row.status) for row in stored if not row.event_key.startswith("privacy:")]
    assert sorted(kept) == [("comment.created", "sent"), ("rating.created", "sent")]
    [bobs] = [json.loads(row.payload) for row in stored if row.event == "comment.created"]
    assert bobs["data"]["comment"]["author"]["name"] == "Bob"

    drain(client)
    told = hook.calls[6:]
    assert all(verify(HOOK_SECRET, call) for call in told)
    # The calls erased before they were made are never made.
    assert {c.event for c in told} == {"comment.deleted", "rating.deleted"}
    gone = {c.json()["data"]["comment"]["id"]: c.json()["data"] for c in told
            if c.event == "comment.deleted"}  # fmt: skip
    assert set(gone) == {a["id"], feedback["id"], mistake["id"]}
    for data in gone.values():
        assert data["actor"] == {"kind": "privacy"}
        comment = data["comment"]
        assert comment["status"] == "deleted" and comment["html"] == ""
        assert comment["author"] == {"name": None, "website": None}
        assert comment["anchor"] is None and comment["uri"] == "/story"
    assert gone[a["id"]]["from"] == "approved"
    assert gone[feedback["id"]]["from"] == "rejected"
    assert gone[mistake["id"]]["from"] == "deleted"  # its own deletion was still queued
    [rating] = [c.json()["data"] for c in told if c.event == "rating.deleted"]
    assert rating["actor"] == {"kind": "privacy"}
    assert rating["rating"] == {
        "rater": alice_rater,
        "stars": None,
        "previous_stars": None,
        "counted": None,
    }
    assert rating["aggregate"] == {"average": 3.0, "count": 1, "histogram": [0, 0, 1, 0, 0]}

    # Erasing again finds nothing to announce.
    again = ok(client.delete("/api/v1/me", headers=auth(alice)), 200)
    assert again == {"comments": 0, "votes": 0, "ratings": 0, "subscriptions": 0}
    drain(client)
    assert len(hook.calls) == 6 + 4


def test_a_purge_takes_only_that_site_s_calls_and_a_second_erasure_keeps_its_news(
    make_client: AppFactory, hook: Receiver, tmp_path: Any
) -> None:
    elsewhere = Receiver().start()
    try:
        config = tmp_path / "voxpop.toml"
        config.write_text(
            f'[sites.other]\nwebhook_url = "{elsewhere.url}"\n'
            'webhook_secret = "the-other-site-s-secret"\n'
        )
        client = make_client(
            config=str(config), webhook_url=hook.url, webhook_secret=HOOK_SECRET,
            moderation="none",
        )  # fmt: skip
        home = ok(post(client, body="Alice at home"))
        alice = home["reader_token"]
        away = ok(post(client, alice, body="Alice away", uri="/a", site="other", title="A"))
        rate(client, alice, 2, uri="/a", site="other")
        reader = reader_of(alice)
        r = client.post(
            f"/api/v1/admin/authors/{reader}/purge", params={"site": "other"}, headers=ADMIN_HEADERS
        )
        ok(r, 200)
        text = " ".join(row.payload for row in calls_stored(client))
        assert "Alice away" not in text
        assert "Alice at home" in text  # the purge was of the other site only
        # The reader erases everything before any worker ran: the purge's news stays.
        ok(client.delete("/api/v1/me", headers=auth(alice)), 200)
        assert "Alice at home" not in " ".join(row.payload for row in calls_stored(client))
        drain(client)
    finally:
        elsewhere.stop()
    assert [c.event for c in hook.calls] == ["comment.deleted"]
    assert hook.calls[0].json()["data"]["comment"]["id"] == home["id"]
    assert sorted(c.event for c in elsewhere.calls) == ["comment.deleted", "rating.deleted"]
    [deleted] = elsewhere.of("comment.deleted")
    assert deleted.json()["data"]["comment"]["id"] == away["id"]
    assert verify("the-other-site-s-secret", deleted)


def test_the_calls_of_many_comments_are_erased_a_slice_at_a_time(
    make_client: AppFactory, hook: Receiver
) -> None:
    client = make_client(webhook_url=hook.url, webhook_secret=HOOK_SECRET)
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")
    now = ctx.clock()
    erased = range(1, 3 * webhook_store.ERASE_SLICE + 2)  # several slices
    keys = [
        (event, key)
        for cid in [*erased, 12345, 1000 * len(erased)]
        for event, key in (
            ("comment.created", f"comment.created:{cid}"),
            ("feedback.created", f"feedback.created:{cid}"),
            ("comment.deleted", f"comment.deleted:{cid}"),
            ("comment.moderated", f"comment.moderated:{cid}:approved>rejected:17"),
            ("comment.edited", f"comment.edited:{cid}:18"),
        )
    ]
    keys += [
        ("comment.deleted", "privacy:comment.deleted:1"),  # an erasure's own news
        ("rating.created", "rating.created:1:7:19"),  # a rating, by reader 7
        ("rating.updated", "rating.updated:7:70:20"),  # reader 70 on article 7
    ]

    def fill(conn: Any) -> None:
        for event, key in keys:
            webhook_store.enqueue(
                conn, site_id=site.id, url=hook.url, event=event, event_key=key,
                payload="{}", now=now,
            )  # fmt: skip

    ctx.db.transact(fill)
    gone = ctx.db.transact(
        lambda conn: webhook_store.erase_comment_calls(conn, site.id, list(erased))
    )
    assert len(gone) == 5 * len(erased)
    assert ctx.db.transact(lambda conn: webhook_store.erase_comment_calls(conn, 999, [12345])) == []
    assert ctx.db.transact(lambda conn: webhook_store.erase_rating_calls(conn, None, 7)) == [
        "rating.created:1:7:19"
    ]
    left = sorted(r.event_key for r in rows(db(client), "SELECT event_key FROM webhook_deliveries"))
    assert left == sorted(
        [key for event, key in keys if key.split(":")[1] in {"12345", str(1000 * len(erased))}]
        + ["privacy:comment.deleted:1", "rating.updated:7:70:20"]
    )
