"""Who may do what: every role against every action of ``access.PERMISSIONS``, through the
real HTTP surface (the admin UI's pages and forms for signed-in accounts, the JSON admin
API for the admin token), on SQLite and PostgreSQL; then ``access.allowed`` on its own, and
the CSRF protection of every admin form.

The expected outcomes come from the tables below, written by hand from the issue: an admin
may do everything a moderator may; a role on ``*`` holds on every site; accounts and the
outbox belong to no site (only an admin on ``*``, or the admin token, manages them); a
site's webhook delivery log belongs to its admins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from voxpop import errors
from voxpop.model import Role
from voxpop.services import access, delivery
from voxpop.services import feedback as feedback_service
from voxpop.services import ratings as rating_service
from voxpop.services.identity import Actor
from voxpop.store.schema import metadata

from .conftest import ADMIN, AppFactory, post, rows
from .test_accounts import (
    PASSWORD,
    Session,
    admin_client,
    attempt,
    code_of,
    is_login_redirect,
    login_form,
    make_account,
    set_cookies,
    sign_in,
)

# --- the tables ---------------------------------------------------------------------------

# Every action of the issue: the columns. A new entry in access.PERMISSIONS must be added
# here (and given an endpoint below), or test_every_permission_is_in_the_table fails.
ACTIONS = {
    "queue.view",
    "comment.moderate",
    "ban.manage",
    "author.mark",
    "article.close",
    "audit.view",
    "words.manage",
    "author.purge",
    "accounts.manage",
    "article.register",
    "outbox.manage",
    "rating.manage",
    "feedback.manage",
    "webhook.manage",
}

# role → the actions it may do on the site "default" (and on no site at all, for accounts
# and the outbox). "here" is the site "default", "other" the second site.
ALLOWED: dict[str, set[str]] = {
    "anonymous": set(),
    "reader": set(),
    "moderator_other": set(),
    "moderator_here": {
        "queue.view",
        "comment.moderate",
        "ban.manage",
        "author.mark",
        "article.close",
        "audit.view",
        "rating.manage",
        "feedback.manage",
    },
    "admin_other": set(),
    "admin_here": {
        "queue.view",
        "comment.moderate",
        "ban.manage",
        "author.mark",
        "article.close",
        "audit.view",
        "rating.manage",
        "feedback.manage",
        "words.manage",
        "author.purge",
        "article.register",
        "webhook.manage",
    },
    "moderator_global": {
        "queue.view",
        "comment.moderate",
        "ban.manage",
        "author.mark",
        "article.close",
        "audit.view",
        "rating.manage",
        "feedback.manage",
    },
    "admin_global": {
        "queue.view",
        "comment.moderate",
        "ban.manage",
        "author.mark",
        "article.close",
        "audit.view",
        "rating.manage",
        "feedback.manage",
        "words.manage",
        "author.purge",
        "article.register",
        "outbox.manage",
        "accounts.manage",
        "webhook.manage",
    },
    "admin_token": {
        "queue.view",
        "comment.moderate",
        "ban.manage",
        "author.mark",
        "article.close",
        "audit.view",
        "rating.manage",
        "feedback.manage",
        "words.manage",
        "author.purge",
        "article.register",
        "outbox.manage",
        "accounts.manage",
        "webhook.manage",
    },
}

# The accounts' roles (site, role); the other rows have no account.
ACCOUNT_ROLES: dict[str, list[tuple[str, Role]]] = {
    "moderator_other": [("other", Role.MODERATOR)],
    "moderator_here": [("default", Role.MODERATOR)],
    "admin_other": [("other", Role.ADMIN)],
    "admin_here": [("default", Role.ADMIN)],
    "moderator_global": [("*", Role.MODERATOR)],
    "admin_global": [("*", Role.ADMIN)],
}

# What a role may do on the site "other" is what its mirror may do on "default".
MIRROR = {
    "moderator_other": "moderator_here",
    "moderator_here": "moderator_other",
    "admin_other": "admin_here",
    "admin_here": "admin_other",
}


def test_every_permission_is_in_the_table():
    assert set(access.PERMISSIONS) == ACTIONS
    assert set(ALLOWED) == {"anonymous", "reader", "admin_token", *ACCOUNT_ROLES}
    for role, actions in ALLOWED.items():
        assert actions <= ACTIONS, role
    exercised = {e.action for e in UI} | {e.action for e in API}
    assert exercised == ACTIONS, ACTIONS - exercised


# --- the world every case runs in ---------------------------------------------------------


@dataclass
class World:
    client: TestClient
    comments: dict[str, int]  # site → a comment on it
    readers: dict[str, int]  # site → that comment's reader
    reader_token: str
    victim: int  # a reader with a comment on "default", to purge
    username: str = "nobody"


def two_sites(make_client: AppFactory, tmp_path: Path) -> TestClient:
    config = tmp_path / "voxpop.toml"
    config.write_text('[sites.other]\norigins = ["https://other.example"]\n')
    return admin_client(make_client(config=str(config)))


def _posted(response: Any) -> tuple[int, str]:
    assert response.status_code == 201, response.text
    data = response.json()
    return int(data["id"]), str(data["reader_token"])


def build_world(make_client: AppFactory, tmp_path: Path) -> World:
    client = two_sites(make_client, tmp_path)
    here, token = _posted(post(client, body="A comment here"))
    there, token_there = _posted(post(client, body="A comment there", site="other"))
    _, victim_token = _posted(post(client, body="Purge me"))
    return World(
        client,
        {"default": here, "other": there},
        {"default": int(token.split(".")[1]), "other": int(token_there.split(".")[1])},
        token,
        int(victim_token.split(".")[1]),
    )


# --- the endpoints ------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    action: str
    method: str
    send: Callable[[World, dict[str, str], str, str], Any]  # world, headers, csrf, site

    def __call__(self, w: World, headers: dict[str, str], csrf: str = "", site: str = "") -> Any:
        return self.send(w, headers, csrf, site)


def _form(permission: str, path: Callable[[World, str], str], /, **fields: str) -> Endpoint:
    def send(w: World, headers: dict[str, str], csrf: str, site: str) -> Any:
        data = {
            k: v.format(site=site, reader=w.readers[site], me=w.username) for k, v in fields.items()
        }
        return w.client.post(path(w, site), data={"csrf": csrf, **data}, headers=headers)

    return Endpoint(permission, "POST", send)


def _page(action: str, path: str) -> Endpoint:
    def send(w: World, headers: dict[str, str], _csrf: str, site: str) -> Any:
        return w.client.get(path.format(site=site), headers=headers)

    return Endpoint(action, "GET", send)


# The admin UI (a signed-in session): action → one of its pages or forms.
UI: list[Endpoint] = [
    _page("queue.view", "/admin/queue?site={site}"),
    _form("comment.moderate", lambda w, s: f"/admin/comments/{w.comments[s]}", action="approve"),
    _page("ban.manage", "/admin/bans?site={site}"),
    _form("ban.manage", lambda w, s: "/admin/bans", site="{site}", kind="reader", value="{reader}"),
    _form(
        "author.mark",
        lambda w, s: f"/admin/authors/{w.readers[s]}",
        site="{site}",
        mark="trusted",
        value="on",
    ),
    _form(
        "article.close",
        lambda w, s: "/admin/articles/close",
        site="{site}",
        uri="/story",
        closed="on",
    ),
    _page("audit.view", "/admin/audit?site={site}"),
    _page("words.manage", "/admin/words?site={site}"),
    _form("words.manage", lambda w, s: "/admin/words", site="{site}", kind="suspect", words="spam"),
    _page("webhook.manage", "/admin/webhooks?site={site}"),
    _form("webhook.manage", lambda w, s: "/admin/webhooks/retry", site="{site}"),
    _page("accounts.manage", "/admin/accounts"),
    _form("accounts.manage", lambda w, s: "/admin/accounts", username="{me}", disabled="off"),
]


def _api(action: str, method: str, path: str, body: dict[str, Any] | None = None) -> Endpoint:
    def send(w: World, headers: dict[str, str], _csrf: str, _site: str) -> Any:
        names = {
            "comment": w.comments["default"],
            "reader": w.readers["default"],
            "victim": w.victim,
        }
        url = path.format(**names)
        json = {k: v.format(**names) if isinstance(v, str) else v for k, v in (body or {}).items()}
        return w.client.request(
            method, url, json=json if body is not None else None, headers=headers
        )

    return Endpoint(action, method, send)


# The JSON API (a bearer): action → one or more endpoints, all on the site "default".
API: list[Endpoint] = [
    _api("queue.view", "GET", "/api/v1/admin/queue?site=default"),
    _api(
        "comment.moderate",
        "POST",
        "/api/v1/admin/comments/{comment}/moderate",
        {"action": "approve"},
    ),
    _api("ban.manage", "GET", "/api/v1/admin/bans?site=default"),
    _api(
        "ban.manage",
        "POST",
        "/api/v1/admin/bans",
        {"site": "default", "kind": "reader", "value": "{reader}"},
    ),
    _api("author.mark", "PUT", "/api/v1/admin/authors/{reader}", {"trusted": True}),
    _api(
        "article.close", "POST", "/api/v1/admin/articles/close", {"uri": "/story", "closed": True}
    ),
    _api("audit.view", "GET", "/api/v1/admin/audit?site=default"),
    _api("words.manage", "GET", "/api/v1/admin/words?site=default"),
    _api("words.manage", "PUT", "/api/v1/admin/words", {"kind": "suspect", "words": ["spam"]}),
    _api(
        "article.register",
        "PUT",
        "/api/v1/articles?uri=/story",
        {"title": "Story", "text": "One.\nTwo."},
    ),
    _api("outbox.manage", "GET", "/api/v1/admin/outbox"),
    _api("webhook.manage", "GET", "/api/v1/admin/webhooks?site=default"),
    _api("webhook.manage", "POST", "/api/v1/admin/webhooks/retry", {"site": "default"}),
    _api("rating.manage", "GET", "/api/v1/admin/ratings?uri=/story"),
    _api("feedback.manage", "GET", "/api/v1/admin/feedback?site=default"),
    _api("author.purge", "POST", "/api/v1/admin/authors/{victim}/purge?site=default"),
]


def _assert_allowed(response: Any, what: str) -> None:
    assert response.status_code < 400, (what, response.status_code, response.text[:300])
    if response.status_code in (301, 302, 303, 307, 308):
        assert not response.headers["location"].startswith("/admin/login"), what


def _assert_refused(response: Any, role: str, what: str, api: bool, method: str) -> None:
    got = (what, response.status_code, response.text[:300])
    if role == "anonymous" or (role in ("reader", "admin_token") and not api):
        # no session: the admin UI asks to sign in, the API wants credentials
        if not api and method == "GET":
            assert is_login_redirect(response), got
            assert "next=" in response.headers["location"], got
        else:
            assert response.status_code == 401, got
            assert code_of(response) == "unauthorized", got
    elif role == "reader":
        assert response.status_code == 403, got
        assert code_of(response) == "not_moderator", got
    else:
        assert response.status_code == 403, got
        assert code_of(response) == "insufficient_role", got


# --- role × action over HTTP ----------------------------------------------------------------


@pytest.mark.parametrize("role", list(ALLOWED))
def test_role_against_every_action_over_http(role: str, make_client: AppFactory, tmp_path: Path):
    w = build_world(make_client, tmp_path)
    session: Session | None = None
    if role in ACCOUNT_ROLES:
        w.username = role.replace("_", "-")
        make_account(w.client, w.username, list(ACCOUNT_ROLES[role]))
        session = sign_in(w.client, w.username)

    # the admin UI, on this site and on the other one
    if session is not None:
        for site, allowed in (
            ("default", ALLOWED[role]),
            ("other", ALLOWED[MIRROR.get(role, role)]),
        ):
            for endpoint in UI:
                what = f"{role} {endpoint.action} {endpoint.method} on {site}"
                response = endpoint(w, session.headers, session.csrf, site)
                if endpoint.action in allowed:
                    _assert_allowed(response, what)
                else:
                    _assert_refused(response, role, what, api=False, method=endpoint.method)
    else:
        # no session: the reader's token and the admin token open no admin page
        bearer = {"anonymous": None, "reader": w.reader_token, "admin_token": ADMIN}[role]
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        for endpoint in UI:
            what = f"{role} {endpoint.action} {endpoint.method} (admin UI)"
            response = endpoint(w, headers, "no-session", "default")
            _assert_refused(response, role, what, api=False, method=endpoint.method)

        # the JSON admin API
        for endpoint in API:
            what = f"{role} {endpoint.action} {endpoint.method} (API)"
            response = endpoint(w, headers)
            if endpoint.action in ALLOWED[role]:
                _assert_allowed(response, what)
            else:
                _assert_refused(response, role, what, api=True, method="")


def test_a_session_cookie_is_no_credential_for_the_json_api(
    make_client: AppFactory, tmp_path: Path
):
    w = build_world(make_client, tmp_path)
    make_account(w.client, "boss", [("*", Role.ADMIN)])
    boss = sign_in(w.client, "boss")

    for endpoint in API:
        response = endpoint(w, boss.headers)
        assert response.status_code == 401, (endpoint.action, response.status_code)
        assert code_of(response) == "unauthorized"


def test_a_refused_admin_page_is_an_html_page_for_a_browser(
    make_client: AppFactory, tmp_path: Path
):
    w = build_world(make_client, tmp_path)
    make_account(w.client, "editor", [("default", Role.MODERATOR)])
    editor = sign_in(w.client, "editor")

    page = w.client.get(
        "/admin/words?site=default", headers={**editor.headers, "Accept": "text/html"}
    )

    assert page.status_code == 403
    assert page.headers["content-type"].startswith("text/html")


def test_effects_of_allowed_admin_ui_forms_land_on_the_right_site(
    make_client: AppFactory, tmp_path: Path
):
    """A moderator of "other" works on "other": their forms change that site's rows."""
    w = build_world(make_client, tmp_path)
    token = {"Authorization": f"Bearer {ADMIN}"}
    banned = w.client.post(
        "/api/v1/admin/bans",
        json={"site": "default", "kind": "email", "value": "troll@example.com"},
        headers=token,
    )
    assert banned.status_code == 201
    w.username = "away"
    make_account(w.client, "away", [("other", Role.MODERATOR)])
    away = sign_in(w.client, "away")

    forms = [e for e in UI if e.method == "POST"]
    for endpoint in forms:
        if endpoint.action in ("ban.manage", "author.mark", "article.close"):
            assert endpoint(w, away.headers, away.csrf, "other").status_code == 303
    # a ban on "default" is not theirs to lift
    lift = w.client.post(
        f"/admin/bans/{banned.json()['bans'][0]}/lift",
        data={"csrf": away.csrf},
        headers=away.headers,
    )
    assert lift.status_code == 403
    assert code_of(lift) == "insufficient_role"
    # their queue and audit log show "other" only
    queue = w.client.get("/admin/queue?site=other&tab=approved", headers=away.headers)
    assert "A comment there" in queue.text
    assert "A comment here" not in queue.text
    log = w.client.get("/admin/audit?site=other", headers=away.headers)
    assert log.status_code == 200
    assert "account:away" in log.text
    assert "admin-token" not in log.text

    db = w.client.database  # type: ignore[attr-defined]
    other_id = rows(db, "SELECT id FROM sites WHERE name = 'other'")[0][0]
    bans = rows(db, "SELECT site_id, kind, value FROM bans WHERE lifted_at IS NULL ORDER BY id")
    default_id = rows(db, "SELECT id FROM sites WHERE name = 'default'")[0][0]
    assert [(b.site_id, b.kind) for b in bans] == [(default_id, "email"), (other_id, "reader")]
    assert bans[1].value == str(w.readers["other"])
    closed = rows(db, "SELECT site_id, uri FROM articles WHERE closed_at IS NOT NULL")
    assert [(c.site_id, c.uri) for c in closed] == [(other_id, "/story")]
    audit = rows(db, "SELECT actor, action FROM audit WHERE actor = 'account:away' ORDER BY id")
    assert [a.action for a in audit] == ["ban.create", "author.trust", "article.close"]


