"""Accounts of the admin UI: sign-in through the real /admin/login form, the session cookie
and its flags, throttling, logout and expiry, redirects that never leave /admin, what the
database keeps (Argon2id hashes, hashed session tokens), ``voxpop create-admin`` and the
security headers of the admin pages. Every test that takes ``client`` runs on SQLite and
on PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from voxpop import errors
from voxpop.app import create_app
from voxpop.model import Role
from voxpop.services import accounts
from voxpop.store.db import Database

from .conftest import SECRET, AppFactory, build_settings, rows

PASSWORD = "correct horse battery staple"
ADMIN_COOKIE = "voxpop_admin"
LOGIN_COOKIE = "voxpop_login"
EVIL = "https://evil.example"


# --- helpers (test_permissions.py uses them too) ---------------------------------------


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page's forms"
    return match.group(1)


def set_cookies(response: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """The cookies a response sets: name → (value, attributes with lower-cased names)."""
    found: dict[str, tuple[str, dict[str, str]]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs = {k.lower(): str(v) for k, v in morsel.items() if v}
            # SimpleCookie keeps flags as True; note them by name
            for flag in ("httponly", "secure"):
                if re.search(rf";\s*{flag}\b", header, re.IGNORECASE):
                    attrs[flag] = "1"
            found[name] = (morsel.value, attrs)
    return found


def admin_client(client: TestClient) -> TestClient:
    """No redirects followed, no cookie jar relied on: every request says its cookies."""
    client.follow_redirects = False
    return client


@dataclass(frozen=True)
class Session:
    token: str
    csrf: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Cookie": f"{ADMIN_COOKIE}={self.token}"}


def login_form(client: TestClient, next_url: str | None = None) -> tuple[str, str, Any]:
    """GET the sign-in page: (login cookie nonce, the form's csrf, the response)."""
    params = {"next": next_url} if next_url is not None else None
    page = client.get("/admin/login", params=params, follow_redirects=False)
    assert page.status_code == 200, page.text
    nonce = set_cookies(page)[LOGIN_COOKIE][0]
    client.cookies.clear()
    return nonce, csrf_of(page.text), page


def attempt(
    client: TestClient,
    username: str,
    password: str = PASSWORD,
    next_url: str = "/admin/queue",
    headers: dict[str, str] | None = None,
) -> Any:
    """One sign-in through the real form: GET the page, POST its fields back."""
    nonce, token, _ = login_form(client)
    response = client.post(
        "/admin/login",
        data={"username": username, "password": password, "csrf": token, "next": next_url},
        headers={"Cookie": f"{LOGIN_COOKIE}={nonce}", **(headers or {})},
        follow_redirects=False,
    )
    client.cookies.clear()
    return response


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> Session:
    """Sign in; the session cookie, and the CSRF token its admin pages carry."""
    response = attempt(client, username, password)
    assert response.status_code == 303, response.text
    assert not response.headers["location"].startswith("/admin/login")
    token = set_cookies(response)[ADMIN_COOKIE][0]
    page = client.get("/admin/queue", headers={"Cookie": f"{ADMIN_COOKIE}={token}"})
    client.cookies.clear()
    assert page.status_code == 200, page.text
    return Session(token, csrf_of(page.text))


def make_account(
    client: TestClient, name: str, roles: list[tuple[str, Role | None]], secret: str = PASSWORD
) -> int:
    return accounts.create_account(client.app.state.ctx, "test", name, secret, roles)  # type: ignore[attr-defined]


def is_login_redirect(response: Any) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/admin/login")


def code_of(response: Any) -> str | None:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return str(response.json()["code"])
    return None


def database(client: TestClient) -> Database:
    db: Database = client.database  # type: ignore[attr-defined]
    return db


@pytest.fixture
def admin(make_client: AppFactory) -> TestClient:
    return admin_client(make_client())


# --- signing in ------------------------------------------------------------------------


def test_sign_in_redirects_to_next_with_an_httponly_strict_admin_cookie(admin: TestClient):
    make_account(admin, "editor", [("default", Role.MODERATOR)])
    response = attempt(admin, "editor", next_url="/admin/audit?site=default")

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/audit?site=default"
    cookies = set_cookies(response)
    token, attrs = cookies[ADMIN_COOKIE]
    assert len(token) >= 32
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "strict"
    assert attrs["path"] == "/admin"
    assert "secure" not in attrs  # public_url is http://testserver
    assert int(attrs["max-age"]) == admin.app.state.ctx.settings.session_ttl  # type: ignore[attr-defined]
    # the one-time sign-in cookie goes away
    assert cookies[LOGIN_COOKIE][0] == "" or cookies[LOGIN_COOKIE][1].get("max-age") == "0"
    # and the session opens the page it was sent to
    page = admin.get("/admin/audit?site=default", headers={"Cookie": f"{ADMIN_COOKIE}={token}"})
    assert page.status_code == 200
    assert "editor" in page.text


def test_sign_in_cookies_are_secure_when_the_public_url_is_https(make_client: AppFactory):
    client = admin_client(make_client(public_url="https://news.example"))
    make_account(client, "editor", [("*", Role.ADMIN)])
    _, _, page = login_form(client)
    assert "secure" in set_cookies(page)[LOGIN_COOKIE][1]

    response = attempt(client, "editor")

    assert response.status_code == 303, response.text
    attrs = set_cookies(response)[ADMIN_COOKIE][1]
    assert "secure" in attrs
    assert "httponly" in attrs
    assert attrs["samesite"].lower() == "strict"
    assert attrs["path"] == "/admin"


def _without_echoes(html: str) -> str:
    """The page without what differs by design: the form's token and the typed name."""
    html = re.sub(r'name="csrf" value="[^"]*"', "", html)
    return re.sub(r'(name="username"[^>]*value=")[^"]*"', r'\1"', html)


def test_wrong_password_and_unknown_username_get_the_same_401_page(admin: TestClient):
    make_account(admin, "editor", [("default", Role.MODERATOR)])

    wrong_password = attempt(admin, "editor", "not the right password")
    unknown_name = attempt(admin, "nobody-by-that-name", PASSWORD)

    for response in (wrong_password, unknown_name):
        assert response.status_code == 401
        assert "Wrong username or password" in response.text
        assert ADMIN_COOKIE not in set_cookies(response)
    assert _without_echoes(wrong_password.text) == _without_echoes(unknown_name.text)
    assert rows(database(admin), "SELECT count(*) FROM sessions")[0][0] == 0


def test_disabled_account_cannot_sign_in_and_its_sessions_end(admin: TestClient):
    make_account(admin, "boss", [("*", Role.ADMIN)])
    make_account(admin, "editor", [("default", Role.MODERATOR)])
    boss = sign_in(admin, "boss")
    editor = sign_in(admin, "editor")

    disabled = admin.post(
        "/admin/accounts",
        data={"csrf": boss.csrf, "username": "editor", "disabled": "on"},
        headers=boss.headers,
    )

    assert disabled.status_code == 303, disabled.text
    assert rows(database(admin), "SELECT disabled_at FROM accounts WHERE username = 'editor'")[0][0]
    assert is_login_redirect(admin.get("/admin/queue", headers=editor.headers))
    refused = admin.post(
        "/admin/articles/close",
        data={"csrf": editor.csrf, "uri": "/story", "closed": "on"},
        headers=editor.headers,
    )
    assert refused.status_code == 401
    again = attempt(admin, "editor")
    assert again.status_code == 401
    assert "Wrong username or password" in again.text
    # the admin's own session is untouched
    assert admin.get("/admin/queue", headers=boss.headers).status_code == 200


def test_a_role_taken_away_ends_its_rights_in_open_sessions(admin: TestClient):
    make_account(admin, "boss", [("*", Role.ADMIN)])
    make_account(admin, "editor", [("default", Role.ADMIN)])
    boss = sign_in(admin, "boss")
    editor = sign_in(admin, "editor")
    assert admin.get("/admin/words?site=default", headers=editor.headers).status_code == 200

    changed = admin.post(
        "/admin/accounts",
        data={"csrf": boss.csrf, "username": "editor", "site": "default", "role": "moderator"},
        headers=boss.headers,
    )

    assert changed.status_code == 303, changed.text
    words = admin.get("/admin/words?site=default", headers=editor.headers)
    assert words.status_code == 403
    assert code_of(words) == "insufficient_role"
    assert admin.get("/admin/queue?site=default", headers=editor.headers).status_code == 200


def test_the_eleventh_attempt_for_one_username_is_throttled(make_client: AppFactory):
    # every attempt from its own address: only the per-username limit can stop them
    client = admin_client(make_client(rate_limits="on", trusted_proxies="testclient"))
    make_account(client, "editor", [("default", Role.MODERATOR)])
    for n in range(10):
        forwarded = {"X-Forwarded-For": f"198.51.100.{n + 1}"}
        response = attempt(client, "editor", "wrong password!", headers=forwarded)
        assert response.status_code == 401, (n, response.text)

    throttled = attempt(client, "Editor", PASSWORD, headers={"X-Forwarded-For": "198.51.100.99"})

    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["retry-after"]) > 0
    assert ADMIN_COOKIE not in set_cookies(throttled)
    assert rows(database(client), "SELECT count(*) FROM sessions")[0][0] == 0


