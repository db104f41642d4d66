"""Inline feedback through the HTTP API: registration, anchoring, re-anchoring, admin."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import ADMIN, post, rows

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}

INTRO = "The council voted seven to two on Tuesday to keep the central library open at night."
COST = "Critics said the extra hours cost too much for a service few people use after ten."
STAFF = "Librarians will rotate the late shifts, and two security guards join the night team."


def html(*paragraphs: str) -> str:
    return "<h1>Night hours</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)


def register(client: TestClient, *paragraphs: str, **extra: Any) -> Any:
    body = {"title": "Night hours", "html": html(*paragraphs), **extra}
    r = client.put("/api/v1/articles", params={"uri": "/story"}, json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 200, r.text
    return r.json()


def quote(exact: str, prefix: str = "", suffix: str = "") -> dict[str, Any]:
    return {
        "selector": [
            {"type": "TextQuoteSelector", "exact": exact, "prefix": prefix, "suffix": suffix}
        ]
    }


def feedback(client: TestClient, anchor: dict[str, Any], body: str = "feedback") -> Any:
    return post(client, body=body, anchor=anchor)


def anchor_of(client: TestClient, comment_id: int) -> dict[str, Any]:
    items = client.get("/api/v1/comments", params={"uri": "/story", "filter": "feedback"}).json()
    found = [c for c in items["items"] if c["id"] == comment_id]
    assert found, f"comment {comment_id} not listed as feedback"
    anchor: dict[str, Any] = found[0]["anchor"]
    return anchor


def position(anchor: dict[str, Any]) -> tuple[int, int]:
    for s in anchor["selector"]:
        if s["type"] == "TextPositionSelector":
            return s["start"], s["end"]
    raise AssertionError("no position")


def test_registering_an_article_makes_revisions(client: TestClient) -> None:
    first = register(client, INTRO, COST)
    assert first["revision"] == 1 and first["created"] is True
    again = register(client, INTRO, COST)
    assert again["revision"] == 1 and again["created"] is False
    article = client.get("/api/v1/articles", params={"uri": "/story"}).json()
    assert article["title"] == "Night hours" and article["revision"] == 1
    unknown = client.get("/api/v1/articles", params={"uri": "/unknown"}).json()
    assert unknown == {"uri": "/unknown", "title": "", "revision": 0, "questions": []}
    assert register(client, INTRO, STAFF)["revision"] == 2


def test_only_moderators_register_articles(client: TestClient) -> None:
    r = client.put("/api/v1/articles", params={"uri": "/story"}, json={"text": "x"})
    assert r.status_code == 401
    token = post(client).json()["reader_token"]
    r = client.put(
        "/api/v1/articles",
        params={"uri": "/story"},
        json={"text": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 403 and r.json()["code"] == "not_moderator"


@pytest.mark.parametrize(
    "body",
    [{}, {"text": "a", "html": "<p>a</p>"}, {"text": 5}, {"html": ["<p>"]}, {"title": "only"}],
)
def test_bad_article_bodies_are_4xx(client: TestClient, body: dict[str, Any]) -> None:
    r = client.put("/api/v1/articles", params={"uri": "/story"}, json=body, headers=ADMIN_HEADERS)
    assert r.status_code == 422


def test_editor_questions_are_anchored_from_the_html(client: TestClient) -> None:
    marked = html(INTRO, f'<mark data-voxpop-question="Is this fair?">{COST}</mark>')
    r = client.put(
        "/api/v1/articles", params={"uri": "/story"}, json={"html": marked}, headers=ADMIN_HEADERS
    )
    assert r.status_code == 200
    questions = client.get("/api/v1/articles", params={"uri": "/story"}).json()["questions"]
    assert len(questions) == 1
    assert questions[0]["question"] == "Is this fair?"
    exact = next(s["exact"] for s in questions[0]["selector"] if s["type"] == "TextQuoteSelector")
    assert exact == COST


def test_feedback_is_checked_against_the_registered_text(client: TestClient) -> None:
    register(client, INTRO, COST)
    r = feedback(client, quote("seven to two", "The council voted ", " on Tuesday"))
    assert r.status_code == 201
    anchor = r.json()["anchor"]
    assert anchor["state"] == "anchored" and anchor["revision"] == 1
    start, end = position(anchor)
    text_start = len("Night hours\n") + INTRO.index("seven to two")
    assert (start, end) == (text_start, text_start + len("seven to two"))
    assert anchor["original"] == quote("seven to two", "The council voted ", " on Tuesday")
    missing = feedback(client, quote("eight to one"))
    assert missing.status_code == 422 and missing.json()["code"] == "anchor_not_found"
    listed = client.get("/api/v1/comments", params={"uri": "/story", "filter": "feedback"})
    assert listed.json()["total"] == 1


@pytest.mark.parametrize(
    "anchor",
    [
        {"selector": [{"type": "TextPositionSelector", "start": -1, "end": 4}]},
        {"selector": [{"type": "TextPositionSelector", "start": 9, "end": 4}]},
        {"selector": [{"type": "TextPositionSelector", "start": "0", "end": 4}]},
        {"selector": [{"type": "TextPositionSelector", "start": 0, "end": 4}]},  # no quote
        {"selector": [{"type": "TextQuoteSelector", "exact": ""}]},
        {"selector": [{"type": "TextQuoteSelector", "exact": 42}]},
        {"selector": [{"type": "TextQuoteSelector", "exact": "x" * 3000}]},
        {"selector": [{"type": "TextQuoteSelector", "exact": "seven", "prefix": "p" * 100}]},
        {"selector": [{"type": "RangeSelector", "startSelector": {}}]},
        {"selector": []},
        {"selector": "seven to two"},
        {"selectors": [{"type": "TextQuoteSelector", "exact": "seven"}]},
        {
            "selector": [
                {"type": "TextQuoteSelector", "exact": "seven to two"},
                {"type": "TextPositionSelector", "start": 0, "end": 3},
            ]
        },
    ],
)
def test_bad_selectors_are_4xx(client: TestClient, anchor: Any) -> None:
    register(client, INTRO, COST)
    r = feedback(client, anchor)
    assert r.status_code == 422, r.text
    assert r.json()["code"] in ("validation_error", "anchor_not_found")
    assert rows(client.database, "SELECT count(*) FROM comments")[0][0] == 0  # type: ignore[attr-defined]


def test_a_megabyte_quote_is_refused(client: TestClient) -> None:
    r = feedback(client, quote("x" * 1_000_000))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


def test_feedback_follows_its_passage_when_the_article_changes(client: TestClient) -> None:
    register(client, INTRO, COST, STAFF)
    staff = feedback(client, quote("two security guards", "late shifts, and ", " join")).json()
    cost = feedback(client, quote("cost too much", "the extra hours ", " for a service")).json()
    before = position(staff["anchor"])
    # A paragraph inserted before, the cost paragraph rewritten beyond recognition.
    changed = register(
        client,
        "Update: the mayor has asked for a review of the decision.",
        INTRO,
        "Supporters answered that students need a quiet place at night.",
        STAFF,
    )
    assert changed["revision"] == 2
    assert changed["anchored"] + changed["orphaned"] + changed["ambiguous"] == 2
    assert (changed["anchored"], changed["orphaned"], changed["moved"]) == (1, 1, 1)
    moved = anchor_of(client, staff["id"])
    assert moved["state"] == "anchored" and moved["revision"] == 2
    assert position(moved)[0] > before[0]
    text = "Night hours\n" + "\n".join(
        [
            "Update: the mayor has asked for a review of the decision.",
            INTRO,
            "Supporters answered that students need a quiet place at night.",
            STAFF,
        ]
    )
    start, end = position(moved)
    assert text[start:end] == "two security guards"
    lost = anchor_of(client, cost["id"])
    assert lost["state"] == "orphaned" and lost["selector"] == []
    assert lost["original"]["selector"][0]["exact"] == "cost too much"  # the quote is kept


def test_a_fixed_typo_in_the_quote_is_modified_not_lost(client: TestClient) -> None:
    register(client, INTRO, COST.replace("service", "servcie"))
    note = feedback(client, quote("a servcie few people use", "too much for ", " after ten")).json()
    changed = register(client, INTRO, COST)
    assert changed["modified"] == 1
    anchor = anchor_of(client, note["id"])
    assert anchor["state"] == "modified"
    exact = next(s["exact"] for s in anchor["selector"] if s["type"] == "TextQuoteSelector")
    assert exact == "a service few people use"


def test_a_quote_copied_elsewhere_then_deleted_is_not_moved_to_the_copy(
    client: TestClient,
) -> None:
    register(client, INTRO, COST)
    note = feedback(client, quote("cost too much", "the extra hours ", " for a service")).json()
    # The newsroom quotes the critics again lower down, then cuts the original paragraph.
    register(client, INTRO, COST, STAFF, "Some still say the extra hours cost too much.")
    register(client, INTRO, STAFF, "Some still say the extra hours cost too much.")
    assert anchor_of(client, note["id"])["state"] == "orphaned"


def test_orphans_are_listed_and_can_be_reattached_by_hand(client: TestClient) -> None:
    register(client, INTRO, COST)
    note = feedback(client, quote("cost too much", "the extra hours ", " for a service")).json()
    register(client, INTRO, "Critics called the extra hours expensive.")
    r = client.get("/api/v1/admin/feedback")
    assert r.status_code == 401
    lost = client.get("/api/v1/admin/feedback", headers=ADMIN_HEADERS).json()["items"]
    assert [(i["uri"], i["comment_id"]) for i in lost] == [("/story", note["id"])]
    text = "Night hours\n" + INTRO + "\nCritics called the extra hours expensive."
    start = text.index("expensive")
    r = client.put(
        f"/api/v1/admin/comments/{note['id']}/anchor",
        json={"start": start, "end": start + len("expensive")},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 200 and r.json()["state"] == "anchored"
    assert r.json()["method"] == "manual"
    assert anchor_of(client, note["id"])["state"] == "anchored"
    assert client.get("/api/v1/admin/feedback", headers=ADMIN_HEADERS).json()["items"] == []
    audit = rows(client.database, "SELECT action, target FROM audit")  # type: ignore[attr-defined]
    assert [tuple(a) for a in audit] == [("feedback.reattach", f"comment:{note['id']}")]
    r = client.put(
        f"/api/v1/admin/comments/{note['id']}/anchor",
        json={"start": 5, "end": 2},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 422


def test_a_passage_that_comes_back_is_found_again(client: TestClient) -> None:
    register(client, INTRO, COST)
    note = feedback(client, quote("cost too much", "the extra hours ", " for a service")).json()
    register(client, INTRO)
    assert anchor_of(client, note["id"])["state"] == "orphaned"
    register(client, INTRO, COST)
    assert anchor_of(client, note["id"])["state"] == "anchored"


def test_feedback_before_any_registration_is_anchored_by_the_first(client: TestClient) -> None:
    good = feedback(client, quote("seven to two", "The council voted ", " on Tuesday")).json()
    bad = feedback(client, quote("words the article never had")).json()
    assert good["anchor"]["method"] == "unverified"
    counts = register(client, INTRO, COST)
    assert (counts["anchored"], counts["orphaned"]) == (1, 1)
    assert anchor_of(client, good["id"])["state"] == "anchored"
    assert anchor_of(client, bad["id"])["state"] == "orphaned"


def test_locating_in_a_page_text_stores_nothing(client: TestClient) -> None:
    register(client, INTRO, COST)
    note = feedback(client, quote("seven to two", "The council voted ", " on Tuesday")).json()
    stored = anchor_of(client, note["id"])
    page = "Breaking\n" + INTRO + "\n" + COST
    r = client.post("/api/v1/anchor", json={"uri": "/story", "text": page})
    assert r.status_code == 200
    start = page.index("seven to two")
    assert r.json() == [
        {"comment_id": note["id"], "start": start, "end": start + 12, "state": "anchored"}
    ]
    r = client.post("/api/v1/anchor", json={"uri": "/story", "text": "Nothing like it."})
    assert r.json()[0]["state"] == "orphaned" and r.json()[0]["start"] is None
    assert anchor_of(client, note["id"]) == stored
    r = client.post("/api/v1/anchor", json={"uri": "/unknown", "text": "x"})
    assert r.status_code == 404
    r = client.post("/api/v1/anchor", json={"uri": "/story"})
    assert r.status_code == 422


def test_articles_larger_than_a_comment_body_are_accepted(client: TestClient) -> None:
    long = [f"Paragraph {i}: " + INTRO for i in range(1500)]  # ~140 KB
    assert register(client, *long)["revision"] == 1


def test_locating_is_rate_limited_per_address(make_client: Any) -> None:
    client = make_client(rate_limits="on", anchor_rate="2/60")
    register(client, INTRO, COST)
    for i in range(2):
        r = client.post("/api/v1/anchor", json={"uri": "/story", "text": f"{INTRO} {i}"})
        assert r.status_code == 200
    again = client.post("/api/v1/anchor", json={"uri": "/story", "text": f"{INTRO} 0"})
    assert again.status_code == 200  # the same text again comes from the cache
    r = client.post("/api/v1/anchor", json={"uri": "/story", "text": f"{INTRO} new"})
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
