"""Webhooks and feeds as an operator and a reader meet them, in Chromium: a real receiver gets
signed calls from the running server's worker; the admin's delivery log shows them, a
failed call is retried from the page; the no-JS thread links its Atom feed.

Screenshots: artifacts/e2e/webhooks-*.png.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from .conftest import ARTIFACTS, Server, axe_violations

PASSWORD = "correct horse battery staple"
ADMIN_USER = "admin-wim"
SECRET = "webhook-secret-for-the-e2e-receiver"


class Receiver:
    """A webhook receiver on loopback: records each call; answers ``status`` (settable)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append({"headers": dict(self.headers), "body": body})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [json.loads(c["body"])["event"] for c in self.calls]

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(self.calls) >= count, f"{len(self.calls)} calls, wanted {count}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()  # its listening socket, else closed (with a warning) by the GC


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("webhooks")
    env = {
        "VOXPOP_DATABASE_URL": f"sqlite:///{tmp}/webhooks.db",
        "VOXPOP_WEBHOOK_URL": receiver.url,
        "VOXPOP_WEBHOOK_SECRET": SECRET,
    }
    server = Server(tmp, **env)
    try:
        made = subprocess.run(
            [sys.executable, "-m", "voxpop.cli", "create-admin", ADMIN_USER],
            env={**os.environ, "VOXPOP_ENV": "dev", "VOXPOP_ADMIN_PASSWORD": PASSWORD, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert made.returncode == 0, made.stderr
        yield server
    finally:
        server.stop()


def post_comment(server: Server, uri: str, body: str) -> dict[str, Any]:
    req = urllib.request.Request(
        server.url + "/api/v1/comments",
        method="POST",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"uri": uri, "body": body, "author_name": "Wim"}).encode(),
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        data: dict[str, Any] = json.loads(r.read())
        return data


def sign_in(page: Page, server: Server) -> None:
    page.goto(server.url + "/admin/login")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + "/admin/queue")


def test_signed_calls_reach_the_receiver_and_the_log_retries_a_failed_one(
    page: Page, srv: Server, receiver: Receiver
) -> None:
    post_comment(srv, "/hooked", "First comment for the newsroom's systems")
    receiver.wait_for(1)
    first = receiver.calls[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), first["body"], hashlib.sha256).hexdigest()
    assert first["headers"]["X-Voxpop-Signature"] == expected
    assert receiver.events() == ["comment.created"]

    receiver.status = 404  # the receiver refuses: failed at once, no retries
    post_comment(srv, "/hooked", "Second comment, refused by the receiver")
    receiver.wait_for(2)

    sign_in(page, srv)
    page.get_by_role("link", name="Webhooks").click()
    rows = page.locator("table.adm-webhooks tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("failed")
    expect(rows.nth(0)).to_contain_text("404")
    expect(rows.nth(1)).to_contain_text("sent")
    page.screenshot(path=str(ARTIFACTS / "webhooks-log.png"), full_page=True)
    assert axe_violations(page) == [], "webhook log"

    receiver.status = 200
    rows.nth(0).get_by_role("button", name="Retry").click()
    receiver.wait_for(3)
    assert json.loads(receiver.calls[2]["body"]) == json.loads(receiver.calls[1]["body"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        page.reload()
        if "sent" in (page.locator("table.adm-webhooks tbody tr").nth(0).text_content() or ""):
            break
        time.sleep(0.3)
    expect(page.locator("table.adm-webhooks tbody tr").nth(0)).to_contain_text("sent")
    page.screenshot(path=str(ARTIFACTS / "webhooks-log-retried.png"), full_page=True)


def test_the_thread_page_links_its_atom_feed(page: Page, srv: Server) -> None:
    posted = post_comment(srv, "/fed", "A comment worth following <b>in a feed</b>")
    page.goto(srv.url + "/comments?uri=/fed")
    link = page.get_by_role("link", name="Comment feed (Atom)")
    expect(link).to_be_visible()
    alternate = page.locator('link[rel="alternate"][type="application/atom+xml"]')
    assert alternate.get_attribute("href") == link.get_attribute("href")
    page.screenshot(path=str(ARTIFACTS / "webhooks-feed-link.png"), full_page=True)
    feed = page.request.get(srv.url + str(link.get_attribute("href")))
    assert feed.status == 200
    assert feed.headers["content-type"].startswith("application/atom+xml")
    text = feed.text()
    assert f"comment/{posted['id']}" in text
    assert "in a feed" in text and "<b>" not in text