def test_the_eleventh_attempt_from_one_address_is_throttled(make_client: AppFactory):
    client = admin_client(make_client(rate_limits="on"))
    make_account(client, "editor", [("default", Role.MODERATOR)])
    for n in range(10):
        response = attempt(client, f"guess-{n}", "wrong password!")
        assert response.status_code == 401, (n, response.text)

    throttled = attempt(client, "editor", PASSWORD)

    assert throttled.status_code == 429, throttled.text
    assert int(throttled.headers["retry-after"]) > 0


def test_logout_ends_the_session(admin: TestClient):
    make_account(admin, "editor", [("default", Role.MODERATOR)])
    editor = sign_in(admin, "editor")
    assert rows(database(admin), "SELECT count(*) FROM sessions")[0][0] == 1

    out = admin.post("/admin/logout", data={"csrf": editor.csrf}, headers=editor.headers)

    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login"
    assert set_cookies(out)[ADMIN_COOKIE][0] == ""
    assert rows(database(admin), "SELECT count(*) FROM sessions")[0][0] == 0
    assert is_login_redirect(admin.get("/admin/queue", headers=editor.headers))
    late = admin.post(
        "/admin/articles/close",
        data={"csrf": editor.csrf, "uri": "/story", "closed": "on"},
        headers=editor.headers,
    )
    assert late.status_code == 401
    assert code_of(late) == "unauthorized"


