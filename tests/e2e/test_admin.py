"""The admin UI at /admin in Chromium: signing in, the queue by keyboard, bans, the audit log,
CSRF (a forged token, a cross-origin and a cross-site form), roles, JavaScript off and
axe-core.

One server for the module, with a second site (``other``) configured in a TOML file and two
moderator accounts made by ``voxpop create-admin``. Every test has its own article (a unique
``/story-...`` uri; the queue is filtered to it) and posts from its own made-up address
(``X-Forwarded-For`` from a trusted proxy), so that an address ban in one test does not reach
the others. Screenshots of the pages go to artifacts/e2e/admin-*.png.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ADMIN, ARTIFACTS, Server, axe_violations

PASSWORD = "correct horse battery staple"
MOD = "mod-ada"  # moderator on the default site
OTHER = "mod-olga"  # moderator on the site "other" only
CONFIG = '[sites.other]\ntitle = "Other"\n'
LINKS = "see http://a.example http://b.example http://c.example"  # held under auto moderation
CSRF_REFUSED = "The form has expired or did not come from this site; reload and try again"
NO_ROLE = "Your role does not allow this"


# ---- the server, its accounts and the JSON API ----


def create_accounts(env: dict[str, str], accounts: list[list[str]]) -> None:
    """``voxpop create-admin`` for each account, side by side (each takes a second or two)."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "voxpop.cli", "create-admin", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in accounts
    ]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("admin")
    config = tmp / "voxpop.toml"
    config.write_text(CONFIG)
    env = {
        "VOXPOP_DATABASE_URL": f"sqlite:///{tmp}/admin.db",
        "VOXPOP_CONFIG": str(config),
        "VOXPOP_TRUSTED_PROXIES": "127.0.0.1",
    }
    server = Server(tmp, **env)
    try:
        cli_env = {
            **os.environ,
            "VOXPOP_ENV": "dev",
            "VOXPOP_ADMIN_PASSWORD": PASSWORD,
            **env,
        }
        create_accounts(
            cli_env,
            [
                [MOD, "--role", "moderator", "--site", "default"],
                [OTHER, "--role", "moderator", "--site", "other"],
            ],
        )
        yield server
    finally:
        server.stop()


def api(
    server: Server,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    address: str | None = None,
) -> tuple[int, Any]:
    headers = {"Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if address:
        headers["X-Forwarded-For"] = address
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


def story(name: str) -> str:
    return f"/story-{name}-{uuid.uuid4().hex[:8]}"


def address() -> str:
    """A made-up client address (the server trusts X-Forwarded-For from 127.0.0.1)."""
    n = uuid.uuid4().int
    return f"10.{n % 250 + 1}.{n // 250 % 250 + 1}.{n // 62500 % 250 + 1}"


def held(
    server: Server, uri: str, text: str, title: str = "An article", **fields: Any
) -> dict[str, Any]:
    """Posts a comment that auto moderation holds (three links) from a new reader at a new
    address unless ``token`` or ``address`` are given; returns the Comment."""
    token = fields.pop("token", None)
    where = fields.pop("address", None) or address()
    status, data = api(
        server,
        "POST",
        "/api/v1/comments",
        {"uri": uri, "body": f"{text}: {LINKS}", "title": title, **fields},
        token,
        where,
    )
    assert status == 201, data
    assert data["status"] == "pending", data
    return dict(data)


def queue_items(server: Server, uri: str, tab: str) -> dict[int, dict[str, Any]]:
    """The server's truth (the JSON API with the admin token): a tab's comments on uri."""
    qs = urllib.parse.urlencode({"tab": tab, "article": uri, "limit": 200})
    status, data = api(server, "GET", f"/api/v1/admin/queue?{qs}", token=ADMIN)
    assert status == 200, data
    return {item["id"]: item for item in data["items"] if item["uri"] == uri}


def public_ids(server: Server, uri: str) -> list[int]:
    status, data = api(server, "GET", "/api/v1/comments?" + urllib.parse.urlencode({"uri": uri}))
    assert status == 200, data
    return [c["id"] for c in data["items"]]


# ---- pages ----


def queue_url(uri: str) -> str:
    return "/admin/queue?" + urllib.parse.urlencode({"article": uri})


def sign_in(page: Page, server: Server, username: str, target: str = "/admin/queue") -> None:
    """Opens ``target``, which sends a stranger to the sign-in page, and signs in there."""
    page.goto(server.url + target)
    expect(page).to_have_url(re.compile(r"/admin/login\?next="))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(server.url + target)


def notice(page: Page) -> Any:
    return page.locator(".adm-notice[role=status]")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"admin-{name}.png"), full_page=True)


