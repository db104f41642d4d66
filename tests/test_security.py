"""Hostile input never becomes executable markup; headers and CORS protect the service."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxpop.services.render import render

from . import xss
from .conftest import post


@pytest.mark.parametrize("body", xss.BODIES)
def test_rendered_bodies_are_inert(body: str) -> None:
    html = render(body)
    assert xss.executable(html) == [], html


def test_links_get_rel_and_only_safe_schemes_survive() -> None:
    html = render("[a](https://ok.example) [b](mailto:a@example.org) [c](ftp://x.example)")
    assert '<a href="https://ok.example" rel="nofollow ugc noopener">a</a>' in html
    assert 'href="mailto:a@example.org"' in html
    assert 'href="ftp' not in html
    assert ">c</a>" in html  # the link text stays; only the unsafe target is dropped


def test_markdown_subset() -> None:
    html = render("# Not a heading\n\n> quote\n\n- one\n- two\n\n`code` and **strong**")
    assert "<h1>" not in html
    assert "<blockquote>" in html
    assert "<ul>" in html
    assert "<code>code</code>" in html
    assert "<strong>strong</strong>" in html


def test_hostile_comments_are_inert_in_the_api(client: TestClient) -> None:
    for body in xss.BODIES:
        assert post(client, body=body).status_code == 201
    for name in xss.NAMES:
        assert post(client, body="x", author_name=name).status_code == 201
    for website in xss.WEBSITES:
        assert post(client, body="x", author_website=website).status_code == 422
    data = client.get("/api/v1/comments", params={"uri": "/story", "limit": 1000}).json()
    for item in data["items"]:
        assert xss.executable(item["html"]) == [], item["html"]


def test_hostile_comments_are_inert_in_the_pages(client: TestClient) -> None:
    for body in xss.BODIES:
        post(client, body=body)
    for name in xss.NAMES:
        post(client, body="named", author_name=name)
    for path in ("/comments", "/comments/fragment"):
        page = client.get(path, params={"uri": "/story"}).text
        start = page.index('<ol class="vp-list">')
        # Our own forms are allowed; nothing the readers wrote may add markup that runs.
        assert xss.executable(page[start:], allow=xss.PAGE_FORMS) == [], path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "Zoë 🙂" in page


def test_security_headers_on_pages_and_api(client: TestClient) -> None:
    page = client.get("/comments", params={"uri": "/story"})
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    api = client.get("/api/v1/comments", params={"uri": "/story"})
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in api.headers


def test_hsts_when_public_url_is_https(make_client: Any) -> None:
    client = make_client(public_url="https://comments.example")
    r = client.get("/healthz")
    assert r.headers["strict-transport-security"].startswith("max-age=")


def test_cors_allows_configured_origins_only(make_client: Any) -> None:
    client = make_client(env="production", allowed_origins="https://news.example")
    ok = client.options(
        "/api/v1/comments",
        headers={
            "Origin": "https://news.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == "https://news.example"
    assert "Authorization" in ok.headers["access-control-allow-headers"]
    bad = client.options(
        "/api/v1/comments",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in bad.headers
    got = client.get(
        "/api/v1/comments", params={"uri": "/a"}, headers={"Origin": "https://news.example"}
    )
    assert got.headers["access-control-allow-origin"] == "https://news.example"
    assert "Origin" in got.headers["vary"]
    # A write from a foreign origin is refused even if the browser did send it.
    r = client.post(
        "/api/v1/comments",
        json={"uri": "/a", "body": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403
    assert r.json()["code"] == "origin_not_allowed"
    assert (
        client.post(
            "/api/v1/comments",
            json={"uri": "/a", "body": "x"},
            headers={"Origin": "https://news.example"},
        ).status_code
        == 201
    )


def test_dev_mode_allows_localhost_origins(client: TestClient) -> None:
    r = client.options(
        "/api/v1/comments",
        headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST"},
    )
    assert r.headers["access-control-allow-origin"] == "http://localhost:5173"


def test_reader_tokens_are_signed_with_the_secret(make_client: Any) -> None:
    one = make_client()
    token = post(one).json()["reader_token"]
    other = make_client(secret_key="a-different-secret-key-0123456789")
    r = other.post(
        "/api/v1/comments",
        json={"uri": "/a", "body": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 401
    reader_id, signature = token.split(".")[1:]
    forged = f"r1.{int(reader_id) + 1}.{signature}"
    r = one.post(
        "/api/v1/comments",
        json={"uri": "/a", "body": "x"},
        headers={"Authorization": f"Bearer {forged}"},
    )
    assert r.status_code == 401