# --- access.allowed on its own --------------------------------------------------------------

MODERATOR_ACTIONS = {
    "queue.view",
    "comment.moderate",
    "ban.manage",
    "author.mark",
    "article.close",
    "audit.view",
    "rating.manage",
    "feedback.manage",
}
ADMIN_ACTIONS = {
    "words.manage",
    "author.purge",
    "article.register",
    "outbox.manage",
    "accounts.manage",
    "webhook.manage",
}
EVERYTHING = MODERATOR_ACTIONS | ADMIN_ACTIONS
NOTHING: set[str] = set()


def _actor(*roles: tuple[str, Role], reader: int | None = None, token: bool = False) -> Actor:
    return Actor(reader, token, "address-hash", "address-key", 1 if roles else None, "x", roles)


M, A = Role.MODERATOR, Role.ADMIN
# name → (actor, {site: the actions allowed there}); site None: on every site at once
UNIT: dict[str, tuple[Actor, dict[str | None, set[str]]]] = {
    "anonymous": (_actor(), {"default": NOTHING, "other": NOTHING, None: NOTHING}),
    "reader": (_actor(reader=7), {"default": NOTHING, "other": NOTHING, None: NOTHING}),
    "moderator_other": (
        _actor(("other", M)),
        {"default": NOTHING, "other": MODERATOR_ACTIONS, None: NOTHING},
    ),
    "moderator_here": (
        _actor(("default", M)),
        {"default": MODERATOR_ACTIONS, "other": NOTHING, None: NOTHING},
    ),
    "admin_other": (_actor(("other", A)), {"default": NOTHING, "other": EVERYTHING, None: NOTHING}),
    "admin_here": (
        _actor(("default", A)),
        {"default": EVERYTHING, "other": NOTHING, None: NOTHING},
    ),
    "moderator_global": (
        _actor(("*", M)),
        {"default": MODERATOR_ACTIONS, "other": MODERATOR_ACTIONS, None: MODERATOR_ACTIONS},
    ),
    "admin_global": (
        _actor(("*", A)),
        {"default": EVERYTHING, "other": EVERYTHING, None: EVERYTHING},
    ),
    "admin_token": (
        _actor(token=True),
        {"default": EVERYTHING, "other": EVERYTHING, None: EVERYTHING},
    ),
    "moderator_global_admin_here": (
        _actor(("*", M), ("default", A)),
        {"default": EVERYTHING, "other": MODERATOR_ACTIONS, None: MODERATOR_ACTIONS},
    ),
    "admin_here_moderator_global": (
        _actor(("default", A), ("*", M)),
        {"default": EVERYTHING, "other": MODERATOR_ACTIONS, None: MODERATOR_ACTIONS},
    ),
    "moderator_here_admin_other": (
        _actor(("default", M), ("other", A)),
        {"default": MODERATOR_ACTIONS, "other": EVERYTHING, None: NOTHING},
    ),
    "reader_with_a_role": (
        _actor(("default", M), reader=7),
        {"default": MODERATOR_ACTIONS, "other": NOTHING, None: NOTHING},
    ),
}