def table(page: Page, selector: str) -> list[list[str]]:
    rows = page.locator(f"{selector} tbody tr")
    return list(
        rows.evaluate_all("rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim()))")
    )


def ban_from_queue(page: Page, item_id: int, reason: str) -> None:
    form = page.locator(f"#q{item_id} form.adm-ban")
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Ban", exact=True).click()
    expect(notice(page)).to_have_text("Author banned.")


def posted_to(page: Page, server: Server, path: str) -> Any:
    """Waits for the response to a form POSTed to path (use as a context manager)."""
    return page.expect_response(lambda r: r.url == server.url + path and r.request.method == "POST")


# ---- 1. the queue by keyboard ----


def test_moderator_signs_in_and_works_the_queue_by_keyboard(page: Page, srv: Server) -> None:
    uri = story("keys")
    title = "Harbour bridge reopens after repairs"
    oldest = held(srv, uri, "The oldest held comment", title)
    middle = held(srv, uri, "The middle held comment", title)
    newest = held(srv, uri, "The newest held comment", title)

    sign_in(page, srv, MOD, queue_url(uri))
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Moderation queue voxpop demo newsroom"
    )
    items = page.locator(".q-item")
    expect(items).to_have_count(3)  # newest first
    first = page.locator(f"#q{newest['id']}")
    expect(first.locator(".adm-context")).to_contain_text(f"on {title}")
    expect(first.locator(".adm-context a")).to_have_attribute("href", f"/comments?uri={uri}")
    expect(first.locator(".adm-facts")).to_contain_text("Held for: links")
    expect(first.locator(".adm-status")).to_have_text("pending")
    expect(first.locator(".adm-body")).to_contain_text("The newest held comment")

    # admin.js selects the first comment; "a" presses its Approve button.
    expect(first).to_be_focused()
    expect(first).to_have_class(re.compile(r"\bq-current\b"))
    page.keyboard.press("a")
    expect(notice(page)).to_have_text("Approved.")
    expect(page).to_have_url(re.compile(r"[?&]done=approve\b"))
    expect(page.locator(f"#q{newest['id']}")).to_have_count(0)
    expect(items).to_have_count(2)
    assert newest["id"] in public_ids(srv, uri)
    assert set(queue_items(srv, uri, "pending")) == {middle["id"], oldest["id"]}

    # After the reload the first comment is selected again; "j" moves on, "r" rejects.
    expect(page.locator(f"#q{middle['id']}")).to_be_focused()
    page.keyboard.press("j")
    second = page.locator(f"#q{oldest['id']}")
    expect(second).to_be_focused()
    expect(second).to_have_class(re.compile(r"\bq-current\b"))
    expect(page.locator(f"#q{middle['id']}")).not_to_have_class(re.compile(r"\bq-current\b"))
    shot(page, "queue")
    page.keyboard.press("r")
    expect(notice(page)).to_have_text("Rejected.")
    expect(page.locator(f"#q{oldest['id']}")).to_have_count(0)
    expect(page.locator(f"#q{middle['id']}")).to_be_visible()
    assert set(queue_items(srv, uri, "pending")) == {middle["id"]}
    assert set(queue_items(srv, uri, "rejected")) == {oldest["id"]}
    assert public_ids(srv, uri) == [newest["id"]]

    # "k" goes back up (and stops at the first comment).
    page.keyboard.press("k")
    expect(page.locator(f"#q{middle['id']}")).to_be_focused()


