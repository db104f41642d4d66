"""The embeddable widget (/embed.js) in Chromium: posting, replying, voting, sorting, paging,
editing, the keyboard, hostile content, German, the strict CSP and comment counts.

Every test gets its own article (a unique ``/e2e/...`` uri) on a host page that Playwright
serves at ``<server>/e2e-host/...``: same origin as the server, and by default with the
server's own strict page CSP, as the demo article pages have.
"""

from __future__ import annotations

import functools
import html
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from .. import xss
from .conftest import ADMIN, ROOT, Server

I18N = ROOT / "src" / "voxpop" / "web" / "i18n"

HOST = """<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<main>
<h1>{title}</h1>
<p>An article of the end-to-end tests. The comments are below.</p>
{extra}
{container}
</main>
<script src="/embed.js" data-voxpop-uri="{uri}"{attrs} async></script>
</body>
</html>
"""

# A comment that the server's auto moderation holds (three links or more).
HELD = "See [a](https://a.example), [b](https://b.example) and [c](https://c.example)."


# ---- the JSON API, for seeding and for checking the server's truth ----


def call(
    server: Server, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        server.url + path,
        method=method,
        headers=headers,
        data=None if body is None else json.dumps(body).encode(),
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def post(server: Server, uri: str, body: str, **fields: Any) -> dict[str, Any]:
    """Seeds a comment (a new reader unless ``token`` is given); returns the Comment."""
    token = fields.pop("token", None)
    status, data = call(
        server, "POST", "/api/v1/comments", {"uri": uri, "body": body, **fields}, token
    )
    assert status == 201, data
    return dict(data)


def vote(server: Server, comment_id: int, value: int, token: str | None = None) -> None:
    status, data = call(
        server, "PUT", f"/api/v1/comments/{comment_id}/vote", {"value": value}, token
    )
    assert status == 200, data


def thread(server: Server, uri: str, **query: str) -> dict[str, Any]:
    qs = urllib.parse.urlencode({"uri": uri, "limit": "1000", **query})
    status, data = call(server, "GET", f"/api/v1/comments?{qs}")
    assert status == 200, data
    return dict(data)


def unique(name: str) -> str:
    return f"/e2e/{name}-{uuid.uuid4().hex[:8]}"


@functools.cache
def page_policy(url: str) -> str:
    """The CSP the server sends with its own pages (the demo articles carry the widget)."""
    with urllib.request.urlopen(url + "/demo/harbour-bridge-reopens") as r:
        return str(r.headers["Content-Security-Policy"])


# ---- host pages ----


def host(
    page: Page,
    server: Server,
    uri: str,
    *,
    lang: str = "en",
    attrs: str = "",
    extra: str = "",
    container: bool = True,
    csp: bool = True,
    title: str = "An article with comments",
) -> str:
    """Serves a small article page carrying the widget for ``uri`` and opens it."""
    url = f"{server.url}/e2e-host{uri}"
    body = HOST.format(
        lang=lang,
        title=html.escape(title),
        uri=html.escape(uri),
        attrs=attrs,
        extra=extra,
        container='<div id="voxpop"></div>' if container else "",
    )
    headers = {"Content-Security-Policy": page_policy(server.url)} if csp else {}
    page.route(
        url,
        lambda route: route.fulfill(
            status=200, content_type="text/html; charset=utf-8", headers=headers, body=body
        ),
    )
    page.goto(url)
    return url


def loaded(page: Page) -> None:
    """Waits until the widget is built and its thread request has finished."""
    expect(page.locator("#voxpop .voxpop-thread:not([aria-busy])")).to_be_attached()


def comment(page: Page, comment_id: int | str) -> Any:
    return page.locator(f"#voxpop-c{comment_id}")


def by_text(page: Page, text: str) -> Any:
    """The comment article whose body contains ``text``."""
    return page.locator("article.voxpop-comment").filter(
        has=page.locator(".voxpop-body", has_text=text)
    )


def top_level_bodies(page: Page) -> Any:
    return page.locator("#voxpop ol.voxpop-thread > li.voxpop-item > article .voxpop-body")


def token_key(server: Server) -> str:
    return f"voxpop:token:{server.url}"


# A violation of script-src by eval() or new Function() logs nothing to the console (the
# page just gets an EvalError, which the widget could swallow); the DOM event always fires.
# It is reported through a binding, which survives reloads and is itself exempt from the CSP.
REPORT_VIOLATIONS = (
    "document.addEventListener('securitypolicyviolation', (e) => window.__voxpopCsp("
    "e.violatedDirective + ' blocked ' + e.blockedURI + ' at ' + e.sourceFile + ':' + e.lineNumber"
    "));"
)


def csp_watch(page: Page) -> list[str]:
    """Collects every Content-Security-Policy violation of a page: console and DOM events."""
    found: list[str] = []

    def console(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text:
            found.append(msg.text)

    page.on("console", console)
    page.expose_function("__voxpopCsp", lambda text: found.append(str(text)))
    page.add_init_script(REPORT_VIOLATIONS)
    return found


@pytest.fixture(autouse=True)
def no_csp_violations(page: Page) -> Iterator[list[str]]:
    """Every widget test also proves the widget runs under the strict CSP without a complaint."""
    found = csp_watch(page)
    yield found
    assert found == [], f"CSP violations: {found}"


@contextmanager
def reader(browser: Browser, **options: Any) -> Iterator[Page]:
    """A second reader: a fresh browser context (own localStorage, so no token yet)."""
    ctx = browser.new_context(**options)
    try:
        p = ctx.new_page()
        errors: list[str] = []
        p.on("pageerror", lambda exc: errors.append(str(exc)))
        p.on("dialog", lambda d: d.accept())
        csp = csp_watch(p)
        yield p
        assert errors == [], f"JavaScript errors on the second reader's page: {errors}"
        assert csp == [], f"CSP violations on the second reader's page: {csp}"
    finally:
        ctx.close()


# ---- 1. posting ----


def test_post_appears_in_place_and_survives_a_reload(page: Page, server: Server) -> None:
    uri = unique("post")
    host(page, server, uri)
    loaded(page)
    heading = page.locator("h2#voxpop-heading .voxpop-count")
    expect(heading).to_have_text("No comments yet")
    page.evaluate("window.__sameDocument = true")

    form = page.locator("form.voxpop-form-new")
    form.get_by_label("Comment", exact=True).fill("Hello from the **widget**")
    form.get_by_label("Name (optional)").fill("Wendy Widget")
    form.get_by_role("button", name="Post comment").click()

    new = by_text(page, "Hello from the widget")
    expect(new).to_be_visible()
    expect(new.locator(".voxpop-body strong")).to_have_text("widget")
    expect(new.locator(".voxpop-author")).to_have_text("Wendy Widget")
    expect(new).to_have_class(re.compile(r"\bvoxpop-new\b"))
    expect(page.locator(".voxpop-status[role=status]")).to_have_text("Your comment was published.")
    expect(new).to_be_focused()
    expect(heading).to_have_text("1 comment")
    expect(form.get_by_label("Comment", exact=True)).to_have_value("")  # ready for the next one
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    comment_id = new.get_attribute("data-id")
    assert new.get_attribute("id") == f"voxpop-c{comment_id}"
    # Own comment: Edit and Delete, no vote buttons.
    expect(new.locator("button.voxpop-edit")).to_be_visible()
    expect(new.locator("button.voxpop-vote")).to_have_count(0)

    # The server has it, and the browser has a reader token.
    items = thread(server, uri)["items"]
    assert [(c["id"], c["author"]["name"]) for c in items] == [(int(comment_id), "Wendy Widget")]
    assert page.evaluate("(k) => localStorage.getItem(k)", token_key(server))

    # Reload without the locally remembered Markdown: ownership comes from GET /api/v1/me.
    page.evaluate(f"localStorage.removeItem('voxpop:bodies:{server.url}')")
    page.reload()
    loaded(page)
    again = comment(page, comment_id)
    expect(again.locator(".voxpop-body")).to_have_text("Hello from the widget")
    expect(heading).to_have_text("1 comment")
    expect(again.get_by_role("button", name="Edit", exact=True)).to_be_visible()
    expect(again.get_by_role("button", name="Delete", exact=True)).to_be_visible()
    expect(again.locator("button.voxpop-vote")).to_have_count(0)
    expect(again.locator(".voxpop-score .voxpop-sr")).to_have_text("Upvotes: 0, downvotes: 0")


def test_held_comment_is_announced_as_awaiting_moderation(
    page: Page, server: Server, browser: Browser
) -> None:
    uri = unique("held")
    host(page, server, uri)
    loaded(page)
    page.get_by_label("Comment", exact=True).fill(HELD)
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator(".voxpop-status")).to_have_text(
        "Your comment was received and awaits moderation."
    )
    held = by_text(page, "See a, b and c.")
    expect(held).to_have_class(re.compile(r"\bvoxpop-pending\b"))
    expect(held.locator(".voxpop-badge")).to_have_text("Awaiting moderation")
    expect(held).to_be_focused()
    expect(held.get_by_role("button", name="Reply", exact=True)).to_have_count(0)
    expect(page.locator(".voxpop-count")).to_have_text("No comments yet")  # not counted
    with reader(browser) as other:
        host(other, server, uri)
        loaded(other)
        expect(other.locator(".voxpop-count")).to_have_text("No comments yet")
        expect(other.locator("article.voxpop-comment")).to_have_count(0)


def test_a_reader_reports_a_comment_with_a_reason(page: Page, server: Server) -> None:
    uri = unique("report")
    other = post(server, uri, "Somebody else's opinion")
    host(page, server, uri)
    loaded(page)
    theirs = comment(page, other["id"])
    report = theirs.locator("button[data-act=report]")
    expect(report).to_have_text("Report")
    expect(report).to_have_attribute("aria-expanded", "false")
    report.click()
    expect(report).to_have_attribute("aria-expanded", "true")
    theirs.get_by_label("Reason").select_option("abuse")
    theirs.locator("form").get_by_role("button", name="Report").click()
    expect(page.locator(".voxpop-status")).to_have_text("Thanks, moderators will look at it.")
    expect(report).to_be_focused()
    expect(theirs.locator("form")).to_have_count(0)
    status, queue = call(server, "GET", "/api/v1/admin/queue?tab=flagged", token=ADMIN)
    assert status == 200
    flagged = [i for i in queue["items"] if i["id"] == other["id"]]
    assert [f["reason"] for f in flagged[0]["flags"]] == ["abuse"]
    # One's own comments have no Report button.
    page.get_by_label("Comment", exact=True).fill("My own words")
    page.get_by_role("button", name="Post comment").click()
    mine = by_text(page, "My own words")
    expect(mine).to_be_visible()
    expect(mine.get_by_role("button", name="Report")).to_have_count(0)


# ---- 2. replying ----


def test_reply_is_nested_and_cancel_or_escape_return_focus(page: Page, server: Server) -> None:
    uri = unique("reply")
    parent = post(server, uri, "The parent comment", author_name="Paula Parent")
    host(page, server, uri)
    loaded(page)
    art = comment(page, parent["id"])
    reply_button = art.get_by_role("button", name="Reply", exact=True)
    expect(reply_button).to_have_attribute("aria-expanded", "false")

    reply_button.click()
    form = art.locator("form.voxpop-form-reply")
    expect(form).to_be_visible()
    expect(form).to_have_attribute("aria-label", "Reply to Paula Parent")
    expect(reply_button).to_have_attribute("aria-expanded", "true")
    expect(form.get_by_label("Comment", exact=True)).to_be_focused()
    form.get_by_label("Comment", exact=True).fill("A nested answer")
    form.get_by_label("Name (optional)").fill("Rory Reply")
    form.get_by_role("button", name="Post reply").click()

    nested = page.locator(
        f"li.voxpop-item:has(> #voxpop-c{parent['id']}) > ol.voxpop-replies"
        " > li.voxpop-item > article.voxpop-comment"
    )
    expect(nested).to_have_count(1)
    expect(nested.locator(".voxpop-body")).to_have_text("A nested answer")
    expect(nested).to_be_focused()
    expect(form).to_have_count(0)
    expect(reply_button).to_have_attribute("aria-expanded", "false")
    expect(page.locator(".voxpop-status")).to_have_text("Your comment was published.")
    expect(page.locator(".voxpop-count")).to_have_text("2 comments")
    expect(top_level_bodies(page)).to_have_text(["The parent comment"])
    server_reply = thread(server, uri)["items"][0]["replies"]
    assert [(r["html"], r["parent_id"]) for r in server_reply] == [
        ("<p>A nested answer</p>", parent["id"])
    ]

    # Cancel closes the form and puts focus back on the Reply button.
    reply_button.click()
    expect(form).to_be_visible()
    form.get_by_role("button", name="Cancel", exact=True).click()
    expect(form).to_have_count(0)
    expect(reply_button).to_be_focused()
    expect(reply_button).to_have_attribute("aria-expanded", "false")

    # So does Escape, from inside the form.
    reply_button.click()
    expect(form.get_by_label("Comment", exact=True)).to_be_focused()
    form.get_by_label("Comment", exact=True).fill("never sent")
    page.keyboard.press("Escape")
    expect(form).to_have_count(0)
    expect(reply_button).to_be_focused()
    assert len(thread(server, uri)["items"][0]["replies"]) == 1


# ---- 3. voting ----


def test_votes_toggle_switch_and_are_remembered(
    page: Page, server: Server, browser: Browser
) -> None:
    uri = unique("vote")
    host(page, server, uri)
    loaded(page)
    page.get_by_label("Comment", exact=True).fill("Vote on me")
    page.get_by_role("button", name="Post comment").click()
    mine = by_text(page, "Vote on me")
    expect(mine).to_be_focused()
    comment_id = mine.get_attribute("data-id")
    expect(mine.locator("button.voxpop-vote")).to_have_count(0)  # own comment

    with reader(browser) as other:
        host(other, server, uri)
        loaded(other)
        theirs = comment(other, comment_id)
        up = theirs.locator("button.voxpop-up")
        down = theirs.locator("button.voxpop-down")
        expect(up).to_have_attribute("aria-label", "Upvote (0)")
        expect(up).to_have_attribute("aria-pressed", "false")
        expect(down).to_have_attribute("aria-label", "Downvote (0)")
        expect(down).to_have_attribute("aria-pressed", "false")

        def server_votes() -> dict[str, int]:
            return dict(thread(server, uri, sort="old")["items"][0]["votes"])

        assert cast_vote(other, up) == {"up": 1, "down": 0, "mine": 1}
        expect(up).to_have_attribute("aria-pressed", "true")
        expect(up).to_have_attribute("aria-label", "Upvote (1)")
        expect(theirs.get_by_role("button", name="Upvote (1)")).to_be_visible()
        assert server_votes() == {"up": 1, "down": 0}

        assert cast_vote(other, up)["mine"] == 0  # the same button again withdraws the vote
        expect(up).to_have_attribute("aria-pressed", "false")
        expect(up).to_have_attribute("aria-label", "Upvote (0)")
        assert server_votes() == {"up": 0, "down": 0}

        cast_vote(other, up)
        expect(up).to_have_attribute("aria-label", "Upvote (1)")
        assert cast_vote(other, down) == {"up": 0, "down": 1, "mine": -1}  # switching moves it
        expect(down).to_have_attribute("aria-pressed", "true")
        expect(down).to_have_attribute("aria-label", "Downvote (1)")
        expect(up).to_have_attribute("aria-pressed", "false")
        expect(up).to_have_attribute("aria-label", "Upvote (0)")
        assert server_votes() == {"up": 0, "down": 1}

        other.reload()
        loaded(other)
        theirs = comment(other, comment_id)
        expect(theirs.locator("button.voxpop-down")).to_have_attribute("aria-pressed", "true")
        expect(theirs.locator("button.voxpop-down")).to_have_attribute("aria-label", "Downvote (1)")
        expect(theirs.locator("button.voxpop-up")).to_have_attribute("aria-pressed", "false")
        # A reader's own comment: no vote buttons for them either.
        other.get_by_label("Comment", exact=True).fill("Second reader's own")
        other.get_by_role("button", name="Post comment").click()
        expect(by_text(other, "Second reader's own")).to_be_focused()
        expect(by_text(other, "Second reader's own").locator("button.voxpop-vote")).to_have_count(0)

    # The author sees the tally, still without buttons.
    page.reload()
    loaded(page)
    mine = comment(page, comment_id)
    expect(mine.locator(".voxpop-score .voxpop-sr")).to_have_text("Upvotes: 0, downvotes: 1")
    expect(mine.locator("button.voxpop-vote")).to_have_count(0)
    other_comment = by_text(page, "Second reader's own")
    expect(other_comment.locator("button.voxpop-vote")).to_have_count(2)


def cast_vote(page: Page, button: Any) -> dict[str, int]:
    """Clicks a vote button and waits for the server's answer (the widget ignores clicks
    while a vote of the comment is on its way, and shows the new state before the answer)."""
    with page.expect_response(
        lambda r: r.request.method == "PUT" and r.url.endswith("/vote")
    ) as info:
        button.click()
    response = info.value
    assert response.ok, (response.status, response.text())
    result = response.json()
    return {k: result[k] for k in ("up", "down", "mine")}


# ---- 4. sorting ----


def test_sort_select_reorders_the_thread(page: Page, server: Server) -> None:
    uri = unique("sort")
    oldest = post(server, uri, "Alpha, the oldest, no votes")
    middle = post(server, uri, "Bravo, three upvotes")
    newest = post(server, uri, "Charlie, the newest, one upvote")
    post(server, uri, "A reply to Alpha", parent_id=oldest["id"])
    for _ in range(3):
        vote(server, middle["id"], 1)  # three new readers
    vote(server, newest["id"], 1)

    host(page, server, uri)
    loaded(page)
    select = page.get_by_label("Sort by")
    expect(select).to_have_value("best")
    best = [
        "Bravo, three upvotes",
        "Charlie, the newest, one upvote",
        "Alpha, the oldest, no votes",
    ]
    expect(top_level_bodies(page)).to_have_text(best)

    select.select_option("new")
    expect(top_level_bodies(page)).to_have_text(
        ["Charlie, the newest, one upvote", "Bravo, three upvotes", "Alpha, the oldest, no votes"]
    )
    select.select_option("old")
    expect(top_level_bodies(page)).to_have_text(
        ["Alpha, the oldest, no votes", "Bravo, three upvotes", "Charlie, the newest, one upvote"]
    )
    # Replies stay under their parent whatever the order.
    expect(page.locator(f"#voxpop-c{oldest['id']} ~ ol.voxpop-replies .voxpop-body")).to_have_text(
        ["A reply to Alpha"]
    )
    select.select_option("best")
    expect(top_level_bodies(page)).to_have_text(best)
    expect(page.locator(".voxpop-count")).to_have_text("4 comments")


def test_sort_attribute_sets_the_initial_order(page: Page, server: Server) -> None:
    uri = unique("sort-attr")
    post(server, uri, "First")
    post(server, uri, "Second")
    host(page, server, uri, attrs=' data-voxpop-sort="new"')
    loaded(page)
    expect(page.get_by_label("Sort by")).to_have_value("new")
    expect(top_level_bodies(page)).to_have_text(["Second", "First"])


# ---- 5. paging ----


def test_load_more_appends_pages_until_the_end(page: Page, server: Server) -> None:
    uri = unique("more")
    seeded = [post(server, uri, f"Seed {i:02d}")["id"] for i in range(62)]
    post(server, uri, "A reply on the first page", parent_id=seeded[0])
    host(page, server, uri, attrs=' data-voxpop-sort="old" data-voxpop-limit="25"')
    loaded(page)
    more = page.get_by_role("button", name="Load more comments")
    articles = page.locator("#voxpop ol.voxpop-thread > li.voxpop-item > article")
    expect(page.locator(".voxpop-count")).to_have_text("63 comments")
    expect(articles).to_have_count(25)
    expect(more).to_be_visible()

    more.click()
    expect(articles).to_have_count(50)
    expect(articles.nth(25)).to_be_focused()  # focus goes to the first new comment
    expect(more).to_be_visible()
    more.click()
    expect(articles).to_have_count(62)
    expect(more).to_be_hidden()

    ids = [int(x) for x in articles.evaluate_all("(els) => els.map((e) => e.dataset.id)")]
    assert ids == seeded, "every comment once, in order, none twice"
    expect(top_level_bodies(page)).to_have_text([f"Seed {i:02d}" for i in range(62)])
    expect(page.locator(f"#voxpop-c{seeded[0]} ~ ol.voxpop-replies article")).to_have_count(1)


def test_default_page_size_is_fifty(page: Page, server: Server) -> None:
    uri = unique("more-default")
    for i in range(51):
        post(server, uri, f"Default {i:02d}")
    host(page, server, uri)
    loaded(page)
    articles = page.locator("#voxpop ol.voxpop-thread > li.voxpop-item > article")
    expect(articles).to_have_count(50)
    page.get_by_role("button", name="Load more comments").click()
    expect(articles).to_have_count(51)
    expect(page.get_by_role("button", name="Load more comments")).to_be_hidden()
    texts = top_level_bodies(page).all_inner_texts()
    assert sorted(texts) == [f"Default {i:02d}" for i in range(51)]


# ---- 6. editing and deleting ----


def test_edit_and_delete_own_comments(page: Page, server: Server) -> None:
    uri = unique("edit")
    dialogs: list[str] = []
    page.on("dialog", lambda d: dialogs.append(d.message))  # the fixture accepts them
    host(page, server, uri)
    loaded(page)
    box = page.get_by_label("Comment", exact=True).first
    box.fill("Frist draft with a typo")
    page.get_by_role("button", name="Post comment").click()
    first = by_text(page, "Frist draft")
    expect(first).to_be_focused()
    first_id = first.get_attribute("data-id")

    edit = first.get_by_role("button", name="Edit", exact=True)
    edit.click()
    form = first.locator("form.voxpop-form-edit")
    expect(form).to_have_attribute("aria-label", "Edit your comment")
    area = form.get_by_label("Comment", exact=True)
    expect(area).to_be_focused()
    expect(area).to_have_value("Frist draft with a typo")
    expect(first.locator(".voxpop-body")).to_be_hidden()
    expect(form.get_by_label("Name (optional)")).to_have_count(0)
    area.fill("First draft, **fixed**")
    form.get_by_role("button", name="Save", exact=True).click()
    first = comment(page, first_id)
    expect(first.locator(".voxpop-body")).to_have_text("First draft, fixed")
    expect(first.locator(".voxpop-body strong")).to_have_text("fixed")
    expect(first.locator(".voxpop-edited")).to_have_text("(edited)")
    expect(page.locator(".voxpop-status")).to_have_text("Your comment was updated.")
    expect(first).to_be_focused()
    expect(form).to_have_count(0)

    page.reload()
    loaded(page)
    first = comment(page, first_id)
    expect(first.locator(".voxpop-body")).to_have_text("First draft, fixed")
    expect(first.locator(".voxpop-edited")).to_have_text("(edited)")
    first.get_by_role("button", name="Edit", exact=True).click()  # the Markdown source comes back
    expect(first.get_by_label("Comment", exact=True)).to_have_value("First draft, **fixed**")
    first.get_by_role("button", name="Cancel", exact=True).click()
    expect(first.get_by_role("button", name="Edit", exact=True)).to_be_focused()

    # Delete a comment without replies: it goes.
    page.get_by_label("Comment", exact=True).first.fill("Short-lived")
    page.get_by_role("button", name="Post comment").click()
    short = by_text(page, "Short-lived")
    expect(short).to_be_focused()
    expect(page.locator(".voxpop-count")).to_have_text("2 comments")
    short_id = short.get_attribute("data-id")
    short.get_by_role("button", name="Delete", exact=True).click()
    expect(comment(page, short_id)).to_have_count(0)
    expect(page.locator(".voxpop-status")).to_have_text("Your comment was deleted.")
    expect(page.locator(".voxpop-count")).to_have_text("1 comment")
    assert dialogs == ["Delete this comment? This cannot be undone."]

    # Delete a comment that has a reply: a placeholder keeps the reply in place.
    post(server, uri, "Someone else's reply", parent_id=int(first_id))
    page.reload()
    loaded(page)
    first = comment(page, first_id)
    first.get_by_role("button", name="Delete", exact=True).click()
    expect(first).to_have_class(re.compile(r"\bvoxpop-deleted\b"))
    expect(first.locator(".voxpop-body")).to_have_text("This comment was deleted.")
    expect(first.get_by_role("button")).to_have_count(0)
    reply = page.locator(f"#voxpop-c{first_id} ~ ol.voxpop-replies article .voxpop-body")
    expect(reply).to_have_text(["Someone else's reply"])
    expect(page.locator(".voxpop-count")).to_have_text("1 comment")

    page.reload()  # the server agrees
    loaded(page)
    expect(comment(page, first_id).locator(".voxpop-body")).to_have_text(
        "This comment was deleted."
    )
    expect(comment(page, short_id)).to_have_count(0)
    expect(reply).to_have_text(["Someone else's reply"])
    items = thread(server, uri)["items"]
    assert [(c["id"], c["deleted"]) for c in items] == [(int(first_id), True)]


def test_edit_error_is_shown_in_the_form(page: Page, server: Server) -> None:
    """A save the server refuses (here: an empty body) shows its message as an alert."""
    uri = unique("edit-error")
    host(page, server, uri)
    loaded(page)
    page.get_by_label("Comment", exact=True).fill("Soon to be emptied")
    page.get_by_role("button", name="Post comment").click()
    mine = by_text(page, "Soon to be emptied")
    mine.get_by_role("button", name="Edit", exact=True).click()
    area = mine.get_by_label("Comment", exact=True)
    area.fill("   ")  # passes the browser's `required`, not the server
    mine.get_by_role("button", name="Save", exact=True).click()
    alert = mine.locator("form .voxpop-error[role=alert]")
    expect(alert).to_have_text("Your comment is empty or too long.")
    expect(area).to_have_attribute("aria-invalid", "true")
    expect(area).to_be_focused()
    described = area.get_attribute("aria-describedby") or ""
    assert alert.get_attribute("id") in described.split()


# ---- 7. the keyboard alone ----


FOCUSED = """() => {
  const a = document.activeElement;
  const art = a.closest('article.voxpop-comment');
  const what = a.matches('article') ? 'article' : a.name || a.classList[a.classList.length - 1]
    || a.tagName.toLowerCase();
  return what + (art ? '@' + art.dataset.id : '');
}"""


def focused(page: Page) -> str:
    return str(page.evaluate(FOCUSED))


def tab(page: Page, key: str = "Tab") -> str:
    page.keyboard.press(key)
    return focused(page)


def test_whole_flow_by_keyboard_alone(page: Page, server: Server) -> None:
    uri = unique("keyboard")
    other = post(server, uri, "Written by someone else", author_name="Olga Other")
    page.add_init_script(
        "window.__pointer = 0;"
        "for (const t of ['mousedown', 'pointerdown', 'mouseup'])"
        "  addEventListener(t, (e) => { if (e.isTrusted) window.__pointer += 1 }, true);"
    )
    host(page, server, uri)
    loaded(page)
    o = other["id"]

    # Reach the form: the sort control comes first, then the text area.
    assert tab(page) == "sort"
    assert tab(page) == "body"
    page.keyboard.type("Typed with the **keyboard**")
    assert tab(page) == "author_name"
    page.keyboard.type("Kim Keys")
    assert tab(page) == "author_email"
    assert tab(page) == "author_website"
    assert tab(page) == "voxpop-submit"
    page.keyboard.press("Enter")
    mine = by_text(page, "Typed with the keyboard")
    expect(mine).to_be_focused()
    expect(page.locator(".voxpop-status")).to_have_text("Your comment was published.")
    m = mine.get_attribute("data-id")
    expect(mine.locator(".voxpop-author")).to_have_text("Kim Keys")

    # On from the new comment: its controls, then the other comment's, in reading order.
    path = [tab(page) for _ in range(8)]
    assert path == [
        f"voxpop-time@{m}",
        f"voxpop-reply@{m}",
        f"voxpop-edit@{m}",
        f"voxpop-delete@{m}",
        f"voxpop-time@{o}",
        f"voxpop-up@{o}",
        f"voxpop-down@{o}",
        f"voxpop-reply@{o}",
    ]

    # Vote: Shift+Tab back to Upvote, Space presses it, focus stays.
    assert tab(page, "Shift+Tab") == f"voxpop-down@{o}"
    assert tab(page, "Shift+Tab") == f"voxpop-up@{o}"
    page.keyboard.press("Space")
    up = comment(page, o).locator("button.voxpop-up")
    expect(up).to_have_attribute("aria-pressed", "true")
    expect(up).to_have_attribute("aria-label", "Upvote (1)")
    expect(up).to_be_focused()

    # Reply: Enter on Reply opens the form in place, Escape closes it, Enter again.
    assert tab(page) == f"voxpop-down@{o}"
    assert tab(page) == f"voxpop-reply@{o}"
    page.keyboard.press("Enter")
    assert focused(page) == f"body@{o}"
    page.keyboard.type("dropped")
    page.keyboard.press("Escape")
    expect(comment(page, o).locator("form")).to_have_count(0)
    assert focused(page) == f"voxpop-reply@{o}"
    page.keyboard.press("Enter")
    assert focused(page) == f"body@{o}"
    expect(comment(page, o).locator("textarea")).to_have_value("")
    page.keyboard.type("A reply, by keyboard")
    assert [tab(page) for _ in range(5)] == [
        f"author_name@{o}",
        f"author_email@{o}",
        f"author_website@{o}",
        f"voxpop-submit@{o}",
        f"voxpop-cancel@{o}",
    ]
    assert tab(page, "Shift+Tab") == f"voxpop-submit@{o}"
    page.keyboard.press("Enter")
    reply = page.locator(f"#voxpop-c{o} ~ ol.voxpop-replies article")
    expect(reply.locator(".voxpop-body")).to_have_text("A reply, by keyboard")
    expect(reply).to_be_focused()
    expect(reply.locator(".voxpop-author")).to_have_text("Kim Keys")  # the name was remembered

    # Sort: back up to the select and change it with the arrow keys.
    for _ in range(40):
        if tab(page, "Shift+Tab") == "sort":
            break
    assert focused(page) == "sort"
    expect(top_level_bodies(page)).to_have_text(
        ["Typed with the keyboard", "Written by someone else"]
    )
    page.keyboard.press("ArrowDown")  # Best -> Newest
    expect(page.locator("select.voxpop-sort-select")).to_have_value("new")
    page.keyboard.press("ArrowDown")  # Newest -> Oldest
    expect(page.locator("select.voxpop-sort-select")).to_have_value("old")
    expect(top_level_bodies(page)).to_have_text(
        ["Written by someone else", "Typed with the keyboard"]
    )
    page.keyboard.press("Home")  # Best: the upvoted comment first now
    expect(page.locator("select.voxpop-sort-select")).to_have_value("best")
    expect(top_level_bodies(page)).to_have_text(
        ["Written by someone else", "Typed with the keyboard"]
    )
    assert focused(page) == "sort"
    assert page.evaluate("window.__pointer") == 0, "a mouse or pointer event happened"


# ---- 8. hostile content ----


FORBIDDEN = (
    "script, img, svg, math, iframe, frame, object, embed, style, link, meta, base, form, "
    "input, button, textarea, select, details, noscript, template, video, audio, source"
)


def test_hostile_bodies_names_and_websites_stay_inert(page: Page, server: Server) -> None:
    uri = unique("hostile")
    seeded = [
        post(server, uri, body, author_name=xss.NAMES[i % len(xss.NAMES)])
        for i, body in enumerate(xss.BODIES)
    ]
    seeded += [post(server, uri, f"Signed {name}", author_name=name) for name in xss.NAMES]
    for c in seeded:  # auto moderation holds some (links): approve them, to render them all
        if c["status"] == "pending":
            status, data = call(
                server,
                "POST",
                f"/api/v1/admin/comments/{c['id']}/moderate",
                {"action": "approve"},
                ADMIN,
            )
            assert status == 200, data
    posted = len(seeded)
    for website in xss.WEBSITES:
        status, _ = call(
            server,
            "POST",
            "/api/v1/comments",
            {"uri": uri, "body": "My site", "author_name": "Site", "author_website": website},
        )
        assert status in (201, 422), status
        posted += status == 201
    page.add_init_script(
        "window.__xss = [];"
        "for (const f of ['alert', 'confirm', 'prompt', 'print'])"
        "  window[f] = (...a) => { window.__xss.push(f + ':' + a.join(',')) };"
    )
    # No CSP on this host page: most publishers have none, and a CSP would hide a hole.
    host(page, server, uri, csp=False)
    loaded(page)
    page.wait_for_timeout(500)  # not "networkidle": the live-update stream stays open
    expect(page.locator("#voxpop article.voxpop-comment")).to_have_count(posted)
    # Point at and focus everything once, for handlers that wait for it.
    page.evaluate(
        """() => document.querySelectorAll('#voxpop *').forEach((el) => {
             for (const t of ['mouseover', 'mouseenter', 'focus', 'toggle', 'animationstart'])
               el.dispatchEvent(new Event(t));
           })"""
    )
    assert page.evaluate("window.__xss") == []
    bodies = page.locator("#voxpop .voxpop-body")
    assert bodies.locator(FORBIDDEN).count() == 0
    with_handlers = page.evaluate(
        """() => [...document.querySelectorAll('#voxpop *')]
             .filter((el) => [...el.attributes].some((a) => a.name.toLowerCase().startsWith('on')))
             .map((el) => el.outerHTML.slice(0, 80))"""
    )
    assert with_handlers == []
    hrefs = page.evaluate(
        "() => [...document.querySelectorAll('#voxpop a[href]')].map((a) => a.getAttribute('href'))"
    )
    in_bodies = page.evaluate(
        "() => [...document.querySelectorAll('#voxpop .voxpop-body a[href]')]"
        ".map((a) => a.getAttribute('href'))"
    )
    assert in_bodies, "the test bodies contain safe links; they should be rendered as links"
    safe = re.compile(r"(https?|mailto):", re.IGNORECASE)
    assert [h for h in in_bodies if not safe.match(h)] == []
    # Elsewhere in the widget only the permalinks of comments (#voxpop-c<id>) are allowed too.
    assert [h for h in hrefs if not (safe.match(h) or re.fullmatch(r"#voxpop-c\d+", h))] == []
    for inner in bodies.evaluate_all("(els) => els.map((e) => e.innerHTML)"):
        assert xss.executable(inner) == [], inner
    # Markup in names shows as the literal text.
    names = page.locator("#voxpop .voxpop-author").all_inner_texts()
    for name in xss.NAMES:
        assert name in names
    # And the literal text of a script tag in a body is text too.
    expect(by_text(page, "<script>alert(1)</script>").first).to_be_visible()


# ---- 10. German ----


def test_german_host_page_gets_german_strings(page: Page, server: Server) -> None:
    de = json.loads((I18N / "widget.de.json").read_text(encoding="utf-8"))
    en = json.loads((I18N / "widget.en.json").read_text(encoding="utf-8"))
    uri = unique("deutsch")
    post(server, uri, "Ein Kommentar von jemand anderem", author_name="Dora")
    host(page, server, uri, lang="de", title="Ein Artikel")
    loaded(page)
    root = page.locator("#voxpop")
    expect(root).to_have_attribute("lang", "de")
    expect(page.locator(".voxpop-count")).to_have_text(de["comments_one"].format(count=1))
    expect(page.get_by_label(de["sort_label"])).to_have_value("best")
    expect(page.locator("select.voxpop-sort-select option")).to_have_text(
        [de["sort_best"], de["sort_new"], de["sort_old"]]
    )
    form = page.locator("form.voxpop-form-new")
    expect(form).to_have_attribute("aria-label", de["write"])
    expect(form.locator("button.voxpop-submit")).to_have_text(de["submit"])
    expect(form.get_by_label(de["field_body"], exact=True)).to_be_visible()
    expect(form.get_by_text(de["markdown_hint"])).to_be_visible()
    expect(page.locator(".voxpop-reply")).to_have_text(de["reply"])
    expect(page.locator("button.voxpop-up")).to_have_attribute(
        "aria-label", de["upvote"].format(count=0)
    )
    lines = {line.strip() for line in root.inner_text().splitlines()}
    for key in ("submit", "reply", "sort_label", "sort_best", "markdown_hint", "email_hint"):
        assert en[key] not in lines, f"English {key!r} on a German page"

    form.get_by_label(de["field_body"], exact=True).fill("Mein eigener Kommentar")
    form.locator("button.voxpop-submit").click()
    expect(page.locator(".voxpop-status")).to_have_text(de["published"])
    expect(page.locator(".voxpop-count")).to_have_text(de["comments_other"].format(count=2))
    mine = by_text(page, "Mein eigener Kommentar")
    expect(mine.locator(".voxpop-author")).to_have_text(de["anonymous"])
    expect(mine.locator("time")).to_have_text(de["just_now"])
    expect(mine.get_by_role("button", name=de["edit"], exact=True)).to_be_visible()
    expect(mine.get_by_role("button", name=de["delete"], exact=True)).to_be_visible()


def test_language_attribute_overrides_the_page(page: Page, server: Server) -> None:
    de = json.loads((I18N / "widget.de.json").read_text(encoding="utf-8"))
    uri = unique("lang-attr")
    host(page, server, uri, lang="en", attrs=' data-voxpop-lang="de"')
    loaded(page)
    expect(page.locator(".voxpop-count")).to_have_text(de["comments_none"])
    expect(page.locator("button.voxpop-submit")).to_have_text(de["submit"])


# ---- 11. the strict CSP ----


def test_widget_runs_under_the_servers_strict_csp(
    page: Page, server: Server, no_csp_violations: list[str]
) -> None:
    response = page.goto(server.url + "/demo/library-night-hours")
    assert response is not None
    policy = response.headers["content-security-policy"]
    script_src = policy.split("script-src", 1)[1].split(";", 1)[0]
    assert script_src.split() == ["'self'"], policy  # no unsafe-inline, no unsafe-eval
    loaded(page)
    expect(page.locator("#voxpop section.voxpop-section")).to_be_visible()
    expect(page.locator("#voxpop-style")).to_be_attached()  # its style element is allowed
    expect(page.locator("button.voxpop-submit")).to_have_css("font-weight", "600")
    page.get_by_label("Sort by").select_option("new")
    loaded(page)
    assert no_csp_violations == []

    # The whole flow on a host page that sends the same policy.
    uri = unique("csp")
    target = post(server, uri, "Vote and reply here", author_name="Vera")
    host(page, server, uri)
    loaded(page)
    page.get_by_label("Comment", exact=True).fill("Posted under a strict CSP")
    page.get_by_role("button", name="Post comment").click()
    mine = by_text(page, "Posted under a strict CSP")
    expect(mine).to_be_focused()
    mine = comment(page, mine.get_attribute("data-id"))
    up = comment(page, target["id"]).locator("button.voxpop-up")
    up.click()
    expect(up).to_have_attribute("aria-pressed", "true")
    comment(page, target["id"]).get_by_role("button", name="Reply", exact=True).click()
    expect(comment(page, target["id"]).locator("form")).to_be_visible()
    mine.get_by_role("button", name="Edit", exact=True).click()
    mine.get_by_label("Comment", exact=True).fill("Edited under a strict CSP")
    mine.get_by_role("button", name="Save", exact=True).click()
    expect(mine.locator(".voxpop-edited")).to_be_visible()
    expect(mine.locator(".voxpop-body")).to_have_text("Edited under a strict CSP")
    assert no_csp_violations == []

    # Controls: the watch does see violations, both kinds.
    probe = page.context.new_page()
    seen = csp_watch(probe)
    probe.route(
        f"{server.url}/e2e-host/probe.js",
        lambda route: route.fulfill(
            content_type="text/javascript",
            body="try { new Function('return 1')() }"
            " catch (e) { document.documentElement.dataset.evalBlocked = e.name }",
        ),
    )
    host(probe, server, unique("csp-probe"))
    loaded(probe)
    probe.evaluate(  # an inline script: blocked, and logged to the console
        "document.body.append(Object.assign(document.createElement('script'),"
        " {textContent: 'window.__ran = 1'}))"
    )
    probe.evaluate(  # new Function() in an allowed script: blocked, silently for the console
        "document.body.append(Object.assign(document.createElement('script'),"
        " {src: '/e2e-host/probe.js'}))"
    )
    expect(probe.locator("html")).to_have_attribute("data-eval-blocked", "EvalError")
    assert probe.evaluate("window.__ran") is None
    for _ in range(100):  # the reports arrive asynchronously
        if (
            sum(
                m.startswith(("script-src-elem blocked inline", "script-src blocked eval"))
                for m in seen
            )
            >= 2
        ):
            break
        probe.wait_for_timeout(50)
    assert any("Content Security Policy" in m for m in seen), seen
    assert any(m.startswith("script-src-elem blocked inline") for m in seen), seen
    assert any(m.startswith("script-src blocked eval") for m in seen), seen
    probe.close()


# ---- 12. comment counts ----


def test_count_elements_are_filled_and_follow_new_comments(page: Page, server: Server) -> None:
    busy, quiet, empty = unique("count-busy"), unique("count-quiet"), unique("count-empty")
    first = post(server, busy, "one")
    post(server, busy, "two, a reply", parent_id=first["id"])
    post(server, quiet, "alone")
    extra = (
        f'<p><a href="#voxpop" data-voxpop-count="{busy}">Comments</a></p>'
        f'<ul><li><a href="/q" data-voxpop-count="{quiet}">Comments</a></li>'
        f'<li><a href="/e" data-voxpop-count="{empty}">Comments</a></li>'
        f'<li><a href="/b" data-voxpop-count="{busy}">Comments</a></li></ul>'
    )
    host(page, server, busy, extra=extra)
    loaded(page)
    counts = page.locator("main a[data-voxpop-count]")
    expect(counts).to_have_text(["2 comments", "1 comment", "No comments yet", "2 comments"])
    page.get_by_label("Comment", exact=True).fill("three")
    page.get_by_role("button", name="Post comment").click()
    expect(counts).to_have_text(["3 comments", "1 comment", "No comments yet", "3 comments"])


def test_counts_on_a_listing_page_without_a_thread(page: Page, server: Server) -> None:
    busy, quiet = unique("list-busy"), unique("list-quiet")
    for i in range(12):
        post(server, busy, f"c{i}")
    post(server, quiet, "only")
    extra = (
        f'<ul><li><a href="/a" data-voxpop-count="{busy}">Comments</a></li>'
        f'<li><a href="/b" data-voxpop-count="{quiet}">Comments</a></li></ul>'
    )
    host(page, server, unique("listing"), extra=extra, container=False)
    expect(page.locator("a[data-voxpop-count]")).to_have_text(["12 comments", "1 comment"])
    expect(page.locator(".voxpop")).to_have_count(0)
