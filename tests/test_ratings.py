"""Article ratings through the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxpop.services import ratings as rating_service
from voxpop.services.identity import Actor

from .conftest import ADMIN, AppFactory, post, rows

ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def rate(
    client: TestClient,
    stars: Any,
    token: str | None = None,
    address: str | None = None,
    **extra: Any,
) -> Any:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if address:
        headers["X-Forwarded-For"] = address
    body = {"uri": "/story", "stars": stars, **extra}
    return client.put("/api/v1/ratings", json=body, headers=headers)


@pytest.fixture
def article(client: TestClient) -> TestClient:
    """The client, with /story known (it has a comment)."""
    assert post(client).status_code == 201
    return client


@pytest.fixture
def spread(make_client: AppFactory) -> TestClient:
    """A client whose requests may say which address they come from (X-Forwarded-For)."""
    client = make_client(trusted_proxies="testclient")
    assert post(client).status_code == 201
    return client


def test_rating_an_article_counts_and_remembers_mine(article: TestClient) -> None:
    r = rate(article, 4)
    assert r.status_code == 200
    data = r.json()
    assert data["average"] == 4 and data["count"] == 1 and data["mine"] == 4
    assert data["histogram"] == [0, 0, 0, 1, 0]
    token = data["reader_token"]
    # Their next visit: the token brings their own rating back.
    seen = article.get(
        "/api/v1/ratings", params={"uri": "/story"}, headers={"Authorization": f"Bearer {token}"}
    ).json()
    assert seen == {"average": 4.0, "count": 1, "histogram": [0, 0, 0, 1, 0], "mine": 4}
    anonymous = article.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert anonymous["mine"] is None and anonymous["count"] == 1


def test_average_has_full_precision(spread: TestClient) -> None:
    for i, stars in enumerate((5, 4, 4)):
        assert rate(spread, stars, address=f"10.0.0.{i}").status_code == 200
    data = spread.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert data["count"] == 3
    assert data["average"] == pytest.approx(13 / 3)
    assert data["histogram"] == [0, 0, 0, 2, 1]


def test_re_rating_replaces_and_withdrawing_removes(article: TestClient) -> None:
    token = rate(article, 2).json()["reader_token"]
    r = rate(article, 5, token)
    assert r.json()["count"] == 1 and r.json()["average"] == 5 and r.json()["mine"] == 5
    assert "reader_token" not in r.json()
    assert r.json()["histogram"] == [0, 0, 0, 0, 1]
    r = article.delete(
        "/api/v1/ratings", params={"uri": "/story"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200
    assert r.json() == {"average": None, "count": 0, "histogram": [0, 0, 0, 0, 0], "mine": None}
    assert rows(article.database, "SELECT count(*) FROM ratings")[0][0] == 0  # type: ignore[attr-defined]


def test_withdrawing_needs_a_reader_token(article: TestClient) -> None:
    r = article.delete("/api/v1/ratings", params={"uri": "/story"})
    assert r.status_code == 401 and r.json()["code"] == "unauthorized"


def test_an_unknown_article_is_refused_unless_its_title_comes_along(client: TestClient) -> None:
    r = rate(client, 3, uri="/never-seen")
    assert r.status_code == 404 and r.json()["code"] == "unknown_article"
    empty = client.get("/api/v1/ratings", params={"uri": "/never-seen"}).json()
    assert empty == {"average": None, "count": 0, "histogram": [0, 0, 0, 0, 0], "mine": None}
    r = rate(client, 3, uri="/brand-new", title="A brand new story")
    assert r.status_code == 200 and r.json()["count"] == 1
    found = rows(client.database, "SELECT title FROM articles WHERE uri = '/brand-new'")  # type: ignore[attr-defined]
    assert found[0][0] == "A brand new story"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"uri": "/story", "stars": 0}, "validation_error"),
        ({"uri": "/story", "stars": 6}, "validation_error"),
        ({"uri": "/story", "stars": 3.5}, "validation_error"),
        ({"uri": "/story", "stars": "4"}, "validation_error"),
        ({"uri": "/story", "stars": True}, "validation_error"),
        ({"uri": "/story", "stars": None}, "validation_error"),
        ({"uri": "/story", "stars": [4]}, "validation_error"),
        ({"uri": "/story"}, "validation_error"),
        ({"stars": 4}, "validation_error"),
        ({"uri": "", "stars": 4}, "validation_error"),
        ({"uri": "/story", "stars": 4, "site": "nowhere"}, "unknown_site"),
        ({"uri": "/story", "stars": 2**70}, "validation_error"),
    ],
)
def test_bad_ratings_are_4xx(article: TestClient, body: dict[str, Any], code: str) -> None:
    r = article.put("/api/v1/ratings", json=body)
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == code
    assert rows(article.database, "SELECT count(*) FROM ratings")[0][0] == 0  # type: ignore[attr-defined]


def test_malformed_and_oversized_bodies_are_4xx(article: TestClient) -> None:
    headers = {"Content-Type": "application/json"}
    r = article.put("/api/v1/ratings", content=b'{"uri": "/story", "stars": 4', headers=headers)
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"
    r = article.put("/api/v1/ratings", content=b"[4]", headers=headers)
    assert r.status_code == 422
    big = b'{"uri": "/story", "stars": 4, "title": "' + b"x" * 200_000 + b'"}'
    r = article.put("/api/v1/ratings", content=big, headers=headers)
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    r = article.put(
        "/api/v1/ratings", content=b"uri=/story&stars=4", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code in (415, 422)


def test_a_forged_reader_token_is_refused(article: TestClient) -> None:
    r = rate(article, 4, token="r1.1.forged")
    assert r.status_code == 401


def test_fresh_identities_from_one_address_count_only_up_to_the_allowance(
    spread: TestClient,
) -> None:
    tokens = []
    for i in range(5):  # a stuffer minting a new reader per request
        r = rate(spread, 5, address="203.0.113.9")
        assert r.status_code == 200 and r.json()["mine"] == 5
        # Each answer looks like a counted vote: the stuffer's own view includes it.
        assert r.json()["count"] == min(i + 1, 4)
        tokens.append(r.json()["reader_token"])
    data = spread.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert data["count"] == 3 and data["histogram"] == [0, 0, 0, 0, 3]
    # The extra ones are kept, shown to their reader as counted, and marked for moderators.
    mine = spread.get(
        "/api/v1/ratings",
        params={"uri": "/story"},
        headers={"Authorization": f"Bearer {tokens[4]}"},
    ).json()
    assert mine["mine"] == 5 and mine["count"] == 4 and mine["histogram"] == [0, 0, 0, 0, 4]
    listed = spread.get(
        "/api/v1/admin/ratings", params={"uri": "/story"}, headers=ADMIN_HEADERS
    ).json()
    assert sorted(i["counted"] for i in listed["items"]) == [False, False, True, True, True]
    # Another address is not affected; a counted reader may still change their mind there.
    assert rate(spread, 1, address="198.51.100.7").json()["count"] == 4
    changed = rate(spread, 3, token=tokens[0], address="203.0.113.9").json()
    assert changed["count"] == 4 and changed["histogram"] == [1, 0, 1, 0, 2]
    # An uncounted reader changing their rating still does not count (only in their view).
    shadow = rate(spread, 1, token=tokens[4], address="203.0.113.9").json()
    assert shadow["count"] == 5 and shadow["histogram"] == [2, 0, 1, 0, 2]
    assert spread.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 4


def test_the_allowance_is_per_article_and_per_day(spread: TestClient) -> None:
    for _ in range(4):
        rate(spread, 5, address="203.0.113.9")
    assert rate(spread, 5, address="203.0.113.9", uri="/other", title="Other").json()["count"] == 1
    spread.clock.advance(days=1)  # type: ignore[attr-defined]
    assert rate(spread, 5, address="203.0.113.9").json()["count"] == 4


def test_the_allowance_is_a_setting(make_client: AppFactory) -> None:
    client = make_client(trusted_proxies="testclient", rating_allowance="1")
    post(client)
    rate(client, 4, address="203.0.113.9")
    rate(client, 4, address="203.0.113.9")
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 1


def _verify(client: TestClient, token: str) -> None:
    reader_id = int(token.split(".")[1])
    with client.database.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql(
            f"UPDATE readers SET verified_at = CURRENT_TIMESTAMP WHERE id = {reader_id}"
        )


@pytest.mark.parametrize(("trust", "counted"), [("on", 2), ("off", 1)])
def test_verified_readers_may_be_trusted_beyond_the_allowance(
    make_client: AppFactory, trust: str, counted: int
) -> None:
    client = make_client(
        trusted_proxies="testclient", rating_allowance="1", rating_trust_verified=trust
    )
    token = post(client).json()["reader_token"]
    _verify(client, token)
    rate(client, 2, address="203.0.113.9")
    rate(client, 4, token=token, address="203.0.113.9")
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == counted


def test_sites_can_switch_ratings_off(make_client: AppFactory) -> None:
    client = make_client(ratings="off")
    post(client)
    r = rate(client, 4)
    assert r.status_code == 403 and r.json()["code"] == "ratings_disabled"
    assert client.get("/api/v1/config").json()["ratings"]["enabled"] is False


def test_guests_may_be_kept_from_rating(make_client: AppFactory) -> None:
    client = make_client(rating_guests="off")
    token = post(client).json()["reader_token"]
    r = rate(client, 4, token=token)
    assert r.status_code == 403 and r.json()["code"] == "verification_required"
    r = rate(client, 4)
    assert r.status_code == 403
    _verify(client, token)
    assert rate(client, 4, token=token).json()["count"] == 1


def test_ratings_can_be_made_final(make_client: AppFactory) -> None:
    client = make_client(rating_changes="off")
    post(client)
    token = rate(client, 4).json()["reader_token"]
    assert rate(client, 4, token=token).status_code == 200  # the same stars again is fine
    r = rate(client, 2, token=token)
    assert r.status_code == 409 and r.json()["code"] == "rating_final"
    r = client.delete(
        "/api/v1/ratings", params={"uri": "/story"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 409
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["average"] == 4


def test_per_site_rating_settings_come_from_the_config_file(
    make_client: AppFactory, tmp_path: Any
) -> None:
    config = tmp_path / "voxpop.toml"
    config.write_text(
        '[sites.quiet]\norigins = ["https://quiet.example"]\nratings = false\n'
        '[sites.strict]\norigins = ["https://strict.example"]\nrating_allowance = 1\n'
    )
    client = make_client(config=str(config))
    r = rate(client, 4, site="quiet", uri="/a", title="A")
    assert r.status_code == 403 and r.json()["code"] == "ratings_disabled"
    assert rate(client, 4, site="strict", uri="/a", title="A").json()["count"] == 1
    rate(client, 4, site="strict", uri="/a")  # allowance used up: not counted
    strict = client.get("/api/v1/ratings", params={"uri": "/a", "site": "strict"}).json()
    assert strict["count"] == 1
    assert rate(client, 4, uri="/a", title="A").json()["count"] == 1  # default site: 3


def test_summary_carries_the_rating_of_many_articles(spread: TestClient) -> None:
    rate(spread, 4, address="10.0.0.1")
    rate(spread, 2, address="10.0.0.2")
    rate(spread, 5, address="10.0.0.3", uri="/second", title="Second")
    data = spread.get(
        "/api/v1/articles/summary", params=[("uri", "/story"), ("uri", "/second"), ("uri", "/x")]
    ).json()
    assert data["/story"]["rating"] == {"average": 3.0, "count": 2, "histogram": [0, 1, 0, 1, 0]}
    assert data["/second"]["rating"]["count"] == 1
    assert data["/x"]["rating"] == {"average": None, "count": 0, "histogram": [0, 0, 0, 0, 0]}


def test_top_articles_are_ranked_by_a_damped_average(spread: TestClient) -> None:
    # /story: twenty ratings averaging 4.5; /lucky: a single 5; /poor: ten 2s.
    for i in range(20):
        rate(spread, 5 if i % 2 else 4, address=f"10.1.0.{i}")
    rate(spread, 5, address="10.2.0.1", uri="/lucky", title="Lucky")
    for i in range(10):
        rate(spread, 2, address=f"10.3.0.{i}", uri="/poor", title="Poor")
    r = spread.get("/api/v1/articles/top", params={"by": "rating"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert [i["uri"] for i in items] == ["/story", "/lucky", "/poor"]
    assert items[0]["average"] == 4.5 and items[0]["count"] == 20
    assert items[1]["average"] == 5 and items[1]["score"] < items[0]["score"]
    assert spread.get("/api/v1/articles/top", params={"limit": 1}).json()["items"][0]["uri"] == (
        "/story"
    )
    r = spread.get("/api/v1/articles/top", params={"by": "comments"})
    assert r.status_code == 422


def test_moderators_see_and_remove_ratings_with_an_audit_entry(spread: TestClient) -> None:
    stuffer = rate(spread, 1, address="10.0.0.1").json()["reader_token"]
    rate(spread, 5, address="10.0.0.2")
    rate(spread, 1, token=stuffer, address="10.0.0.1", uri="/other", title="Other")
    r = spread.get("/api/v1/admin/ratings", params={"uri": "/story"})
    assert r.status_code == 401
    stuffer_id = int(stuffer.split(".")[1])
    r = spread.get(
        "/api/v1/admin/ratings",
        params={"uri": "/story"},
        headers={"Authorization": "Bearer " + stuffer},
    )
    assert r.status_code == 403 and r.json()["code"] == "not_moderator"
    listed = spread.get(
        "/api/v1/admin/ratings", params={"reader": stuffer_id}, headers=ADMIN_HEADERS
    ).json()
    assert sorted(i["uri"] for i in listed["items"]) == ["/other", "/story"]
    r = spread.delete(
        "/api/v1/admin/ratings",
        params={"reader": stuffer_id, "uri": "/story"},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 200 and r.json() == {"removed": 1}
    assert spread.get("/api/v1/ratings", params={"uri": "/story"}).json()["average"] == 5
    r = spread.delete(
        "/api/v1/admin/ratings",
        params={"reader": stuffer_id, "uri": "/story"},
        headers=ADMIN_HEADERS,
    )
    assert r.status_code == 404
    r = spread.delete("/api/v1/admin/ratings", params={"reader": stuffer_id}, headers=ADMIN_HEADERS)
    assert r.json() == {"removed": 1}
    assert spread.get("/api/v1/ratings", params={"uri": "/other"}).json()["count"] == 0
    audit = rows(spread.database, "SELECT actor, action, target FROM audit ORDER BY id")  # type: ignore[attr-defined]
    assert [tuple(a) for a in audit] == [
        ("admin-token", "rating.remove", f"reader:{stuffer_id}"),
        ("admin-token", "rating.remove", f"reader:{stuffer_id}"),
    ]
    r = spread.get("/api/v1/admin/ratings", headers=ADMIN_HEADERS)
    assert r.status_code == 422


def test_concurrent_raters_are_counted_exactly(article: TestClient) -> None:
    """Many readers rating at once, and some changing their minds: exact count and sum."""
    ctx = article.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")

    def first(i: int) -> tuple[int, int]:
        rated = rating_service.rate(ctx, site, Actor(None, False, f"addr{i}"), "/story", i % 5 + 1)
        return rated.reader_id, i % 5 + 1

    with ThreadPoolExecutor(8) as pool:
        readers = list(pool.map(first, range(60)))

    def again(item: tuple[int, int]) -> int:
        reader_id, stars = item
        new = 6 - stars
        rating_service.rate(ctx, site, Actor(reader_id, False, "elsewhere"), "/story", new)
        return new

    with ThreadPoolExecutor(8) as pool:
        final = list(pool.map(again, readers[:30])) + [s for _, s in readers[30:]]
    data = article.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert data["count"] == 60
    assert data["average"] == pytest.approx(sum(final) / 60)
    assert data["histogram"] == [final.count(s) for s in range(1, 6)]
    stored = rows(article.database, "SELECT count(*), sum(stars) FROM ratings")  # type: ignore[attr-defined]
    assert tuple(stored[0]) == (60, sum(final))


def test_one_reader_racing_themself_keeps_one_rating(article: TestClient) -> None:
    ctx = article.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")
    reader_id = rating_service.rate(ctx, site, Actor(None, False, "a"), "/story", 1).reader_id
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda i: rating_service.rate(
                    ctx, site, Actor(reader_id, False, "a"), "/story", i % 5 + 1
                ),
                range(40),
            )
        )
    data = article.get("/api/v1/ratings", params={"uri": "/story"}).json()
    assert data["count"] == 1 and sum(data["histogram"]) == 1


def test_ratings_are_rate_limited(make_client: AppFactory) -> None:
    client = make_client(rate_limits="on", rating_rate="2/60")
    post(client)
    token = rate(client, 1).json()["reader_token"]
    assert rate(client, 2, token=token).status_code == 200
    r = rate(client, 3, token=token)
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    assert "retry-after" in r.headers


def test_moderators_see_and_remove_a_readers_ratings_per_site(
    make_client: AppFactory, tmp_path: Any
) -> None:
    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.other]\norigins = ["https://other.example"]\n')
    client = make_client(config=str(config))
    token = rate(client, 4, uri="/a", title="A").json()["reader_token"]
    rate(client, 2, token=token, uri="/b", title="B", site="other")
    reader_id = int(token.split(".")[1])
    listed = client.get(
        "/api/v1/admin/ratings", params={"reader": reader_id}, headers=ADMIN_HEADERS
    ).json()
    assert [i["uri"] for i in listed["items"]] == ["/a"]
    r = client.delete("/api/v1/admin/ratings", params={"reader": reader_id}, headers=ADMIN_HEADERS)
    assert r.json() == {"removed": 1}
    other = client.get("/api/v1/ratings", params={"uri": "/b", "site": "other"}).json()
    assert other["count"] == 1
