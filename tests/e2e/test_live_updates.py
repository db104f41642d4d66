"""Live updates in the widget (``GET /api/v1/events``, Server-Sent Events) in Chromium.

What others do while a reader has the thread open: a new comment is counted in a notice at
the top of the thread ("1 new comment", a button in a polite live region) and shown only
when the reader asks; votes, ratings, edits and removals change in place; a held comment
says nothing until a moderator approves it; nothing the reader is reading moves; the
stream pauses while the page is hidden and catches up after; a publisher page on another
origin gets the stream through CORS. Screenshots: artifacts/e2e/live-*.png.

Events are delivered in order, so a test that must show that something did NOT happen
makes a visible change last (a vote by another reader) and checks once that has arrived.
"""

from __future__ import annotations

import html
import re
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, expect

from .conftest import ADMIN, ARTIFACTS, Server, axe_violations
from .test_widget import (  # noqa: F401 - no_csp_violations is an autouse fixture
    HELD,
    by_text,
    call,
    comment,
    host,
    loaded,
    no_csp_violations,
    post,
    unique,
    vote,
)

STREAM = "/api/v1/events"


# ---- helpers ----


def streaming(page: Page, server: Server, uri: str, **options: Any) -> None:
    """Opens a host page for ``uri`` and waits until the widget's event stream is open
    (the server subscribes the stream before it answers, so later events reach it)."""
    with page.expect_response(lambda r: STREAM in r.url) as info:
        host(page, server, uri, **options)
    assert info.value.status == 200, info.value.status
    assert info.value.headers["content-type"].startswith("text/event-stream")
    loaded(page)


def notice(page: Page) -> Locator:
    return page.locator("#voxpop .voxpop-live button")


def heading(page: Page) -> Locator:
    return page.locator("h2#voxpop-heading .voxpop-count")


def up(page: Page, comment_id: int) -> Locator:
    button: Locator = comment(page, comment_id).locator("button.voxpop-up")
    return button


def barrier(page: Page, server: Server, target: int, votes: int) -> None:
    """Another reader upvotes ``target``; returns once the page shows it (``votes`` up).
    Events come in order: every one before that vote has been handled by then."""
    vote(server, target, 1)
    expect(up(page, target)).to_have_attribute("aria-label", f"Upvote ({votes})")


def moderate(server: Server, comment_id: int, action: str) -> None:
    status, data = call(
        server, "POST", f"/api/v1/admin/comments/{comment_id}/moderate", {"action": action}, ADMIN
    )
    assert status == 200, data


def rate(server: Server, uri: str, stars: int) -> None:
    """A rating by another reader (no token: a new one)."""
    body = {"uri": uri, "title": "An article with comments", "stars": stars}
    status, data = call(server, "PUT", "/api/v1/ratings", body)
    assert status == 200, data