@pytest.mark.parametrize("name", list(UNIT))
def test_allowed_for_every_action_and_site(name: str):
    actor, expected = UNIT[name]
    assert set(access.PERMISSIONS) == EVERYTHING
    for site, actions in expected.items():
        for action in sorted(EVERYTHING):
            assert access.allowed(actor, action, site) is (action in actions), (name, action, site)


@pytest.mark.parametrize(
    ("actor", "error"),
    [
        (_actor(), errors.Unauthorized),
        (_actor(reader=7), errors.NotModerator),
        (_actor(("other", A)), errors.InsufficientRole),
        (_actor(("default", M)), errors.InsufficientRole),
    ],
)
def test_require_says_why(actor: Actor, error: type[errors.VoxpopError]):
    with pytest.raises(error):
        access.require(actor, "words.manage", "default")


# --- each service checks the action PERMISSIONS names for it --------------------------------


@pytest.fixture
def world(make_client: AppFactory, tmp_path: Path) -> World:
    return build_world(make_client, tmp_path)


def _service_calls(w: World) -> dict[str, Callable[[Actor], Any]]:
    ctx = w.client.app.state.ctx  # type: ignore[attr-defined]
    site = ctx.site("default")
    return {
        "article.register": lambda who: feedback_service.register(
            ctx, who, site, "/story", "Story", "One.\nTwo.", None
        ),
        "outbox.manage": lambda who: delivery.outbox(ctx, who, None, None, 10),
        "rating.manage": lambda who: rating_service.of_article(ctx, who, site, "/story", 10, 0),
        "feedback.manage": lambda who: feedback_service.lost(ctx, who, site, None),
    }


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # no storage in question
@pytest.mark.parametrize(
    ("action", "role"),
    [
        ("article.register", "moderator_global"),  # an admin's action
        ("outbox.manage", "moderator_global"),  # an admin's action
        ("article.register", "admin_here"),
        ("rating.manage", "moderator_here"),
        ("feedback.manage", "moderator_here"),
    ],
)
def test_services_behind_bearer_only_endpoints_check_their_own_action(
    world: World, action: str, role: str
):
    """These endpoints take the admin token only today, so HTTP cannot tell; the services
    must still decide by their own entry of PERMISSIONS, as ``require`` says."""
    actor = UNIT[role][0]
    call = _service_calls(world)[action]
    if action in ALLOWED[role]:
        call(actor)
    else:
        with pytest.raises(errors.InsufficientRole):
            call(actor)