def test_a_session_expires_after_session_ttl(make_client: AppFactory):
    client = admin_client(make_client(session_ttl="3600"))
    make_account(client, "editor", [("default", Role.MODERATOR)])
    editor = sign_in(client, "editor")
    clock = client.clock  # type: ignore[attr-defined]

    clock.advance(seconds=3590)
    assert client.get("/admin/queue", headers=editor.headers).status_code == 200

    clock.advance(seconds=20)
    assert is_login_redirect(client.get("/admin/queue", headers=editor.headers))
    late = client.post(
        "/admin/articles/close",
        data={"csrf": editor.csrf, "uri": "/story", "closed": "on"},
        headers=editor.headers,
    )
    assert late.status_code == 401


OFFSITE = [
    "https://evil.example",
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "///evil.example",
    "/admin\\@evil.example",
    "/admin\r\nLocation: https://evil.example",
    "",
]


def test_next_never_redirects_outside_the_admin(admin: TestClient):
    for target in OFFSITE:
        # the sign-in page does not carry it into its form
        _, _, page = login_form(admin, target)
        field = re.search(r'name="next" value="([^"]*)"', page.text)
        assert field and field.group(1) == "/admin/queue", (target, field)

    make_account(admin, "editor", [("default", Role.MODERATOR)])
    for target in OFFSITE[:5]:  # a sign-in costs an Argon2 verification: the main ones
        response = attempt(admin, "editor", next_url=target)

        assert response.status_code == 303, target
        location = response.headers["location"]
        assert location == "/admin/queue", (target, location)


def test_a_failed_sign_in_keeps_next_in_the_form_it_shows_again(admin: TestClient):
    """After a mistyped password the form shown again still leads where the user was going."""
    make_account(admin, "editor", [("default", Role.MODERATOR)])

    failed = attempt(admin, "editor", "mistyped password", next_url="/admin/audit?site=default")

    assert failed.status_code == 401
    field = re.search(r'name="next" value="([^"]*)"', failed.text)
    assert field, "the sign-in form is shown again"
    assert html.unescape(field.group(1)) == "/admin/audit?site=default"