def shot(page: Page, name: str, full: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.screenshot(path=str(ARTIFACTS / f"live-{name}.png"), full_page=full)


def top(locator: Locator) -> float:
    return float(locator.evaluate("(e) => e.getBoundingClientRect().top"))


def no_axe_violations(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core, {state}: {violations}"


# ---- 1. new comments: counted, shown on request ----


def test_new_comments_are_counted_in_a_notice_and_shown_when_asked(
    page: Page, server: Server
) -> None:
    uri = unique("live-new")
    first = post(server, uri, "There before the reader came", author_name="Ann")
    streaming(page, server, uri)
    expect(heading(page)).to_have_text("1 comment")
    expect(notice(page)).to_have_count(0)
    region = page.locator("#voxpop .voxpop-live")
    expect(region).to_have_attribute("aria-live", "polite")
    page.evaluate("window.__sameDocument = true")

    second = post(server, uri, "Hot off the press from another reader", author_name="Ben")
    expect(notice(page)).to_have_text("1 new comment")
    expect(heading(page)).to_have_text("2 comments")  # the heading counts it too, quietly:
    expect(heading(page)).to_have_attribute("aria-live", "off")  # the notice is what speaks
    expect(by_text(page, "Hot off the press")).to_have_count(0)  # counted, not inserted
    third = post(server, uri, "A reply arrives too", author_name="Cy", parent_id=first["id"])
    expect(notice(page)).to_have_text("2 new comments")
    expect(heading(page)).to_have_text("3 comments")
    expect(page.locator("#voxpop article.voxpop-comment")).to_have_count(1)
    # It takes no room: the thread has not moved for it.
    box = notice(page).bounding_box()
    assert box is not None and box["height"] > 20, box
    assert region.evaluate("(e) => e.getBoundingClientRect().height") == 0
    region.evaluate("(e) => e.scrollIntoView({block: 'center'})")
    shot(page, "notice")
    no_axe_violations(page, "notice shown")

    notice(page).click()
    expect(by_text(page, "Hot off the press")).to_be_visible()
    expect(by_text(page, "A reply arrives too")).to_be_visible()
    expect(notice(page)).to_have_count(0)
    expect(heading(page)).to_have_text("3 comments")
    ids = page.locator("#voxpop article.voxpop-comment").evaluate_all(
        "(els) => els.map((e) => +e.dataset.id)"
    )
    new = [i for i in ids if i in (second["id"], third["id"])]
    expect(comment(page, new[0])).to_be_focused()  # the first new one in the thread's order
    expect(comment(page, new[0])).to_have_class(re.compile(r"\bvoxpop-new\b"))
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    shot(page, "shown")

    # The reader's own comment is put in place by the widget and never counted as new.
    form = page.locator("form.voxpop-form-new")
    form.get_by_label("Comment", exact=True).fill("My own, shown at once")
    form.get_by_role("button", name="Post comment").click()
    expect(by_text(page, "My own, shown at once")).to_be_focused()
    expect(heading(page)).to_have_text("4 comments")
    post(server, uri, "One more from someone else")
    barrier(page, server, first["id"], 1)
    expect(notice(page)).to_have_text("1 new comment")
    expect(heading(page)).to_have_text("5 comments")


PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.mark.parametrize("context", [PHONE], indirect=True)
def test_german_phone_dark_theme_keeps_the_sort(page: Page, server: Server) -> None:
    uri = unique("live-de")
    post(server, uri, "Der erste Kommentar", author_name="Anna")
    attrs = ' data-voxpop-sort="old" data-voxpop-theme="dark"'
    dark = "<style>body{background:#0f1318;color:#e6edf3}</style>"
    streaming(page, server, uri, lang="de", attrs=attrs, extra=dark)
    post(server, uri, "Ein neuer Kommentar", author_name="Bernd")
    expect(notice(page)).to_have_text("1 neuer Kommentar")
    post(server, uri, "Noch ein neuer", author_name="Clara")
    expect(notice(page)).to_have_text("2 neue Kommentare")
    expect(heading(page)).to_have_text("3 Kommentare")
    page.locator("#voxpop .voxpop-live").evaluate("(e) => e.scrollIntoView({block: 'center'})")
    shot(page, "de-phone-dark")
    no_axe_violations(page, "German notice, phone, dark theme")
    notice(page).tap()
    expect(notice(page)).to_have_count(0)
    expect(page.get_by_label("Sortieren nach")).to_have_value("old")
    bodies = page.locator("#voxpop .voxpop-body").all_inner_texts()
    assert bodies == ["Der erste Kommentar", "Ein neuer Kommentar", "Noch ein neuer"], bodies
    expect(by_text(page, "Ein neuer Kommentar")).to_be_focused()


# ---- 2. votes and ratings in place ----


def test_votes_and_ratings_of_others_change_in_place(page: Page, server: Server) -> None:
    uri = unique("live-votes")
    theirs = post(server, uri, "Vote on me", author_name="Dee")
    streaming(page, server, uri)
    box = page.locator("#voxpop .voxpop-rating")
    expect(box).to_be_visible()

    # The reader's own upvote stays pressed while others vote.
    mine = up(page, theirs["id"])
    down = comment(page, theirs["id"]).locator("button.voxpop-down")
    mine.click()
    expect(mine).to_have_attribute("aria-label", "Upvote (1)")
    expect(mine).to_have_attribute("aria-pressed", "true")
    vote(server, theirs["id"], 1)
    expect(mine).to_have_attribute("aria-label", "Upvote (2)")
    vote(server, theirs["id"], -1)
    expect(down).to_have_attribute("aria-label", "Downvote (1)")
    expect(mine).to_have_attribute("aria-pressed", "true")
    expect(down).to_have_attribute("aria-pressed", "false")
    expect(mine).to_have_attribute("data-count", "2")

    # The tally of the reader's own comment (no vote buttons) follows too.
    form = page.locator("form.voxpop-form-new")
    form.get_by_label("Comment", exact=True).fill("Vote on mine, others")
    form.get_by_role("button", name="Post comment").click()
    own = by_text(page, "Vote on mine, others")
    expect(own).to_be_focused()
    own_id = int(str(own.get_attribute("data-id")))
    vote(server, own_id, 1)
    vote(server, own_id, 1)
    expect(own.locator(".voxpop-score .voxpop-sr")).to_have_text("Upvotes: 2, downvotes: 0")
    expect(own).to_be_focused()  # nothing was re-created under the reader's focus

    # Ratings: the reader's stars stay, the average and the count follow.
    box.get_by_role("radio", name="4 of 5 stars", exact=True).click()
    summary = box.locator(".voxpop-rsum")
    expect(summary).to_have_text("Average rating 4.0 ★ · 1 vote")
    box.get_by_role("button", name="Show distribution").click()
    rate(server, uri, 2)
    expect(summary).to_have_text("Average rating 3.0 ★ · 2 votes")
    expect(box.get_by_role("radio", name="4 of 5 stars", exact=True)).to_have_attribute(
        "aria-checked", "true"
    )
    rows = box.locator(".voxpop-dist li").all_inner_texts()
    assert [r.split()[-1] for r in rows] == ["0", "1", "0", "1", "0"], rows
    shot(page, "votes-rating")


# ---- 3. held comments, edits, removals ----


def test_a_held_comment_says_nothing_until_a_moderator_approves_it(
    page: Page, server: Server
) -> None:
    uri = unique("live-held")
    first = post(server, uri, "A visible comment", author_name="Eve")
    streaming(page, server, uri)
    held = post(server, uri, HELD, author_name="Held back")
    assert held["status"] == "pending", held
    barrier(page, server, first["id"], 1)  # everything before this vote has arrived: no notice
    expect(notice(page)).to_have_count(0)
    expect(heading(page)).to_have_text("1 comment")

    moderate(server, held["id"], "approve")
    expect(notice(page)).to_have_text("1 new comment")
    expect(heading(page)).to_have_text("2 comments")
    notice(page).click()
    expect(comment(page, held["id"])).to_be_focused()

    # The reader's own held comment turns into an ordinary one when approved.
    form = page.locator("form.voxpop-form-new")
    form.get_by_label("Comment", exact=True).fill(HELD + " Mine.")
    form.get_by_role("button", name="Post comment").click()
    pending = page.locator("#voxpop .voxpop-pending")
    expect(pending).to_have_count(1)
    own_id = int(str(pending.get_attribute("data-id")))
    moderate(server, own_id, "approve")
    expect(pending).to_have_count(0)
    expect(comment(page, own_id).get_by_role("button", name="Reply", exact=True)).to_be_visible()
    expect(heading(page)).to_have_text("3 comments")
    expect(notice(page)).to_have_count(0)


def test_edits_and_removals_by_others_change_the_thread_in_place(
    page: Page, server: Server
) -> None:
    uri = unique("live-edit")
    edited = post(server, uri, "Before the edit", author_name="Fay")
    parent = post(server, uri, "A parent that gets deleted", author_name="Gil")
    child = post(server, uri, "Its reply stays", author_name="Hal", parent_id=parent["id"])
    lone = post(server, uri, "A lone comment that goes", author_name="Ida")
    typing = post(server, uri, "Removed while someone replies", author_name="Jo")
    streaming(page, server, uri)
    expect(heading(page)).to_have_text("5 comments")

    # An open reply form under the edited comment keeps what the reader typed.
    comment(page, edited["id"]).get_by_role("button", name="Reply", exact=True).click()
    reply = comment(page, edited["id"]).get_by_label("Comment", exact=True)
    reply.fill("Half a reply")
    status, data = call(
        server,
        "PATCH",
        f"/api/v1/comments/{edited['id']}",
        {"body": "After the edit, with *emphasis*"},
        edited["reader_token"],
    )
    assert status == 200, data
    body = comment(page, edited["id"]).locator(".voxpop-body").first
    expect(body).to_have_text("After the edit, with emphasis")
    expect(body.locator("em")).to_have_text("emphasis")
    expect(comment(page, edited["id"]).locator(".voxpop-edited")).to_have_text("(edited)")
    expect(reply).to_have_value("Half a reply")
    expect(reply).to_be_focused()

    moderate(server, parent["id"], "delete")  # has a reply: a placeholder keeps it
    expect(comment(page, parent["id"])).to_have_text("This comment was deleted.")
    expect(comment(page, child["id"])).to_be_visible()
    expect(heading(page)).to_have_text("4 comments")
    moderate(server, lone["id"], "delete")  # no reply: gone
    expect(comment(page, lone["id"])).to_have_count(0)
    expect(heading(page)).to_have_text("3 comments")

    # Removed while the reader writes a reply to it: the form stays (with the text).
    comment(page, typing["id"]).get_by_role("button", name="Reply", exact=True).click()
    answer = comment(page, typing["id"]).get_by_label("Comment", exact=True)
    answer.fill("I was answering this")
    moderate(server, typing["id"], "delete")
    expect(comment(page, typing["id"]).locator(".voxpop-body")).to_have_text(
        "This comment was deleted."
    )
    expect(answer).to_have_value("I was answering this")
    expect(answer).to_be_focused()
    expect(heading(page)).to_have_text("2 comments")
    expect(notice(page)).to_have_count(0)
    shot(page, "edit-remove", full=True)


# ---- 4. nothing jumps; the notice stays in sight ----


@pytest.mark.parametrize("context", [{"viewport": {"width": 1000, "height": 700}}], indirect=True)
def test_the_thread_does_not_move_under_the_reader(page: Page, server: Server) -> None:
    uri = unique("live-steady")
    seeded = [
        post(server, uri, f"Comment {n}. " + "A longer paragraph of text. " * 12) for n in range(10)
    ]
    streaming(page, server, uri)
    articles = page.locator("#voxpop article.voxpop-comment")
    expect(articles).to_have_count(10)
    reading = comment(page, str(articles.nth(8).get_attribute("data-id")))
    reading.evaluate("(e) => e.scrollIntoView({block: 'center'})")
    before = top(reading)
    above = [int(str(articles.nth(i).get_attribute("data-id"))) for i in (0, 1)]
    assert top(comment(page, above[0])) < -500

    post(server, uri, "Something new")
    expect(notice(page)).to_have_text("1 new comment")
    box = notice(page).bounding_box()
    assert box is not None and 0 <= box["y"] < 40, box  # stuck to the top, in sight
    shot(page, "sticky")

    token = next(c for c in seeded if c["id"] == above[0])["reader_token"]
    longer = "Now a lot longer than before. " * 40
    status, data = call(server, "PATCH", f"/api/v1/comments/{above[0]}", {"body": longer}, token)
    assert status == 200, data
    expect(comment(page, above[0]).locator(".voxpop-edited")).to_be_visible()
    moderate(server, above[1], "delete")
    expect(comment(page, above[1])).to_have_count(0)
    vote(server, int(str(reading.get_attribute("data-id"))), 1)
    expect(reading.locator("button.voxpop-up")).to_have_attribute("aria-label", "Upvote (1)")
    assert abs(top(reading) - before) <= 1, (before, top(reading))


# ---- 5. the stream: paused when hidden, a reset, another origin ----

HIDE = """(hidden) => {
  Object.defineProperty(document, "hidden", {configurable: true, get: () => hidden});
  Object.defineProperty(document, "visibilityState", {configurable: true,
    get: () => (hidden ? "hidden" : "visible")});
  document.dispatchEvent(new Event("visibilitychange"));
}"""


def test_the_stream_pauses_while_hidden_and_catches_up(page: Page, server: Server) -> None:
    uri = unique("live-hidden")
    first = post(server, uri, "Read before the break", author_name="Kim")
    page.clock.install()
    streaming(page, server, uri)
    barrier(page, server, first["id"], 1)  # an event: the widget knows its number now

    page.evaluate(HIDE, True)
    page.clock.run_for(30_000)  # hidden for half a minute: still connected
    post(server, uri, "Seen while hidden briefly")
    expect(notice(page)).to_have_text("1 new comment")

    with page.expect_event("requestfailed", lambda r: STREAM in r.url):
        page.clock.run_for(31_000)  # over a minute: the stream is closed
    post(server, uri, "Posted during the pause")
    vote(server, first["id"], 1)
    page.wait_for_timeout(1500)  # (the server looks every second)
    expect(notice(page)).to_have_text("1 new comment")  # nothing arrives while paused

    with page.expect_request(lambda r: STREAM in r.url) as info:
        page.evaluate(HIDE, False)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(info.value.url).query)
    assert query["uri"] == [uri] and int(query["last_event_id"][0]) > 0, query
    expect(notice(page)).to_have_text("2 new comments")  # replayed from the last event seen
    expect(up(page, first["id"])).to_have_attribute("aria-label", "Upvote (2)")


def test_a_reset_offers_to_reload_the_thread(page: Page, server: Server) -> None:
    uri = unique("live-reset")
    post(server, uri, "Already here", author_name="Lee")
    # The stream is held back while a comment is posted, then asks to resume after an
    # event the server never wrote: the server cannot tell what was missed and says "reset".
    held: list[Route] = []
    page.route(re.compile(r".*/api/v1/events\?.*"), lambda route: held.append(route))
    host(page, server, uri)
    loaded(page)
    while not held:
        page.wait_for_timeout(50)
    post(server, uri, "Missed by the stream", author_name="Mo")
    with page.expect_response(lambda r: STREAM in r.url):
        held[0].continue_(url=held[0].request.url + f"&last_event_id={2**61}")
    expect(notice(page)).to_have_text("New comments")
    expect(by_text(page, "Missed by the stream")).to_have_count(0)
    notice(page).click()
    expect(by_text(page, "Missed by the stream")).to_be_visible()
    expect(notice(page)).to_have_count(0)
    expect(heading(page)).to_have_text("2 comments")
    expect(page.locator("h2#voxpop-heading")).to_be_focused()


@pytest.fixture
def publisher(server: Server) -> Iterator[str]:
    """A publisher's web server on another port (another origin; allowed in dev): its
    article page embeds the widget from the comment server, under its own strict CSP that
    allows the comment server for scripts and connections. Yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            uri = self.path.removeprefix("/article")
            page = PUBLISHER.format(server=server.url, uri=html.escape(uri)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header(
                "Content-Security-Policy",
                f"default-src 'self'; script-src {server.url}; "
                f"style-src 'unsafe-inline'; connect-src {server.url}",
            )
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


PUBLISHER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>A publisher's article</title></head>
<body><main><h1>A publisher's article</h1><div id="voxpop"></div></main>
<script src="{server}/embed.js" data-voxpop-uri="{uri}" async></script></body></html>
"""


def test_a_publisher_page_on_another_origin_gets_the_stream(
    page: Page, server: Server, publisher: str
) -> None:
    uri = unique("live-cors")
    first = post(server, uri, "Across origins", author_name="Max")
    with page.expect_response(lambda r: STREAM in r.url) as info:
        page.goto(f"{publisher}/article{uri}")
    assert info.value.status == 200
    assert info.value.headers["access-control-allow-origin"] == publisher
    loaded(page)
    post(server, uri, "From the other side", author_name="Nia")
    expect(notice(page)).to_have_text("1 new comment")
    vote(server, first["id"], 1)
    expect(up(page, first["id"])).to_have_attribute("aria-label", "Upvote (1)")