# --- CSRF ---------------------------------------------------------------------------------


def _snapshot(client: TestClient) -> dict[str, list[tuple[Any, ...]]]:
    db = client.database  # type: ignore[attr-defined]
    with db.engine.connect() as conn:
        return {
            t.name: sorted((tuple(r) for r in conn.execute(sa.select(t))), key=repr)
            for t in metadata.sorted_tables
        }


# every POST form of the admin UI but the sign-in form, with fields that would be obeyed
FORMS: dict[str, Callable[[World], tuple[str, dict[str, str]]]] = {
    "/admin/comments/{comment_id}": lambda w: (
        f"/admin/comments/{w.comments['default']}",
        {"action": "reject"},
    ),
    "/admin/bans": lambda w: (
        "/admin/bans",
        {"site": "default", "kind": "reader", "value": str(w.readers["default"])},
    ),
    "/admin/bans/{ban_id}/lift": lambda w: ("/admin/bans/1/lift", {}),
    "/admin/authors/{reader_id}": lambda w: (
        f"/admin/authors/{w.readers['default']}",
        {"site": "default", "mark": "shadowed", "value": "on"},
    ),
    "/admin/words": lambda w: (
        "/admin/words",
        {"site": "default", "kind": "banned", "words": "forbidden"},
    ),
    "/admin/articles/close": lambda w: (
        "/admin/articles/close",
        {"site": "default", "uri": "/story", "closed": "on"},
    ),
    "/admin/webhooks/retry": lambda w: ("/admin/webhooks/retry", {"site": "default"}),
    "/admin/accounts": lambda w: (
        "/admin/accounts",
        {"username": "second", "site": "default", "role": "moderator"},
    ),
    "/admin/logout": lambda w: ("/admin/logout", {}),  # last: it ends the session
}


