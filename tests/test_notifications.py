"""Notify of: subscriptions, double opt-in, who is told of what, the outbox and its worker.

Every test sends through a real SMTP server (aiosmtpd, ``inbox``) and reads the mails it
received: recipients, headers, and links followed back into the app.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from voxpop.store.db import Database

from .conftest import ADMIN, AppFactory, drain, post, rows
from .smtp import Inbox, Received

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def subscribe(client: TestClient, email: str, token: str | None = None, **body: Any) -> Any:
    body = {"uri": "/story", "email": email, "scope": "thread", **body}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/api/v1/subscriptions", json=body, headers=headers)


def follow(client: TestClient, url: str, method: str = "GET") -> Any:
    parts = urlsplit(url)
    return client.request(method, f"{parts.path}?{parts.query}")


def confirmed(client: TestClient, inbox: Inbox, email: str, **body: Any) -> str | None:
    """Subscribe ``email``, confirm from the mail; return the reader token minted."""
    r = subscribe(client, email, **body)
    assert r.status_code == 202, r.text
    before = len(inbox.to(email))
    drain(client)
    mail = inbox.to(email)[before]
    assert follow(client, mail.link("/subscriptions/confirm")).status_code == 200
    token: str | None = r.json().get("reader_token")
    return token


def notifications(inbox: Inbox, email: str) -> list[Received]:
    return [m for m in inbox.to(email) if ".notify." in m.message_id]


@pytest.fixture
def client(make_client: AppFactory, inbox: Inbox) -> TestClient:
    return make_client(smtp_url=inbox.url, moderation="none")


# -- subscribing and confirming ------------------------------------------------------------


def test_nothing_is_sent_before_the_address_confirms(client: TestClient, inbox: Inbox) -> None:
    assert subscribe(client, "Ann@Example.org", title="Budget vote").status_code == 202
    post(client, body="First!")
    drain(client)
    [mail] = inbox.messages
    assert mail.to == ["ann@example.org"]
    assert "Budget vote" in mail.subject
    assert mail.message["List-Unsubscribe"] is None  # nothing to leave yet
    assert mail.message["Message-ID"].startswith("<voxpop.confirm.")
    assert "/subscriptions/confirm?token=c1." in mail.text()


def test_a_confirmed_subscriber_gets_each_new_approved_comment_once(
    client: TestClient, inbox: Inbox
) -> None:
    confirmed(client, inbox, "ann@example.org", title="Budget vote")
    first = post(client, body="The *first* reply", author_name="Bo").json()
    second = post(client, body="Another view", author_name="Cy").json()
    drain(client)
    drain(client)  # nothing is due twice
    mails = notifications(inbox, "ann@example.org")
    assert len(mails) == 2
    by_comment = {m.message["Message-ID"]: m for m in mails}
    assert len(by_comment) == 2
    one = next(m for m in mails if "Bo" in m.text())
    assert "The *first* reply" in one.text()
    assert "<em>first</em>" in one.html()
    assert f"http://testserver/story#voxpop-c{first['id']}" in one.text()
    assert "Budget vote" in one.subject
    # One-click unsubscribe (RFC 8058) and threading headers, the same thread for both.
    unsubscribe = one.message["List-Unsubscribe"]
    assert unsubscribe.startswith("<http://testserver/unsubscribe?token=u1.")
    assert one.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert {m.message["References"] for m in mails} == {mails[0].message["In-Reply-To"]}
    assert second["id"] != first["id"]


def test_each_recipient_gets_their_own_links(client: TestClient, inbox: Inbox) -> None:
    confirmed(client, inbox, "ann@example.org")
    confirmed(client, inbox, "bo@example.org")
    post(client, body="Shared news")
    drain(client)
    [ann] = notifications(inbox, "ann@example.org")
    [bo] = notifications(inbox, "bo@example.org")
    links = []
    for mail in (ann, bo):
        header = mail.message["List-Unsubscribe"].strip("<>")
        assert header in mail.text()
        assert header.replace("&", "&amp;") in mail.html()
        assert mail.link("/subscriptions/manage") in mail.html()
        assert ".invalid" not in mail.text() + mail.html()
        links.append(header)
    assert links[0] != links[1]
    # Bo's link unsubscribes Bo, not Ann.
    follow(client, links[1], "POST")
    post(client, body="More news")
    drain(client)
    assert len(notifications(inbox, "ann@example.org")) == 2
    assert len(notifications(inbox, "bo@example.org")) == 1


def test_answers_never_tell_whether_an_address_is_subscribed(
    client: TestClient, inbox: Inbox
) -> None:
    fresh = subscribe(client, "ann@example.org").json()
    confirmed(client, inbox, "ann@example.org")
    again = subscribe(client, "ann@example.org").json()
    stranger = subscribe(client, "nobody@example.org").json()
    for answer in (fresh, again, stranger):
        answer.pop("reader_token", None)
    assert fresh == again == stranger


def test_confirmation_mails_to_one_address_are_limited(client: TestClient, inbox: Inbox) -> None:
    answers = [subscribe(client, "victim@example.org", uri=f"/s/{i}") for i in range(6)]
    assert {r.status_code for r in answers} == {202}
    drain(client)
    assert len(inbox.to("victim@example.org")) == 3  # VOXPOP_CONFIRM_LIMIT 3/86400
    client.clock.advance(days=1, seconds=1)  # type: ignore[attr-defined]
    subscribe(client, "victim@example.org", uri="/s/7")
    drain(client)
    assert len(inbox.to("victim@example.org")) == 4


def test_the_confirming_reader_may_subscribe_again_without_a_mail(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    token = confirmed(client, inbox, "ann@example.org")
    assert token
    reader = int(token.split(".")[1])
    assert rows(database, f"SELECT verified_at FROM readers WHERE id = {reader}")[0][0]
    subscribe(client, "ann@example.org", token=token, uri="/other")
    drain(client)
    assert len(inbox.to("ann@example.org")) == 1  # no second confirmation
    post(client, uri="/other", body="Hello other")
    drain(client)
    assert len(notifications(inbox, "ann@example.org")) == 1
    # Someone else asking for the same address still needs the owner's confirmation.
    subscribe(client, "ann@example.org", uri="/third")
    post(client, uri="/third", body="Hello third")
    drain(client)
    assert [m for m in inbox.to("ann@example.org") if ".confirm." in m.message_id][1:]
    assert len(notifications(inbox, "ann@example.org")) == 1


def test_confirmation_links_expire(client: TestClient, inbox: Inbox) -> None:
    subscribe(client, "ann@example.org")
    drain(client)
    link = inbox.to("ann@example.org")[0].link("/subscriptions/confirm")
    client.clock.advance(hours=49)  # type: ignore[attr-defined]
    assert follow(client, link).status_code == 410
    post(client, body="Too late")
    drain(client)
    assert notifications(inbox, "ann@example.org") == []


def test_tampered_links_are_refused(client: TestClient, inbox: Inbox) -> None:
    subscribe(client, "ann@example.org")
    drain(client)
    link = inbox.to("ann@example.org")[0].link("/subscriptions/confirm")
    forged = link[:-1] + ("A" if link[-1] != "A" else "B")
    assert follow(client, forged).status_code == 400
    other_id = link.replace("token=c1.1.", "token=c1.2.")
    assert follow(client, other_id).status_code == 400


# -- who hears of what -----------------------------------------------------------------


def test_the_author_is_not_told_of_their_own_comment(client: TestClient, inbox: Inbox) -> None:
    token = confirmed(client, inbox, "ann@example.org")
    post(client, token=token, body="My own words")
    post(client, body="My words from another browser", author_email="ANN@example.org")
    drain(client)
    assert notifications(inbox, "ann@example.org") == []


def test_held_comments_notify_once_approved_and_only_once(
    make_client: AppFactory, inbox: Inbox
) -> None:
    client = make_client(smtp_url=inbox.url, moderation="pre")
    confirmed(client, inbox, "ann@example.org")
    held = post(client, body="Waiting for a moderator").json()
    assert held["status"] == "pending"
    drain(client)
    assert notifications(inbox, "ann@example.org") == []
    url = f"/api/v1/admin/comments/{held['id']}/moderate"
    for action in ("approve", "reject", "approve"):
        assert client.post(url, json={"action": action}, headers=ADMIN_HEADERS).status_code == 200
        drain(client)
    [mail] = notifications(inbox, "ann@example.org")
    assert "Waiting for a moderator" in mail.text()
    spam = post(client, body="Buy now").json()
    client.post(
        f"/api/v1/admin/comments/{spam['id']}/moderate",
        json={"action": "spam"},
        headers=ADMIN_HEADERS,
    )
    drain(client)
    assert len(notifications(inbox, "ann@example.org")) == 1


def test_replies_reach_the_author_of_any_comment_above(client: TestClient, inbox: Inbox) -> None:
    mine = post(client, body="My point", author_email="ann@example.org", notify="replies").json()
    drain(client)
    follow(client, inbox.to("ann@example.org")[0].link("/subscriptions/confirm"))
    token = mine["reader_token"]
    reply = post(client, body="A reply to Ann", parent_id=mine["id"]).json()
    post(client, body="A reply to the reply", parent_id=reply["id"])
    post(client, body="Unrelated top-level comment")
    post(client, token=token, body="Ann answers herself", parent_id=reply["id"])
    drain(client)
    texts = sorted(m.text() for m in notifications(inbox, "ann@example.org"))
    assert len(texts) == 2
    assert all("replied" in m.subject for m in notifications(inbox, "ann@example.org"))
    assert "A reply to Ann" in texts[0]
    assert "A reply to the reply" in texts[1]
    assert all(m.message["In-Reply-To"] for m in notifications(inbox, "ann@example.org"))


def test_replies_to_one_comment(client: TestClient, inbox: Inbox) -> None:
    watched = post(client, body="Watch this").json()
    other = post(client, body="Not this").json()
    confirmed(client, inbox, "ann@example.org", scope="comment", comment_id=watched["id"])
    post(client, body="Below the watched one", parent_id=watched["id"])
    post(client, body="Below the other one", parent_id=other["id"])
    drain(client)
    [mail] = notifications(inbox, "ann@example.org")
    assert "Below the watched one" in mail.text()


def test_one_mail_per_address_however_many_subscriptions_match(
    client: TestClient, inbox: Inbox
) -> None:
    mine = post(client, body="Mine", author_email="ann@example.org", notify="replies").json()
    drain(client)
    follow(client, inbox.to("ann@example.org")[0].link("/subscriptions/confirm"))
    subscribe(client, "ann@example.org", token=mine["reader_token"], scope="thread")
    confirmed_before = len(inbox.to("ann@example.org"))
    post(client, body="Reply", parent_id=mine["id"])
    drain(client)
    assert len(inbox.to("ann@example.org")) == confirmed_before + 1


def test_a_daily_digest_gathers_the_comments(client: TestClient, inbox: Inbox) -> None:
    confirmed(client, inbox, "ann@example.org", delivery="digest", title="Budget vote")
    post(client, body="Morning comment")
    post(client, body="Evening comment")
    drain(client)
    assert notifications(inbox, "ann@example.org") == []
    client.clock.advance(days=1)  # type: ignore[attr-defined]
    drain(client)
    drain(client)
    [digest] = [m for m in inbox.to("ann@example.org") if ".digest." in m.message_id]
    assert "Morning comment" in digest.text() and "Evening comment" in digest.text()
    assert "Budget vote" in digest.text()
    assert digest.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_nothing_is_sent_for_a_comment_removed_before_the_worker_came(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    confirmed(client, inbox, "ann@example.org")
    doomed = post(client, body="Regretted").json()
    client.delete(
        f"/api/v1/comments/{doomed['id']}",
        headers={"Authorization": f"Bearer {doomed['reader_token']}"},
    )
    drain(client)
    assert notifications(inbox, "ann@example.org") == []
    assert rows(database, "SELECT status FROM outbox WHERE kind = 'notify'") == [("dropped",)]


def test_one_click_unsubscribe_stops_the_mails(client: TestClient, inbox: Inbox) -> None:
    confirmed(client, inbox, "ann@example.org")
    post(client, body="One")
    drain(client)
    [mail] = notifications(inbox, "ann@example.org")
    url = mail.message["List-Unsubscribe"].strip("<>")
    parts = urlsplit(url)
    client.cookies.clear()  # a mail client has none of the site's cookies
    r = client.post(
        f"{parts.path}?{parts.query}",
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    post(client, body="Two")
    drain(client)
    assert len(notifications(inbox, "ann@example.org")) == 1


# -- the worker, failures and the operators' view ------------------------------------------


def test_refused_mail_fails_visibly_and_an_operator_can_retry_it(
    client: TestClient, inbox: Inbox
) -> None:
    inbox.before_accept = lambda _to: "550 5.1.1 No such mailbox"
    subscribe(client, "gone@example.org")
    stats = drain(client)
    assert stats.failed == 1
    view = client.get("/api/v1/admin/outbox?status=failed", headers=ADMIN_HEADERS).json()
    assert view["counts"]["failed"] == 1
    [item] = view["items"]
    assert item["to"] == "gone@example.org"
    assert "550" in item["last_error"]
    assert client.get("/api/v1/admin/outbox").status_code == 401
    inbox.before_accept = None
    r = client.post("/api/v1/admin/outbox/retry", json={}, headers=ADMIN_HEADERS)
    assert r.json() == {"queued": 1}
    drain(client)
    assert len(inbox.to("gone@example.org")) == 1
    counts = client.get("/api/v1/admin/outbox", headers=ADMIN_HEADERS).json()["counts"]
    assert counts["sent"] == 1 and counts["failed"] == 0


def test_a_temporary_refusal_is_tried_again_later(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    inbox.before_accept = lambda _to: "451 4.3.0 Try again later"
    subscribe(client, "ann@example.org")
    assert drain(client).retried == 1
    [(attempts, error)] = rows(database, "SELECT attempts, last_error FROM outbox")
    assert attempts == 1 and "451" in error
    inbox.before_accept = None
    assert drain(client).claimed == 0  # not due yet: backoff
    client.clock.advance(minutes=2)  # type: ignore[attr-defined]
    assert drain(client).sent == 1
    assert len(inbox.to("ann@example.org")) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"scope": "everything"}, "scope"),
        ({"delivery": "weekly"}, "delivery"),
        ({"comment_id": 5}, "comment_id"),
        ({"scope": "comment"}, "comment_id"),
        ({"email": 7}, "email"),
        ({"email": "jürgen@example.org"}, "email"),
        ({"email": "ann@example.org\r\nBcc: x@example.org"}, "email"),
    ],
)
def test_bad_subscription_requests_are_refused(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    r = client.post(
        "/api/v1/subscriptions",
        json={"uri": "/story", "email": "ann@example.org", "scope": "thread", **body},
    )
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


def test_unknown_things_in_a_subscription_request(client: TestClient) -> None:
    r = subscribe(client, "ann@example.org", scope="comment", comment_id=999)
    assert (r.status_code, r.json()["code"]) == (404, "unknown_comment")
    r = subscribe(client, "ann@example.org", site="nowhere")
    assert (r.status_code, r.json()["code"]) == (404, "unknown_site")
    r = client.post(
        "/api/v1/subscriptions", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (400, "malformed_json")


def test_notify_needs_an_address(client: TestClient) -> None:
    r = post(client, body="Tell me", notify="thread")
    assert r.status_code == 422
    assert r.json()["field"] == "author_email"


def test_subscribing_is_rate_limited_per_requester(make_client: AppFactory, inbox: Inbox) -> None:
    client = make_client(smtp_url=inbox.url, rate_limits="on", subscribe_rate="2/3600")
    assert subscribe(client, "a@example.org").status_code == 202
    assert subscribe(client, "b@example.org").status_code == 202
    r = subscribe(client, "c@example.org")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_backoff_doubles_and_is_capped() -> None:
    from voxpop.services.delivery import MAX_BACKOFF, backoff

    assert 15 <= backoff(30, 1) <= 30
    assert 60 <= backoff(30, 3) <= 120
    assert backoff(30, 40) <= MAX_BACKOFF
    assert timedelta(seconds=backoff(30, 40)) <= timedelta(hours=6)


def test_old_mail_and_expired_requests_are_cleaned_up(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    from voxpop.services.delivery import Mailer

    confirmed(client, inbox, "ann@example.org")
    subscribe(client, "never@example.org", uri="/other")  # never confirmed
    post(client, body="News")
    drain(client)
    mailer = Mailer(client.app.state.ctx)  # type: ignore[attr-defined]
    assert asyncio.run(mailer.prune()) == 0  # all of it is recent
    client.clock.advance(days=3)  # type: ignore[attr-defined]
    assert asyncio.run(mailer.prune()) == 1  # the subscription whose link expired unused
    assert rows(database, "SELECT count(*) FROM outbox") == [(3,)]
    client.clock.advance(days=30)  # type: ignore[attr-defined]
    assert asyncio.run(mailer.prune()) == 3  # two confirmations and a notification, sent
    assert rows(database, "SELECT count(*) FROM outbox") == [(0,)]
    assert rows(database, "SELECT count(*) FROM subscriptions WHERE confirmed_at IS NOT NULL") == [
        (1,)
    ]


def test_a_link_trusts_only_the_reader_who_asked_for_that_mail(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    stranger = subscribe(client, "ann@example.org").json()["reader_token"]
    drain(client)
    client.clock.advance(minutes=1)  # type: ignore[attr-defined]
    owner = subscribe(client, "ann@example.org").json()["reader_token"]
    drain(client)
    first, second = inbox.to("ann@example.org")
    assert first.link("/subscriptions/confirm") != second.link("/subscriptions/confirm")
    follow(client, second.link("/subscriptions/confirm"))  # Ann follows the owner's mail
    verified = dict(rows(database, "SELECT id, verified_at IS NOT NULL FROM readers"))
    assert verified[int(owner.split(".")[1])] == 1
    assert verified[int(stranger.split(".")[1])] == 0
    # The owner may now add subscriptions without a mail; the stranger may not.
    subscribe(client, "ann@example.org", token=owner, uri="/mine")
    subscribe(client, "ann@example.org", token=stranger, uri="/theirs")
    drain(client)
    confirmations = [m for m in inbox.to("ann@example.org") if ".confirm." in m.message_id]
    assert len(confirmations) == 3  # the two above, and one for the stranger's /theirs


def test_a_link_never_confirms_a_later_subscription(client: TestClient, inbox: Inbox) -> None:
    subscribe(client, "mallory@example.org")
    drain(client)
    [mail] = inbox.to("mallory@example.org")
    manage = follow(client, mail.link("/subscriptions/manage"))
    assert manage.status_code == 200
    cancel = client.post(
        urlsplit(mail.link("/subscriptions/manage")).path
        + "?"
        + urlsplit(mail.link("/subscriptions/manage")).query,
        data={"action": "cancel_all"},
    )
    assert cancel.status_code in (200, 303)
    subscribe(client, "victim@example.org")  # the next subscription row
    r = follow(client, mail.link("/subscriptions/confirm"))
    assert r.status_code == 404  # the cancelled one; never the victim's
    post(client, body="Hello")
    drain(client)
    assert notifications(inbox, "victim@example.org") == []


def test_an_operator_cannot_requeue_a_mail_a_worker_holds(
    client: TestClient, inbox: Inbox, database: Database
) -> None:
    from voxpop.store import outbox as outbox_store

    subscribe(client, "ann@example.org")
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    now = ctx.clock()
    held = ctx.db.transact(
        lambda conn: outbox_store.claim(conn, "other-worker", now, now + timedelta(minutes=2), 10)
    )
    r = client.post("/api/v1/admin/outbox/retry", json={"ids": [held[0].id]}, headers=ADMIN_HEADERS)
    assert r.json() == {"queued": 0}
    assert rows(database, "SELECT claimed_by FROM outbox") == [("other-worker",)]
    assert drain(client).claimed == 0  # still the other worker's


def test_notify_with_a_comment_counts_against_the_subscription_rate(
    make_client: AppFactory, inbox: Inbox
) -> None:
    client = make_client(smtp_url=inbox.url, rate_limits="on", subscribe_rate="1/3600")
    one = post(client, body="One", author_email="a@example.org", notify="thread")
    assert one.status_code == 201
    two = post(client, body="Two", author_email="b@example.org", notify="thread")
    assert two.status_code == 429
    assert post(client, body="Three, no notify").status_code == 201


def test_a_failed_record_of_sent_mail_is_tried_again(
    client: TestClient, inbox: Inbox, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voxpop.store import outbox as outbox_store

    real = outbox_store.mark_sent
    calls: list[int] = []

    def flaky(conn: Any, **kwargs: Any) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away for a moment")
        return real(conn, **kwargs)

    monkeypatch.setattr(outbox_store, "mark_sent", flaky)
    subscribe(client, "ann@example.org")
    assert drain(client).sent == 1
    assert len(calls) == 2
    assert rows(database, "SELECT status FROM outbox") == [("sent",)]
    assert len(inbox.to("ann@example.org")) == 1
