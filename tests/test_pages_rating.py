"""Rating without JavaScript, and the rating search engines see in the fragment."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.testclient import TestClient

from .conftest import AppFactory, post
from .test_pages import csrf_of


def rate_form(client: TestClient, page: str, **fields: Any) -> Any:
    data = {"csrf": csrf_of(page), "uri": "/story", "site": "default", "sort": "best", **fields}
    return client.post("/comments/rate", data=data, follow_redirects=False)


def test_rating_with_a_plain_form_is_remembered(client: TestClient) -> None:
    post(client)
    page = client.get("/comments", params={"uri": "/story"})
    assert "No ratings yet" in page.text
    assert "<legend>Rate this article</legend>" in page.text
    r = rate_form(client, page.text, stars="4")
    assert r.status_code == 303
    assert r.headers["location"].endswith("rated=saved#vp-rating")
    shown = client.get(r.headers["location"]).text
    assert "Your rating was saved." in shown
    assert '<strong class="vp-average">4.0</strong>' in shown
    assert "1 vote" in shown
    assert re.search(r'value="4" required checked', shown), "my rating is not checked"
    assert "Your rating: 4 of 5 stars." in shown
    # Changing one's mind, then withdrawing, with the same cookie.
    rate_form(client, shown, stars="2")
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["average"] == 2
    page = client.get("/comments", params={"uri": "/story"}).text
    r = rate_form(client, page, remove="1")
    assert r.headers["location"].endswith("rated=removed#vp-rating")
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 0


def test_the_form_rates_an_article_it_sees_first(client: TestClient) -> None:
    page = client.get("/comments", params={"uri": "/fresh"}).text
    r = client.post(
        "/comments/rate",
        data={"csrf": csrf_of(page), "uri": "/fresh", "stars": "5", "title": "Fresh news"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert client.get("/api/v1/ratings", params={"uri": "/fresh"}).json()["count"] == 1


def test_bad_form_ratings_are_shown_on_the_page(client: TestClient) -> None:
    post(client)
    page = client.get("/comments", params={"uri": "/story"}).text
    for stars in ("0", "6", "3.5", "x", ""):
        r = rate_form(client, page, stars=stars)
        assert r.status_code == 422
        assert "Your rating was not saved" in r.text
        assert 'role="alert"' in r.text
    r = client.post(
        "/comments/rate",
        data={"csrf": "forged.token", "uri": "/story", "stars": "4"},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert client.get("/api/v1/ratings", params={"uri": "/story"}).json()["count"] == 0


def test_the_rating_shows_its_distribution(client: TestClient) -> None:
    post(client)
    page = client.get("/comments", params={"uri": "/story"}).text
    rate_form(client, page, stars="5")
    shown = client.get("/comments", params={"uri": "/story"}).text
    assert '<meter min="0" max="1" value="1" aria-hidden="true"></meter> 1' in shown
    assert "<caption" in shown


def test_no_rating_section_when_the_site_takes_none(make_client: AppFactory) -> None:
    client = make_client(ratings="off")
    post(client)
    page = client.get("/comments", params={"uri": "/story"}).text
    assert "vp-rating" not in page


def test_final_ratings_offer_no_second_form(make_client: AppFactory) -> None:
    client = make_client(rating_changes="off")
    post(client)
    page = client.get("/comments", params={"uri": "/story"}).text
    rate_form(client, page, stars="3")
    shown = client.get("/comments", params={"uri": "/story"}).text
    assert "Your rating: 3 of 5 stars." in shown
    assert 'action="/comments/rate"' not in shown


def test_german_pages_rate_in_german(make_client: AppFactory) -> None:
    client = make_client(language="de")
    post(client)
    page = client.get("/comments", params={"uri": "/story"}).text
    rate_form(client, page, stars="4")
    rate_form(client, page, stars="5")  # the same reader: replaces
    shown = client.get("/comments", params={"uri": "/story"}).text
    assert '<strong class="vp-average">5,0</strong>' in shown
    assert "1 Stimme" in shown
    assert "Diesen Artikel bewerten" in shown


def _json_ld(html: str) -> Any:
    match = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    return json.loads(match.group(1)) if match else None


def test_fragment_has_aggregate_rating_json_ld_only_with_ratings(client: TestClient) -> None:
    post(client, title="Hostile </script><script>alert(1)</script> title")
    fragment = client.get("/comments/fragment", params={"uri": "/story"}).text
    assert _json_ld(fragment) is None
    page = client.get("/comments", params={"uri": "/story"}).text
    rate_form(client, page, stars="4")
    fragment = client.get("/comments/fragment", params={"uri": "/story"}).text
    data = _json_ld(fragment)
    assert data["aggregateRating"] == {
        "@type": "AggregateRating",
        "ratingValue": 4.0,
        "ratingCount": 1,
        "bestRating": 5,
        "worstRating": 1,
    }
    assert data["url"] == "http://testserver/story"
    assert "alert(1)" in data["headline"]  # kept as data, never as markup
    assert fragment.count("<script") == 1
    assert "4.0" in fragment and "1 vote" in fragment


def test_the_newsroom_shows_each_articles_rating(client: TestClient) -> None:
    uri = "/demo/library-night-hours"
    page = client.get("/comments", params={"uri": uri}).text
    client.post(
        "/comments/rate",
        data={"csrf": csrf_of(page), "uri": uri, "stars": "4", "title": "Library"},
        follow_redirects=False,
    )
    newsroom = client.get("/").text
    assert '<span class="teaser-rating">4.0' in newsroom
    assert "(1 vote)" in newsroom
    assert newsroom.count('class="teaser-rating"') == 1