# ---- 2. bans ----


def test_ban_author_from_the_queue_blocks_their_next_comment(page: Page, srv: Server) -> None:
    uri = story("ban")
    where = address()
    posted = held(srv, uri, "A comment whose author gets banned", address=where)
    reader_id = queue_items(srv, uri, "pending")[posted["id"]]["reader_id"]
    reason = f"Link spam {uuid.uuid4().hex[:6]}"

    sign_in(page, srv, MOD, queue_url(uri))
    form = page.locator(f"#q{posted['id']} form.adm-ban")
    form.get_by_label("Ban author for").select_option("7")
    form.get_by_label("Reason").fill(reason)
    form.get_by_role("button", name="Ban", exact=True).click()
    expect(notice(page)).to_have_text("Author banned.")
    expect(page.locator(f"#q{posted['id']} .adm-status")).to_have_text("pending")

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Bans").click()
    expect(page).to_have_url(srv.url + "/admin/bans?site=default")
    expect(page.get_by_role("table", name="Active bans")).to_contain_text(reason)
    bans = [row for row in table(page, ".adm-table") if reason in row]
    assert sorted(row[0] for row in bans) == ["address", "reader"], bans
    reader_ban = next(row for row in bans if row[0] == "reader")
    assert reader_ban[1] == str(reader_id)
    assert all(row[4] == f"account:{MOD}" for row in bans), bans
    soon = datetime.now(UTC) + timedelta(days=7)
    days = {(soon + timedelta(minutes=m)).strftime("%Y-%m-%d") for m in (-2, 2)}
    assert all(row[2][:10] in days for row in bans), (bans, days)
    shot(page, "bans")

    # The reader (by their token) and their address (without it) are banned; others are not.
    again = {"uri": uri, "body": "Trying again"}
    status, data = api(srv, "POST", "/api/v1/comments", again, posted["reader_token"], address())
    assert (status, data["code"]) == (403, "banned"), data
    status, data = api(srv, "POST", "/api/v1/comments", again, address=where)
    assert (status, data["code"]) == (403, "banned"), data
    status, data = api(srv, "POST", "/api/v1/comments", again, address=address())
    assert status == 201, data


# ---- 3. the audit log ----


def test_audit_log_names_the_moderator(page: Page, srv: Server) -> None:
    uri = story("audit")
    approved = held(srv, uri, "Approved for the audit log")
    banned = held(srv, uri, "Its author is banned for the audit log")
    reader_id = queue_items(srv, uri, "pending")[banned["id"]]["reader_id"]
    reason = f"Audit reason {uuid.uuid4().hex[:6]}"

    sign_in(page, srv, MOD, queue_url(uri))
    page.locator(f"#q{approved['id']}").get_by_role("button", name="Approve").click()
    expect(notice(page)).to_have_text("Approved.")
    ban_from_queue(page, banned["id"], reason)

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(srv.url + "/admin/audit?site=default")
    rows = table(page, ".adm-audit")
    who = f"account:{MOD}"
    mine = [row[1:4] for row in rows if row[1] == who]
    assert [who, "comment.approve", f"comment:{approved['id']}"] in mine, rows
    assert [who, "ban.create", f"reader:{reader_id}"] in mine, rows
    ban_rows = [row for row in rows if row[2] == "ban.create" and reason in row[4]]
    assert len(ban_rows) == 2 and {row[1] for row in ban_rows} == {who}, rows
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0]) for row in rows), rows
    shot(page, "audit")

    page.get_by_label("Action starts with").fill("ban.")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"action=ban\."))
    filtered = table(page, ".adm-audit")
    assert filtered and all(row[2].startswith("ban.") for row in filtered), filtered


# ---- 4. CSRF ----


