"""The server-rendered pages: the thread without JavaScript, the fragment, the demo."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from .conftest import post


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1)


def form_post(client: TestClient, page: str, **fields: Any) -> Any:
    data = {"csrf": csrf_of(page), "uri": "/story", "site": "default", "sort": "best", **fields}
    return client.post("/comments", data=data, follow_redirects=False)


def test_thread_page_posts_with_post_redirect_get(client: TestClient) -> None:
    page = client.get("/comments", params={"uri": "/story"})
    assert page.status_code == 200
    assert '<label for="comment-form-body">' in page.text
    r = form_post(client, page.text, body="Posted *without* JavaScript", author_name="Nojs")
    assert r.status_code == 303
    location = r.headers["location"]
    assert location.startswith("/comments?uri=%2Fstory")
    assert "posted=approved" in location
    shown = client.get(location)
    assert "Your comment was published." in shown.text
    assert "<em>without</em>" in shown.text
    assert "Nojs" in shown.text
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 1


def test_reply_and_vote_without_javascript(client: TestClient) -> None:
    top = post(client, body="top comment").json()
    page = client.get("/comments", params={"uri": "/story", "reply": top["id"]}).text
    assert 'id="reply-form"' in page
    assert f'name="parent_id" value="{top["id"]}"' in page
    r = form_post(client, page, body="a reply", parent_id=str(top["id"]))
    assert r.status_code == 303
    thread = client.get("/api/v1/comments", params={"uri": "/story"}).json()
    assert thread["items"][0]["replies"][0]["html"] == "<p>a reply</p>"
    page = client.get("/comments", params={"uri": "/story"}).text
    r = client.post(
        "/comments/vote",
        data={"csrf": csrf_of(page), "uri": "/story", "comment_id": str(top["id"]), "value": "1"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert (
        client.get("/api/v1/comments", params={"uri": "/story"}).json()["items"][0]["votes"]["up"]
        == 1
    )


def test_form_without_a_valid_csrf_token_is_refused(client: TestClient) -> None:
    client.get("/comments", params={"uri": "/story"})
    r = client.post(
        "/comments",
        data={"csrf": "forged.token", "uri": "/story", "body": "x"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "did not come from this site" in r.text
    fresh = TestClient(client.app)
    r = fresh.post("/comments", data={"uri": "/story", "body": "x"}, follow_redirects=False)
    assert r.status_code == 403
    assert client.get("/api/v1/comments", params={"uri": "/story"}).json()["total"] == 0


def test_form_errors_are_shown_with_the_values_kept(client: TestClient) -> None:
    page = client.get("/comments", params={"uri": "/story"}).text
    r = form_post(client, page, body="kept text", author_email="not-an-address")
    assert r.status_code == 422
    assert 'role="alert"' in r.text
    assert "The e-mail address is not valid" in r.text
    assert "kept text" in r.text


def test_the_page_paginates_and_sorts(client: TestClient) -> None:
    for i in range(55):
        post(client, body=f"comment number {i}")
    page = client.get("/comments", params={"uri": "/story", "sort": "new"}).text
    assert "comment number 54" in page
    assert "comment number 4<" not in page
    more = re.search(r'class="vp-more" href="([^"]+)"', page)
    assert more
    second = client.get(more.group(1).replace("&amp;", "&")).text
    assert "comment number 4<" in second
    assert "55 comments" in page


def test_fragment_is_plain_html_for_server_side_inclusion(client: TestClient) -> None:
    post(client, body="indexable words", author_name="Ada")
    r = client.get("/comments/fragment", params={"uri": "/story"})
    assert r.status_code == 200
    assert r.text.lstrip().startswith("<section")
    assert "<html" not in r.text
    assert "indexable words" in r.text
    assert 'itemtype="https://schema.org/Comment"' in r.text
    assert "<form" not in r.text


def test_pages_speak_german_for_a_german_site(make_client: Any) -> None:
    client = make_client(language="de")
    post(client, body="Hallo")
    page = client.get("/comments", params={"uri": "/story"}).text
    assert '<html lang="de">' in page
    assert "1 Kommentar" in page
    assert "Kommentar senden" in page
    english = client.get("/comments", params={"uri": "/story", "lang": "en"}).text
    assert "Post comment" in english


def test_demo_newsroom_and_articles(client: TestClient) -> None:
    home = client.get("/")
    assert home.status_code == 200
    links = re.findall(r'href="(/demo/[a-z-]+)"', home.text)
    assert len(set(links)) == 3
    article = client.get(links[0])
    assert article.status_code == 200
    assert '<script src="/embed.js"' in article.text
    assert "<noscript>" in article.text
    assert "data-voxpop-uri" in article.text
    post(client, uri=links[0], body="first")
    assert "1 comment" in client.get("/").text
    assert client.get("/demo/nope").status_code == 404


def test_demo_can_be_turned_off(make_client: Any) -> None:
    client = make_client(demo="off")
    assert client.get("/").status_code == 404


def test_embed_script_is_served_small_and_with_catalogues(client: TestClient) -> None:
    r = client.get("/embed.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "/*VOXPOP_MESSAGES*/" not in r.text
    assert int(r.headers.get("content-length", "0")) <= 25 * 1024  # docs/widget.md: size
    again = client.get("/embed.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_browsers_get_an_html_error_page_and_api_clients_problem_json(client: TestClient) -> None:
    client.get("/comments", params={"uri": "/story"})
    form = {"csrf": "forged.token", "uri": "/story", "comment_id": "1", "value": "1"}
    browser = client.post("/comments/vote", data=form, headers={"Accept": "text/html"})
    assert browser.status_code == 403
    assert browser.headers["content-type"].startswith("text/html")
    assert "did not come from this site" in browser.text
    assert '<html lang="en">' in browser.text
    api = client.post("/comments/vote", data=form, headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.json()["code"] == "csrf_failed"
    missing = client.get("/demo/nope", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert "No demo article" in missing.text
    assert client.get("/api/v1/comments/999", headers={"Accept": "text/html"}).json()["code"] == (
        "unknown_comment"
    )
