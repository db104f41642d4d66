"""The pages behind the mails' links, in Chromium: axe-core at desktop and phone size, and
the whole round trip on a server without SMTP, where mails go to its log (the demo)."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, Server, axe_violations
from .test_accessibility import VIEWPORTS
from .test_widget import call, post, unique


def logged_mail(server: Server, to: str, kind: str, timeout: float = 15) -> str:
    """The text of the last mail of a kind to ``to`` that the server wrote to its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = server.log.read_text()
        mails = [
            m
            for m in log.split("mail (not sent: VOXPOP_SMTP_URL is not set)")
            if f" to {to}\n" in m and f"<voxpop.{kind}." in m
        ]
        if mails:
            return mails[-1]
        time.sleep(0.1)
    raise AssertionError(f"no {kind} mail to {to} in the server's log")


def link(mail: str, path: str) -> str:
    found = re.search(r"https?://\S+" + re.escape(path) + r"\?token=[\w.\-]+", mail)
    assert found, f"no {path} link in {mail}"
    return found.group(0)


@pytest.mark.parametrize("context", VIEWPORTS, indirect=True)
def test_mail_pages_work_and_have_no_axe_violations(
    page: Page, server: Server, request: pytest.FixtureRequest
) -> None:
    uri = unique("mail-pages")
    email = f"reader-{uuid.uuid4().hex[:8]}@example.org"
    status, _ = call(
        server,
        "POST",
        "/api/v1/subscriptions",
        {"uri": uri, "email": email, "scope": "thread", "title": "Harbour & <bridge>"},
    )
    assert status == 202
    confirm = logged_mail(server, email, "confirm")
    page.goto(link(confirm, "/subscriptions/confirm"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("onfirmed")
    assert "Harbour & <bridge>" in page.inner_text("main")
    assert axe_violations(page) == []

    post(server, uri, "A new comment for the subscriber", author_name="Kim")
    notice = logged_mail(server, email, "notify")
    assert "A new comment for the subscriber" in notice

    page.goto(link(notice, "/subscriptions/manage"))
    expect(page.locator("main")).to_contain_text(email)
    assert axe_violations(page) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"manage-{request.node.callspec.id}.png"), full_page=True)

    page.goto(link(notice, "/unsubscribe"))
    assert axe_violations(page) == []
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("nsubscribed")
    assert axe_violations(page) == []
    page.goto(link(notice, "/subscriptions/manage"))
    expect(page.locator("main")).not_to_contain_text("Harbour & <bridge>")
