"""Comments through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from .conftest import ADMIN, post, rows


def count(items: list[dict[str, Any]]) -> int:
    return sum(1 + count(c["replies"]) for c in items)


def test_post_returns_the_comment_and_a_reader_token(client: TestClient) -> None:
    r = post(
        client,
        body="Hello *world*",
        author_name="Ada",
        author_website="ada.example",
        title="The story",
    )
    assert r.status_code == 201
    c = r.json()
    assert c["status"] == "approved"
    assert c["html"] == "<p>Hello <em>world</em></p>"
    assert c["author"] == {"name": "Ada", "website": "https://ada.example"}
    assert c["reader_token"].startswith("r1.")
    assert c["votes"] == {"up": 0, "down": 0}
    assert r.headers["location"] == f"/api/v1/comments/{c['id']}"
    assert "author_email" not in c and "email" not in str(c)


def test_thread_lists_approved_comments_with_nested_replies(client: TestClient) -> None:
    top = post(client, body="top").json()
    reply = post(client, body="reply", parent_id=top["id"]).json()
    post(client, body="reply to reply", parent_id=reply["id"])
    other = post(client, body="second top").json()
    data = client.get("/api/v1/comments", params={"uri": "/story", "sort": "old"}).json()
    assert data["total"] == 4
    assert [c["id"] for c in data["items"]] == [top["id"], other["id"]]
    first = data["items"][0]
    assert first["replies"][0]["id"] == reply["id"]
    assert first["replies"][0]["depth"] == 1
    assert first["replies"][0]["replies"][0]["html"] == "<p>reply to reply</p>"
    assert first["replies"][0]["replies"][0]["depth"] == 2


def test_very_deep_reply_chains_are_served_with_capped_nesting(client: TestClient) -> None:
    parent = post(client, body="root").json()["id"]
    for i in range(40):
        parent = post(client, body=f"level {i + 1}", parent_id=parent).json()["id"]
    data = client.get("/api/v1/comments", params={"uri": "/story"}).json()
    assert count(data["items"]) == 41
    deepest = 0

    def walk(items: list[dict[str, Any]]) -> None:
        nonlocal deepest
        for c in items:
            deepest = max(deepest, c["depth"])
            walk(c["replies"])

    walk(data["items"])
    assert deepest == 30


def test_uri_is_normalised(client: TestClient) -> None:
    post(client, uri="https://news.example/2026//story?id=3#comments", body="x")
    data = client.get("/api/v1/comments", params={"uri": "/2026/story?id=3"}).json()
    assert data["total"] == 1


def test_unknown_article_is_an_empty_thread(client: TestClient) -> None:
    r = client.get("/api/v1/comments", params={"uri": "/nothing-here"})
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None, "total": 0}


def test_sort_new_old_and_best(client: TestClient) -> None:
    ids = [post(client, body=f"c{i}").json()["id"] for i in range(4)]
    newest = client.get("/api/v1/comments", params={"uri": "/story", "sort": "new"}).json()
    assert [c["id"] for c in newest["items"]] == ids[::-1]
    oldest = client.get("/api/v1/comments", params={"uri": "/story", "sort": "old"}).json()
    assert [c["id"] for c in oldest["items"]] == ids
    # Wilson lower bounds: c2 3 up (0.44), c3 1 up (0.21), c1 1 up 1 down (0.09), c0 none (0).
    for _ in range(3):
        assert client.put(f"/api/v1/comments/{ids[2]}/vote", json={"value": 1}).status_code == 200
    client.put(f"/api/v1/comments/{ids[3]}/vote", json={"value": 1})
    client.put(f"/api/v1/comments/{ids[1]}/vote", json={"value": 1})
    client.put(f"/api/v1/comments/{ids[1]}/vote", json={"value": -1})
    best = client.get("/api/v1/comments", params={"uri": "/story", "sort": "best"}).json()
    assert [c["id"] for c in best["items"]] == [ids[2], ids[3], ids[1], ids[0]]
    # A single up-vote does not outrank three: the lower bound rewards confidence.
    assert best["items"][0]["votes"] == {"up": 3, "down": 0}


def test_cursor_pagination_reaches_every_top_level_comment_once(client: TestClient) -> None:
    ids = [post(client, body=f"c{i}").json()["id"] for i in range(7)]
    post(client, body="a reply", parent_id=ids[0])
    for sort in ("new", "old", "best"):
        seen: list[int] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, Any] = {"uri": "/story", "limit": 3, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            data = client.get("/api/v1/comments", params=params).json()
            assert data["total"] == 8
            assert len(data["items"]) <= 3
            seen += [c["id"] for c in data["items"]]
            pages += 1
            cursor = data["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == ids, sort
        assert pages == 3


def test_cursor_of_another_sort_is_refused(client: TestClient) -> None:
    for i in range(3):
        post(client, body=f"c{i}")
    cursor = client.get(
        "/api/v1/comments", params={"uri": "/story", "limit": 1, "sort": "new"}
    ).json()["next_cursor"]
    r = client.get("/api/v1/comments", params={"uri": "/story", "cursor": cursor, "sort": "old"})
    assert r.status_code == 400
    assert r.json()["code"] == "invalid_cursor"


def test_limit_accepts_up_to_1000_and_no_more(client: TestClient) -> None:
    assert client.get("/api/v1/comments", params={"uri": "/s", "limit": 1000}).status_code == 200
    r = client.get("/api/v1/comments", params={"uri": "/s", "limit": 1001})
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"


def test_owner_edits_within_the_window_and_not_after(client: TestClient) -> None:
    c = post(client, body="first").json()
    auth = {"Authorization": f"Bearer {c['reader_token']}"}
    r = client.patch(f"/api/v1/comments/{c['id']}", json={"body": "second **take**"}, headers=auth)
    assert r.status_code == 200
    assert r.json()["html"] == "<p>second <strong>take</strong></p>"
    assert r.json()["edited_at"] is not None
    client.clock.advance(minutes=16)  # type: ignore[attr-defined]
    r = client.patch(f"/api/v1/comments/{c['id']}", json={"body": "third"}, headers=auth)
    assert r.status_code == 403
    assert r.json()["code"] == "edit_window_closed"
    # A moderator still can.
    r = client.patch(
        f"/api/v1/comments/{c['id']}",
        json={"body": "moderated"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200


def test_someone_else_cannot_edit_or_delete(client: TestClient) -> None:
    c = post(client, body="mine").json()
    other = post(client, body="theirs").json()["reader_token"]
    auth = {"Authorization": f"Bearer {other}"}
    assert (
        client.patch(f"/api/v1/comments/{c['id']}", json={"body": "x"}, headers=auth).json()["code"]
        == "not_owner"
    )
    assert client.delete(f"/api/v1/comments/{c['id']}", headers=auth).status_code == 403
    assert client.delete(f"/api/v1/comments/{c['id']}").status_code == 401


def test_deleted_comments_do_not_shorten_a_page(client: TestClient) -> None:
    made = [post(client, body=f"c{i}").json() for i in range(6)]
    for c in made[:3]:
        client.delete(
            f"/api/v1/comments/{c['id']}", headers={"Authorization": f"Bearer {c['reader_token']}"}
        )
    data = client.get(
        "/api/v1/comments", params={"uri": "/story", "limit": 3, "sort": "old"}
    ).json()
    assert [c["id"] for c in data["items"]] == [c["id"] for c in made[3:]]
    assert data["next_cursor"] is None


def test_delete_keeps_replies_under_a_placeholder(client: TestClient) -> None:
    parent = post(client, body="parent", author_name="Bo").json()
    post(client, body="child", parent_id=parent["id"])
    lone = post(client, body="lone").json()
    for c in (parent, lone):
        r = client.delete(
            f"/api/v1/comments/{c['id']}", headers={"Authorization": f"Bearer {c['reader_token']}"}
        )
        assert r.status_code == 204
    data = client.get("/api/v1/comments", params={"uri": "/story"}).json()
    assert data["total"] == 1
    assert [c["id"] for c in data["items"]] == [parent["id"]]
    placeholder = data["items"][0]
    assert placeholder["deleted"] is True
    assert placeholder["html"] == ""
    assert placeholder["author"] == {"name": None, "website": None}
    assert placeholder["replies"][0]["html"] == "<p>child</p>"
    # The text is gone from storage too, not just hidden.
    stored = rows(
        client.database, f"SELECT body, author_name FROM comments WHERE id = {parent['id']}"
    )  # type: ignore[attr-defined]
    assert tuple(stored[0]) == ("", None)
    r = client.delete(
        f"/api/v1/comments/{parent['id']}",
        headers={"Authorization": f"Bearer {parent['reader_token']}"},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "comment_deleted"
    for c in (parent, lone):  # by id, a deleted comment is gone for everyone
        r = client.get(f"/api/v1/comments/{c['id']}")
        assert r.status_code == 410 and r.json()["code"] == "comment_deleted"
    r = post(client, body="late reply", parent_id=parent["id"])
    assert r.json()["code"] == "comment_deleted"


def test_one_vote_per_reader_changeable_and_withdrawable(client: TestClient) -> None:
    c = post(client, body="vote on me").json()
    voter = post(client, body="voter", uri="/other").json()["reader_token"]
    auth = {"Authorization": f"Bearer {voter}"}
    url = f"/api/v1/comments/{c['id']}/vote"
    assert client.put(url, json={"value": 1}, headers=auth).json() == {
        "up": 1,
        "down": 0,
        "mine": 1,
    }
    assert client.put(url, json={"value": 1}, headers=auth).json() == {
        "up": 1,
        "down": 0,
        "mine": 1,
    }
    assert client.put(url, json={"value": -1}, headers=auth).json() == {
        "up": 0,
        "down": 1,
        "mine": -1,
    }
    assert client.put(url, json={"value": 0}, headers=auth).json() == {
        "up": 0,
        "down": 0,
        "mine": 0,
    }
    # An anonymous vote mints a reader.
    anon = client.put(url, json={"value": 1}).json()
    assert anon["up"] == 1 and anon["reader_token"].startswith("r1.")
    # Not on one's own comment.
    own = client.put(
        url, json={"value": 1}, headers={"Authorization": f"Bearer {c['reader_token']}"}
    )
    assert own.status_code == 403 and own.json()["code"] == "own_comment"
    listed = client.get("/api/v1/comments", params={"uri": "/story"}).json()["items"][0]
    assert listed["votes"] == {"up": 1, "down": 0}


def test_me_lists_own_votes_and_editable_comments(client: TestClient) -> None:
    mine = post(client, body="mine").json()
    token = mine["reader_token"]
    other = post(client, body="other").json()
    auth = {"Authorization": f"Bearer {token}"}
    client.put(f"/api/v1/comments/{other['id']}/vote", json={"value": -1}, headers=auth)
    me = client.get("/api/v1/me", params={"uri": "/story"}, headers=auth).json()
    assert me["votes"] == {str(other["id"]): -1}
    assert me["editable"] == [mine["id"]]
    assert me["editable_until"] == {str(mine["id"]): mine["editable_until"]}
    assert me["edit_window"] == 900
    client.clock.advance(minutes=20)  # type: ignore[attr-defined]
    assert client.get("/api/v1/me", params={"uri": "/story"}, headers=auth).json()["editable"] == []
    assert client.get("/api/v1/me", params={"uri": "/story"}).json()["votes"] == {}


def test_etag_gives_304_until_the_thread_changes(client: TestClient) -> None:
    c = post(client, body="first").json()
    r1 = client.get("/api/v1/comments", params={"uri": "/story"})
    etag = r1.headers["etag"]
    r2 = client.get("/api/v1/comments", params={"uri": "/story"}, headers={"If-None-Match": etag})
    assert r2.status_code == 304
    client.put(f"/api/v1/comments/{c['id']}/vote", json={"value": 1})
    r3 = client.get("/api/v1/comments", params={"uri": "/story"}, headers={"If-None-Match": etag})
    assert r3.status_code == 200
    assert r3.json()["items"][0]["votes"]["up"] == 1
    assert r3.headers["etag"] != etag


def test_cached_thread_is_never_stale_after_a_write(client: TestClient) -> None:
    for i in range(3):
        post(client, body=f"c{i}")
        data = client.get("/api/v1/comments", params={"uri": "/story"}).json()
        assert data["total"] == i + 1
        assert len(data["items"]) == i + 1


def test_summary_counts_many_articles_in_one_request(client: TestClient) -> None:
    post(client, uri="/a", body="1")
    post(client, uri="/a", body="2")
    post(client, uri="/b", body="3")
    r = client.get("/api/v1/articles/summary", params=[("uri", "/a"), ("uri", "/b"), ("uri", "/c")])
    data = r.json()
    assert data["/a"]["comments"] == 2
    assert data["/b"]["comments"] == 1
    assert data["/c"] == {
        "comments": 0,
        "feedback": 0,
        "rating": {"average": None, "count": 0, "histogram": [0, 0, 0, 0, 0]},
    }


def test_pre_moderation_holds_comments_until_approved(make_client: Any) -> None:
    client = make_client(moderation="pre")
    c = post(client, body="wait for me").json()
    assert c["status"] == "pending"
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 0
    reader = {"Authorization": f"Bearer {c['reader_token']}"}
    r = client.post(
        f"/api/v1/admin/comments/{c['id']}/moderate", json={"action": "approve"}, headers=reader
    )
    assert r.status_code == 403 and r.json()["code"] == "not_moderator"
    r = client.post(f"/api/v1/admin/comments/{c['id']}/moderate", json={"action": "approve"})
    assert r.status_code == 401
    r = client.post(
        f"/api/v1/admin/comments/{c['id']}/moderate",
        json={"action": "approve"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 200 and r.json()["status"] == "approved"
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 1
    r = client.post(
        f"/api/v1/admin/comments/{c['id']}/moderate",
        json={"action": "delete"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.json()["status"] == "deleted"
    r = client.post(
        f"/api/v1/admin/comments/{c['id']}/moderate",
        json={"action": "approve"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 0


def test_auto_moderation_holds_link_heavy_comments(client: TestClient) -> None:
    spammy = "buy https://a.example https://b.example https://c.example"
    assert post(client, body=spammy).json()["status"] == "pending"
    assert post(client, body="see https://a.example").json()["status"] == "approved"
    # A Markdown link is one link, not two.
    two = "[a](https://a.example) and [b](https://b.example)"
    assert post(client, body=two).json()["status"] == "approved"


def test_sites_are_separate(make_client: Any, tmp_path: Any) -> None:
    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.tribune]\ntitle = "Tribune"\norigins = ["https://tribune.example"]\n')
    client = make_client(config=str(config))
    post(client, body="default site")
    post(client, body="tribune", site="tribune")
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 1
    assert (
        client.get("/api/v1/comments", params={"uri": "/story", "site": "tribune"}).json()["total"]
        == 1
    )
    r = client.get("/api/v1/comments", params={"uri": "/story", "site": "nope"})
    assert r.status_code == 404 and r.json()["code"] == "unknown_site"


def test_addresses_are_stored_only_as_salted_hashes(client: TestClient) -> None:
    post(client, body="x")
    stored = rows(client.database, "SELECT ip_hash FROM comments")  # type: ignore[attr-defined]
    assert len(stored[0][0]) == 32
    assert "testclient" not in stored[0][0] and "127.0.0.1" not in stored[0][0]
    all_text = str(rows(client.database, "SELECT * FROM comments"))  # type: ignore[attr-defined]
    assert "testclient" not in all_text


def test_a_comment_can_be_fetched_at_its_location(make_client: Any) -> None:
    client = make_client(moderation="pre")
    held = post(client, body="held").json()
    location = f"/api/v1/comments/{held['id']}"
    assert client.get(location).status_code == 404
    mine = client.get(location, headers={"Authorization": f"Bearer {held['reader_token']}"})
    assert mine.status_code == 200
    assert mine.json()["status"] == "pending"
    approved = client.post(
        f"/api/v1/admin/comments/{held['id']}/moderate",
        json={"action": "approve"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert approved.status_code == 200
    public = client.get(location)
    assert public.status_code == 200
    assert public.json()["html"] == "<p>held</p>"
    assert client.get("/api/v1/comments/999999").json()["code"] == "unknown_comment"


@pytest.mark.parametrize("origin", [None, "https://news.example", "https://elsewhere.example"])
def test_a_cached_read_carries_the_headers_of_a_built_one(
    make_client: Any, origin: str | None
) -> None:
    # The cached read is answered before every middleware: it adds their headers itself.
    client = make_client(
        env="production", allowed_origins="https://news.example", public_url="https://c.example"
    )
    post(client, body="first")
    routed: list[str] = []
    router = client.app.router
    inner = router.middleware_stack

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope["path"])
        await inner(scope, receive, send)

    router.middleware_stack = spy
    headers = {"Origin": origin} if origin else {}
    built = client.get("/api/v1/comments", params={"uri": "/story"}, headers=headers)
    cached = client.get("/api/v1/comments", params={"uri": "/story"}, headers=headers)
    assert routed == ["/api/v1/comments"]  # the second one never reached the router
    assert built.status_code == cached.status_code == 200
    assert cached.content == built.content
    assert cached.headers.items() == built.headers.items()
    assert cached.headers["strict-transport-security"] == "max-age=31536000"
    assert cached.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    allowed = cached.headers.get("access-control-allow-origin")
    assert allowed == (origin if origin == "https://news.example" else None)
    etag = {**headers, "If-None-Match": built.headers["etag"]}
    not_modified = client.get("/api/v1/comments", params={"uri": "/story"}, headers=etag)
    assert not_modified.status_code == 304 and routed == ["/api/v1/comments"]
    assert (
        not_modified.headers["content-security-policy"] == cached.headers["content-security-policy"]
    )
    assert not_modified.headers.get("vary") == built.headers.get("vary")
