"""axe-core on the widget (in all its states), the demo pages and the no-JavaScript thread,
at desktop and phone size; and reflow at 200 % and 400 % zoom (no horizontal scrolling)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import ADMIN, Server, axe_violations
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
)

DEMO = ["harbour-bridge-reopens", "library-night-hours", "community-garden-harvest"]
VIEWPORTS = [
    pytest.param({"viewport": {"width": 1280, "height": 800}}, id="desktop"),
    pytest.param(
        {
            "viewport": {"width": 390, "height": 844},
            "device_scale_factor": 3,
            "is_mobile": True,
            "has_touch": True,
        },
        id="phone",
    ),
]
ZOOMS = [
    # 1280x800 at 200 % and at 400 % (WCAG 1.4.10: 320 CSS pixels wide).
    pytest.param({"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2}, id="200"),
    pytest.param({"viewport": {"width": 320, "height": 200}, "device_scale_factor": 4}, id="400"),
]
LONG = (
    "A comment with long unbroken things: https://example.org/"
    + "a-very-long-path-segment" * 6
    + " and Donaudampfschifffahrtsgesellschaftskapitänsmützenabzeichen"
    + "sammlungsausstellungseröffnung, `inline_code_that_goes_on_"
    + "and_on" * 12
    + "`.\n\n```\n"
    + "let x = 1; " * 20
    + "\n```"
)


def seed_thread(server: Server, uri: str) -> dict[str, Any]:
    """A thread with the kinds of comments there are: linked author, reply, quote, code,
    a deleted placeholder that keeps its reply, and long unbroken text."""
    first = post(
        server,
        uri,
        "A comment with a [link](https://example.org), *emphasis* and `code`.",
        author_name="Ada Lovelace",
        author_website="https://ada.example",
    )
    post(server, uri, "> a quote\n\nAnd a reply to it.", author_name="Bob", parent_id=first["id"])
    gone = post(server, uri, "This one gets deleted", author_name="Gone")
    post(server, uri, "A reply under a deleted comment", parent_id=gone["id"])
    status, data = call(
        server,
        "POST",
        f"/api/v1/admin/comments/{gone['id']}/moderate",
        {"action": "delete"},
        ADMIN,
    )
    assert status == 200, data
    post(server, uri, LONG, author_name="N" * 80)
    return first


def check(page: Page, state: str) -> None:
    violations = axe_violations(page)
    assert violations == [], f"axe-core, {state}: {violations}"


@pytest.mark.parametrize("context", VIEWPORTS, indirect=True)
def test_widget_in_every_state_has_no_axe_violations(page: Page, server: Server) -> None:
    uri = unique("axe")
    first = seed_thread(server, uri)
    host(page, server, uri)
    loaded(page)
    expect(page.locator(".voxpop-deleted")).to_have_count(1)
    check(page, "thread loaded")

    # Own comments (tally instead of vote buttons; Edit and Delete), one held for moderation,
    # a pressed vote, and the live region filled.
    new_form = page.locator("form.voxpop-form-new")
    new_form.get_by_label("Comment", exact=True).fill("My own comment")
    new_form.get_by_role("button", name="Post comment").click()
    expect(by_text(page, "My own comment")).to_be_focused()
    new_form.get_by_label("Comment", exact=True).fill(HELD)
    new_form.get_by_role("button", name="Post comment").click()
    expect(page.locator(".voxpop-pending")).to_have_count(1)
    comment(page, first["id"]).locator("button.voxpop-up").click()
    expect(comment(page, first["id"]).locator("button.voxpop-up")).to_have_attribute(
        "aria-pressed", "true"
    )
    check(page, "own, held and voted comments")

    comment(page, first["id"]).get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator("form.voxpop-form-reply")).to_be_visible()
    check(page, "reply form open")

    mine = by_text(page, "My own comment")
    mine.get_by_role("button", name="Edit", exact=True).click()
    expect(page.locator("form.voxpop-form-edit")).to_be_visible()
    expect(page.locator("form.voxpop-form-reply")).to_have_count(0)
    check(page, "edit form open")
    page.keyboard.press("Escape")

    # A field error from the server: the alert, aria-invalid and aria-describedby.
    new_form.get_by_label("Comment", exact=True).fill("With a bad website")
    new_form.get_by_label("Website (optional)").fill("javascript:alert(1)")
    new_form.get_by_role("button", name="Post comment").click()
    alert = new_form.locator(".voxpop-error[role=alert]")
    expect(alert).to_have_text(
        "Enter a web address such as https://example.org, or leave the field empty."
    )
    expect(new_form.get_by_label("Website (optional)")).to_have_attribute("aria-invalid", "true")
    expect(new_form.get_by_label("Website (optional)")).to_be_focused()
    check(page, "error message shown")


@pytest.mark.parametrize(
    "context", [{"color_scheme": "dark", "viewport": {"width": 1280, "height": 800}}], indirect=True
)
def test_widget_dark_theme_has_no_axe_violations(page: Page, server: Server) -> None:
    uri = unique("axe-dark")
    seed_thread(server, uri)
    host(
        page,
        server,
        uri,
        extra='<meta name="color-scheme" content="dark light">'
        "<style>html{color-scheme:dark light}body{background:#0f1318;color:#e6edf3}"
        "a{color:#8ab4f8}</style>",
    )
    loaded(page)
    expect(page.locator("#voxpop")).to_have_class("voxpop voxpop-auto")
    check(page, "dark theme")
    page.get_by_role("button", name="Reply", exact=True).first.click()
    check(page, "dark theme, reply form open")


@pytest.mark.parametrize("context", VIEWPORTS, indirect=True)
def test_demo_pages_have_no_axe_violations(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    check(page, "/")
    for slug in DEMO:
        page.goto(f"{server.url}/demo/{slug}")
        loaded(page)
        check(page, f"/demo/{slug}")


@pytest.mark.parametrize("context", VIEWPORTS, indirect=True)
def test_comments_page_has_no_axe_violations(page: Page, server: Server) -> None:
    uri = unique("axe-comments")
    seed_thread(server, uri)
    page.goto(f"{server.url}/comments?uri={uri}")
    expect(page.locator(".vp-body").first).to_be_visible()
    assert axe_violations(page) == []
    page.goto(f"{server.url}/comments?uri={uri}&reply=1")
    assert axe_violations(page) == []


def overflow(page: Page) -> dict[str, int]:
    return dict(
        page.evaluate(
            """() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
                       widget: (document.querySelector('#voxpop') || {}).scrollWidth || 0,
                       widgetBox: (document.querySelector('#voxpop') || {}).clientWidth || 0})"""
        )
    )


def assert_reflows(page: Page, where: str) -> None:
    m = overflow(page)
    assert m["scroll"] <= m["inner"], f"horizontal scrolling on {where}: {m}"
    assert m["widget"] <= m["widgetBox"], f"the widget overflows its box on {where}: {m}"


@pytest.mark.parametrize("context", ZOOMS, indirect=True)
def test_no_horizontal_scrolling_when_zoomed(page: Page, server: Server) -> None:
    uri = unique("reflow")
    first = seed_thread(server, uri)
    deep = first["id"]
    for level in range(6):  # nesting deeper than the indentation goes
        deep = post(server, uri, f"Nested reply, level {level + 2}", parent_id=deep)["id"]
    host(page, server, uri)
    loaded(page)
    expect(page.locator("#voxpop .voxpop-body").last).to_be_visible()
    assert_reflows(page, "the widget")
    comment(page, deep).get_by_role("button", name="Reply", exact=True).click()
    expect(page.locator("form.voxpop-form-reply")).to_be_visible()
    assert_reflows(page, "the widget with a deep reply form open")
    page.get_by_label("Comment", exact=True).first.fill("x")
    page.get_by_label("Website (optional)").first.fill("javascript:alert(1)")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator("form.voxpop-form-new .voxpop-error")).not_to_be_empty()
    assert_reflows(page, "the widget with an error shown")

    for path in ["/", *(f"/demo/{slug}" for slug in DEMO)]:
        page.goto(server.url + path)
        expect(page.locator("main")).to_be_visible()
        if path.startswith("/demo/"):
            loaded(page)
        m = overflow(page)
        assert m["scroll"] <= m["inner"], f"horizontal scrolling on {path}: {m}"


@pytest.mark.parametrize("context", ZOOMS, indirect=True)
def test_comments_page_has_no_horizontal_scrolling_when_zoomed(page: Page, server: Server) -> None:
    uri = unique("reflow-comments")
    seed_thread(server, uri)
    page.goto(f"{server.url}/comments?uri={uri}")
    expect(page.locator(".vp-body").first).to_be_visible()
    m = overflow(page)
    assert m["scroll"] <= m["inner"], f"horizontal scrolling on /comments: {m}"
