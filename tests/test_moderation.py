"""Moderation: every status transition, the policy (none, pre, auto; trusted, shadowed,
word lists, bans, closed articles, spam), readers' flags, the classifier learning from
moderators, the queue and the audit log. Both backends, over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import ADMIN, AppFactory, post, rows

AUTH = {"Authorization": f"Bearer {ADMIN}"}
LINKS = "see http://a.example http://b.example http://c.example"


def moderate(client: TestClient, comment_id: int, action: str) -> Any:
    return client.post(
        f"/api/v1/admin/comments/{comment_id}/moderate", json={"action": action}, headers=AUTH
    )


def thread_ids(client: TestClient, uri: str = "/story", token: str | None = None) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    items = client.get("/api/v1/comments", params={"uri": uri}, headers=headers).json()["items"]
    out: list[int] = []
    stack = list(items)
    while stack:
        item = stack.pop()
        out.append(item["id"])
        stack.extend(item["replies"])
    return sorted(out)


def status_of(client: TestClient, comment_id: int) -> str:
    found = rows(client.database, f"SELECT status FROM comments WHERE id = {comment_id}")  # type: ignore[attr-defined]
    return str(found[0].status)


def mark(client: TestClient, reader_id: int, **marks: bool) -> None:
    r = client.put(f"/api/v1/admin/authors/{reader_id}", json=marks, headers=AUTH)
    assert r.status_code == 200, r.text


def reader_of(token: str) -> int:
    return int(token.split(".")[1])


# --- every transition -----------------------------------------------------------------

ACTIONS = {"approve": "approved", "reject": "rejected", "spam": "spam", "delete": "deleted"}
# from-status → the actions a moderator may take on it (the others: 409 invalid_transition;
# taking a comment to the status it already has is a no-op, 200).
ALLOWED = {
    "pending": {"approve", "reject", "spam", "delete"},
    "approved": {"reject", "spam", "delete"},
    "rejected": {"approve", "spam", "delete"},
    "spam": {"approve", "reject", "delete"},
    "shadowed": {"approve", "reject", "spam", "delete"},
    "deleted": set(),
}


def _comment_in(client: TestClient, status: str, n: int) -> int:
    """A fresh comment in ``status``, reached the way it is reached in use."""
    uri = f"/transitions/{status}/{n}"
    if status == "pending":
        r = post(client, uri=uri, body=LINKS)
    elif status == "shadowed":
        first = post(client, uri=uri, body="before the shadow ban").json()
        mark(client, reader_of(first["reader_token"]), shadowed=True)
        r = post(client, first["reader_token"], uri=uri, body="after the shadow ban")
    else:
        r = post(client, uri=uri, body=f"a comment to {status}")
    assert r.status_code == 201, r.text
    comment_id = int(r.json()["id"])
    if status in ("rejected", "spam", "deleted"):
        assert (
            moderate(
                client, comment_id, {"rejected": "reject", "spam": "spam"}.get(status, "delete")
            ).status_code
            == 200
        )
    assert status_of(client, comment_id) == status
    return comment_id


def test_every_status_transition(client: TestClient) -> None:
    n = 0
    for before, allowed in ALLOWED.items():
        for action, after in ACTIONS.items():
            n += 1
            comment_id = _comment_in(client, before, n)
            r = moderate(client, comment_id, action)
            if after == before:
                assert r.status_code == 200, (before, action, r.text)
                assert status_of(client, comment_id) == before
            elif action in allowed:
                assert r.status_code == 200, (before, action, r.text)
                assert r.json()["status"] == after
                assert status_of(client, comment_id) == after
            else:
                assert r.status_code == 409, (before, action, r.text)
                assert r.json()["code"] == "invalid_transition"
                assert status_of(client, comment_id) == before


def test_the_model_table_matches_what_moderators_may_do() -> None:
    from voxpop.model import TRANSITIONS, CommentStatus

    for before, allowed in ALLOWED.items():
        targets = {CommentStatus(ACTIONS[a]) for a in allowed}
        assert targets <= TRANSITIONS[CommentStatus(before)], before
    # Only the system (flags) takes an approved comment back to pending.
    assert CommentStatus.PENDING in TRANSITIONS[CommentStatus.APPROVED]
    assert TRANSITIONS[CommentStatus.DELETED] == frozenset()


def test_approving_counts_and_rejecting_uncounts(client: TestClient) -> None:
    held = post(client, body=LINKS).json()
    assert held["status"] == "pending"
    summary = client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()
    assert summary["/story"]["comments"] == 0
    moderate(client, held["id"], "approve")
    assert (
        client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()["/story"][
            "comments"
        ]
        == 1
    )
    assert thread_ids(client) == [held["id"]]
    moderate(client, held["id"], "reject")
    assert (
        client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()["/story"][
            "comments"
        ]
        == 0
    )
    assert thread_ids(client) == []


# --- the policy -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "plain", "linked"),
    [
        ("none", "approved", "approved"),
        ("pre", "pending", "pending"),
        ("auto", "approved", "pending"),
    ],
)
def test_policies(make_client: AppFactory, policy: str, plain: str, linked: str) -> None:
    client = make_client(moderation=policy)
    assert post(client, body="A plain comment").json()["status"] == plain
    assert post(client, body=LINKS).json()["status"] == linked


def test_trusted_authors_skip_the_queue(make_client: AppFactory) -> None:
    client = make_client(moderation="pre")
    first = post(client, body="first").json()
    assert first["status"] == "pending"
    mark(client, reader_of(first["reader_token"]), trusted=True)
    assert post(client, first["reader_token"], body="second").json()["status"] == "approved"
    assert post(client, first["reader_token"], body=LINKS).json()["status"] == "approved"
    assert post(client, body="a stranger").json()["status"] == "pending"
    audit = client.get("/api/v1/admin/audit", headers=AUTH).json()["items"]
    assert audit[0]["action"] == "author.trust"


def test_shadow_banned_comments_are_seen_by_their_author_only(client: TestClient) -> None:
    author = post(client, body="before").json()
    token = author["reader_token"]
    mark(client, reader_of(token), shadowed=True)
    shadowed = post(client, token, body="only I can see this")
    assert shadowed.status_code == 201
    # The author is told it was published, and can read it back as published.
    assert shadowed.json()["status"] == "approved"
    mine = client.get(
        f"/api/v1/comments/{shadowed.json()['id']}", headers={"Authorization": f"Bearer {token}"}
    )
    assert mine.status_code == 200 and mine.json()["status"] == "approved"
    # Nobody else sees it: not the thread, not the count, not the comment itself.
    assert shadowed.json()["id"] not in thread_ids(client)
    assert client.get(f"/api/v1/comments/{shadowed.json()['id']}").status_code == 404
    summary = client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()["/story"]
    assert summary["comments"] == 1
    assert status_of(client, shadowed.json()["id"]) == "shadowed"
    # Moderators find it in its own tab.
    queue = client.get("/api/v1/admin/queue", params={"tab": "shadowed"}, headers=AUTH).json()
    assert [i["id"] for i in queue["items"]] == [shadowed.json()["id"]]
    assert queue["items"][0]["shadowed"] is True


def test_word_lists(client: TestClient) -> None:
    r = client.put(
        "/api/v1/admin/words",
        json={"kind": "banned", "words": ["Scumbag", "  ", "cheap pills"]},
        headers=AUTH,
    )
    assert r.status_code == 200 and r.json()["banned"] == ["cheap pills", "scumbag"]
    client.put("/api/v1/admin/words", json={"kind": "suspect", "words": ["idiot"]}, headers=AUTH)
    refused = post(client, body="What a SCUMBAG move.")
    assert refused.status_code == 422 and refused.json()["code"] == "comment_rejected"
    assert post(client, body="Buy cheap   pills").status_code == 201  # not the phrase
    assert post(client, body="cheap pills here").status_code == 422
    assert post(client, body="scumbags is another word").json()["status"] == "approved"
    assert post(client, body="You idiot!").json()["status"] == "pending"
    assert post(client, body="Ｉｄｉｏｔ in full width").json()["status"] == "pending"  # NFKC
    assert (
        rows(
            client.database,
            "SELECT count(*) AS n FROM comments WHERE body = 'What a SCUMBAG move.'",
        )[0].n
        == 0
    )  # type: ignore[attr-defined]
    # An empty list bans nothing again.
    client.put("/api/v1/admin/words", json={"kind": "banned", "words": []}, headers=AUTH)
    assert post(client, body="What a scumbag move.").status_code == 201


def test_bad_word_lists_are_refused(client: TestClient) -> None:
    for payload in (
        {"kind": "nasty", "words": ["x"]},
        {"kind": "banned", "words": "x"},
        {"kind": "banned", "words": ["x" * 101]},
        {"kind": "banned", "words": ["a\u200bb"]},
        {"kind": "banned", "words": [str(i) for i in range(2001)]},
    ):
        r = client.put("/api/v1/admin/words", json=payload, headers=AUTH)
        assert r.status_code == 422, payload


def test_new_authors_are_held_when_the_site_says_so(make_client: AppFactory) -> None:
    client = make_client(hold_new_authors="on")
    first = post(client, body="my first words").json()
    assert first["status"] == "pending"
    assert (
        "new_author"
        in client.get("/api/v1/admin/queue", headers=AUTH).json()["items"][0]["reasons"]
    )
    moderate(client, first["id"], "approve")
    assert (
        post(client, first["reader_token"], body="my second words").json()["status"] == "approved"
    )


def test_closed_articles_take_no_comments(client: TestClient) -> None:
    assert post(client, body="open").status_code == 201
    r = client.post(
        "/api/v1/admin/articles/close", json={"uri": "/story", "closed": True}, headers=AUTH
    )
    assert r.status_code == 200
    refused = post(client, body="too late")
    assert refused.status_code == 403 and refused.json()["code"] == "comments_closed"
    assert post(client, uri="/other", body="elsewhere is open").status_code == 201
    client.post(
        "/api/v1/admin/articles/close", json={"uri": "/story", "closed": False}, headers=AUTH
    )
    assert post(client, body="open again").status_code == 201
    unknown = client.post(
        "/api/v1/admin/articles/close", json={"uri": "/nope", "closed": True}, headers=AUTH
    )
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_article"


# --- bans -----------------------------------------------------------------------------------


def test_banning_an_author_bans_their_reader_and_address(client: TestClient) -> None:
    troll = post(client, body="trolling").json()
    r = client.post(
        f"/api/v1/admin/comments/{troll['id']}/ban",
        json={"days": 7, "reason": "abuse"},
        headers=AUTH,
    )
    assert r.status_code == 201 and len(r.json()["bans"]) == 2
    again = post(client, troll["reader_token"], body="me again")
    assert again.status_code == 403 and again.json()["code"] == "banned"
    assert "until" in again.json()["detail"]
    # A fresh identity from the same address is banned too.
    assert post(client, body="new me").json()["code"] == "banned"
    # Seven days later it has run out.
    client.clock.advance(days=7, seconds=1)  # type: ignore[attr-defined]
    assert post(client, troll["reader_token"], body="back").status_code == 201


def test_bans_can_be_lifted_and_are_listed(client: TestClient) -> None:
    troll = post(client, body="trolling").json()
    made = client.post(f"/api/v1/admin/comments/{troll['id']}/ban", json={}, headers=AUTH).json()[
        "bans"
    ]
    listed = client.get("/api/v1/admin/bans", headers=AUTH).json()["items"]
    assert sorted(b["id"] for b in listed) == sorted(made)
    assert all(b["until"] is None for b in listed)  # no days: for good
    for ban_id in made:
        assert client.delete(f"/api/v1/admin/bans/{ban_id}", headers=AUTH).status_code == 204
        assert (
            client.delete(f"/api/v1/admin/bans/{ban_id}", headers=AUTH).status_code == 204
        )  # replay
    assert client.get("/api/v1/admin/bans", headers=AUTH).json()["items"] == []
    assert post(client, troll["reader_token"], body="forgiven").status_code == 201
    actions = [e["action"] for e in client.get("/api/v1/admin/audit", headers=AUTH).json()["items"]]
    assert actions.count("ban.lift") == 2 and actions.count("ban.create") == 2


def test_email_bans_match_any_case(client: TestClient) -> None:
    r = client.post(
        "/api/v1/admin/bans", json={"kind": "email", "value": "Spammer@Example.com"}, headers=AUTH
    )
    assert r.status_code == 201
    refused = post(client, body="hello", author_email="spammer@example.COM")
    assert refused.status_code == 403 and refused.json()["code"] == "banned"
    assert post(client, body="hello", author_email="someone@example.com").status_code == 201
    stored = rows(client.database, "SELECT value FROM bans")  # type: ignore[attr-defined]
    assert "spammer" not in stored[0].value  # only a keyed hash is kept


def test_bad_bans_are_refused(client: TestClient) -> None:
    for payload in (
        {"kind": "reader", "value": "abc"},
        {"kind": "reader", "value": str(2**31)},
        {"kind": "address", "value": "1.2.3.4"},
        {"kind": "email", "value": "not an address"},
        {"kind": "planet", "value": "x"},
        {"kind": "reader", "value": "1", "days": -1},
        {"kind": "reader", "value": "1", "days": "7"},
    ):
        r = client.post("/api/v1/admin/bans", json=payload, headers=AUTH)
        assert r.status_code == 422, payload
    assert client.delete("/api/v1/admin/bans/999999", headers=AUTH).status_code == 404
    assert (
        client.post("/api/v1/admin/comments/999999/ban", json={}, headers=AUTH).status_code == 404
    )


# --- spam -------------------------------------------------------------------------------


def test_the_honeypot_sends_a_comment_to_the_spam_folder(client: TestClient) -> None:
    r = post(client, body="Great article", honeypot="http://spam.example")
    assert r.status_code == 201 and r.json()["status"] == "pending"  # the spammer is not told
    assert status_of(client, r.json()["id"]) == "spam"
    assert thread_ids(client) == []
    # Its author reads it back as waiting; a stranger does not see it at all.
    token = {"Authorization": f"Bearer {r.json()['reader_token']}"}
    mine = client.get(f"/api/v1/comments/{r.json()['id']}", headers=token)
    assert mine.status_code == 200 and mine.json()["status"] == "pending"
    assert client.get(f"/api/v1/comments/{r.json()['id']}").status_code == 404
    queue = client.get("/api/v1/admin/queue", params={"tab": "spam"}, headers=AUTH).json()
    assert queue["items"][0]["reasons"][0] == "honeypot"
    # It never reached the pending queue.
    assert client.get("/api/v1/admin/queue", headers=AUTH).json()["counts"]["pending"] == 0


def test_too_fast_with_links_is_spam_and_too_fast_alone_is_held(client: TestClient) -> None:
    assert status_of(client, post(client, body=LINKS, elapsed=0.4).json()["id"]) == "spam"
    assert post(client, body="quick reply", elapsed=0.4).json()["status"] == "pending"
    assert post(client, body="considered reply", elapsed=40).json()["status"] == "approved"


def test_the_time_to_submit_check_can_be_turned_off(make_client: AppFactory) -> None:
    client = make_client(min_submit_seconds="0")
    assert post(client, body="quick reply", elapsed=0.4).json()["status"] == "approved"
    slow = make_client(min_submit_seconds="60")
    assert post(slow, body="typed in forty seconds", elapsed=40).json()["status"] == "pending"


def test_a_repeated_campaign_is_held(client: TestClient) -> None:
    text = "Visit my profile for the best deals on watches today"
    statuses = [post(client, body=text).json()["status"] for _ in range(3)]
    assert statuses == ["approved", "approved", "pending"]
    # Short repeats are not a campaign.
    assert [post(client, body="+1").json()["status"] for _ in range(4)] == ["approved"] * 4


SPAM = [
    "Cheap replica watches, visit cheap-watches shop now for discount",
    "Earn money from home fast, click to earn cash money now",
    "Discount viagra pills cheap, order pills online discount",
    "Win a free iphone now, claim your free prize today click",
    "Crypto investment doubles your money, invest now guaranteed profit",
    "Buy followers cheap, instant followers discount offer now",
]
HAM = [
    "The council vote on the harbour plan was closer than the article suggests.",
    "I walked past the new library yesterday; the reading room is lovely.",
    "Good reporting on the heatwave, though the river levels chart is confusing.",
    "My grandmother remembers the old tram line along the harbour road.",
    "The interview with the mayor left out the question about school budgets.",
    "Thanks for the correction about the bridge opening date.",
]


def _score(client: TestClient, comment_id: int) -> float:
    found = rows(client.database, f"SELECT spam_score FROM comments WHERE id = {comment_id}")  # type: ignore[attr-defined]
    return float(found[0].spam_score)


def test_the_classifier_learns_from_moderators(make_client: AppFactory) -> None:
    client = make_client(moderation="pre")
    ids = [post(client, uri="/training", body=body).json()["id"] for body in SPAM + HAM]
    before = _score(
        client, post(client, body="Cheap discount pills, click now for free money").json()["id"]
    )
    assert before == pytest.approx(0.5)  # untrained: neutral
    for comment_id, body in zip(ids, SPAM + HAM, strict=True):
        assert (
            moderate(client, comment_id, "spam" if body in SPAM else "approve").status_code == 200
        )
    counts = rows(client.database, "SELECT spam, ham FROM spam_tokens WHERE token = '__docs__'")  # type: ignore[attr-defined]
    assert (counts[0].spam, counts[0].ham) == (6, 6)
    spammy = post(client, body="Cheap discount pills, click now for free money").json()
    assert _score(client, spammy["id"]) > 0.75
    assert spammy["status"] == "pending"  # never published; the spammer is not told more
    reasons = rows(client.database, f"SELECT reasons FROM comments WHERE id = {spammy['id']}")  # type: ignore[attr-defined]
    assert {"classifier", "spam_score"} & set(reasons[0].reasons.split(","))
    hammy = post(client, body="The harbour plan vote and the library reading room").json()
    assert _score(client, hammy["id"]) < 0.25
    # A moderator changing their mind moves the counts (no double counting).
    moderate(client, ids[0], "approve")
    counts = rows(client.database, "SELECT spam, ham FROM spam_tokens WHERE token = '__docs__'")  # type: ignore[attr-defined]
    assert (counts[0].spam, counts[0].ham) == (5, 7)


# --- flags --------------------------------------------------------------------------------


def _flag(
    client: TestClient,
    comment_id: int,
    token: str | None = None,
    reason: str = "abuse",
    address: str | None = None,
) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if address:  # as named by a proxy the server trusts (trusted_proxies="testclient")
        headers["X-Forwarded-For"] = address
    return client.post(
        f"/api/v1/comments/{comment_id}/flag",
        json={"reason": reason, "note": "rude"},
        headers=headers,
    )


def test_enough_flags_take_a_comment_back_to_the_queue(make_client: AppFactory) -> None:
    # Three readers at three addresses (a proxy the server trusts names them).
    client = make_client(trusted_proxies="testclient")
    target = post(client, body="a contested comment").json()
    flaggers = [post(client, uri=f"/f{i}", body="I flag").json()["reader_token"] for i in range(3)]
    assert _flag(client, target["id"], flaggers[0], address="198.51.100.1").status_code == 202
    assert (
        _flag(client, target["id"], flaggers[0], address="198.51.100.1").status_code == 202
    )  # a replay counts once
    assert _flag(client, target["id"], flaggers[1], address="198.51.100.2").status_code == 202
    assert target["id"] in thread_ids(client)
    flagged = client.get("/api/v1/admin/queue", params={"tab": "flagged"}, headers=AUTH).json()
    assert [i["id"] for i in flagged["items"]] == [target["id"]]
    assert [f["reason"] for f in flagged["items"][0]["flags"]] == ["abuse", "abuse"]
    assert _flag(client, target["id"], flaggers[2], address="198.51.100.3").status_code == 202
    assert target["id"] not in thread_ids(client)
    assert status_of(client, target["id"]) == "pending"
    # Approving it again resolves the flags: it is published and leaves the flagged tab.
    assert moderate(client, target["id"], "approve").status_code == 200
    assert target["id"] in thread_ids(client)
    assert (
        client.get("/api/v1/admin/queue", params={"tab": "flagged"}, headers=AUTH).json()["items"]
        == []
    )


def test_bad_flags_are_refused(client: TestClient) -> None:
    mine = post(client, body="my own").json()
    r = _flag(client, mine["id"], mine["reader_token"])
    assert r.status_code == 403 and r.json()["code"] == "own_comment"
    assert _flag(client, 999999).status_code == 404
    assert _flag(client, mine["id"], reason="boring").status_code == 422
    held = post(client, body=LINKS).json()
    assert _flag(client, held["id"]).status_code == 404  # not visible: nothing to flag
    long_note = client.post(
        f"/api/v1/comments/{mine['id']}/flag", json={"reason": "spam", "note": "x" * 501}
    )
    assert long_note.status_code == 422
    assert client.post(
        f"/api/v1/comments/{mine['id']}/flag",
        content=b"{",
        headers={"content-type": "application/json"},
    ).status_code in (400, 422)


def test_flagging_is_rate_limited(make_client: AppFactory) -> None:
    client = make_client(rate_limits="on", flag_rate="2/3600", post_rate="100/60")
    targets = [post(client, uri=f"/r{i}", body=f"target {i}").json()["id"] for i in range(3)]
    assert _flag(client, targets[0]).status_code == 202
    assert _flag(client, targets[1]).status_code == 202
    limited = _flag(client, targets[2])
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


# --- the queue and the audit log --------------------------------------------------------------


def test_the_queue_pages_and_searches(make_client: AppFactory) -> None:
    client = make_client(moderation="pre")
    for i in range(7):
        post(
            client,
            uri=f"/a{i % 2}",
            body=f"comment number {i}",
            author_name="Zoë" if i == 3 else "Max",
        )
    first = client.get("/api/v1/admin/queue", params={"limit": 3}, headers=AUTH).json()
    assert first["counts"]["pending"] == 7
    seen = [i["id"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(
            "/api/v1/admin/queue", params={"limit": 3, "cursor": cursor}, headers=AUTH
        ).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == sorted(seen, reverse=True) and len(set(seen)) == 7
    by_text = client.get("/api/v1/admin/queue", params={"q": "number 5"}, headers=AUTH).json()[
        "items"
    ]
    assert [i["body"] for i in by_text] == ["comment number 5"]
    by_author = client.get("/api/v1/admin/queue", params={"author": "zoë"}, headers=AUTH).json()[
        "items"
    ]
    assert [i["author"]["name"] for i in by_author] == ["Zoë"]
    by_article = client.get("/api/v1/admin/queue", params={"article": "/a1"}, headers=AUTH).json()[
        "items"
    ]
    assert len(by_article) == 3 and {i["uri"] for i in by_article} == {"/a1"}
    wild = client.get("/api/v1/admin/queue", params={"q": "%"}, headers=AUTH).json()["items"]
    assert wild == []  # LIKE wildcards are searched for literally
    history = by_author[0]["history"]
    assert history == {"pending": 1}


def test_the_queue_refuses_bad_input(client: TestClient) -> None:
    for params in (
        {"tab": "nope"},
        {"limit": 0},
        {"limit": 201},
        {"cursor": "garbage"},
        {"site": "nope"},
        {"q": "x" * 201},
    ):
        r = client.get("/api/v1/admin/queue", params=params, headers=AUTH)
        assert 400 <= r.status_code < 500, params
        assert r.headers["content-type"].startswith("application/problem+json")


def test_moderation_is_audited_with_who_and_what(client: TestClient) -> None:
    held = post(client, body=LINKS).json()
    moderate(client, held["id"], "approve")
    moderate(client, held["id"], "approve")  # no change: no entry
    entries = client.get("/api/v1/admin/audit", headers=AUTH).json()["items"]
    approvals = [e for e in entries if e["action"] == "comment.approve"]
    assert len(approvals) == 1
    assert approvals[0]["actor"] == "admin-token"
    assert approvals[0]["target"] == f"comment:{held['id']}"
    assert approvals[0]["detail"] == {"from": "pending", "to": "approved"}


# --- the page without JavaScript ----------------------------------------------------------


def _form_values(html: str, form_action: str) -> dict[str, str]:
    import re

    start = html.index(f'action="{form_action}"')
    chunk = html[start : html.index("</form>", start)]
    return dict(re.findall(r'name="([a-z_]+)" value="([^"]*)"', chunk))


def test_the_page_form_catches_bots_and_lets_people_through(client: TestClient) -> None:
    page = client.get("/comments", params={"uri": "/story"})
    fields = _form_values(page.text, "/comments")
    assert 'name="homepage"' in page.text and 'tabindex="-1"' in page.text
    base = {"csrf": fields["csrf"], "uri": "/story", "started": fields["started"]}
    # A bot fills in every field it finds, at once.
    bot = client.post(
        "/comments",
        data={**base, "body": "nice", "homepage": "http://spam.example"},
        follow_redirects=False,
    )
    assert bot.status_code == 303 and "posted=pending" in bot.headers["location"]  # not told
    # A person takes a while and leaves the hidden field empty.
    client.clock.advance(seconds=30)  # type: ignore[attr-defined]
    person = client.post(
        "/comments", data={**base, "body": "a considered comment"}, follow_redirects=False
    )
    assert "posted=approved" in person.headers["location"]
    statuses = rows(client.database, "SELECT body, status, reasons FROM comments ORDER BY id")  # type: ignore[attr-defined]
    assert [(r.body, r.status) for r in statuses] == [
        ("nice", "spam"),
        ("a considered comment", "approved"),
    ]
    assert statuses[0].reasons.startswith("honeypot")
    # A forged start time is ignored, not trusted.
    forged = client.post(
        "/comments",
        data={**base, "started": "1.abc", "body": "forged stamp"},
        follow_redirects=False,
    )
    assert "posted=approved" in forged.headers["location"]


def test_readers_report_comments_from_the_page(client: TestClient) -> None:
    target = post(client, body="report me").json()
    page = client.get("/comments", params={"uri": "/story"})
    fields = _form_values(page.text, "/comments/flag")
    assert fields["comment_id"] == str(target["id"])
    r = client.post(
        "/comments/flag", data={**fields, "reason": "abuse", "note": "rude"}, follow_redirects=False
    )
    assert r.status_code == 303 and "flagged=1" in r.headers["location"]
    assert "the moderators will look at it" in client.get(r.headers["location"]).text
    flags = rows(client.database, "SELECT reason, note FROM flags")  # type: ignore[attr-defined]
    assert [(f.reason, f.note) for f in flags] == [("abuse", "rude")]
    refused = client.post("/comments/flag", data={**fields, "csrf": "forged", "reason": "spam"})
    assert refused.status_code == 403
    assert len(rows(client.database, "SELECT id FROM flags")) == 1  # type: ignore[attr-defined]


def test_a_closed_article_shows_no_form(client: TestClient) -> None:
    post(client, body="before closing")
    client.post(
        "/api/v1/admin/articles/close", json={"uri": "/story", "closed": True}, headers=AUTH
    )
    page = client.get("/comments", params={"uri": "/story"}).text
    assert "Comments on this article are closed." in page
    assert 'action="/comments" class="vp-form"' not in page
    assert "before closing" in page


# --- edits go through the policy again ------------------------------------------------------


def _edit(client: TestClient, comment: dict[str, Any], body: str) -> Any:
    return client.patch(
        f"/api/v1/comments/{comment['id']}",
        json={"body": body},
        headers={"Authorization": f"Bearer {comment['reader_token']}"},
    )


def test_an_edit_cannot_smuggle_in_what_a_post_could_not(client: TestClient) -> None:
    client.put("/api/v1/admin/words", json={"kind": "banned", "words": ["scumbag"]}, headers=AUTH)
    comment = post(client, body="An innocent first version").json()
    refused = _edit(client, comment, "Now it says scumbag")
    assert refused.status_code == 422 and refused.json()["code"] == "comment_rejected"
    assert (
        rows(client.database, f"SELECT body FROM comments WHERE id = {comment['id']}")[0].body
        == "An innocent first version"
    )  # type: ignore[attr-defined]
    linked = _edit(client, comment, LINKS)
    assert linked.status_code == 200 and linked.json()["status"] == "pending"
    assert comment["id"] not in thread_ids(client)
    summary = client.get("/api/v1/articles/summary", params={"uri": "/story"}).json()["/story"]
    assert summary["comments"] == 0
    reasons = client.get("/api/v1/admin/queue", headers=AUTH).json()["items"][0]["reasons"]
    assert reasons[:2] == ["edited", "links"]


def test_under_pre_moderation_an_edit_waits_again(make_client: AppFactory) -> None:
    client = make_client(moderation="pre")
    comment = post(client, body="first version").json()
    moderate(client, comment["id"], "approve")
    assert _edit(client, comment, "second version").json()["status"] == "pending"
    assert comment["id"] not in thread_ids(client)


def test_an_edit_unlearns_what_the_classifier_learnt(make_client: AppFactory) -> None:
    client = make_client(moderation="pre")
    comment = post(client, body="alpha bravo charlie").json()
    moderate(client, comment["id"], "approve")  # learnt as not spam
    assert _edit(client, comment, "delta echo foxtrot").status_code == 200
    moderate(client, comment["id"], "spam")  # learnt as spam, from the new words only
    counts = {
        r.token: (r.spam, r.ham)
        for r in rows(client.database, "SELECT token, spam, ham FROM spam_tokens")  # type: ignore[attr-defined]
    }
    assert counts["__docs__"] == (1, 0)
    assert counts["alpha"] == (0, 0) and counts["delta"] == (1, 0)


def test_a_shadow_banned_author_sees_nothing_different(client: TestClient) -> None:
    author = post(client, body="before").json()
    token = author["reader_token"]
    mark(client, reader_of(token), shadowed=True)
    hidden = post(client, token, body="after").json()
    assert (
        _edit(client, {**hidden, "reader_token": token}, "after, edited").json()["status"]
        == "approved"
    )
    reply = post(client, token, body="replying to myself", parent_id=hidden["id"])
    assert reply.status_code == 201 and reply.json()["status"] == "approved"
    assert status_of(client, reply.json()["id"]) == "shadowed"
    assert thread_ids(client) == [author["id"]]


def test_flags_from_one_address_count_once(client: TestClient) -> None:
    target = post(client, body="a comment one person dislikes").json()
    # Three readers minted by one client at one address (readers cost nothing to make).
    tokens = [post(client, uri=f"/m{i}", body="hello").json()["reader_token"] for i in range(3)]
    for token in tokens:
        assert _flag(client, target["id"], token).status_code == 202
    assert status_of(client, target["id"]) == "approved"
    assert target["id"] in thread_ids(client)
    flagged = client.get("/api/v1/admin/queue", params={"tab": "flagged"}, headers=AUTH).json()
    assert len(flagged["items"][0]["flags"]) == 3  # all reported, for the moderators to see


def test_unicode_digits_are_not_ids(client: TestClient) -> None:
    for params in ({"author": "²"}, {"author": "9" * 20}):
        r = client.get("/api/v1/admin/queue", params=params, headers=AUTH)
        assert r.status_code == 200 and r.json()["items"] == []
    r = client.post("/api/v1/admin/bans", json={"kind": "reader", "value": "²"}, headers=AUTH)
    assert r.status_code == 422
