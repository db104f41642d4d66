"""The thread with JavaScript off: reading, posting, replying and voting by plain forms."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from .. import xss
from .conftest import Server, axe_violations


@pytest.fixture
def nojs(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(java_script_enabled=False)
    yield ctx
    ctx.close()


def test_post_reply_and_vote_with_javascript_off(
    nojs: BrowserContext, browser: Browser, server: Server, page: Page
) -> None:
    checker = page  # a JavaScript-enabled page, for axe-core
    page = nojs.new_page()
    uri = "/e2e/nojs-flow"
    page.goto(f"{server.url}/comments?uri={uri}")
    page.get_by_label("Comment", exact=True).fill("Written with **JavaScript** off")
    page.get_by_label("Name (optional)").fill("Noscript Nora")
    page.get_by_role("button", name="Post comment").click()
    expect(page.get_by_role("status")).to_have_text("Your comment was published.")
    expect(page.locator(".vp-body strong")).to_have_text("JavaScript")
    # Reply through the reply link and its form.
    page.get_by_role("link", name="Reply").first.click()
    page.locator("#reply-form-body").fill("A reply, also without scripts")
    page.get_by_role("button", name="Post reply").click()
    expect(page.locator(".vp-replies .vp-body")).to_have_text("A reply, also without scripts")
    # Vote on the reply (one's own comment cannot be voted on: use a fresh reader).
    second_reader = browser.new_context(java_script_enabled=False)
    other = second_reader.new_page()
    other.goto(f"{server.url}/comments?uri={uri}&sort=old")
    other.get_by_role("button", name="Upvote (0)").first.click()
    expect(other.get_by_role("status")).to_have_text("Your vote was counted.")
    expect(other.get_by_role("button", name="Upvote (1)").first).to_be_visible()
    second_reader.close()
    # The same page, as served, checked by axe-core (which needs scripts to run).
    checker.goto(f"{server.url}/comments?uri={uri}&reply=1")
    assert axe_violations(checker) == []


def test_hostile_comment_does_not_run_with_javascript_on(page: Page, server: Server) -> None:
    """Even when a browser with scripts reads the plain page, hostile comments stay text."""
    uri = "/e2e/hostile-page"
    for body in xss.BODIES:
        req = urllib.request.Request(
            server.url + "/api/v1/comments",
            method="POST",
            data=json.dumps({"uri": uri, "body": body}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req).read()
    page.add_init_script("window.__xss = 0; window.alert = () => { window.__xss += 1 };")
    page.goto(f"{server.url}/comments?uri={uri}")
    page.wait_for_timeout(300)
    assert page.evaluate("window.__xss") == 0
    assert page.locator(".vp-body script, .vp-body img, .vp-body svg, .vp-body iframe").count() == 0
