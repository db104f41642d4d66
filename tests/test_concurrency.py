"""Concurrent writers: no lost update, no "database is locked", no duplicate article."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi.testclient import TestClient

from voxpop import errors
from voxpop.services import comments as comment_service
from voxpop.services import feedback as feedback_service
from voxpop.services.identity import Actor

from .conftest import rows


def _ctx(client: TestClient) -> Any:
    return client.app.state.ctx  # type: ignore[attr-defined]


def test_first_comments_racing_on_a_new_article(client: TestClient) -> None:
    ctx = _ctx(client)
    site = ctx.site("default")

    def post(i: int) -> int:
        new = comment_service.NewComment(uri="/racing", body=f"comment {i}")
        return comment_service.post(ctx, site, Actor(None, False, f"addr{i}"), new).comment.id

    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(post, range(24)))
    assert len(set(ids)) == 24
    assert rows(client.database, "SELECT count(*) FROM articles WHERE uri = '/racing'")[0][0] == 1  # type: ignore[attr-defined]
    data = client.get("/api/v1/comments", params={"uri": "/racing", "limit": 100}).json()
    assert data["total"] == 24
    assert len(data["items"]) == 24


def test_votes_from_many_readers_at_once_are_all_counted(client: TestClient) -> None:
    ctx = _ctx(client)
    site = ctx.site("default")
    target = comment_service.post(
        ctx, site, Actor(None, False, "author"), comment_service.NewComment("/votes", "vote me")
    ).comment.id

    def vote(i: int) -> None:
        comment_service.vote(ctx, Actor(None, False, f"voter{i}"), target, 1 if i % 4 else -1)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(vote, range(40)))
    item = client.get("/api/v1/comments", params={"uri": "/votes"}).json()["items"][0]
    assert item["votes"] == {"up": 30, "down": 10}
    assert (
        rows(client.database, f"SELECT count(*) FROM votes WHERE comment_id = {target}")[0][0] == 40
    )  # type: ignore[attr-defined]


def test_racing_registrations_of_one_article_make_one_revision_per_text(
    client: TestClient,
) -> None:
    ctx = _ctx(client)
    site = ctx.site("default")
    admin = Actor(None, True, "a")
    texts = ["First version.\nOf the story.", "Second version.\nOf the story, longer."]

    def register(text: str) -> int | None:
        try:
            return feedback_service.register(ctx, admin, site, "/racing", "R", text, None).revision
        except errors.Conflict:
            return None  # outrun by others every time: a clear 409, nothing half-stored

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(register, [texts[0]] * 16))
    assert same == [1] * 16
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(register, [texts[i % 2] for i in range(16)]))
    stored = rows(client.database, "SELECT count(*), max(number) FROM revisions")  # type: ignore[attr-defined]
    count, latest = stored[0]
    assert count == latest  # numbered 1..n without gaps or duplicates


def test_first_views_of_a_demo_article_at_once(client: TestClient) -> None:
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda _: client.get("/demo/harbour-bridge-reopens").status_code, range(16))
        )
    assert codes == [200] * 16
    assert rows(client.database, "SELECT count(*) FROM revisions")[0][0] == 1  # type: ignore[attr-defined]