def test_every_admin_form_refuses_a_missing_wrong_or_foreign_csrf_token(
    make_client: AppFactory, tmp_path: Path
):
    w = build_world(make_client, tmp_path)
    posted = {
        r.path
        for r in w.client.app.routes  # type: ignore[attr-defined]
        if getattr(r, "path", "").startswith("/admin") and "POST" in getattr(r, "methods", ())
    }
    assert posted - {"/admin/login"} == set(FORMS), "a new admin form needs a CSRF case here"

    make_account(w.client, "first", [("*", Role.ADMIN)])
    make_account(w.client, "second", [("*", Role.ADMIN)])
    first = sign_in(w.client, "first")
    second = sign_in(w.client, "second")
    ban = w.client.post(
        "/api/v1/admin/bans",
        json={"site": "default", "kind": "email", "value": "spam@example.com"},
        headers={"Authorization": f"Bearer {ADMIN}"},
    )
    assert ban.status_code == 201 and ban.json()["bans"] == [1]
    before = _snapshot(w.client)

    for route, make in FORMS.items():
        path, fields = make(w)
        for label, token in (
            ("missing", None),
            ("empty", ""),
            ("wrong", first.csrf[:-2] + ("AA" if not first.csrf.endswith("AA") else "BB")),
            ("another account's", second.csrf),
            ("the session token itself", first.token),
        ):
            data = dict(fields) if token is None else {**fields, "csrf": token}
            response = w.client.post(path, data=data, headers=first.headers)
            assert response.status_code == 403, (route, label, response.status_code)
            assert code_of(response) == "csrf_failed", (route, label, response.text)
        assert _snapshot(w.client) == before, f"{route} changed something without a token"

    # and each one works with the right token (so the refusals above were the token's)
    for route, make in FORMS.items():
        path, fields = make(w)
        response = w.client.post(path, data={**fields, "csrf": first.csrf}, headers=first.headers)
        assert response.status_code == 303, (route, response.text)
        assert (
            not response.headers["location"].startswith("/admin/login") or route == "/admin/logout"
        )
    assert _snapshot(w.client) != before
    db = w.client.database  # type: ignore[attr-defined]
    status = rows(db, f"SELECT status FROM comments WHERE id = {w.comments['default']}")
    assert status[0][0] == "rejected"