def test_forged_csrf_token_is_refused_and_changes_nothing(page: Page, srv: Server) -> None:
    uri = story("csrf")
    posted = held(srv, uri, "Stays pending despite a forged form")
    sign_in(page, srv, MOD, queue_url(uri))
    item = page.locator(f"#q{posted['id']}")
    form = item.locator("form", has=page.get_by_role("button", name="Approve"))
    form.locator("input[name=csrf]").evaluate("el => { el.value = 'forged' + el.value.slice(6) }")
    with posted_to(page, srv, f"/admin/comments/{posted['id']}") as response:
        item.get_by_role("button", name="Approve").click()
    assert response.value.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text(CSRF_REFUSED)

    assert set(queue_items(srv, uri, "pending")) == {posted["id"]}
    page.goto(srv.url + queue_url(uri))
    expect(item.locator(".adm-status")).to_have_text("pending")
    assert public_ids(srv, uri) == []


ATTACK = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Win a prize</title></head>
<body><form method="post" action="{action}">
<input type="hidden" name="action" value="approve">
<input type="hidden" name="back" value="/admin/queue">
</form>
<script>document.forms[0].submit()</script></body></html>
"""


@pytest.fixture
def attacker() -> Iterator[dict[str, str]]:
    """A tiny web server on another port; GET /?action=URL gives a page that at once POSTs a
    form to URL (approve, with no CSRF token)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            page = ATTACK.format(action=html.escape(query["action"][0])).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    yield {
        # Same site as the server (cookies do not care about ports), another origin.
        "same-site": f"http://127.0.0.1:{port}/",
        # Another site altogether.
        "cross-site": f"http://localhost:{port}/",
    }
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_forms_posted_from_other_origins_change_nothing(
    page: Page, srv: Server, attacker: dict[str, str]
) -> None:
    uri = story("cross")
    posted = held(srv, uri, "Stays pending despite other origins")
    sign_in(page, srv, MOD, queue_url(uri))
    path = f"/admin/comments/{posted['id']}"
    target = urllib.parse.urlencode({"action": srv.url + path})

    # From another site (the SameSite=Strict cookie stays home) and from another origin of
    # the same site (the cookie goes along, no token does): the Origin check refuses both
    # before anything else is looked at.
    for attack in ("cross-site", "same-site"):
        with posted_to(page, srv, path) as response:
            page.goto(attacker[attack] + "?" + target)
        assert response.value.status == 403, attack
        expect(page.get_by_role("heading", level=1)).to_have_text(CSRF_REFUSED)
        expect(page.get_by_role("alert")).to_contain_text("did not come from this site")

    assert set(queue_items(srv, uri, "pending")) == {posted["id"]}
    page.goto(srv.url + queue_url(uri))  # still signed in
    expect(page.locator(f"#q{posted['id']} .adm-status")).to_have_text("pending")


# ---- 5. roles ----