def test_back_field_of_a_form_never_redirects_outside_the_admin(admin: TestClient):
    make_account(admin, "boss", [("*", Role.ADMIN)])
    boss = sign_in(admin, "boss")
    for target in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        response = admin.post(
            "/admin/words",
            data={
                "csrf": boss.csrf,
                "site": "default",
                "kind": "suspect",
                "words": "x",
                "back": target,
            },
            headers=boss.headers,
        )
        assert response.status_code == 303
        assert response.headers["location"].startswith("/admin/words?"), target


# --- what the database keeps ------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_and_never_in_clear(admin: TestClient):
    make_account(admin, "editor", [("default", Role.MODERATOR)])
    sign_in(admin, "editor")

    dumped = rows(database(admin), "SELECT * FROM accounts")
    assert len(dumped) == 1
    stored = rows(database(admin), "SELECT password_hash FROM accounts")[0][0]
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in repr(dumped)
    assert PASSWORD not in repr(rows(database(admin), "SELECT * FROM audit"))


def test_a_session_token_is_stored_only_hashed(admin: TestClient):
    make_account(admin, "editor", [("default", Role.MODERATOR)])
    editor = sign_in(admin, "editor")

    stored = rows(database(admin), "SELECT * FROM sessions")

    assert len(stored) == 1
    assert editor.token not in repr(stored)
    assert hashlib.sha256(editor.token.encode()).hexdigest() == stored[0].id
    # the session's id from the database is no cookie: it signs nobody in
    forged = {"Cookie": f"{ADMIN_COOKIE}={stored[0].id}"}
    assert is_login_redirect(admin.get("/admin/queue", headers=forged))


def test_usernames_are_case_insensitive(admin: TestClient):
    make_account(admin, "Editor.Two", [("default", Role.MODERATOR)])

    assert rows(database(admin), "SELECT username FROM accounts")[0][0] == "editor.two"
    session = sign_in(admin, "  EDITOR.two ")
    assert admin.get("/admin/queue", headers=session.headers).status_code == 200
    with pytest.raises(errors.Conflict):
        make_account(admin, "EDITOR.TWO", [("default", Role.ADMIN)])
    assert rows(database(admin), "SELECT count(*) FROM accounts")[0][0] == 1


def test_a_password_shorter_than_12_characters_is_refused(admin: TestClient):
    with pytest.raises(errors.ValidationFailed) as refused:
        make_account(admin, "editor", [("default", Role.MODERATOR)], secret="elevenchars")

    assert refused.value.status == 422
    assert refused.value.extra.get("field") == "password"
    assert rows(database(admin), "SELECT count(*) FROM accounts")[0][0] == 0


def test_a_password_shorter_than_12_characters_is_refused_by_the_accounts_form(
    admin: TestClient,
):
    make_account(admin, "boss", [("*", Role.ADMIN)])
    boss = sign_in(admin, "boss")

    response = admin.post(
        "/admin/accounts",
        data={
            "csrf": boss.csrf,
            "username": "newbie",
            "password": "short-pass",
            "site": "default",
            "role": "moderator",
        },
        headers=boss.headers,
    )

    assert response.status_code == 422, response.text
    assert code_of(response) == "validation_error"
    assert rows(database(admin), "SELECT count(*) FROM accounts")[0][0] == 1


# --- voxpop create-admin ------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "VOXPOP_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "VOXPOP_ADMIN_PASSWORD": password,
        "VOXPOP_SECRET_KEY": SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "voxpop.cli", "create-admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_create_admin_cli_creates_an_account_that_can_sign_in(tmp_path: Path):
    args = ("Editor", "--role", "moderator", "--site", "default")

    first = _cli(tmp_path, *args)

    assert first.returncode == 0, first.stderr
    assert "editor" in first.stdout
    db = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        found = rows(db, "SELECT id, username, password_hash FROM accounts")
        assert [(r.username, r.password_hash[:10]) for r in found] == [("editor", "$argon2id$")]
        roles = rows(db, "SELECT account_id, site, role FROM account_roles")
        assert [(r.account_id, r.site, r.role) for r in roles] == [
            (found[0].id, "default", "moderator")
        ]

        second = _cli(tmp_path, *args)
        assert second.returncode == 1
        assert "already an account 'editor'" in second.stderr
        assert len(rows(db, "SELECT id FROM accounts")) == 1

        app = create_app(build_settings(db.url), db=db, migrate_on_start=False)
        with TestClient(app) as client:
            admin_client(client)
            session = sign_in(client, "editor")
            assert client.get("/admin/queue", headers=session.headers).status_code == 200
            # a moderator, not an admin
            words = client.get("/admin/words?site=default", headers=session.headers)
            assert words.status_code == 403
    finally:
        db.dispose()


