"""Accounts of moderators and admins: Argon2id passwords, throttled sign-in, sessions.

A session is a random token in an HttpOnly cookie; the database keeps only its SHA-256, with
the account's CSRF token for the admin UI's forms. Roles are per site (``*``: every site).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection

from voxpop import errors
from voxpop.model import ALL_SITES, Role
from voxpop.services import access
from voxpop.services.context import Context
from voxpop.services.identity import Actor
from voxpop.store import accounts as account_store
from voxpop.store import audit as audit_store

# Argon2id with argon2-cffi's defaults (RFC 9106's second recommended profile: 64 MiB,
# 3 passes, 4 lanes): about 50 ms a hash here.
HASHER = PasswordHasher()
# At most 48 characters: "account:<name>" names the actor in the audit log (64).
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{1,47}")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
# Verified when the username is unknown, so that a wrong name takes as long as a wrong
# password and sign-in does not tell which accounts exist.
_DUMMY = HASHER.hash(secrets.token_urlsafe(16))


def username(raw: str) -> str:
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise errors.ValidationFailed(
            "A username is 2–48 letters, digits, dots, dashes, underscores or @", field="username"
        )
    return name


def password(raw: str) -> str:
    if not MIN_PASSWORD <= len(raw) <= MAX_PASSWORD:
        raise errors.ValidationFailed(
            f"A password has at least {MIN_PASSWORD} characters", field="password"
        )
    return raw


def role_on(site: str, raw: str | None, known_sites: set[str]) -> tuple[str, Role | None]:
    if site != ALL_SITES and site not in known_sites:
        raise errors.UnknownSite(f"No site named {site!r} is configured")
    if raw is None or raw in ("", "none"):
        return site, None
    try:
        return site, Role(raw)
    except ValueError:
        raise errors.ValidationFailed(
            "role must be moderator, admin or none", field="role"
        ) from None


def create_account(
    ctx: Context, by: str, name: str, secret: str, roles: list[tuple[str, Role | None]]
) -> int:
    """Create an account (``by``: who, for the audit log). Refuses a taken username."""
    name = username(name)
    hashed = HASHER.hash(password(secret))
    now = ctx.clock()

    def txn(conn: Connection) -> int:
        if account_store.by_username(conn, name) is not None:
            raise errors.Conflict(f"There is already an account {name!r}")
        account_id = account_store.create(conn, name, hashed, now)
        for site, role in roles:
            account_store.set_role(conn, account_id, site, role.value if role else None)
        audit_store.record(
            conn, now, by, "account.create", f"account:{name}",
            detail={"roles": {s: r.value for s, r in roles if r}},
        )  # fmt: skip
        return account_id

    return ctx.db.transact(txn)


def set_role(ctx: Context, actor: Actor, name: str, site: str, role: Role | None) -> None:
    access.require(actor, "accounts.manage", None)
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        row = account_store.by_username(conn, username(name))
        if row is None:
            raise errors.NotFound(f"No account {name!r}")
        account_store.set_role(conn, int(row.id), site, role.value if role else None)
        audit_store.record(
            conn, now, actor.audit_name, "account.role", f"account:{row.username}",
            detail={"site": site, "role": role.value if role else None},
        )  # fmt: skip

    ctx.db.transact(txn)


def set_disabled(ctx: Context, actor: Actor, name: str, disabled: bool) -> None:
    access.require(actor, "accounts.manage", None)
    now = ctx.clock()

    def txn(conn: Connection) -> None:
        row = account_store.by_username(conn, username(name))
        if row is None:
            raise errors.NotFound(f"No account {name!r}")
        if actor.account_id == int(row.id) and disabled:
            raise errors.Conflict("You cannot disable your own account")
        account_store.set_disabled(conn, int(row.id), now if disabled else None)
        action = "account.disable" if disabled else "account.enable"
        audit_store.record(conn, now, actor.audit_name, action, f"account:{row.username}")

    ctx.db.transact(txn)


def accounts(ctx: Context, actor: Actor) -> list[dict[str, object]]:
    access.require(actor, "accounts.manage", None)
    with ctx.db.read() as conn:
        return account_store.listing(conn)


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str  # for the cookie; never stored
    csrf: str


def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(ctx: Context, name: str, secret: str, address: str) -> SignedIn:
    """Check a password and open a session. Attempts are limited per username and per
    address (429 with Retry-After); a wrong name and a wrong password look the same."""
    name = name.strip().lower()[:48]
    limiter = ctx.login_limiter or ctx.limiter
    limiter.hit("login:a" + address, ctx.settings.login_rate)
    limiter.hit("login:u" + name, ctx.settings.login_rate)
    with ctx.db.read() as conn:
        row = account_store.by_username(conn, name)
    candidate = secret[:MAX_PASSWORD]
    try:
        HASHER.verify(row.password_hash if row is not None else _DUMMY, candidate)
        ok = row is not None and row.disabled_at is None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        raise errors.LoginFailed("Wrong username or password")
    now = ctx.clock()
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24)
    rehash = HASHER.check_needs_rehash(row.password_hash)

    def txn(conn: Connection) -> None:
        account_store.create_session(
            conn, _session_id(token), int(row.id), csrf, now,
            now + timedelta(seconds=ctx.settings.session_ttl),
        )  # fmt: skip
        account_store.logged_in(conn, int(row.id), now)
        if rehash:
            account_store.set_password(conn, int(row.id), HASHER.hash(candidate))
        account_store.prune_sessions(conn, now)

    ctx.db.transact(txn)
    return SignedIn(token, csrf)


def session_actor(ctx: Context, token: str, base: Actor) -> tuple[Actor, str] | None:
    """The account behind a session cookie, as an actor with its roles, and the session's
    CSRF token; None when the session is unknown, expired or its account disabled."""
    if not token or len(token) > 100:
        return None
    with ctx.db.read() as conn:
        rows = account_store.session(conn, _session_id(token))
    if not rows or rows[0].expires_at <= ctx.clock():
        return None
    first = rows[0]
    roles = tuple((str(r.site), Role(r.role)) for r in rows if r.site is not None)
    actor = replace(
        base, account_id=int(first.account_id), username=str(first.username), roles=roles
    )
    return actor, str(first.csrf)


def logout(ctx: Context, token: str) -> None:
    ctx.db.transact(lambda conn: account_store.delete_session(conn, _session_id(token)))