def test_roles_limit_what_a_moderator_may_do(page: Page, srv: Server, browser: Browser) -> None:
    uri = story("roles")
    posted = held(srv, uri, "Out of reach of the other site's moderator")

    # A moderator may not open the word lists nor the accounts, nor are they offered.
    sign_in(page, srv, MOD)
    sections = page.get_by_role("navigation", name="Sections")
    expect(sections.get_by_role("link")).to_have_text(["Queue", "Bans", "Audit log"])
    for path in ("/admin/words", "/admin/accounts"):
        response = page.goto(srv.url + path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", level=1)).to_have_text(NO_ROLE)

    # A moderator of the other site sees that site, not the default one's queue...
    ctx = browser.new_context()
    try:
        other = ctx.new_page()
        sign_in(other, srv, OTHER)
        expect(other.get_by_role("heading", level=1)).to_have_text("Moderation queue Other")
        response = other.goto(srv.url + queue_url(uri) + "&site=default")
        assert response is not None and response.status == 403
        expect(other.get_by_role("heading", level=1)).to_have_text(NO_ROLE)

        # ...and its actions are refused, with a valid CSRF token of their own session.
        other.goto(srv.url + "/admin/queue")
        csrf = other.locator("form.adm-out input[name=csrf]").input_value()
        path = f"/admin/comments/{posted['id']}"
        for fields in ({"action": "approve"}, {"action": "ban", "days": "7"}):
            with posted_to(other, srv, path) as answer:
                other.evaluate(
                    """([action, fields]) => {
                        const form = document.createElement("form");
                        form.method = "post";
                        form.action = action;
                        for (const [name, value] of Object.entries(fields)) {
                            const input = document.createElement("input");
                            input.type = "hidden"; input.name = name; input.value = value;
                            form.append(input);
                        }
                        document.body.append(form);
                        form.submit();
                    }""",
                    [path, {"csrf": csrf, **fields}],
                )
            assert answer.value.status == 403, fields
            expect(other.get_by_role("heading", level=1)).to_have_text(NO_ROLE)
    finally:
        ctx.close()

    assert set(queue_items(srv, uri, "pending")) == {posted["id"]}
    status, data = api(srv, "GET", "/api/v1/admin/bans?site=default", token=ADMIN)
    assert status == 200, data
    assert f"account:{OTHER}" not in json.dumps(data)


# ---- 6. JavaScript off ----


@pytest.mark.parametrize("context", [{"java_script_enabled": False}], indirect=True)
def test_sign_in_and_approve_with_javascript_off(page: Page, srv: Server) -> None:
    uri = story("nojs")
    posted = held(srv, uri, "Approved with JavaScript off")
    sign_in(page, srv, MOD, queue_url(uri))
    item = page.locator(f"#q{posted['id']}")
    expect(item).not_to_have_class(re.compile(r"\bq-current\b"))  # admin.js did not run
    item.get_by_role("button", name="Approve").click()
    expect(notice(page)).to_have_text("Approved.")
    expect(item).to_have_count(0)
    assert public_ids(srv, uri) == [posted["id"]]


# ---- 7. accessibility ----


def outline(page: Page) -> dict[str, str]:
    return dict(
        page.evaluate(
            """() => { const el = document.activeElement, s = getComputedStyle(el);
                return {tag: el.tagName, text: (el.innerText || el.name || "").slice(0, 40),
                        style: s.outlineStyle, width: s.outlineWidth,
                        shadow: s.boxShadow}; }"""
        )
    )


def assert_focus_visible(page: Page, where: str) -> None:
    o = outline(page)
    visible = (o["style"] != "none" and o["width"] not in ("0px", "")) or o["shadow"] != "none"
    assert visible, f"no visible focus on {where}: {o}"


def test_login_and_queue_have_no_axe_violations_and_visible_focus(page: Page, srv: Server) -> None:
    uri = story("axe")
    held(srv, uri, "A first held comment for axe-core", author_name="Ada Lovelace")
    held(srv, uri, "A second held comment for axe-core", author_email="bob@example.org")

    page.goto(srv.url + queue_url(uri))
    expect(page.get_by_label("Username")).to_be_focused()  # autofocus
    assert axe_violations(page) == [], "login page"
    assert_focus_visible(page, "the username field")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Sign in")).to_be_focused()
    assert_focus_visible(page, "the Sign in button")
    shot(page, "login")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    assert_focus_visible(page, "the skip link")
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0, box  # moved into view

    page.get_by_label("Username").fill(MOD)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(srv.url + queue_url(uri))
    expect(page.locator(".q-item")).to_have_count(2)
    assert axe_violations(page) == [], "queue"

    # The selected comment is marked; Tab from it reaches its link and buttons, each with a
    # visible focus ring.
    expect(page.locator(".q-item").first).to_be_focused()
    assert_focus_visible(page, "the selected queue item")
    page.keyboard.press("Tab")
    expect(page.locator(".q-item").first.locator(".adm-context a")).to_be_focused()
    assert_focus_visible(page, "the article link")
    page.keyboard.press("Tab")
    expect(page.locator(".q-item").first.get_by_role("button", name="Approve")).to_be_focused()
    assert_focus_visible(page, "the Approve button")


def test_bans_and_audit_pages_have_no_axe_violations(page: Page, srv: Server) -> None:
    uri = story("axe-bans")
    posted = held(srv, uri, "Its author is banned, for axe-core")
    sign_in(page, srv, MOD, queue_url(uri))
    ban_from_queue(page, posted["id"], "Banned for the axe-core check")
    page.goto(srv.url + "/admin/audit")
    assert axe_violations(page) == [], "audit log"
    page.goto(srv.url + "/admin/bans")
    assert axe_violations(page) == [], "bans"


@pytest.mark.parametrize(
    "context", [{"color_scheme": "dark", "viewport": {"width": 1280, "height": 800}}], indirect=True
)
def test_queue_in_the_dark_theme_has_no_axe_violations(page: Page, srv: Server) -> None:
    uri = story("axe-dark")
    held(srv, uri, "A held comment in the dark theme")
    sign_in(page, srv, MOD, queue_url(uri))
    expect(page.locator(".q-item")).to_have_count(1)
    shot(page, "queue-dark")
    assert axe_violations(page) == [], "queue, dark theme"


# The page's width and the innermost elements that stick out to the right (for the message).
WIDE = """() => {
    const inner = window.innerWidth;
    const out = Array.from(document.querySelectorAll("body *")).filter(el =>
        el.getBoundingClientRect().right > inner + 1 &&
        !Array.from(el.children).some(c => c.getBoundingClientRect().right > inner + 1));
    return {scroll: document.documentElement.scrollWidth, inner,
            wide: out.slice(0, 8).map(el => el.tagName.toLowerCase() +
                (el.className ? "." + String(el.className).split(" ").join(".") : "") + " " +
                Math.round(el.getBoundingClientRect().right) + "px")};
}"""
NARROW = [
    # 1280x800 at 400 % (WCAG 1.4.10: 320 CSS pixels wide).
    pytest.param({"viewport": {"width": 320, "height": 640}, "device_scale_factor": 2}, id="320"),
]


def assert_reflows(page: Page, where: str) -> None:
    m = page.evaluate(WIDE)
    assert m["scroll"] <= m["inner"], f"horizontal scrolling on {where}: {m}"


@pytest.mark.parametrize("context", NARROW, indirect=True)
def test_queue_reflows_at_320_pixels(page: Page, srv: Server) -> None:
    uri = story("reflow")
    held(srv, uri, "A held comment on a narrow screen", author_name="Nora Noble")
    sign_in(page, srv, MOD, queue_url(uri))
    expect(page.locator(".q-item")).to_have_count(1)
    assert_reflows(page, "the queue")
    assert axe_violations(page) == [], "queue at 320 pixels"
    shot(page, "queue-narrow")


@pytest.mark.parametrize("context", NARROW, indirect=True)
def test_bans_and_audit_reflow_at_320_pixels(page: Page, srv: Server) -> None:
    uri = story("reflow-tables")
    posted = held(srv, uri, "Its author is banned on a narrow screen")
    sign_in(page, srv, MOD, queue_url(uri))
    ban_from_queue(page, posted["id"], "Banned on a narrow screen")
    page.goto(srv.url + "/admin/bans")
    shot(page, "bans-narrow")
    problems = []
    for path in ("/admin/bans", "/admin/audit"):
        page.goto(srv.url + path)
        m = page.evaluate(WIDE)
        if m["scroll"] > m["inner"]:
            problems.append((path, m))
    assert problems == [], f"horizontal scrolling: {problems}"


@pytest.mark.parametrize("context", NARROW, indirect=True)
def test_queue_reflows_with_a_long_unbroken_author_name(page: Page, srv: Server) -> None:
    uri = story("reflow-long")
    held(srv, uri, "A long name", author_name="N" * 60, author_email="x" * 40 + "@example.org")
    sign_in(page, srv, MOD, queue_url(uri))
    expect(page.locator(".q-item")).to_have_count(1)
    assert_reflows(page, "the queue with a long author name")