def test_create_admin_cli_refuses_a_weak_password(tmp_path: Path):
    result = _cli(tmp_path, "editor", password="short")

    assert result.returncode == 1
    assert "at least 12 characters" in result.stderr


def test_create_admin_cli_refuses_an_unknown_site(tmp_path: Path):
    result = _cli(tmp_path, "editor", "--site", "nowhere")

    assert result.returncode == 1
    assert "No site named 'nowhere'" in result.stderr
    db = Database(f"sqlite:///{tmp_path}/x.db")
    try:
        assert rows(db, "SELECT count(*) FROM accounts")[0][0] == 0
    finally:
        db.dispose()


# --- security headers -------------------------------------------------------------------


def _assert_admin_headers(response: Any) -> None:
    headers = response.headers
    csp = headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    script = directives.get("script-src") or directives.get("default-src", "")
    assert script, csp
    assert "'unsafe-inline'" not in script
    assert "'unsafe-eval'" not in script
    frame_ancestors = directives.get("frame-ancestors", "")
    assert headers.get("x-frame-options", "").upper() in ("DENY", "SAMEORIGIN") or (
        frame_ancestors and "*" not in frame_ancestors
    )
    assert headers.get("x-content-type-options") == "nosniff"
    assert "no-store" in headers.get("cache-control", "")


def test_admin_pages_send_security_headers(admin: TestClient):
    make_account(admin, "boss", [("*", Role.ADMIN)])
    _, _, login_page = login_form(admin)
    _assert_admin_headers(login_page)
    boss = sign_in(admin, "boss")
    failed = attempt(admin, "boss", "wrong password!")
    assert failed.status_code == 401
    _assert_admin_headers(failed)
    for path in (
        "/admin/queue",
        "/admin/bans?site=default",
        "/admin/words?site=default",
        "/admin/audit?site=default",
        "/admin/accounts",
    ):
        page = admin.get(path, headers=boss.headers)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        _assert_admin_headers(page)


def test_admin_forms_from_another_origin_are_refused_even_with_the_token(admin: TestClient):
    make_account(admin, "editor", [("*", Role.ADMIN)])
    session = sign_in(admin, "editor")
    held = admin.post(
        "/api/v1/comments",
        json={"uri": "/story", "body": "see http://a.ex http://b.ex http://c.ex"},
    ).json()
    fields = {"csrf": session.csrf, "action": "approve"}
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = admin.post(
            f"/admin/comments/{held['id']}", data=fields, headers={**session.headers, **headers}
        )
        assert refused.status_code == 403 and code_of(refused) == "csrf_failed", headers
    status = rows(database(admin), f"SELECT status FROM comments WHERE id = {held['id']}")
    assert status[0].status == "pending"
    # The server's own origin passes.
    done = admin.post(
        f"/admin/comments/{held['id']}",
        data=fields,
        headers={**session.headers, "Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert done.status_code == 303
    status = rows(database(admin), f"SELECT status FROM comments WHERE id = {held['id']}")
    assert status[0].status == "approved"


def test_sign_in_is_limited_even_when_rate_limits_are_off(make_client: AppFactory):
    client = admin_client(make_client(rate_limits="off"))
    make_account(client, "editor", [("*", Role.ADMIN)])
    answers = [attempt(client, "editor", "wrong password!!").status_code for _ in range(11)]
    assert answers[:10] == [401] * 10
    assert answers[10] == 429


def test_usernames_fit_the_audit_log(admin: TestClient):
    with pytest.raises(errors.ValidationFailed):
        make_account(admin, "a" * 49, [("*", Role.ADMIN)])
    make_account(admin, "b" * 48, [("*", Role.ADMIN)])
    session = sign_in(admin, "b" * 48)
    r = admin.post(
        "/admin/words",
        data={"csrf": session.csrf, "site": "default", "kind": "banned", "words": "x"},
        headers=session.headers,
    )
    assert r.status_code == 303
    actors = [row.actor for row in rows(database(admin), "SELECT actor FROM audit")]
    assert f"account:{'b' * 48}" in actors
