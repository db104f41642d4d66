"""Atom feeds of approved comments, per article and per site: valid Atom (feedparser and a
strict XML parser), only what the thread shows, stable ids, links under the public URL,
hostile text escaped, ETag and 304, errors. Both backends, over HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import feedparser
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from .conftest import ADMIN, AppFactory, post

AUTH = {"Authorization": f"Bearer {ADMIN}"}
NS = {"a": "http://www.w3.org/2005/Atom"}
FEED = "/feeds/comments.atom"
LINKS = "see http://a.example http://b.example http://c.example"  # held by the policy


def feed(client: TestClient, uri: str | None = "/story", **params: str) -> Any:
    """GET a feed, check it is a well-formed, valid Atom feed, and return it parsed."""
    r = client.get(FEED, params={**({"uri": uri} if uri is not None else {}), **params})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/atom+xml; charset=utf-8"
    ET.fromstring(r.content)  # strict XML 1.0: raises on anything not well-formed
    parsed = feedparser.parse(r.content)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    parsed.response = r
    return parsed


def entry_ids(parsed: Any) -> list[int]:
    """The comment ids of a feed's entries, in feed order (from their links' anchors)."""
    return [int(e.link.rsplit("c", 1)[1]) for e in parsed.entries]


def moderate(client: TestClient, comment_id: int, action: str) -> None:
    r = client.post(
        f"/api/v1/admin/comments/{comment_id}/moderate", json={"action": action}, headers=AUTH
    )
    assert r.status_code == 200, r.text


def posted(client: TestClient, token: str | None = None, **body: Any) -> Any:
    r = post(client, token, **body)
    assert r.status_code == 201, r.text
    return r.json()


def sql(client: TestClient, statement: str, **params: Any) -> None:
    with client.database.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text(statement), params)


def two_sites(make_client: AppFactory, tmp_path: Path, **overrides: str) -> TestClient:
    config = tmp_path / "voxpop.toml"
    config.write_text(
        '[sites.tribune]\ntitle = "The Tribune"\norigins = ["https://tribune.example"]\n'
        '[sites.bare]\ntitle = "Bare"\n'
    )
    return make_client(config=str(config), **overrides)


# --- what is in a feed ------------------------------------------------------------------


def test_article_feed_holds_exactly_the_approved_comments(client: TestClient) -> None:
    first = posted(client, body="first", author_name="Ann", title="The story")
    reply = posted(client, body="a reply", parent_id=first["id"], author_name="Bo")
    pending = posted(client, body=LINKS)
    assert pending["status"] == "pending"
    spam = posted(client, body="buy now")
    moderate(client, spam["id"], "spam")
    rejected = posted(client, body="rude")
    moderate(client, rejected["id"], "reject")
    deleted = posted(client, body="regretted")
    moderate(client, deleted["id"], "delete")
    author = posted(client, body="before the shadow ban")
    r = client.put(
        f"/api/v1/admin/authors/{author['reader_token'].split('.')[1]}",
        json={"shadowed": True},
        headers=AUTH,
    )
    assert r.status_code == 200
    shadowed = posted(client, author["reader_token"], body="seen by its author only")
    # A reply below a comment that is then held disappears with it, as in the thread.
    held_top = posted(client, body="soon held")
    below_held = posted(client, body="below a held comment", parent_id=held_top["id"])
    moderate(client, held_top["id"], "reject")
    # A reply below a deleted comment stays, as in the thread (under a placeholder).
    gone_top = posted(client, body="soon deleted")
    below_gone = posted(client, body="below a deleted comment", parent_id=gone_top["id"])
    moderate(client, gone_top["id"], "delete")

    parsed = feed(client)
    shown = [below_gone["id"], author["id"], reply["id"], first["id"]]
    assert entry_ids(parsed) == shown  # newest first, replies included
    for hidden in (pending, spam, rejected, deleted, shadowed, held_top, below_held, gone_top):
        assert hidden["id"] not in entry_ids(parsed)
    assert b"before the shadow ban" in parsed.response.content
    assert b"seen by its author only" not in parsed.response.content
    assert b"buy now" not in parsed.response.content

    # Approved later: in the feed from then on.
    moderate(client, pending["id"], "approve")
    assert pending["id"] in entry_ids(feed(client))


def test_feed_and_entry_fields(make_client: AppFactory) -> None:
    client = make_client(public_url="https://comments.example.com")
    top = posted(
        client, body="*Hello*", author_name="Ann", author_email="ann@example.com", title="Story"
    )
    anonymous = posted(client, body="no name")
    parsed = feed(client)
    f = parsed.feed
    assert f.title == "Comments on “Story”"
    assert f.id == "https://comments.example.com/feeds/comments.atom?uri=%2Fstory"
    links = {link.rel: link for link in f.links}
    assert links["self"].href == f.id
    assert links["self"].type == "application/atom+xml"
    # The default site's origin is the public URL: the article is read there.
    assert links["alternate"].href == "https://comments.example.com/story"
    assert f.generator == "voxpop"
    newest, oldest = parsed.entries
    assert oldest.title == "Ann on Story"
    assert oldest.author == "Ann"
    assert newest.title == "Anonymous on Story"
    assert newest.author == "Anonymous"
    assert oldest.link == f"https://comments.example.com/story#voxpop-c{top['id']}"
    assert newest.link == f"https://comments.example.com/story#voxpop-c{anonymous['id']}"
    assert oldest.id.startswith("tag:comments.example.com,")
    assert oldest.id.endswith(f":/comment/{top['id']}")
    assert oldest.published == top["created_at"]
    assert oldest.updated == top["created_at"]
    assert f.updated == anonymous["created_at"]
    assert oldest.content[0].type == "text/html"
    assert oldest.content[0].value == "<p><em>Hello</em></p>"
    # Never the e-mail address.
    assert b"ann@example.com" not in parsed.response.content


def test_entry_ids_are_stable_across_requests_and_edits(client: TestClient) -> None:
    mine = posted(client, body="first version", author_name="Ann")
    before = feed(client).entries[0]
    assert feed(client).entries[0].id == before.id
    client.clock.advance(seconds=30)  # type: ignore[attr-defined]
    r = client.patch(
        f"/api/v1/comments/{mine['id']}",
        json={"body": "second version"},
        headers={"Authorization": f"Bearer {mine['reader_token']}"},
    )
    assert r.status_code == 200, r.text
    after = feed(client).entries[0]
    assert after.id == before.id
    assert after.published == before.published
    assert after.updated == r.json()["edited_at"] != before.updated
    assert after.content[0].value == "<p>second version</p>"
    # The same comment has the same id in the site's feed.
    assert feed(client, None).entries[0].id == before.id


def test_feed_holds_the_newest_fifty(client: TestClient) -> None:
    ids = [posted(client, body=f"comment {n}")["id"] for n in range(55)]
    assert entry_ids(feed(client)) == list(reversed(ids))[:50]


def test_a_closed_article_keeps_its_feed_like_its_thread(client: TestClient) -> None:
    kept = posted(client, body="said before closing")
    r = client.post(
        "/api/v1/admin/articles/close", json={"uri": "/story", "closed": True}, headers=AUTH
    )
    assert r.status_code == 200
    assert entry_ids(feed(client)) == [kept["id"]]


# --- links ------------------------------------------------------------------------------


def test_links_follow_the_site_configuration(make_client: AppFactory, tmp_path: Path) -> None:
    client = two_sites(
        make_client,
        tmp_path,
        public_url="https://comments.example.com/vp",
        allowed_origins="https://news.example",
    )
    on_tribune = posted(client, site="tribune", body="on the tribune")
    on_bare = posted(client, site="bare", body="on a site without origins")

    tribune = feed(client, site="tribune")
    assert tribune.feed.id == (
        "https://comments.example.com/vp/feeds/comments.atom?uri=%2Fstory&site=tribune"
    )
    alternate = next(link for link in tribune.feed.links if link.rel == "alternate")
    assert alternate.href == "https://tribune.example/story"
    assert tribune.entries[0].link == f"https://tribune.example/story#voxpop-c{on_tribune['id']}"
    assert tribune.entries[0].id.startswith("tag:comments.example.com,")
    assert tribune.entries[0].id.endswith(f":/vp/comment/{on_tribune['id']}")

    # No origin to read the article at: the thread page here, with its own anchors.
    bare = feed(client, site="bare")
    page = "https://comments.example.com/vp/comments?uri=%2Fstory&site=bare"
    alternate = next(link for link in bare.feed.links if link.rel == "alternate")
    assert alternate.href == page
    assert bare.entries[0].link == f"{page}#c{on_bare['id']}"
    site_feed = feed(client, None, site="bare")
    assert site_feed.feed.id == "https://comments.example.com/vp/feeds/comments.atom?site=bare"
    assert not [link for link in site_feed.feed.links if link.rel == "alternate"]


def test_the_thread_page_announces_its_feed(make_client: AppFactory, tmp_path: Path) -> None:
    client = two_sites(make_client, tmp_path)
    # Nothing to announce for an article nobody has written about yet (its feed is a 404).
    empty = client.get("/comments", params={"uri": "/story"}).text
    assert "application/atom+xml" not in empty
    posted(client, body="hello")
    page = client.get("/comments", params={"uri": "/story"}).text
    head = page.split("</head>")[0]
    assert (
        '<link rel="alternate" type="application/atom+xml" title="Comments on “/story”" '
        'href="/feeds/comments.atom?uri=%2Fstory">'
    ) in head
    body = page.split("<body>")[1]
    assert (
        '<a href="/feeds/comments.atom?uri=%2Fstory" type="application/atom+xml">'
        "Comment feed (Atom)</a>"
    ) in body
    assert client.get("/feeds/comments.atom?uri=%2Fstory").status_code == 200
    posted(client, site="tribune", body="hallo")
    other = client.get("/comments", params={"uri": "/story", "site": "tribune"}).text
    assert 'href="/feeds/comments.atom?uri=%2Fstory&amp;site=tribune"' in other


# --- hostile text -----------------------------------------------------------------------


def test_hostile_text_stays_escaped_and_the_xml_well_formed(client: TestClient) -> None:
    body = 'x <script>alert(1)</script> ]]> <![CDATA[ & "quotes" \u202eevil'
    name = "مرحبا 🎉 <b>&amp;"
    title = "Ünïcødé ✓ <i>title</i> & ]]> עברית"
    hostile = posted(client, body=body, author_name=name, title=title)
    # What validation would never let in, an import or an old row may hold: control
    # characters and lone surrogates are dropped from the feed, not sent as broken XML.
    sql(
        client,
        "UPDATE comments SET author_name = :name, html = :html WHERE id = :id",
        name="A\x01n\x1bn\x7f",
        html="<p>bell\x07 and vertical\x0b tab</p>",
        id=posted(client, body="later")["id"],
    )
    parsed = feed(client)
    raw = parsed.response.content
    assert b"<script" not in raw
    assert b"]]>" not in raw
    assert b"\x01" not in raw and b"\x07" not in raw and b"\x0b" not in raw

    root = ET.fromstring(raw)
    entries = root.findall("a:entry", NS)
    names = [e.findtext("a:author/a:name", namespaces=NS) for e in entries]
    assert names == ["Ann", name]
    contents = [e.findtext("a:content", namespaces=NS) for e in entries]
    assert contents[0] == "<p>bell and vertical tab</p>"
    stored = client.get(f"/api/v1/comments/{hostile['id']}").json()["html"]
    assert contents[1] == stored  # the stored, sanitised HTML, exactly
    assert "<script>" not in stored and "&lt;script&gt;" in stored
    assert entries[1].findtext("a:title", namespaces=NS) == f"{name} on {title}"
    assert root.findtext("a:title", namespaces=NS) == f"Comments on “{title}”"
    assert parsed.entries[1].title == f"{name} on {title}"


# --- HTTP -------------------------------------------------------------------------------


def test_headers_etag_and_304(client: TestClient) -> None:
    posted(client, body="one")
    first = feed(client).response
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "public, max-age=60"
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    for header in (etag, etag.removeprefix("W/"), f'"other", {etag}', "*"):
        again = client.get(FEED, params={"uri": "/story"}, headers={"If-None-Match": header})
        assert again.status_code == 304, header
        assert again.content == b""
        assert again.headers["etag"] == etag
    stale = client.get(FEED, params={"uri": "/story"}, headers={"If-None-Match": '"other"'})
    assert stale.status_code == 200 and stale.content == first.content

    held = posted(client, body=LINKS)
    etag = feed(client).response.headers["etag"]
    moderate(client, held["id"], "approve")
    changed = client.get(FEED, params={"uri": "/story"}, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert held["id"] in entry_ids(feedparser.parse(changed.content))


def test_site_feed_etag_changes_with_every_approval(client: TestClient) -> None:
    posted(client, uri="/a", body="on a")
    site = feed(client, None).response
    etag = site.headers["etag"]
    assert site.headers["cache-control"] == "public, max-age=60"
    assert client.get(FEED, headers={"If-None-Match": etag}).status_code == 304
    # An old comment approved late: not the newest, yet the feed changes.
    held = posted(client, uri="/b", body=LINKS)
    posted(client, uri="/c", body="on c")
    etag = feed(client, None).response.headers["etag"]
    moderate(client, held["id"], "approve")
    after = client.get(FEED, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert held["id"] in entry_ids(feedparser.parse(after.content))
    # So do an edit and a removal.
    etag = after.headers["etag"]
    r = client.patch(f"/api/v1/comments/{held['id']}", json={"body": "edited"}, headers=AUTH)
    assert r.status_code == 200, r.text
    edited = client.get(FEED, headers={"If-None-Match": etag})
    assert edited.status_code == 200 and b"&lt;p&gt;edited&lt;/p&gt;" in edited.content
    moderate(client, held["id"], "reject")
    removed = client.get(FEED, headers={"If-None-Match": edited.headers["etag"]})
    assert removed.status_code == 200
    assert held["id"] not in entry_ids(feedparser.parse(removed.content))


def test_site_feed_spans_articles_and_stays_on_its_site(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = two_sites(make_client, tmp_path)
    a = posted(client, uri="/a", body="on a", title="Article A")
    other = posted(client, uri="/a", site="tribune", body="same path, other site")
    b = posted(client, uri="/b", body="on b", author_name="Bo")
    held = posted(client, uri="/b", body=LINKS)
    reply = posted(client, uri="/a", body="reply on a", parent_id=a["id"])

    default = feed(client, None)
    assert default.feed.title == "Comments on voxpop demo newsroom"
    assert entry_ids(default) == [reply["id"], b["id"], a["id"]]
    assert held["id"] not in entry_ids(default)
    assert [e.link for e in default.entries] == [
        f"http://testserver/a#voxpop-c{reply['id']}",
        f"http://testserver/b#voxpop-c{b['id']}",
        f"http://testserver/a#voxpop-c{a['id']}",
    ]
    assert default.entries[1].title == "Bo on /b"
    assert default.entries[2].title == "Anonymous on Article A"

    tribune = feed(client, None, site="tribune")
    assert tribune.feed.title == "Comments on The Tribune"
    assert entry_ids(tribune) == [other["id"]]
    assert tribune.entries[0].link == f"https://tribune.example/a#voxpop-c{other['id']}"
    # The per-article feed of the same path is per site too.
    assert entry_ids(feed(client, "/a")) == [reply["id"], a["id"]]
    assert entry_ids(feed(client, "/a", site="tribune")) == [other["id"]]
    # A site without comments has an empty, valid feed.
    assert feed(client, None, site="bare").entries == []


def test_errors(client: TestClient) -> None:
    posted(client, body="exists")
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"uri": "/nope"}, 404, "unknown_article"),
        ({"uri": "/story", "site": "nope"}, 404, "unknown_site"),
        ({"site": "nope"}, 404, "unknown_site"),
        ({"uri": ""}, 422, "validation_error"),
        ({"uri": "/a b"}, 422, "validation_error"),
        ({"uri": "/a\x01"}, 422, "validation_error"),
        ({"uri": "/" + "a" * 2000}, 422, "validation_error"),
        ({"uri": "javascript:alert(1)"}, 422, "validation_error"),
    ]
    for params, status, code in cases:
        r = client.get(FEED, params=params)
        assert r.status_code == status, (params, r.text)
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == code
    # A browser gets the HTML error page, like on the other pages.
    page = client.get(FEED, params={"uri": "/nope"}, headers={"Accept": "text/html"})
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    "query",
    [
        "uri=%00",
        "uri=%ff%fe",
        "uri=%ED%A0%80",
        "uri=/story&uri=",
        "uri=/story&site=",
        "site=%00",
        "site=" + "x" * 5000,
        "uri=http://%5B::1",
        "uri=//evil.example/x",
        "uri=/story%23frag&lang=xx&unknown=1",
        "uri=%2Fstory%3Fq%3D%3Cscript%3E",
    ],
)
def test_odd_queries_never_fail_on_our_side(client: TestClient, query: str) -> None:
    posted(client, body="exists")
    r = client.get(f"{FEED}?{query}")
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert feedparser.parse(r.content).bozo == 0