def test_sign_in_form_refuses_a_missing_or_wrong_csrf_token(
    make_client: AppFactory, tmp_path: Path
):
    client = two_sites(make_client, tmp_path)
    make_account(client, "editor", [("default", Role.MODERATOR)])
    nonce, token, _ = login_form(client)
    other_nonce, other_token, _ = login_form(client)
    fields = {"username": "editor", "password": PASSWORD, "next": "/admin/queue"}
    cases = {
        "no token": ({"Cookie": f"voxpop_login={nonce}"}, fields),
        "empty token": ({"Cookie": f"voxpop_login={nonce}"}, {**fields, "csrf": ""}),
        "wrong token": (
            {"Cookie": f"voxpop_login={nonce}"},
            {**fields, "csrf": token[:-3] + "xyz"},
        ),
        "no cookie": ({}, {**fields, "csrf": token}),
        "another page's token": (
            {"Cookie": f"voxpop_login={nonce}"},
            {**fields, "csrf": other_token},
        ),
        "a nonce as its own token": (
            {"Cookie": f"voxpop_login={other_nonce}"},
            {**fields, "csrf": other_nonce},
        ),
    }
    for label, (headers, data) in cases.items():
        response = client.post("/admin/login", data=data, headers=headers)
        assert response.status_code == 403, (label, response.status_code)
        assert code_of(response) == "csrf_failed", label
        assert "voxpop_admin" not in set_cookies(response), label

    db = client.database  # type: ignore[attr-defined]
    assert rows(db, "SELECT count(*) FROM sessions")[0][0] == 0
    assert rows(db, "SELECT last_login_at FROM accounts")[0][0] is None
    # the same fields with the page's own token sign in
    assert attempt(client, "editor").status_code == 303
